//! `resources/list`, `resources/templates/list` and `resources/read`.
//!
//! A read is resolved to the one resource serving its URI and refused with `403` before the
//! handler runs when the caller lacks that resource's scopes. The handler may ask for input
//! as a tool does: in 2026-07-28 the read then answers an `InputRequiredResult` whose
//! `requestState` is bound to `resources/read`, the resource, the URI and the caller; in the
//! handshake era the requests travel on the read's stream. A scope refusal the handler itself
//! raises is still a `403`.

use http::StatusCode;
use serde_json::json;
use serde_json::value::RawValue;
use tracing::Instrument;

use super::events::{CallKind, CallOutcome, observed};
use super::reply::{Reply, error, forbidden, respond};
use super::{Dispatcher, Era, RequestCtx};
use crate::authorize::Declared;
use crate::input::arguments_digest;
use crate::jsonrpc::{ErrorResponse, Request, code};
use crate::observe::trace;

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
        let kind = CallKind::ResourceRead;
        let slot = ctx.outcome.as_ref();
        let mut observation = self.observe(kind, resource.name(), Some(uri), || None, &auth, slot);
        // With conditional scopes, the guard inside the function decides, after binding the
        // variables, naming every scope the read needs in one refusal.
        if resource.conditional_scopes().is_empty()
            && let Err(err) = trace::authorize(resource.scopes(), || {
                self.scopes.require(&auth, resource.scopes())
            })
        {
            observed(&mut observation, CallOutcome::Forbidden);
            return forbidden(request, resource.name(), &auth, err);
        }
        let principal = auth.principal_key();
        let mut read_uri = serde_json::Map::new();
        read_uri.insert("uri".into(), uri.into());
        let digest = arguments_digest(Some(&read_uri));
        let declared = Declared {
            name: resource.name(),
            scopes: resource.scopes(),
            conditional: resource.conditional_scopes(),
        };
        let (call, binding) = match self
            .asking_context(
                request,
                ctx,
                "resources/read",
                declared,
                principal,
                digest,
                &mut observation,
            )
            .await
        {
            Ok(asking) => asking,
            Err(refused) => return refused,
        };
        let handler = (resource.handler())(call, read)
            .instrument(trace::body_span("resource", resource.name()));
        let not_found = || not_found(request, uri);
        let contents = match self
            .run_asking(
                request,
                resource.name(),
                &auth,
                &mut observation,
                handler,
                not_found,
                binding.as_ref(),
            )
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
pub(super) fn not_found(request: &Request, uri: &str) -> Reply {
    let body = ErrorResponse::new(
        Some(request.id.clone()),
        code::INVALID_PARAMS,
        "Resource not found",
    )
    .with_data(json!({ "uri": uri }))
    .to_bytes();
    Reply::Json(StatusCode::OK, body)
}
