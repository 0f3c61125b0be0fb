//! Prompt descriptors: each prompt's arguments, the scopes `prompts/get` requires, and the
//! handler that renders its messages.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

mod arguments;
mod message;
mod registry;

pub use arguments::{PromptArg, PromptArguments};
pub(crate) use arguments::{optional, required};
pub use message::{GetPromptResult, PromptMessage, PromptOutput};
pub(crate) use registry::Prompts;

use crate::completion::CompletionDef;
use crate::context::CallContext;
use crate::error::ToolError;
use crate::tool::{StateType, ToolDef};

/// The future an erased prompt handler returns.
pub type GetFuture = Pin<Box<dyn Future<Output = Result<GetPromptResult, ToolError>> + Send>>;

/// The erased handler of a prompt: checks the scopes, parses the arguments and runs the
/// user's function.
pub type GetHandler = fn(CallContext, PromptArguments) -> GetFuture;

/// A function annotated with `#[prompt]`, seen through the type of the same name the macro
/// declares beside it. `prompts!` calls [`Prompt::def`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a prompt",
    label = "not annotated with `#[prompt]`",
    note = "annotate the `async fn` with `#[prompt(scope = \"...\")]` to list it in `prompts!`"
)]
pub trait Prompt {
    /// The prompt's descriptor.
    fn def() -> PromptDef;
}

/// One argument of a prompt, from one parameter of its function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptArgument {
    /// The argument's name.
    pub name: &'static str,
    /// What to give, from the parameter's doc comment.
    pub description: Option<&'static str>,
    /// Whether `prompts/get` must give it: every parameter but an `Option<T>`.
    pub required: bool,
}

/// What `#[prompt]` knows at compile time.
#[derive(Debug, Clone, Copy)]
pub struct PromptMeta {
    /// The prompt's name, what `prompts/get` names.
    pub name: &'static str,
    /// The human-readable title.
    pub title: Option<&'static str>,
    /// What the prompt is for.
    pub description: Option<&'static str>,
    /// Its arguments, in parameter order.
    pub arguments: &'static [PromptArgument],
    /// Every scope `prompts/get` requires; empty for an `unscoped` prompt.
    pub scopes: &'static [&'static str],
    /// Every scope a get may require beyond `scopes`, depending on its arguments
    /// (`require(..)`) or on what the function finds (`may_require`).
    pub conditional_scopes: &'static [&'static str],
    /// The state type of the handler's `ToolContext<S>`, if it takes one with a state.
    pub state: Option<StateType>,
}

/// One registered prompt: its metadata and erased handler.
///
/// Built by `#[prompt]`, collected by `prompts!` and checked when the server is built (names
/// unique, state types matching).
#[derive(Clone)]
pub struct PromptDef {
    meta: PromptMeta,
    handler: GetHandler,
    completion: Option<CompletionDef>,
}

impl PromptDef {
    /// The `_meta` key under which `prompts/list` publishes each prompt's required scopes,
    /// the same as tools'.
    pub const SCOPES_META_KEY: &str = ToolDef::SCOPES_META_KEY;

    /// A descriptor from its metadata and handler; checked when the server is built.
    pub(crate) fn new(meta: PromptMeta, handler: GetHandler) -> Self {
        PromptDef {
            meta,
            handler,
            completion: None,
        }
    }

    /// The same prompt with completers for some of its arguments.
    pub(crate) fn with_completion(mut self, completion: CompletionDef) -> Self {
        self.completion = Some(completion);
        self
    }

    /// The completers of its arguments (`#[arg(complete = f)]`), if any.
    pub fn completion(&self) -> Option<&CompletionDef> {
        self.completion.as_ref()
    }

    /// The prompt's name.
    pub fn name(&self) -> &'static str {
        self.meta.name
    }

    /// What the prompt is for.
    pub fn description(&self) -> Option<&'static str> {
        self.meta.description
    }

    /// Its arguments.
    pub fn arguments(&self) -> &'static [PromptArgument] {
        self.meta.arguments
    }

    /// Every scope `prompts/get` requires.
    pub fn scopes(&self) -> &'static [&'static str] {
        self.meta.scopes
    }

    /// Every scope a get may require beyond [`scopes`](Self::scopes).
    pub fn conditional_scopes(&self) -> &'static [&'static str] {
        self.meta.conditional_scopes
    }

    pub(crate) fn state(&self) -> Option<StateType> {
        self.meta.state
    }

    pub(crate) fn handler(&self) -> GetHandler {
        self.handler
    }

    /// Its entry in `prompts/list`.
    pub(crate) fn to_json(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("name".into(), self.meta.name.into());
        if let Some(title) = self.meta.title {
            entry.insert("title".into(), title.into());
        }
        if let Some(description) = self.meta.description {
            entry.insert("description".into(), description.into());
        }
        let arguments: Vec<Value> = self
            .meta
            .arguments
            .iter()
            .map(|argument| {
                let mut json = Map::new();
                json.insert("name".into(), argument.name.into());
                if let Some(description) = argument.description {
                    json.insert("description".into(), description.into());
                }
                json.insert("required".into(), argument.required.into());
                Value::Object(json)
            })
            .collect();
        entry.insert("arguments".into(), arguments.into());
        let mut meta = Map::new();
        meta.insert(Self::SCOPES_META_KEY.into(), self.meta.scopes.into());
        if !self.meta.conditional_scopes.is_empty() {
            meta.insert(
                ToolDef::CONDITIONAL_SCOPES_META_KEY.into(),
                self.meta.conditional_scopes.into(),
            );
        }
        entry.insert("_meta".into(), meta.into());
        Value::Object(entry)
    }
}

impl fmt::Debug for PromptDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromptDef")
            .field("name", &self.meta.name)
            .field("arguments", &self.meta.arguments)
            .field("scopes", &self.meta.scopes)
            .finish_non_exhaustive()
    }
}

/// Collects `#[prompt]` functions into a `Vec<PromptDef>` for
/// [`McpServerBuilder::prompts`](crate::McpServerBuilder::prompts), as
/// [`tools!`](crate::tools) does for tools: each entry is a path to an annotated function.
///
/// ```
/// use mcp_auth_runtime::prelude::*;
///
/// /// Ask for a summary of the month.
/// #[prompt(scope = "invoices:read")]
/// async fn month_summary(
///     /// The month, as `2026-07`.
///     month: String,
/// ) -> Result<String, ToolError> {
///     Ok(format!("Summarize the invoices of {month}."))
/// }
///
/// let prompts = prompts![month_summary];
/// assert_eq!(prompts[0].name(), "month_summary");
/// assert!(prompts[0].arguments()[0].required);
/// ```
///
/// ```compile_fail
/// use mcp_auth_runtime::prelude::*;
///
/// async fn not_a_prompt() -> Result<String, ToolError> { Ok(String::new()) }
///
/// let prompts = prompts![not_a_prompt];
/// ```
#[macro_export]
macro_rules! prompts {
    ($($prompt:path),* $(,)?) => {
        $crate::__private::prompts!($($prompt),*)
    };
}
