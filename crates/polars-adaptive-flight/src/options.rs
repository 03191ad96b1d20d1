//! `ServerOptions`: the limits, credentials and transport of a Flight SQL server.

use std::time::Duration;

/// How a [`FlightSqlServer`](crate::FlightSqlServer) serves: limits, credentials, TLS.
///
/// With no token and no user, every request is served; with any, each request needs
/// `authorization: Bearer <token>` (a static token, or one the handshake returned for Basic
/// credentials) or `authorization: Basic …`.
///
/// ```
/// use std::time::Duration;
/// use polars_adaptive_flight::ServerOptions;
///
/// let options = ServerOptions::default()
///     .with_memory_budget(2 << 30)
///     .with_max_concurrent(8)
///     .with_user("analyst", "s3cret")
///     .with_query_timeout(Duration::from_secs(600));
/// ```
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub(crate) memory_budget: Option<usize>,
    pub(crate) max_concurrent: usize,
    pub(crate) queue_timeout: Duration,
    pub(crate) max_result_rows: Option<u64>,
    pub(crate) max_result_bytes: Option<u64>,
    pub(crate) query_timeout: Option<Duration>,
    pub(crate) max_sql_bytes: Option<usize>,
    pub(crate) ticket_ttl: Duration,
    pub(crate) session_ttl: Duration,
    pub(crate) tokens: Vec<String>,
    pub(crate) users: Vec<(String, String)>,
    pub(crate) tls: Option<Tls>,
    pub(crate) zstd: bool,
    pub(crate) max_endpoints: usize,
}

/// PEM-encoded TLS material.
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) cert: Vec<u8>,
    pub(crate) key: Vec<u8>,
    pub(crate) client_ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("mutual", &self.client_ca.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            memory_budget: None,
            max_concurrent: 16,
            queue_timeout: Duration::from_secs(30),
            max_result_rows: None,
            max_result_bytes: None,
            query_timeout: None,
            max_sql_bytes: None,
            ticket_ttl: Duration::from_secs(300),
            session_ttl: Duration::from_secs(12 * 3600),
            tokens: Vec::new(),
            users: Vec::new(),
            tls: None,
            zstd: false,
            max_endpoints: 1,
        }
    }
}

impl ServerOptions {
    /// Bytes all running queries may hold together; each of the `max_concurrent` queries gets
    /// an equal share as its budget, and a plan that cannot stream within it is refused.
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = Some(bytes);
        self
    }
    /// Queries that run at once (16 by default); more wait for a slot.
    pub fn with_max_concurrent(mut self, queries: usize) -> Self {
        self.max_concurrent = queries.max(1);
        self
    }
    /// How long a query waits for a slot before `RESOURCE_EXHAUSTED` (30 s by default).
    pub fn with_queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = timeout;
        self
    }
    /// Rows a result may have; past them the stream ends with `RESOURCE_EXHAUSTED`.
    pub fn with_max_result_rows(mut self, rows: u64) -> Self {
        self.max_result_rows = Some(rows);
        self
    }
    /// Bytes (in Arrow memory) a result may have; past them the stream ends with
    /// `RESOURCE_EXHAUSTED`.
    pub fn with_max_result_bytes(mut self, bytes: u64) -> Self {
        self.max_result_bytes = Some(bytes);
        self
    }
    /// How long a query may run, from its `DoGet` to its last batch; then
    /// `DEADLINE_EXCEEDED` and the scan stops.
    pub fn with_query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = Some(timeout);
        self
    }
    /// The longest statement accepted (the SQL engine's limit by default, 256 KiB).
    pub fn with_max_sql_bytes(mut self, bytes: usize) -> Self {
        self.max_sql_bytes = Some(bytes);
        self
    }
    /// How long a ticket stays valid after its `FlightInfo` (5 minutes by default).
    pub fn with_ticket_ttl(mut self, ttl: Duration) -> Self {
        self.ticket_ttl = ttl;
        self
    }
    /// How long a bearer token from the handshake stays valid (12 hours by default).
    pub fn with_session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }
    /// Accepts `authorization: Bearer <token>`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.tokens.push(token.into());
        self
    }
    /// Accepts Basic credentials (and answers a handshake with them with a bearer token).
    pub fn with_user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.push((name.into(), password.into()));
        self
    }
    /// Serves TLS only, with this certificate chain and key (PEM).
    pub fn with_tls(mut self, cert_pem: Vec<u8>, key_pem: Vec<u8>) -> Self {
        let client_ca = self.tls.take().and_then(|t| t.client_ca);
        self.tls = Some(Tls {
            cert: cert_pem,
            key: key_pem,
            client_ca,
        });
        self
    }
    /// With [`with_tls`](Self::with_tls): clients must present a certificate this CA (PEM)
    /// signed.
    pub fn with_client_ca(mut self, ca_pem: Vec<u8>) -> Self {
        if let Some(tls) = &mut self.tls {
            tls.client_ca = Some(ca_pem);
        }
        self
    }
    /// Compresses result batches with zstd (Arrow IPC body compression).
    pub fn with_zstd(mut self, zstd: bool) -> Self {
        self.zstd = zstd;
        self
    }
    /// At most this many endpoints for results that can be split by file (1 by default: one
    /// ordered endpoint). Row-local plans over one table of several files then return one
    /// unordered endpoint per group of files, for clients that read them in parallel.
    pub fn with_max_endpoints(mut self, endpoints: usize) -> Self {
        self.max_endpoints = endpoints.max(1);
        self
    }

    /// Each query's budget: an equal share of the server's.
    pub(crate) fn query_budget(&self) -> Option<usize> {
        self.memory_budget.map(|b| b / self.max_concurrent)
    }
}
