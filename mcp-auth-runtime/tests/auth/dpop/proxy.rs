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

/// Serves `app` behind a standalone `BearerAuthLayer` requiring DPoP, its public URI
/// `public_uri`, and a token for it bound to a fresh key: the address, the key and the token.
async fn standalone(app: Router, public_uri: &str) -> (SocketAddr, DpopKey, String) {
    let signer = TestKey::es256("issuer-1");
    let issuer = Issuer::start(&[&signer]).await;
    let audience = "https://api.example.com";
    let verifier = JwtVerifier::builder(issuer.url.clone(), audience)
        .build()
        .unwrap();
    let layer = BearerAuthLayer::new(verifier, Challenge::new("api"))
        .dpop(Dpop::require(), public_uri)
        .unwrap();
    let addr = mcp_auth_test_support::serve(app.layer(layer)).await;
    let key = DpopKey::es256();
    let mut claims = claims(&issuer.url, audience, "things:read");
    claims["cnf"] = key.cnf();
    let token = signer.sign(&claims);
    // The issuer's server task outlives `issuer`: it serves the keys for the whole test.
    (addr, key, token)
}

/// `BearerAuthLayer::dpop` on a router of one's own: requests are addressed at the public
/// URI given, followed by their path.
#[tokio::test]
async fn a_standalone_layer_checks_proofs_for_its_public_uri() {
    let app = Router::new().route(
        "/v1/whoami",
        get(|Extension(auth): Extension<Arc<AuthInfo>>| async move {
            format!(
                "{} {}",
                auth.subject().unwrap_or("-"),
                auth.dpop_thumbprint().unwrap_or("-")
            )
        }),
    );
    let (addr, key, token) = standalone(app, "https://api.example.com/").await;
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

/// A proof names a URI; the router dispatches the path as sent. A path that normalisation
/// would change (dot segments, plain or percent-encoded; percent-encoded unreserved
/// characters) names one resource to the `htu` comparison and reaches another route: a proof
/// for `/v1/whoami` must not be accepted for `/files/../v1/whoami`, which a wildcard route
/// serves. Raw HTTP: a client library would remove the dot segments before sending.
#[tokio::test]
async fn a_proof_is_not_accepted_for_a_path_that_normalises_onto_its_htu() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = Router::new()
        .route("/v1/whoami", get(|| async { "whoami" }))
        .route(
            "/files/{*path}",
            get(
                |axum::extract::Path(path): axum::extract::Path<String>| async move {
                    format!("file {path}")
                },
            ),
        )
        .route("/v1/{name}", get(|| async { "named" }));
    let (addr, key, token) = standalone(app, "https://api.example.com").await;
    // The status line and body of a `GET` of `path` with a proof for `htu`.
    let get = async |path: &str, htu: &str| {
        let proof = key.proof("GET", htu, Some(&token));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: DPoP {token}\r\n\
             DPoP: {proof}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let status = answer.get(9..12).unwrap_or_default().to_owned();
        let body = answer
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        (status, body)
    };
    let whoami = "https://api.example.com/v1/whoami";
    assert_eq!(
        get("/v1/whoami", whoami).await,
        ("200".into(), "whoami".into())
    );
    for path in [
        "/files/../v1/whoami",
        "/files/%2e%2e/v1/whoami",
        "/files/.%2E/v1/whoami",
        "/files/./../v1/whoami",
        "/v1/%77hoami",
    ] {
        let (status, body) = get(path, whoami).await;
        assert_eq!(status, "401", "{path}: {body}");
    }
    // Honest requests whose paths are in normal form but for the case of a percent-encoding
    // are still accepted.
    assert_eq!(
        get("/files/a%3ab", "https://api.example.com/files/a%3ab").await,
        ("200".into(), "file a:b".into())
    );
    assert_eq!(
        get("/files/a%3ab", "https://api.example.com/files/a%3Ab").await,
        ("200".into(), "file a:b".into())
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
