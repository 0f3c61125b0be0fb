//! What billing shows its operators: `--metrics-addr`, the Prometheus text at `/metrics` on a
//! listener of its own, and `--otlp-endpoint`, traces and metrics through OTLP/HTTP (see
//! mcp-auth-runtime/docs/observability.md).

use std::fmt;
use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use clap::Args;
use mcp_auth_runtime::observe::Metrics;
use mcp_auth_runtime::observe::otlp::Otlp;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::prelude::*;

use crate::Command;

/// The path of the Prometheus text on `--metrics-addr`.
pub const METRICS_PATH: &str = "/metrics";

/// The instrumentation scope of the server's metrics over OTLP.
const METER: &str = "mcp-auth-runtime";

/// What `billing` logs and exports. Keep it until the process exits: dropping it sends the
/// spans and metrics not exported yet.
#[derive(Debug)]
pub struct Telemetry {
    otlp: Option<Otlp>,
}

impl Telemetry {
    /// Installs the global `tracing` subscriber: logs to stderr, filtered by `RUST_LOG`
    /// (`info` by default); with `--otlp-endpoint`, also the request spans through OTLP,
    /// whose meter provider becomes the global one, for the server's metrics.
    pub fn init(command: &Command) -> anyhow::Result<Telemetry> {
        let logs = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()));
        let endpoint = match command {
            Command::Serve(args) => args.observe.otlp_endpoint.as_deref(),
            _ => None,
        };
        let Some(endpoint) = endpoint else {
            tracing_subscriber::registry().with(logs).init();
            return Ok(Telemetry { otlp: None });
        };
        let otlp = Otlp::builder()
            .service_name("billing")
            .endpoint(endpoint)
            .build()?;
        // The spans go out whatever `RUST_LOG` keeps of the logs: they are the requests'.
        let spans = otlp.layer().with_filter(LevelFilter::INFO);
        tracing_subscriber::registry().with(logs).with(spans).init();
        opentelemetry::global::set_meter_provider(otlp.meter_provider().clone());
        tracing::info!(
            endpoint = %crate::cli::without_password(endpoint),
            "exporting traces and metrics through OTLP/HTTP"
        );
        Ok(Telemetry { otlp: Some(otlp) })
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(otlp) = self.otlp.take()
            && let Err(err) = otlp.shutdown()
        {
            tracing::warn!(error = %err, "OTLP: what was left could not be sent");
        }
    }
}

/// Options of `billing serve` for metrics and traces. Its `Debug` output hides a password in
/// the collector's URL.
#[derive(Clone, Args)]
pub struct ObserveArgs {
    /// Serve this server's metrics as Prometheus text at `/metrics` on this address, e.g.
    /// `127.0.0.1:9464`: a listener of its own, apart from the MCP endpoint, where nobody is
    /// asked for a token. Keep it on loopback or a private network that only the scraper
    /// reaches (a warning is logged otherwise). Off without it.
    #[arg(long, env = "BILLING_METRICS_ADDR", value_name = "HOST:PORT")]
    pub metrics_addr: Option<SocketAddr>,
    /// Export traces and metrics through OTLP/HTTP to this collector, e.g.
    /// `http://127.0.0.1:4318`. The standard `OTEL_*` variables apply besides (headers,
    /// service name, resource attributes, sampler). Off without it.
    // The URL may hold a password: `--help` must not show the variable's value.
    #[arg(
        long,
        env = "BILLING_OTLP_ENDPOINT",
        value_name = "URL",
        hide_env_values = true
    )]
    pub otlp_endpoint: Option<String>,
}

impl ObserveArgs {
    /// The metrics to record: some when they are served or exported, `None` otherwise (a
    /// server without metrics does no work for them). With `--otlp-endpoint` they are
    /// recorded on the global meter too, which [`Telemetry::init`] points at the collector.
    pub fn metrics(&self) -> Option<Metrics> {
        if self.otlp_endpoint.is_some() {
            let meter = opentelemetry::global::meter(METER);
            return Some(Metrics::builder().meter(meter).build());
        }
        self.metrics_addr.map(|_| Metrics::new())
    }
}

impl fmt::Debug for ObserveArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ObserveArgs {
            metrics_addr,
            otlp_endpoint,
        } = self;
        f.debug_struct("ObserveArgs")
            .field("metrics_addr", metrics_addr)
            .field(
                "otlp_endpoint",
                &otlp_endpoint.as_deref().map(crate::cli::without_password),
            )
            .finish()
    }
}

/// The metrics endpoint of `--metrics-addr`, bound.
pub(crate) struct MetricsEndpoint {
    listener: TcpListener,
    router: Router,
}

impl MetricsEndpoint {
    /// Binds `addr` for `metrics`. Logs a warning when `addr` is not loopback: the endpoint
    /// asks nobody for a token.
    pub(crate) async fn bind(addr: SocketAddr, metrics: &Metrics) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (--metrics-addr)"))?;
        let bound = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            tracing::warn!(
                %bound,
                "--metrics-addr is not a loopback address: anyone who reaches it reads the \
                 metrics, without a token; keep it on a private network only the scraper reaches"
            );
        }
        tracing::info!(%bound, "Prometheus metrics at http://{bound}{METRICS_PATH} (no authentication)");
        Ok(MetricsEndpoint {
            listener,
            router: metrics_router(metrics),
        })
    }

    /// The address the endpoint listens on.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves the endpoint in a task of its own until [`Serving::stop`].
    pub(crate) fn spawn(self) -> Serving {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(mcp_auth_runtime::serve_with(
            self.listener,
            self.router,
            mcp_auth_runtime::ServeConfig::new(),
            until_true(stopped),
        ));
        Serving { stop, task }
    }
}

/// Completes when `flag` turns true, or when its sender is gone.
async fn until_true(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|stop| *stop).await;
}

/// The metrics endpoint, serving.
pub(crate) struct Serving {
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Serving {
    /// Stops serving, once the scrapes in flight are answered.
    pub(crate) async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// `GET /metrics`: the Prometheus text of `metrics`.
fn metrics_router(metrics: &Metrics) -> Router {
    metrics.router(METRICS_PATH)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::{Cli, Command, ServeArgs};

    fn serve(args: &[&str]) -> ServeArgs {
        match Cli::try_parse_from([&["billing"], args].concat())
            .unwrap()
            .into_command()
        {
            Command::Serve(args) => args,
            _ => panic!("serve is the default command"),
        }
    }

    #[test]
    fn metrics_are_off_without_either_flag() {
        assert!(serve(&[]).observe.metrics().is_none());
        let args = serve(&["--metrics-addr", "127.0.0.1:9464"]);
        assert_eq!(
            args.observe.metrics_addr,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert!(args.observe.metrics().is_some());
        let args = serve(&["--otlp-endpoint", "http://127.0.0.1:4318"]);
        assert!(args.observe.metrics().is_some());
        assert!(Cli::try_parse_from(["billing", "--metrics-addr", "9464"]).is_err());
    }

    #[test]
    fn the_collector_password_is_not_shown_by_debug() {
        let args = serve(&[
            "--otlp-endpoint",
            "https://user:collector-pw@otel.internal:4318",
        ]);
        let debug = format!("{args:?}");
        assert!(!debug.contains("collector-pw"), "{debug}");
        assert!(
            debug.contains("https://[redacted]@otel.internal:4318"),
            "{debug}"
        );
        use clap::CommandFactory as _;
        let command = Cli::command();
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_id() == "otlp_endpoint")
            .unwrap();
        assert!(arg.is_hide_env_values_set(), "`--help` shows the URL");
    }
}
