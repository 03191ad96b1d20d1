//! What a reader keeps per (row group, column) for the units that read it: the page-header
//! check (`decode::pages`), extended as units reach further, and the pages decompressed once
//! for units that share them (`decode::decompressed`); both dropped, and the mapped pages
//! handed back, once the row group's last unit is read.

use std::ops::Range;
use std::sync::{Arc, MutexGuard};

use crate::decode::decompressed::{decompress_chunk, DecompressedChunk, KeptPages};
use crate::decode::pages::{check_pages, CheckedPages, ChunkPages, PageCheck, PageCosts};
use crate::error::AdaptiveResult;
use crate::file::read::PageReuse;
use crate::file::reader::MmapParquetReader;

impl MmapParquetReader {
    /// What reading part of row group `rg` holds besides the values, summed over `columns`
    /// (see `PageCosts`). Errors where the page headers contradict the footer.
    ///
    /// The first time, the columns' page headers are checked in parallel: jobs on Polars' pool
    /// take the other columns while this thread checks the first (a row group's headers of six
    /// columns took P2's producer 0.85 ms). This thread then finds each column checked, waits
    /// for a check another thread is running, or checks one no job has started: the lock of
    /// `checked_pages`' cell is held only while checking, so it never waits for a job still
    /// queued. Every column is checked before
    /// returning, even after an error, so a job that starts later finds its check done and never
    /// reads the mapping after the read is over (the file may be rewritten by then).
    pub(crate) fn page_costs(
        self: &Arc<Self>,
        rg: usize,
        columns: &[usize],
        until: usize,
    ) -> AdaptiveResult<PageCosts> {
        for &c in columns.iter().skip(1) {
            if !self.pages_checked(rg, c, until) {
                let reader = self.clone();
                polars_core::runtime::RAYON.spawn(move || {
                    let _ = reader.checked_pages(rg, c, until);
                });
            }
        }
        let checked: Vec<AdaptiveResult<Arc<ChunkPages>>> = columns
            .iter()
            .map(|&c| self.checked_pages(rg, c, until))
            .collect();
        checked
            .into_iter()
            .collect::<AdaptiveResult<_>>()
            .map(PageCosts)
    }

    /// The cell holding `check_pages`' outcome for schema column `c` in row group `rg`.
    fn page_cell(&self, rg: usize, c: usize) -> &PageCheck {
        &self.page_checks[rg * self.footer.schema.len() + c]
    }

    /// The pages of schema column `c` in row group `rg` kept decompressed, locked.
    pub(super) fn kept_pages(&self, rg: usize, c: usize) -> MutexGuard<'_, KeptPages> {
        self.decompressed[rg * self.footer.schema.len() + c]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// That cell, locked.
    pub(super) fn page_check(&self, rg: usize, c: usize) -> MutexGuard<'_, Option<CheckedPages>> {
        self.page_cell(rg, c)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the pages of schema column `c` in row group `rg` are checked as far as row
    /// `until` (or refused); `false` also while another thread checks them.
    fn pages_checked(&self, rg: usize, c: usize, until: usize) -> bool {
        self.page_cell(rg, c)
            .try_lock()
            .is_ok_and(|checked| checked.as_ref().is_some_and(|p| covers(p, until)))
    }

    /// `check_pages` over the chunks of schema column `c` in row group `rg`, as far as the
    /// page holding row `until - 1`: every unit of the row group asks again, and the check is
    /// redone only when a unit reads past the pages checked so far. A unit the page index
    /// narrowed to the first 100 K of a row group's 1 M rows thus checks 6 pages a column, not
    /// 52 (P2's producer spent 0.65 to 1.3 ms checking and faulting in all of them).
    pub(super) fn checked_pages(
        &self,
        rg: usize,
        c: usize,
        until: usize,
    ) -> AdaptiveResult<Arc<ChunkPages>> {
        let name = self.footer.schema.get_at_index(c).unwrap().0;
        let mut cell = self.page_check(rg, c);
        if !cell.as_ref().is_some_and(|p| covers(p, until)) {
            *cell = Some(self.check_chunks(rg, name, until).map(Arc::new));
        }
        let checked = cell.as_ref().unwrap().clone();
        checked.map_err(|reason| self.decode_error(rg, name, reason))
    }

    /// The pages of schema column `c` in row group `rg` holding `rows`, decompressed once
    /// (see `decompressed`), with the chunk's dictionary page: those kept for the row group's
    /// units, or (`PageReuse::Keep`) decompressed from the page holding `rows.start` to the end
    /// of the pages checked and kept. `None` where the pages are not kept (see
    /// `ChunkPages::kept_for`), no kept pages hold `rows`, or decompressing them failed: the
    /// unit then decodes from the file's bytes. Built under the cell's lock, so that a unit
    /// of the same chunk on another thread waits for the pages rather than decompressing them
    /// too (the builder is running, never queued).
    pub(super) fn decompressed_chunk(
        &self,
        rg: usize,
        c: usize,
        rows: &Range<usize>,
        reuse: PageReuse,
    ) -> AdaptiveResult<Option<Arc<DecompressedChunk>>> {
        let pages = self.checked_pages(rg, c, rows.end)?;
        let keep = match reuse {
            PageReuse::Keep(unit_rows) => pages.kept_for(unit_rows),
            PageReuse::Existing => false,
        };
        let mut cell = self.kept_pages(rg, c);
        match &*cell {
            Some(Some(d)) if d.holds(rows) => return Ok(Some(d.clone())),
            // Failed before; or units behind the kept pages, which later units still read.
            Some(None) => return Ok(None),
            Some(Some(d)) if rows.start < d.rows.start => return Ok(None),
            _ if !keep => return Ok(None),
            _ => {}
        }
        let Some(chunks) = self.chunks(rg, c, false, rows.end)? else {
            return Ok(None);
        };
        let [(m, bytes)] = &chunks[..] else {
            return Ok(None);
        };
        let build = || decompress_chunk(m.compression(), bytes, rows.start, pages.extent);
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(build))
            .ok()
            .and_then(Result::ok)
            .filter(|d| d.holds(rows))
            .map(Arc::new);
        *cell = Some(built.clone());
        Ok(built)
    }

    fn check_chunks(&self, rg: usize, name: &str, until: usize) -> Result<ChunkPages, String> {
        let md = &self.footer.metadata.row_groups[rg];
        let chunks: Vec<_> = md
            .columns_under_root_iter(name)
            .into_iter()
            .flatten()
            .collect();
        // Only a column of one flat chunk is checked in part, or read without its dictionary.
        let until = match chunks.len() {
            1 => until,
            _ => usize::MAX,
        };
        let (mut held, mut last) = (0usize, None);
        for m in &chunks {
            let r = m.byte_range();
            let bytes = self
                .source
                .bytes(&self.file, r.start as usize..r.end as usize, false)
                .map_err(|e| format!("reading the column chunk: {e}"))?;
            let check = || check_pages(m, md.num_rows(), &bytes, until);
            let pages = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check))
                .unwrap_or_else(|_| Err("the page header reader panicked".into()))?;
            held = held.saturating_add(pages.held);
            last = Some(pages);
        }
        Ok(match (chunks.len(), last) {
            (1, Some(pages)) => pages,
            _ => ChunkPages {
                rows: md.num_rows(),
                held,
                ..ChunkPages::default()
            },
        })
    }

    /// Drops the pages of `columns` of row group `rg` kept decompressed, and hands their
    /// mapped pages back to the kernel, once they are consumed, so the mapping does not keep
    /// the whole file resident (peak RSS counts every touched page of a mapping).
    pub(crate) fn release(&self, rg: usize, columns: &[usize]) {
        for &c in columns {
            *self.kept_pages(rg, c) = None;
        }
        if !self.source.is_mapped() {
            return;
        }
        let md = &self.footer.metadata.row_groups[rg];
        for &c in columns {
            let name = self.footer.schema.get_at_index(c).unwrap().0;
            let Some(chunks) = md.columns_under_root_iter(name) else {
                continue;
            };
            for m in chunks {
                let r = m.byte_range();
                self.source.release(r.start as usize..r.end as usize);
            }
        }
    }
}

/// Whether a read of the rows before `until` may rely on `checked`: a refusal stands for
/// every read, since any read walks the pages it was found in.
fn covers(checked: &CheckedPages, until: usize) -> bool {
    checked.as_ref().map_or(true, |p| p.rows >= until)
}
