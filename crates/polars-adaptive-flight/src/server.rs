//! Serving a [`FlightSqlServer`] on a TCP listener: TLS when the options ask for it, the
//! credential check in front of every call, a graceful stop.

use std::future::Future;
use std::net::SocketAddr;

use arrow_flight::flight_service_server::FlightServiceServer;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::error::FlightSqlError;
use crate::service::FlightSqlServer;

/// The largest request or response message (a statement, one batch's Flight data).
const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Serves `server` on `listener` until `shutdown` completes; running streams are then ended.
///
/// ```no_run
/// use polars_adaptive::prelude::*;
/// use polars_adaptive_flight::{serve, FlightSqlServer, ServerOptions};
/// use polars_adaptive_sql::SqlEngine;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = SqlEngine::new().with_table("ticks", "data/ticks", ScanArgsAdaptive::default())?;
/// let server = FlightSqlServer::try_new(engine, ServerOptions::default().with_token("s3cret"))?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
/// serve(server, listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
/// # Ok(()) }
/// ```
pub async fn serve(
    server: FlightSqlServer,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), FlightSqlError> {
    let mut builder = Server::builder();
    if let Some(tls) = &server.options().tls {
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert, &tls.key));
        if let Some(ca) = &tls.client_ca {
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        builder = builder
            .tls_config(config)
            .map_err(|e| FlightSqlError::Serve(format!("TLS: {e}")))?;
    }
    let interceptor = server.auth().interceptor();
    let service = InterceptedService::new(
        FlightServiceServer::new(server)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
        interceptor,
    );
    builder
        .add_service(service)
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
        .map_err(|e| FlightSqlError::Serve(e.to_string()))
}

/// Binds `addr` (`host:port`; port 0 picks a free one) and reports the address bound.
pub async fn bind(addr: &str) -> Result<(TcpListener, SocketAddr), FlightSqlError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| FlightSqlError::Serve(format!("{addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| FlightSqlError::Serve(e.to_string()))?;
    Ok((listener, local))
}
