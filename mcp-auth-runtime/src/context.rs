//! What a tool receives about its call: the caller and the server's shared state.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, LazyLock};

use serde_json::Value;

use crate::ask::{Ask, InputKind, Responses, Root};
use crate::auth::AuthInfo;
use crate::authorize::{Declared, Passed};
use crate::downstream::{Downstream, DownstreamToken, ExchangeError, SubjectToken, TokenExchange};
use crate::error::ToolError;
use crate::peer::{Elicitation, LogLevel, Peer};
use crate::scope::ScopePolicy;

type AnyState = Arc<dyn Any + Send + Sync>;

/// The shared `()` state of servers and contexts without one.
static UNIT: LazyLock<AnyState> = LazyLock::new(|| Arc::new(()));

/// The erased context the runtime hands to a generated handler.
#[derive(Clone)]
pub struct CallContext {
    pub(crate) auth: Arc<AuthInfo>,
    pub(crate) state: AnyState,
    pub(crate) scopes: ScopePolicy,
    pub(crate) peer: Arc<Peer>,
    pub(crate) tool: Option<&'static str>,
    /// What the descriptor being called declares; `None` in a direct Rust call.
    pub(crate) declared: Option<Declared>,
    /// Where the scopes the run's checks pass are recorded, for a run that is a task's.
    pub(crate) passed: Option<Passed>,
    /// The server's token exchange, if it has one.
    pub(crate) exchange: Option<TokenExchange>,
    /// The access token the call came with, for the exchange alone; never handed out.
    pub(crate) subject: Option<SubjectToken>,
}

impl CallContext {
    pub(crate) fn new(
        auth: Arc<AuthInfo>,
        state: AnyState,
        scopes: ScopePolicy,
        peer: Arc<Peer>,
        tool: Option<&'static str>,
    ) -> Self {
        CallContext {
            auth,
            state,
            scopes,
            peer,
            tool,
            declared: None,
            passed: None,
            exchange: None,
            subject: None,
        }
    }

    /// Lets the run exchange `subject`, the call's access token, with `exchange`.
    pub(crate) fn exchanging(
        mut self,
        exchange: Option<TokenExchange>,
        subject: Option<SubjectToken>,
    ) -> Self {
        self.exchange = exchange;
        self.subject = subject;
        self
    }

    /// Holds the handler's own checks to the scopes `declared`.
    pub(crate) fn declaring(mut self, declared: Declared) -> Self {
        self.declared = Some(declared);
        self
    }

    /// Records in `passed` every scope the run's checks pass.
    pub(crate) fn recording(mut self, passed: Passed) -> Self {
        self.passed = Some(passed);
        self
    }

    /// Refuses the call unless the caller holds every scope in `required`; fails with an
    /// internal error for a scope the descriptor being called does not declare.
    ///
    /// Through the server, the refusal names the descriptor's static scopes too, as the guard's
    /// does: a client that steps up to exactly the scopes named keeps those it needs.
    pub fn require_scopes(&self, required: &[&str]) -> Result<(), ToolError> {
        match &self.declared {
            Some(declared) => {
                declared.check(required)?;
                let required = declared.with_static(required);
                self.scopes.require(&self.auth, &required)?;
                if let Some(passed) = &self.passed {
                    passed.add(&required);
                }
                Ok(())
            }
            None => self.scopes.require(&self.auth, required),
        }
    }
}

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// The context of one tool call: who is calling, and the server's shared state `S`.
///
/// Declare it as a parameter of a `#[tool]` function to receive it; it is not part of the
/// tool's input schema. Like axum's `State`, `S` is whatever was given to
/// [`McpServerBuilder::state`](crate::McpServerBuilder::state); `ToolContext` alone has no
/// state.
///
/// Scopes say which kind of action a caller may take, not on whose data: constrain queries by
/// [`AuthInfo::subject`], [`AuthInfo::tenant`] or [`AuthInfo::client_id`].
///
/// ```
/// use mcp_auth_runtime::prelude::*;
///
/// #[derive(Clone)]
/// struct Billing { currency: &'static str }
///
/// /// Show the caller's tenant.
/// #[tool(scope = "invoices:read")]
/// async fn whoami(ctx: ToolContext<Billing>) -> Result<String, ToolError> {
///     Ok(format!("{} in {}", ctx.auth().tenant().unwrap_or("-"), ctx.state().currency))
/// }
///
/// # tokio_test_block_on(async {
/// let reader = AuthInfo::new("alice").with_scopes(["invoices:read"]).with_tenant("acme");
/// let ctx = ToolContext::new(Billing { currency: "EUR" }, reader);
/// assert_eq!(whoami(ctx).await.unwrap(), "acme in EUR");
///
/// // The scope guard runs inside the function, however it is reached.
/// let nobody = ToolContext::new(Billing { currency: "EUR" }, AuthInfo::new("mallory"));
/// assert!(matches!(whoami(nobody).await, Err(ToolError::InsufficientScope { .. })));
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub struct ToolContext<S = ()> {
    call: CallContext,
    state: Arc<S>,
}

impl<S: Send + Sync + 'static> ToolContext<S> {
    /// A context for calling a tool function directly, e.g. in a unit test. Scopes match
    /// exactly, as with a server that configures no scope hierarchy.
    pub fn new(state: S, auth: AuthInfo) -> Self {
        let state = Arc::new(state);
        ToolContext {
            call: CallContext::new(
                Arc::new(auth),
                state.clone(),
                ScopePolicy::default(),
                Arc::new(Peer::detached()),
                None,
            ),
            state,
        }
    }

    /// Typed view of an erased context. Fails only if the server's state is not an `S`, which
    /// the server builder rules out for every registered tool.
    pub(crate) fn from_call(call: CallContext) -> Result<Self, ToolError> {
        let state = call
            .state
            .clone()
            .downcast::<S>()
            .or_else(|_| UNIT.clone().downcast::<S>())
            .map_err(|_| {
                ToolError::internal(format!(
                    "the server state is not a `{}`",
                    std::any::type_name::<S>()
                ))
            })?;
        Ok(ToolContext { call, state })
    }
}

impl<S> ToolContext<S> {
    /// Who is calling, with which scopes.
    pub fn auth(&self) -> &AuthInfo {
        &self.call.auth
    }

    /// The server's shared state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// Refuses the call unless the caller holds every scope in `required`, under the server's
    /// scope policy. `#[tool]` inserts this check as the first statement of a scoped tool.
    ///
    /// For a decision that needs data (the invoice's amount, say, read from the store), call
    /// it in the body. Every scope it names must be declared in the attribute, in
    /// `may_require = [..]` or a `require(..)`, so that `scopes_supported` and the descriptor's
    /// `_meta` name it: called through the server, a scope that is not declared fails the call
    /// with an internal error (a direct Rust call, with [`ToolContext::new`], checks no
    /// declaration).
    ///
    /// How a refusal reaches the client depends on what the call sent before it. While nothing
    /// has been sent, the answer is `403` with an `insufficient_scope` challenge naming every
    /// scope in `required`, so that the client can step up. Once progress, a log message or a
    /// request for input has opened the response stream, the status is `200` already: the
    /// refusal is then a tool result with `isError: true` whose text names the scopes, and
    /// whose `_meta` holds them under [`INSUFFICIENT_SCOPE_META_KEY`](crate::INSUFFICIENT_SCOPE_META_KEY).
    /// In a task (the tasks extension), a refusal after the tool's first wait, once the call
    /// is a task, fails the task with the error `-32003` naming the scopes in its `data`.
    /// Through the server, the refusal names the tool's static scopes besides `required`. So
    /// check before sending anything, and before the first wait, when you can.
    pub fn require_scopes(&self, required: &[&str]) -> Result<(), ToolError> {
        self.call.require_scopes(required)
    }

    /// A token for calling `downstream` as the caller, exchanged for the call's access token
    /// at the authorization server (RFC 8693), or cached: see [`downstream`](crate::downstream).
    /// The call's own token is never handed out, and never sent anywhere but the token
    /// endpoint; `?` turns a failure into a [`ToolError`] (a refusal is a failed tool result).
    ///
    /// Fails with [`ExchangeError::NotConfigured`] on a server without
    /// [`token_exchange`](crate::McpServerBuilder::token_exchange), and with
    /// [`ExchangeError::NoSubjectToken`] for a call that came with no access token: over
    /// stdio, without authentication, with an API key, or in a direct Rust call.
    pub async fn downstream_token(
        &self,
        downstream: &Downstream,
    ) -> Result<DownstreamToken, ExchangeError> {
        let exchange = self
            .call
            .exchange
            .as_ref()
            .ok_or(ExchangeError::NotConfigured)?;
        let subject = self
            .call
            .subject
            .as_ref()
            .ok_or(ExchangeError::NoSubjectToken)?;
        exchange.exchange(subject, downstream).await
    }

    /// The name of the tool being called, when it is called by the server (`None` in a direct
    /// Rust call).
    pub fn tool_name(&self) -> Option<&'static str> {
        self.call.tool
    }

    /// The `progressToken` the client sent with this call, if any.
    pub fn progress_token(&self) -> Option<&Value> {
        self.call.peer.progress_token()
    }

    /// Reports progress (`notifications/progress`) when the client asked for it with a
    /// `progressToken`; otherwise does nothing. `progress` must increase from one report to the
    /// next (MCP progress); a report that does not is dropped.
    ///
    /// Progress travels on the request's SSE stream: the response switches from JSON to a
    /// stream at the first report, if the client accepts `text/event-stream`.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        self.call.peer.progress(progress, total, message);
    }

    /// Sends a log message (`notifications/message`) to the client, on the request's stream,
    /// if it is at least as severe as the level the client asked for (`logging/setLevel` in
    /// the handshake era, the request's `_meta` log level in the 2026-07-28 era, which sends
    /// none unless asked). Never log secrets: the client and its user see every message.
    pub fn log(&self, level: LogLevel, data: impl Into<Value>) {
        self.call.peer.log(level, None, data.into());
    }

    /// Asks the user for input through the client (`elicitation/create`, form mode), e.g. to
    /// confirm a destructive action. `requested_schema` is a flat JSON Schema object of
    /// primitive properties. The request's key is numbered (`elicitation-0`); to choose it,
    /// or to ask several things in one round, use [`ask`](Self::ask).
    ///
    /// In the 2026-07-28 era the first run of the tool ends here with an `InputRequiredResult`
    /// (the error must be propagated with `?`), and the client retries the call with the answer:
    /// the tool runs again from the start and this call returns the answer. Side effects
    /// before an `elicit` therefore run once per round: put them after it.
    pub async fn elicit(
        &self,
        message: impl Into<String>,
        requested_schema: Value,
    ) -> Result<Elicitation, ToolError> {
        let key = self.call.peer.next_key(InputKind::Elicitation);
        self.ask(Ask::new().elicit(&key, message, requested_schema))
            .await?
            .elicitation(&key)
    }

    /// Asks the client's model for a completion (`sampling/createMessage`); `params` are the
    /// request's parameters (`messages`, `maxTokens`, ...), the result is the client's
    /// `CreateMessageResult`. Same round-trip rules as [`elicit`](Self::elicit).
    pub async fn sample(&self, params: Value) -> Result<Value, ToolError> {
        let key = self.call.peer.next_key(InputKind::Sampling);
        self.ask(Ask::new().sample(&key, params))
            .await?
            .sampling(&key)
    }

    /// Asks the client for its roots (`roots/list`). Same round-trip rules as
    /// [`elicit`](Self::elicit).
    pub async fn list_roots(&self) -> Result<Vec<Root>, ToolError> {
        let key = self.call.peer.next_key(InputKind::Roots);
        self.ask(Ask::new().list_roots(&key)).await?.roots(&key)
    }

    /// Asks the client every request for input of `ask` in one round, under the keys it names,
    /// and returns the answers, each checked to be of its request's result type.
    ///
    /// In the 2026-07-28 era the run ends here with one `InputRequiredResult` that carries
    /// every request not answered yet (propagate the error with `?`); the tool runs again when
    /// the client retries with the answers, and returns here once all are answered. Answers
    /// of earlier rounds travel in the sealed `requestState`, so a tool may ask several
    /// rounds, one after the other. In the handshake era the requests go out together on the
    /// call's stream and this call waits for every answer.
    ///
    /// Fails with [`ToolError::MissingClientCapability`] (in 2026-07-28 the error `-32021`)
    /// if the client did not declare a capability a request needs: ask only what
    /// [`client_supports`](Self::client_supports) says it can answer, or let the call fail.
    /// A malformed answer fails with [`ToolError::InvalidInputResponse`].
    pub async fn ask(&self, ask: Ask) -> Result<Responses, ToolError> {
        let answers = self.call.peer.ask(ask.into_questions()?).await?;
        Ok(Responses { answers })
    }

    /// Whether the client declared the capability requests of `kind` need (`elicitation`,
    /// `sampling`, `roots`): in the 2026-07-28 era those of the request's `_meta`, in the
    /// handshake era those of `initialize`. A direct Rust call supports none.
    pub fn client_supports(&self, kind: InputKind) -> bool {
        self.call.peer.supports(kind)
    }
}

impl<S> Clone for ToolContext<S> {
    fn clone(&self) -> Self {
        ToolContext {
            call: self.call.clone(),
            state: self.state.clone(),
        }
    }
}

impl<S> fmt::Debug for ToolContext<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolContext")
            .field("auth", &self.call.auth)
            .field("state", &std::any::type_name::<S>())
            .finish()
    }
}

pub(crate) fn unit_state() -> AnyState {
    UNIT.clone()
}
