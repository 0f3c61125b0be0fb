//! `resources/list`, `resources/templates/list` and `resources/read`.
//!
//! A read is resolved to the one resource serving its URI and refused with `403` before the
//! handler runs when the caller lacks that resource's scopes. The handler gets no channel to
//! the client (no progress, logs or requests for input), so a read is always answered with
//! one JSON response, and a scope refusal the handler itself raises is still a `403`.

use http::StatusCode;
use serde_json::json;
use serde_json::value::RawValue;

use super::reply::{Reply, error, forbidden, respond};
use super::{Dispatcher, Era, RequestCtx};
use crate::jsonrpc::{ErrorResponse, Request, code};

impl Dispatcher {
    /// `resources/list` (`templates == false`) or `resources/templates/list`, paged and,
    /// when the server filters lists by scope, only what the caller may read.
    pub(super) fn list_resources(
        &self,
        request: &Request,
        ctx: &RequestCtx,
        templates: bool,
    ) -> Reply {
        let page = match self.requested_page(request) {
            Ok(page) => page,
            Err(refused) => return refused,
        };
        let entries: Vec<&RawValue> = self
            .resources
            .listed(templates)
            .filter(|(def, _)| {
                !self.filter_tools || self.scopes.missing(&ctx.auth, def.scopes()).is_empty()
            })
            .map(|(_, entry)| entry)
            .collect();
        let key = if templates {
            "resourceTemplates"
        } else {
            "resources"
        };
        let modern = matches!(ctx.era, Era::Modern { .. });
        self.computed_page(request, modern, self.pages_of(key, &entries), page)
    }

    /// `resources/read`: the resource serving the URI, its scopes, then its handler.
    pub(super) async fn read_resource(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let Some(uri) = request
            .params
            .as_ref()
            .and_then(|p| p.get("uri"))
            .and_then(|u| u.as_str())
        else {
            return error(
                request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                "invalid params: `uri` must be a string",
            );
        };
        let Some((resource, read)) = self.resources.resolve(uri) else {
            return not_found(request, uri);
        };
        let auth = ctx.auth.clone();
        if let Err(err) = self.scopes.require(&auth, resource.scopes()) {
            return forbidden(request, resource.name(), &auth, err);
        }
        let call = self.detached_context(&auth);
        let handler = (resource.handler())(call, read);
        let contents = match self
            .run_detached(request, resource.name(), &auth, handler, || {
                not_found(request, uri)
            })
            .await
        {
            Ok(contents) => contents,
            Err(reply) => return reply,
        };
        tracing::debug!(
            resource = resource.name(),
            subject = auth.subject(),
            client_id = auth.client_id(),
            "resource read"
        );
        match ctx.era {
            Era::Modern { .. } => respond(
                request,
                &self.modern(json!({
                    "contents": contents,
                    // Contents are read afresh each time: no freshness is promised.
                    "ttlMs": 0,
                    "cacheScope": self.cache_scope,
                })),
            ),
            Era::Legacy { .. } => respond(request, &json!({ "contents": contents })),
        }
    }
}

/// SEP-2164: an unknown resource is invalid params (`-32602`), with the URI in `data`;
/// never an empty `contents`.
fn not_found(request: &Request, uri: &str) -> Reply {
    let body = ErrorResponse::new(
        Some(request.id.clone()),
        code::INVALID_PARAMS,
        "Resource not found",
    )
    .with_data(json!({ "uri": uri }))
    .to_bytes();
    Reply::Json(StatusCode::OK, body)
}
