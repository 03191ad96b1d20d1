//! The SQL front end's integration tests, in one binary (each test binary links all of Polars).

mod sql;
