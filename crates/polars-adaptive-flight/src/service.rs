//! `FlightSqlServer`: the Flight SQL service over a [`SqlEngine`]. A statement is planned when
//! its `FlightInfo` is asked for (so a bad statement fails there, with the schema checked);
//! its signed tickets carry it to `DoGet`, where it runs in a slot of the server's, within its
//! share of the budget, and its batches stream out as the scan produces them.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow_array::RecordBatch;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, XdbcTypeInfoData};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionCancelQueryRequest, ActionCancelQueryResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any,
    CommandGetCatalogs, CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys,
    CommandGetImportedKeys, CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes,
    CommandGetTables, CommandGetXdbcTypeInfo, CommandPreparedStatementQuery, CommandStatementQuery,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, ActionType, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus,
    FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage,
    SchemaAsIpc, Ticket,
};
use arrow_ipc::writer::IpcWriteOptions;
use arrow_schema::SchemaRef;
use futures::{stream, Stream, TryStreamExt};
use polars_adaptive::exec::is_row_local_plan;
use polars_adaptive::prelude::Cancellation;
use polars_adaptive_sql::{Query, QueryOptions, SqlEngine, StatementKind};
use prost::Message;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{Auth, Caller};
use crate::convert::FlightSchema;
use crate::error::FlightSqlError;
use crate::metadata::{self, CATALOG, SCHEMA, TABLE_TYPE};
use crate::options::ServerOptions;
use crate::ticket::{Kind, Signed, Signer};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The Flight SQL service: register tables in a [`SqlEngine`], then serve it with
/// [`serve`](crate::serve).
#[derive(Clone)]
pub struct FlightSqlServer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FlightSqlServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightSqlServer")
            .field(
                "tables",
                &self.shared.engine.tables().keys().collect::<Vec<_>>(),
            )
            .field("options", &self.shared.options)
            .finish()
    }
}

struct Shared {
    engine: SqlEngine,
    options: ServerOptions,
    signer: Arc<Signer>,
    pub(crate) auth: Arc<Auth>,
    slots: Arc<Semaphore>,
    /// The queries running now, by the nonce of their ticket.
    running: Mutex<HashMap<u64, Cancellation>>,
    sql_info: SqlInfoData,
    xdbc: XdbcTypeInfoData,
}

impl FlightSqlServer {
    /// A service answering statements over `engine`'s tables with `options`' limits.
    pub fn try_new(engine: SqlEngine, options: ServerOptions) -> Result<Self, FlightSqlError> {
        let engine = match options.max_sql_bytes {
            Some(bytes) => engine.with_max_sql_bytes(bytes),
            None => engine,
        };
        let signer = Arc::new(Signer::new()?);
        let auth = Arc::new(Auth::new(
            options.tokens.clone(),
            options.users.clone(),
            signer.clone(),
            options.session_ttl,
        ));
        Ok(Self {
            shared: Arc::new(Shared {
                slots: Arc::new(Semaphore::new(options.max_concurrent)),
                engine,
                options,
                signer,
                auth,
                running: Mutex::new(HashMap::new()),
                sql_info: metadata::sql_info(),
                xdbc: metadata::xdbc_type_info(),
            }),
        })
    }

    pub(crate) fn auth(&self) -> Arc<Auth> {
        self.shared.auth.clone()
    }

    pub(crate) fn options(&self) -> &ServerOptions {
        &self.shared.options
    }

    /// Plans `sql` (reading footers only) to learn its schema and whether it splits by file.
    fn plan(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<(Query, FlightSchema), FlightSqlError> {
        let query = self.shared.engine.plan(sql, options)?;
        let schema = FlightSchema::try_new(query.schema())?;
        Ok((query, schema))
    }

    fn query_options(&self) -> QueryOptions {
        match self.shared.options.query_budget() {
            Some(b) => QueryOptions::default().with_memory_budget(b),
            None => QueryOptions::default(),
        }
    }

    /// The `FlightInfo` of `sql`: its schema and one signed ticket per part.
    fn statement_info(
        &self,
        sql: &str,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, FlightSqlError> {
        let (query, schema) = self.plan(sql, &self.query_options())?;
        let parts = self.parts(&query)?;
        let mut info = FlightInfo::new()
            .try_with_schema(schema.arrow())
            .map_err(|e| FlightSqlError::Internal(e.to_string()))?
            .with_descriptor(descriptor)
            .with_ordered(parts == 1);
        for part in 0..parts {
            let message = Signed {
                nonce: self.shared.signer.nonce(),
                part,
                parts,
                body: sql.to_string(),
            };
            let handle = self.shared.signer.sign(
                Kind::Ticket,
                &message,
                Some(self.shared.options.ticket_ttl),
            );
            let ticket = TicketStatementQuery {
                statement_handle: handle.into(),
            };
            info = info.with_endpoint(
                FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec())),
            );
        }
        Ok(info)
    }

    /// How many endpoints `query` gets: one per group of files when it is row-local over one
    /// table of several files and the server allows several endpoints, else one.
    fn parts(&self, query: &Query) -> Result<u32, FlightSqlError> {
        let max = self.shared.options.max_endpoints;
        if max <= 1 || *query.kind() != StatementKind::Query || query.tables().len() != 1 {
            return Ok(1);
        }
        if !is_row_local_plan(&query.lazy()).map_err(FlightSqlError::Polars)? {
            return Ok(1);
        }
        let files = self.shared.engine.table(&query.tables()[0])?.files()?;
        Ok(files.len().min(max).max(1) as u32)
    }

    /// Runs the statement a ticket carries and streams its batches.
    async fn run(
        &self,
        handle: &[u8],
    ) -> Result<BoxStream<arrow_flight::FlightData>, FlightSqlError> {
        let signed = self.shared.signer.verify(Kind::Ticket, handle)?;
        let options = &self.shared.options;
        let started = Instant::now();
        let permit = tokio::time::timeout(
            options.queue_timeout,
            self.shared.slots.clone().acquire_owned(),
        )
        .await
        .map_err(|_| {
            FlightSqlError::Limit(format!(
                "the server runs {} queries at once and none finished within {:?}; try again later",
                options.max_concurrent, options.queue_timeout
            ))
        })?
        .map_err(|_| FlightSqlError::Internal("the server's query slots are closed".into()))?;
        let cancellation = Cancellation::new();
        let mut query_options = self.query_options().with_cancellation(cancellation.clone());
        if signed.parts > 1 {
            query_options = query_options.with_part(signed.part as usize, signed.parts as usize);
        }
        let (query, schema) = self.plan(&signed.body, &query_options)?;
        let running = Running::register(self.shared.clone(), signed.nonce, cancellation);
        let (tx, rx) = mpsc::channel::<Result<RecordBatch, FlightSqlError>>(2);
        let limits = Limits {
            rows: options.max_result_rows,
            bytes: options.max_result_bytes,
        };
        let producer_schema = schema.clone();
        tokio::task::spawn_blocking(move || produce(query, producer_schema, tx, limits, permit));
        let deadline = options
            .query_timeout
            .map(|t| tokio::time::Instant::from_std(started + t));
        let seconds = options.query_timeout.map_or(0.0, |t| t.as_secs_f64());
        // The stream owns `running`: when the client goes away and the stream is dropped, the
        // query is cancelled and its scan stops at its next batch.
        let batches = stream::unfold(
            (rx, running, false),
            move |(mut rx, running, done)| async move {
                if done {
                    return None;
                }
                let next = match deadline {
                    Some(at) => match tokio::time::timeout_at(at, rx.recv()).await {
                        Ok(next) => next,
                        Err(_) => Some(Err(FlightSqlError::Deadline { seconds })),
                    },
                    None => rx.recv().await,
                };
                match next {
                    None => None,
                    Some(Ok(batch)) => Some((Ok(batch), (rx, running, false))),
                    Some(Err(e)) => {
                        Some((Err(FlightError::from(Status::from(e))), (rx, running, true)))
                    }
                }
            },
        );
        let mut ipc = IpcWriteOptions::default();
        if options.zstd {
            ipc = ipc
                .try_with_compression(Some(arrow_ipc::CompressionType::ZSTD))
                .map_err(|e| FlightSqlError::Internal(e.to_string()))?;
        }
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(schema.arrow().clone())
            .with_options(ipc)
            .build(batches)
            .map_err(Status::from);
        Ok(Box::pin(encoded))
    }

    /// A metadata answer: one batch, as a stream of Flight data.
    fn batch_stream(
        batch: Result<RecordBatch, impl std::fmt::Display>,
    ) -> Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        let batch = batch.map_err(|e| Status::internal(e.to_string()))?;
        let schema = batch.schema();
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(stream::iter([Ok(batch)]))
            .map_err(Status::from);
        Ok(Response::new(Box::pin(encoded)))
    }

    /// The `FlightInfo` of a metadata command: its schema and a ticket that is the command.
    fn command_info(
        command: impl ProstMessageExt,
        schema: SchemaRef,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = Ticket::new(command.as_any().encode_to_vec());
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::internal(e.to_string()))?
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    /// Cancels the queries started by `tickets`; whether any was running.
    fn cancel_tickets<'a>(
        &self,
        tickets: impl Iterator<Item = &'a [u8]>,
    ) -> Result<bool, FlightSqlError> {
        let mut any = false;
        for ticket in tickets {
            let statement = Any::decode(ticket)
                .ok()
                .and_then(|any| any.unpack::<TicketStatementQuery>().ok().flatten())
                .ok_or_else(|| {
                    FlightSqlError::BadRequest(
                        "the FlightInfo holds a ticket that is not a statement's".into(),
                    )
                })?;
            let signed = self
                .shared
                .signer
                .verify(Kind::Ticket, &statement.statement_handle)?;
            if let Some(c) = self
                .shared
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&signed.nonce)
            {
                c.cancel();
                any = true;
            }
        }
        Ok(any)
    }

    fn tables_batch(&self, query: CommandGetTables) -> Result<RecordBatch, FlightSqlError> {
        let mut builder = query.into_builder();
        for (name, table) in self.shared.engine.tables() {
            let schema = FlightSchema::try_new(table.schema())?;
            builder
                .append(CATALOG, SCHEMA, name, TABLE_TYPE, schema.arrow())
                .map_err(|e| FlightSqlError::Internal(e.to_string()))?;
        }
        builder
            .build()
            .map_err(|e| FlightSqlError::Internal(e.to_string()))
    }
}

/// A query in the server's table of running queries, taken out when dropped; dropping it
/// before the query ended (the client went away) cancels the query.
struct Running {
    shared: Arc<Shared>,
    nonce: u64,
    cancellation: Cancellation,
}

impl Running {
    fn register(shared: Arc<Shared>, nonce: u64, cancellation: Cancellation) -> Self {
        shared
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(nonce, cancellation.clone());
        Self {
            shared,
            nonce,
            cancellation,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancellation.cancel();
        self.shared
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.nonce);
    }
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    rows: Option<u64>,
    bytes: Option<u64>,
}

/// Runs `query` on a blocking thread and sends its batches to `tx`, holding the query's slot
/// until the scan has stopped. A full channel blocks the scan (back-pressure); a closed one
/// (the stream was dropped) stops it.
fn produce(
    query: Query,
    schema: FlightSchema,
    tx: mpsc::Sender<Result<RecordBatch, FlightSqlError>>,
    limits: Limits,
    permit: OwnedSemaphorePermit,
) {
    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut refused: Option<FlightSqlError> = None;
    let result = query.for_each_batch(
        |df| {
            let batches = schema.batches(df).map_err(polars::prelude::PolarsError::from)?;
            for batch in batches {
                rows += batch.num_rows() as u64;
                bytes += batch.get_array_memory_size() as u64;
                if let Some(limit) = limits.rows.filter(|l| rows > *l) {
                    refused = Some(FlightSqlError::Limit(format!(
                        "the result has more than {limit} rows, the server's limit; add a LIMIT or a filter"
                    )));
                    return Ok(true);
                }
                if let Some(limit) = limits.bytes.filter(|l| bytes > *l) {
                    refused = Some(FlightSqlError::Limit(format!(
                        "the result exceeds {limit} bytes, the server's limit; select fewer rows or columns"
                    )));
                    return Ok(true);
                }
                if tx.blocking_send(Ok(batch)).is_err() {
                    return Ok(true);
                }
            }
            Ok(false)
        },
        None,
    );
    let failure = match (refused, result) {
        (Some(e), _) => Some(e),
        (None, Err(e)) => Some(FlightSqlError::Sql(e)),
        (None, Ok(())) => None,
    };
    if let Some(e) = failure {
        let _ = tx.blocking_send(Err(e));
    }
    drop(permit);
}

fn status(e: FlightSqlError) -> Status {
    e.into()
}

#[tonic::async_trait]
impl FlightSqlService for FlightSqlServer {
    type FlightService = FlightSqlServer;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<BoxStream<HandshakeResponse>>, Status> {
        let caller = self.shared.auth.check(request.metadata()).map_err(status)?;
        let mut response: Response<BoxStream<HandshakeResponse>> =
            Response::new(Box::pin(stream::iter([Ok(HandshakeResponse::default())])));
        if let Caller::User(user) = caller {
            let token = self.shared.auth.session_token(&user);
            let value = MetadataValue::try_from(format!("Bearer {token}"))
                .map_err(|e| Status::internal(e.to_string()))?;
            response.metadata_mut().insert("authorization", value);
        }
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let descriptor = request.into_inner();
        let server = self.clone();
        let info =
            tokio::task::spawn_blocking(move || server.statement_info(&query.query, descriptor))
                .await
                .map_err(|e| Status::internal(e.to_string()))?
                .map_err(status)?;
        Ok(Response::new(info))
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let signed = self
            .shared
            .signer
            .verify(Kind::Prepared, &query.prepared_statement_handle)
            .map_err(status)?;
        let descriptor = request.into_inner();
        let server = self.clone();
        let info =
            tokio::task::spawn_blocking(move || server.statement_info(&signed.body, descriptor))
                .await
                .map_err(|e| Status::internal(e.to_string()))?
                .map_err(status)?;
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let stream = self.run(&ticket.statement_handle).await.map_err(status)?;
        Ok(Response::new(stream))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let server = self.clone();
        let sql = query.query.clone();
        let schema = tokio::task::spawn_blocking(move || {
            server.plan(&sql, &server.query_options()).map(|(_, s)| s)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(status)?;
        let message = Signed {
            nonce: self.shared.signer.nonce(),
            part: 0,
            parts: 1,
            body: query.query,
        };
        let handle = self.shared.signer.sign(
            Kind::Prepared,
            &message,
            Some(self.shared.options.session_ttl),
        );
        let IpcMessage(dataset_schema) =
            SchemaAsIpc::new(schema.arrow(), &IpcWriteOptions::default())
                .try_into()
                .map_err(|e: arrow_schema::ArrowError| Status::internal(e.to_string()))?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema,
            parameter_schema: Default::default(),
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        // Handles carry their statement: there is nothing to free.
        Ok(())
    }

    async fn do_put_prepared_statement_query(
        &self,
        _query: CommandPreparedStatementQuery,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        Err(Status::invalid_argument(
            "prepared statements take no parameters here; write the values into the SQL",
        ))
    }

    async fn do_action_cancel_query(
        &self,
        query: ActionCancelQueryRequest,
        _request: Request<Action>,
    ) -> Result<ActionCancelQueryResult, Status> {
        let info = FlightInfo::decode(&*query.info)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let any = self
            .cancel_tickets(
                info.endpoint
                    .iter()
                    .filter_map(|e| e.ticket.as_ref())
                    .map(|t| &*t.ticket),
            )
            .map_err(status)?;
        Ok(ActionCancelQueryResult {
            result: if any { 1 } else { 2 },
        })
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        let action = request.into_inner();
        if action.r#type != "CancelFlightInfo" {
            return Err(Status::invalid_argument(format!(
                "unknown action '{}'",
                action.r#type
            )));
        }
        let request = CancelFlightInfoRequest::decode(&*action.body)
            .map_err(|e| Status::invalid_argument(format!("CancelFlightInfo: {e}")))?;
        let info = request
            .info
            .ok_or_else(|| Status::invalid_argument("CancelFlightInfo without a FlightInfo"))?;
        let any = self
            .cancel_tickets(
                info.endpoint
                    .iter()
                    .filter_map(|e| e.ticket.as_ref())
                    .map(|t| &*t.ticket),
            )
            .map_err(status)?;
        let result = CancelFlightInfoResult {
            status: if any {
                CancelStatus::Cancelled
            } else {
                CancelStatus::NotCancellable
            } as i32,
        };
        let body = arrow_flight::Result::new(result.encode_to_vec());
        Ok(Response::new(Box::pin(stream::iter([Ok(body)]))))
    }

    async fn list_custom_actions(&self) -> Option<Vec<Result<ActionType, Status>>> {
        Some(vec![Ok(ActionType {
            r#type: "CancelFlightInfo".into(),
            description: "Cancel the queries of a FlightInfo".into(),
        })])
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        Self::command_info(query, schema, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        builder.append(CATALOG);
        Self::batch_stream(builder.build())
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        Self::command_info(query, schema, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        builder.append(CATALOG, SCHEMA);
        Self::batch_stream(builder.build())
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        Self::command_info(query, schema, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let batch = self.tables_batch(query).map_err(status)?;
        Self::batch_stream(Ok::<_, FlightSqlError>(batch))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        Self::command_info(query, schema, request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        builder.append(TABLE_TYPE);
        Self::batch_stream(builder.build())
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&self.shared.sql_info).schema();
        Self::command_info(query, schema, request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        Self::batch_stream(query.into_builder(&self.shared.sql_info).build())
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder(&self.shared.xdbc).schema();
        Self::command_info(query, schema, request.into_inner())
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        Self::batch_stream(query.into_builder(&self.shared.xdbc).build())
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Self::command_info(query, metadata::primary_keys_schema(), request.into_inner())
    }

    async fn do_get_primary_keys(
        &self,
        _query: CommandGetPrimaryKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        Self::batch_stream(Ok::<_, FlightSqlError>(metadata::empty(
            metadata::primary_keys_schema(),
        )))
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Self::command_info(query, metadata::foreign_keys_schema(), request.into_inner())
    }

    async fn do_get_exported_keys(
        &self,
        _query: CommandGetExportedKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        Self::batch_stream(Ok::<_, FlightSqlError>(metadata::empty(
            metadata::foreign_keys_schema(),
        )))
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Self::command_info(query, metadata::foreign_keys_schema(), request.into_inner())
    }

    async fn do_get_imported_keys(
        &self,
        _query: CommandGetImportedKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        Self::batch_stream(Ok::<_, FlightSqlError>(metadata::empty(
            metadata::foreign_keys_schema(),
        )))
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Self::command_info(query, metadata::foreign_keys_schema(), request.into_inner())
    }

    async fn do_get_cross_reference(
        &self,
        _query: CommandGetCrossReference,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        Self::batch_stream(Ok::<_, FlightSqlError>(metadata::empty(
            metadata::foreign_keys_schema(),
        )))
    }

    #[allow(deprecated)]
    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
