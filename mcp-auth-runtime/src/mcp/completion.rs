//! `completion/complete`: suggestions for a prompt's argument or a resource template's
//! variable.
//!
//! A completion can leak data (the ids of invoices, say), so it runs under the scopes of what
//! it completes: without every scope of the prompt or template (its conditional scopes
//! included), `403` before the completer runs. The completer sees the caller through its `ToolContext`, to suggest only what the
//! caller may see. An unknown prompt or template, and an argument it does not have, are
//! invalid params (`-32602`); an argument without a completer gets an empty completion.

use http::StatusCode;
use serde_json::{Value, json};

use super::reply::{Reply, error, forbidden, respond};
use super::{Dispatcher, Era, RequestCtx};
use crate::completion::{Completion, CompletionDef, CompletionRequest};
use crate::jsonrpc::{Request, code};
use crate::prompt::PromptArguments;
use crate::resource::ResourceUri;

/// What a `ref` names: its name for logs, the scopes a completion of it requires, its
/// arguments and its completers.
struct Target<'a> {
    name: &'static str,
    scopes: Vec<&'static str>,
    arguments: Vec<&'a str>,
    completion: Option<&'a CompletionDef>,
}

impl Dispatcher {
    /// Whether some prompt or resource template has a completer: the `completions`
    /// capability and method exist only then.
    pub(super) fn completes(&self) -> bool {
        self.prompts.defs().iter().any(|p| p.completion().is_some())
            || self
                .resources
                .defs()
                .iter()
                .any(|r| r.completion().is_some())
    }

    /// `completion/complete`: the prompt or template, its scopes, then the argument's
    /// completer.
    pub(super) async fn complete(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let params = request.params.as_ref();
        let invalid = |message: &str| error(request, StatusCode::OK, code::INVALID_PARAMS, message);
        let Some(reference) = params.and_then(|p| p.get("ref")) else {
            return invalid("invalid params: `ref` is required");
        };
        let Some(target) = self.target(reference) else {
            return invalid("invalid params: no prompt or resource template matches `ref`");
        };
        let auth = ctx.auth.clone();
        if let Err(err) = self.scopes.require(&auth, &target.scopes) {
            return forbidden(request, target.name, &auth, err);
        }
        let argument = params.and_then(|p| p.get("argument"));
        let (Some(name), Some(value)) = (
            argument.and_then(|a| a.get("name")).and_then(Value::as_str),
            argument
                .and_then(|a| a.get("value"))
                .and_then(Value::as_str),
        ) else {
            return invalid("invalid params: `argument` needs a string `name` and `value`");
        };
        if !target.arguments.contains(&name) {
            return invalid(&format!(
                "invalid params: `{}` has no argument `{name}`",
                target.name
            ));
        }
        let context = params
            .and_then(|p| p.get("context"))
            .and_then(|c| c.get("arguments"));
        let context = match PromptArguments::from_json(context) {
            Ok(context) => context,
            Err(message) => return invalid(&message),
        };
        let completion = match target.completion {
            Some(completion) if completion.arguments().any(|a| a == name) => {
                let call = self.detached_context(&auth, ctx.subject.clone());
                let handler =
                    (completion.handler)(call, CompletionRequest::new(name, value, context));
                // A completer that finds nothing suggests nothing.
                let not_found = || respond_completion(self, request, ctx, Completion::default());
                // Completions are not reported to the `on_call` hook: they run often (each
                // keystroke) and change nothing.
                let unobserved = &mut None;
                match self
                    .run_detached(request, target.name, &auth, unobserved, handler, not_found)
                    .await
                {
                    Ok(completion) => completion,
                    Err(reply) => return reply,
                }
            }
            _ => Completion::default(),
        };
        respond_completion(self, request, ctx, completion)
    }

    /// The prompt (`ref/prompt`, by name) or resource template (`ref/resource`, by its
    /// template text) a `ref` names.
    fn target(&self, reference: &Value) -> Option<Target<'_>> {
        let text = |key: &str| reference.get(key).and_then(Value::as_str);
        match text("type")? {
            "ref/prompt" => {
                let prompt = self.prompts.get(text("name")?)?;
                // Its conditional scopes too, as for a template (below).
                let scopes = prompt.scopes().iter().chain(prompt.conditional_scopes());
                Some(Target {
                    name: prompt.name(),
                    scopes: scopes.copied().collect(),
                    arguments: prompt.arguments().iter().map(|a| a.name).collect(),
                    completion: prompt.completion(),
                })
            }
            "ref/resource" => {
                let uri = text("uri")?;
                self.resources.defs().iter().find_map(|resource| {
                    let ResourceUri::Template(template) = resource.uri() else {
                        return None;
                    };
                    // Its conditional scopes too: which values a read would refuse without
                    // them is decided by conditions over the whole value, which a completer
                    // of a prefix cannot apply, so only a caller who could read every value
                    // may see them suggested.
                    let scopes = resource
                        .scopes()
                        .iter()
                        .chain(resource.conditional_scopes());
                    (template == uri).then(|| Target {
                        name: resource.name(),
                        scopes: scopes.copied().collect(),
                        arguments: variables(template),
                        completion: resource.completion(),
                    })
                })
            }
            _ => None,
        }
    }
}

/// The variables of a level-1 template, checked when the server was built.
fn variables(template: &str) -> Vec<&str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
        .collect()
}

fn respond_completion(
    dispatcher: &Dispatcher,
    request: &Request,
    ctx: &RequestCtx,
    completion: Completion,
) -> Reply {
    let result = json!({ "completion": completion.capped() });
    match ctx.era {
        Era::Modern { .. } => respond(request, &dispatcher.modern(result)),
        Era::Legacy { .. } => respond(request, &result),
    }
}
