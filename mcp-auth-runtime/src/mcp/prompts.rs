//! `prompts/list` and `prompts/get`.
//!
//! A get is refused with `403` before its arguments are looked at or its handler runs when
//! the caller lacks the prompt's scopes. The handler may ask for input
//! ([`ToolContext::ask`](crate::ToolContext::ask)) as a tool does: in 2026-07-28 the get then
//! answers an `InputRequiredResult` whose `requestState` is bound to `prompts/get`, the
//! prompt, its arguments and the caller; in the handshake era the requests travel on the
//! get's stream. It reports no progress, and a scope refusal it raises itself is still a
//! `403`.

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
use crate::prompt::{PromptArguments, PromptDef};

impl Dispatcher {
    /// `prompts/list`, paged and, when the server filters lists by scope, only what the
    /// caller may get.
    pub(super) fn list_prompts(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let page = match self.requested_page(request) {
            Ok(page) => page,
            Err(refused) => return refused,
        };
        let entries: Vec<&RawValue> = self
            .prompts
            .listed()
            .filter(|(def, _)| {
                !self.filter_tools || self.scopes.missing(&ctx.auth, def.scopes()).is_empty()
            })
            .map(|(_, entry)| entry)
            .collect();
        let modern = matches!(ctx.era, Era::Modern { .. });
        self.computed_page(request, modern, self.pages_of("prompts", &entries), page)
    }

    /// `prompts/get`: the prompt, its scopes, its arguments, then its handler.
    pub(super) async fn get_prompt(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let params = request.params.as_ref();
        let Some(name) = params.and_then(|p| p.get("name")).and_then(|n| n.as_str()) else {
            return error(
                request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                "invalid params: `name` must be a string",
            );
        };
        let Some(prompt) = self.prompts.get(name) else {
            return unknown_prompt(request, name);
        };
        let auth = ctx.auth.clone();
        // Copied for the hook only: a caller refused for scope costs no copy otherwise.
        let sent = || params?.get("arguments")?.as_object().cloned();
        let kind = CallKind::PromptGet;
        let slot = ctx.outcome.as_ref();
        let mut observation = self.observe(kind, prompt.name(), None, sent, &auth, slot);
        // With conditional scopes, the guard inside the function decides, after parsing the
        // arguments, naming every scope the get needs in one refusal.
        if prompt.conditional_scopes().is_empty()
            && let Err(err) = trace::authorize(prompt.scopes(), || {
                self.scopes.require(&auth, prompt.scopes())
            })
        {
            observed(&mut observation, CallOutcome::Forbidden);
            return forbidden(request, prompt.name(), &auth, err);
        }
        let arguments = match prompt_arguments(prompt, params.and_then(|p| p.get("arguments"))) {
            Ok(arguments) => arguments,
            Err(message) => {
                // A caller without the static scopes learns nothing of its arguments.
                if let Err(err) = self.scopes.require(&auth, prompt.scopes()) {
                    observed(&mut observation, CallOutcome::Forbidden);
                    return forbidden(request, prompt.name(), &auth, err);
                }
                observed(&mut observation, CallOutcome::InvalidArguments);
                return error(request, StatusCode::OK, code::INVALID_PARAMS, message);
            }
        };
        let principal = auth.principal_key();
        let digest = arguments_digest(
            params
                .and_then(|p| p.get("arguments"))
                .and_then(|a| a.as_object()),
        );
        let declared = Declared {
            name: prompt.name(),
            scopes: prompt.scopes(),
            conditional: prompt.conditional_scopes(),
        };
        let (call, binding) = match self
            .asking_context(
                request,
                ctx,
                "prompts/get",
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
        let handler = (prompt.handler())(call, arguments)
            .instrument(trace::body_span("prompt", prompt.name()));
        let not_found = || unknown_prompt(request, name);
        let mut result = match self
            .run_asking(
                request,
                prompt.name(),
                &auth,
                &mut observation,
                handler,
                not_found,
                binding.as_ref(),
            )
            .await
        {
            Ok(result) => result,
            Err(reply) => return reply,
        };
        if result.description.is_none() {
            result.description = prompt.description().map(str::to_owned);
        }
        tracing::debug!(
            prompt = prompt.name(),
            subject = auth.subject(),
            client_id = auth.client_id(),
            "prompt rendered"
        );
        match ctx.era {
            Era::Modern { .. } => {
                let mut json = json!(result);
                // Rendered afresh each time: no freshness is promised.
                json["ttlMs"] = 0.into();
                json["cacheScope"] = self.cache_scope.into();
                respond(request, &self.modern(json))
            }
            Era::Legacy { .. } => respond(request, &result),
        }
    }
}

/// The request's arguments, every one a declared argument given as a string: an argument the
/// prompt does not take is refused, as a tool refuses an unknown property, rather than
/// silently dropped.
fn prompt_arguments(
    prompt: &PromptDef,
    arguments: Option<&serde_json::Value>,
) -> Result<PromptArguments, String> {
    let arguments = PromptArguments::from_json(arguments)?;
    if let Some(unknown) = arguments
        .names()
        .find(|name| prompt.arguments().iter().all(|a| a.name != *name))
    {
        return Err(format!(
            "invalid params: prompt `{}` has no argument `{unknown}`",
            prompt.name()
        ));
    }
    Ok(arguments)
}

/// An unknown prompt is invalid params (`-32602`, MCP prompts §error handling), with the name
/// in `data`.
fn unknown_prompt(request: &Request, name: &str) -> Reply {
    let body = ErrorResponse::new(
        Some(request.id.clone()),
        code::INVALID_PARAMS,
        format!("Unknown prompt: {name}"),
    )
    .with_data(json!({ "name": name }))
    .to_bytes();
    Reply::Json(StatusCode::OK, body)
}
