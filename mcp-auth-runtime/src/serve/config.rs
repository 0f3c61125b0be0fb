//! [`ServeConfig`]: the connection-level limits of [`serve_with`](crate::serve_with).

use std::time::Duration;

/// The bounds of every [`ServeConfig`] timeout; a timeout outside them is brought to the
/// nearest. A day is as good as none, and a deadline `now + timeout` cannot overflow (which
/// panics, in hyper's header-read timer as in the body deadline).
const MIN_TIMEOUT: Duration = Duration::from_millis(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

fn bounded(timeout: Duration) -> Duration {
    timeout.clamp(MIN_TIMEOUT, MAX_TIMEOUT)
}

/// Connection-level limits of [`serve_with`](crate::serve_with); the defaults are what
/// [`serve`](crate::serve()) uses.
///
/// `axum::serve` sets no limit of its own: a client may take forever to send its headers or
/// its body, and may open as many connections as the process has file descriptors, so that a
/// few thousand sockets sending one byte a second (slowloris) hold a server's resources
/// indefinitely. [`serve_with`](crate::serve_with) serves HTTP/1.1 with:
///
/// | limit | default | beyond it |
/// | --- | --- | --- |
/// | [`header_read_timeout`](ServeConfig::header_read_timeout) | 10 s | the connection is closed |
/// | [`request_body_timeout`](ServeConfig::request_body_timeout) | 30 s | `408`, then the connection is closed |
/// | [`write_timeout`](ServeConfig::write_timeout) | 30 s | the connection is closed |
/// | [`max_connections`](ServeConfig::max_connections) | 10,000 | no more connections are accepted until one closes |
///
/// Every timeout is between 1 ms and one day: a shorter one is 1 ms, a longer one (up to
/// `Duration::MAX`) a day.
///
/// The header-read timeout runs from the moment a connection is accepted, or from the end of
/// the previous response on a keep-alive connection: a connection idle for that long between
/// requests is closed too. The body timeout bounds the whole body, from the moment its request's
/// headers were read, not the gap between two chunks, so a body trickled one byte at a time
/// is cut all the same. Neither bounds a response: a tool call runs up to its call timeout
/// (see [`McpServerBuilder::call_timeout`](crate::McpServerBuilder::call_timeout)) and its
/// stream with it.
///
/// The write timeout bounds a client that stops reading. Without it, a client that sends
/// pipelined requests (or asks for a large answer) and never reads the answers fills the
/// kernel's buffers, after which the server's writes wait forever and the connection holds
/// its slot: a few such clients reach the connection cap, and the server stops accepting. The
/// timeout counts only time during which output is waiting and none of it is taken, so an
/// idle connection, a quiet `subscriptions/listen` stream, and a slow reader that keeps
/// reading are not affected.
///
/// At the connection cap the server stops accepting: new connections wait in the kernel's
/// listen backlog and are served as soon as another connection closes, and beyond the backlog
/// the kernel refuses them. Accepting and closing at once would spend work on each of them and
/// fail every one, whereas waiting fails none that can wait; the header-read timeout makes the
/// wait short, since connections that send nothing useful are closed after it.
///
/// ```no_run
/// use std::time::Duration;
/// use mcp_auth_runtime::ServeConfig;
/// # async fn demo(server: mcp_auth_runtime::McpServer) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8000").await?;
/// let limits = ServeConfig::new()
///     .header_read_timeout(Duration::from_secs(5))
///     .max_connections(2_000);
/// mcp_auth_runtime::serve_with(listener, server, limits, std::future::pending()).await
/// # }
/// ```
///
/// Every connection gets `TCP_NODELAY` (without it, small SSE writes wait for the peer's
/// delayed ACK, about 40 ms each), and each request carries its peer's address as
/// [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo). When `shutdown` completes, the
/// server stops accepting, closes idle connections, ends `subscriptions/listen` streams (their
/// clients reconnect, to another replica if there is one), lets requests in flight finish,
/// then returns. A request in flight finishes within its call timeout; its answer is then
/// written, and a client that stops reading it is cut after the write timeout, so that a
/// stalled client cannot hold a shutdown up.
#[derive(Debug, Clone)]
#[must_use]
pub struct ServeConfig {
    pub(super) header_read_timeout: Duration,
    pub(super) request_body_timeout: Duration,
    pub(super) write_timeout: Duration,
    pub(super) max_connections: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            request_body_timeout: Self::DEFAULT_REQUEST_BODY_TIMEOUT,
            write_timeout: Self::DEFAULT_WRITE_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ServeConfig {
    /// Default of [`header_read_timeout`](Self::header_read_timeout): 10 seconds.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default of [`request_body_timeout`](Self::request_body_timeout): 30 seconds.
    pub const DEFAULT_REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default of [`write_timeout`](Self::write_timeout): 30 seconds.
    pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default of [`max_connections`](Self::max_connections): 10,000.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

    /// The defaults: [`DEFAULT_HEADER_READ_TIMEOUT`](Self::DEFAULT_HEADER_READ_TIMEOUT),
    /// [`DEFAULT_REQUEST_BODY_TIMEOUT`](Self::DEFAULT_REQUEST_BODY_TIMEOUT),
    /// [`DEFAULT_WRITE_TIMEOUT`](Self::DEFAULT_WRITE_TIMEOUT) and
    /// [`DEFAULT_MAX_CONNECTIONS`](Self::DEFAULT_MAX_CONNECTIONS).
    pub fn new() -> Self {
        ServeConfig::default()
    }

    /// How long a client may take to send a request's headers (request line included), from
    /// the moment its connection was accepted or its previous response was sent; the
    /// connection is closed after it. Between 1 ms and one day.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = bounded(timeout);
        self
    }

    /// How long a client may take to send a request's whole body, from the moment its
    /// headers were read. Reading a late body fails, and the request is answered with
    /// `408 Request Timeout` (whatever its handler answered) before the connection closes.
    /// Between 1 ms and one day.
    pub fn request_body_timeout(mut self, timeout: Duration) -> Self {
        self.request_body_timeout = bounded(timeout);
        self
    }

    /// How long the server's writes to a connection may make no progress, because its client
    /// does not read, before the connection is closed. Only time with output waiting counts:
    /// any progress starts the count again, and a connection with nothing to write is never
    /// closed by it. Between 1 ms and one day.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = bounded(timeout);
        self
    }

    /// The most connections served at once (at least 1). Each takes a file descriptor:
    /// keep the process's limit (`ulimit -n`) above it, with room for the server's own
    /// connections (the issuer, Redis, a database).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.clamp(1, u32::MAX as usize);
        self
    }
}
