//! Argument completion (`completion/complete`) for prompt arguments and resource-template
//! variables: the request a completer gets, the values it returns, and the erased completer
//! `#[prompt]` and `#[resource]` generate from each `#[arg(complete = f)]`.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

mod completer;

pub use completer::{Completer, IntoCompletion};

use crate::context::CallContext;
use crate::error::ToolError;
use crate::prompt::PromptArguments;
use crate::tool::StateType;

/// The most values one completion carries (MCP completion: at most 100).
pub const MAX_VALUES: usize = 100;

/// What a completer is asked: which argument, what the user typed so far, and the arguments
/// already filled in (`params.context.arguments`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionRequest {
    argument: String,
    value: String,
    context: PromptArguments,
}

impl CompletionRequest {
    /// A request to complete `argument` from `value`, with other arguments already given;
    /// for calling a completer directly.
    pub fn new(
        argument: impl Into<String>,
        value: impl Into<String>,
        context: PromptArguments,
    ) -> Self {
        CompletionRequest {
            argument: argument.into(),
            value: value.into(),
            context,
        }
    }

    /// The name of the argument or template variable being completed.
    pub fn argument(&self) -> &str {
        &self.argument
    }

    /// What the user has typed so far.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The value already given to another argument of the same prompt or template.
    pub fn filled(&self, argument: &str) -> Option<&str> {
        self.context.get(argument)
    }
}

/// The answer of a completer: up to 100 values, best first, and optionally how many match in
/// all.
///
/// A completer may return more than 100 values: the server sends the first 100 with
/// `hasMore: true` and, unless `total` is set, the number it was given as `total`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    /// The suggestions, best first.
    pub values: Vec<String>,
    /// How many values match in all, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Whether more values match than `values` holds.
    pub has_more: bool,
}

impl Completion {
    /// These values, all there are.
    pub fn new(values: Vec<String>) -> Self {
        Completion {
            values,
            total: None,
            has_more: false,
        }
    }

    /// At most [`MAX_VALUES`] values, saying when there were more.
    pub(crate) fn capped(mut self) -> Self {
        if self.values.len() > MAX_VALUES {
            self.total.get_or_insert(self.values.len() as u64);
            self.values.truncate(MAX_VALUES);
            self.has_more = true;
        }
        self
    }
}

/// The future an erased completer returns.
pub type CompleteFuture = Pin<Box<dyn Future<Output = Result<Completion, ToolError>> + Send>>;

/// The erased completer of one prompt or resource template: checks its scopes, then runs the
/// completer of the argument asked for (an empty completion when it has none).
pub type CompleteHandler = fn(CallContext, CompletionRequest) -> CompleteFuture;

/// The completers of one prompt or resource template.
#[derive(Debug, Clone)]
pub struct CompletionDef {
    /// The arguments that have a completer, and its `ToolContext<S>` state type if any.
    pub(crate) arguments: Vec<(&'static str, Option<StateType>)>,
    pub(crate) handler: CompleteHandler,
}

impl CompletionDef {
    /// The completers of these arguments, run by `handler`.
    pub(crate) fn new(
        arguments: Vec<(&'static str, Option<StateType>)>,
        handler: CompleteHandler,
    ) -> Self {
        CompletionDef { arguments, handler }
    }

    /// The arguments that have a completer.
    pub fn arguments(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.arguments.iter().map(|(name, _)| *name)
    }

    pub(crate) fn states(&self) -> impl Iterator<Item = StateType> + '_ {
        self.arguments.iter().filter_map(|(_, state)| *state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_a_hundred_values_are_capped_and_counted() {
        let values: Vec<String> = (0..150).map(|i| i.to_string()).collect();
        let capped = Completion::new(values).capped();
        assert_eq!(capped.values.len(), MAX_VALUES);
        assert_eq!((capped.total, capped.has_more), (Some(150), true));
        let few = Completion::new(vec!["a".into()]).capped();
        assert_eq!((few.total, few.has_more), (None, false));
    }
}
