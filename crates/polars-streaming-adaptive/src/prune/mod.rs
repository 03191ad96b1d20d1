//! What a predicate rules out before anything is decoded: row groups from footer statistics,
//! row groups from bloom filters, pages from the page index. Pruning is conservative:
//! "unknown" keeps the data, and the predicate is always applied exactly afterwards.
//!
//! - `predicate`: `PredicatePushdown`, comparison semantics, literals;
//! - `column`, `combine`: the built-in predicates (one column; and, or, not);
//! - `expr_predicate`: a Polars `Expr` read as a pruning predicate;
//! - `bloom`: equalities probed in split block bloom filters;
//! - `page_index`: the pages a predicate may need, from column and offset indexes.

pub(crate) mod bloom;
pub(crate) mod column;
pub(crate) mod combine;
pub(crate) mod expr_predicate;
pub(crate) mod page_index;
pub(crate) mod predicate;

#[cfg(test)]
mod tests;
