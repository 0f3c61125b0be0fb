//! A client of the stdio transport: a server served with `stdio::serve_with` on an in-memory
//! pipe, spoken to line by line.

use std::time::Duration;

use mcp_auth_runtime::McpServer;
use mcp_auth_runtime::auth::AuthInfo;
use serde_json::{Value, json};
use tokio::io::{
    AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines, ReadHalf, WriteHalf,
};
use tokio::task::JoinHandle;

/// How long a test waits for one line of the server.
const LINE_TIMEOUT: Duration = Duration::from_secs(10);

/// The client's end of a stdio connection.
pub struct StdioClient {
    to_server: WriteHalf<DuplexStream>,
    from_server: Lines<BufReader<ReadHalf<DuplexStream>>>,
    serving: JoinHandle<std::io::Result<()>>,
}

impl StdioClient {
    /// Serves `server` as `identity` on a new pipe, in a task of its own.
    pub fn serve(server: McpServer, identity: AuthInfo) -> StdioClient {
        let (client, server_end) = tokio::io::duplex(256 * 1024);
        let (input, output) = tokio::io::split(server_end);
        let serving = tokio::spawn(mcp_auth_runtime::stdio::serve_with(
            server, identity, input, output,
        ));
        let (from_server, to_server) = tokio::io::split(client);
        StdioClient {
            to_server,
            from_server: BufReader::new(from_server).lines(),
            serving,
        }
    }

    /// Writes `bytes` as they are (a line needs its newline).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.to_server.write_all(bytes).await.unwrap();
    }

    /// Writes `message` as one line.
    pub async fn send(&mut self, message: &Value) {
        self.send_raw(format!("{message}\n").as_bytes()).await;
    }

    /// The next line of the server, as JSON; fails the test after 10 s.
    pub async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(LINE_TIMEOUT, self.from_server.next_line())
            .await
            .expect("a line from the server in time")
            .unwrap()
            .expect("the server's output is open");
        serde_json::from_str(&line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
    }

    /// Asserts that the server writes nothing for `wait`.
    pub async fn assert_silent(&mut self, wait: Duration) {
        if let Ok(line) = tokio::time::timeout(wait, self.from_server.next_line()).await {
            panic!("the server wrote {line:?}");
        }
    }

    /// Sends request `id` of `method` and returns the server's answer to it.
    pub async fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .await;
        let answer = self.recv().await;
        assert_eq!(answer["id"], id, "an answer to {method}: {answer}");
        answer
    }

    /// The handshake: `initialize` with `capabilities`, then `notifications/initialized`;
    /// returns the `initialize` answer.
    pub async fn initialize(&mut self, capabilities: Value) -> Value {
        let answer = self
            .request(
                0,
                "initialize",
                json!({
                    "protocolVersion": "2025-11-25",
                    "capabilities": capabilities,
                    "clientInfo": { "name": "stdio-test", "version": "0" }
                }),
            )
            .await;
        self.send(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await;
        answer
    }

    /// `tools/call` of `tool` with `arguments` as request `id`; returns the answer.
    pub async fn call(&mut self, id: u64, tool: &str, arguments: Value) -> Value {
        self.request(
            id,
            "tools/call",
            json!({ "name": tool, "arguments": arguments }),
        )
        .await
    }

    /// Closes the server's input and returns how the server ended; fails the test if it
    /// does not end within 10 s.
    pub async fn close(mut self) -> std::io::Result<()> {
        self.to_server.shutdown().await.unwrap();
        drop(self.to_server);
        tokio::time::timeout(LINE_TIMEOUT, self.serving)
            .await
            .expect("the server ends when its input does")
            .unwrap()
    }
}
