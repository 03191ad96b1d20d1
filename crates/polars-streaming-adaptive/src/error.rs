//! The I/O layer's error type: every failure names the file, and the row group and column where
//! they are known, then converts into a `PolarsError` at the public edge.

use std::path::{Path, PathBuf};

use polars::prelude::PolarsError;

/// Errors of the adaptive Parquet I/O layer.
///
/// User errors (bad files, unknown columns, budgets too small) are apart from
/// [`AdaptiveError::Internal`], which is a bug in this crate or a dependency.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdaptiveError {
    /// The operating system refused an operation on the file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a Parquet file at all (too short, or wrong magic bytes).
    #[error("{}: not a Parquet file: {reason}", path.display())]
    NotParquet { path: PathBuf, reason: String },
    /// The footer could not be parsed or describes an impossible layout.
    #[error("{}: invalid Parquet metadata: {reason}", path.display())]
    InvalidMetadata { path: PathBuf, reason: String },
    /// A column chunk of a row group could not be decoded.
    #[error("{}: row group {row_group}, column '{column}': {reason}", path.display())]
    Decode {
        path: PathBuf,
        row_group: usize,
        column: String,
        reason: String,
    },
    /// The file's length or modification time changed after it was opened and mapped.
    #[error("{}: file changed since it was opened ({detail}); reading it could return torn data or fault", path.display())]
    FileChanged { path: PathBuf, detail: String },
    /// A file of a multi-file read has a schema different from the first file's.
    #[error("{}: schema differs from the first file {}: {detail}", path.display(), first.display())]
    SchemaMismatch {
        path: PathBuf,
        first: PathBuf,
        detail: String,
    },
    /// A projected or filtered column does not exist in the file.
    #[error("{}: column '{column}' not found; the file has {available}", path.display())]
    ColumnNotFound {
        path: PathBuf,
        column: String,
        available: String,
    },
    /// A path, directory or glob named no Parquet file.
    #[error("no Parquet file matches '{pattern}'")]
    NoMatch { pattern: String },
    /// A glob pattern could not be parsed.
    #[error("invalid glob pattern '{pattern}': {reason}")]
    InvalidPattern { pattern: String, reason: String },
    /// The memory budget cannot hold even the smallest batch.
    #[error("{}: row group {row_group}: memory budget of {budget} bytes cannot hold one row of about {row_bytes} decoded bytes", path.display())]
    BudgetTooSmall {
        path: PathBuf,
        row_group: usize,
        budget: usize,
        row_bytes: usize,
    },
    /// A bug: an invariant of this crate or of a dependency did not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AdaptiveError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<AdaptiveError> for PolarsError {
    fn from(err: AdaptiveError) -> Self {
        let msg = err.to_string();
        match err {
            AdaptiveError::Io { source, .. } => PolarsError::IO {
                error: std::sync::Arc::new(source),
                msg: Some(msg.into()),
            },
            AdaptiveError::NoMatch { .. } => PolarsError::IO {
                error: std::sync::Arc::new(std::io::Error::from(std::io::ErrorKind::NotFound)),
                msg: Some(msg.into()),
            },
            AdaptiveError::SchemaMismatch { .. } => PolarsError::SchemaMismatch(msg.into()),
            AdaptiveError::ColumnNotFound { .. } => PolarsError::ColumnNotFound(msg.into()),
            AdaptiveError::InvalidPattern { .. } => PolarsError::InvalidOperation(msg.into()),
            _ => PolarsError::ComputeError(msg.into()),
        }
    }
}

/// Result of the I/O layer's internal functions.
pub type AdaptiveResult<T> = Result<T, AdaptiveError>;

/// Runs `f`, turning a panic inside it (ours, a decoder's, a user callback's) into the error
/// `on_panic` makes of the panic's message.
///
/// Corrupt files reach code paths in dependencies that assert instead of returning errors; a
/// reader must answer them with an error, never unwind through the caller.
pub(crate) fn catch_panic<T>(
    f: impl FnOnce() -> AdaptiveResult<T>,
    on_panic: impl FnOnce(String) -> AdaptiveError,
) -> AdaptiveResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(on_panic(panic_message(&*payload))),
    }
}

/// The message a caught panic's payload carries (a `&str` or a `String`), for the layers above
/// that also turn panics into errors.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}
