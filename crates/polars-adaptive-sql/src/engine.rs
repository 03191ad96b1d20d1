//! `SqlEngine`: named `scan_adaptive` tables, and statements planned against them, each in a
//! context of its own, and run in bounded memory.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use polars::sql::SQLContext;
use polars_adaptive::io::panic_message;
use polars_adaptive::prelude::*;

use crate::error::SqlError;
use crate::statement::{self, StatementKind};

/// The longest statement accepted unless [`SqlEngine::with_max_sql_bytes`] says otherwise.
pub const DEFAULT_MAX_SQL_BYTES: usize = 256 * 1024;

/// Tables registered by name, each a `scan_adaptive` source (files, directories or globs read
/// as one table, with its [`ScanArgsAdaptive`]), and the SQL run against them.
///
/// Every statement is planned in a fresh polars-sql `SQLContext` that holds only the tables it
/// reads: nothing one statement does is seen by the next. Only reads are accepted (`SELECT`,
/// `WITH`, `EXPLAIN`, `SHOW TABLES`, `DESCRIBE`); table functions such as `read_parquet` are
/// refused, so a statement reads registered files only.
///
/// ```no_run
/// use polars_adaptive::prelude::*;
/// use polars_adaptive_sql::{QueryOptions, SqlEngine};
///
/// # fn main() -> Result<(), polars_adaptive_sql::SqlError> {
/// let engine = SqlEngine::new().with_table("ticks", "data/ticks/*.parquet", ScanArgsAdaptive::default())?;
/// let vwap = engine
///     .plan(
///         "SELECT symbol, SUM(price * volume) / SUM(volume) AS vwap FROM ticks GROUP BY symbol",
///         &QueryOptions::default().with_memory_budget(256 << 20),
///     )?
///     .collect()?;
/// println!("{vwap}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqlEngine {
    pub(crate) tables: BTreeMap<String, Table>,
    pub(crate) max_sql_bytes: usize,
}

/// One registered table: what it reads and how.
#[derive(Debug, Clone)]
pub struct Table {
    targets: Vec<PathBuf>,
    args: ScanArgsAdaptive,
    schema: SchemaRef,
}

impl Table {
    /// The files, directories or globs the table reads, in order.
    pub fn targets(&self) -> &[PathBuf] {
        &self.targets
    }

    /// How the table is scanned.
    pub fn args(&self) -> &ScanArgsAdaptive {
        &self.args
    }

    /// The table's columns, as the scan reads them.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The files the table reads now, in order (directories and globs expanded).
    pub fn files(&self) -> Result<Vec<PathBuf>, SqlError> {
        let mut files = Vec::new();
        for target in &self.targets {
            files.extend(
                polars_adaptive::io::expand_paths(target)
                    .map_err(|e| SqlError::Execution(e.into()))?,
            );
        }
        Ok(files)
    }

    /// Part `part` of `parts` of the table's files: consecutive groups of as equal a count as
    /// can be, so the parts' results, concatenated in order, are the whole table's.
    pub fn part_files(&self, part: usize, parts: usize) -> PolarsResult<Vec<PathBuf>> {
        let files = self.files().map_err(PolarsError::from)?;
        polars_ensure!(
            part < parts && files.len() >= parts,
            ComputeError: "its files changed since the parts were planned ({} files for {parts} parts); plan again",
            files.len()
        );
        let (start, end) = (part * files.len() / parts, (part + 1) * files.len() / parts);
        Ok(files[start..end].to_vec())
    }

    fn scan(&self, options: &QueryOptions) -> PolarsResult<LazyFrame> {
        let mut args = self.args.clone();
        if let Some(budget) = options.memory_budget {
            args.memory_budget = Some(budget);
        }
        if let Some(cancellation) = &options.cancellation {
            args.cancellation = Some(cancellation.clone());
        }
        if let Some(split) = &options.split {
            return LazyFrame::scan_split(split, args);
        }
        match options.part {
            Some((part, parts)) => {
                LazyFrame::scan_adaptive_sources(&self.part_files(part, parts)?, args)
            }
            None => LazyFrame::scan_adaptive_sources(&self.targets, args),
        }
    }
}

/// How one statement runs.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    pub(crate) memory_budget: Option<usize>,
    pub(crate) part: Option<(usize, usize)>,
    pub(crate) split: Option<Split>,
    pub(crate) cancellation: Option<Cancellation>,
}

impl QueryOptions {
    /// Bytes the statement's scans may hold; replaces the tables' own budgets. A plan that
    /// cannot stream within it (a full sort, a join) is refused, never run unbounded.
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = Some(bytes);
        self
    }

    /// Stops the statement's scans (with an error) once `cancellation` is cancelled.
    pub fn with_cancellation(mut self, cancellation: Cancellation) -> Self {
        self.cancellation = Some(cancellation);
        self
    }

    /// Reads only part `part` of `parts` of the statement's one table ([`Table::part_files`]):
    /// one part of a result split by file.
    pub fn with_part(mut self, part: usize, parts: usize) -> Self {
        self.part = Some((part, parts));
        self
    }

    /// Reads only `split` (of [`plan_splits`] over the statement's one table): with
    /// `collect_partial_adaptive`, one task of a query run split by split.
    pub fn with_split(mut self, split: Split) -> Self {
        self.split = Some(split);
        self
    }
}

impl Default for SqlEngine {
    fn default() -> Self {
        Self {
            tables: BTreeMap::new(),
            max_sql_bytes: DEFAULT_MAX_SQL_BYTES,
        }
    }
}

impl SqlEngine {
    /// An engine without tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `target` (a file, a directory or a glob) as table `name`.
    pub fn with_table(
        self,
        name: &str,
        target: impl AsRef<Path>,
        args: ScanArgsAdaptive,
    ) -> Result<Self, SqlError> {
        self.with_table_sources(name, &[target], args)
    }

    /// Registers several targets read as one table `name`, in the order given. The files are
    /// opened once here, so a table that cannot be read fails now, not at its first query.
    pub fn with_table_sources(
        mut self,
        name: &str,
        targets: &[impl AsRef<Path>],
        args: ScanArgsAdaptive,
    ) -> Result<Self, SqlError> {
        let table_err = |source: PolarsError| SqlError::Table {
            name: name.to_string(),
            source,
        };
        if name.is_empty() {
            return Err(table_err(
                polars_err!(InvalidOperation: "a table needs a name"),
            ));
        }
        let targets: Vec<PathBuf> = targets.iter().map(|t| t.as_ref().to_path_buf()).collect();
        let schema = LazyFrame::scan_adaptive_sources(&targets, args.clone())
            .and_then(|mut lf| lf.collect_schema())
            .map_err(table_err)?;
        self.tables.insert(
            name.to_string(),
            Table {
                targets,
                args,
                schema,
            },
        );
        Ok(self)
    }

    /// Refuses statements longer than `bytes` ([`DEFAULT_MAX_SQL_BYTES`] by default).
    pub fn with_max_sql_bytes(mut self, bytes: usize) -> Self {
        self.max_sql_bytes = bytes;
        self
    }

    /// The registered tables, by name.
    pub fn tables(&self) -> &BTreeMap<String, Table> {
        &self.tables
    }

    /// The table `name`, or the error a statement naming it gets.
    pub fn table(&self, name: &str) -> Result<&Table, SqlError> {
        self.tables.get(name).ok_or_else(|| SqlError::UnknownTable {
            name: name.to_string(),
            known: self.known_tables(),
        })
    }

    fn known_tables(&self) -> String {
        if self.tables.is_empty() {
            "none".to_string()
        } else {
            self.tables.keys().cloned().collect::<Vec<_>>().join(", ")
        }
    }

    /// Checks and plans `sql`. Nothing is read but footers; run the result with
    /// [`Query::collect`] or [`Query::for_each_batch`].
    pub fn plan(&self, sql: &str, options: &QueryOptions) -> Result<Query, SqlError> {
        if sql.len() > self.max_sql_bytes {
            return Err(SqlError::TooLong {
                len: sql.len(),
                limit: self.max_sql_bytes,
            });
        }
        let checked = statement::check(sql)?;
        let lf = match &checked.kind {
            StatementKind::ShowTables => {
                let names: Vec<&str> = self.tables.keys().map(String::as_str).collect();
                df!("name" => names).map_err(SqlError::Plan)?.lazy()
            }
            StatementKind::Describe(name) => describe(self.table(name)?.schema())?.lazy(),
            StatementKind::Query | StatementKind::Explain => {
                if (options.part.is_some() || options.split.is_some()) && checked.tables.len() != 1
                {
                    return Err(SqlError::Internal(
                        "a part of a result is planned over exactly one table".into(),
                    ));
                }
                let ctx = SQLContext::new();
                for name in &checked.tables {
                    let lf = self
                        .table(name)?
                        .scan(options)
                        .map_err(|source| SqlError::Table {
                            name: name.clone(),
                            source,
                        })?;
                    ctx.register(name, lf);
                }
                let mut ctx = ctx;
                let text = checked.rewritten.as_deref().unwrap_or(sql);
                guard(|| ctx.execute(text).map_err(SqlError::Plan), "planning")?
            }
        };
        let mut lf = lf;
        let schema = guard(|| lf.collect_schema().map_err(SqlError::Plan), "planning")?;
        Ok(Query {
            lf,
            schema,
            kind: checked.kind,
            tables: checked.tables.into_iter().collect(),
        })
    }
}

/// `DESCRIBE`'s answer: one row per column, its name and its Polars type.
fn describe(schema: &Schema) -> Result<DataFrame, SqlError> {
    let names: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
    let types: Vec<String> = schema.iter_values().map(|dt| dt.to_string()).collect();
    df!("column_name" => names, "column_type" => types).map_err(SqlError::Plan)
}

/// Runs `f`, turning a panic inside polars-sql or Polars into an internal error.
fn guard<T>(f: impl FnOnce() -> Result<T, SqlError>, during: &str) -> Result<T, SqlError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(SqlError::Internal(format!(
            "{during} panicked (a bug, please report it): {}",
            panic_message(&*payload)
        )))
    })
}

/// A planned statement.
#[derive(Clone)]
pub struct Query {
    lf: LazyFrame,
    schema: SchemaRef,
    kind: StatementKind,
    tables: Vec<String>,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("kind", &self.kind)
            .field("tables", &self.tables)
            .field("schema", &self.schema)
            .finish()
    }
}

impl Query {
    /// The columns of the result, exactly as its batches carry them.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// What kind of statement this is.
    pub fn kind(&self) -> &StatementKind {
        &self.kind
    }

    /// The registered tables the statement reads.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// The plan, to inspect or to run another way.
    pub fn lazy(&self) -> LazyFrame {
        self.lf.clone()
    }

    /// The whole result, run batch by batch by `collect_adaptive` (so aggregates may come from
    /// statistics, top-k skips row groups and aggregation streams).
    pub fn collect(self) -> Result<DataFrame, SqlError> {
        let reads = self.reads_tables();
        let lf = self.lf;
        guard(
            || {
                // `EXPLAIN`, `SHOW TABLES`, `DESCRIBE` and `SELECT 1` are small frames of
                // their own: Polars runs them, `collect_adaptive` would only warn.
                match reads {
                    true => lf.collect_adaptive(),
                    false => lf.collect(),
                }
                .map_err(SqlError::Execution)
            },
            "running the query",
        )
    }

    fn reads_tables(&self) -> bool {
        self.kind == StatementKind::Query && !self.tables.is_empty()
    }

    /// Hands the result to `callback` batch by batch, in order, as the scan produces it;
    /// `callback` returns `true` to stop. With `chunk_size`, every batch but the last has
    /// exactly that many rows. There is always at least one batch (empty with the schema when
    /// no row matches).
    pub fn for_each_batch<F>(
        self,
        callback: F,
        chunk_size: Option<NonZeroUsize>,
    ) -> Result<(), SqlError>
    where
        F: FnMut(DataFrame) -> PolarsResult<bool> + Send,
    {
        if !self.reads_tables() {
            let mut callback = callback;
            let df = self.collect()?;
            return callback(df).map(|_| ()).map_err(SqlError::Execution);
        }
        let (lf, schema) = (self.lf, self.schema);
        let mut callback = callback;
        let mut called = false;
        guard(
            || {
                lf.sink_batches_adaptive(
                    |df| {
                        called = true;
                        callback(df)
                    },
                    chunk_size,
                    true,
                )
                .map_err(SqlError::Execution)?;
                // An empty result is one empty batch: consumers learn its schema from it.
                if !called {
                    callback(DataFrame::empty_with_schema(&schema)).map_err(SqlError::Execution)?;
                }
                Ok(())
            },
            "running the query",
        )
    }
}
