//! The billing MCP server: the example application of mcp-auth.
//!
//! Invoices of several tenants live in SQLite; five tools, two resources and a prompt read and
//! change them behind OAuth 2.1 scopes, each query constrained to the tenant named by the
//! caller's token, and every call lands in an audit trail. `cargo run -p billing` serves it on <http://127.0.0.1:8000/mcp>
//! together with an embedded development authorization server; `--issuer` points it at a
//! real one. See the README next to `Cargo.toml` for the options.
//!
//! The binary is `main.rs`; this library exists so that the tests can build the same server
//! in-process:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use clap::Parser as _;
//!
//! let cli = billing::Cli::parse_from(["billing", "--port", "0", "--db", ":memory:"]);
//! let billing::Command::Serve(args) = cli.into_command() else { unreachable!() };
//! let server = billing::Server::bind(&args).await?;
//! println!("{}", server.banner());
//! server.serve(std::future::pending()).await?;
//! # Ok(()) }
//! ```

mod anonymous;
mod api_keys;
mod audit;
mod cli;
mod completions;
mod dev;
mod exchange;
mod observe;
mod payments;
mod prompts;
mod resources;
mod store;
mod tools;
mod verifier;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use mcp_auth_runtime::auth::{
    ApiKeys, ClientAuth, IntrospectionVerifier, JwtVerifier, VerifierChain,
};
use mcp_auth_runtime::dev_issuer::DevIssuer;
use mcp_auth_runtime::observe::audit::{JsonLinesSink, Tee};
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::rate_limit::{Quota, RateLimits};
use mcp_auth_runtime::session::RedisSessions;
use mcp_auth_runtime::{McpServerBuilder, ResourceDef, ToolDef};

pub use crate::cli::{
    API_KEYS_FILE, ApiKeyArgs, ApiKeyCommand, ApiKeyCreateArgs, Cli, Command, DataArgs, DpopMode,
    PaymentsArgs, SecretAuth, ServeArgs, TokenArgs,
};
pub use crate::observe::{METRICS_PATH, ObserveArgs, Telemetry};
use crate::payments::{PaymentsClient, PaymentsConfig, PaymentsLedger};
use crate::store::Store;
use crate::tools::{create_invoice, list_invoices, lookup_invoice, refund_invoice, void_invoice};
use crate::verifier::Verifier;

/// The path of the MCP endpoint.
const MCP_PATH: &str = "/mcp";

/// Runs a command of the binary.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let server = Server::bind(&args).await?;
            print_banner(server.banner());
            server.serve(shutdown_signal()).await?;
            Ok(())
        }
        Command::Token(args) => {
            let token = token(&args)?;
            print_banner(&format!("{token}\n"));
            Ok(())
        }
        Command::Payments(args) => {
            let (listener, router, audience) = payments_alone(&args).await?;
            print_banner(&format!("billing payments API listening on {audience}\n"));
            mcp_auth_runtime::serve_with(
                listener,
                router,
                mcp_auth_runtime::ServeConfig::new(),
                shutdown_signal(),
            )
            .await?;
            Ok(())
        }
        Command::Apikey(args) => {
            let output = api_keys::run(&args.command)?;
            print_banner(&output);
            Ok(())
        }
    }
}

/// `billing payments`: the payments API alone, bound, with the audience its tokens must name.
async fn payments_alone(
    args: &PaymentsArgs,
) -> anyhow::Result<(tokio::net::TcpListener, Router, String)> {
    let addr = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    let audience = args
        .audience
        .clone()
        .unwrap_or_else(|| format!("http://{addr}{}", payments::PATH));
    let mut verifier = JwtVerifier::builder(args.issuer.clone(), &audience)
        .scope_claim(args.scope_claim())
        .tenant_claim(args.tenant_claim.clone())
        .allow_untyped_tokens(args.allow_untyped_tokens);
    if let Some(jwks) = &args.jwks_url {
        verifier = verifier.jwks_url(jwks.clone());
    }
    let verifier = verifier.build()?;
    // The issuer may start after this process (the billing server's dev issuer): its keys
    // are fetched when the first token comes, and a failure here is only logged.
    if let Err(err) = verifier.warm_up().await {
        tracing::warn!(issuer = args.issuer, error = %err, "the issuer's keys are not available yet");
    }
    let ledger = PaymentsLedger::open(args.db_path()).await?;
    let config = PaymentsConfig {
        audience: audience.clone(),
        verifier,
        issuer: args.issuer.clone(),
    };
    Ok((listener, payments::router(config, ledger), audience))
}

/// `bytes` random bytes, hex: for secrets and idempotency keys.
pub(crate) fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[expect(
    clippy::print_stdout,
    reason = "the banner and the token are the program's output for its user"
)]
fn print_banner(text: &str) {
    print!("{text}");
}

/// Completes on Ctrl-C, or on SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// A billing server bound to its port, ready to serve.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: Router,
    resource: String,
    payments_url: String,
    issuer: Option<DevIssuer>,
    banner: String,
    limits: mcp_auth_runtime::ServeConfig,
    /// `--metrics-addr`: the Prometheus text, on a listener of its own.
    metrics: Option<observe::MetricsEndpoint>,
}

impl Server {
    /// Binds the listener, opens (and on first start creates) the database, and configures
    /// authentication: the embedded dev issuer unless `--issuer` or `--introspection-url` is
    /// given.
    pub async fn bind(args: &ServeArgs) -> anyhow::Result<Server> {
        if args.dev_issuer() {
            anyhow::ensure!(
                args.host.is_loopback(),
                "the development issuer serves loopback only, and --host {} is not a loopback \
                 address: use 127.0.0.1 or ::1, or pass --issuer with a real authorization \
                 server",
                args.host
            );
        }
        let addr = SocketAddr::new(args.host, args.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        let origin = format!("http://{addr}");
        let resource = args
            .resource
            .clone()
            .unwrap_or_else(|| format!("{origin}{MCP_PATH}"));

        let store = Store::open(args.db_path()).await?;
        // The payments API: in this process under `/payments` unless `--payments-url` names
        // another one; its tokens name its own audience, never this server's.
        let payments_in_process = args.payments_url.is_none();
        let payments_url = args
            .payments_url
            .clone()
            .unwrap_or_else(|| format!("{origin}{}", payments::PATH));
        let payments_audience = args
            .payments_audience
            .clone()
            .unwrap_or_else(|| payments_url.clone());
        let store = store.with_payments(PaymentsClient::new(&payments_url, &payments_audience)?);
        let tools = all_tools();
        let resources = all_resources();
        let prompts = prompts![prompts::payment_reminder];
        let audit = audit::SqliteSink::new(store.clone(), &tools, &resources, &prompts);
        let audit_arguments: Vec<&str> = audit::with_invoice_argument(&tools, &prompts).collect();
        let builder = McpServer::builder("billing", env!("CARGO_PKG_VERSION"));
        let store = store.with_updates(builder.notifier());
        let mut builder = builder
            .title("Billing")
            .instructions(
                "Invoices of the caller's tenant. Amounts are in cents. Ids look like INV-2041.",
            )
            .resource_name("Billing")
            .tools(tools)
            .resources(resources)
            .prompts(prompts)
            .state(store)
            .resource(&resource)
            .audit_arguments(audit_arguments)
            .max_streams_per_principal(args.limits.max_streams_per_principal);
        builder = match &args.audit_log {
            Some(path) => builder.audit(Tee::new(audit, audit_log(path)?)),
            None => builder.audit(audit),
        };
        if let Some(key) = &args.request_state_key {
            builder = builder.request_state_key(key.as_bytes());
        }
        for key in &args.previous_request_state_keys {
            builder = builder.previous_request_state_key(key.as_bytes());
        }
        if !args.baseline_scopes.is_empty() {
            builder = builder.baseline_scopes(args.baseline_scopes.iter().map(String::as_str));
        }
        builder = scale_out(builder, args).await?;
        let metrics = match args.observe.metrics() {
            Some(metrics) => {
                builder = builder.metrics(metrics.clone());
                match args.observe.metrics_addr {
                    Some(addr) => Some(observe::MetricsEndpoint::bind(addr, &metrics).await?),
                    None => None,
                }
            }
            None => None,
        };
        // Applied to the verification of every token, whichever issued it.
        builder = builder.dpop(args.dpop.config());
        tracing::info!(dpop = %args.dpop, "DPoP {}: {}", args.dpop, args.dpop.describe());

        let (builder, verifier, issuer, payments_verifier) = if args.dev_issuer() {
            anyhow::ensure!(
                args.exchange_client_id.is_none() && args.token_endpoint.is_none(),
                "--exchange-client-id and --token-endpoint are for a real authorization server \
                 (--issuer); the dev issuer has its own exchange client"
            );
            let data_dir = args.data.data_dir.clone();
            let (o, r, a) = (origin.clone(), resource.clone(), payments_audience.clone());
            let mut options = dev::Options {
                auto_consent: args.auto_consent,
                cors_origins: args.dev_cors_origins.clone(),
                dpop: args.dpop,
                payments: None,
            };
            let (issuer, secret) = tokio::task::spawn_blocking(move || {
                let secret = dev::exchange_secret(&data_dir)?;
                options.payments = Some((a, secret.clone()));
                anyhow::Ok((dev::issuer(&o, &r, &data_dir, &options)?, secret))
            })
            .await??;
            let verifier = args
                .token_cache(JwtVerifier::builder(&origin, &resource))
                .static_keys(issuer.jwks())
                .tenant_claim("tenant")
                .build()?;
            let payments_verifier = args
                .token_cache(JwtVerifier::builder(&origin, &payments_audience))
                .static_keys(issuer.jwks())
                .tenant_claim("tenant")
                .build()?;
            let builder = builder
                .authorization_server(&origin)
                .token_exchange(exchange::dev(&origin, &secret)?);
            (
                builder,
                Verifier::Jwt(verifier),
                Some(issuer),
                Some((origin.clone(), payments_verifier)),
            )
        } else {
            let (mut builder, verifier) = external_auth(builder, args, &resource).await?;
            if let Some(exchange) = exchange::external(args).await? {
                builder = builder.token_exchange(exchange);
            }
            let payments_verifier = match &args.issuer {
                Some(issuer) if payments_in_process => {
                    let mut verifier = args
                        .token_cache(JwtVerifier::builder(issuer.clone(), &payments_audience))
                        .scope_claim(args.scope_claim())
                        .tenant_claim(args.tenant_claim.clone())
                        .allow_untyped_tokens(args.allow_untyped_tokens);
                    if let Some(jwks) = &args.jwks_url {
                        verifier = verifier.jwks_url(jwks.clone());
                    }
                    Some((issuer.clone(), verifier.build()?))
                }
                _ => None,
            };
            (builder, verifier, None, payments_verifier)
        };
        // API keys first, by their prefix; every other credential goes to the token verifier.
        let keys_path = args.api_keys_path();
        let keys = ApiKeys::from_file(&keys_path)
            .with_context(|| format!("cannot load the API keys of {}", keys_path.display()))?;
        let verifier = verifier.otherwise_in(VerifierChain::new().api_keys(keys));
        let server = builder.verifier(verifier).build()?;
        let payments_line = match (&payments_verifier, payments_in_process) {
            (Some(_), true) => format!("Payments API: {payments_url} (in this process)"),
            (None, true) => {
                "Payments API: none (it needs --issuer or --payments-url): refunds fail".to_owned()
            }
            (_, false) => format!("Payments API: {payments_url} (audience {payments_audience})"),
        };
        let banner = match &issuer {
            Some(issuer) => dev::banner(
                issuer,
                &resource,
                &describe(&server),
                args.dpop,
                &payments_line,
            )?,
            None => format!(
                "billing MCP server listening on {resource}\n{}\n{}\nAuthorization server: {}\n{payments_line}\n",
                // Behind a proxy, or with another `--resource`, the address is not the URI.
                match format!("{origin}{MCP_PATH}") {
                    bound if bound != resource => format!("Bound to {bound}\n"),
                    _ => String::new(),
                },
                describe(&server),
                server
                    .metadata()
                    .map(|m| m.authorization_servers.join(" "))
                    .unwrap_or_default()
            ),
        };

        let mut router = server.into_router();
        if let Some(issuer) = &issuer {
            router = router.merge(issuer.router());
        }
        if let (Some((issuer, verifier)), true) = (payments_verifier, payments_in_process) {
            // Its own database: the payments API stands for another service.
            let db = match args.db_path().as_str() {
                ":memory:" => ":memory:".to_owned(),
                _ => args
                    .data
                    .data_dir
                    .join(payments::DB_FILE)
                    .to_string_lossy()
                    .into_owned(),
            };
            let config = PaymentsConfig {
                audience: payments_audience.clone(),
                verifier,
                issuer,
            };
            router = router.merge(payments::router(config, PaymentsLedger::open(db).await?));
        }
        Ok(Server {
            listener,
            router,
            resource,
            payments_url,
            issuer,
            banner,
            limits: args.limits.serve_config(),
            metrics,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The address of the Prometheus text (`--metrics-addr`), when it is served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .map(observe::MetricsEndpoint::local_addr)
    }

    /// The MCP endpoint's canonical URI: the audience of its tokens.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The URL of the payments API refunds are recorded at.
    pub fn payments_url(&self) -> &str {
        &self.payments_url
    }

    /// The embedded development issuer, when it runs.
    pub fn dev_issuer(&self) -> Option<&DevIssuer> {
        self.issuer.as_ref()
    }

    /// What the binary prints at start: the endpoint, the tools and, with the dev issuer, two
    /// tokens and a `curl` command.
    pub fn banner(&self) -> &str {
        &self.banner
    }

    /// Serves until `shutdown` completes, then lets in-flight calls finish, with the
    /// connection-level limits of the command line; the metrics endpoint too, until the MCP
    /// endpoint has stopped.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let metrics = self.metrics.map(observe::MetricsEndpoint::spawn);
        let served =
            mcp_auth_runtime::serve_with(self.listener, self.router, self.limits, shutdown).await;
        if let Some(metrics) = metrics {
            metrics.stop().await?;
        }
        served
    }
}

/// Creates `dir` and its parents; a new directory is owner-only, since it holds the database
/// and the dev issuer's signing key.
pub(crate) fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The JSON-lines audit file of `--audit-log`, in an owner-only directory.
fn audit_log(path: &std::path::Path) -> anyhow::Result<JsonLinesSink> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    JsonLinesSink::builder(path)
        .build()
        .with_context(|| format!("cannot open the audit log {}", path.display()))
}

/// One line per tool, with its scopes.
fn describe(server: &McpServer) -> String {
    server
        .tools()
        .iter()
        .map(|tool| format!("  {:<16} {}\n", tool.name(), tool.scopes().join(" ")))
        .collect()
}

/// Sessions and rate limits: shared through `--redis-url` by every replica, or kept here.
async fn scale_out(
    mut builder: McpServerBuilder,
    args: &ServeArgs,
) -> anyhow::Result<McpServerBuilder> {
    let redis = match &args.redis_url {
        Some(url) => {
            let client = redis::Client::open(url.as_str()).context("invalid --redis-url")?;
            // Not the URL: it may carry a password.
            let sessions = RedisSessions::connect(client)
                .await
                .context("cannot connect to Redis (--redis-url)")?;
            tracing::info!("sessions and rate limits are shared through Redis");
            builder = builder.redis_sessions(sessions.clone());
            Some(sessions)
        }
        None => None,
    };
    if args.rate_limit.is_none() && args.tool_rate_limits.is_empty() {
        return Ok(builder);
    }
    let mut limits = match &redis {
        Some(sessions) => RateLimits::redis(sessions.connection()),
        None => RateLimits::local(),
    };
    if let Some(per_minute) = args.rate_limit {
        limits = limits.requests(Quota::per_minute(per_minute));
    }
    for (tool, per_minute) in &args.tool_rate_limits {
        limits = limits.tool(tool.clone(), Quota::per_minute(*per_minute));
    }
    Ok(builder.rate_limits(limits))
}

/// JWT validation against `--issuer`, or introspection at `--introspection-url`.
async fn external_auth(
    builder: McpServerBuilder,
    args: &ServeArgs,
    resource: &str,
) -> anyhow::Result<(McpServerBuilder, Verifier)> {
    if let Some(endpoint) = &args.introspection_url {
        let mut verifier = IntrospectionVerifier::builder(endpoint.clone(), resource)
            .scope_claim(args.scope_claim())
            .tenant_claim(args.tenant_claim.clone());
        if let Some(issuer) = &args.issuer {
            verifier = verifier.issuer(issuer.clone());
        }
        if let (Some(id), Some(secret)) = (&args.client_id, &args.client_secret) {
            verifier = verifier.client_credentials(id.clone(), secret.clone(), ClientAuth::Basic);
        }
        if let Some(capacity) = args.token_cache_capacity {
            verifier = verifier.cache_capacity(capacity);
        }
        let mut builder = builder;
        if let Some(issuer) = &args.issuer {
            builder = builder.authorization_server(issuer.clone());
        }
        return Ok((builder, Verifier::Introspection(verifier.build()?)));
    }
    let issuer = args
        .issuer
        .clone()
        .context("--issuer or --introspection-url is required without the dev issuer")?;
    let mut verifier = args
        .token_cache(JwtVerifier::builder(issuer.clone(), resource))
        .scope_claim(args.scope_claim())
        .tenant_claim(args.tenant_claim.clone())
        .allow_untyped_tokens(args.allow_untyped_tokens);
    if let Some(jwks) = &args.jwks_url {
        verifier = verifier.jwks_url(jwks.clone());
    }
    let verifier = verifier.build()?;
    // Fail at start-up, not on the first request, when the issuer is unreachable.
    let keys = verifier
        .warm_up()
        .await
        .with_context(|| format!("cannot fetch the signing keys of {issuer}"))?;
    tracing::info!(issuer, keys, "validating JWT access tokens");
    Ok((
        builder.authorization_server(issuer),
        Verifier::Jwt(verifier),
    ))
}

/// `billing token`: a development token signed by the persisted dev issuer key (created if
/// missing), for the resource `http://HOST:PORT/mcp`.
pub fn token(args: &TokenArgs) -> anyhow::Result<String> {
    let origin = format!("http://{}", SocketAddr::new(args.host, args.port));
    let resource = format!("{origin}{MCP_PATH}");
    let issuer = dev::issuer(
        &origin,
        &resource,
        &args.data.data_dir,
        &dev::Options::default(),
    )?;
    let scopes: Vec<&str> = args
        .scopes
        .iter()
        .flat_map(|s| s.split_whitespace())
        .collect();
    let tenant = (!args.no_tenant).then_some(args.tenant.as_str());
    dev::mint(
        &issuer,
        &args.subject,
        tenant,
        &scopes,
        args.client_id.as_deref(),
        args.lifetime,
        args.dpop_jkt.as_deref(),
    )
}

/// The resources of the billing server.
fn all_resources() -> Vec<ResourceDef> {
    resources![resources::invoice, resources::summary]
}

/// The tools of the billing server.
fn all_tools() -> Vec<ToolDef> {
    tools![
        list_invoices,
        lookup_invoice,
        create_invoice,
        void_invoice,
        refund_invoice
    ]
}
