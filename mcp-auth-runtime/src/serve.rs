//! Serving a router over TCP with connection-level limits: [`serve_with`] and its
//! [`ServeConfig`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use bytes::Bytes;
use http::Request;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt as _;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Default of [`ServeConfig::header_read_timeout`]: 10 seconds.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`ServeConfig::request_body_timeout`]: 30 seconds.
pub const DEFAULT_REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`ServeConfig::write_timeout`]: 30 seconds.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`ServeConfig::max_connections`]: 10,000.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The bounds of every [`ServeConfig`] timeout; a timeout outside them is brought to the
/// nearest. A day is as good as none, and a deadline `now + timeout` cannot overflow (which
/// panics, in hyper's header-read timer as in the body deadline).
const MIN_TIMEOUT: Duration = Duration::from_millis(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

fn bounded(timeout: Duration) -> Duration {
    timeout.clamp(MIN_TIMEOUT, MAX_TIMEOUT)
}

/// Connection-level limits of [`serve_with`](crate::serve_with); the defaults are what
/// [`serve`](crate::serve()) and [`McpServer::serve`](crate::McpServer::serve) use.
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
/// server.serve_with(listener, limits, std::future::pending()).await
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
    header_read_timeout: Duration,
    request_body_timeout: Duration,
    write_timeout: Duration,
    max_connections: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            request_body_timeout: DEFAULT_REQUEST_BODY_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ServeConfig {
    /// The defaults: [`DEFAULT_HEADER_READ_TIMEOUT`], [`DEFAULT_REQUEST_BODY_TIMEOUT`],
    /// [`DEFAULT_WRITE_TIMEOUT`] and [`DEFAULT_MAX_CONNECTIONS`].
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

/// Serves `router` (an [`McpServer`](crate::McpServer)'s, possibly merged with routes of your
/// own) on `listener` over HTTP/1.1 with `config`'s limits, until `shutdown` completes; see
/// [`ServeConfig`].
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = config.max_connections.min(Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(permits));
    let (draining, drained) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        // A slot first, then a connection: at the cap, connections wait in the backlog.
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
        };
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
        tokio::spawn(connection(
            tcp,
            peer,
            router.clone(),
            config.clone(),
            drained.clone(),
            slot,
        ));
    }
    drop(listener);
    let _ = draining.send(true);
    // Each connection holds its slot until it ends: with every slot back, all have ended.
    let _all = slots
        .acquire_many(permits as u32)
        .await
        .expect("the semaphore is never closed");
    Ok(())
}

/// Serves one connection until it ends, or until the server drains and its last response is
/// sent.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    config: ServeConfig,
    mut drained: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let body_timeout = config.request_body_timeout;
    let draining = drained.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let deadline = tokio::time::Instant::now() + body_timeout;
        let mut timed_out = None;
        let mut request = request.map(|body| {
            if body.is_end_stream() {
                return Body::new(body);
            }
            let flag = Arc::new(AtomicBool::new(false));
            timed_out = Some(flag.clone());
            Body::new(DeadlineBody {
                inner: body,
                deadline,
                timer: None,
                timed_out: flag,
            })
        });
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        let draining = draining.clone();
        async move {
            let response = router.oneshot(request).await?;
            // Whatever the handler (or a middleware that read the body first) made of the
            // failed body, the client is told why, and the connection is not reused.
            if timed_out.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
                return Ok(body_timed_out());
            }
            Ok::<_, Infallible>(ending_at_shutdown(response, draining))
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let io = TokioIo::new(WriteTimeout::new(tcp, config.write_timeout));
    let mut conn = pin!(http.serve_connection(io, service));
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            return;
        }
        _ = drained.wait_for(|draining| *draining) => {}
    }
    conn.as_mut().graceful_shutdown();
    if let Err(err) = conn.await {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}

/// An accept error: the connection's own trouble (reset before it was accepted) is skipped;
/// anything else, such as running out of file descriptors (`EMFILE`), is logged and waited out
/// for a second, during which connections may close, rather than retried in a busy loop.
async fn accept_failed(err: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "cannot accept connections; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Marks a response whose body never ends by itself (a `subscriptions/listen` stream):
/// [`serve_with`] ends it when the server shuts down, so that it cannot hold the shutdown up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EndsAtShutdown;

fn ending_at_shutdown(response: Response, mut drained: watch::Receiver<bool>) -> Response {
    if response.extensions().get::<EndsAtShutdown>().is_none() {
        return response;
    }
    response.map(|inner| {
        Body::new(UntilDrained {
            inner,
            drained: Box::pin(async move {
                let _ = drained.wait_for(|draining| *draining).await;
            }),
        })
    })
}

/// A body that ends when the server starts draining.
struct UntilDrained {
    inner: Body,
    drained: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl HttpBody for UntilDrained {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.drained.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }
}

/// A request body that fails once its deadline passes, however its bytes trickle in.
struct DeadlineBody {
    inner: Incoming,
    deadline: tokio::time::Instant,
    /// Armed at the first wait only: a body that is already there costs no timer.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Set when the deadline passed, for the response.
    timed_out: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.timed_out.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(Box::new(BodyTimeout))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The request body did not arrive within [`ServeConfig::request_body_timeout`].
#[derive(Debug)]
struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// `408` for a body that did not arrive in time; the connection closes, since the rest of the
/// body may still be on its way.
fn body_timed_out() -> Response {
    let mut response = Response::new(Body::from("the request body did not arrive in time"));
    *response.status_mut() = http::StatusCode::REQUEST_TIMEOUT;
    response.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
}

/// A connection whose writes fail with [`io::ErrorKind::TimedOut`] once output has waited for
/// [`ServeConfig::write_timeout`] without any of it being taken: hyper then closes the
/// connection, and its slot is given back. hyper's own timer covers reading headers only, and
/// does not run while hyper waits for a write.
struct WriteTimeout<T> {
    inner: T,
    timeout: Duration,
    /// Created at the first write that has to wait, reset at the next ones: a connection that
    /// never waits costs no timer, and one that waits often allocates once.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether output is waiting, since the timer's deadline minus the timeout.
    armed: bool,
}

impl<T> WriteTimeout<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        WriteTimeout {
            inner,
            timeout,
            timer: None,
            armed: false,
        }
    }
}

impl<T: AsyncWrite + Unpin> WriteTimeout<T> {
    /// Runs one output operation: any answer disarms the timer; waiting arms it, if it is not
    /// armed yet, and fails once it fires.
    fn timed<R>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut T>, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if let Poll::Ready(result) = op(Pin::new(&mut self.inner), cx) {
            self.armed = false;
            return Poll::Ready(result);
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let timer = match &mut self.timer {
            Some(timer) if self.armed => timer,
            Some(timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => self
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        self.armed = true;
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.armed = false;
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client has not read its answers within the write timeout",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .timed(cx, |inner, cx| inner.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .timed(cx, |inner, cx| inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().timed(cx, |inner, cx| inner.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .timed(cx, |inner, cx| inner.poll_shutdown(cx))
    }
}
