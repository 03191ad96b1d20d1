//! Turning what a user names (a file, a directory or a glob) into a sorted list of files.

use std::path::{Path, PathBuf};

use crate::error::{AdaptiveError, AdaptiveResult};

/// Files named by `target`: the file itself; a directory's `*.parquet` files; or a glob's
/// matches. Sorted, so that multi-file output order is file order.
///
/// A path that exists is taken literally, even when its name holds `*`, `?` or `[`: a file
/// named `prices[2024].parquet` is that file, not a pattern matching `prices2.parquet`. Only
/// a path that does not exist is read as a glob, which must then be valid UTF-8 (the names it
/// matches need not be).
pub fn expand_paths(target: &Path) -> AdaptiveResult<Vec<PathBuf>> {
    let text = target.to_string_lossy();
    let mut paths = if target.is_file() {
        return Ok(vec![target.to_path_buf()]);
    } else if target.is_dir() {
        let entries = std::fs::read_dir(target).map_err(|e| AdaptiveError::io(target, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| AdaptiveError::io(target, e))?.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
        out
    } else if text.contains(['*', '?', '[']) {
        let pattern = target
            .to_str()
            .ok_or_else(|| AdaptiveError::InvalidPattern {
                pattern: text.to_string(),
                reason: "a glob pattern must be valid UTF-8".into(),
            })?;
        let matches = glob::glob(pattern).map_err(|e| AdaptiveError::InvalidPattern {
            pattern: text.to_string(),
            reason: e.to_string(),
        })?;
        let mut out = Vec::new();
        for m in matches {
            let path =
                m.map_err(|e| AdaptiveError::io(e.path(), std::io::Error::other(e.to_string())))?;
            if path.is_file() {
                out.push(path);
            }
        }
        out
    } else {
        return Ok(vec![target.to_path_buf()]);
    };
    if paths.is_empty() {
        return Err(AdaptiveError::NoMatch {
            pattern: text.to_string(),
        });
    }
    paths.sort();
    Ok(paths)
}
