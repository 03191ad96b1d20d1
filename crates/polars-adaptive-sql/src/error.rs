//! `SqlError`: what the SQL front end refuses or fails at, converted into `PolarsError` at the
//! public edge.

use polars::prelude::*;

/// Errors of the SQL front end.
///
/// The variants say whose fault it is: a statement the client sent ([`Parse`](Self::Parse),
/// [`NotAllowed`](Self::NotAllowed), [`UnknownTable`](Self::UnknownTable),
/// [`TooLong`](Self::TooLong), [`Plan`](Self::Plan)), a table the server was given
/// ([`Table`](Self::Table)), a query that outgrew its limits ([`Execution`](Self::Execution) with
/// an out-of-bounds cause), or a bug ([`Internal`](Self::Internal)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The text is not SQL the parser reads.
    #[error("SQL parse error: {0}")]
    Parse(String),
    /// A statement or construct that is not read-only (DDL, DML, table functions, several
    /// statements).
    #[error("{0}")]
    NotAllowed(String),
    /// The statement is longer than the front end accepts.
    #[error("the SQL statement is {len} bytes long; at most {limit} are accepted")]
    TooLong { len: usize, limit: usize },
    /// The statement names a table that is not registered.
    #[error("table '{name}' is not registered; registered tables: {known}")]
    UnknownTable { name: String, known: String },
    /// A table could not be registered or opened (its files, its schema).
    #[error("table '{name}': {source}")]
    Table { name: String, source: PolarsError },
    /// Planning failed (an unknown column, a type error, unsupported SQL).
    #[error("{0}")]
    Plan(PolarsError),
    /// Running the query failed.
    #[error("{0}")]
    Execution(PolarsError),
    /// A bug: planning or running panicked, or an invariant did not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

impl SqlError {
    /// Whether the error is the client's to fix (its statement), as opposed to the data's, the
    /// limits' or a bug.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            SqlError::Parse(_)
                | SqlError::NotAllowed(_)
                | SqlError::TooLong { .. }
                | SqlError::UnknownTable { .. }
                | SqlError::Plan(_)
        )
    }
}

impl From<SqlError> for PolarsError {
    fn from(err: SqlError) -> Self {
        match err {
            SqlError::Plan(e) | SqlError::Execution(e) => e,
            SqlError::Table { name, source } => source.wrap_msg(|m| format!("table '{name}': {m}")),
            SqlError::Parse(_) | SqlError::NotAllowed(_) | SqlError::UnknownTable { .. } => {
                PolarsError::SQLInterface(err.to_string().into())
            }
            SqlError::TooLong { .. } => PolarsError::OutOfBounds(err.to_string().into()),
            SqlError::Internal(_) => PolarsError::ComputeError(err.to_string().into()),
        }
    }
}
