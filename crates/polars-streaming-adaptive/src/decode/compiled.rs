//! Polars expressions compiled once for a known input schema and evaluated on many batches.
//!
//! Evaluating `df.lazy().filter(e).collect()` per batch runs Polars' optimizer and physical
//! planner for every batch. Here the expression goes through the same optimizer once (as a
//! `select` over an empty frame of the batch schema, so type coercion and simplification are
//! Polars' own) and is then evaluated as a polars-expr physical expression on each batch.

use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::bitmap::Bitmap;
use polars_expr::prelude::PhysicalExpr;
use polars_expr::state::ExecutionState;
use polars_expr::{create_physical_expr, ExpressionConversionState};
use polars_io::predicates::ColumnPredicates;
use polars_mem_engine::scan_predicate::create_scan_predicate;
use polars_plan::plans::IR;

/// A row-wise predicate compiled for batches of one schema.
#[derive(Clone)]
pub struct CompiledExpr {
    phys: Arc<dyn PhysicalExpr>,
    /// The predicate split per column when it is the conjunction of one-column parts
    /// (Polars' "sumwise complete" column predicates), for decoders that filter while decoding.
    by_column: Option<Arc<ColumnPredicates>>,
}

impl std::fmt::Debug for CompiledExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledExpr").finish_non_exhaustive()
    }
}

impl CompiledExpr {
    /// Compiles the filter predicate `expr` for batches of `schema`, optimized as Polars
    /// optimizes a `filter` (its simplifications can change which rows a predicate keeps:
    /// `!(x.is_in([]) & x.is_null())` keeps a null `x` once `is_in([])` folds to `false`).
    /// `None` when the optimizer does not leave a plain filter of the frame (the caller then
    /// evaluates it lazily, as before).
    pub fn try_new_filter(expr: Expr, schema: &Schema) -> PolarsResult<Option<Self>> {
        let lf = DataFrame::empty_with_schema(schema).lazy().filter(expr);
        let mut plan = lf.to_alp_optimized()?;
        let IR::Filter { predicate, input } = plan.lp_arena.get(plan.lp_top) else {
            return Ok(None);
        };
        let predicate = predicate.clone();
        let input_schema = plan
            .lp_arena
            .get(*input)
            .schema(&plan.lp_arena)
            .into_owned();
        if !matches!(plan.lp_arena.get(*input), IR::DataFrameScan { .. })
            || input_schema.as_ref() != schema
        {
            return Ok(None);
        }
        let mut state = ExpressionConversionState::new(true);
        let phys =
            create_physical_expr(&predicate, &mut plan.expr_arena, &input_schema, &mut state)?;
        // Polars' own split, as its scans build it: no hive columns, no statistics predicate.
        let split = create_scan_predicate(
            &predicate,
            &mut plan.expr_arena,
            &input_schema,
            None,
            &mut state,
            false,
            true,
        )?
        .to_io(None, input_schema.clone())
        .column_predicates;
        let by_column = split.is_sumwise_complete.then_some(split);
        Ok(Some(Self { phys, by_column }))
    }

    /// The predicate as a conjunction of one-column parts, when it is one.
    pub fn by_column(&self) -> Option<&Arc<ColumnPredicates>> {
        self.by_column.as_ref()
    }

    /// The expression's value on `df`: one value per row, or a single broadcast value.
    pub fn evaluate(&self, df: &DataFrame) -> PolarsResult<Column> {
        self.phys.evaluate(df, &ExecutionState::new())
    }

    /// The rows of `df` where the (boolean) expression is true: null is not true, as in
    /// `filter`. The bitmap has `df.height()` bits.
    pub fn mask(&self, df: &DataFrame) -> PolarsResult<Bitmap> {
        let value = self.evaluate(df)?;
        let height = df.height();
        let mask = value.bool().map_err(|_| {
            polars_err!(ComputeError: "a filter predicate must be boolean, got {}", value.dtype())
        })?;
        if mask.len() == 1 && height != 1 {
            let keep = mask.get(0) == Some(true);
            return Ok(Bitmap::new_with_value(keep, height));
        }
        polars_ensure!(
            mask.len() == height,
            ShapeMismatch: "a filter predicate gave {} values for {height} rows", mask.len()
        );
        let mask = mask.rechunk();
        let array = mask.downcast_as_array();
        Ok(match array.validity() {
            Some(valid) => array.values() & valid,
            None => array.values().clone(),
        })
    }
}
