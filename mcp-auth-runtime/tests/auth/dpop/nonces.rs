//! Server nonces (RFC 9449 §8, §9): a proof without one is answered `use_dpop_nonce` with a
//! nonce to use, every response to a DPoP request carries the next one, uncacheable, and
//! replicas sharing the key (or a rotated one) accept each other's.

use mcp_auth_test_support::dpop::ProofClaims;

use super::*;

const KEY: [u8; 32] = [7; 32];

/// `claims` with `nonce`, signed by `key`, as the DPoP credentials of `request`.
fn with_nonce(
    request: reqwest::Request,
    key: &DpopKey,
    token: &str,
    nonce: Option<&str>,
) -> reqwest::Request {
    let mut claims: ProofClaims =
        key.claims(request.method().as_str(), &htu(&request), Some(token));
    claims.nonce = nonce.map(str::to_owned);
    let proof = key.sign(&claims);
    authorized(request, &format!("DPoP {token}"), &[proof])
}

#[tokio::test]
async fn a_nonce_is_asked_for_then_given_with_every_answer() {
    for kind in KINDS {
        let fx = Fx::start(kind, Dpop::accept().nonces(KEY)).await;
        let key = DpopKey::es256();
        let token = fx.token("things:read", Some(&key));

        let first = fx
            .send(with_nonce(fx.call("read_thing"), &key, &token, None))
            .await;
        first.assert_refused(
            401,
            &[
                fx.challenge("Bearer", ""),
                fx.challenge(
                    "DPoP",
                    &problem(
                        "use_dpop_nonce",
                        "the DPoP proof must carry the nonce of the DPoP-Nonce header",
                    ),
                ),
            ],
        );
        let nonce = first.nonce.clone().expect("a nonce to use");
        assert_eq!(first.cache_control.as_deref(), Some("no-store"));

        let second = fx
            .send(with_nonce(
                fx.call("read_thing"),
                &key,
                &token,
                Some(&nonce),
            ))
            .await;
        second.assert_called("read");
        // RFC 9449 §8.2: the next nonce comes with the answer, which no cache may keep.
        let next = second.nonce.clone().expect("the next nonce");
        assert_eq!(second.cache_control.as_deref(), Some("no-store"));
        fx.send(with_nonce(fx.call("read_thing"), &key, &token, Some(&next)))
            .await
            .assert_called("read");

        // A nonce this server never issued is no nonce.
        let forged = fx
            .send(with_nonce(
                fx.call("read_thing"),
                &key,
                &token,
                Some("forged-nonce"),
            ))
            .await;
        assert_eq!(forged.status, 401, "{kind:?}: {forged:?}");
        assert!(forged.nonce.is_some(), "{forged:?}");

        // Bearer requests know nothing of nonces.
        let unbound = fx.token("things:read", None);
        let answer = fx.send(bearer(fx.call("read_thing"), &unbound)).await;
        answer.assert_called("read");
        assert_eq!(answer.nonce, None);
    }
}

/// Nonces are sealed with the key, not remembered: a replica with the same key accepts a
/// nonce another issued, and so does one whose key rotated, through its previous key.
#[tokio::test]
async fn replicas_with_the_key_accept_each_others_nonces() {
    let rotated = [9u8; 32];
    let fx = Fx::start(Kind::Jwt, Dpop::accept().nonces(KEY)).await;
    let key = DpopKey::es256();
    let token = fx.token("things:read", Some(&key));
    let first = fx
        .send(with_nonce(fx.call("read_thing"), &key, &token, None))
        .await;
    let nonce = first.nonce.expect("a nonce");
    for (what, dpop, accepted) in [
        ("same key", Dpop::accept().nonces(KEY), true),
        (
            "rotated key",
            Dpop::accept().nonces(rotated).previous_nonce_key(KEY),
            true,
        ),
        ("another key", Dpop::accept().nonces(rotated), false),
    ] {
        // Another server for the same resource: same issuer, same audience.
        let (listener, addr, _) = bind_endpoint().await;
        let replica = McpServer::builder("dpop", "1.0.0")
            .tools(tools![read_thing])
            .resource(fx.resource.clone())
            .authorization_server(fx.issuer.url.clone())
            .allowed_host(addr.to_string())
            .dpop(dpop)
            .build()
            .unwrap();
        serve_on(listener, replica.into_router());
        let mut request = with_nonce(fx.call("read_thing"), &key, &token, Some(&nonce));
        *request.url_mut() = format!("http://{addr}/mcp").parse().unwrap();
        let answer = fx.send(request).await;
        assert_eq!(answer.status == 200, accepted, "{what}: {answer:?}");
    }
}
