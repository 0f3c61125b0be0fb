//! Mounting an `McpServer` in an application of one's own, over real HTTP: merged under a
//! resource path, discovery works (`merged`); nested, every request fails closed and the log
//! says how to mount it (`nested`); routes of the application that collide with the server's
//! are refused with the option to name (`conflicts`); the resource's path and the endpoint's
//! must agree (`paths`); start-up warnings reach stderr without a subscriber (`warnings`).

mod conflicts;
mod merged;
mod nested;
mod paths;
mod warnings;

use mcp_auth_runtime::McpServerBuilder;
use mcp_auth_runtime::prelude::*;

/// Read a report.
#[tool(scope = "reports:read", read_only)]
async fn read_report() -> Result<String, ToolError> {
    Ok("report".into())
}

/// A server of `read_report`, without authentication unless the caller adds a verifier.
fn server() -> McpServerBuilder {
    McpServer::builder("reports", "1.0.0").tools(tools![read_report])
}
