//! DPoP-bound tokens (RFC 9449 §5, §10): token requests with real proofs signed by real keys,
//! the refresh tokens bound to them, codes bound with `dpop_jkt`, the proofs refused, and the
//! policies. The metadata's algorithms are in `configuration.rs`, with the other fields.

use mcp_auth_runtime::auth::DpopPolicy;
use mcp_auth_test_support::dpop::{DpopKey, ProofClaims};
use mcp_auth_test_support::get_json;

use super::*;

impl Fixture {
    fn token_url(&self) -> String {
        self.url("/token")
    }

    /// An honest proof by `key` for this issuer's token endpoint.
    fn proof(&self, key: &DpopKey) -> String {
        key.proof("POST", &self.token_url(), None)
    }

    /// Posts `form` to the token endpoint with each of `proofs` as a `DPoP` header, as a
    /// public client, or with `client_secret_basic` when `basic` names the client.
    async fn token_with(
        &self,
        basic: Option<(&str, &str)>,
        form: &(impl serde::Serialize + ?Sized),
        proofs: &[String],
    ) -> (u16, Value) {
        let mut request = self.http.post(self.token_url()).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        for proof in proofs {
            request = request.header("dpop", proof);
        }
        self.token_request(request).await
    }

    /// The form redeeming a fresh code of `client_id`, authorized (auto-consent) with
    /// `extra` parameters.
    async fn code_exchange(
        &self,
        client_id: &str,
        extra: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let (verifier, challenge) = pkce();
        let code = self.code(client_id, &challenge, extra).await;
        code_form(client_id, &code, &[("code_verifier", &verifier)])
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

/// Asserts a token response bound to `key`: `token_type: DPoP`, `cnf.jkt` its thumbprint.
#[track_caller]
fn assert_bound((status, body): &(u16, Value), key: &DpopKey) {
    assert_eq!(*status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let claims = claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["cnf"],
        json!({ "jkt": key.thumbprint() }),
        "{claims}"
    );
}

/// Asserts a bearer token response: `token_type: Bearer`, no `cnf`.
#[track_caller]
fn assert_bearer((status, body): &(u16, Value)) {
    assert_eq!(*status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    let claims = claims(body["access_token"].as_str().unwrap());
    assert!(claims.get("cnf").is_none(), "{claims}");
}

/// Asserts a `400 invalid_dpop_proof` (RFC 9449 §5); `what` names the case.
#[track_caller]
fn assert_invalid_proof((status, body): &(u16, Value), what: &str) {
    assert_eq!(
        (*status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn client_credentials_with_a_proof_get_a_token_bound_to_its_key() {
    let fx = Fixture::start(|b| b).await;
    let (id, secret) = fx.machine_client(Some("invoices:read")).await;
    let basic = Some((id.as_str(), secret.as_str()));
    let form = [("grant_type", "client_credentials")];
    for key in [DpopKey::es256(), DpopKey::rsa(), DpopKey::ed25519()] {
        let reply = fx.token_with(basic, &form, &[fx.proof(&key)]).await;
        assert_bound(&reply, &key);
        assert!(reply.1.get("refresh_token").is_none(), "{}", reply.1);
    }
    assert_bearer(&fx.token_with(basic, &form, &[]).await);
}

#[tokio::test]
async fn code_flow_with_a_proof_binds_the_access_and_refresh_tokens() {
    let fx = Fixture::auto_consent().await;
    let key = DpopKey::es256();
    let client_id = fx.public_client(None).await;
    let form = fx.code_exchange(&client_id, &[]).await;
    let first = fx.token_with(None, &form, &[fx.proof(&key)]).await;
    assert_bound(&first, &key);

    // Another key's proof, or none: refused, and the refresh token stays usable.
    let refresh = refresh_form(&client_id, &first.1);
    let thief = DpopKey::es256();
    assert_invalid_grant(fx.token_with(None, &refresh, &[fx.proof(&thief)]).await);
    assert_invalid_grant(fx.token_with(None, &refresh, &[]).await);
    let second = fx.token_with(None, &refresh, &[fx.proof(&key)]).await;
    assert_bound(&second, &key);

    // The rotated refresh token is bound to the same key.
    let refresh = refresh_form(&client_id, &second.1);
    assert_invalid_grant(fx.token_with(None, &refresh, &[]).await);
    assert_bound(
        &fx.token_with(None, &refresh, &[fx.proof(&key)]).await,
        &key,
    );
}

#[tokio::test]
async fn a_public_clients_bearer_refresh_token_is_bound_once_it_sends_a_proof() {
    let fx = Fixture::auto_consent().await;
    let (client_id, tokens) = fx.tokens(None, "invoices:read").await;
    assert_bearer(&(200, tokens.clone()));
    let plain = fx.refresh(&client_id, &tokens).await;
    assert_bearer(&plain);

    let key = DpopKey::ed25519();
    let bound = fx
        .token_with(None, &refresh_form(&client_id, &plain.1), &[fx.proof(&key)])
        .await;
    assert_bound(&bound, &key);
    assert_invalid_grant(fx.refresh(&client_id, &bound.1).await);
}

/// RFC 9449 §5: a confidential client's refresh token is bound to its credentials already, not
/// to a key; each access token is bound to the proof of its own request.
#[tokio::test]
async fn confidential_clients_refresh_tokens_are_not_bound_but_their_access_tokens_are() {
    let fx = Fixture::auto_consent().await;
    let (id, secret) = fx
        .confidential_client(
            "client_secret_basic",
            &["authorization_code", "refresh_token"],
        )
        .await;
    let basic = Some((id.as_str(), secret.as_str()));
    let form = fx.code_exchange(&id, &[]).await;
    let first_key = DpopKey::es256();
    let first = fx.token_with(basic, &form, &[fx.proof(&first_key)]).await;
    assert_bound(&first, &first_key);

    let other_key = DpopKey::rsa();
    let second = fx
        .token_with(basic, &refresh_form(&id, &first.1), &[fx.proof(&other_key)])
        .await;
    assert_bound(&second, &other_key);
    assert_bearer(
        &fx.token_with(basic, &refresh_form(&id, &second.1), &[])
            .await,
    );
}

/// RFC 9449 §4.3 at the token endpoint: each bad proof is `400 invalid_dpop_proof`.
#[tokio::test]
async fn bad_proofs_are_refused_with_invalid_dpop_proof() {
    let fx = Fixture::start(|b| b).await;
    let (id, secret) = fx.machine_client(None).await;
    let basic = Some((id.as_str(), secret.as_str()));
    let form = [("grant_type", "client_credentials")];
    let key = DpopKey::es256();
    let url = fx.token_url();

    let accepted = key.claims("POST", &url, None);
    let replayed = key.sign(&accepted);
    assert_bound(
        &fx.token_with(basic, &form, std::slice::from_ref(&replayed))
            .await,
        &key,
    );
    let same_jti = ProofClaims {
        iat: accepted.iat + 1,
        ..accepted.clone()
    };

    // The private key's `d` beside the public members: a client that leaks its key.
    let mut jwk = serde_json::to_value(key.public_jwk()).unwrap();
    jwk["d"] = URL_SAFE_NO_PAD.encode([7u8; 32]).into();
    let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk });
    let payload = key.claims("POST", &url, None).to_json();
    let private_jwk = key.sign_raw(&header.to_string(), &payload.to_string());

    let cases: [(&str, Vec<String>); 8] = [
        (
            "a proof for another URI",
            vec![key.proof("POST", &fx.resource, None)],
        ),
        (
            "a proof for another method",
            vec![key.proof("GET", &url, None)],
        ),
        ("the same proof again", vec![replayed]),
        ("a new proof with a used jti", vec![key.sign(&same_jti)]),
        ("a private key in the jwk", vec![private_jwk]),
        ("two DPoP headers", vec![fx.proof(&key), fx.proof(&key)]),
        ("not a JWT", vec!["not-a-proof".to_owned()]),
        (
            "a proof issued an hour ago",
            vec![key.sign(&ProofClaims {
                iat: accepted.iat - 3600,
                ..key.claims("POST", &url, None)
            })],
        ),
    ];
    for (what, proofs) in cases {
        assert_invalid_proof(&fx.token_with(basic, &form, &proofs).await, what);
    }
}

/// `ath` binds a proof to the access token it is presented with; a token request presents
/// none, so the token endpoint does not look at it (RFC 9449 §4.3, §5).
#[tokio::test]
async fn ath_is_irrelevant_at_the_token_endpoint() {
    let fx = Fixture::start(|b| b).await;
    let (id, secret) = fx.machine_client(None).await;
    let key = DpopKey::es256();
    let proof = key.proof("POST", &fx.token_url(), Some("some-earlier-access-token"));
    let form = [("grant_type", "client_credentials")];
    let reply = fx.token_with(Some((&id, &secret)), &form, &[proof]).await;
    assert_bound(&reply, &key);
}

/// The proof is checked before the grant: a refused proof spends no code, so the client's
/// honest retry succeeds.
#[tokio::test]
async fn a_refused_proof_spends_no_code() {
    let fx = Fixture::auto_consent().await;
    let key = DpopKey::es256();
    let client_id = fx.public_client(None).await;
    let form = fx.code_exchange(&client_id, &[]).await;
    let wrong_uri = key.proof("POST", &fx.resource, None);
    assert_invalid_proof(&fx.token_with(None, &form, &[wrong_uri]).await, "wrong htu");
    assert_bound(&fx.token_with(None, &form, &[fx.proof(&key)]).await, &key);
}

/// RFC 9449 §10: a code requested with `dpop_jkt` is redeemed only with a proof by that key.
#[tokio::test]
async fn dpop_jkt_binds_the_code_to_the_key() {
    let fx = Fixture::auto_consent().await;
    let key = DpopKey::es256();
    let jkt = key.thumbprint();
    let client_id = fx.public_client(None).await;
    let cases = [
        ("a proof by another key", Some(DpopKey::es256()), false),
        ("no proof", None, false),
        ("a proof by the named key", Some(key.clone()), true),
    ];
    for (what, proof_key, accepted) in cases {
        let form = fx.code_exchange(&client_id, &[("dpop_jkt", &jkt)]).await;
        let proofs: Vec<String> = proof_key.iter().map(|k| fx.proof(k)).collect();
        let reply = fx.token_with(None, &form, &proofs).await;
        if accepted {
            assert_bound(&reply, &key);
        } else {
            assert_eq!(reply.1["error"], "invalid_grant", "{what}: {}", reply.1);
        }
    }

    let (_, challenge) = pkce();
    let response = fx
        .authorize(&client_id, &challenge, &[("dpop_jkt", "not-a-thumbprint")])
        .await;
    fx.assert_error_redirect(&response, 302, "invalid_request", "a malformed dpop_jkt");
}

/// A thief holding a `dpop_jkt`-bound code but not the key cannot spend it, whether it
/// guesses the verifier or not: the client's own redemption still succeeds.
#[tokio::test]
async fn a_bound_code_is_not_spent_without_its_key() {
    let fx = Fixture::auto_consent().await;
    let key = DpopKey::es256();
    let client_id = fx.public_client(None).await;
    let form = fx
        .code_exchange(&client_id, &[("dpop_jkt", &key.thumbprint())])
        .await;
    let wrong_verifier: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| match k.as_str() {
            "code_verifier" => (k.clone(), "x".repeat(43)),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    let thief = DpopKey::es256();
    for form in [&form, &wrong_verifier] {
        assert_invalid_grant(fx.token_with(None, form, &[fx.proof(&thief)]).await);
        assert_invalid_grant(fx.token_with(None, form, &[]).await);
    }
    assert_bound(&fx.token_with(None, &form, &[fx.proof(&key)]).await, &key);
}

/// With DPoP off the issuer behaves as one without DPoP support: no algorithms advertised,
/// the `DPoP` header and `dpop_jkt` ignored, bearer tokens only.
#[tokio::test]
async fn with_dpop_off_proofs_are_ignored() {
    let fx = Fixture::start(|b| b.dpop(DpopPolicy::Off).auto_consent(true)).await;
    let metadata = get_json(&fx.http, fx.url("/.well-known/oauth-authorization-server")).await;
    assert!(
        metadata.get("dpop_signing_alg_values_supported").is_none(),
        "{metadata}"
    );

    let (id, secret) = fx.machine_client(None).await;
    let form = [("grant_type", "client_credentials")];
    let key = DpopKey::es256();
    let with_proof = fx
        .token_with(Some((&id, &secret)), &form, &[fx.proof(&key)])
        .await;
    assert_bearer(&with_proof);

    let client_id = fx.public_client(None).await;
    let form = fx
        .code_exchange(&client_id, &[("dpop_jkt", &key.thumbprint())])
        .await;
    assert_bearer(&fx.token_with(None, &form, &[]).await);
}

#[tokio::test]
async fn with_dpop_required_token_requests_need_a_proof() {
    let fx = Fixture::start(|b| b.dpop(DpopPolicy::Require)).await;
    let (id, secret) = fx.machine_client(None).await;
    let basic = Some((id.as_str(), secret.as_str()));
    let form = [("grant_type", "client_credentials")];
    assert_invalid_proof(&fx.token_with(basic, &form, &[]).await, "no proof");
    let key = DpopKey::es256();
    assert_bound(&fx.token_with(basic, &form, &[fx.proof(&key)]).await, &key);
}

/// RFC 9449 §5.2: a client registered with `dpop_bound_access_tokens` gets no token without a
/// proof, whatever the grant.
#[tokio::test]
async fn clients_registered_for_dpop_bound_tokens_need_a_proof() {
    let fx = Fixture::auto_consent().await;
    let (status, body) = fx
        .register(json!({
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "dpop_bound_access_tokens": true,
        }))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["dpop_bound_access_tokens"], true, "{body}");
    let client_id = body["client_id"].as_str().unwrap();

    let form = fx.code_exchange(client_id, &[]).await;
    assert_invalid_proof(&fx.token_with(None, &form, &[]).await, "no proof");
    let form = fx.code_exchange(client_id, &[]).await;
    let key = DpopKey::es256();
    assert_bound(&fx.token_with(None, &form, &[fx.proof(&key)]).await, &key);
}

#[test]
fn minted_tokens_may_be_bound_to_a_key() {
    let issuer = DevIssuer::builder("http://127.0.0.1:9")
        .resource("http://127.0.0.1:9/mcp")
        .build()
        .unwrap();
    let key = DpopKey::es256();
    let bound = issuer
        .mint(MintRequest {
            subject: "alice".into(),
            dpop_jkt: Some(key.thumbprint()),
            ..MintRequest::default()
        })
        .unwrap();
    assert_eq!(claims(&bound)["cnf"], key.cnf());
    let bearer = issuer
        .mint(MintRequest {
            subject: "alice".into(),
            ..MintRequest::default()
        })
        .unwrap();
    assert!(claims(&bearer).get("cnf").is_none());
}
