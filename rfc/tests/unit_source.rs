//! The patch's own tests: a small `UnitSource` of numbers read by the streaming engine.

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use polars::prelude::*;
use polars_stream::unit_source::{DecodeUnit, UnitReadArgs, UnitScan, UnitSource, Units};

/// Column `x` holding `0..units * rows`, in units of `rows` rows.
#[derive(Default)]
struct Numbers {
    units: usize,
    rows: usize,
    /// Later units sleep less, so they finish first.
    reversed_delays: bool,
    /// This unit fails to decode.
    fail_at: Option<usize>,
    /// Units handed to the engine.
    pulled: Arc<AtomicUsize>,
    /// The predicates `units` received.
    predicates: Mutex<Vec<Option<Expr>>>,
}

impl Numbers {
    fn new(units: usize, rows: usize) -> Self {
        Self {
            units,
            rows,
            ..Self::default()
        }
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::from_iter([Field::new("x".into(), DataType::Int64)]))
    }

    fn scan(self) -> PolarsResult<(LazyFrame, Arc<Numbers>)> {
        let source = Arc::new(self);
        let lf = LazyFrame::anonymous_scan(
            Arc::new(UnitScan(source.clone())),
            ScanArgsAnonymous {
                schema: Some(Self::schema()),
                ..ScanArgsAnonymous::default()
            },
        )?;
        Ok((lf, source))
    }

    fn unit(
        start: i64,
        rows: usize,
        columns: &SchemaRef,
        predicate: Option<&Expr>,
    ) -> PolarsResult<DataFrame> {
        let df = df!("x" => (start..start + rows as i64).collect::<Vec<_>>())?;
        let mut lf = df.lazy();
        if let Some(p) = predicate {
            lf = lf.filter(p.clone());
        }
        let df = lf.collect()?;
        match columns.is_empty() {
            true => Ok(DataFrame::empty_with_height(df.height())),
            false => df.select(columns.iter_names().cloned()),
        }
    }
}

impl AnonymousScan for Numbers {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn scan(&self, args: AnonymousScanArgs) -> PolarsResult<DataFrame> {
        let rows = (self.units * self.rows).min(args.n_rows.unwrap_or(usize::MAX));
        Self::unit(0, rows, &Self::schema(), args.predicate.as_ref())
    }

    fn schema(&self, _: Option<usize>) -> PolarsResult<SchemaRef> {
        Ok(Self::schema())
    }

    fn allows_predicate_pushdown(&self) -> bool {
        true
    }

    fn allows_projection_pushdown(&self) -> bool {
        true
    }
}

impl UnitSource for Numbers {
    fn units(&self, args: UnitReadArgs) -> PolarsResult<Units> {
        self.predicates.lock().unwrap().push(args.predicate.clone());
        let (units, rows, reversed, fail_at) =
            (self.units, self.rows, self.reversed_delays, self.fail_at);
        let limit = args.n_rows.unwrap_or(usize::MAX);
        let pulled = self.pulled.clone();
        let iter = (0..units)
            .take_while(move |i| i * rows < limit)
            .map(move |i| {
                pulled.fetch_add(1, Ordering::Relaxed);
                let n = rows.min(limit - i * rows);
                let (columns, predicate) = (args.projection.clone(), args.predicate.clone());
                let decode = move || {
                    if reversed {
                        std::thread::sleep(Duration::from_micros(50 * (units - i) as u64));
                    }
                    if fail_at == Some(i) {
                        polars_bail!(ComputeError: "unit {i} is corrupt");
                    }
                    Numbers::unit((i * rows) as i64, n, &columns, predicate.as_ref())
                };
                Ok(Box::new(decode) as DecodeUnit)
            });
        Ok(Box::new(iter))
    }
}

fn streaming(lf: LazyFrame) -> PolarsResult<DataFrame> {
    lf.collect_with_engine(Engine::Streaming)
        .map(|r| r.unwrap_single())
}

fn xs(df: &DataFrame) -> Vec<i64> {
    df.column("x")
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect()
}

#[test]
fn units_come_out_in_unit_order_whatever_order_they_finish() -> PolarsResult<()> {
    let (lf, _) = Numbers {
        reversed_delays: true,
        ..Numbers::new(64, 1000)
    }
    .scan()?;
    assert_eq!(xs(&streaming(lf)?), (0..64_000).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn the_predicate_reaches_the_source_as_an_expression_and_is_not_applied_twice() -> PolarsResult<()>
{
    let (lf, source) = Numbers::new(10, 100).scan()?;
    let out = streaming(lf.filter(col("x").gt_eq(lit(950))))?;
    assert_eq!(xs(&out), (950..1000).collect::<Vec<_>>());
    let seen = source.predicates.lock().unwrap();
    assert!(matches!(seen.as_slice(), [Some(_)]), "{seen:?}");
    Ok(())
}

#[test]
fn a_slice_from_an_offset_skips_rows_before_the_predicate() -> PolarsResult<()> {
    let (lf, _) = Numbers::new(20, 100).scan()?;
    assert_eq!(
        xs(&streaming(lf.slice(1234 - 1000, 300))?),
        (234..534).collect::<Vec<_>>()
    );
    Ok(())
}

#[test]
fn tail_counts_the_rows_of_the_source() -> PolarsResult<()> {
    let (lf, _) = Numbers::new(20, 100).scan()?;
    assert_eq!(
        xs(&streaming(lf.tail(7))?),
        (1993..2000).collect::<Vec<_>>()
    );
    Ok(())
}

#[test]
fn a_count_reads_units_without_columns() -> PolarsResult<()> {
    let (lf, _) = Numbers::new(20, 100).scan()?;
    let out = streaming(lf.select([len()]))?;
    assert_eq!(out.column("len")?.idx()?.get(0), Some(2000));
    Ok(())
}

#[test]
fn a_failing_unit_is_the_query_s_error() -> PolarsResult<()> {
    let (lf, _) = Numbers {
        fail_at: Some(7),
        ..Numbers::new(30, 100)
    }
    .scan()?;
    let err = streaming(lf).unwrap_err();
    assert!(err.to_string().contains("unit 7 is corrupt"), "{err}");
    Ok(())
}

#[test]
fn head_after_a_filter_stops_pulling_units() -> PolarsResult<()> {
    let (lf, source) = Numbers::new(10_000, 100).scan()?;
    let out = streaming(lf.filter(col("x").gt_eq(lit(0))).limit(150))?;
    assert_eq!(xs(&out), (0..150).collect::<Vec<_>>());
    let pulled = source.pulled.load(Ordering::Relaxed);
    assert!(pulled < 200, "{pulled} of 10,000 units pulled for 150 rows");
    Ok(())
}

#[test]
fn the_in_memory_engine_still_calls_scan() -> PolarsResult<()> {
    let (lf, source) = Numbers::new(5, 10).scan()?;
    assert_eq!(xs(&lf.collect()?), (0..50).collect::<Vec<_>>());
    assert_eq!(source.pulled.load(Ordering::Relaxed), 0);
    Ok(())
}
