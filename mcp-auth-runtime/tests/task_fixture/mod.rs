//! The fixture of the task tests (`tests/mcp/tasks.rs`, `tests/redis/tasks.rs`): task-capable
//! tools, a server of them behind a JWT verifier that reads the `tenant` claim, and a client
//! of the task methods. Included by path, so some of it is unused in each test crate.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mcp_auth_runtime::McpServerBuilder;
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::issuer::{Tokens, protected};
use mcp_auth_test_support::modern::{request, response_of};
use serde_json::{Value, json};

/// Counts the runs of `forever` that ended, however they ended.
#[derive(Clone, Default)]
struct Ended(Arc<AtomicUsize>);

struct OnDrop(Ended);

impl Drop for OnDrop {
    fn drop(&mut self) {
        (self.0).0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Works `ms` milliseconds, then answers.
#[tool(scope = "t:use", task = optional)]
async fn crunch(_ctx: ToolContext<Ended>, ms: u64) -> Result<String, ToolError> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(format!("crunched for {ms} ms"))
}

/// Works a little, then answers with `bytes` bytes of text.
#[tool(scope = "t:use", task = optional)]
async fn huge(_ctx: ToolContext<Ended>, bytes: usize) -> Result<String, ToolError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok("x".repeat(bytes))
}

/// Works for a minute, counting in the state when its run ends.
#[tool(scope = "t:use", task = required)]
async fn forever(ctx: ToolContext<Ended>) -> Result<String, ToolError> {
    let _ended = OnDrop(ctx.state().clone());
    tokio::time::sleep(Duration::from_secs(60)).await;
    Ok("done".into())
}

/// Works a little, then asks the client to confirm.
#[tool(scope = "t:use", task = optional)]
async fn approve(ctx: ToolContext<Ended>) -> Result<String, ToolError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let schema = json!({ "type": "object", "properties": { "ok": { "type": "boolean" } } });
    let answer = ctx.elicit("Approve?", schema).await?;
    Ok(format!("approved: {:?}", answer.action))
}

/// Asks to confirm paying `amount`, then pays it: the question and the answer both name the
/// amount as this run read it, bit for bit.
#[tool(scope = "t:use", task = optional)]
async fn pay(ctx: ToolContext<Ended>, amount: f64) -> Result<String, ToolError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let schema = json!({ "type": "object", "properties": { "ok": { "type": "boolean" } } });
    ctx.elicit(format!("Pay {:#x}?", amount.to_bits()), schema)
        .await?;
    Ok(format!("paid {:#x}", amount.to_bits()))
}

/// Answers with its arguments as it read them, as JSON: floats as their bits, which JSON
/// text would round.
#[tool(scope = "t:use")]
async fn mirror(
    _ctx: ToolContext<Ended>,
    text: String,
    number: Option<f64>,
    count: Option<u64>,
    signed: Option<i64>,
    ratio: Option<f32>,
) -> Result<String, ToolError> {
    Ok(json!({
        "text": text,
        "number": number.map(f64::to_bits),
        "count": count,
        "signed": signed,
        "ratio": ratio.map(f32::to_bits),
    })
    .to_string())
}

/// Works a little, then reports; every tenant's figures need `t:admin` too.
#[tool(scope = "t:use", require(scope = "t:admin", when = all), task = optional)]
async fn report(_ctx: ToolContext<Ended>, all: bool) -> Result<String, ToolError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(if all {
        "every tenant's figures"
    } else {
        "your figures"
    }
    .into())
}

/// Works a little, then purges, which the body decides needs `t:admin`.
#[tool(scope = "t:use", may_require = ["t:admin"], task = optional)]
async fn purge(ctx: ToolContext<Ended>) -> Result<String, ToolError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    ctx.require_scopes(&["t:admin"])?;
    Ok("purged".into())
}

pub(crate) const TASKS: &str = "io.modelcontextprotocol/tasks";

/// A server of the tools above behind a JWT verifier that reads the `tenant` claim.
pub(crate) struct Fx {
    pub(crate) tokens: Tokens,
    pub(crate) url: String,
    ended: Ended,
    http: reqwest::Client,
}

impl Fx {
    pub(crate) async fn start(configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder) -> Fx {
        let (listener, tokens, builder) = protected("tasks").await;
        Fx::serve(listener, tokens, builder, configure)
    }

    pub(crate) fn serve(
        listener: tokio::net::TcpListener,
        tokens: Tokens,
        builder: McpServerBuilder,
        configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder,
    ) -> Fx {
        let verifier = mcp_auth_runtime::auth::JwtVerifier::builder(
            tokens.issuer.url.clone(),
            &tokens.resource,
        )
        .tenant_claim("tenant")
        .build()
        .unwrap();
        let ended = Ended::default();
        let builder = builder
            .verifier(verifier)
            .tools(tools![
                crunch, huge, forever, approve, pay, mirror, report, purge
            ])
            .state(ended.clone());
        let server = configure(builder).build().unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        mcp_auth_test_support::serve_on(listener, server.into_router());
        Fx {
            tokens,
            url,
            ended,
            http: mcp_auth_test_support::fixture::http(),
        }
    }

    /// A token of `subject` (no tenant) with the tools' scope.
    pub(crate) fn token(&self, subject: &str) -> String {
        self.tokens.of(subject, "t:use", 300)
    }

    /// `method` with `params` and `token`, from a client that declares the tasks extension
    /// (`tasks`) and elicitation; `Mcp-Name` mirrors `taskId` as SEP-2663 asks.
    pub(crate) async fn send(
        &self,
        token: &str,
        tasks: bool,
        method: &str,
        params: Value,
    ) -> (u16, Value) {
        let capabilities = if tasks {
            json!({ "elicitation": {}, "extensions": { TASKS: {} } })
        } else {
            json!({ "elicitation": {} })
        };
        let mut builder = request(
            &self.http,
            &self.url,
            token,
            "application/json",
            capabilities,
            9,
            method,
            params.clone(),
        );
        if let Some(id) = params.get("taskId").and_then(Value::as_str) {
            builder = builder.header("mcp-name", id);
        }
        let response = builder.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response_of(response.text().await.unwrap()))
    }

    /// Calls `tool` as `token` with the extension declared; the task id it created.
    pub(crate) async fn create(&self, token: &str, tool: &str, arguments: Value) -> String {
        let (status, body) = self
            .send(
                token,
                true,
                "tools/call",
                json!({ "name": tool, "arguments": arguments }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["resultType"], "task", "{body}");
        body["result"]["taskId"].as_str().unwrap().to_owned()
    }

    /// `tasks/<verb>` of task `id` as `token`.
    pub(crate) async fn task(&self, token: &str, verb: &str, id: &str) -> (u16, Value) {
        let mut params = json!({ "taskId": id });
        if verb == "update" {
            params["inputResponses"] = json!({});
        }
        self.send(token, true, &format!("tasks/{verb}"), params)
            .await
    }

    /// Polls `tasks/get` as `token` until the task leaves `working`; its last state.
    pub(crate) async fn settled(&self, token: &str, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (status, body) = self.task(token, "get", id).await;
            assert_eq!(status, 200, "{body}");
            if body["result"]["status"] != "working" {
                return body["result"].clone();
            }
            assert!(Instant::now() < deadline, "task {id} still working: {body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A `subscriptions/listen` stream of `token` following `ids`, from a client that
    /// declares the extension or not (`tasks`).
    pub(crate) async fn listen(&self, token: &str, tasks: bool, ids: Value) -> reqwest::Response {
        let capabilities = if tasks {
            json!({ "extensions": { TASKS: {} } })
        } else {
            json!({})
        };
        request(
            &self.http,
            &self.url,
            token,
            "text/event-stream",
            capabilities,
            11,
            "subscriptions/listen",
            json!({ "notifications": { "taskIds": ids } }),
        )
        .send()
        .await
        .unwrap()
    }

    pub(crate) fn ended(&self) -> usize {
        self.ended.0.load(Ordering::SeqCst)
    }
}

/// Asserts that `token` may hold `max` live tasks and no more, and that another principal
/// still may create one.
pub(crate) async fn assert_capped_per_principal(fx: &Fx, max: usize) {
    let owner = fx.token("ann");
    for _ in 0..max {
        fx.create(&owner, "forever", json!({})).await;
    }
    let call = json!({ "name": "forever", "arguments": {} });
    let (status, body) = fx.send(&owner, true, "tools/call", call.clone()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], -32005, "{body}");
    fx.create(&fx.token("bob"), "forever", json!({})).await;
}

/// Tries `per_client` runs of `forever` as `subject`, from each of `clients` OAuth clients
/// (dynamic client registration hands them out); how many became live tasks.
pub(crate) async fn create_from_fresh_clients(
    fx: &Fx,
    subject: &str,
    clients: usize,
    per_client: usize,
) -> usize {
    let mut created = 0;
    for n in 0..clients {
        let mut claims = mcp_auth_test_support::issuer::claims(
            &fx.tokens.issuer.url,
            &fx.tokens.resource,
            "t:use",
        );
        claims["sub"] = subject.into();
        claims["client_id"] = format!("client-{n}").into();
        let token = fx.tokens.key.sign(&claims);
        for _ in 0..per_client {
            let call = json!({ "name": "forever", "arguments": {} });
            let (status, body) = fx.send(&token, true, "tools/call", call).await;
            if status == 200 && body["result"]["resultType"] == "task" {
                created += 1;
            }
        }
    }
    created
}

/// Asserts the answer to a task id that is not the caller's, or is no task: `-32602`, the same
/// message for both, nothing of the task.
#[track_caller]
pub(crate) fn assert_not_found((status, body): &(u16, Value)) {
    assert_eq!(*status, 200, "{body}");
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert_eq!(
        body["error"]["message"], "Failed to retrieve task: Task not found",
        "{body}"
    );
    assert!(body.get("result").is_none(), "{body}");
}

/// A replica of `fx`'s server on `listener`: the same issuer, the same resource (the audience
/// of `fx`'s tokens), its own process state.
pub(crate) fn replica_of(
    fx: &Fx,
    listener: tokio::net::TcpListener,
    configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder,
) -> Fx {
    let builder = mcp_auth_runtime::McpServer::builder("tasks", "1.0.0")
        .resource(fx.tokens.resource.clone())
        .authorization_server(fx.tokens.issuer.url.clone());
    Fx::serve(listener, fx.tokens.clone(), builder, configure)
}
