//! `AdaptiveSource`: the adaptive reader as a Polars `AnonymousScan`, receiving the optimizer's
//! projection, slice and predicate.
//!
//! Polars 0.55's in-memory engine calls `scan` once and expects the scan's whole output. With
//! `allows_predicate_pushdown` true it does not filter again, so the source applies the whole
//! pushed predicate itself: the parts `ExprPredicate` understands prune row groups, and the whole
//! expression is evaluated by Polars on every batch.

use std::any::Any;
use std::path::PathBuf;

use polars::prelude::*;
use polars_streaming_adaptive::{
    expand_paths, one_chunk_frame, BatchMap, CategoricalColumns, ExprPredicate, FooterCache,
    MemoryManager, MmapParquetReader, ParallelBatches, ParallelStreamReader, PredicatePushdown,
    RowGroupFilter, ScanMetrics,
};

use crate::error::PlanError;
use crate::scan_args::{Cancellation, ScanArgsAdaptive};

/// The files of one `scan_adaptive` and how to read them.
#[derive(Debug)]
pub struct AdaptiveSource {
    paths: Vec<PathBuf>,
    /// The first file's schema; every other file must match it.
    file_schema: SchemaRef,
    /// The scan's schema: row index, the file's columns, file path.
    schema: SchemaRef,
    args: ScanArgsAdaptive,
    /// The files' footers, parsed once for the scan's queries.
    footers: FooterCache,
}

impl AdaptiveSource {
    pub fn new(target: &std::path::Path, args: ScanArgsAdaptive) -> PolarsResult<Self> {
        Self::from_targets(&[target], args)
    }

    /// Several targets (files, directories, globs) read as one scan, in the order given, each
    /// expanded as [`expand_paths`] does: `scan_parquet`'s list of sources.
    pub fn from_targets(
        targets: &[impl AsRef<std::path::Path>],
        args: ScanArgsAdaptive,
    ) -> PolarsResult<Self> {
        let mut paths = Vec::new();
        for target in targets {
            paths.extend(expand_paths(target.as_ref())?);
        }
        if paths.is_empty() {
            polars_bail!(ComputeError: "scan_adaptive: no source given");
        }
        let footers = FooterCache::default();
        let file_schema =
            MmapParquetReader::with_footer_cache(&paths[0], args.mmap_mode, &footers)?
                .schema()
                .clone();
        let schema = Arc::new(Self::reader(&paths, &args, &footers).output_schema(&file_schema));
        Ok(Self {
            paths,
            file_schema,
            schema,
            args,
            footers,
        })
    }

    /// A reader of `path`, one of the scan's files, with the scan's footers.
    pub fn open_reader(&self, path: &std::path::Path) -> PolarsResult<MmapParquetReader> {
        MmapParquetReader::with_footer_cache(path, self.args.mmap_mode, &self.footers)
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The adaptive source behind a plan's anonymous scan, if it is one.
    pub fn of(scan: &dyn AnonymousScan) -> Option<&AdaptiveSource> {
        let any = scan.as_any();
        #[cfg(feature = "streaming-engine")]
        if let Some(units) = any.downcast_ref::<polars_stream::unit_source::UnitScan>() {
            return units.0.as_any().downcast_ref();
        }
        any.downcast_ref()
    }

    /// The files the scan reads, in order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Whether the scan reads row group `rg` of `path`: all of them, unless the arguments
    /// name a split.
    pub fn selects(&self, path: &std::path::Path, rg: usize) -> bool {
        self.args
            .split
            .as_ref()
            .is_none_or(|s| s.contains(path, rg))
    }

    /// The first file's schema, which every file matches.
    pub fn file_schema(&self) -> &SchemaRef {
        &self.file_schema
    }

    /// A reader of every file with the arguments' options, no projection or predicate yet.
    fn reader(
        paths: &[PathBuf],
        args: &ScanArgsAdaptive,
        footers: &FooterCache,
    ) -> ParallelStreamReader {
        let mut reader = ParallelStreamReader::new(paths.to_vec())
            .with_row_index(args.row_index.clone())
            .with_include_file_paths(args.include_file_paths.clone())
            .with_mmap_mode(args.mmap_mode)
            .with_footer_cache(footers.clone())
            .with_chunk_policy(args.chunk_policy.clone());
        if let Some(bytes) = args.memory_budget {
            reader = reader.with_memory_budget(bytes);
        }
        if let Some(files) = args.max_concurrent_files {
            reader = reader.with_max_concurrent(files);
        }
        reader
    }

    /// The batches of `columns` of the rows passing `predicate`, at most `limit` rows. A limit
    /// with a predicate is stock's `n_rows`: the first `limit` rows of the files, then the
    /// filter (the optimizer never pushes a slice below a filter). `memory`, when given, is
    /// the manager the reader counts its batches in flight with.
    pub fn stream(&self, request: ScanRequest) -> AdaptiveStream {
        let limit = request.limit;
        let read = self.prepare(request);
        AdaptiveStream {
            dtype_check: read.dtype_check,
            batches: read.reader.batches(),
            left: limit,
            post_filter: read.post_filter,
            schema: read.schema,
            cancellation: self.args.cancellation.clone(),
            map: read.map,
        }
    }

    /// The reader of one request, and what runs after it.
    fn prepare(&self, request: ScanRequest) -> PreparedRead {
        let ScanRequest {
            columns,
            predicate,
            limit,
            metrics,
            memory,
            map,
            row_groups,
            paths,
            categorical,
        } = request;
        let dtype_check = predicate.clone().map(|p| (self.schema.clone(), p));
        // The reader stops at the limit; `AdaptiveStream` still cuts the last batch (after
        // the post-filter, when there is one).
        let mut reader = Self::reader(
            paths.as_deref().unwrap_or(&self.paths),
            &self.args,
            &self.footers,
        )
        .with_metrics(metrics.clone())
        .with_row_limit(limit);
        if let Some(memory) = memory {
            reader = reader.with_memory_manager(memory);
        }
        let row_groups = match (row_groups, self.args.split.clone()) {
            (None, None) => None,
            (Some(f), None) => Some(f),
            (f, Some(split)) => Some(RowGroupFilter(Arc::new(move |path, rg| {
                split.contains(path, rg) && f.as_ref().is_none_or(|RowGroupFilter(f)| f(path, rg))
            }))),
        };
        if let Some(filter) = row_groups {
            reader = reader.with_row_group_filter(filter);
        }
        if let (Some(categorical), None) = (categorical, limit) {
            reader = reader.with_categorical(categorical);
        }
        // A limit is counted on the scan's own rows: the map runs after it.
        let (reader_map, map) = match limit {
            None => (map, None),
            Some(_) => (None, map),
        };
        if let Some(m) = reader_map {
            reader = reader.with_batch_map(m);
        }
        let (reader, post_filter) = match (predicate, limit) {
            (Some(p), Some(_)) => {
                let mut read_cols = columns.clone();
                for c in ExprPredicate::new(p.clone()).columns().unwrap_or_default() {
                    if !read_cols.contains(&c) {
                        read_cols.push(c);
                    }
                }
                (reader.with_projection(read_cols), Some(p))
            }
            (Some(p), None) => {
                let p = ExprPredicate::new(p)
                    .with_statistics(self.args.use_statistics)
                    .with_bloom_filters(self.args.use_bloom_filters)
                    .with_page_index(self.args.use_page_index);
                if !p.prunes() {
                    metrics.add_unprunable_predicate();
                }
                (
                    reader.with_projection(columns.clone()).with_predicate(p),
                    None,
                )
            }
            (None, _) => (reader.with_projection(columns.clone()), None),
        };
        let schema = Arc::new(reader.output_schema(&self.file_schema));
        let output_schema: SchemaRef = Arc::new(
            columns
                .iter()
                .map(|c| (c.clone(), schema.get(c).cloned().unwrap_or(DataType::Null)))
                .collect(),
        );
        PreparedRead {
            dtype_check,
            reader,
            post_filter: post_filter.map(|p| (p, columns.into_iter().map(col).collect())),
            schema: output_schema,
            map,
        }
    }

    /// Everything [`Self::stream`] yields, in one frame; past 64 MiB, of one chunk per column
    /// where the dtype allows it (`one_chunk_frame`: the in-memory engine's group_by and join
    /// would rechunk it otherwise).
    fn read(&self, request: ScanRequest) -> PolarsResult<DataFrame> {
        let stream = self.stream(request);
        let schema = stream.schema().clone();
        let mut df = one_chunk_frame(stream, schema)?;
        if self.args.rechunk {
            df.rechunk_mut_par();
        }
        Ok(df)
    }

    /// The pushed-down parts of a plan's scan node, as a request for [`Self::stream`]: the
    /// projection, the slice and the predicate (its dynamic hints dropped).
    pub fn request(
        &self,
        with_columns: Option<&[PlSmallStr]>,
        output_schema: Option<&SchemaRef>,
        predicate: Option<Expr>,
        limit: Option<usize>,
    ) -> PolarsResult<ScanRequest> {
        let columns: Vec<PlSmallStr> = match (output_schema, with_columns) {
            (Some(schema), _) => schema.iter_names().cloned().collect(),
            (None, Some(cols)) => cols.to_vec(),
            (None, None) => self.schema.iter_names().cloned().collect(),
        };
        let predicate = predicate.map(without_hints).transpose()?.flatten();
        Ok(ScanRequest {
            columns,
            predicate,
            limit,
            metrics: Arc::default(),
            memory: None,
            map: None,
            row_groups: None,
            paths: None,
            categorical: None,
        })
    }

    /// The arguments the scan was created with.
    pub fn args(&self) -> &ScanArgsAdaptive {
        &self.args
    }

    /// Adds a finished (or running) scan's counters to the arguments' metrics handle, and
    /// prints them with `POLARS_VERBOSE=1`.
    pub fn report(&self, metrics: &ScanMetrics) {
        report(metrics, &self.args.metrics);
    }
}

/// What one run of the source reads.
#[derive(Debug)]
pub struct ScanRequest {
    pub columns: Vec<PlSmallStr>,
    pub predicate: Option<Expr>,
    pub limit: Option<usize>,
    pub metrics: Arc<ScanMetrics>,
    pub memory: Option<MemoryManager>,
    /// Run on every batch: by the decoding threads, or (under a limit, which is applied
    /// first) by the consumer.
    pub map: Option<BatchMap>,
    /// Row groups to read (all when `None`).
    pub row_groups: Option<RowGroupFilter>,
    /// The files to read, a subset of the source's in its order (all when `None`). A row
    /// index then numbers the rows of these files only.
    pub paths: Option<Vec<PathBuf>>,
    /// String columns to hand out as categoricals where dictionary-encoded (see
    /// `ParallelStreamReader::with_categorical`); not under a limit, whose predicate runs on
    /// the batches after slicing.
    pub categorical: Option<CategoricalColumns>,
}

/// One request made ready: see [`AdaptiveSource::prepare`].
struct PreparedRead {
    dtype_check: Option<(SchemaRef, Expr)>,
    reader: ParallelStreamReader,
    /// With a limit, the predicate runs after slicing, then the columns are selected.
    post_filter: Option<(Expr, Vec<Expr>)>,
    schema: SchemaRef,
    /// The request's map, when the consumer runs it.
    map: Option<BatchMap>,
}

/// The batches of one run of the source, in file order then row order.
#[derive(Debug)]
pub struct AdaptiveStream {
    /// The predicate, to check against the scan's dtypes (`check_dtypes`) when the stream
    /// ends before it ran on any row, or when reading fails; `None` once it ran on a batch.
    /// Not checked up front: the check's first literal column initializes Polars' shared
    /// 8 MiB zeroed buffer, 5-6 ms of a core while the reader opens its files (P2).
    dtype_check: Option<(SchemaRef, Expr)>,
    batches: ParallelBatches,
    /// Rows the limit still allows.
    left: Option<usize>,
    /// With a limit, the predicate runs after slicing, then the columns are selected.
    post_filter: Option<(Expr, Vec<Expr>)>,
    schema: SchemaRef,
    /// Ends the stream with an error once cancelled.
    cancellation: Option<Cancellation>,
    /// The request's map, when the consumer runs it.
    map: Option<BatchMap>,
}

impl AdaptiveStream {
    /// The schema of every batch.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }
}

impl AdaptiveStream {
    /// The end of the stream; an error instead when the predicate never ran on a row and does
    /// not suit the scan's dtypes (`check_dtypes`).
    fn end(&mut self) -> Option<PolarsResult<DataFrame>> {
        let (schema, predicate) = self.dtype_check.take()?;
        check_dtypes(schema, predicate).err().map(Err)
    }

    /// The error to report for `e`, raised while reading or filtering: the predicate's dtype
    /// error when that is the cause, so that the error says so however far the read got.
    fn fail(&mut self, e: PolarsError) -> PolarsError {
        self.left = Some(0);
        match self.dtype_check.take() {
            Some((schema, predicate)) => check_dtypes(schema, predicate).err().unwrap_or(e),
            None => e,
        }
    }
}

impl Iterator for AdaptiveStream {
    type Item = PolarsResult<DataFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == Some(0) {
            return self.end();
        }
        if self
            .cancellation
            .as_ref()
            .is_some_and(Cancellation::is_cancelled)
        {
            self.left = Some(0);
            return Some(Err(PlanError::Cancelled.into()));
        }
        let mut batch = match self.batches.next() {
            None => return self.end(),
            Some(Ok(b)) => b,
            Some(Err(e)) => return Some(Err(self.fail(e))),
        };
        if let Some(left) = &mut self.left {
            batch = batch.slice(0, *left);
            *left -= batch.height();
        }
        if let Some((p, columns)) = &self.post_filter {
            batch = match post_filter_batch(batch, p, columns) {
                Ok(b) => b,
                Err(e) => return Some(Err(self.fail(e))),
            };
        }
        // The predicate ran on this batch's rows (in the reader, or in the post-filter just
        // above), so it suits the scan's dtypes.
        self.dtype_check = None;
        Some(match &self.map {
            Some(map) => map.0(batch),
            None => Ok(batch),
        })
    }
}

impl AnonymousScan for AdaptiveSource {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self, _infer_schema_length: Option<usize>) -> PolarsResult<SchemaRef> {
        Ok(self.schema.clone())
    }

    fn allows_predicate_pushdown(&self) -> bool {
        true
    }

    fn allows_projection_pushdown(&self) -> bool {
        true
    }

    fn scan(&self, args: AnonymousScanArgs) -> PolarsResult<DataFrame> {
        let request = self.request(
            args.with_columns.as_deref(),
            args.output_schema.as_ref(),
            args.predicate,
            args.n_rows,
        )?;
        let metrics = request.metrics.clone();
        let out = self.read(request);
        self.report(&metrics);
        out
    }
}

/// Adds a scan's counters to `total`, and prints them with `POLARS_VERBOSE=1`.
fn report(metrics: &ScanMetrics, total: &ScanMetrics) {
    let snapshot = metrics.snapshot();
    total.absorb(&snapshot);
    if polars_core::config::verbose() {
        eprintln!("scan_adaptive: {snapshot}");
    }
}

/// The rows of `batch` passing `predicate`, with `columns`: the filter after a limit.
fn post_filter_batch(
    batch: DataFrame,
    predicate: &Expr,
    columns: &[Expr],
) -> PolarsResult<DataFrame> {
    batch
        .lazy()
        .filter(predicate.clone())
        .select(columns)
        .collect()
}

/// A predicate that fails on the scan's dtypes (e.g. `str.len_bytes()` of an integer column) is
/// an error whatever the data. Stock only fails when it evaluates it on rows it read, so
/// pruning decides whether it answers; evaluating it once on no rows (unoptimized, so a
/// constant-false conjunct cannot fold it away) makes it always an error here.
/// docs/ARCHITECTURE.md, "Known differences". It costs a few milliseconds (a plan, and
/// Polars' first zeroed buffer), which is why a stream runs it only when the predicate has not
/// already run on a batch (`AdaptiveStream::end`, `AdaptiveStream::fail`).
fn check_dtypes(schema: SchemaRef, predicate: Expr) -> PolarsResult<()> {
    DataFrame::empty_with_arc_schema(schema)
        .lazy()
        .without_optimizations()
        .filter(predicate)
        .collect()
        .map_err(|source| PlanError::PredicateDtype { source })?;
    Ok(())
}

/// The pushed predicate without the optimizer's dynamic hints. A `sort().head()` pushes a
/// "dynamic predicate" (Polars' `DynamicPred`) that only skips rows the top-k above cannot
/// keep; it reaches an `AnonymousScan` as an `Expr::Display` that cannot be evaluated again.
/// Dropping such a conjunct keeps more rows, which the top-k above discards: the answer is
/// unchanged. Anywhere else it cannot be dropped, so the scan refuses with an error.
fn without_hints(predicate: Expr) -> PolarsResult<Option<Expr>> {
    let mut conjuncts = Vec::new();
    split_and(predicate, &mut conjuncts);
    let kept: Vec<Expr> = conjuncts
        .into_iter()
        .filter(|e| !matches!(e, Expr::Display { .. }))
        .collect();
    for e in &kept {
        if e.into_iter()
            .any(|node| matches!(node, Expr::Display { .. }))
        {
            return Err(PlanError::PredicateNotEvaluable {
                predicate: format!("{e:?}"),
            }
            .into());
        }
    }
    Ok(kept.into_iter().reduce(|a, b| a.and(b)))
}

fn split_and(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryExpr {
            left,
            op: Operator::And | Operator::LogicalAnd,
            right,
        } => {
            split_and(Arc::unwrap_or_clone(left), out);
            split_and(Arc::unwrap_or_clone(right), out);
        }
        e => out.push(e),
    }
}

/// The source as a unit source of the streaming engine: `collect_with_engine(Engine::Streaming)`
/// and every stock `sink_*` read it unit by unit, decoded in parallel by the engine's threads.
/// Needs polars-stream with `rfc/polars-stream.patch` (`cargo xtask rfc`; docs/rfc/0001).
#[cfg(feature = "streaming-engine")]
mod units {
    use polars_stream::unit_source::{DecodeUnit, UnitReadArgs, UnitSource, Units};

    use super::*;

    impl UnitSource for AdaptiveSource {
        fn units(&self, args: UnitReadArgs) -> PolarsResult<Units> {
            let columns: Vec<PlSmallStr> = args.projection.iter_names().cloned().collect();
            let request = self.request(Some(&columns), None, args.predicate, args.n_rows)?;
            let report = Report {
                metrics: request.metrics.clone(),
                total: self.args.metrics.clone(),
            };
            let read = self.prepare(request);
            if let Some((schema, predicate)) = read.dtype_check {
                check_dtypes(schema, predicate)?;
            }
            let post_filter = read.post_filter.map(Arc::new);
            let units = read.reader.units().map(move |unit| {
                // Held by the iterator: the counters are reported when the engine drops it.
                let _report = &report;
                let post_filter = post_filter.clone();
                let unit = unit?;
                let decode = move || {
                    let df = unit.decode()?;
                    match &post_filter {
                        Some(p) => post_filter_batch(df, &p.0, &p.1),
                        None => Ok(df),
                    }
                };
                Ok(Box::new(decode) as DecodeUnit)
            });
            Ok(Box::new(units))
        }
    }

    /// Adds a read's counters to the arguments' handle once the engine is done with its
    /// units (as [`AdaptiveSource::report`] does), printing them with `POLARS_VERBOSE=1`.
    struct Report {
        metrics: Arc<ScanMetrics>,
        total: Arc<ScanMetrics>,
    }

    impl Drop for Report {
        fn drop(&mut self) {
            report(&self.metrics, &self.total);
        }
    }
}
