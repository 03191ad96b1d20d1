//! `polars-adaptive`: SQL over Parquet files from the command line, or served over Arrow
//! Flight SQL.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use polars::prelude::*;
use polars_adaptive::prelude::*;
use polars_adaptive_flight::{bind, serve, FlightSqlServer, ServerOptions};
use polars_adaptive_sql::{QueryOptions, SqlEngine};

/// Run SQL over Parquet files with polars-adaptive, or serve them over Arrow Flight SQL.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Examples:
  polars-adaptive query \"SELECT symbol, AVG(price) FROM ticks GROUP BY symbol\" --table ticks=data/ticks/
  polars-adaptive serve --table ticks='data/ticks/*.parquet' --token s3cret --memory-budget 2GiB"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one statement and write its result.
    Query {
        /// The statement: SELECT/WITH, EXPLAIN, SHOW TABLES or DESCRIBE.
        sql: String,
        #[command(flatten)]
        tables: Tables,
        /// How the result is written.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Write the result to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Bytes the query may hold (e.g. 268435456, 256MiB, 2GB); plans that cannot stream
        /// within it are refused.
        #[arg(long, value_parser = parse_bytes)]
        memory_budget: Option<usize>,
    },
    /// Serve the tables over Arrow Flight SQL until interrupted.
    Serve {
        /// Address to listen on; port 0 picks a free port (printed on standard error).
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: String,
        #[command(flatten)]
        tables: Tables,
        /// A bearer token clients may send; repeat for several.
        #[arg(long = "token", value_name = "TOKEN")]
        tokens: Vec<String>,
        /// A user clients may log in as with Basic credentials; repeat for several.
        #[arg(long = "user", value_name = "NAME:PASSWORD", value_parser = parse_user)]
        users: Vec<(String, String)>,
        /// TLS certificate chain (PEM); the server then speaks TLS only.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// TLS private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Require client certificates signed by this CA (PEM): mutual TLS.
        #[arg(long, requires = "tls_cert")]
        tls_client_ca: Option<PathBuf>,
        /// Bytes all running queries may hold together, shared equally among them.
        #[arg(long, value_parser = parse_bytes)]
        memory_budget: Option<usize>,
        /// Queries that run at once; more wait for a slot.
        #[arg(long, default_value_t = 16)]
        max_concurrent: usize,
        /// Seconds a query may run.
        #[arg(long)]
        query_timeout: Option<f64>,
        /// Rows a result may have.
        #[arg(long)]
        max_result_rows: Option<u64>,
        /// Bytes a result may have.
        #[arg(long, value_parser = parse_bytes)]
        max_result_bytes: Option<usize>,
        /// Endpoints a row-local result over several files may be split into.
        #[arg(long, default_value_t = 1)]
        max_endpoints: usize,
        /// Compress result batches with zstd.
        #[arg(long)]
        zstd: bool,
        /// Seconds a ticket stays valid after its FlightInfo.
        #[arg(long, default_value_t = 300.0)]
        ticket_ttl: f64,
        /// Seconds a query waits for a slot before RESOURCE_EXHAUSTED.
        #[arg(long, default_value_t = 30.0)]
        queue_timeout: f64,
        /// The longest statement accepted, in bytes.
        #[arg(long, value_parser = parse_bytes)]
        max_sql_bytes: Option<usize>,
    },
}

#[derive(Debug, clap::Args)]
struct Tables {
    /// A table: NAME=PATH, where PATH is a Parquet file, a directory of them or a glob;
    /// repeat the name to read several paths as one table.
    #[arg(long = "table", value_name = "NAME=PATH", value_parser = parse_table, required = false)]
    tables: Vec<(String, PathBuf)>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Csv,
    Ndjson,
    Parquet,
}

fn parse_table(s: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not NAME=PATH"))?;
    if name.is_empty() || path.is_empty() {
        return Err(format!("'{s}' is not NAME=PATH"));
    }
    Ok((name.to_string(), PathBuf::from(path)))
}

fn parse_user(s: &str) -> Result<(String, String), String> {
    let (name, password) = s
        .split_once(':')
        .ok_or_else(|| "expected NAME:PASSWORD".to_string())?;
    Ok((name.to_string(), password.to_string()))
}

/// A byte count: digits, optionally followed by K, M, G, T (powers of 1000) or KiB, MiB, GiB,
/// TiB (powers of 1024), in any case.
fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a byte count such as 268435456, 256MiB or 2GB"))?;
    let scale: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => return Err(format!("unknown unit '{other}' in '{s}'")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("'{s}' is too large"))
}

fn engine(tables: Tables) -> Result<SqlEngine, Box<dyn std::error::Error>> {
    let mut grouped: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for (name, path) in tables.tables {
        match grouped.iter_mut().find(|(n, _)| *n == name) {
            Some((_, paths)) => paths.push(path),
            None => grouped.push((name, vec![path])),
        }
    }
    let mut engine = SqlEngine::new();
    for (name, paths) in grouped {
        engine = engine.with_table_sources(&name, &paths, ScanArgsAdaptive::default())?;
    }
    Ok(engine)
}

fn query(
    sql: String,
    tables: Tables,
    format: Format,
    output: Option<PathBuf>,
    memory_budget: Option<usize>,
) -> Result<(), Box<dyn std::error::Error>> {
    let engine = engine(tables)?;
    let options = match memory_budget {
        Some(b) => QueryOptions::default().with_memory_budget(b),
        None => QueryOptions::default(),
    };
    let query = engine.plan(&sql, &options)?;
    match (format, output) {
        (Format::Table, None) => println!("{}", query.collect()?),
        (Format::Table, Some(path)) => {
            let df = query.collect()?;
            std::fs::write(&path, format!("{df}\n"))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        (Format::Parquet, Some(path)) => query
            .lazy()
            .sink_parquet_adaptive(&path, SinkParquetAdaptiveOptions::default())?,
        (Format::Csv, Some(path)) => query.lazy().sink_csv_adaptive(&path)?,
        (Format::Ndjson, Some(path)) => query.lazy().sink_ndjson_adaptive(&path)?,
        (Format::Parquet, None) => {
            return Err("--format parquet needs --output FILE".into());
        }
        (format @ (Format::Csv | Format::Ndjson), None) => {
            // `Stdout`, not its lock: batches are written from Polars' threads.
            let mut out = std::io::BufWriter::new(std::io::stdout());
            let mut first = true;
            query.for_each_batch(
                |mut df| {
                    match format {
                        Format::Csv => CsvWriter::new(&mut out)
                            .include_header(first)
                            .finish(&mut df)?,
                        _ => JsonWriter::new(&mut out)
                            .with_json_format(JsonFormat::JsonLines)
                            .finish(&mut df)?,
                    }
                    first = false;
                    Ok(false)
                },
                None,
            )?;
            out.flush()?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Query {
            sql,
            tables,
            format,
            output,
            memory_budget,
        } => query(sql, tables, format, output, memory_budget),
        Command::Serve {
            listen,
            tables,
            tokens,
            users,
            tls_cert,
            tls_key,
            tls_client_ca,
            memory_budget,
            max_concurrent,
            query_timeout,
            max_result_rows,
            max_result_bytes,
            max_endpoints,
            zstd,
            ticket_ttl,
            queue_timeout,
            max_sql_bytes,
        } => (|| {
            let engine = engine(tables)?;
            let mut options = ServerOptions::default()
                .with_max_concurrent(max_concurrent)
                .with_max_endpoints(max_endpoints)
                .with_zstd(zstd)
                .with_ticket_ttl(Duration::try_from_secs_f64(ticket_ttl)?)
                .with_queue_timeout(Duration::try_from_secs_f64(queue_timeout)?);
            if let Some(b) = max_sql_bytes {
                options = options.with_max_sql_bytes(b);
            }
            if let Some(b) = memory_budget {
                options = options.with_memory_budget(b);
            }
            if let Some(s) = query_timeout {
                options = options.with_query_timeout(Duration::try_from_secs_f64(s)?);
            }
            if let Some(r) = max_result_rows {
                options = options.with_max_result_rows(r);
            }
            if let Some(b) = max_result_bytes {
                options = options.with_max_result_bytes(b as u64);
            }
            for t in tokens {
                options = options.with_token(t);
            }
            for (u, p) in users {
                options = options.with_user(u, p);
            }
            let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
            if let (Some(cert), Some(key)) = (&tls_cert, &tls_key) {
                options = options.with_tls(read(cert)?, read(key)?);
                if let Some(ca) = &tls_client_ca {
                    options = options.with_client_ca(read(ca)?);
                }
            }
            let server = FlightSqlServer::try_new(engine, options)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let (listener, addr) = bind(&listen).await?;
                let scheme = if tls_cert.is_some() {
                    "grpc+tls"
                } else {
                    "grpc"
                };
                eprintln!("polars-adaptive: serving Flight SQL on {scheme}://{addr}");
                serve(server, listener, shutdown_signal()).await?;
                Ok::<(), Box<dyn std::error::Error>>(())
            })
        })(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_units_of_1000_and_1024() {
        assert_eq!(parse_bytes("268435456"), Ok(268_435_456));
        assert_eq!(parse_bytes("256MiB"), Ok(256 << 20));
        assert_eq!(parse_bytes("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_bytes("1 gib"), Ok(1 << 30));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("5 parsecs").is_err());
    }

    #[test]
    fn the_command_line_parses_as_documented() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "polars-adaptive",
            "query",
            "SELECT 1",
            "--table",
            "t=a.parquet",
            "--table",
            "t=b/",
            "--format",
            "csv",
            "--memory-budget",
            "64MiB",
        ])
        .unwrap();
        let Command::Query {
            tables,
            memory_budget,
            ..
        } = cli.command
        else {
            panic!("not a query")
        };
        assert_eq!(tables.tables.len(), 2);
        assert_eq!(memory_budget, Some(64 << 20));
        assert!(
            Cli::try_parse_from(["polars-adaptive", "query", "SELECT 1", "--table", "nopath"])
                .is_err()
        );
    }

    use clap::CommandFactory;
}
