//! The Flight SQL server's integration tests, in one binary (each test binary links all of Polars).

mod flight;
