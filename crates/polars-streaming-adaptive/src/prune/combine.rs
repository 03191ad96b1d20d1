//! Predicates made of others: `AndPredicate`, `OrPredicate`, `NotPredicate`. Each prunes as
//! three-valued logic allows (see `predicate`), and filters through its children's `expr()`.

use std::sync::Arc;

use polars::prelude::*;

use crate::file::statistics::RowGroupStats;
use crate::prune::predicate::{filter_by, PredicatePushdown};

fn union_columns(children: &[Arc<dyn PredicatePushdown>]) -> Option<Vec<PlSmallStr>> {
    let mut out: Vec<PlSmallStr> = Vec::new();
    for c in children {
        for name in c.columns()? {
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    Some(out)
}

fn children_exprs(children: &[Arc<dyn PredicatePushdown>]) -> Option<Vec<Expr>> {
    children.iter().map(|c| c.expr()).collect()
}

fn missing_expr(kind: &str) -> PolarsError {
    polars_err!(InvalidOperation: "{kind} needs every child predicate to provide `expr()`")
}

/// All children hold.
#[derive(Debug, Clone)]
pub struct AndPredicate {
    children: Vec<Arc<dyn PredicatePushdown>>,
}

impl AndPredicate {
    /// The conjunction of `children` (true when there are none).
    pub fn new(children: Vec<Arc<dyn PredicatePushdown>>) -> Self {
        Self { children }
    }
}

impl PredicatePushdown for AndPredicate {
    fn should_skip_row_group(&self, stats: &RowGroupStats) -> bool {
        self.children.iter().any(|c| c.should_skip_row_group(stats))
    }
    fn should_skip_row_group_negated(&self, stats: &RowGroupStats) -> bool {
        self.children
            .iter()
            .all(|c| c.should_skip_row_group_negated(stats))
    }
    fn apply(&self, mut df: DataFrame) -> PolarsResult<DataFrame> {
        // Filtering by each child in turn keeps exactly the rows where all are true.
        for c in &self.children {
            df = c.apply(df)?;
        }
        Ok(df)
    }
    fn expr(&self) -> Option<Expr> {
        let exprs = children_exprs(&self.children)?;
        Some(
            exprs
                .into_iter()
                .reduce(|a, b| a.and(b))
                .unwrap_or(lit(true)),
        )
    }
    fn columns(&self) -> Option<Vec<PlSmallStr>> {
        union_columns(&self.children)
    }
    fn use_file_indexes(&self) -> bool {
        self.children.iter().all(|c| c.use_file_indexes())
    }
    fn use_bloom_filters(&self) -> bool {
        self.children.iter().all(|c| c.use_bloom_filters())
    }
    fn use_page_index(&self) -> bool {
        self.children.iter().all(|c| c.use_page_index())
    }
}

/// At least one child holds.
#[derive(Debug, Clone)]
pub struct OrPredicate {
    children: Vec<Arc<dyn PredicatePushdown>>,
}

impl OrPredicate {
    /// The disjunction of `children` (false when there are none).
    pub fn new(children: Vec<Arc<dyn PredicatePushdown>>) -> Self {
        Self { children }
    }
}

impl PredicatePushdown for OrPredicate {
    fn should_skip_row_group(&self, stats: &RowGroupStats) -> bool {
        self.children.iter().all(|c| c.should_skip_row_group(stats))
    }
    fn should_skip_row_group_negated(&self, stats: &RowGroupStats) -> bool {
        self.children
            .iter()
            .any(|c| c.should_skip_row_group_negated(stats))
    }
    fn apply(&self, df: DataFrame) -> PolarsResult<DataFrame> {
        filter_by(df, self.expr().ok_or_else(|| missing_expr("OrPredicate"))?)
    }
    fn expr(&self) -> Option<Expr> {
        let exprs = children_exprs(&self.children)?;
        Some(
            exprs
                .into_iter()
                .reduce(|a, b| a.or(b))
                .unwrap_or(lit(false)),
        )
    }
    fn columns(&self) -> Option<Vec<PlSmallStr>> {
        union_columns(&self.children)
    }
}

/// The child does not hold (a null stays null, and is not kept).
#[derive(Debug, Clone)]
pub struct NotPredicate {
    child: Arc<dyn PredicatePushdown>,
}

impl NotPredicate {
    /// The negation of `child`.
    pub fn new(child: Arc<dyn PredicatePushdown>) -> Self {
        Self { child }
    }
}

impl PredicatePushdown for NotPredicate {
    fn should_skip_row_group(&self, stats: &RowGroupStats) -> bool {
        self.child.should_skip_row_group_negated(stats)
    }
    fn should_skip_row_group_negated(&self, stats: &RowGroupStats) -> bool {
        self.child.should_skip_row_group(stats)
    }
    fn apply(&self, df: DataFrame) -> PolarsResult<DataFrame> {
        filter_by(df, self.expr().ok_or_else(|| missing_expr("NotPredicate"))?)
    }
    fn expr(&self) -> Option<Expr> {
        Some(self.child.expr()?.not())
    }
    fn columns(&self) -> Option<Vec<PlSmallStr>> {
        self.child.columns()
    }
}
