//! Servers under test on loopback.

use std::net::SocketAddr;

/// Serves `router` on an ephemeral loopback port until the test ends.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = bind().await;
    serve_on(listener, router)
}

/// An ephemeral loopback listener, for servers that must know their URL before they are built.
pub async fn bind() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// Serves `router` on `listener` until the test ends.
pub fn serve_on(listener: tokio::net::TcpListener, router: axum::Router) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// An ephemeral loopback listener, its address, and the URL of an MCP endpoint served there
/// (`http://<addr>/mcp`: the resource a server on it protects, the audience of its tokens).
pub async fn bind_endpoint() -> (tokio::net::TcpListener, SocketAddr, String) {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    (listener, addr, format!("http://{addr}/mcp"))
}

/// Serves `builder` (its tools and state set) on loopback as a stateless server protecting
/// its own URL, in front of the verifier `verifier` makes for that resource; returns the
/// address.
pub async fn serve_stateless<V: mcp_auth_runtime::auth::TokenVerifier>(
    builder: mcp_auth_runtime::McpServerBuilder,
    verifier: impl FnOnce(&str) -> V,
) -> SocketAddr {
    let (listener, _, resource) = bind_endpoint().await;
    let verifier = verifier(&resource);
    serve_stateless_on(listener, resource, builder, verifier)
}

/// [`serve_stateless`] on a listener bound by [`bind_endpoint`], for a verifier that had to
/// be made before (whose endpoint needs the resource).
pub fn serve_stateless_on(
    listener: tokio::net::TcpListener,
    resource: String,
    builder: mcp_auth_runtime::McpServerBuilder,
    verifier: impl mcp_auth_runtime::auth::TokenVerifier,
) -> SocketAddr {
    let server = builder
        .resource(resource)
        .verifier(verifier)
        .stateless(true)
        .build()
        .unwrap();
    serve_on(listener, server.into_router())
}

/// Serves `app` on `listener` with [`mcp_auth_runtime::serve`] until the test ends: each
/// request carries its TCP peer (`ConnectInfo`), as per-peer limits need.
pub fn serve_with_peers(
    listener: tokio::net::TcpListener,
    app: impl Into<axum::Router>,
) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    let app: axum::Router = app.into();
    tokio::spawn(mcp_auth_runtime::serve(
        listener,
        app,
        std::future::pending(),
    ));
    addr
}
