//! Streaming file sinks: the plan's output batches written as they come, to a temporary name
//! renamed over the target only on success, so a failed run never leaves a truncated file
//! under the target name.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use tempfile::NamedTempFile;

use crate::error::ExecError;
use crate::runner::for_each_scan;

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

/// The buffered temporary file a sink writes into.
pub(crate) type Out = BufWriter<NamedTempFile>;

/// Runs `write` into a temporary file beside `target`, then moves the finished file to
/// `target`.
///
/// The temporary file has a random name and is created exclusively, so runs do not clash and a
/// symlink planted under a guessable name cannot redirect the write. It is removed when
/// anything fails, a panic included. The last flush happens here, not in a `Drop` where its
/// error (a full disk) would be lost, and the data reaches the disk (`sync_all`) before the
/// rename makes it visible under the target name.
pub(crate) fn write_atomically(
    target: &Path,
    write: impl FnOnce(&mut Out) -> PolarsResult<()>,
) -> PolarsResult<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExecError::Io { path, source }
    };
    let name = target.file_name().ok_or_else(|| ExecError::InvalidTarget {
        path: target.to_path_buf(),
    })?;
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io(target))?;
    let mut out = BufWriter::new(tmp);
    write(&mut out)?;
    let tmp = out.into_inner().map_err(|e| io(target)(e.into_error()))?;
    tmp.as_file().sync_all().map_err(io(tmp.path()))?;
    tmp.persist(target).map_err(|e| io(target)(e.error))?;
    Ok(())
}

/// Refuses a `target` that the plan `lf` reads: the sink would replace an input while the scan
/// still maps it, and a later read of the same glob would see a half-written result.
pub(crate) fn refuse_input_as_target(lf: &LazyFrame, target: &Path) -> PolarsResult<()> {
    let Ok(target) = target.canonicalize() else {
        // A target that does not exist yet is no input.
        return Ok(());
    };
    let mut inputs = Vec::new();
    for_each_scan(lf, |sources, ours| {
        let stock = sources.as_paths().into_iter().flatten();
        inputs.extend(stock.map(|p| PathBuf::from(p.as_str())));
        inputs.extend(ours.into_iter().flat_map(|s| s.paths().to_vec()));
    })?;
    match inputs
        .iter()
        .any(|p| p.canonicalize().is_ok_and(|p| p == target))
    {
        true => Err(ExecError::TargetIsInput { path: target }.into()),
        false => Ok(()),
    }
}

/// Accumulates rows into exactly `rows`-row frames (smaller ones when pending rows would
/// outgrow `max_bytes`), or, [`Rebatch::at_least`], into frames of at least `rows` rows.
/// A constant column stacked onto the same constant stays one constant.
#[derive(Debug)]
pub struct Rebatch {
    rows: usize,
    /// Cut frames to `rows`; otherwise frames of `rows` or more pass whole.
    exact: bool,
    max_bytes: Option<usize>,
    pending: Option<DataFrame>,
}

impl Rebatch {
    /// Frames of exactly `rows` rows; the last may be smaller.
    pub fn new(rows: usize) -> Self {
        Self {
            rows: rows.max(1),
            exact: true,
            max_bytes: None,
            pending: None,
        }
    }

    /// Frames of at least `rows` rows, none cut: smaller frames are stacked until they reach
    /// it, larger ones pass whole; the last may be smaller.
    ///
    /// ```
    /// use polars::prelude::*;
    /// use polars_adaptive_exec::Rebatch;
    ///
    /// let mut rebatch = Rebatch::at_least(4);
    /// let mut heights = Vec::new();
    /// for n in [1, 2, 3, 9, 2] {
    ///     let df = DataFrame::new(n, vec![Column::new("x".into(), vec![1i64; n])])?;
    ///     rebatch.push(df, &mut |full| {
    ///         heights.push(full.height());
    ///         Ok(false)
    ///     })?;
    /// }
    /// heights.extend(rebatch.rest().map(|rest| rest.height()));
    /// assert_eq!(heights, [6, 9, 2]);
    /// # Ok::<(), PolarsError>(())
    /// ```
    pub fn at_least(rows: usize) -> Self {
        Self {
            exact: false,
            ..Self::new(rows)
        }
    }

    /// Hands pending rows on before they hold more than `bytes`.
    pub fn with_max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// Adds `df`; calls `full` with every complete frame.
    pub fn push(
        &mut self,
        df: DataFrame,
        full: &mut dyn FnMut(DataFrame) -> PolarsResult<bool>,
    ) -> PolarsResult<bool> {
        let mut buf = match self.pending.take() {
            Some(p) => vstack_keeping_constants(p, df)?,
            None => df,
        };
        if !self.exact && buf.height() >= self.rows {
            return full(buf);
        }
        while buf.height() >= self.rows {
            let rest = buf.slice(self.rows as i64, buf.height() - self.rows);
            if full(buf.slice(0, self.rows))? {
                return Ok(true);
            }
            buf = rest;
        }
        // Only with a bound: `estimated_size` materializes a constant column (an equality's
        // column the scan repeats as a scalar), 16 bytes a row for a string, which the batch
        // then carries: P1's `side = 'BUY'` from Python held 776 MiB more at the end of a read.
        if let Some(max) = self.max_bytes {
            if buf.height() > 0 && buf.estimated_size() > max {
                return full(buf);
            }
        }
        self.pending = Some(buf);
        Ok(false)
    }

    /// The rows left over (fewer than a full frame), if any.
    pub fn rest(self) -> Option<DataFrame> {
        self.pending.filter(|p| p.height() > 0)
    }
}

/// `a` then `b`, as `vstack_mut_owned` stacks them, except that a constant column followed by
/// the same constant stays a constant: Polars' `append` materializes both, and the rest of the
/// unit's batches were cut from that materialization.
fn vstack_keeping_constants(mut a: DataFrame, b: DataFrame) -> PolarsResult<DataFrame> {
    // Frames of other schemas go to `vstack_mut_owned`, which names what differs.
    if a.schema() != b.schema() {
        a.vstack_mut_owned(b)?;
        return Ok(a);
    }
    let height = a.height() + b.height();
    let columns = a
        .into_columns()
        .into_iter()
        .zip(b.into_columns())
        .map(|(mut x, y)| {
            if let (Some(constant), Some(next)) = (x.as_scalar_column(), y.as_scalar_column()) {
                if constant.scalar() == next.scalar() {
                    return Ok(constant.resize(height).into_column());
                }
            }
            x.append_owned(y)?;
            Ok(x)
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(height, columns)
}

/// A file format's batched writer.
pub(crate) trait BatchSink {
    fn write(&mut self, df: &DataFrame) -> PolarsResult<()>;
    fn finish(self: Box<Self>) -> PolarsResult<()>;
}

impl BatchSink for polars_io::parquet::write::BatchedWriter<&mut Out> {
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

impl BatchSink for polars_io::csv::write::BatchedWriter<&mut Out> {
    fn write(&mut self, df: &DataFrame) -> PolarsResult<()> {
        self.write_batch(df)
    }
    fn finish(mut self: Box<Self>) -> PolarsResult<()> {
        polars_io::csv::write::BatchedWriter::finish(&mut self)
    }
}

impl BatchSink for polars_io::json::BatchedWriter<&mut Out> {
    fn write(&mut self, df: &DataFrame) -> PolarsResult<()> {
        self.write_batch(df)
    }
    fn finish(self: Box<Self>) -> PolarsResult<()> {
        Ok(())
    }
}

/// Runs `pipeline` into a file made by `make` once the output schema is known, in frames of
/// `rows` rows when given. The pipeline's inputs may not be the target.
pub(crate) fn sink_file(
    pipeline: crate::AdaptivePipeline,
    target: &Path,
    rows: Option<usize>,
    make: impl for<'a> FnOnce(&'a mut Out, &Schema) -> PolarsResult<Box<dyn BatchSink + 'a>>,
) -> PolarsResult<()> {
    refuse_input_as_target(pipeline.plan(), target)?;
    // Rows waiting for a full row group are state: under a hard budget they get its share.
    let max_bytes = crate::runner::plan_budget(pipeline.plan())?.map_or(usize::MAX, |b| b / 4);
    write_atomically(target, |out| {
        let mut file = OpenOnFirstFrame {
            make: Some((make, out)),
            sink: None,
        };
        let mut rebatch = rows.map(|r| Rebatch::new(r).with_max_bytes(max_bytes));
        let mut schema: Option<SchemaRef> = None;
        pipeline.run(&mut |df| {
            schema.get_or_insert_with(|| df.schema().clone());
            match &mut rebatch {
                Some(r) => r.push(df, &mut |full| file.write(full)),
                None => file.write(df),
            }
        })?;
        if let Some(rest) = rebatch.and_then(Rebatch::rest) {
            file.write(rest)?;
        }
        if let Some(schema) = schema {
            // Opens the file (a header, an empty Parquet file) when no row came.
            file.write(DataFrame::empty_with_arc_schema(schema))?;
        }
        file.finish()
    })
}

/// A format writer made from the first frame's schema.
struct OpenOnFirstFrame<'a, M> {
    make: Option<(M, &'a mut Out)>,
    sink: Option<Box<dyn BatchSink + 'a>>,
}

impl<'a, M> OpenOnFirstFrame<'a, M>
where
    M: FnOnce(&'a mut Out, &Schema) -> PolarsResult<Box<dyn BatchSink + 'a>>,
{
    fn write(&mut self, df: DataFrame) -> PolarsResult<bool> {
        if let Some((make, out)) = self.make.take() {
            self.sink = Some(make(out, df.schema())?);
        }
        if df.height() > 0 {
            self.sink.as_mut().unwrap().write(&df)?;
        }
        Ok(false)
    }

    fn finish(self) -> PolarsResult<()> {
        self.sink.map_or(Ok(()), |sink| sink.finish())
    }
}

#[cfg(test)]
mod tests {
    use polars_core::utils::accumulate_dataframes_vertical_unchecked;

    use super::*;

    fn frame(rows: usize, from: i64) -> DataFrame {
        let constant =
            Column::new_scalar("side".into(), Scalar::from(PlSmallStr::from("BUY")), rows);
        let values = Column::new("v".into(), (from..from + rows as i64).collect::<Vec<_>>());
        DataFrame::new(rows, vec![constant, values]).unwrap()
    }

    #[test]
    fn rebatching_keeps_a_constant_column_constant_and_unmaterialized() {
        let mut rebatch = Rebatch::new(7);
        let mut out = Vec::new();
        for (rows, from) in [(5, 0), (5, 5), (9, 10)] {
            rebatch
                .push(frame(rows, from), &mut |df| {
                    out.push(df);
                    Ok(false)
                })
                .unwrap();
        }
        out.extend(rebatch.rest());
        assert_eq!(
            out.iter().map(DataFrame::height).collect::<Vec<_>>(),
            [7, 7, 5]
        );
        for df in &out {
            let side = df
                .column("side")
                .unwrap()
                .as_scalar_column()
                .expect("a constant");
            assert!(side.lazy_as_materialized_series().is_none());
        }
        let all = accumulate_dataframes_vertical_unchecked(out);
        assert!(all.equals(&frame(19, 0)));
    }
}
