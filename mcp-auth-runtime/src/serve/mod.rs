//! Serving a router over TCP with connection-level limits: [`serve`] and [`serve_with`], with
//! their [`ServeConfig`] ([`config`]), the bodies that end with a deadline or at shutdown
//! ([`bodies`]) and the write timeout ([`write_timeout`]).

mod bodies;
mod config;
mod write_timeout;

use bodies::{DeadlineBody, body_timed_out, ending_at_shutdown};
pub use config::ServeConfig;
use write_timeout::WriteTimeout;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::Request;
use http_body::Body as HttpBody;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt as _;

/// Serves `app` (an [`McpServer`](crate::McpServer), or its router merged with routes of your
/// own) on `listener` until `shutdown` completes, with the default [`ServeConfig`] limits
/// (header-read, body and write timeouts, a connection cap), `TCP_NODELAY` on every
/// connection (without it, small SSE writes wait for the peer's delayed ACK, about 40 ms
/// each), and a graceful shutdown that lets in-flight calls finish. [`serve_with`] takes
/// other limits.
///
/// ```no_run
/// use mcp_auth_runtime::McpServer;
/// # async fn demo(server: McpServer) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// mcp_auth_runtime::serve(listener, server, std::future::pending()).await
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    app: impl Into<Router>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, ServeConfig::default(), shutdown).await
}

/// Serves `app` (an [`McpServer`](crate::McpServer), or its router merged with routes of your
/// own) on `listener` over HTTP/1.1 with `config`'s limits, until `shutdown` completes; see
/// [`ServeConfig`].
pub async fn serve_with(
    listener: TcpListener,
    app: impl Into<Router>,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router: Router = app.into();
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
