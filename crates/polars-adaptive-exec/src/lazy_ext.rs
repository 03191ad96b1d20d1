//! Extension methods on `LazyFrame` (`collect_adaptive`, `sink_*_adaptive`) and the pipeline
//! they run: the plan, then any custom per-batch operators.

use std::num::NonZeroUsize;
use std::path::Path;

use polars::prelude::*;

use crate::error::ExecError;
use crate::operator::BatchOperator;
use crate::runner::{self, Emit, PartsPlan};
use crate::sinks::{sink_file, BatchSink, Rebatch, SinkParquetAdaptiveOptions};

/// Bounded-memory execution of a plan over `scan_adaptive`.
///
/// A plan that cannot stream (a full sort, a window or a join over the whole input, a
/// median...) runs in Polars' in-memory engine with a warning on stderr, or fails naming the
/// operation when the scan has a memory budget.
pub trait AdaptiveExecExt {
    /// The plan as a pipeline, to add custom operators to.
    fn adaptive(self) -> AdaptivePipeline;

    /// Runs the plan batch by batch and concatenates its output.
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

    /// Runs the plan over one part of its input (a scan of one [`Split`]) and returns the
    /// part's partial answer: its rows, its first rows for a slice, an aggregation's partial
    /// state, or a top-k's rows. [`merge_partials_adaptive`](Self::merge_partials_adaptive) on
    /// the same plan over the whole input turns the parts' partial answers into the plan's
    /// answer. A plan that needs its whole input at once (a join, a full sort, a window) is
    /// refused, naming the operation.
    ///
    /// ```no_run
    /// use polars::prelude::*;
    /// use polars_adaptive_exec::AdaptiveExecExt;
    /// use polars_adaptive_plan::{plan_splits, ScanAdaptiveExt, ScanArgsAdaptive, SplitOptions};
    ///
    /// # fn main() -> PolarsResult<()> {
    /// let query = |lf: LazyFrame| lf.group_by([col("symbol")]).agg([col("price").mean()]);
    /// let args = ScanArgsAdaptive::default();
    /// let mut partials = Vec::new();
    /// for split in plan_splits(&["ticks/"], &SplitOptions::default())? {
    ///     // Elsewhere: one task per split.
    ///     let part = LazyFrame::scan_split(&split, args.clone())?;
    ///     partials.push(query(part).collect_partial_adaptive()?);
    /// }
    /// let whole = LazyFrame::scan_adaptive("ticks/", args)?;
    /// let answer = query(whole).merge_partials_adaptive(partials)?;
    /// # Ok(()) }
    /// ```
    ///
    /// [`Split`]: polars_adaptive_plan::Split
    fn collect_partial_adaptive(self) -> PolarsResult<DataFrame>;

    /// The plan's answer from the partial answers of its parts, in part order (see
    /// [`collect_partial_adaptive`](Self::collect_partial_adaptive)).
    fn merge_partials_adaptive(self, partials: Vec<DataFrame>) -> PolarsResult<DataFrame>;

    /// Partial answers merged into one partial answer (an aggregation's rows of each group
    /// into one), for merges spread over several places: with the partial rows shuffled by
    /// [`PartsPlan::group_keys`], each place merges its groups and
    /// `merge_partials_adaptive` finishes the plan on their concatenation.
    fn compact_partials_adaptive(self, partials: Vec<DataFrame>) -> PolarsResult<DataFrame>;

    /// What the plan reads and how its partial answers merge (see [`PartsPlan`]).
    fn parts_plan(self) -> PolarsResult<PartsPlan>;
}

impl AdaptiveExecExt for LazyFrame {
    fn adaptive(self) -> AdaptivePipeline {
        AdaptivePipeline {
            lf: self,
            operators: Vec::new(),
        }
    }
    fn collect_adaptive(self) -> PolarsResult<DataFrame> {
        self.adaptive().collect_adaptive()
    }
    fn sink_batches_adaptive<F>(
        self,
        callback: F,
        chunk_size: Option<NonZeroUsize>,
        maintain_order: bool,
    ) -> PolarsResult<()>
    where
        F: FnMut(DataFrame) -> PolarsResult<bool> + Send,
    {
        self.adaptive()
            .sink_batches_adaptive(callback, chunk_size, maintain_order)
    }
    fn sink_parquet_adaptive(
        self,
        path: impl AsRef<Path>,
        options: SinkParquetAdaptiveOptions,
    ) -> PolarsResult<()> {
        self.adaptive().sink_parquet_adaptive(path, options)
    }
    fn sink_csv_adaptive(self, path: impl AsRef<Path>) -> PolarsResult<()> {
        self.adaptive().sink_csv_adaptive(path)
    }
    fn sink_ndjson_adaptive(self, path: impl AsRef<Path>) -> PolarsResult<()> {
        self.adaptive().sink_ndjson_adaptive(path)
    }
    fn collect_partial_adaptive(self) -> PolarsResult<DataFrame> {
        let mut out = Vec::new();
        runner::run_partial(self, &mut |df| {
            out.push(df);
            Ok(false)
        })?;
        Ok(polars_core::utils::accumulate_dataframes_vertical_unchecked(out))
    }
    fn merge_partials_adaptive(self, partials: Vec<DataFrame>) -> PolarsResult<DataFrame> {
        runner::merge_partials(self, partials, false)
    }
    fn compact_partials_adaptive(self, partials: Vec<DataFrame>) -> PolarsResult<DataFrame> {
        runner::merge_partials(self, partials, true)
    }
    fn parts_plan(self) -> PolarsResult<PartsPlan> {
        runner::parts_plan(self)
    }
}

/// A plan followed by custom per-batch operators.
///
/// ```no_run
/// use polars::prelude::*;
/// use polars_adaptive_exec::{first_n_per_group, AdaptiveExecExt, SinkParquetAdaptiveOptions};
/// use polars_adaptive_plan::{ScanAdaptiveExt, ScanArgsAdaptive};
///
/// # fn main() -> PolarsResult<()> {
/// LazyFrame::scan_adaptive("events/*.parquet", ScanArgsAdaptive::default())?
///     .adaptive()
///     .with_operator(first_n_per_group(["group"], "id", 10))
///     .sink_parquet_adaptive("sample.parquet", SinkParquetAdaptiveOptions::default())?;
/// # Ok(()) }
/// ```
pub struct AdaptivePipeline {
    lf: LazyFrame,
    operators: Vec<Box<dyn BatchOperator>>,
}

impl std::fmt::Debug for AdaptivePipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdaptivePipeline({} operators)", self.operators.len())
    }
}

impl AdaptivePipeline {
    /// Applies `operator` to every batch the pipeline produces so far.
    pub fn with_operator(mut self, operator: impl BatchOperator + 'static) -> Self {
        self.operators.push(Box::new(operator));
        self
    }

    /// The plan the pipeline runs.
    pub(crate) fn plan(&self) -> &LazyFrame {
        &self.lf
    }

    /// Runs the plan, then the operators, handing non-empty output batches to `emit` (one
    /// empty frame with the schema when there are none).
    pub(crate) fn run(self, emit: &mut Emit<'_>) -> PolarsResult<()> {
        let mut ops = self.operators;
        if ops.is_empty() {
            return runner::run(self.lf, emit);
        }
        // Operator state shares the quarter of a hard budget that aggregation state gets.
        let state_limit = runner::plan_budget(&self.lf)?.map(|b| b / 4);
        let mut empty: Option<DataFrame> = None;
        let mut emitted = false;
        let mut stopped = false;
        let mut pass = |df: DataFrame, from: usize, ops: &mut [Box<dyn BatchOperator>]| {
            let mut df = df;
            for op in &mut ops[from..] {
                df = op.process(df)?;
            }
            if let Some(limit) = state_limit {
                let bytes: usize = ops.iter().map(|op| op.state_bytes()).sum();
                if bytes > limit {
                    return Err(ExecError::OperatorStateTooLarge { bytes, limit }.into());
                }
            }
            if df.height() == 0 {
                empty.get_or_insert_with(|| df.clear());
                return Ok(false);
            }
            emitted = true;
            emit(df)
        };
        runner::run(self.lf, &mut |df| {
            stopped = pass(df, 0, &mut ops)?;
            Ok(stopped)
        })?;
        for i in 0..ops.len() {
            if stopped {
                return Ok(());
            }
            if let Some(held) = ops[i].finish()? {
                stopped = pass(held, i + 1, &mut ops)?;
            }
        }
        if !emitted {
            if let Some(e) = empty {
                emit(e)?;
            }
        }
        Ok(())
    }

    /// [`AdaptiveExecExt::collect_adaptive`] through the operators.
    pub fn collect_adaptive(self) -> PolarsResult<DataFrame> {
        let mut frames = Vec::new();
        self.run(&mut |df| {
            frames.push(df);
            Ok(false)
        })?;
        if frames.is_empty() {
            return Err(
                ExecError::Internal("collect_adaptive: the plan produced no frame".into()).into(),
            );
        }
        Ok(polars_core::utils::accumulate_dataframes_vertical_unchecked(frames))
    }

    /// [`AdaptiveExecExt::sink_batches_adaptive`] through the operators.
    pub fn sink_batches_adaptive<F>(
        self,
        mut callback: F,
        chunk_size: Option<NonZeroUsize>,
        _maintain_order: bool,
    ) -> PolarsResult<()>
    where
        F: FnMut(DataFrame) -> PolarsResult<bool> + Send,
    {
        let Some(size) = chunk_size.map(NonZeroUsize::get) else {
            return self.run(&mut callback);
        };
        let mut rebatch = Rebatch::new(size);
        let mut stopped = false;
        self.run(&mut |df| {
            stopped = rebatch.push(df, &mut callback)?;
            Ok(stopped)
        })?;
        match rebatch.rest() {
            Some(rest) if !stopped => callback(rest).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// [`AdaptiveExecExt::sink_parquet_adaptive`] through the operators.
    pub fn sink_parquet_adaptive(
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
            Ok(Box::new(writer) as Box<dyn BatchSink + '_>)
        })
    }

    /// [`AdaptiveExecExt::sink_csv_adaptive`] through the operators.
    pub fn sink_csv_adaptive(self, path: impl AsRef<Path>) -> PolarsResult<()> {
        sink_file(self, path.as_ref(), None, |out, schema| {
            let writer = CsvWriter::new(out).include_header(true).batched(schema)?;
            Ok(Box::new(writer) as Box<dyn BatchSink + '_>)
        })
    }

    /// [`AdaptiveExecExt::sink_ndjson_adaptive`] through the operators.
    pub fn sink_ndjson_adaptive(self, path: impl AsRef<Path>) -> PolarsResult<()> {
        sink_file(self, path.as_ref(), None, |out, _| {
            Ok(Box::new(polars_io::json::BatchedWriter::new(out)) as Box<dyn BatchSink + '_>)
        })
    }
}
