//! `FooterCache`: the footers of one scan's files, parsed once for all its reads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use polars::prelude::PlHashMap;
use polars_buffer::Buffer;

use crate::error::AdaptiveResult;
use crate::file::footer::Footer;

/// Footer bytes a cache keeps by default: the footers of hundreds of typical files (the
/// parsed forms take a few times their bytes).
const DEFAULT_MAX_BYTES: usize = 16 << 20;

/// Parsed footers (and their statistics, once read) of the files of one scan, shared by the
/// readers of its queries: a file is parsed again only when its footer's bytes or its length
/// changed. Each read still opens the file and reads the footer's bytes, so a rewritten file is
/// always read as it is now; only the parse (a few tenths of a millisecond a file, twice with
/// statistics) is saved. Clones share the cache.
///
/// ```no_run
/// use polars_streaming_adaptive::{FooterCache, MmapMode, MmapParquetReader};
/// # fn main() -> polars::prelude::PolarsResult<()> {
/// let footers = FooterCache::default();
/// let first = MmapParquetReader::with_footer_cache("trades.parquet", MmapMode::Auto, &footers)?;
/// // Parsed once: the second reader reuses the first one's footer.
/// let again = MmapParquetReader::with_footer_cache("trades.parquet", MmapMode::Auto, &footers)?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct FooterCache(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    footers: Mutex<Cached>,
    max_bytes: usize,
}

#[derive(Default)]
struct Cached {
    by_path: PlHashMap<PathBuf, Arc<Footer>>,
    bytes: usize,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("files", &self.by_path.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Default for FooterCache {
    fn default() -> Self {
        Self::with_max_bytes(DEFAULT_MAX_BYTES)
    }
}

impl FooterCache {
    /// A cache keeping footers of at most `max_bytes` bytes in all; footers beyond it are
    /// parsed for each read, as without a cache.
    pub fn with_max_bytes(max_bytes: usize) -> Self {
        Self(Arc::new(Shared {
            footers: Mutex::default(),
            max_bytes,
        }))
    }

    /// Number of footers kept.
    pub fn len(&self) -> usize {
        self.lock().by_path.len()
    }

    /// Whether no footer is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The footer of `path` (a file of `len` bytes whose footer is `bytes`): the one kept if
    /// it was parsed from the same bytes of a file of the same length, else parsed now and
    /// kept while the cache has room.
    pub(crate) fn footer(
        &self,
        path: &Path,
        len: usize,
        bytes: Buffer<u8>,
    ) -> AdaptiveResult<Arc<Footer>> {
        let kept = self.lock().by_path.get(path).cloned();
        if let Some(kept) = kept.filter(|k| k.file_len == len && k.bytes[..] == bytes[..]) {
            return Ok(kept);
        }
        let footer = Arc::new(Footer::parse(path, len, bytes)?);
        let mut cached = self.lock();
        let replaced = cached.by_path.get(path).map_or(0, |f| f.bytes.len());
        let bytes = cached.bytes - replaced + footer.bytes.len();
        if bytes <= self.0.max_bytes {
            cached.by_path.insert(path.to_path_buf(), footer.clone());
            cached.bytes = bytes;
        }
        Ok(footer)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.0.footers.lock().unwrap_or_else(|e| e.into_inner())
    }
}
