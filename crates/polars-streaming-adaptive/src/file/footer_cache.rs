//! `FooterCache`: the footers of one scan's files, parsed once for all its reads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use polars::prelude::PlHashMap;
use polars_buffer::Buffer;

use crate::error::AdaptiveResult;
use crate::file::footer::Footer;

/// Footer bytes a cache holds by default: the footers of hundreds of typical files. A footer
/// kept parsed takes about ten times its bytes (the scale benchmark's 42 files have footers
/// of 50 KB; parsed, they took 24 MiB).
const DEFAULT_MAX_BYTES: usize = 16 << 20;

/// Parsed footers (and their statistics, once read) of the files of one scan, shared by the
/// readers of its queries: a file is parsed again only when its footer's bytes or its length
/// changed. Each read still opens the file and reads the footer's bytes, so a rewritten file is
/// always read as it is now; only the parse (a few tenths of a millisecond a file, twice with
/// statistics) is saved. Clones share the cache.
///
/// A footer is kept parsed from its second read on. After the first, the cache holds only its
/// bytes (and the parsed footer while a reader still holds it), so a scan queried once holds
/// little more memory than one without a cache: keeping every footer parsed from its first
/// read took P1 on the scale benchmark from 86–91 to 110–115 MiB at its peak.
///
/// ```no_run
/// use polars_streaming_adaptive::{FooterCache, MmapMode, MmapParquetReader};
/// # fn main() -> polars::prelude::PolarsResult<()> {
/// let footers = FooterCache::default();
/// let first = MmapParquetReader::with_footer_cache("trades.parquet", MmapMode::Auto, &footers)?;
/// // Parsed once: the second reader reuses the footer the first one holds, and the cache
/// // keeps it parsed from now on.
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
    by_path: PlHashMap<PathBuf, Entry>,
    /// Footer bytes of every entry.
    bytes: usize,
}

/// What the cache holds of one file's footer.
enum Entry {
    /// Read once: the bytes, to know the footer unchanged at the next read, and the parsed
    /// footer for as long as a reader holds it.
    Seen {
        file_len: usize,
        bytes: Buffer<u8>,
        parsed: Weak<Footer>,
    },
    /// Read twice or more: kept parsed.
    Kept(Arc<Footer>),
}

impl Entry {
    fn footer_bytes(&self) -> &[u8] {
        match self {
            Entry::Seen { bytes, .. } => bytes,
            Entry::Kept(footer) => &footer.bytes,
        }
    }

    /// Whether the entry is of a file of `len` bytes whose footer is `bytes`.
    fn matches(&self, len: usize, bytes: &[u8]) -> bool {
        let file_len = match self {
            Entry::Seen { file_len, .. } => *file_len,
            Entry::Kept(footer) => footer.file_len,
        };
        file_len == len && self.footer_bytes() == bytes
    }
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

    /// Number of files whose footer the cache holds, parsed or (read once) as bytes.
    pub fn len(&self) -> usize {
        self.lock().by_path.len()
    }

    /// Whether no footer is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The footer of `path` (a file of `len` bytes whose footer is `bytes`): the one held if
    /// it was parsed from the same bytes of a file of the same length, else parsed now. Held
    /// as bytes after a first read, parsed after the second, while the cache has room.
    pub(crate) fn footer(
        &self,
        path: &Path,
        len: usize,
        bytes: Buffer<u8>,
    ) -> AdaptiveResult<Arc<Footer>> {
        let read_before = match self.lock().by_path.get(path) {
            Some(entry) if entry.matches(len, &bytes) => match entry {
                Entry::Kept(footer) => return Ok(footer.clone()),
                Entry::Seen { parsed, .. } => Some(parsed.upgrade()),
            },
            _ => None,
        };
        let second_read = read_before.is_some();
        // Parsed outside the lock, so that readers of other files do not wait for it.
        let footer = match read_before.flatten() {
            Some(footer) => footer,
            None => Arc::new(Footer::parse(path, len, bytes)?),
        };
        let entry = match second_read {
            true => Entry::Kept(footer.clone()),
            false => Entry::Seen {
                file_len: len,
                bytes: footer.bytes.clone(),
                parsed: Arc::downgrade(&footer),
            },
        };
        let mut cached = self.lock();
        if let Some(old) = cached.by_path.remove(path) {
            cached.bytes -= old.footer_bytes().len();
        }
        let bytes = cached.bytes + footer.bytes.len();
        if bytes <= self.0.max_bytes {
            cached.by_path.insert(path.to_path_buf(), entry);
            cached.bytes = bytes;
        }
        Ok(footer)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.0.footers.lock().unwrap_or_else(|e| e.into_inner())
    }
}
