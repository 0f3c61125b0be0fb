//! The stdio transport: the same [`McpServer`] over standard input and output, for a client
//! that launches the server as a subprocess (a desktop assistant, an IDE).
//!
#![doc = include_str!("../../docs/stdio.md")]

mod connection;
mod identity;
mod lines;

pub use identity::{IdentityError, identity_from_env, identity_from_vars};

use std::pin::pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};

use crate::McpServer;
use crate::auth::AuthInfo;
use connection::Connection;
use lines::{Line, Lines, write_line, write_lines};

/// Serves `server` on this process's standard input and output until the input ends, with
/// every request made by `identity`; see the [module docs](self).
///
/// ```no_run
/// # async fn demo(server: mcp_auth_runtime::McpServer) -> Result<(), Box<dyn std::error::Error>> {
/// let identity = mcp_auth_runtime::stdio::identity_from_env("NOTES")?;
/// mcp_auth_runtime::stdio::serve(server, identity).await?;
/// # Ok(())
/// # }
/// ```
pub async fn serve(server: McpServer, identity: AuthInfo) -> std::io::Result<()> {
    serve_with(server, identity, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serves `server` on `input` and `output` until `input` ends, with every request made by
/// `identity`: [`serve`] on other streams than the process's own (a pipe, a socket, an
/// in-memory duplex in tests).
///
/// Returns when the input ends, once the requests still running are cancelled and every
/// message already written is flushed; or with the error of a read or a write that failed
/// (the client closed its end of the output, say), the requests still running cancelled.
pub async fn serve_with<R, W>(
    server: McpServer,
    identity: AuthInfo,
    input: R,
    output: W,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let endpoint = server.endpoint().clone();
    let limit = endpoint.body_limit;
    if identity.scopes().is_empty() && !server.scopes_supported().is_empty() {
        tracing::warn!(
            "serving MCP on stdio with no scopes granted: only unscoped tools can be called"
        );
    }
    tracing::info!(
        subject = identity.subject(),
        tenant = identity.tenant(),
        scopes = %identity.scopes().join(" "),
        "serving MCP on stdio"
    );
    let (out, mut messages) = mpsc::unbounded::<Bytes>();
    let mut output = BufWriter::new(output);
    let mut reading = pin!(read(
        Connection::new(endpoint, Arc::new(identity), out),
        Lines::new(BufReader::new(input), limit),
        limit,
    ));
    // Reading and writing in turns, in one task: a client that stops reading the output
    // stops the reading of its input too, instead of piling answers up in memory.
    let read = loop {
        tokio::select! {
            read = &mut reading => break read,
            Some(message) = messages.next() => {
                write_line(&mut output, &message).await?;
                output.flush().await?;
            }
        }
    };
    // What the cancelled requests sent before they ended still goes out; a task a tool
    // spawned with its context can send nothing more.
    messages.close();
    write_lines(&mut messages, &mut output).await?;
    output.flush().await?;
    tracing::info!("stdio input closed; server stopped");
    read
}

/// Reads and handles lines until the input ends; then cancels what still runs.
async fn read<R: AsyncRead + Unpin>(
    mut connection: Connection,
    mut lines: Lines<BufReader<R>>,
    limit: usize,
) -> std::io::Result<()> {
    let read = loop {
        match lines.next().await {
            Ok(Some(Line::Message(line))) => connection.line(&line).await,
            Ok(Some(Line::TooLong)) => connection.too_long(limit),
            Ok(None) => break Ok(()),
            Err(err) => break Err(err),
        }
    };
    connection.close().await;
    read
}
