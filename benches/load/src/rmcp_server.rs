//! (c) and (d): the official Rust SDK (`rmcp`), Streamable HTTP in stateless mode with JSON
//! responses, the same two tools; (d) adds an axum middleware doing the per-request JWT check
//! of [`crate::jwt`].

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::billing::{Invoice, Store};
use crate::jwt::{Checker, Claims};

#[derive(Clone)]
struct Billing {
    store: Arc<Store>,
    tool_router: ToolRouter<Billing>,
}

#[derive(Deserialize, JsonSchema)]
struct InvoiceId {
    /// The invoice id, e.g. INV-2041
    invoice_id: String,
}

/// The caller's tenant and scopes, when the JWT middleware runs; without it, every caller is
/// tenant `acme` with every scope.
fn caller(ctx: &RequestContext<RoleServer>, scope: &str) -> Result<String, String> {
    let claims = ctx
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Claims>());
    match claims {
        None => Ok("acme".to_owned()),
        Some(claims) if claims.has_scope(scope) => {
            claims.tenant.clone().ok_or_else(|| "no tenant".to_owned())
        }
        Some(_) => Err(format!("insufficient scope: {scope}")),
    }
}

#[tool_router(router = tool_router)]
impl Billing {
    /// Look up an invoice.
    #[tool(
        description = "Look up an invoice.",
        annotations(read_only_hint = true)
    )]
    async fn lookup_invoice(
        &self,
        Parameters(InvoiceId { invoice_id }): Parameters<InvoiceId>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Invoice>, String> {
        let tenant = caller(&ctx, "invoices:read")?;
        found(self.store.get(&tenant, &invoice_id), &invoice_id)
    }

    /// Mark an invoice as voided.
    #[tool(
        description = "Mark an invoice as voided.",
        annotations(destructive_hint = true, idempotent_hint = true)
    )]
    async fn void_invoice(
        &self,
        Parameters(InvoiceId { invoice_id }): Parameters<InvoiceId>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Invoice>, String> {
        let tenant = caller(&ctx, "invoices:write")?;
        found(self.store.void(&tenant, &invoice_id), &invoice_id)
    }
}

/// The invoice a tool acted on, or the error the other servers answer too.
fn found(invoice: Option<Invoice>, invoice_id: &str) -> Result<Json<Invoice>, String> {
    invoice
        .map(Json)
        .ok_or_else(|| format!("invoice {invoice_id} not found"))
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Billing {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

async fn require_jwt(
    State(checker): State<Arc<Checker>>,
    mut request: Request,
    next: Next,
) -> Response {
    match checker.check(request.headers()) {
        Some(claims) => {
            request.extensions_mut().insert(claims);
            next.run(request).await
        }
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// Serves rmcp on `listener`; with `jwt`, behind the JWT middleware.
pub async fn serve(
    listener: tokio::net::TcpListener,
    jwt: Option<(String, String, String)>,
) -> anyhow::Result<()> {
    let store = Arc::new(Store::seeded());
    let service = StreamableHttpService::new(
        move || {
            Ok(Billing {
                store: store.clone(),
                tool_router: Billing::tool_router(),
            })
        },
        Arc::new(NeverSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true),
    );
    let mut router = axum::Router::new().route_service("/mcp", service);
    if let Some((jwks_url, issuer, resource)) = jwt {
        let checker = Arc::new(Checker::fetch(&jwks_url, &issuer, &resource).await?);
        router = router.layer(axum::middleware::from_fn_with_state(checker, require_jwt));
    }
    crate::serve_nodelay(listener, router).await
}
