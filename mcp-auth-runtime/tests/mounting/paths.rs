//! The resource's path and the endpoint's must agree: clients connect to the resource.

use mcp_auth_runtime::BuildError;

use super::server;

#[test]
fn an_endpoint_path_the_resource_does_not_reach_is_refused() {
    let err = server()
        .resource("https://reports.example.com/api/mcp")
        .path("/mcp")
        .without_auth()
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::PathMismatch { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "the resource `https://reports.example.com/api/mcp` is not served at the MCP path `/mcp`: \
         clients connect to the resource's URL, so the endpoint must be at its path; drop \
         `.path(..)` to serve the endpoint at the resource's path, or, if a reverse proxy \
         rewrites one into the other, say so with `.proxy_rewrites_path()`"
    );
}

#[test]
fn without_a_path_the_endpoint_is_served_at_the_resources() {
    let server = server()
        .resource("https://reports.example.com/api/mcp")
        .without_auth()
        .build()
        .unwrap();
    assert_eq!(server.path(), "/api/mcp");
}

#[test]
fn a_rewriting_proxy_is_an_explicit_opt_in() {
    let server = server()
        .resource("https://reports.example.com/api/mcp")
        .path("/mcp")
        .proxy_rewrites_path()
        .without_auth()
        .build()
        .unwrap();
    assert_eq!(server.path(), "/mcp");
    // The metadata stays where the resource's clients look for it.
    assert_eq!(
        server.metadata().unwrap().resource,
        "https://reports.example.com/api/mcp"
    );
}
