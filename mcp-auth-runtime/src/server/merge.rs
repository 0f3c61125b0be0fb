//! [`McpServer::merge_into`](super::McpServer::merge_into): this server's routes added to an
//! application's router one at a time, so that a collision names the route and the option
//! that turns ours off.

use std::panic::{AssertUnwindSafe, catch_unwind};

use axum::Router;
use axum::routing::MethodRouter;

/// One of this server's routes, with its layers.
pub(super) struct OurRoute {
    pub(super) path: String,
    pub(super) route: MethodRouter,
    owner: Owner,
}

impl OurRoute {
    pub(super) fn new(path: String, route: MethodRouter, owner: Owner) -> Self {
        OurRoute { path, route, owner }
    }
}

/// What a route serves, which says how to resolve a collision with it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Owner {
    Endpoint,
    Metadata,
    Health,
}

impl Owner {
    fn remedy(self) -> &'static str {
        match self {
            Owner::Endpoint => {
                "serve the MCP endpoint elsewhere (the resource's path, or `.path(..)` on the \
                 builder), or move your route"
            }
            Owner::Metadata => {
                "the protected-resource metadata (RFC 9728) is served by the MCP server from its \
                 configuration: remove your route"
            }
            Owner::Health => {
                "turn the server's probes off with `.health_checks(false)` on its builder, or \
                 move your route"
            }
        }
    }
}

/// Why [`McpServer::merge_into`](super::McpServer::merge_into) refused to merge: the
/// application already serves one of the server's paths, for one of the same methods.
#[derive(Debug, thiserror::Error)]
#[error("your router already serves `{path}`, which the MCP server serves too: {remedy}")]
pub struct RouteConflict {
    path: String,
    remedy: &'static str,
}

impl RouteConflict {
    /// The path both routers serve.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// `app` with `ours` added, or the conflict axum reports by panicking. Any other panic is
/// not a conflict and goes on unwinding.
pub(super) fn add_route(app: Router, ours: OurRoute) -> Result<Router, RouteConflict> {
    let OurRoute { path, route, owner } = ours;
    // Unwind safety: on a panic the half-built router is dropped with the error; nothing
    // else was touched.
    let added = catch_unwind(AssertUnwindSafe(|| app.route(&path, route)));
    added.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("");
        // axum's words for the two ways a route can collide with one already there.
        if !(message.contains("Overlapping method route")
            || message.contains("conflict with previously registered route"))
        {
            std::panic::resume_unwind(panic);
        }
        RouteConflict {
            path,
            remedy: owner.remedy(),
        }
    })
}
