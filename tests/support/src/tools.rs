//! Tools and a verifier shared by the protocol tests, the shared-session (Redis) tests and the
//! secrets tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mcp_auth_runtime::LogLevel;
use mcp_auth_runtime::auth::{AuthError, TokenVerifier};
use mcp_auth_runtime::prelude::*;
use serde_json::{Value, json};

#[derive(Clone, Default)]
/// The state of the tools here: counts the work they do.
pub struct Counter(pub Arc<AtomicUsize>);

impl Counter {
    /// Reads the count, waits `wait` and asserts that it has not moved (`what` says which work
    /// should have stopped); returns the count.
    pub async fn assert_stays(&self, wait: Duration, what: &str) -> usize {
        let before = self.0.load(Ordering::SeqCst);
        tokio::time::sleep(wait).await;
        assert_eq!(self.0.load(Ordering::SeqCst), before, "{what}");
        before
    }
}

/// Count until cancelled: one tick every 10 ms, for at most five seconds.
#[tool(scope = "t:use")]
pub async fn count_slowly(ctx: ToolContext<Counter>) -> Result<String, ToolError> {
    ctx.progress(0.0, None, Some("started"));
    for _ in 0..500 {
        ctx.state().0.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok("counted".into())
}

/// Log at every level.
#[tool(scope = "t:use")]
pub async fn with_logs(ctx: ToolContext<Counter>) -> Result<String, ToolError> {
    for level in [
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warning,
        LogLevel::Error,
    ] {
        ctx.log(level, json!(format!("{level:?}")));
    }
    Ok("logged".into())
}

/// Ask the user to confirm.
#[tool(scope = "t:use", destructive)]
pub async fn confirm(ctx: ToolContext<Counter>) -> Result<String, ToolError> {
    let schema = json!({
        "type": "object",
        "properties": { "confirm": { "type": "boolean" } },
        "required": ["confirm"]
    });
    let answer = ctx.elicit("Really?", schema).await?;
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(format!(
        "{:?} {}",
        answer.action,
        Value::from(answer.content.unwrap_or_default())
    ))
}

/// Echo a name.
#[tool(unscoped, name = "echo.name")]
pub async fn echo(name: String) -> String {
    name
}

/// Read a thing.
#[tool(scope = "things:read", read_only)]
pub async fn read_thing() -> String {
    "read".into()
}

/// Write a thing.
#[tool(scope = "things:write")]
pub async fn write_thing() -> String {
    "written".into()
}

/// Void an invoice: a tool with arguments whose call can end in its own error (`"paid"`).
#[tool(scope = "invoices:write", destructive)]
pub async fn void_invoice(invoice: String) -> Result<String, ToolError> {
    if invoice == "paid" {
        return Err(ToolError::new("a paid invoice cannot be voided"));
    }
    Ok(format!("voided {invoice}"))
}

/// Read an invoice.
#[tool(scope = "invoices:read", read_only)]
pub async fn read_invoice(invoice: String) -> String {
    format!("invoice {invoice}")
}

/// Tokens `user-N` are subject N; `reader` has no scopes.
pub struct Users;

impl TokenVerifier for Users {
    async fn verify(&self, token: &str) -> Result<AuthInfo, AuthError> {
        match token {
            "reader" => Ok(AuthInfo::new("reader").with_client_id("c")),
            t if t.starts_with("user-") => {
                Ok(AuthInfo::new(t).with_client_id("c").with_scopes(["t:use"]))
            }
            _ => Err(AuthError::InvalidToken("unknown".into())),
        }
    }
}
