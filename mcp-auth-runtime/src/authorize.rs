//! Scopes that depend on the call: the conditions `require(scope = .., when = ..)` declares,
//! the scopes a handler may check itself (`may_require`), and the tool result that refuses a
//! call whose response has already started.
//!
//! The decision the generated guard takes is, in order: parse the arguments (a call whose
//! arguments do not parse is refused for the static scopes first, then answered as invalid
//! arguments), then authorize (the static scopes and those of every condition that holds, in
//! one check, so that one refusal names them all), then run the body. See the guide's
//! "Scopes that depend on the arguments" in `docs/authorization.md`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde_json::{Map, json};

use crate::context::{CallContext, ToolContext};
use crate::error::ToolError;
use crate::result::CallToolResult;

/// One `require(scope = .., when = ..)` as the guard evaluates it: its scopes, and whether its
/// condition holds for this call.
#[derive(Debug, Clone, Copy)]
pub struct Condition {
    scopes: &'static [&'static str],
    applies: bool,
}

impl Condition {
    /// The scopes `scopes`, required when `applies`.
    pub fn new(scopes: &'static [&'static str], applies: bool) -> Self {
        Condition { scopes, applies }
    }
}

/// The guard `#[tool]` and `#[resource]` insert when conditions are declared: refuses unless
/// the caller holds every scope of `scopes` and of each condition that applies, naming all of
/// them in one refusal.
pub fn authorize<S>(
    ctx: &ToolContext<S>,
    scopes: &[&'static str],
    conditions: &[Condition],
) -> Result<(), ToolError> {
    let mut required: Vec<&str> = scopes.to_vec();
    for condition in conditions.iter().filter(|c| c.applies) {
        for scope in condition.scopes {
            if !required.contains(scope) {
                required.push(scope);
            }
        }
    }
    ctx.require_scopes(&required)
}

/// Parsed arguments, or why not: refused for the static `scopes` first when the caller lacks
/// them, so that only a caller who may call learns that its arguments are wrong.
pub fn parsed<T>(
    ctx: &CallContext,
    scopes: &[&str],
    parsed: Result<T, ToolError>,
) -> Result<T, ToolError> {
    match parsed {
        Ok(value) => Ok(value),
        Err(err) => {
            ctx.require_scopes(scopes)?;
            Err(err)
        }
    }
}

/// The scopes the checks of a call passed (the guard's, with every condition that held, and
/// the body's own `require_scopes`), shared by the contexts of one run: what a task records as
/// needed to read what the run produced.
#[derive(Debug, Clone, Default)]
pub(crate) struct Passed(Arc<Mutex<BTreeSet<String>>>);

impl Passed {
    /// Records `scopes` as passed.
    pub(crate) fn add(&self, scopes: &[&str]) {
        let mut passed = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for scope in scopes {
            if !passed.contains(*scope) {
                passed.insert((*scope).to_owned());
            }
        }
    }

    /// Every scope passed so far.
    pub(crate) fn scopes(&self) -> BTreeSet<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What a descriptor declares, against which a handler's own checks are held.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Declared {
    pub(crate) name: &'static str,
    pub(crate) scopes: &'static [&'static str],
    pub(crate) conditional: &'static [&'static str],
}

impl Declared {
    /// Fails for a scope the descriptor does not declare: checking it would make
    /// `scopes_supported` and the descriptor's `_meta` lie, so the call fails closed, as an
    /// internal error the log explains.
    pub(crate) fn check(&self, required: &[&str]) -> Result<(), ToolError> {
        let undeclared: Vec<&str> = required
            .iter()
            .copied()
            .filter(|s| !self.scopes.contains(s) && !self.conditional.contains(s))
            .collect();
        if undeclared.is_empty() {
            return Ok(());
        }
        Err(ToolError::internal(format!(
            "`{}` checks the scope `{}`, which it does not declare: add it to `may_require` (or to a `require(..)`) in its attribute",
            self.name,
            undeclared.join(" ")
        )))
    }
}

impl Declared {
    /// The static scopes, then those of `required` not among them.
    pub(crate) fn with_static<'a>(&self, required: &[&'a str]) -> Vec<&'a str> {
        let mut all: Vec<&'a str> = self.scopes.to_vec();
        for scope in required {
            if !all.contains(scope) {
                all.push(scope);
            }
        }
        all
    }
}

/// The tool result that refuses a call whose response stream has started (progress, logs or
/// a request for input already sent): the status is `200` by then, so the refusal is a tool
/// error that names the scopes, in its text for the model and under
/// [`INSUFFICIENT_SCOPE_META_KEY`] for the client.
pub(crate) fn refusal_result(required: &[String], missing: &[String]) -> CallToolResult {
    let mut meta = Map::new();
    meta.insert(
        INSUFFICIENT_SCOPE_META_KEY.into(),
        json!({ "requiredScopes": required, "missingScopes": missing }),
    );
    let mut result = CallToolResult::error(format!(
        "insufficient scope: this call requires `{}` and the token lacks `{}`; call again with a token that has them",
        required.join(" "),
        missing.join(" ")
    ));
    result.meta = Some(meta);
    result
}

/// The `_meta` key of a tool result that refuses a call after its response started:
/// `{"requiredScopes": [..], "missingScopes": [..]}`.
pub const INSUFFICIENT_SCOPE_META_KEY: &str = "mcp-auth/insufficientScope";
