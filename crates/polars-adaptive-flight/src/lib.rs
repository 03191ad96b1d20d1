//! polars-adaptive-flight: an Arrow Flight SQL server over the polars-adaptive SQL front end.
//!
//! Any Flight SQL client (ADBC, JDBC, `pyarrow.flight`, arrow-flight's `FlightSqlServiceClient`)
//! sends SQL; the scan, filter and aggregation run here, within the server's memory budget, and
//! only the result streams back, batch by batch as the scan produces it.
//!
//! - [`FlightSqlServer`] (`service.rs`): the Flight SQL calls over a
//!   [`SqlEngine`](polars_adaptive_sql::SqlEngine): statements and prepared statements, the
//!   metadata calls (`metadata.rs`), `CancelFlightInfo`, the handshake.
//! - [`ServerOptions`] (`options.rs`): limits, credentials, TLS.
//! - [`serve`] (`server.rs`): the transport; `auth.rs` checks every call's credentials.
//! - `ticket.rs`: tickets, prepared-statement handles and session tokens, signed and expiring.
//! - `convert.rs`: Polars frames to Arrow record batches, and the schema clients are promised.

mod auth;
mod convert;
mod error;
mod metadata;
mod options;
mod server;
mod service;
mod ticket;

pub use error::FlightSqlError;
pub use metadata::{CATALOG, SCHEMA, TABLE_TYPE};
pub use options::ServerOptions;
pub use server::{bind, serve};
pub use service::FlightSqlServer;
