//! A proof names the URI the client addressed (`htu`), which behind a proxy is not the one
//! the server sees: a TLS-terminating proxy (another scheme and host), one that rewrites the
//! path (`proxy_rewrites_path`), and a standalone `BearerAuthLayer` told its public URI.

use std::sync::Arc;

use axum::extract::Request;
use axum::routing::get;
use axum::{Extension, Router};
use mcp_auth_runtime::auth::{
    Algorithm, AuthInfo, BearerAuthLayer, Challenge, DpopConfigError, JwtVerifier,
};

use super::*;

/// Serves `router` on `listener` behind a rewriting "proxy": a request for a path starting
/// with `public` reaches the router with `local` instead, before any routing (as a reverse
/// proxy forwards it).
fn serve_rewritten(
    listener: tokio::net::TcpListener,
    router: Router,
    public: &'static str,
    local: &'static str,
) {
    let rewrite = move |mut request: Request| {
        let path = request.uri().path();
        if let Some(rest) = path.strip_prefix(public) {
            let uri = format!("{local}{rest}");
            *request.uri_mut() = uri.parse().unwrap();
        }
        request
    };
    let service = tower::ServiceExt::map_request(router, rewrite);
    tokio::spawn(async move {
        axum::serve(listener, axum::ServiceExt::into_make_service(service))
            .await
            .unwrap()
    });
}

/// A TLS-terminating proxy: clients address `https://mcp.example.com/mcp`, the server gets
/// plain HTTP on loopback with that `Host`. The proof names the public URI.
#[tokio::test]
async fn behind_a_tls_proxy_proofs_name_the_public_uri() {
    for kind in KINDS {
        let (listener, addr, _) = bind_endpoint().await;
        let resource = "https://mcp.example.com/mcp".to_owned();
        let serve = |listener, server: McpServer| {
            serve_on(listener, server.into_router());
        };
        let mut fx = Fx::serve(
            kind,
            listener,
            addr,
            resource,
            |builder| builder.dpop(Dpop::require()),
            serve,
        )
        .await;
        fx.url = format!("http://{addr}/mcp");
        let key = DpopKey::es256();
        let token = fx.token("things:read", Some(&key));
        let through_proxy = |htu: &str| {
            let mut request = authorized(
                fx.call("read_thing"),
                &format!("DPoP {token}"),
                &[key.proof("POST", htu, Some(&token))],
            );
            request
                .headers_mut()
                .insert("host", "mcp.example.com".parse().unwrap());
            request
        };
        fx.send(through_proxy("https://mcp.example.com/mcp"))
            .await
            .assert_called("read");
        // Normalised as RFC 9449 §4.3 says: scheme and host are case-insensitive, and the
        // default port may be spelled out.
        fx.send(through_proxy("HTTPS://MCP.Example.com:443/mcp"))
            .await
            .assert_called("read");
        for local in [
            format!("http://{addr}/mcp"),
            "http://mcp.example.com/mcp".into(),
        ] {
            let answer = fx.send(through_proxy(&local)).await;
            assert_eq!(answer.status, 401, "{kind:?}, {local}: {answer:?}");
            assert!(
                answer.challenges[0].contains("error=\"invalid_dpop_proof\""),
                "{answer:?}"
            );
        }
    }
}

/// A proxy that rewrites the path: clients address `/api/mcp`, the endpoint is served at
/// `/mcp`. The proof names the resource, not the local path.
#[tokio::test]
async fn behind_a_rewriting_proxy_proofs_name_the_resource() {
    for kind in KINDS {
        let (listener, addr, _) = bind_endpoint().await;
        let resource = format!("http://{addr}/api/mcp");
        let serve = |listener, server: McpServer| {
            serve_rewritten(listener, server.into_router(), "/api/mcp", "/mcp");
        };
        let fx = Fx::serve(
            kind,
            listener,
            addr,
            resource.clone(),
            |builder| {
                builder
                    .dpop(Dpop::accept())
                    .path("/mcp")
                    .proxy_rewrites_path()
            },
            serve,
        )
        .await;
        let key = DpopKey::es256();
        let token = fx.token("things:read", Some(&key));
        // `fx.call` goes to the resource, through the proxy: the honest proof names it.
        fx.send(dpop(fx.call("read_thing"), &key, &token))
            .await
            .assert_called("read");
        let local = authorized(
            fx.call("read_thing"),
            &format!("DPoP {token}"),
            &[key.proof("POST", &format!("http://{addr}/mcp"), Some(&token))],
        );
        let answer = fx.send(local).await;
        assert_eq!(
            answer.status, 401,
            "{kind:?}: a proof for the local path: {answer:?}"
        );
    }
}

/// `BearerAuthLayer::dpop` on a router of one's own: requests are addressed at the public
/// URI given, followed by their path.
#[tokio::test]
async fn a_standalone_layer_checks_proofs_for_its_public_uri() {
    let signer = TestKey::es256("issuer-1");
    let issuer = Issuer::start(&[&signer]).await;
    let audience = "https://api.example.com";
    let verifier = JwtVerifier::builder(issuer.url.clone(), audience)
        .build()
        .unwrap();
    let layer = BearerAuthLayer::new(verifier, Challenge::new("api"))
        .dpop(Dpop::require(), "https://api.example.com/")
        .unwrap();
    let app = Router::new()
        .route(
            "/v1/whoami",
            get(|Extension(auth): Extension<Arc<AuthInfo>>| async move {
                format!(
                    "{} {}",
                    auth.subject().unwrap_or("-"),
                    auth.dpop_thumbprint().unwrap_or("-")
                )
            }),
        )
        .layer(layer);
    let addr = mcp_auth_test_support::serve(app).await;
    let key = DpopKey::es256();
    let mut claims = claims(&issuer.url, audience, "things:read");
    claims["cnf"] = key.cnf();
    let token = signer.sign(&claims);
    let http = reqwest::Client::new();
    let whoami = |htu: &str| {
        http.get(format!("http://{addr}/v1/whoami?x=1"))
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", key.proof("GET", htu, Some(&token)))
            .send()
    };
    let answer = whoami("https://api.example.com/v1/whoami").await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.text().await.unwrap(),
        format!("user-1 {}", key.thumbprint())
    );
    let answer = whoami(&format!("http://{addr}/v1/whoami")).await.unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(
        answer.headers()["www-authenticate"],
        format!(
            "DPoP realm=\"api\", algs=\"{ALGS}\", error=\"invalid_dpop_proof\", \
             error_description=\"the DPoP proof is missing, malformed or invalid for this request\""
        )
        .as_str()
    );
}

#[test]
fn a_standalone_layer_refuses_what_cannot_work() {
    let layer = || {
        let verifier = JwtVerifier::builder("https://auth.example.com", "https://api.example.com")
            .static_keys(mcp_auth_runtime::auth::JwkSet::from_json(r#"{"keys":[]}"#).unwrap())
            .build()
            .unwrap();
        BearerAuthLayer::new(verifier, Challenge::new("api"))
    };
    for (uri, dpop, expected) in [
        (
            "api.example.com",
            Dpop::accept(),
            DpopConfigError::InvalidPublicUri("api.example.com".into()),
        ),
        (
            "http://api.example.com",
            Dpop::accept(),
            DpopConfigError::InvalidPublicUri("http://api.example.com".into()),
        ),
        (
            "https://api.example.com",
            Dpop::accept().algorithms([Algorithm::HS256]),
            DpopConfigError::SymmetricAlgorithm(Algorithm::HS256),
        ),
        (
            "https://api.example.com",
            Dpop::require().algorithms([]),
            DpopConfigError::NoAlgorithms,
        ),
        (
            "https://api.example.com",
            Dpop::require().nonces(*b"short"),
            DpopConfigError::NonceKeyTooShort(5),
        ),
    ] {
        assert_eq!(layer().dpop(dpop, uri).unwrap_err(), expected, "{uri}");
    }
}
