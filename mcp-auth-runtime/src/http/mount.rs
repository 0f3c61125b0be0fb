//! Where the MCP endpoint is served, and the check that it is served there: the endpoint's
//! path agrees with the resource's (at build time), and the router was merged, not nested (at
//! request time, since axum cannot say at build time).
//!
//! The protected-resource metadata lives at the origin's `/.well-known/` (RFC 9728 §3.1), which
//! a router nested under a prefix cannot serve: its challenges would advertise a document that
//! is not there, and discovery would break without a word. A nested server therefore refuses
//! every request with `500` and logs, once, how to mount it.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::extract::{OriginalUri, Request};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use crate::server::BuildError;

/// The default endpoint path when the resource has no path of its own.
const DEFAULT_PATH: &str = "/mcp";

/// The endpoint's path: the configured one, else the resource's, else `/mcp`; refused when it
/// does not start with `/` or is no plain path (axum would route `{x}`, `:x` or `*x` as a
/// parameter), or when clients connecting to the resource would not reach it (the resource's
/// path is neither equal to it nor a prefix of it, trailing slash included, since axum routes
/// `/mcp` and `/mcp/` apart) and no proxy rewrites one into the other.
pub(crate) fn endpoint_path(
    configured: Option<String>,
    resource: Option<&str>,
    proxy_rewrites_path: bool,
) -> Result<String, BuildError> {
    let resource_path = resource
        .and_then(|r| url::Url::parse(r).ok())
        .map(|url| url.path().to_owned())
        .filter(|path| path != "/")
        .unwrap_or_default();
    let path = match configured {
        Some(path) => path,
        None if resource_path.is_empty() => DEFAULT_PATH.to_owned(),
        None => resource_path.clone(),
    };
    let plain = path.starts_with('/')
        && !path.contains(['{', '}'])
        && !path
            .split('/')
            .any(|segment| segment.starts_with([':', '*']));
    if !plain {
        return Err(BuildError::InvalidPath(path));
    }
    let covers = resource_path.is_empty()
        || path == resource_path
        || (resource_path.ends_with('/') && path.starts_with(&resource_path))
        || path
            .strip_prefix(&resource_path)
            .is_some_and(|rest| rest.starts_with('/') && rest != "/");
    match resource {
        Some(resource) if !covers && !proxy_rewrites_path => Err(BuildError::PathMismatch {
            resource: resource.to_owned(),
            path,
        }),
        _ => Ok(path),
    }
}

/// What the request-time check needs: whether the misconfiguration was logged already.
#[derive(Default)]
pub(crate) struct MountCheck {
    logged: AtomicBool,
}

/// Refuses a request that reached this server's routes through `Router::nest` (or
/// `nest_service`): the path the outermost router saw ([`OriginalUri`]) is not the one
/// routed here. A plain service rather than a `from_fn` middleware: a request that is not
/// nested goes on to the inner service with no clone of it and no boxed future.
#[derive(Clone)]
pub(crate) struct RefuseNestedLayer(pub(crate) Arc<MountCheck>);

impl<S> tower::Layer<S> for RefuseNestedLayer {
    type Service = RefuseNested<S>;

    fn layer(&self, inner: S) -> RefuseNested<S> {
        RefuseNested {
            inner,
            check: self.0.clone(),
        }
    }
}

/// The service of [`RefuseNestedLayer`].
#[derive(Clone)]
pub(crate) struct RefuseNested<S> {
    inner: S,
    check: Arc<MountCheck>,
}

impl<S> tower::Service<Request> for RefuseNested<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future =
        futures_util::future::Either<S::Future, std::future::Ready<Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use futures_util::future::Either;
        let nested = request
            .extensions()
            .get::<OriginalUri>()
            .is_some_and(|OriginalUri(original)| original.path() != request.uri().path());
        if nested {
            Either::Right(std::future::ready(Ok(refuse_nested(&self.check, &request))))
        } else {
            Either::Left(self.inner.call(request))
        }
    }
}

/// The `500` for a nested request, logged once.
fn refuse_nested(check: &MountCheck, request: &Request) -> Response {
    if !check.logged.swap(true, Ordering::Relaxed) {
        let original = request
            .extensions()
            .get::<OriginalUri>()
            .map(|OriginalUri(uri)| uri.path().to_owned())
            .unwrap_or_default();
        // Escaped: the path is the client's, and this may go to a terminal.
        let original = original.escape_debug();
        let routed = request.uri().path().escape_debug();
        crate::server::visible_error!(
            "the MCP server's router is nested under a path prefix (`{original}` was routed to \
             `{routed}`): its protected-resource metadata must be served at the origin's \
             `/.well-known/` (RFC 9728 §3.1), which a nested router cannot do, so every request \
             to it is refused with 500. Merge it instead, with the prefix in the resource: \
             `McpServer::builder(..).resource(\"https://host/api/mcp\")` serves the endpoint at \
             `/api/mcp`, then `server.merge_into(app)?` or `app.merge(server.into_router())`"
        );
    }
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({
            "error": "server_misconfigured",
            "error_description": "the MCP server is mounted where its metadata cannot be found; see the server log",
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_defaults_to_the_resources() {
        let path = |resource| endpoint_path(None, resource, false).unwrap();
        assert_eq!(path(Some("https://x.example/api/mcp")), "/api/mcp");
        assert_eq!(path(Some("https://x.example/api/mcp/")), "/api/mcp/");
        assert_eq!(path(Some("https://x.example")), "/mcp");
        assert_eq!(path(Some("https://x.example/")), "/mcp");
        assert_eq!(path(None), "/mcp");
    }

    #[test]
    fn a_configured_path_must_be_reachable_at_the_resource() {
        let path = |configured: &str, resource| {
            endpoint_path(Some(configured.to_owned()), Some(resource), false)
        };
        assert_eq!(path("/mcp", "https://x.example/mcp").unwrap(), "/mcp");
        assert_eq!(path("/mcp", "https://x.example").unwrap(), "/mcp");
        assert_eq!(
            path("/api/mcp", "https://x.example/api").unwrap(),
            "/api/mcp"
        );
        for (configured, resource) in [
            ("/mcp", "https://x.example/api/mcp"),
            ("/api/mcpx", "https://x.example/api/mcp"),
            ("/apimcp", "https://x.example/api"),
            // axum routes these apart: the resource's own URL would be 404.
            ("/mcp/", "https://x.example/mcp"),
            ("/mcp", "https://x.example/mcp/"),
        ] {
            assert!(
                matches!(
                    path(configured, resource),
                    Err(BuildError::PathMismatch { .. })
                ),
                "{configured} for {resource}"
            );
        }
        for invalid in ["mcp", "/{tenant}/mcp", "/:tenant/mcp", "/api/*rest"] {
            assert!(
                matches!(
                    path(invalid, "https://x.example"),
                    Err(BuildError::InvalidPath(_))
                ),
                "{invalid}"
            );
        }
        // Nor from the resource: `:x` there would become a parameter route (a URL keeps `:`
        // in its path, and percent-encodes `{` and `}`).
        assert!(matches!(
            endpoint_path(None, Some("https://x.example/:tenant/mcp"), false),
            Err(BuildError::InvalidPath(_))
        ));
        assert_eq!(
            endpoint_path(None, Some("https://x.example/{tenant}/mcp"), false).unwrap(),
            "/%7Btenant%7D/mcp"
        );
    }

    #[test]
    fn a_rewriting_proxy_lifts_the_check_when_named() {
        let path = endpoint_path(
            Some("/mcp".to_owned()),
            Some("https://x.example/api/mcp"),
            true,
        );
        assert_eq!(path.unwrap(), "/mcp");
    }
}
