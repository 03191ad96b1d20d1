//! `LazyFrame::scan_adaptive`, as an extension trait.

use std::path::Path;
use std::sync::Arc;

use polars::prelude::*;

use crate::scan_args::ScanArgsAdaptive;
use crate::source::AdaptiveSource;
use crate::splits::Split;

/// Adds [`scan_adaptive`](ScanAdaptiveExt::scan_adaptive) to `LazyFrame`.
pub trait ScanAdaptiveExt {
    /// Scans Parquet files through the adaptive reader: `path` names a file, a directory (its
    /// `*.parquet` files, sorted) or a glob. Every `LazyFrame` operation works on the result;
    /// projections, slices and predicates reach the reader.
    ///
    /// ```no_run
    /// use polars::prelude::*;
    /// use polars_adaptive_plan::{ScanAdaptiveExt, ScanArgsAdaptive};
    ///
    /// # fn main() -> PolarsResult<()> {
    /// let out = LazyFrame::scan_adaptive("ticks/*.parquet", ScanArgsAdaptive::default())?
    ///     .filter(col("side").eq(lit("BUY")))
    ///     .group_by([col("symbol")])
    ///     .agg([((col("price") * col("volume")).sum() / col("volume").sum()).alias("vwap")])
    ///     .collect()?;
    /// # Ok(()) }
    /// ```
    fn scan_adaptive(path: impl AsRef<Path>, args: ScanArgsAdaptive) -> PolarsResult<LazyFrame>;

    /// [`scan_adaptive`](ScanAdaptiveExt::scan_adaptive) over several targets read as one
    /// scan, in the order given (row index and `n_rows` run across all of them).
    fn scan_adaptive_sources(
        targets: &[impl AsRef<Path>],
        args: ScanArgsAdaptive,
    ) -> PolarsResult<LazyFrame>;

    /// The row groups of one [`Split`] of [`crate::plan_splits`], read as `scan_adaptive`
    /// reads files: the answer of a plan over it is the plan's answer over those row groups.
    /// Fails, naming the file, when a file changed or went away since planning.
    fn scan_split(split: &Split, args: ScanArgsAdaptive) -> PolarsResult<LazyFrame>;
}

impl ScanAdaptiveExt for LazyFrame {
    fn scan_adaptive(path: impl AsRef<Path>, args: ScanArgsAdaptive) -> PolarsResult<LazyFrame> {
        Self::scan_adaptive_sources(&[path], args)
    }

    fn scan_split(split: &Split, args: ScanArgsAdaptive) -> PolarsResult<LazyFrame> {
        AdaptiveSource::from_split(split, args)?.into_lazy_frame()
    }

    fn scan_adaptive_sources(
        targets: &[impl AsRef<Path>],
        args: ScanArgsAdaptive,
    ) -> PolarsResult<LazyFrame> {
        AdaptiveSource::from_targets(targets, args)?.into_lazy_frame()
    }
}

impl AdaptiveSource {
    /// The row groups of one [`Split`], as [`ScanAdaptiveExt::scan_split`] reads them.
    pub fn from_split(split: &Split, args: ScanArgsAdaptive) -> PolarsResult<Self> {
        split.ensure_unchanged()?;
        Self::from_targets(&split.paths(), args.with_split(split.clone()))
    }

    /// This source as a `LazyFrame`'s scan: [`ScanAdaptiveExt::scan_adaptive_sources`] for a
    /// caller that needs the scan's schema too ([`AdaptiveSource::schema`]) without resolving
    /// the plan (`collect_schema` converts it, which starts Polars' async runtime).
    pub fn into_lazy_frame(self) -> PolarsResult<LazyFrame> {
        let n_rows = self.args().n_rows;
        let schema = self.schema().clone();
        #[cfg(feature = "streaming-engine")]
        let source = polars_stream::unit_source::UnitScan(Arc::new(self));
        #[cfg(not(feature = "streaming-engine"))]
        let source = self;
        LazyFrame::anonymous_scan(
            Arc::new(source),
            ScanArgsAnonymous {
                schema: Some(schema),
                n_rows,
                name: "ADAPTIVE PARQUET SCAN",
                ..ScanArgsAnonymous::default()
            },
        )
    }
}
