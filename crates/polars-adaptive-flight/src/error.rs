//! `FlightSqlError`: what the server refuses or fails at, as a gRPC status for clients and a
//! `PolarsError` for Rust callers.

use polars::prelude::PolarsError;
use polars_adaptive_sql::SqlError;
use tonic::{Code, Status};

/// Errors of the Flight SQL server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlightSqlError {
    /// The statement was refused or failed in the SQL front end.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// A result column has a type Flight SQL clients cannot read.
    #[error("column '{column}' is {dtype}, which Flight SQL clients cannot read; {hint}")]
    UnsupportedType {
        column: String,
        dtype: String,
        hint: &'static str,
    },
    /// A ticket or a prepared-statement handle this server did not issue, or altered.
    #[error("the {what} was not issued by this server or was altered")]
    BadSignature { what: &'static str },
    /// A ticket past its expiry.
    #[error("the ticket expired {seconds_ago} s ago; ask for a new FlightInfo")]
    TicketExpired { seconds_ago: u64 },
    /// No credentials, or wrong ones.
    #[error("{0}")]
    Unauthenticated(String),
    /// A limit of the server: queries at once, rows or bytes of a result.
    #[error("{0}")]
    Limit(String),
    /// The query ran past the server's deadline.
    #[error("the query ran past the server's deadline of {seconds} s")]
    Deadline { seconds: f64 },
    /// The client cancelled the query.
    #[error("the query was cancelled")]
    Cancelled,
    /// A request the server does not understand.
    #[error("{0}")]
    BadRequest(String),
    /// The server could not start: its address, its TLS files.
    #[error("cannot serve: {0}")]
    Serve(String),
    /// Converting a result failed in Polars.
    #[error(transparent)]
    Polars(#[from] PolarsError),
    /// A bug: an invariant of this crate did not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

impl FlightSqlError {
    /// The gRPC code a client sees.
    pub fn code(&self) -> Code {
        match self {
            FlightSqlError::Sql(e) => match e {
                SqlError::Parse(_)
                | SqlError::NotAllowed(_)
                | SqlError::TooLong { .. }
                | SqlError::UnknownTable { .. }
                | SqlError::Plan(_) => Code::InvalidArgument,
                SqlError::Execution(e) => polars_code(e),
                SqlError::Table { .. } => Code::FailedPrecondition,
                _ => Code::Internal,
            },
            FlightSqlError::UnsupportedType { .. } | FlightSqlError::BadRequest(_) => {
                Code::InvalidArgument
            }
            FlightSqlError::BadSignature { .. } => Code::PermissionDenied,
            FlightSqlError::TicketExpired { .. } => Code::FailedPrecondition,
            FlightSqlError::Unauthenticated(_) => Code::Unauthenticated,
            FlightSqlError::Limit(_) => Code::ResourceExhausted,
            FlightSqlError::Deadline { .. } => Code::DeadlineExceeded,
            FlightSqlError::Cancelled => Code::Cancelled,
            FlightSqlError::Serve(_) => Code::Unavailable,
            FlightSqlError::Polars(e) => polars_code(e),
            FlightSqlError::Internal(_) => Code::Internal,
        }
    }
}

/// The code of an error raised while a query ran: its limits are the server's resources, a
/// cancelled scan is a cancel, a file that fails to decode is the server's problem.
fn polars_code(e: &PolarsError) -> Code {
    match e {
        // The budget's refusals: state or slices too large, a plan that cannot stream.
        PolarsError::OutOfBounds(_) | PolarsError::InvalidOperation(_) => Code::ResourceExhausted,
        PolarsError::ColumnNotFound(_)
        | PolarsError::SchemaMismatch(_)
        | PolarsError::SQLInterface(_)
        | PolarsError::SQLSyntax(_) => Code::InvalidArgument,
        e if e.to_string().contains("the query was cancelled") => Code::Cancelled,
        _ => Code::Internal,
    }
}

impl From<FlightSqlError> for Status {
    fn from(err: FlightSqlError) -> Self {
        Status::new(err.code(), err.to_string())
    }
}

impl From<FlightSqlError> for PolarsError {
    fn from(err: FlightSqlError) -> Self {
        match err {
            FlightSqlError::Sql(e) => e.into(),
            FlightSqlError::Polars(e) => e,
            FlightSqlError::Serve(_) => PolarsError::IO {
                error: std::sync::Arc::new(std::io::Error::other(err.to_string())),
                msg: None,
            },
            other => PolarsError::ComputeError(other.to_string().into()),
        }
    }
}
