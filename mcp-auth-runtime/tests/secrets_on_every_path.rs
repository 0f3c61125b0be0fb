//! Secrets hygiene on every path: JWT and introspection-backed servers taken through success
//! and each kind of failure (DPoP-bound tokens and their proofs included), with every
//! `tracing` event and every `log` record (reqwest, hyper) captured at TRACE. No token, no
//! token signature, no proof and no client secret, in any of the encodings it travels in, may
//! appear; nor in the `Debug` output of the verifiers and errors.
//! Its own test binary, so that the process-wide subscriber and logger see every thread. (The
//! dev issuer's authorization codes are covered by `dev_issuer.rs`.)

use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_auth_runtime::auth::{AuthError, TokenVerifier};
use mcp_auth_runtime::auth::{ClientAuth, Dpop, IntrospectionVerifier, JwtVerifier};
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::dpop::DpopKey;
use mcp_auth_test_support::issuer::{Fault, FaultyIntrospection, Issuer, TestKey, at, claims};
use mcp_auth_test_support::logs::Logs;
use mcp_auth_test_support::tools::{read_thing, write_thing};
use mcp_auth_test_support::{bind_endpoint, serve_on, serve_stateless, serve_stateless_on};
use serde_json::json;

const CLIENT_ID: &str = "mcp-rs";
/// A secret with characters that form and Basic encodings change.
const SECRET: &str = "Sup3r:s3cret/+=value-9f1c";
const HMAC_SECRET: &[u8] = b"hmac-shared-secret-0123456789abcdef";

/// A `tools/call tool` POST to `url`, without credentials.
fn tools_call(url: &str, tool: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(
            json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": { "name": tool, "arguments": {} } })
            .to_string(),
        )
}

/// POSTs `tools/call tool` to `addr` with `authorization` (a whole header value) and `query`.
async fn call(
    addr: std::net::SocketAddr,
    authorization: &[String],
    tool: &str,
    query: &str,
) -> u16 {
    let mut request = tools_call(&format!("http://{addr}/mcp{query}"), tool);
    for value in authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn bearer(addr: std::net::SocketAddr, token: &str, tool: &str) -> u16 {
    call(addr, &[format!("Bearer {token}")], tool, "").await
}

/// A stateless server for `tools![read_thing, write_thing]` in front of `verifier`.
async fn server<V: TokenVerifier>(verifier: impl FnOnce(&str) -> V) -> std::net::SocketAddr {
    let builder = McpServer::builder("things", "1").tools(tools![read_thing, write_thing]);
    serve_stateless(builder, verifier).await
}

#[tokio::test]
async fn no_token_or_client_secret_reaches_a_log_or_debug_output() {
    let logs = Logs::capture_global_with_log();
    let mut secrets: Vec<String> = Vec::new();

    // JWT: success, every refusal, step-up, malformed requests, an issuer outage.
    let key = TestKey::es256("k");
    let issuer = Issuer::start(&[&key]).await;
    let url = issuer.url.clone();
    let jwt = server(move |resource| {
        JwtVerifier::builder(url, resource)
            .refetch_interval(Duration::from_millis(50))
            .hmac_secret(HMAC_SECRET)
            .build()
            .unwrap()
    })
    .await;
    let resource = format!("http://{jwt}/mcp");
    let good_claims = claims(&issuer.url, &resource, "things:read");
    let with = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut c = good_claims.clone();
        change(&mut c);
        key.sign(&c)
    };
    let good = key.sign(&good_claims);
    let hmac = jsonwebtoken::encode(
        &{
            let mut header = Header::new(Algorithm::HS256);
            header.typ = Some("at+jwt".into());
            header
        },
        &good_claims,
        &EncodingKey::from_secret(HMAC_SECRET),
    )
    .unwrap();
    assert_eq!(bearer(jwt, &good, "read_thing").await, 200);
    assert_eq!(bearer(jwt, &good, "read_thing").await, 200, "cached");
    assert_eq!(bearer(jwt, &hmac, "read_thing").await, 200, "HS256");
    assert_eq!(bearer(jwt, &good, "write_thing").await, 403);
    let refused = [
        with(&|c| c["exp"] = at(-3600).into()),
        with(&|c| c["aud"] = "https://elsewhere.example/mcp".into()),
        with(&|c| c["iss"] = "https://evil.example".into()),
        with(&|c| c["scope"] = json!(["things:read"])),
        TestKey::es256("k").sign(&good_claims),
        TestKey::es256("unknown-kid").sign(&good_claims),
        key.sign_raw(
            r#"{"alg":"ES256","kid":"k"}"#,
            &format!(
                r#"{{"iss":"{}","aud":"{resource}","exp":{},"scope":"a","scope":"b"}}"#,
                issuer.url,
                at(300)
            ),
        ),
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &good_claims,
            &EncodingKey::from_secret(b"not the shared secret"),
        )
        .unwrap(),
        format!("{}.", good.rsplit_once('.').unwrap().0),
        "opaque-not-a-jwt-4b1d7c0ffee".to_owned(),
    ];
    for token in &refused {
        assert_eq!(bearer(jwt, token, "read_thing").await, 401);
    }
    assert_eq!(
        call(jwt, &[], "read_thing", &format!("?access_token={good}")).await,
        400
    );
    assert_eq!(
        call(
            jwt,
            &[format!("Bearer {good}"), format!("Bearer {hmac}")],
            "read_thing",
            ""
        )
        .await,
        400
    );
    let long = "L".repeat(20 * 1024);
    assert_eq!(bearer(jwt, &long, "read_thing").await, 400);
    issuer.set_down(true);
    tokio::time::sleep(Duration::from_millis(80)).await;
    let during_outage = TestKey::es256("rotated-in").sign(&good_claims);
    assert_eq!(bearer(jwt, &during_outage, "read_thing").await, 401);
    let down = Issuer::start(&[&key]).await;
    down.set_down(true);
    let down_url = down.url.clone();
    let unavailable =
        server(move |resource| JwtVerifier::builder(down_url, resource).build().unwrap()).await;
    let outage_token = key.sign(&claims(
        &down.url,
        &format!("http://{unavailable}/mcp"),
        "things:read",
    ));
    assert_eq!(bearer(unavailable, &outage_token, "read_thing").await, 503);
    secrets.extend([good, hmac, during_outage, outage_token]);
    secrets.extend(refused);

    // Introspection, both client authentication methods, through every endpoint fault.
    for method in [ClientAuth::Basic, ClientAuth::Post] {
        let (listener, addr, resource) = bind_endpoint().await;
        let endpoint = FaultyIntrospection::start(&resource).await;
        let verifier = IntrospectionVerifier::builder(&endpoint.url, &resource)
            .client_credentials(CLIENT_ID, SECRET, method)
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let debug = format!("{verifier:?}");
        let builder = McpServer::builder("things", "1").tools(tools![read_thing, write_thing]);
        serve_stateless_on(listener, resource, builder, verifier);
        let token = |name: &str| format!("opaque-{method:?}-{name}-8c1e2f9a7b3d");
        endpoint.activate(&token("good"), "alice", "things:read");
        assert_eq!(bearer(addr, &token("good"), "read_thing").await, 200);
        assert_eq!(
            bearer(addr, &token("good"), "read_thing").await,
            200,
            "cached"
        );
        assert_eq!(bearer(addr, &token("good"), "write_thing").await, 403);
        assert_eq!(bearer(addr, &token("inactive"), "read_thing").await, 401);
        for (fault, name) in [
            (Fault::RefuseClient, "refused"),
            (Fault::Down, "down"),
            (Fault::Garbage, "garbage"),
            (Fault::Flapping, "flapping"),
        ] {
            endpoint.set_fault(fault);
            let status = bearer(addr, &token(name), "read_thing").await;
            assert!(matches!(status, 401 | 503), "{fault:?}: {status}");
        }
        endpoint.set_fault(Fault::None);
        endpoint.set_delay(Duration::from_secs(2));
        assert_eq!(bearer(addr, &token("slow"), "read_thing").await, 503);
        endpoint.set_delay(Duration::ZERO);
        for name in [
            "good", "inactive", "refused", "down", "garbage", "flapping", "slow",
        ] {
            secrets.push(token(name));
        }
        assert_secret_free(&debug, &secrets, "the verifier's Debug output");
    }

    // DPoP-bound tokens, through every outcome: their proofs are secrets too.
    secrets.extend(dpop_outcomes(&key).await);

    // The errors a verifier returns name no token either.
    let direct =
        IntrospectionVerifier::builder("http://127.0.0.1:9/introspect", "https://r.example/mcp")
            .client_credentials(CLIENT_ID, SECRET, ClientAuth::Basic)
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
    let error: AuthError = direct
        .verify("opaque-direct-5e6f7a8b9c0d")
        .await
        .unwrap_err();
    secrets.push("opaque-direct-5e6f7a8b9c0d".into());
    assert_secret_free(&format!("{error:?} {error}"), &secrets, "an AuthError");

    // Nor does the `Debug` output of the builders and verifiers holding a secret.
    let builder =
        IntrospectionVerifier::builder("https://as.example/introspect", "https://r.example/mcp")
            .client_credentials(CLIENT_ID, SECRET, ClientAuth::Post);
    let jwt_builder = JwtVerifier::builder("https://as.example", "https://r.example/mcp")
        .hmac_secret(HMAC_SECRET);
    let builder_debug = format!("{builder:?} {jwt_builder:?}");
    let debug = format!(
        "{builder_debug} {:?} {:?}",
        builder.build().unwrap(),
        jwt_builder.build().unwrap()
    );
    assert!(
        debug.contains(CLIENT_ID) && debug.contains("<redacted>"),
        "{debug}"
    );
    assert_secret_free(&debug, &secrets, "Debug output");

    let text = logs.text();
    for expected in [
        "bearer token rejected",
        "insufficient scope",
        "malformed bearer authorization",
        "cannot fetch the issuer's signing keys",
        "refused this resource server's client credentials",
        "failing closed",
        "DPoP proof rejected",
        "authorization scheme refused",
    ] {
        assert!(text.contains(expected), "`{expected}` is logged:\n{text}");
    }
    assert!(text.contains("LOG "), "log records are captured too");
    assert_secret_free(&text, &secrets, "the logs");
}

/// Takes a server accepting DPoP-bound tokens, with nonces, through every outcome, for JWTs
/// signed by `signer` and for introspected tokens; returns the tokens and proofs sent.
async fn dpop_outcomes(signer: &TestKey) -> Vec<String> {
    let issuer = Issuer::start(&[signer]).await;
    let mut sent = Vec::new();
    for introspected in [false, true] {
        let (listener, _, resource) = bind_endpoint().await;
        let endpoint = FaultyIntrospection::start(&resource).await;
        let builder = McpServer::builder("things", "1")
            .tools(tools![read_thing, write_thing])
            .resource(resource.clone())
            .stateless(true)
            .dpop(Dpop::accept().nonces([3u8; 32]));
        let builder = if introspected {
            let verifier = IntrospectionVerifier::builder(&endpoint.url, &resource);
            builder.verifier(verifier.build().unwrap())
        } else {
            let verifier = JwtVerifier::builder(issuer.url.clone(), &resource);
            builder.verifier(verifier.build().unwrap())
        };
        serve_on(listener, builder.build().unwrap().into_router());
        let key = DpopKey::es256();
        let token = |name: &str, bound: bool| {
            if introspected {
                let token = format!("opaque-dpop-{name}-4f2a9c71");
                let cnf = if bound {
                    json!({ "cnf": key.cnf(), "token_type": "DPoP" })
                } else {
                    json!({})
                };
                endpoint.activate_with(&token, "alice", "things:read", cnf);
                token
            } else {
                let mut claims = claims(&issuer.url, &resource, "things:read");
                claims["jti"] = name.into();
                if bound {
                    claims["cnf"] = key.cnf();
                }
                signer.sign(&claims)
            }
        };
        let (bound, unbound) = (token("bound", true), token("unbound", false));
        let proof = |key: &DpopKey, token: &str, nonce: Option<&str>| {
            let mut claims = key.claims("POST", &resource, Some(token));
            claims.nonce = nonce.map(str::to_owned);
            key.sign(&claims)
        };
        let send = |tool: &'static str, authorization: String, proofs: Vec<String>| {
            let mut request = tools_call(&resource, tool).header("authorization", authorization);
            for proof in proofs {
                request = request.header("dpop", proof);
            }
            async move {
                let response = request.send().await.unwrap();
                let nonce = mcp_auth_test_support::header(&response, "dpop-nonce");
                (response.status().as_u16(), nonce)
            }
        };
        let dpop = |token: &str| format!("DPoP {token}");
        let first = proof(&key, &bound, None);
        let (status, nonce) = send("read_thing", dpop(&bound), vec![first.clone()]).await;
        assert_eq!(status, 401, "no nonce yet");
        let nonce = nonce.expect("a nonce");
        let honest = proof(&key, &bound, Some(&nonce));
        let stranger = proof(&DpopKey::es256(), &bound, Some(&nonce));
        let for_unbound = proof(&key, &unbound, Some(&nonce));
        let step_up = proof(&key, &bound, Some(&nonce));
        for (tool, authorization, proofs, expected) in [
            ("read_thing", dpop(&bound), vec![honest.clone()], 200),
            ("read_thing", dpop(&bound), vec![honest.clone()], 401),
            ("write_thing", dpop(&bound), vec![step_up.clone()], 403),
            ("read_thing", format!("Bearer {bound}"), vec![], 401),
            (
                "read_thing",
                format!("Bearer {unbound}"),
                vec![honest.clone()],
                400,
            ),
            ("read_thing", dpop(&unbound), vec![for_unbound.clone()], 401),
            ("read_thing", dpop(&bound), vec![], 401),
            (
                "read_thing",
                dpop(&bound),
                vec![honest.clone(), honest.clone()],
                401,
            ),
            ("read_thing", dpop(&bound), vec![stranger.clone()], 401),
            ("read_thing", dpop(&bound), vec![format!("{honest}x")], 401),
        ] {
            let (status, _) = send(tool, authorization, proofs).await;
            assert_eq!(status, expected, "{tool}, introspected: {introspected}");
        }
        sent.extend([
            bound,
            unbound,
            first,
            honest,
            stranger,
            for_unbound,
            step_up,
        ]);
    }
    sent
}

/// Asserts that `text` holds none of `tokens` (nor a JWT's signature), and not the client
/// secret in any encoding it is sent in.
fn assert_secret_free(text: &str, tokens: &[String], what: &str) {
    for token in tokens {
        assert!(!text.contains(token.as_str()), "a token is in {what}");
        if let Some((_, signature)) = token.rsplit_once('.')
            && signature.len() > 16
        {
            assert!(!text.contains(signature), "a token signature is in {what}");
        }
    }
    let form = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        form(CLIENT_ID),
        form(SECRET)
    ));
    for encoding in [SECRET.to_owned(), form(SECRET), basic] {
        assert!(!text.contains(&encoding), "the client secret is in {what}");
    }
    let hmac = String::from_utf8_lossy(HMAC_SECRET);
    assert!(
        !text.contains(hmac.as_ref()),
        "the HMAC secret is in {what}"
    );
}
