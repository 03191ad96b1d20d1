//! Extension methods on `LazyFrame`: `collect_adaptive`, `sink_batches_adaptive`.

use std::num::NonZeroUsize;

use polars::prelude::*;

use crate::runner;

/// Bounded-memory execution of a plan over `scan_adaptive`.
pub trait AdaptiveExecExt {
    /// Runs the plan batch by batch. A plan that cannot stream (a full sort, a window or a
    /// join over the whole input, a median...) runs in Polars' in-memory engine with a
    /// warning on stderr, or fails naming the operation when the scan has a memory budget.
    fn collect_adaptive(self) -> PolarsResult<DataFrame>;

    /// Hands the plan's output to `callback` batch by batch; `callback` returns `true` to
    /// stop. With `chunk_size`, every batch but the last has exactly that many rows. Output is
    /// always in the plan's order, so `maintain_order` costs nothing here.
    fn sink_batches_adaptive<F>(
        self,
        callback: F,
        chunk_size: Option<NonZeroUsize>,
        maintain_order: bool,
    ) -> PolarsResult<()>
    where
        F: FnMut(DataFrame) -> PolarsResult<bool> + Send;
}

impl AdaptiveExecExt for LazyFrame {
    fn collect_adaptive(self) -> PolarsResult<DataFrame> {
        let mut frames = Vec::new();
        runner::run(self, &mut |df| {
            frames.push(df);
            Ok(false)
        })?;
        Ok(polars_core::utils::accumulate_dataframes_vertical_unchecked(frames))
    }

    fn sink_batches_adaptive<F>(
        self,
        mut callback: F,
        chunk_size: Option<NonZeroUsize>,
        _maintain_order: bool,
    ) -> PolarsResult<()>
    where
        F: FnMut(DataFrame) -> PolarsResult<bool> + Send,
    {
        let Some(size) = chunk_size.map(NonZeroUsize::get) else {
            return runner::run(self, &mut callback);
        };
        let mut pending: Option<DataFrame> = None;
        let mut stopped = false;
        runner::run(self, &mut |df| {
            let mut buf = match pending.take() {
                Some(mut p) => {
                    p.vstack_mut_owned(df)?;
                    p
                }
                None => df,
            };
            while buf.height() >= size {
                let rest = buf.slice(size as i64, buf.height() - size);
                if callback(buf.slice(0, size))? {
                    stopped = true;
                    return Ok(true);
                }
                buf = rest;
            }
            pending = Some(buf);
            Ok(false)
        })?;
        match pending {
            Some(rest) if !stopped && rest.height() > 0 => callback(rest).map(|_| ()),
            _ => Ok(()),
        }
    }
}
