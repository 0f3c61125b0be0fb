//! Which `async fn`s complete an argument: `async fn(CompletionRequest)` or
//! `async fn(ToolContext<S>, CompletionRequest)`, returning `Result<T, ToolError>` with `T` a
//! `Vec<String>` or a [`Completion`].

use std::future::Future;

use super::{CompleteFuture, Completion, CompletionRequest};
use crate::context::{CallContext, ToolContext};
use crate::error::ToolError;
use crate::tool::StateType;

/// What a completer may return on success.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the values of a completion",
    label = "not a completion",
    note = "a completer returns `Result<Vec<String>, ToolError>` or `Result<Completion, ToolError>`"
)]
pub trait IntoCompletion {
    /// The completion.
    fn into_completion(self) -> Completion;
}

impl IntoCompletion for Vec<String> {
    fn into_completion(self) -> Completion {
        Completion::new(self)
    }
}

impl IntoCompletion for Completion {
    fn into_completion(self) -> Completion {
        self
    }
}

/// An `async fn` that completes an argument, named by `#[arg(complete = f)]`. `M` tells the
/// two accepted shapes apart, as axum's handlers do.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot complete an argument",
    label = "not a completer",
    note = "a completer is `async fn(CompletionRequest) -> Result<Vec<String>, ToolError>` or `async fn(ToolContext<S>, CompletionRequest) -> Result<Vec<String>, ToolError>` (or `Result<Completion, ToolError>`)"
)]
pub trait Completer<M>: Copy + Send + 'static {
    /// The state type of its `ToolContext<S>`, checked against the server's when it is built.
    fn state(&self) -> Option<StateType>;

    /// Runs it.
    fn complete(self, call: CallContext, request: CompletionRequest) -> CompleteFuture;
}

impl<F, Fut, T> Completer<(CompletionRequest,)> for F
where
    F: FnOnce(CompletionRequest) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<T, ToolError>> + Send + 'static,
    T: IntoCompletion,
{
    fn state(&self) -> Option<StateType> {
        None
    }

    fn complete(self, _call: CallContext, request: CompletionRequest) -> CompleteFuture {
        Box::pin(async move { Ok(self(request).await?.into_completion()) })
    }
}

impl<F, Fut, T, S> Completer<(ToolContext<S>, CompletionRequest)> for F
where
    F: FnOnce(ToolContext<S>, CompletionRequest) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<T, ToolError>> + Send + 'static,
    T: IntoCompletion,
    S: Send + Sync + 'static,
{
    fn state(&self) -> Option<StateType> {
        Some(StateType::of::<S>())
    }

    fn complete(self, call: CallContext, request: CompletionRequest) -> CompleteFuture {
        Box::pin(async move {
            let ctx = ToolContext::from_call(call)?;
            Ok(self(ctx, request).await?.into_completion())
        })
    }
}
