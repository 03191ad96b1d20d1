//! Streaming file sinks: the plan's output batches written as they come, to a temporary name
//! renamed over the target only on success, so a failed run never leaves a truncated file
//! under the target name.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::error::ExecError;

/// Options of [`crate::AdaptiveExecExt::sink_parquet_adaptive`].
#[derive(Debug, Clone)]
pub struct SinkParquetAdaptiveOptions {
    /// Rows per row group: input batches are accumulated up to this many (the last row group
    /// may be smaller). Tiny row groups ruin compression and statistics.
    pub row_group_rows: usize,
    pub compression: ParquetCompression,
    pub statistics: StatisticsOptions,
}

impl Default for SinkParquetAdaptiveOptions {
    fn default() -> Self {
        Self {
            row_group_rows: 128 * 1024,
            compression: ParquetCompression::Zstd(None),
            statistics: StatisticsOptions::full(),
        }
    }
}

impl SinkParquetAdaptiveOptions {
    pub fn with_row_group_rows(mut self, rows: usize) -> Self {
        self.row_group_rows = rows.max(1);
        self
    }
    pub fn with_compression(mut self, compression: ParquetCompression) -> Self {
        self.compression = compression;
        self
    }
}

/// A file being written under a temporary name beside its target.
pub(crate) struct PendingFile {
    tmp: PathBuf,
    target: PathBuf,
}

impl PendingFile {
    pub fn create(target: &Path) -> PolarsResult<(Self, BufWriter<File>)> {
        let name = target.file_name().ok_or_else(|| ExecError::InvalidTarget {
            path: target.to_path_buf(),
        })?;
        let tmp = target.with_file_name(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = File::create(&tmp).map_err(|source| ExecError::Io {
            path: tmp.clone(),
            source,
        })?;
        Ok((
            Self {
                tmp,
                target: target.to_path_buf(),
            },
            BufWriter::new(file),
        ))
    }

    /// Moves the finished file to its target name.
    pub fn commit(self) -> PolarsResult<()> {
        std::fs::rename(&self.tmp, &self.target).map_err(|source| {
            ExecError::Io {
                path: self.target.clone(),
                source,
            }
            .into()
        })
    }

    /// Runs `write`, then commits; on error the temporary file is removed.
    pub fn write_with(
        target: &Path,
        write: impl FnOnce(BufWriter<File>) -> PolarsResult<()>,
    ) -> PolarsResult<()> {
        let (pending, out) = Self::create(target)?;
        match write(out) {
            Ok(()) => pending.commit(),
            Err(e) => {
                let _ = std::fs::remove_file(&pending.tmp);
                Err(e)
            }
        }
    }
}

/// Accumulates rows into exactly `rows`-row frames.
pub(crate) struct Rebatch {
    rows: usize,
    pending: Option<DataFrame>,
}

impl Rebatch {
    pub fn new(rows: usize) -> Self {
        Self {
            rows: rows.max(1),
            pending: None,
        }
    }

    /// Adds `df`; calls `full` with every complete frame.
    pub fn push(
        &mut self,
        df: DataFrame,
        full: &mut dyn FnMut(DataFrame) -> PolarsResult<bool>,
    ) -> PolarsResult<bool> {
        let mut buf = match self.pending.take() {
            Some(mut p) => {
                p.vstack_mut_owned(df)?;
                p
            }
            None => df,
        };
        while buf.height() >= self.rows {
            let rest = buf.slice(self.rows as i64, buf.height() - self.rows);
            if full(buf.slice(0, self.rows))? {
                return Ok(true);
            }
            buf = rest;
        }
        self.pending = Some(buf);
        Ok(false)
    }

    /// The rows left over (fewer than a full frame), if any.
    pub fn rest(self) -> Option<DataFrame> {
        self.pending.filter(|p| p.height() > 0)
    }
}

/// A file format's batched writer.
pub(crate) trait BatchSink {
    fn write(&mut self, df: &DataFrame) -> PolarsResult<()>;
    fn finish(self: Box<Self>) -> PolarsResult<()>;
}

type Out = BufWriter<File>;

impl BatchSink for polars_io::parquet::write::BatchedWriter<Out> {
    fn write(&mut self, df: &DataFrame) -> PolarsResult<()> {
        // One aligned chunk per row group: the writer turns each call into row groups.
        let mut df = df.clone();
        df.rechunk_mut_par();
        self.write_batch(&df)
    }
    fn finish(self: Box<Self>) -> PolarsResult<()> {
        polars_io::parquet::write::BatchedWriter::finish(&self).map(|_| ())
    }
}

impl BatchSink for polars_io::csv::write::BatchedWriter<Out> {
    fn write(&mut self, df: &DataFrame) -> PolarsResult<()> {
        self.write_batch(df)
    }
    fn finish(mut self: Box<Self>) -> PolarsResult<()> {
        polars_io::csv::write::BatchedWriter::finish(&mut self)
    }
}

impl BatchSink for polars_io::json::BatchedWriter<Out> {
    fn write(&mut self, df: &DataFrame) -> PolarsResult<()> {
        self.write_batch(df)
    }
    fn finish(self: Box<Self>) -> PolarsResult<()> {
        Ok(())
    }
}

/// Runs the pipeline `run` into a file made by `make` once the output schema is known, in frames of
/// `rows` rows when given.
pub(crate) fn sink_file(
    target: &Path,
    rows: Option<usize>,
    run: impl FnOnce(&mut crate::runner::Emit<'_>) -> PolarsResult<()>,
    make: impl FnOnce(Out, &Schema) -> PolarsResult<Box<dyn BatchSink>>,
) -> PolarsResult<()> {
    PendingFile::write_with(target, |out| {
        let mut make = Some((make, out));
        let mut sink: Option<Box<dyn BatchSink>> = None;
        let mut open =
            |schema: &Schema, sink: &mut Option<Box<dyn BatchSink>>| -> PolarsResult<()> {
                if let Some((make, out)) = make.take() {
                    *sink = Some(make(out, schema)?);
                }
                Ok(())
            };
        let mut rebatch = rows.map(Rebatch::new);
        let mut schema: Option<SchemaRef> = None;
        let mut write =
            |df: DataFrame, sink: &mut Option<Box<dyn BatchSink>>| -> PolarsResult<bool> {
                open(df.schema(), sink)?;
                if df.height() > 0 {
                    sink.as_mut().unwrap().write(&df)?;
                }
                Ok(false)
            };
        run(&mut |df| {
            schema.get_or_insert_with(|| df.schema().clone());
            match &mut rebatch {
                Some(r) => r.push(df, &mut |full| write(full, &mut sink)),
                None => write(df, &mut sink),
            }
        })?;
        if let Some(rest) = rebatch.and_then(Rebatch::rest) {
            write(rest, &mut sink)?;
        }
        if let Some(schema) = schema {
            write(DataFrame::empty_with_arc_schema(schema), &mut sink)?;
        }
        match sink {
            Some(sink) => sink.finish(),
            None => Ok(()),
        }
    })
}
