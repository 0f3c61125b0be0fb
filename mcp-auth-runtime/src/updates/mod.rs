//! Resource updates: what application code publishes ([`Notifier`]) and how it reaches the
//! clients that subscribed ([`hub`]). The methods that subscribe live in `mcp::subscribe`;
//! the guide is the "Subscriptions" section of `docs/resources.md`.

mod hub;

pub(crate) use hub::{Hub, Registration, Target, Update};

use std::sync::Arc;

/// Wires the hub to the built server, and to the Redis relay when sessions live there.
pub(crate) fn attach(hub: &Arc<Hub>, endpoint: &Arc<crate::http::Endpoint>) {
    hub.attach(endpoint);
    endpoint
        .mcp
        .calls
        .updates
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arc::downgrade(hub));
}

/// Publishes resource updates to the clients that subscribed to them: a cheap, cloneable
/// handle, obtained from [`McpServerBuilder::notifier`](crate::McpServerBuilder::notifier)
/// (before the server is built, to put it in the server's state where tools reach it) or
/// from [`McpServer::notifier`](crate::McpServer::notifier).
///
/// Publishing never waits and never fails: the update is delivered in the background to
/// every open stream that subscribed to the URI, in this process or, with
/// [`RedisSessions`](crate::session::RedisSessions), in any replica. A stream whose reader is
/// behind loses the update (with a warning in the log) rather than slowing anyone down; a
/// client learns of an update, never its content, and reads the resource again with its own
/// token. Nothing is sent for a URI no resource of the server serves.
///
/// ```
/// use mcp_auth_runtime::prelude::*;
/// use mcp_auth_runtime::Notifier;
///
/// #[derive(Clone)]
/// struct Billing {
///     updates: Notifier,
/// }
///
/// /// Void an invoice.
/// #[tool(scope = "invoices:write")]
/// async fn void_invoice(ctx: ToolContext<Billing>, invoice_id: String) -> Result<String, ToolError> {
///     // ... void it, then tell the subscribers of `invoice://{invoice_id}`:
///     ctx.state().updates.resource_updated(&format!("invoice://{invoice_id}"));
///     Ok(format!("voided {invoice_id}"))
/// }
///
/// let builder = McpServer::builder("billing", "1.0.0");
/// let updates = builder.notifier();
/// let server = builder
///     .state(Billing { updates })
///     .tools(tools![void_invoice])
///     .without_auth()
///     .build()
///     .expect("valid configuration");
/// // Code outside tools publishes through the server as well:
/// server.notifier().resource_updated("invoice://INV-1");
/// ```
#[derive(Clone)]
pub struct Notifier {
    hub: Arc<Hub>,
}

impl Notifier {
    pub(crate) fn new(hub: Arc<Hub>) -> Self {
        Notifier { hub }
    }

    /// Tells the subscribers of `uri` that the resource changed
    /// (`notifications/resources/updated`).
    ///
    /// Every subscriber that may read the URI's resource is told. When the same URI names
    /// different data for different tenants (`invoice://INV-7` of each tenant, say), use
    /// [`resource_updated_in_tenant`](Self::resource_updated_in_tenant): otherwise an update
    /// of one tenant's resource tells the subscribers of the other tenants' that something
    /// changed.
    pub fn resource_updated(&self, uri: &str) {
        self.publish(uri, None, None);
    }

    /// As [`resource_updated`](Self::resource_updated), with the resource's `title` in the
    /// notification (MCP 2025-11-25 and later allow one).
    pub fn resource_updated_with_title(&self, uri: &str, title: &str) {
        self.publish(uri, Some(title), None);
    }

    /// Tells the subscribers of `uri` whose token names `tenant`
    /// ([`AuthInfo::tenant`](crate::auth::AuthInfo::tenant)) that the resource changed; no
    /// one else learns of the update.
    pub fn resource_updated_in_tenant(&self, uri: &str, tenant: &str) {
        self.publish(uri, None, Some(tenant));
    }

    fn publish(&self, uri: &str, title: Option<&str>, tenant: Option<&str>) {
        self.hub.publish(Update {
            id: crate::random::token(16),
            uri: uri.to_owned(),
            title: title.map(str::to_owned),
            tenant: tenant.map(str::to_owned),
        });
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}
