//! Serving the Prometheus text: a router to mount, or a listener of its own.

use std::future::Future;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use tokio::net::TcpListener;

use super::Metrics;

/// `Content-Type` of the Prometheus text format 0.0.4.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Metrics {
    /// A router answering `GET path` with [`prometheus_text`](Metrics::prometheus_text)
    /// (`Cache-Control: no-store`; any other method gets `405`), feature `prometheus`.
    ///
    /// The route is unauthenticated, as Prometheus scrapes are: serve it on a listener of its
    /// own ([`serve_metrics`]) bound to loopback or a private network, not merged into the
    /// MCP router, where it would answer whoever reaches the MCP endpoint. Its labels hold no
    /// token, principal or session id, but they do tell which tools exist and how they are
    /// used.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use mcp_auth_runtime::observe::Metrics;
    /// use tower::ServiceExt as _;
    ///
    /// let metrics = Metrics::new();
    /// let response = metrics
    ///     .router("/metrics")
    ///     .oneshot(http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(response.headers()["cache-control"], "no-store");
    /// # }
    /// ```
    pub fn router(&self, path: &str) -> Router {
        let metrics = self.clone();
        Router::new().route(
            path,
            get(move || {
                let text = metrics.prometheus_text();
                async move {
                    (
                        [(CONTENT_TYPE, TEXT_FORMAT), (CACHE_CONTROL, "no-store")],
                        text,
                    )
                        .into_response()
                }
            }),
        )
    }
}

/// Serves `metrics` at `GET /metrics` on `listener` until `shutdown` completes, with the
/// connection limits of [`serve`](crate::serve) (feature `prometheus`). Bind `listener` to
/// loopback or a private network: the route is unauthenticated (see
/// [`Metrics::router`]), and it is apart from the MCP route, so the bearer layer neither
/// guards it nor is needed by it. Errors of the listener are returned, not swallowed.
///
/// ```no_run
/// use mcp_auth_runtime::observe::{Metrics, serve_metrics};
/// # async fn demo() -> std::io::Result<()> {
/// let metrics = Metrics::new();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9464").await?;
/// tokio::spawn(serve_metrics(listener, metrics.clone(), std::future::pending()));
/// // ... McpServer::builder().metrics(metrics) ...
/// # Ok(())
/// # }
/// ```
pub fn serve_metrics(
    listener: TcpListener,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = std::io::Result<()>> + Send {
    let router = metrics.router("/metrics");
    async move {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "serving metrics at /metrics, unauthenticated");
        }
        crate::serve(listener, router, shutdown).await
    }
}
