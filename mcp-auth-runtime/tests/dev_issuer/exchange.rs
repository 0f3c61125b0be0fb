//! The token-exchange grant (RFC 8693) over HTTP with real tokens: what an exchanged token
//! says (audience, subject, tenant, scope, `act`, lifetime), the policy (clients, targets,
//! scopes), and the subject tokens it refuses.

use super::*;
use mcp_auth_runtime::dev_issuer::DevClient;

/// The downstream API of the exchanges: a resource of the issuer, not the MCP server.
pub(super) const PAYMENTS: &str = "http://127.0.0.1:9/payments";
/// A third API, which only `PAYMENTS_CLIENT` may exchange for.
const LEDGER: &str = "http://127.0.0.1:9/ledger";

pub(super) const BILLING: &str = "billing-mcp";
pub(super) const BILLING_SECRET: &str = "billing-secret-of-at-least-32-characters";
const PAYMENTS_CLIENT: &str = "payments-api";
const PAYMENTS_SECRET: &str = "payments-secret-of-at-least-32-characters";
/// A configured client that may not exchange (client credentials only).
const REPORTING: &str = "reporting";
const REPORTING_SECRET: &str = "reporting-secret-of-at-least-32-characters";

pub(super) const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub(super) const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The resources and clients of the exchange tests, on top of the fixture's.
pub(super) fn with_exchange_clients(builder: DevIssuerBuilder) -> DevIssuerBuilder {
    builder
        .resource(PAYMENTS)
        .resource(LEDGER)
        .client(DevClient::secret(BILLING, BILLING_SECRET).may_exchange_for(PAYMENTS))
        .client(DevClient::secret(PAYMENTS_CLIENT, PAYMENTS_SECRET).may_exchange_for(LEDGER))
        .client(DevClient::secret(REPORTING, REPORTING_SECRET).scope("invoices:read"))
}

/// Form fields added to or replacing those of a request.
type Form<'a> = [(&'a str, &'a str)];

async fn exchange_fixture() -> Fixture {
    Fixture::start(|b| with_exchange_clients(b.auto_consent(true))).await
}

impl Fixture {
    /// A token of the MCP server (the fixture's resource) for alice in acme.
    pub(super) fn user_token(&self, scopes: &[&str], lifetime: Option<Duration>) -> String {
        self.issuer
            .mint(MintRequest {
                subject: "alice".into(),
                tenant: Some("acme".into()),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                lifetime,
                ..MintRequest::default()
            })
            .unwrap()
    }

    /// A token-exchange request of `subject` by BILLING (`client_secret_basic`), with `extra`
    /// fields (which replace the defaults of the same name; an empty value removes one).
    async fn exchange(&self, subject: &str, extra: &[(&str, &str)]) -> (u16, Value) {
        self.exchange_as(BILLING, BILLING_SECRET, subject, extra)
            .await
    }

    async fn exchange_as(
        &self,
        client: &str,
        secret: &str,
        subject: &str,
        extra: &[(&str, &str)],
    ) -> (u16, Value) {
        let form = exchange_form(subject, extra);
        self.token_basic(client, secret, &form).await
    }

    /// The RFC 8414 metadata document.
    pub(super) async fn metadata(&self) -> Value {
        let url = self.url("/.well-known/oauth-authorization-server");
        mcp_auth_test_support::get_json(&self.http, url).await
    }

    /// A verifier of the tokens of `audience`, one of the issuer's resources.
    pub(super) fn verifier_for(&self, audience: &str) -> JwtVerifier {
        JwtVerifier::builder(&self.origin, audience)
            .static_keys(self.issuer.jwks())
            .tenant_claim("tenant")
            .build()
            .unwrap()
    }
}

/// The form of an exchange of `subject` for PAYMENTS with `payments:write`, with `extra`.
pub(super) fn exchange_form<'a>(
    subject: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN),
        ("resource", PAYMENTS),
        ("scope", "payments:write"),
    ];
    for (name, value) in extra {
        form.retain(|(n, _)| n != name);
        if !value.is_empty() {
            form.push((name, value));
        }
    }
    form
}

#[tokio::test]
async fn an_exchanged_token_is_for_the_downstream_the_same_user_and_names_the_client_as_actor() {
    let fx = exchange_fixture().await;
    let user = fx.user_token(&["invoices:read", "payments:write"], None);
    let (status, body) = fx.exchange(&user, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "payments:write");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let token = body["access_token"].as_str().unwrap();

    // Verified as the payments API verifies it: its audience, alice of acme, through billing.
    let auth = fx.verifier_for(PAYMENTS).verify(token).await.unwrap();
    assert_eq!(auth.subject(), Some("alice"));
    assert_eq!(auth.tenant(), Some("acme"));
    assert_eq!(auth.client_id(), Some(BILLING));
    assert_eq!(auth.scopes(), ["payments:write"]);
    let claims = claims(token);
    assert_eq!(claims["act"], json!({ "sub": BILLING }));
    assert_eq!(claims["aud"], PAYMENTS);
    assert_eq!(claims["iss"], fx.origin);

    // Each token is good at its own audience only: no passthrough either way.
    assert!(fx.verifier().verify(token).await.is_err());
    assert!(fx.verifier_for(PAYMENTS).verify(&user).await.is_err());
}

#[tokio::test]
async fn the_target_may_be_named_by_audience_and_the_scope_defaults_to_the_subjects() {
    let fx = exchange_fixture().await;
    let user = fx.user_token(&["invoices:read", "payments:write"], None);
    // `audience` instead of `resource`, no `scope`, `client_secret_post`.
    let form = exchange_form(
        &user,
        &[
            ("resource", ""),
            ("scope", ""),
            ("audience", PAYMENTS),
            ("client_id", BILLING),
            ("client_secret", BILLING_SECRET),
        ],
    );
    let (status, body) = fx.token(&form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "invoices:read payments:write");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(claims(token)["aud"], PAYMENTS);

    // Both, naming the same resource, and `requested_token_type` of an access token.
    let (status, body) = fx
        .exchange(
            &user,
            &[
                ("audience", PAYMENTS),
                ("requested_token_type", ACCESS_TOKEN),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_exchanged_token_lives_no_longer_than_its_subject_token() {
    let fx = exchange_fixture().await;
    let user = fx.user_token(&["payments:write"], Some(Duration::from_secs(30)));
    let subject_exp = claims(&user)["exp"].as_u64().unwrap();
    let (status, body) = fx.exchange(&user, &[]).await;
    assert_eq!(status, 200, "{body}");
    let expires_in = body["expires_in"].as_u64().unwrap();
    assert!((1..=30).contains(&expires_in), "{body}");
    let exp = claims(body["access_token"].as_str().unwrap())["exp"]
        .as_u64()
        .unwrap();
    assert!(exp <= subject_exp, "{exp} > {subject_exp}");

    // A long-lived subject token: the issuer's own lifetime (an hour) caps it.
    let user = fx.user_token(&["payments:write"], Some(Duration::from_secs(86_400)));
    let (_, body) = fx.exchange(&user, &[]).await;
    assert_eq!(body["expires_in"], 3600, "{body}");
}

#[tokio::test]
async fn a_dpop_bound_subject_token_is_exchanged_for_a_bearer_token() {
    let fx = exchange_fixture().await;
    // The resource server that received it checked the proof; the exchange needs none.
    let key = mcp_auth_test_support::dpop::DpopKey::es256();
    let user = fx
        .issuer
        .mint(MintRequest {
            subject: "alice".into(),
            scopes: vec!["payments:write".into()],
            dpop_jkt: Some(key.thumbprint()),
            ..MintRequest::default()
        })
        .unwrap();
    assert!(claims(&user).get("cnf").is_some());
    let (status, body) = fx.exchange(&user, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        claims(body["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );
}

/// `Require` is for the tokens of MCP clients: the exchange a resource server makes for its own
/// downstream call needs no proof, while the other grants still do.
#[tokio::test]
async fn an_issuer_requiring_dpop_still_exchanges_without_a_proof() {
    let fx = Fixture::start(|b| {
        with_exchange_clients(b.auto_consent(true))
            .dpop(mcp_auth_runtime::auth::DpopPolicy::Require)
    })
    .await;
    let user = fx.user_token(&["payments:write"], None);
    let (status, body) = fx.exchange(&user, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    // client_credentials by a configured client, without a proof: still refused.
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "invoices:read"),
    ];
    let (status, body) = fx.token_basic(REPORTING, REPORTING_SECRET, &form).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof");
}

#[tokio::test]
async fn a_second_exchange_nests_the_prior_actor() {
    let fx = exchange_fixture().await;
    let user = fx.user_token(&["payments:write"], None);
    let (_, body) = fx.exchange(&user, &[]).await;
    let payments_token = body["access_token"].as_str().unwrap().to_owned();

    // The payments API calls the ledger for alice, with the token it received.
    let (status, body) = fx
        .exchange_as(
            PAYMENTS_CLIENT,
            PAYMENTS_SECRET,
            &payments_token,
            &[("resource", LEDGER)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let auth = fx.verifier_for(LEDGER).verify(token).await.unwrap();
    assert_eq!(auth.subject(), Some("alice"));
    assert_eq!(auth.client_id(), Some(PAYMENTS_CLIENT));
    assert_eq!(
        claims(token)["act"],
        json!({ "sub": PAYMENTS_CLIENT, "act": { "sub": BILLING } })
    );
}

#[tokio::test]
async fn exchanges_outside_the_policy_are_refused() {
    let fx = exchange_fixture().await;
    let user = fx.user_token(&["invoices:read", "payments:write"], None);
    let mcp = fx.resource.clone();
    let cases: &[(&str, &Form<'_>, &str)] = &[
        // Targets.
        (
            "a known resource the client may not exchange for",
            &[("resource", LEDGER)],
            "invalid_target",
        ),
        (
            "the MCP server itself",
            &[("resource", &mcp)],
            "invalid_target",
        ),
        (
            "an unknown resource",
            &[("resource", "http://127.0.0.1:9/other")],
            "invalid_target",
        ),
        (
            "an unknown logical audience",
            &[("resource", ""), ("audience", "payments")],
            "invalid_target",
        ),
        (
            "resource and audience disagree",
            &[("audience", LEDGER)],
            "invalid_target",
        ),
        ("no target", &[("resource", "")], "invalid_request"),
        // Scopes.
        (
            "a scope the subject token lacks",
            &[("scope", "payments:write invoices:write")],
            "invalid_scope",
        ),
        (
            "a scope the issuer does not know",
            &[("scope", "admin")],
            "invalid_scope",
        ),
        // The request.
        (
            "a refresh token type",
            &[(
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            )],
            "invalid_request",
        ),
        (
            "an ID token type",
            &[(
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            )],
            "invalid_request",
        ),
        (
            "no subject token type",
            &[("subject_token_type", "")],
            "invalid_request",
        ),
        (
            "an actor token",
            &[("actor_token", &user), ("actor_token_type", ACCESS_TOKEN)],
            "invalid_request",
        ),
        (
            "a refresh token requested",
            &[(
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            )],
            "invalid_request",
        ),
    ];
    for (what, extra, error) in cases {
        let reply = fx.exchange(&user, extra).await;
        assert_eq!(
            (reply.0, reply.1["error"].as_str()),
            (400, Some(*error)),
            "{what}: {}",
            reply.1
        );
    }

    // Two targets at once (RFC 8693 allows it; one token has one audience here).
    let mut two = exchange_form(&user, &[]);
    two.push(("resource", LEDGER));
    let reply = fx.token_basic(BILLING, BILLING_SECRET, &two).await;
    assert_oauth_error(reply, 400, "invalid_request");

    // Clients: one configured without `may_exchange_for`, one registered dynamically.
    let reply = fx
        .exchange_as(REPORTING, REPORTING_SECRET, &user, &[])
        .await;
    assert_oauth_error(reply, 400, "unauthorized_client");
    let (id, secret) = fx
        .confidential_client("client_secret_basic", &["authorization_code"])
        .await;
    let reply = fx.exchange_as(&id, &secret, &user, &[]).await;
    assert_oauth_error(reply, 400, "unauthorized_client");
    // And the right client with the wrong secret.
    let reply = fx.exchange_as(BILLING, PAYMENTS_SECRET, &user, &[]).await;
    assert_oauth_error(reply, 401, "invalid_client");
}

#[tokio::test]
async fn subject_tokens_this_issuer_did_not_sign_or_that_expired_are_refused() {
    let fx = exchange_fixture().await;
    let good = fx.user_token(&["payments:write"], None);
    let expired = fx.user_token(&["payments:write"], Some(Duration::ZERO));

    // Another issuer at the very same URL, with its own key: same `iss`, same `aud`.
    let impostor = token_of_another_issuer(&fx.origin, &fx.resource);
    // A key of the attacker's, claiming this issuer and its `kid`.
    let attacker = mcp_auth_test_support::issuer::TestKey::es256(fx.issuer.kid());
    let mut forged_claims = claims(&good);
    forged_claims["sub"] = "bob".into();
    let forged = attacker.sign(&forged_claims);
    // A real token with its payload changed and the signature kept.
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims).unwrap()),
        parts[2]
    );
    // A refresh token of a real code flow, presented as an access token.
    let (_, tokens) = fx.tokens(None, "payments:write").await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    // A token of a resource this issuer does not serve, signed with its own key: impossible
    // to mint, so a token of another issuer whose audience is unknown here.
    let foreign = token_of_another_issuer("http://127.0.0.1:1", "http://127.0.0.1:1/mcp");

    for (what, subject) in [
        ("expired", expired.as_str()),
        ("signed by another issuer at the same URL", &impostor),
        ("forged with this issuer's kid", &forged),
        ("tampered", &tampered),
        ("a refresh token", refresh),
        ("of a foreign issuer", &foreign),
        ("not a token", "not-a-token"),
    ] {
        let (status, body) = fx.exchange(subject, &[]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{what}: {body}"
        );
    }
    // The refresh token is also refused under its own type.
    let reply = fx
        .exchange(
            refresh,
            &[(
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            )],
        )
        .await;
    assert_oauth_error(reply, 400, "invalid_request");

    // The good one still works: the refusals were about the tokens, not the client.
    let (status, body) = fx.exchange(&good, &[]).await;
    assert_eq!(status, 200, "{body}");
}

/// A token for alice with `payments:write`, signed by a fresh issuer at `issuer` with its own
/// key.
fn token_of_another_issuer(issuer: &str, resource: &str) -> String {
    DevIssuer::builder(issuer)
        .resource(resource)
        .scopes(SCOPES)
        .build()
        .unwrap()
        .mint(MintRequest {
            subject: "alice".into(),
            scopes: vec!["payments:write".into()],
            ..MintRequest::default()
        })
        .unwrap()
}

#[tokio::test]
async fn the_metadata_lists_token_exchange_when_a_client_may_exchange() {
    let fx = exchange_fixture().await;
    let document = fx.metadata().await;
    assert_eq!(
        document["grant_types_supported"],
        json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            EXCHANGE
        ])
    );
}

#[tokio::test]
async fn a_configured_client_gets_client_credentials_within_its_scope_only() {
    let fx = exchange_fixture().await;
    let form = [
        ("grant_type", "client_credentials"),
        ("resource", fx.resource.as_str()),
    ];
    let (status, body) = fx.token_basic(REPORTING, REPORTING_SECRET, &form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "invoices:read");
    let mut wider = form.to_vec();
    wider.push(("scope", "invoices:write"));
    let reply = fx.token_basic(REPORTING, REPORTING_SECRET, &wider).await;
    assert_oauth_error(reply, 400, "invalid_scope");
    // A client configured without `scope` has no client credentials grant.
    let reply = fx.token_basic(BILLING, BILLING_SECRET, &form).await;
    assert_oauth_error(reply, 400, "unauthorized_client");
}

#[tokio::test]
async fn an_exchanged_token_replayed_at_the_mcp_server_is_refused_there() {
    // The MCP server on its own port; the issuer mints for it and for the payments API.
    let (listener, addr, mcp) = mcp_auth_test_support::bind_endpoint().await;
    let fx = Fixture::start({
        let mcp = mcp.clone();
        move |b| with_exchange_clients(b.resource(mcp))
    })
    .await;
    let verifier = JwtVerifier::builder(&fx.origin, &mcp)
        .static_keys(fx.issuer.jwks())
        .build()
        .unwrap();
    let builder = McpServer::builder("billing", "1.0.0").tools(tools![lookup_invoice]);
    mcp_auth_test_support::serve_stateless_on(listener, mcp.clone(), builder, verifier);

    let user = fx
        .issuer
        .mint(MintRequest {
            subject: "alice".into(),
            scopes: vec!["invoices:read".into(), "payments:write".into()],
            resource: Some(mcp.clone()),
            ..MintRequest::default()
        })
        .unwrap();
    let client = mcp_auth_test_support::Client::without_session(addr, Some(&user));
    assert_eq!(client.initialize().await, 200, "the user's own token");

    let (status, body) = fx.exchange(&user, &[]).await;
    assert_eq!(status, 200, "{body}");
    let exchanged = body["access_token"].as_str().unwrap();
    let client = mcp_auth_test_support::Client::without_session(addr, Some(exchanged));
    let response = client
        .post()
        .json(&mcp_auth_test_support::initialize("replay"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "a payments token at the MCP server");
    let challenge = header(&response, "www-authenticate").unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
}
