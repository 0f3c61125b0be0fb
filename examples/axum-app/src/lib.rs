//! An existing axum application that gains an MCP endpoint: its own routes and middleware
//! (a request id and a timing log on every response, a `/healthz` of its own, static JSON),
//! the MCP endpoint under `/api/mcp`, and a route of its own, `/api/reports`, that requires
//! the `reports:export` scope of the same tokens. Tokens come from the embedded development
//! issuer (feature `dev-issuer`), on the same origin.
//!
//! The mounting recipe (see `McpServer`'s docs, "Mounting in an existing application"): the
//! prefix goes into the resource, `https://host/api/mcp`, and the server's router is merged,
//! never nested, so that its protected-resource metadata stays at the origin's
//! `/.well-known/oauth-protected-resource/api/mcp` where clients look for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use http::HeaderValue;
use mcp_auth_runtime::auth::JwtVerifier;
use mcp_auth_runtime::dev_issuer::{DevIssuer, MintRequest};
use mcp_auth_runtime::prelude::*;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

/// A quarterly report.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Report {
    /// The quarter, e.g. `2026-q3`.
    pub id: &'static str,
    /// A human-readable title.
    pub title: &'static str,
    /// Revenue in the quarter, in whole euros.
    pub revenue: u64,
}

/// Every report: what the MCP tools and the application's `/api/reports` answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Reports {
    /// The reports, oldest first.
    pub reports: Vec<Report>,
}

/// The reports every route of this example serves.
fn reports() -> Reports {
    Reports {
        reports: vec![
            Report {
                id: "2026-q3",
                title: "Third quarter",
                revenue: 1_250_000,
            },
            Report {
                id: "2026-q4",
                title: "Fourth quarter",
                revenue: 1_410_000,
            },
        ],
    }
}

/// List the quarterly reports.
#[tool(scope = "reports:read", read_only)]
async fn list_reports() -> Result<Reports, ToolError> {
    Ok(reports())
}

/// Export every report in full.
#[tool(scope = "reports:export", read_only)]
async fn export_reports() -> Result<Reports, ToolError> {
    Ok(reports())
}

/// The running example: its router, the resource its MCP endpoint protects, and tokens.
pub struct App {
    /// Everything this origin serves: the application, the MCP server and the issuer.
    pub router: Router,
    /// The MCP endpoint's URL, the audience of its tokens.
    pub resource: String,
    /// Tokens for the MCP endpoint and the application's scoped route.
    pub tokens: Tokens,
}

/// Tokens minted by the development issuer at start-up.
pub struct Tokens {
    /// `reports:read`: the MCP tool `list_reports`; refused by `/api/reports`.
    pub read_only: String,
    /// `reports:read reports:export`: everything, `/api/reports` included.
    pub exporter: String,
}

/// The application served at `origin` (`http://127.0.0.1:<port>`, a loopback address: the
/// development issuer refuses any other).
pub fn app(origin: &str) -> anyhow::Result<App> {
    let resource = format!("{origin}/api/mcp");
    let issuer = DevIssuer::builder(origin)
        .resource(&resource)
        .scopes(["reports:read", "reports:export"])
        .users([("alice", "acme")])
        .build()?;
    let verifier = JwtVerifier::builder(origin, &resource)
        .static_keys(issuer.jwks())
        .build()?;
    let server = McpServer::builder("reports", env!("CARGO_PKG_VERSION"))
        .tools(tools![list_reports, export_reports])
        .resource(&resource) // the prefix lives here: the endpoint is served at `/api/mcp`
        .authorization_server(origin)
        .verifier(verifier)
        .health_checks(false) // the application has a `/healthz` of its own
        .build()?;

    // A route of the application's own, behind the same tokens: `RequireScopes` answers a
    // caller without `reports:export` with the MCP endpoint's step-up challenge.
    let scoped = Router::new()
        .route("/api/reports", get(|| async { Json(reports()) }))
        .layer(server.require_scopes(["reports:export"]))
        .layer(server.bearer_auth().expect("authentication is on")); // runs first

    let application = Router::new()
        .route(
            "/",
            get(|| async { Json(json!({ "service": "reports", "mcp": "/api/mcp" })) }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/api/status",
            get(|| async { Json(json!({ "status": "green" })) }),
        )
        .merge(scoped)
        .merge(issuer.router());
    let router = server
        .merge_into(application)?
        .layer(middleware::from_fn(timing))
        .layer(middleware::from_fn(request_id));

    let mint = |scopes: &[&str]| {
        issuer.mint(MintRequest {
            subject: "alice".into(),
            tenant: Some("acme".into()),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            ..MintRequest::default()
        })
    };
    let tokens = Tokens {
        read_only: mint(&["reports:read"])?,
        exporter: mint(&["reports:read", "reports:export"])?,
    };
    Ok(App {
        router,
        resource,
        tokens,
    })
}

/// Numbers every response with `x-request-id`, as an application's own middleware would.
async fn request_id(request: Request, next: Next) -> Response {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert("x-request-id", HeaderValue::from(id));
    response
}

/// Logs each request's method, path, status and duration.
async fn timing(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
