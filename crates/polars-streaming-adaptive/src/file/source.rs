//! Where a file's bytes come from: a read-only mapping or positioned reads (`MmapMode`), and
//! the stamp (length, modification time) that tells a reader its file changed.

use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use memmap2::{Mmap, UncheckedAdvice};
use polars_buffer::Buffer;

use crate::error::{AdaptiveError, AdaptiveResult};

/// Length and modification time of a file when it was mapped. A mapped file that shrinks
/// makes reads of its lost pages fault (SIGBUS), so both are checked before every read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamp {
    pub(crate) len: u64,
    pub(crate) modified: Option<SystemTime>,
}

impl FileStamp {
    pub(crate) fn of(file: &File, path: &Path) -> AdaptiveResult<Self> {
        let md = file.metadata().map_err(|e| AdaptiveError::io(path, e))?;
        Ok(Self {
            len: md.len(),
            modified: md.modified().ok(),
        })
    }
}

/// How a reader gets at a file's bytes.
///
/// A mapped file that shrinks under the reader, or whose pages cannot be read back (an I/O
/// error on a network or FUSE filesystem), makes the next touch of a lost page raise SIGBUS,
/// which no error handling can catch. Positioned reads (`pread`) turn both into errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MmapMode {
    /// Maps files on local filesystems; reads files on network and FUSE filesystems (NFS,
    /// SMB/CIFS, Ceph, AFS, 9p, Lustre, GlusterFS, FUSE mounts) with positioned reads.
    #[default]
    Auto,
    /// Always maps.
    Always,
    /// Never maps: each column chunk is read into memory of its own.
    Never,
}

impl MmapMode {
    fn maps(self, file: &File) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => !on_network_filesystem(file),
        }
    }
}

/// Whether `file` lives on a filesystem where a mapped page can fail to read back.
#[cfg(target_os = "linux")]
fn on_network_filesystem(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // Magic numbers from linux/magic.h and the filesystems' own sources.
    const REMOTE: [u32; 12] = [
        0x6969,      // NFS
        0x517B,      // SMB
        0xFF53_4D42, // CIFS
        0xFE53_4D42, // SMB2
        0x0102_1997, // 9p
        0x00C3_6400, // Ceph
        0x5346_414F, // AFS
        0x6B41_4653, // kAFS
        0x0BD0_0BD0, // Lustre
        0x7375_7245, // Coda
        0x6573_5546, // FUSE (GlusterFS, sshfs, s3fs, ...)
        0x0116_1970, // GFS2
    ];
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `fstatfs` fills the struct on success (return 0), and it is read only then.
    let ok = unsafe { libc::fstatfs(file.as_raw_fd(), st.as_mut_ptr()) } == 0;
    // SAFETY: initialised by the successful call above.
    ok && REMOTE.contains(&(unsafe { st.assume_init() }.f_type as u32))
}

#[cfg(not(target_os = "linux"))]
fn on_network_filesystem(_file: &File) -> bool {
    false
}

/// Reads `len` bytes at `offset` of `file` without moving a cursor shared between threads.
fn read_at(file: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    #[cfg(unix)]
    std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, offset)?;
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < len {
            let n = std::os::windows::fs::FileExt::seek_read(
                file,
                &mut buf[done..],
                offset + done as u64,
            )?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
    }
    Ok(buf)
}

/// Where a reader's bytes come from.
pub(crate) enum Source {
    /// The file mapped read-only; `bytes` is the whole mapping as a buffer Polars can slice.
    Mapped { map: Arc<Mmap>, bytes: Buffer<u8> },
    /// Positioned reads of each byte range into memory of its own.
    Read,
}

impl Source {
    /// Maps `file` where `mode` says so, else reads it (see [`MmapMode`]).
    pub(crate) fn new(file: &File, mode: MmapMode, path: &Path) -> AdaptiveResult<Self> {
        if !mode.maps(file) {
            return Ok(Self::Read);
        }
        // SAFETY: the mapping is read-only. Another process may still truncate the file
        // while it is mapped; reads of the lost pages would then raise SIGBUS.
        // `MmapParquetReader::ensure_unchanged` checks the length and modification time
        // before every decode, which narrows that window to the decode itself, and nothing
        // that outlives a read points into the mapping (`Source::bytes`, docs/ARCHITECTURE.md
        // "Mapped files").
        let map = unsafe { Mmap::map(file) }.map_err(|e| AdaptiveError::io(path, e))?;
        let map = Arc::new(map);
        let bytes = Buffer::from_owner(MapOwner(map.clone()));
        Ok(Self::Mapped { map, bytes })
    }

    /// Whether the file is mapped.
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self, Self::Mapped { .. })
    }

    /// Maps `range` of a mapped file into the page table in one call, rather than one page
    /// fault per page as the decoder reads it. Only for chunks decoded whole: a masked decode
    /// or a unit inside a row group skips pages, which must then stay untouched (they would
    /// count in the process's RSS). Best effort (Linux 5.14+).
    pub(crate) fn populate(&self, range: Range<usize>) {
        #[cfg(target_os = "linux")]
        if let Self::Mapped { map, .. } = self {
            let _ = map.advise_range(memmap2::Advice::PopulateRead, range.start, range.len());
        }
        #[cfg(not(target_os = "linux"))]
        let _ = range;
    }

    /// Bytes `range` of the file. From a mapping they are a slice of it unless `owned`: what
    /// outlives the read must not point into the mapping, which faults (SIGBUS) once the file
    /// is truncated.
    pub(crate) fn bytes(
        &self,
        file: &File,
        range: Range<usize>,
        owned: bool,
    ) -> std::io::Result<Buffer<u8>> {
        Ok(match self {
            Self::Mapped { bytes, .. } if owned => Buffer::from(bytes[range].to_vec()),
            Self::Mapped { bytes, .. } => bytes.clone().sliced(range),
            Self::Read => Buffer::from(read_at(file, range.start as u64, range.len())?),
        })
    }

    /// Hands the pages of a mapped file inside `range` back to the kernel, so the mapping does
    /// not keep them resident (peak RSS counts every touched page of a mapping). Only whole
    /// pages inside the range: the neighbours may belong to columns still being decoded on
    /// another thread.
    pub(crate) fn release(&self, range: Range<usize>) {
        let Self::Mapped { map, .. } = self else {
            return;
        };
        let page = page_size();
        let start = range.start.next_multiple_of(page);
        let end = range.end / page * page;
        if end > start {
            // SAFETY: the mapping is a read-only shared file mapping. MADV_DONTNEED only
            // drops its resident pages; later reads fault them in again from the file, so
            // slices of the mapping held by decoded arrays stay valid.
            let _ = unsafe {
                map.unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }
}

/// Owner of the mapping handed to Polars' decoder: decoded arrays may keep slices of it alive.
struct MapOwner(Arc<Mmap>);

impl AsRef<[u8]> for MapOwner {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn page_size() -> usize {
    // Every platform we build for has pages of at least 4 KiB; a larger page size only makes
    // `release` free less, never a page it must keep.
    4096
}
