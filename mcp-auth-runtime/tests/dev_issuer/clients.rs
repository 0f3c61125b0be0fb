//! Configured clients (`DevClient`): `private_key_jwt` assertions over HTTP, signed with real
//! keys, and what the issuer refuses of them (replays, another audience, HMAC and `none`,
//! lifetimes, mixed methods); and the configurations the builder refuses.

use super::exchange::{
    ACCESS_TOKEN, BILLING, BILLING_SECRET, PAYMENTS, exchange_form, with_exchange_clients,
};
use super::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_auth_runtime::auth::JwkSet;
use mcp_auth_runtime::dev_issuer::DevClient;
use mcp_auth_test_support::dpop::fresh_jti;
use mcp_auth_test_support::issuer::{TestKey, at};

/// The `private_key_jwt` client of these tests.
const SIGNER: &str = "billing-jwt";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The exchange fixture plus [`SIGNER`], whose public key is `key`'s.
async fn signer_fixture(key: &TestKey) -> Fixture {
    let jwks = key_set(&[key]);
    Fixture::start(move |b| {
        with_exchange_clients(b)
            .client(DevClient::private_key_jwt(SIGNER, jwks).may_exchange_for(PAYMENTS))
    })
    .await
}

fn key_set(keys: &[&TestKey]) -> JwkSet {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| serde_json::to_value(&k.jwk).unwrap())
        .collect();
    JwkSet::from_value(json!({ "keys": keys })).unwrap()
}

impl Fixture {
    /// The claims of a valid assertion of [`SIGNER`] for this issuer's token endpoint.
    fn assertion_claims(&self) -> Value {
        json!({
            "iss": SIGNER,
            "sub": SIGNER,
            "aud": self.url("/token"),
            "exp": at(60),
            "iat": at(0),
            "jti": fresh_jti(),
        })
    }

    /// An exchange for PAYMENTS authenticated by `assertion`, with `extra` form fields.
    async fn exchange_with_assertion(
        &self,
        assertion: &str,
        extra: &[(&str, &str)],
    ) -> (u16, Value) {
        let user = self.user_token(&["payments:write"], None);
        let mut fields = vec![
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ];
        fields.extend_from_slice(extra);
        let form = exchange_form(&user, &fields);
        self.token(&form).await
    }
}

/// `claims` signed with `key` under a plain JWT header naming its `kid`.
fn signed(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    key.sign_with(header, claims)
}

#[tokio::test]
async fn private_key_jwt_authenticates_a_configured_client_with_each_key_type() {
    for key in [
        TestKey::es256("k1"),
        TestKey::rsa("k2"),
        TestKey::ed25519("k3"),
    ] {
        let fx = signer_fixture(&key).await;
        let assertion = signed(&key, &fx.assertion_claims());
        let (status, body) = fx.exchange_with_assertion(&assertion, &[]).await;
        assert_eq!(status, 200, "{:?}: {body}", key.alg);
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(claims(token)["act"], json!({ "sub": SIGNER }));
        assert_eq!(claims(token)["client_id"], SIGNER);

        // `aud` the issuer identifier, `client_id` in the form, no `kid`: accepted too.
        let mut claims = fx.assertion_claims();
        claims["aud"] = fx.origin.clone().into();
        let assertion = key.sign_with(Header::new(key.alg), &claims);
        let reply = fx
            .exchange_with_assertion(&assertion, &[("client_id", SIGNER)])
            .await;
        assert_eq!(reply.0, 200, "{:?}: {}", key.alg, reply.1);
    }
}

#[tokio::test]
async fn the_metadata_lists_private_key_jwt_and_its_algorithms() {
    let fx = signer_fixture(&TestKey::es256("k1")).await;
    let document = fx.metadata().await;
    assert_eq!(
        document["token_endpoint_auth_methods_supported"],
        json!([
            "none",
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    let algorithms = document["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algorithms.contains(&json!("ES256")) && algorithms.contains(&json!("EdDSA")));
    assert!(
        !algorithms
            .iter()
            .any(|a| a.as_str().unwrap().starts_with("HS")),
        "{algorithms:?}"
    );
}

#[tokio::test]
async fn an_assertion_is_good_for_one_request_even_a_refused_one() {
    let key = TestKey::es256("k1");
    let fx = signer_fixture(&key).await;
    let assertion = signed(&key, &fx.assertion_claims());
    // The grant is refused (a target not allowed), but the client authenticated: spent.
    let reply = fx
        .exchange_with_assertion(&assertion, &[("resource", &fx.resource)])
        .await;
    assert_oauth_error(reply, 400, "invalid_target");
    let reply = fx.exchange_with_assertion(&assertion, &[]).await;
    assert_oauth_error(reply, 401, "invalid_client");
    assert!(
        reply_description(&fx, &assertion)
            .await
            .contains("used before"),
        "the replay is named as such"
    );

    // A fresh assertion (a new `jti`) works.
    let fresh = signed(&key, &fx.assertion_claims());
    let (status, body) = fx.exchange_with_assertion(&fresh, &[]).await;
    assert_eq!(status, 200, "{body}");
}

async fn reply_description(fx: &Fixture, assertion: &str) -> String {
    let (_, body) = fx.exchange_with_assertion(assertion, &[]).await;
    body["error_description"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn assertions_that_are_not_exactly_right_are_refused() {
    let key = TestKey::es256("k1");
    let fx = signer_fixture(&key).await;
    let valid = fx.assertion_claims();
    let with = |changes: Value| {
        let mut claims = valid.clone();
        claims["jti"] = fresh_jti().into();
        mcp_auth_test_support::issuer::patch(&mut claims, &changes);
        claims
    };
    let other_key = TestKey::es256("k1");
    let public_jwk = serde_json::to_vec(&key.jwk).unwrap();
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &with(json!({})),
        &EncodingKey::from_secret(&public_jwk),
    )
    .unwrap();
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&with(json!({})))
    );

    let cases: Vec<(&str, String)> = vec![
        (
            "aud the MCP server",
            signed(&key, &with(json!({ "aud": fx.resource }))),
        ),
        (
            "aud another issuer's token endpoint",
            signed(&key, &with(json!({ "aud": "http://127.0.0.1:1/token" }))),
        ),
        ("no aud", signed(&key, &with(json!({ "aud": null })))),
        ("expired", signed(&key, &with(json!({ "exp": at(-5) })))),
        ("no exp", signed(&key, &with(json!({ "exp": null })))),
        (
            "exp an hour ahead",
            signed(&key, &with(json!({ "exp": at(3600) }))),
        ),
        (
            "iat in the future",
            signed(&key, &with(json!({ "iat": at(600) }))),
        ),
        ("no jti", signed(&key, &with(json!({ "jti": null })))),
        (
            "iss another client",
            signed(&key, &with(json!({ "iss": BILLING }))),
        ),
        (
            "sub another client",
            signed(&key, &with(json!({ "sub": BILLING }))),
        ),
        (
            "iss and sub a client with a secret",
            signed(&key, &with(json!({ "iss": BILLING, "sub": BILLING }))),
        ),
        (
            "signed by a key not in the set",
            signed(&other_key, &with(json!({}))),
        ),
        (
            "a kid not in the set",
            signed(&key.with_kid("k2"), &with(json!({}))),
        ),
        ("HS256 keyed with the public key", hs256),
        ("alg none", none),
        ("not a JWT", "not-a-jwt".to_owned()),
    ];
    for (what, assertion) in &cases {
        let (status, body) = fx.exchange_with_assertion(assertion, &[]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{what}: {body}"
        );
    }
    // `client_id` naming another client than the assertion's `sub`.
    let assertion = signed(&key, &with(json!({})));
    let reply = fx
        .exchange_with_assertion(&assertion, &[("client_id", BILLING)])
        .await;
    assert_oauth_error(reply, 401, "invalid_client");
}

#[tokio::test]
async fn one_authentication_method_per_request_and_each_client_its_own() {
    let key = TestKey::es256("k1");
    let fx = signer_fixture(&key).await;
    let assertion = || signed(&key, &fx.assertion_claims());

    // An assertion and a secret together.
    let a = assertion();
    let reply = fx
        .exchange_with_assertion(&a, &[("client_secret", BILLING_SECRET)])
        .await;
    assert_oauth_error(reply, 400, "invalid_request");
    let user = fx.user_token(&["payments:write"], None);
    let a = assertion();
    let form = exchange_form(
        &user,
        &[
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
        ],
    );
    let reply = fx.token_basic(BILLING, BILLING_SECRET, &form).await;
    assert_oauth_error(reply, 400, "invalid_request");
    // Another assertion type, or the type without an assertion.
    let a = assertion();
    let reply = fx
        .exchange_with_assertion(
            &a,
            &[(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            )],
        )
        .await;
    assert_oauth_error(reply, 400, "invalid_request");

    // A private_key_jwt client cannot fall back to a secret or to its bare id.
    let bare = exchange_form(&user, &[("client_id", SIGNER)]);
    assert_oauth_error(fx.token(&bare).await, 401, "invalid_client");
    let reply = fx.token_basic(SIGNER, BILLING_SECRET, &bare).await;
    assert_oauth_error(reply, 401, "invalid_client");
    // A secret client cannot present an assertion signed by a key of its choosing.
    let mut claims = fx.assertion_claims();
    claims["iss"] = BILLING.into();
    claims["sub"] = BILLING.into();
    let reply = fx
        .exchange_with_assertion(&signed(&key, &claims), &[])
        .await;
    assert_oauth_error(reply, 401, "invalid_client");

    // None of these refusals spent anything the client needs: a proper request works.
    let (status, body) = fx.exchange_with_assertion(&assertion(), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
}

#[test]
fn the_builder_refuses_clients_it_cannot_trust() {
    let base = || {
        DevIssuer::builder("http://127.0.0.1:8080")
            .resource("http://127.0.0.1:8080/mcp")
            .resource(PAYMENTS)
            .scopes(SCOPES)
    };
    let secret = "a-secret-of-at-least-32-characters!!";
    let oct = JwkSet::from_value(json!({ "keys": [
        { "kty": "oct", "kid": "shared", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ" },
    ] }))
    .unwrap();
    let empty = JwkSet::from_value(json!({ "keys": [] })).unwrap();
    let cases = [
        ("an empty id", DevClient::secret("", secret)),
        ("a short secret", DevClient::secret("c", "short")),
        ("a symmetric key", DevClient::private_key_jwt("c", oct)),
        ("no key", DevClient::private_key_jwt("c", empty)),
        (
            "an exchange target that is no resource",
            DevClient::secret("c", secret).may_exchange_for("http://127.0.0.1:9/elsewhere"),
        ),
        (
            "a scope the issuer does not grant",
            DevClient::secret("c", secret).scope("admin"),
        ),
    ];
    for (what, client) in cases {
        let err = base().client(client).build().unwrap_err();
        assert!(
            matches!(err, DevIssuerError::InvalidClient { .. }),
            "{what}: {err:?}"
        );
        assert!(!err.to_string().contains(secret), "{what}: {err}");
    }
    let twice = base()
        .client(DevClient::secret("c", secret))
        .client(DevClient::secret("c", secret))
        .build()
        .unwrap_err();
    assert!(matches!(twice, DevIssuerError::InvalidClient { .. }));
    // A target named in another form of the same URI is that resource.
    base()
        .client(DevClient::secret("c", secret).may_exchange_for("HTTP://127.0.0.1:9/payments"))
        .build()
        .unwrap();
    // `Debug` shows the client, never its secret.
    let debug = format!("{:?}", DevClient::secret("c", secret));
    assert!(!debug.contains(secret), "{debug}");
}

/// Every log line while exchanges run, granted and refused: none holds the subject token,
/// the issued token, a client secret or an assertion.
#[tokio::test]
async fn no_token_secret_or_assertion_of_an_exchange_reaches_the_logs() {
    // This thread only: with `#[tokio::test]`'s runtime, that includes the issuer's tasks.
    let (logs, _guard) = mcp_auth_test_support::logs::Logs::capture();
    let key = TestKey::es256("k1");
    let fx = signer_fixture(&key).await;
    let user = fx.user_token(&["payments:write"], None);

    let (status, granted) = fx
        .token_basic(BILLING, BILLING_SECRET, &exchange_form(&user, &[]))
        .await;
    assert_eq!(status, 200, "{granted}");
    fx.token_basic(
        BILLING,
        "a-wrong-secret-of-at-least-32-characters",
        &exchange_form(&user, &[]),
    )
    .await;
    let forged = TestKey::es256(fx.issuer.kid()).sign(&claims(&user));
    fx.token_basic(BILLING, BILLING_SECRET, &exchange_form(&forged, &[]))
        .await;
    let assertion = signed(&key, &fx.assertion_claims());
    let (status, by_key) = fx.exchange_with_assertion(&assertion, &[]).await;
    assert_eq!(status, 200, "{by_key}");
    fx.exchange_with_assertion(&assertion, &[]).await;

    let logs = logs.text();
    assert!(logs.contains("access token issued"), "{logs}");
    assert!(logs.contains("client assertion was replayed"), "{logs}");
    assert!(logs.contains("subject token was refused"), "{logs}");
    let issued = [&granted, &by_key].map(|b| b["access_token"].as_str().unwrap().to_owned());
    for secret in [&user, &forged, &assertion, &issued[0], &issued[1]] {
        // JWTs: the signature is the part that must never leak, and the whole token with it.
        let needle = secret.rsplit('.').next().unwrap();
        assert!(!logs.contains(needle), "a token reached the logs:\n{logs}");
    }
    assert!(!logs.contains(BILLING_SECRET), "{logs}");
    assert!(!logs.contains("a-wrong-secret"), "{logs}");
}
