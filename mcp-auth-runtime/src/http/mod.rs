//! The axum side of the MCP endpoint, along the request's path. The guard comes first; the
//! POST, SSE and session handlers still live in `transport` and move here next.

pub(crate) mod guard;
