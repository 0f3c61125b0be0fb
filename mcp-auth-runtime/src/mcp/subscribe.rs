//! Resource subscriptions: `resources/subscribe` and `resources/unsubscribe` (handshake era,
//! recorded in the caller's session) and the `resourceSubscriptions` of a 2026-07-28
//! `subscriptions/listen` (held by its stream).
//!
//! Subscribing is reading: a URI is accepted only if the caller could read it now, decided
//! by the very path `resources/read` takes (the resource serving it, its scopes, then its
//! handler, so that a resource that tells another tenant "not found" refuses that tenant's
//! subscription too). Every refusal comes before anything is recorded. Updates are
//! delivered only while the stream's token holds the resource's scopes (see
//! `updates::hub`).

use http::StatusCode;
use serde_json::{Value, json};

use super::reply::{Reply, error, forbidden, respond};
use super::{Dispatcher, Era, RequestCtx};
use crate::error::ToolError;
use crate::jsonrpc::{Request, code};
use crate::session::SessionError;

impl Dispatcher {
    /// `resources/subscribe`: checks the URI as a read would, then records it in the session.
    pub(super) async fn subscribe(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let (uri, session, store) = match self.subscription_of(request, ctx) {
            Ok(found) => found,
            Err(refused) => return refused,
        };
        if let Err(refused) = self.readable(request, ctx, &[uri]).await {
            return refused;
        }
        // Which of the resource's conditional scopes this token holds: what the read just
        // allowed may have depended on them, so delivery requires them of the stream's token
        // (which, in a session, may be another, narrower, token of the same principal).
        let held = self
            .resources
            .resolve(uri)
            .map(|(resource, _)| {
                let conditional = resource.conditional_scopes();
                let missing = self.scopes.missing(&ctx.auth, conditional);
                let held: Vec<&str> = conditional
                    .iter()
                    .copied()
                    .filter(|s| !missing.contains(s))
                    .collect();
                held.join(" ")
            })
            .unwrap_or_default();
        match store
            .subscribe(session, &ctx.auth, uri, &held, self.max_subscriptions)
            .await
        {
            Ok(true) => respond(request, &json!({})),
            Ok(false) => error(
                request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                format!(
                    "too many subscriptions: a session holds at most {}; unsubscribe first",
                    self.max_subscriptions
                ),
            ),
            Err(err) => session_failed(request, err),
        }
    }

    /// `resources/unsubscribe`: forgets the URI; harmless for one the session never held.
    pub(super) async fn unsubscribe(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let (uri, session, store) = match self.subscription_of(request, ctx) {
            Ok(found) => found,
            Err(refused) => return refused,
        };
        match store.unsubscribe(session, &ctx.auth, uri).await {
            Ok(()) => respond(request, &json!({})),
            Err(err) => session_failed(request, err),
        }
    }

    /// The URI of a (un)subscribe request and the session it goes to.
    fn subscription_of<'r>(
        &'r self,
        request: &'r Request,
        ctx: &'r RequestCtx,
    ) -> Result<(&'r str, &'r str, &'r crate::session::SessionStore), Reply> {
        let Some(uri) = request
            .params
            .as_ref()
            .and_then(|p| p.get("uri"))
            .and_then(Value::as_str)
        else {
            return Err(error(
                request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                "invalid params: `uri` must be a string",
            ));
        };
        match (&ctx.era, &self.sessions) {
            (
                Era::Legacy {
                    session: Some(session),
                },
                Some(store),
            ) => Ok((uri, session.id.as_str(), store.as_ref())),
            // Stateless: no session to hold a subscription nor a stream to deliver it on.
            _ => Err(error(
                request,
                StatusCode::OK,
                code::METHOD_NOT_FOUND,
                "method not found: resources/subscribe needs a session (this server is stateless)",
            )),
        }
    }

    /// Refuses unless the caller could read every one of `uris` now: one `403` naming every
    /// scope they require when it lacks any, decided before any handler runs; then each
    /// handler's own answer (not found for a URI it does not serve this caller).
    pub(super) async fn readable(
        &self,
        request: &Request,
        ctx: &RequestCtx,
        uris: &[&str],
    ) -> Result<(), Reply> {
        self.scoped(request, ctx, uris)?;
        self.read_each(request, ctx, uris).await
    }

    /// The part of [`readable`](Self::readable) that runs no handler: every URI is served by
    /// a resource, and the caller holds every scope they require.
    pub(super) fn scoped(
        &self,
        request: &Request,
        ctx: &RequestCtx,
        uris: &[&str],
    ) -> Result<(), Reply> {
        let mut required: Vec<String> = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        for uri in uris {
            let Some((resource, _)) = self.resources.resolve(uri) else {
                return Err(super::resources::not_found(request, uri));
            };
            for scope in resource.scopes() {
                if !required.iter().any(|s| s == scope) {
                    required.push((*scope).to_owned());
                }
            }
            for scope in self.scopes.missing(&ctx.auth, resource.scopes()) {
                if !missing.iter().any(|s| s == scope) {
                    missing.push(scope.to_owned());
                }
            }
        }
        if !missing.is_empty() {
            let err = ToolError::InsufficientScope { required, missing };
            return Err(forbidden(request, "resources/subscribe", &ctx.auth, err));
        }
        Ok(())
    }

    /// The part of [`readable`](Self::readable) that runs each URI's handler, as a read.
    pub(super) async fn read_each(
        &self,
        request: &Request,
        ctx: &RequestCtx,
        uris: &[&str],
    ) -> Result<(), Reply> {
        for uri in uris {
            // The read itself, under this request's id: its refusal is this request's.
            let read = Request {
                id: request.id.clone(),
                method: "resources/read".to_owned(),
                params: json!({ "uri": uri }).as_object().cloned(),
                arguments: None,
            };
            match self.read_resource(&read, ctx).await {
                Reply::Json(StatusCode::OK, body) if is_result(&body) => {}
                refused => return Err(refused),
            }
        }
        Ok(())
    }

    /// The `resourceSubscriptions` of a `subscriptions/listen`, each once, checked as
    /// [`scoped`](Self::scoped) (the caller then takes its stream slot, and only then are
    /// the handlers run, by [`read_each`](Self::read_each), so that a caller holding its
    /// maximum of streams cannot have up to `max_subscriptions` reads run per refused
    /// request); in the order asked, empty when it asks for none.
    pub(super) fn listen_uris(
        &self,
        request: &Request,
        ctx: &RequestCtx,
    ) -> Result<Vec<String>, Reply> {
        let asked = request
            .params
            .as_ref()
            .and_then(|p| p.get("notifications"))
            .and_then(|n| n.get("resourceSubscriptions"));
        let Some(asked) = asked.filter(|a| !a.is_null()) else {
            return Ok(Vec::new());
        };
        let invalid =
            |message: String| error(request, StatusCode::OK, code::INVALID_PARAMS, message);
        let Some(asked) = asked.as_array() else {
            return Err(invalid(
                "invalid params: `resourceSubscriptions` must be an array of URIs".into(),
            ));
        };
        let mut uris: Vec<&str> = Vec::with_capacity(asked.len().min(self.max_subscriptions));
        for uri in asked {
            let Some(uri) = uri.as_str() else {
                return Err(invalid(
                    "invalid params: `resourceSubscriptions` must be an array of URIs".into(),
                ));
            };
            if !uris.contains(&uri) {
                uris.push(uri);
            }
            if uris.len() > self.max_subscriptions {
                return Err(invalid(format!(
                    "too many subscriptions: a stream holds at most {}",
                    self.max_subscriptions
                )));
            }
        }
        if !uris.is_empty() && self.resources.is_empty() {
            return Err(super::resources::not_found(request, uris[0]));
        }
        self.scoped(request, ctx, &uris)?;
        Ok(uris.into_iter().map(str::to_owned).collect())
    }
}

/// Whether a JSON-RPC response is a result (not an error).
fn is_result(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| v.get("result").is_some())
}

fn session_failed(request: &Request, err: SessionError) -> Reply {
    match err {
        SessionError::NotFound => error(
            request,
            StatusCode::NOT_FOUND,
            code::INVALID_REQUEST,
            "unknown or expired session",
        ),
        err => {
            tracing::warn!("cannot record a subscription: {err}");
            error(
                request,
                StatusCode::SERVICE_UNAVAILABLE,
                code::INTERNAL_ERROR,
                "sessions are unavailable",
            )
        }
    }
}
