//! The Flight SQL server with arrow-flight's own client over loopback: metadata calls,
//! statements and prepared statements answering like polars-sql over stock `scan_parquet`,
//! partitioned endpoints, credentials, tickets, limits, cancels and refusals, each answered
//! with a clear gRPC status while the server goes on serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetPrimaryKeys, CommandGetTables, SqlInfo};
use arrow_flight::{
    Action, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightInfo, Ticket,
};
use arrow_schema::Schema;
use futures::{StreamExt, TryStreamExt};
use polars::prelude::*;
use polars_adaptive::prelude::*;
use polars_adaptive::testing::{same_frame, same_frame_aggregated, write_ticks};
use polars_adaptive_flight::{bind, serve, FlightSqlServer, ServerOptions};
use polars_adaptive_sql::SqlEngine;
use prost::Message;
use tokio::sync::oneshot;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::Code;

/// A server on a port of its own, stopped when dropped.
struct TestServer {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start(engine: SqlEngine, options: ServerOptions) -> TestServer {
    let server = FlightSqlServer::try_new(engine, options).unwrap();
    let (listener, addr) = bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        serve(server, listener, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    TestServer {
        addr,
        stop: Some(stop),
    }
}

async fn client(server: &TestServer) -> FlightSqlServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    FlightSqlServiceClient::new(channel)
}

fn ticks(dir: &Path) -> PathBuf {
    write_ticks(dir, 3, 5_000, 1_000)
}

fn engine(target: &Path) -> SqlEngine {
    SqlEngine::new()
        .with_table("ticks", target, ScanArgsAdaptive::default())
        .unwrap()
}

fn stock(target: &Path, sql: &str) -> DataFrame {
    polars_adaptive_sql::testing::stock_sql("ticks", target, sql).unwrap()
}

/// Arrow record batches as one Polars frame, by the C data interface.
fn to_frame(schema: &Schema, batches: &[RecordBatch]) -> DataFrame {
    let columns = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let chunks = batches
                .iter()
                .map(|b| {
                    let (array, ffi_schema) =
                        arrow_array::ffi::to_ffi(&b.column(i).to_data()).unwrap();
                    // SAFETY: arrow-rs's and polars-arrow's C data interface structs have the
                    // same `#[repr(C)]` layout; ownership moves with the transmute.
                    unsafe {
                        let array: polars_arrow::ffi::ArrowArray = std::mem::transmute(array);
                        let ffi_schema: polars_arrow::ffi::ArrowSchema =
                            std::mem::transmute(ffi_schema);
                        let field = polars_arrow::ffi::import_field_from_c(&ffi_schema).unwrap();
                        polars_arrow::ffi::import_array_from_c(array, field.dtype().clone())
                            .unwrap()
                    }
                })
                .collect::<Vec<_>>();
            let series = if chunks.is_empty() {
                let ffi_schema =
                    arrow_schema::ffi::FFI_ArrowSchema::try_from(field.as_ref()).unwrap();
                // SAFETY: as above, for the schema alone.
                let field = unsafe {
                    let ffi_schema: polars_arrow::ffi::ArrowSchema =
                        std::mem::transmute(ffi_schema);
                    polars_arrow::ffi::import_field_from_c(&ffi_schema).unwrap()
                };
                Series::new_empty(field.name.clone(), &DataType::from_arrow_field(&field))
            } else {
                Series::from_arrow_chunks(field.name().into(), chunks).unwrap()
            };
            series.into_column()
        })
        .collect::<Vec<_>>();
    DataFrame::new_infer_height(columns).unwrap()
}

/// Every endpoint's batches, in endpoint order.
async fn fetch(
    client: &mut FlightSqlServiceClient<Channel>,
    info: &FlightInfo,
) -> Result<Vec<RecordBatch>, tonic::Status> {
    let mut out = Vec::new();
    for endpoint in &info.endpoint {
        let ticket = endpoint.ticket.clone().unwrap();
        let stream = client.do_get(ticket).await.map_err(status)?;
        let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(status)?;
        out.extend(batches);
    }
    Ok(out)
}

fn status(e: arrow_flight::error::FlightError) -> tonic::Status {
    match e {
        arrow_flight::error::FlightError::Tonic(s) => *s,
        other => tonic::Status::internal(other.to_string()),
    }
}

async fn sql(
    client: &mut FlightSqlServiceClient<Channel>,
    sql: &str,
) -> Result<DataFrame, tonic::Status> {
    let info = client
        .execute(sql.to_string(), None)
        .await
        .map_err(status)?;
    let schema = info.clone().try_decode_schema().unwrap();
    let batches = fetch(client, &info).await?;
    Ok(to_frame(&schema, &batches))
}

/// The statement shapes of the SQL front end's own test, with their row order defined.
const QUERIES: &[&str] = &[
    "SELECT * FROM ticks",
    "SELECT id, price FROM ticks WHERE qty > 250",
    "SELECT * FROM ticks WHERE symbol = 'MSFT' AND price BETWEEN 120 AND 150",
    "SELECT id, venue FROM ticks WHERE symbol IN ('AAPL', 'NVDA') OR qty IS NULL",
    "SELECT symbol, SUM(qty) AS q, AVG(price) AS p, MIN(ts) AS first, MAX(ts) AS last, COUNT(*) AS n FROM ticks GROUP BY symbol ORDER BY symbol",
    "SELECT MIN(id) AS lo, MAX(id) AS hi, COUNT(*) AS n FROM ticks",
    "SELECT * FROM ticks ORDER BY price DESC, id LIMIT 10",
    "SELECT id, symbol FROM ticks LIMIT 5",
    "SELECT * FROM ticks WHERE id < 0",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_and_prepared_statements_answer_like_polars_sql() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path());
    let server = start(
        engine(&target),
        ServerOptions::default().with_memory_budget(256 << 20),
    )
    .await;
    let mut client = client(&server).await;
    for query in QUERIES {
        let theirs = stock(&target, query);
        let ours = sql(&mut client, query).await.unwrap();
        same_frame_aggregated(&ours, &theirs).unwrap_or_else(|e| panic!("{query}: {e}"));
        let mut prepared = client.prepare(query.to_string(), None).await.unwrap();
        let info = prepared.execute().await.unwrap();
        let schema = info.clone().try_decode_schema().unwrap();
        assert_eq!(&schema, prepared.dataset_schema().unwrap(), "{query}");
        let ours = to_frame(&schema, &fetch(&mut client, &info).await.unwrap());
        same_frame_aggregated(&ours, &theirs).unwrap_or_else(|e| panic!("{query}, prepared: {e}"));
        prepared.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_calls_list_the_registered_tables() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path());
    let server = start(engine(&target), ServerOptions::default()).await;
    let mut client = client(&server).await;
    let reader = client.clone();
    let all = |info: FlightInfo| {
        let mut c = reader.clone();
        async move { fetch(&mut c, &info).await.unwrap() }
    };
    let catalogs = all(client.get_catalogs().await.unwrap()).await;
    assert_eq!(catalogs[0].num_rows(), 1);
    let schemas = all(client
        .get_db_schemas(CommandGetDbSchemas::default())
        .await
        .unwrap())
    .await;
    assert_eq!(schemas[0].num_rows(), 1);
    let tables = client
        .get_tables(CommandGetTables {
            include_schema: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let tables = all(tables).await;
    assert_eq!(tables[0].num_rows(), 1);
    // The table's advertised schema is exactly the schema of `SELECT *`.
    let encoded = tables[0]
        .column_by_name("table_schema")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::BinaryArray>()
        .unwrap()
        .value(0)
        .to_vec();
    let listed = arrow_ipc::convert::try_schema_from_ipc_buffer(&encoded).unwrap();
    let select = client
        .execute("SELECT * FROM ticks".into(), None)
        .await
        .unwrap();
    assert_eq!(listed, select.try_decode_schema().unwrap());
    let types = all(client.get_table_types().await.unwrap()).await;
    assert_eq!(types[0].num_rows(), 1);
    let info = all(client
        .get_sql_info(vec![
            SqlInfo::FlightSqlServerName,
            SqlInfo::FlightSqlServerReadOnly,
        ])
        .await
        .unwrap())
    .await;
    assert_eq!(info[0].num_rows(), 2);
    let xdbc = all(client.get_xdbc_type_info(Default::default()).await.unwrap()).await;
    assert!(xdbc[0].num_rows() >= 10);
    let keys = client
        .get_primary_keys(CommandGetPrimaryKeys {
            table: "ticks".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all(keys).await.iter().map(|b| b.num_rows()).sum::<usize>(),
        0
    );
    let exported = client
        .get_exported_keys(arrow_flight::sql::CommandGetExportedKeys {
            table: "ticks".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let imported = client
        .get_imported_keys(arrow_flight::sql::CommandGetImportedKeys {
            table: "ticks".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let cross = client
        .get_cross_reference(arrow_flight::sql::CommandGetCrossReference {
            pk_table: "ticks".into(),
            fk_table: "ticks".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    for info in [exported, imported, cross] {
        let schema = info.clone().try_decode_schema().unwrap();
        assert_eq!(schema.field(0).name(), "pk_catalog_name");
        assert_eq!(
            all(info).await.iter().map(|b| b.num_rows()).sum::<usize>(),
            0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_local_results_split_by_file_into_unordered_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path());
    let split = start(
        engine(&target),
        ServerOptions::default().with_max_endpoints(8),
    )
    .await;
    let single = start(engine(&target), ServerOptions::default()).await;
    let (mut a, mut b) = (client(&split).await, client(&single).await);
    let query = "SELECT id, price * qty AS notional FROM ticks WHERE venue = 'XNAS'";
    let info = a.execute(query.into(), None).await.unwrap();
    assert_eq!(info.endpoint.len(), 3);
    assert!(!info.ordered);
    // The endpoints read at once, each by its own client.
    let schema = info.clone().try_decode_schema().unwrap();
    let reads = info.endpoint.iter().map(|e| {
        let mut c = a.clone();
        let ticket: Ticket = e.ticket.clone().unwrap();
        tokio::spawn(async move {
            c.do_get(ticket)
                .await
                .unwrap()
                .try_collect::<Vec<_>>()
                .await
                .unwrap()
        })
    });
    let mut batches = Vec::new();
    for read in reads.collect::<Vec<_>>() {
        batches.extend(read.await.unwrap());
    }
    let parts = to_frame(&schema, &batches);
    let whole = sql(&mut b, query).await.unwrap();
    same_frame(&parts, &whole).unwrap();
    same_frame(&whole, &stock(&target, query)).unwrap();
    // An aggregation stays one ordered endpoint.
    let info = a
        .execute("SELECT COUNT(*) AS n FROM ticks".into(), None)
        .await
        .unwrap();
    assert_eq!(info.endpoint.len(), 1);
    assert!(info.ordered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_required_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path());
    let options = ServerOptions::default()
        .with_token("t0ken")
        .with_user("ann", "pw");
    let server = start(engine(&target), options).await;
    let query = "SELECT COUNT(*) AS n FROM ticks";
    let mut anonymous = client(&server).await;
    assert_eq!(
        sql(&mut anonymous, query).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut wrong = client(&server).await;
    wrong.set_token("t0ken-".into());
    assert_eq!(
        sql(&mut wrong, query).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut bad_password = client(&server).await;
    assert!(bad_password.handshake("ann", "PW").await.is_err());
    let mut token = client(&server).await;
    token.set_token("t0ken".into());
    assert_eq!(sql(&mut token, query).await.unwrap().height(), 1);
    let mut user = client(&server).await;
    user.handshake("ann", "pw").await.unwrap();
    assert!(user.token().is_some());
    assert_eq!(sql(&mut user, query).await.unwrap().height(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_and_expired_tickets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path());
    let server = start(
        engine(&target),
        ServerOptions::default().with_ticket_ttl(Duration::from_millis(200)),
    )
    .await;
    let mut client = client(&server).await;
    let info = client
        .execute("SELECT * FROM ticks".into(), None)
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    // The statement inside the ticket, altered: another table would be read.
    let mut any = arrow_flight::sql::Any::decode(&*ticket.ticket).unwrap();
    let mut inner = arrow_flight::sql::TicketStatementQuery::decode(&*any.value).unwrap();
    let mut handle = inner.statement_handle.to_vec();
    let at = handle.len() - 40;
    handle[at] ^= 0x20;
    inner.statement_handle = handle.into();
    any.value = inner.encode_to_vec().into();
    let tampered = Ticket::new(any.encode_to_vec());
    let err = client.do_get(tampered).await.map(|_| ()).unwrap_err();
    assert_eq!(status(err).code(), Code::PermissionDenied);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let err = client.do_get(ticket).await.map(|_| ()).unwrap_err();
    let err = status(err);
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    assert!(err.message().contains("expired"), "{err}");
    assert_eq!(
        sql(&mut client, "SELECT COUNT(*) AS n FROM ticks")
            .await
            .unwrap()
            .height(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_statements_get_clear_statuses_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path());
    let server = start(
        engine(&target),
        ServerOptions::default().with_memory_budget(64 << 20),
    )
    .await;
    let mut client = client(&server).await;
    let long = format!(
        "SELECT * FROM ticks WHERE {} id = 1",
        "id = 1 OR ".repeat(110_000)
    );
    assert!(long.len() > 1 << 20);
    let cases: [(&str, Code, &str); 9] = [
        ("SELEC * FROM ticks", Code::InvalidArgument, "parse"),
        (&long, Code::InvalidArgument, "bytes long"),
        ("DROP TABLE ticks", Code::InvalidArgument, "only SELECT"),
        (
            "CREATE TABLE t2 AS SELECT * FROM ticks",
            Code::InvalidArgument,
            "only SELECT",
        ),
        (
            "SELECT * FROM read_parquet('/etc/hosts')",
            Code::InvalidArgument,
            "table function",
        ),
        (
            "SELECT * FROM nope",
            Code::InvalidArgument,
            "'nope' is not registered",
        ),
        ("SELECT nope FROM ticks", Code::InvalidArgument, "nope"),
        (
            "SELECT CAST(id AS INT128) AS x FROM ticks",
            Code::InvalidArgument,
            "'x'",
        ),
        // Needs all rows at once: refused under the server's budget, not run unbounded.
        (
            "SELECT * FROM ticks ORDER BY price",
            Code::ResourceExhausted,
            "memory budget",
        ),
    ];
    for (query, code, says) in cases {
        let err = sql(&mut client, query).await.unwrap_err();
        assert_eq!(err.code(), code, "{}: {err}", &query[..query.len().min(60)]);
        assert!(
            err.message().contains(says),
            "{}: {err}",
            &query[..query.len().min(60)]
        );
    }
    assert_eq!(
        sql(&mut client, "SELECT COUNT(*) AS n FROM ticks")
            .await
            .unwrap()
            .height(),
        1
    );
}

/// A server over 400 000 rows read 100 rows at a time: results long enough to act on midway.
fn slow_engine(dir: &Path) -> SqlEngine {
    let target = write_ticks(dir, 4, 100_000, 10_000);
    SqlEngine::new()
        .with_table(
            "ticks",
            target,
            ScanArgsAdaptive::default().with_chunk_policy(ChunkPolicy::Rows(100)),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_end_results_with_resource_exhausted_or_deadline_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let engine = slow_engine(dir.path());
    let rows = start(
        engine.clone(),
        ServerOptions::default().with_max_result_rows(1_000),
    )
    .await;
    let err = sql(&mut client(&rows).await, "SELECT * FROM ticks")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(err.message().contains("1000 rows"), "{err}");
    let deadline = start(
        engine,
        ServerOptions::default().with_query_timeout(Duration::from_millis(1)),
    )
    .await;
    let err = sql(&mut client(&deadline).await, "SELECT * FROM ticks")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    // Both go on serving.
    assert_eq!(
        sql(&mut client(&rows).await, "SELECT COUNT(*) AS n FROM ticks")
            .await
            .unwrap()
            .height(),
        1
    );
}

/// `SELECT * FROM ticks`: its `FlightInfo` and the stream of its one endpoint, not read yet.
async fn select_all(
    client: &mut FlightSqlServiceClient<Channel>,
) -> (FlightInfo, arrow_flight::decode::FlightRecordBatchStream) {
    let info = client
        .execute("SELECT * FROM ticks".into(), None)
        .await
        .unwrap();
    let stream = client
        .do_get(info.endpoint[0].ticket.clone().unwrap())
        .await
        .unwrap();
    (info, stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_batches_read_the_same_and_a_byte_limit_ends_a_large_result() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path());
    let zstd = start(engine(&target), ServerOptions::default().with_zstd(true)).await;
    let query = "SELECT * FROM ticks WHERE qty > 100";
    let ours = sql(&mut client(&zstd).await, query).await.unwrap();
    same_frame(&ours, &stock(&target, query)).unwrap();
    let small = start(
        engine(&target),
        ServerOptions::default().with_max_result_bytes(64 << 10),
    )
    .await;
    let err = sql(&mut client(&small).await, query).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(err.message().contains("65536 bytes"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_flight_info_stops_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(slow_engine(dir.path()), ServerOptions::default()).await;
    let mut client = client(&server).await;
    let (info, mut stream) = select_all(&mut client).await;
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.num_rows() > 0);
    let request = CancelFlightInfoRequest { info: Some(info) };
    let results: Vec<_> = client
        .do_action(Action::new("CancelFlightInfo", request.encode_to_vec()))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let result = CancelFlightInfoResult::decode(&*results[0].body).unwrap();
    assert_eq!(result.status, CancelStatus::Cancelled as i32);
    let mut rows = first.num_rows();
    let mut ended = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(b) => rows += b.num_rows(),
            Err(e) => {
                ended = Some(status(e));
                break;
            }
        }
    }
    let ended = ended.expect("the stream ended without an error");
    assert_eq!(ended.code(), Code::Cancelled, "{ended}");
    assert!(rows < 400_000, "{rows} rows arrived after the cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_frees_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    // One slot, and a short wait for it: a slot still held would fail the next query.
    let options = ServerOptions::default()
        .with_max_concurrent(1)
        .with_queue_timeout(Duration::from_secs(5));
    let server = start(slow_engine(dir.path()), options).await;
    {
        let mut client = client(&server).await;
        let (_, mut stream) = select_all(&mut client).await;
        stream.next().await.unwrap().unwrap();
        // The stream and its connection are dropped here, midway.
    }
    let mut again = client(&server).await;
    let n = sql(&mut again, "SELECT COUNT(*) AS n FROM ticks")
        .await
        .unwrap();
    assert_eq!(
        n.column("n").unwrap().get(0).unwrap(),
        AnyValue::Int64(400_000)
    );
}

/// A CA, a server certificate for localhost signed by it, and a client certificate.
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca: ca.pem(),
        server: leaf(vec!["localhost".into()]),
        client: leaf(vec!["client".into()]),
    }
}

async fn tls_client(
    server: &TestServer,
    pki: &Pki,
    with_identity: bool,
) -> Result<FlightSqlServiceClient<Channel>, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca))
        .domain_name("localhost");
    if with_identity {
        tls = tls.identity(Identity::from_pem(&pki.client.0, &pki.client.1));
    }
    let channel = Channel::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(FlightSqlServiceClient::new(channel))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_mutual_tls_refuse_plain_and_unknown_clients() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path());
    let pki = Arc::new(pki());
    let query = "SELECT COUNT(*) AS n FROM ticks";
    let tls = ServerOptions::default().with_tls(
        pki.server.0.clone().into_bytes(),
        pki.server.1.clone().into_bytes(),
    );
    let server = start(engine(&target), tls.clone()).await;
    let mut secure = tls_client(&server, &pki, false).await.unwrap();
    assert_eq!(sql(&mut secure, query).await.unwrap().height(), 1);
    // Plain HTTP/2 to a TLS port: the connection or the call fails, nothing is answered.
    let plain = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        let mut c = FlightSqlServiceClient::new(channel);
        assert!(sql(&mut c, query).await.is_err());
    }
    let mutual = start(
        engine(&target),
        tls.with_client_ca(pki.ca.clone().into_bytes()),
    )
    .await;
    let refused = match tls_client(&mutual, &pki, false).await {
        Err(_) => true,
        Ok(mut c) => sql(&mut c, query).await.is_err(),
    };
    assert!(refused, "a client without a certificate was served");
    let mut known = tls_client(&mutual, &pki, true).await.unwrap();
    assert_eq!(sql(&mut known, query).await.unwrap().height(), 1);
}
