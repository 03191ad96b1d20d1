//! Extension methods on `LazyFrame`: `collect_adaptive`, `sink_batches_adaptive`.

use std::num::NonZeroUsize;
use std::path::Path;

use polars::prelude::*;

use crate::runner;
use crate::sinks::{sink_file, BatchSink, Rebatch, SinkParquetAdaptiveOptions};

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

    /// Writes the plan's output to a Parquet file, batch by batch: row groups of
    /// `options.row_group_rows` rows (the last may be smaller), zstd and statistics by default.
    /// The file appears under `path` only once complete.
    fn sink_parquet_adaptive(
        self,
        path: impl AsRef<Path>,
        options: SinkParquetAdaptiveOptions,
    ) -> PolarsResult<()>;

    /// Writes the plan's output to a CSV file with a header, batch by batch.
    fn sink_csv_adaptive(self, path: impl AsRef<Path>) -> PolarsResult<()>;

    /// Writes the plan's output as newline-delimited JSON, batch by batch.
    fn sink_ndjson_adaptive(self, path: impl AsRef<Path>) -> PolarsResult<()>;
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
        let mut rebatch = Rebatch::new(size);
        let mut stopped = false;
        runner::run(self, &mut |df| {
            stopped = rebatch.push(df, &mut callback)?;
            Ok(stopped)
        })?;
        match rebatch.rest() {
            Some(rest) if !stopped => callback(rest).map(|_| ()),
            _ => Ok(()),
        }
    }

    fn sink_parquet_adaptive(
        self,
        path: impl AsRef<Path>,
        options: SinkParquetAdaptiveOptions,
    ) -> PolarsResult<()> {
        let rows = options.row_group_rows;
        sink_file(self, path.as_ref(), Some(rows), |out, schema| {
            let writer = ParquetWriter::new(out)
                .with_compression(options.compression)
                .with_statistics(options.statistics)
                .with_row_group_size(Some(rows))
                .batched(schema)?;
            Ok(Box::new(writer) as Box<dyn BatchSink>)
        })
    }

    fn sink_csv_adaptive(self, path: impl AsRef<Path>) -> PolarsResult<()> {
        sink_file(self, path.as_ref(), None, |out, schema| {
            let writer = CsvWriter::new(out).include_header(true).batched(schema)?;
            Ok(Box::new(writer) as Box<dyn BatchSink>)
        })
    }

    fn sink_ndjson_adaptive(self, path: impl AsRef<Path>) -> PolarsResult<()> {
        sink_file(self, path.as_ref(), None, |out, _| {
            Ok(Box::new(polars_io::json::BatchedWriter::new(out)) as Box<dyn BatchSink>)
        })
    }
}
