//! What a statement may be: exactly one read-only statement (`SELECT`/`WITH`, `EXPLAIN` of one,
//! `SHOW TABLES`, `DESCRIBE t`) that reads only tables by name: no table functions, no
//! `SELECT INTO`, no qualified names.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions_mut, CastKind, DataType, DescribeAlias, Expr, ObjectName, Query, Select,
    Statement, TableFactor, TypedString, Value, ValueWithSpan, Visit, Visitor,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserOptions};

use crate::error::SqlError;

/// What a checked statement asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementKind {
    /// `SELECT …` or `WITH … SELECT …`.
    Query,
    /// `EXPLAIN <query>`: the optimized plan, one line per row.
    Explain,
    /// `SHOW TABLES`: the registered tables' names.
    ShowTables,
    /// `DESCRIBE <table>`: a registered table's columns and types.
    Describe(String),
}

/// A statement that passed the checks, with the registered tables it reads.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub(crate) kind: StatementKind,
    /// Names the statement reads as tables, common table expressions left out.
    pub(crate) tables: BTreeSet<String>,
    /// The statement to plan, when it differs from the text given (see [`align_with_python_polars`]).
    pub(crate) rewritten: Option<String>,
}

/// Parses `sql` as polars-sql does (generic dialect, trailing commas) and checks it.
pub(crate) fn check(sql: &str) -> Result<Checked, SqlError> {
    let statements = Parser::new(&GenericDialect)
        .with_options(ParserOptions {
            trailing_commas: true,
            ..Default::default()
        })
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| SqlError::Parse(e.to_string()))?;
    let mut statements = statements;
    let statement = match statements.as_mut_slice() {
        [one] => one,
        [] => return Err(SqlError::Parse("the text holds no statement".into())),
        _ => {
            return Err(SqlError::NotAllowed(format!(
                "one statement per request; the text holds {}",
                statements.len()
            )))
        }
    };
    let kind = match &*statement {
        Statement::Query(_) => StatementKind::Query,
        Statement::Explain { statement, .. } => match statement.as_ref() {
            Statement::Query(_) => StatementKind::Explain,
            other => return Err(not_read_only(other)),
        },
        Statement::ShowTables { .. } => StatementKind::ShowTables,
        Statement::ExplainTable {
            describe_alias: DescribeAlias::Describe | DescribeAlias::Desc,
            table_name,
            ..
        } => StatementKind::Describe(single_name(table_name)?),
        other => return Err(not_read_only(other)),
    };
    let mut walk = Walk::default();
    if let ControlFlow::Break(err) = statement.visit(&mut walk) {
        return Err(err);
    }
    let tables = walk.relations.difference(&walk.ctes).cloned().collect();
    let rewritten = align_with_python_polars(statement).then(|| statement.to_string());
    Ok(Checked {
        kind,
        tables,
        rewritten,
    })
}

/// Brings the statement to what Python Polars' SQL (1.44 and 2.x) answers, where polars-sql
/// 0.55.2 answers otherwise; whether anything changed. Python Polars is the reference of
/// `polars_adaptive.sql` and of the Flight SQL clients.
///
/// - `COUNT(…)` becomes `CAST(COUNT(…) AS BIGINT)`: Python returns counts as Int64 (SQL's
///   BIGINT), polars-sql 0.55.2 as UInt32, which JDBC cannot even hold. The name stays.
/// - A timestamp written `'YYYY-MM-DD HH:MM:SS…'` in `CAST(… AS TIMESTAMP)` or
///   `TIMESTAMP '…'` gets ISO 8601's `T`: Python parses both forms, 0.55.2's cast only the
///   `T` form (RFC 3339). Bare strings compared with a timestamp column are left alone.
fn align_with_python_polars(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        match expr {
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("count") => {
                let count = std::mem::replace(expr, Expr::value(Value::Null));
                *expr = Expr::Cast {
                    kind: CastKind::Cast,
                    expr: Box::new(count),
                    data_type: DataType::BigInt(None),
                    array: false,
                    format: None,
                };
                changed = true;
            }
            Expr::Cast {
                expr: inner,
                data_type: DataType::Timestamp(..) | DataType::Datetime(_),
                ..
            } => {
                if let Expr::Value(ValueWithSpan {
                    value: Value::SingleQuotedString(text),
                    ..
                }) = inner.as_mut()
                {
                    changed |= iso_timestamp(text);
                }
            }
            Expr::TypedString(TypedString {
                data_type: DataType::Timestamp(..) | DataType::Datetime(_),
                value:
                    ValueWithSpan {
                        value: Value::SingleQuotedString(text),
                        ..
                    },
                ..
            }) => changed |= iso_timestamp(text),
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// `YYYY-MM-DD HH:…` to `YYYY-MM-DDTHH:…`; whether it changed.
fn iso_timestamp(text: &mut String) -> bool {
    let b = text.as_bytes();
    let date = b.len() > 13
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if date && b[10] == b' ' && b[11].is_ascii_digit() {
        text.replace_range(10..11, "T");
        return true;
    }
    false
}

fn not_read_only(statement: &Statement) -> SqlError {
    let text = statement.to_string();
    let head: String = text
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    SqlError::NotAllowed(format!(
        "only SELECT, WITH, EXPLAIN, SHOW TABLES and DESCRIBE are accepted; '{head} …' is not"
    ))
}

/// A one-part table name; qualified names are refused rather than read by their first part.
fn single_name(name: &ObjectName) -> Result<String, SqlError> {
    match name.0.as_slice() {
        [part] => part
            .as_ident()
            .map(|i| i.value.clone())
            .ok_or_else(|| SqlError::NotAllowed(format!("'{name}' is not a table name"))),
        _ => Err(SqlError::NotAllowed(format!(
            "qualified table names are not supported: '{name}'; tables are named by one identifier"
        ))),
    }
}

/// Collects the relations and common table expressions of a statement and stops at the first
/// construct that would read anything but a registered table.
#[derive(Default)]
struct Walk {
    relations: BTreeSet<String>,
    ctes: BTreeSet<String>,
}

impl Visitor for Walk {
    type Break = SqlError;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<SqlError> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.insert(cte.alias.name.value.clone());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<SqlError> {
        if select.into.is_some() {
            return ControlFlow::Break(SqlError::NotAllowed(
                "SELECT … INTO creates a table; only reads are accepted".into(),
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<SqlError> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            } => ControlFlow::Break(SqlError::NotAllowed(format!(
                "table function '{name}' is not allowed: queries read registered tables only"
            ))),
            TableFactor::Table { .. }
            | TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. } => ControlFlow::Continue(()),
            other => ControlFlow::Break(SqlError::NotAllowed(format!(
                "'{other}' is not supported in FROM: name a registered table or a subquery"
            ))),
        }
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<SqlError> {
        match single_name(relation) {
            Ok(name) => {
                self.relations.insert(name);
                ControlFlow::Continue(())
            }
            Err(err) => ControlFlow::Break(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str) -> String {
        match check(sql) {
            Err(err) => err.to_string(),
            Ok(checked) => panic!("{sql} was accepted as {checked:?}"),
        }
    }

    #[test]
    fn reads_name_their_tables_without_ctes() {
        let checked = check(
            "WITH big AS (SELECT * FROM trades WHERE qty > 10) \
             SELECT b.sym, q.bid FROM big b JOIN quotes q ON b.sym = q.sym \
             WHERE b.sym IN (SELECT sym FROM symbols)",
        )
        .unwrap();
        assert_eq!(checked.kind, StatementKind::Query);
        assert_eq!(
            checked.tables.into_iter().collect::<Vec<_>>(),
            ["quotes", "symbols", "trades"]
        );
    }

    #[test]
    fn counts_and_timestamp_literals_are_written_as_python_polars_reads_them() {
        let checked =
            check("SELECT s, COUNT(*), count(DISTINCT x) AS k FROM t GROUP BY s").unwrap();
        assert_eq!(
            checked.rewritten.as_deref(),
            Some("SELECT s, CAST(COUNT(*) AS BIGINT), CAST(count(DISTINCT x) AS BIGINT) AS k FROM t GROUP BY s")
        );
        assert_eq!(check("SELECT a FROM t").unwrap().rewritten, None);
        let checked = check(
            "SELECT * FROM t WHERE ts > CAST('2000-01-01 10:00:00' AS TIMESTAMP) \
             AND ts < TIMESTAMP '2000-01-02 00:00:00.5' AND s = '2000-01-01 10:00:00'",
        )
        .unwrap();
        assert_eq!(
            checked.rewritten.as_deref(),
            Some(
                "SELECT * FROM t WHERE ts > CAST('2000-01-01T10:00:00' AS TIMESTAMP) \
                 AND ts < TIMESTAMP '2000-01-02T00:00:00.5' AND s = '2000-01-01 10:00:00'"
            )
        );
    }

    #[test]
    fn explain_show_and_describe_are_accepted() {
        assert_eq!(
            check("EXPLAIN SELECT a FROM t").unwrap().kind,
            StatementKind::Explain
        );
        assert_eq!(
            check("SHOW TABLES").unwrap().kind,
            StatementKind::ShowTables
        );
        assert_eq!(
            check("DESCRIBE t").unwrap().kind,
            StatementKind::Describe("t".into())
        );
    }

    #[test]
    fn ddl_dml_and_several_statements_are_refused() {
        for sql in [
            "CREATE TABLE x AS SELECT * FROM t",
            "DROP TABLE t",
            "DELETE FROM t WHERE a = 1",
            "TRUNCATE TABLE t",
            "INSERT INTO t VALUES (1)",
            "EXPLAIN DROP TABLE t",
        ] {
            assert!(
                refused(sql).contains("only SELECT"),
                "{sql}: {}",
                refused(sql)
            );
        }
        assert!(refused("SELECT 1; SELECT 2").contains("one statement"));
        assert!(refused("SELECT * INTO copy FROM t").contains("INTO"));
    }

    #[test]
    fn table_functions_are_refused_anywhere() {
        for sql in [
            "SELECT * FROM read_parquet('/etc/passwd')",
            "SELECT * FROM t WHERE a IN (SELECT a FROM read_csv('x.csv'))",
            "WITH x AS (SELECT * FROM read_json('y.json')) SELECT * FROM x",
        ] {
            assert!(refused(sql).contains("table function"), "{sql}");
        }
    }

    #[test]
    fn qualified_names_and_bad_sql_are_refused() {
        assert!(refused("SELECT * FROM main.t").contains("qualified"));
        assert!(matches!(check("SELEC 1"), Err(SqlError::Parse(_))));
        assert!(matches!(check(""), Err(SqlError::Parse(_))));
    }
}
