//! A loopback stand-in for Keycloak serving the realm: Keycloak's URL layout (the realm's
//! issuer `/realms/{realm}`, its OpenID Connect discovery document and its key set at
//! `/protocol/openid-connect/certs`, nothing at the RFC 8414 paths), an RS256 signing key with
//! a `kid` next to the encryption key Keycloak also publishes, and tokens shaped as Keycloak
//! issues them to the realm's clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::routing::get;
use jsonwebtoken::Header;
use mcp_auth_test_support::issuer::{TestKey, at};
use serde_json::{Value, json};

use crate::realm::{Realm, User};

/// The stand-in, listening on loopback.
pub(crate) struct Keycloak {
    /// The realm's issuer URL, `http://127.0.0.1:PORT/realms/{realm}`.
    pub(crate) issuer: String,
    key: TestKey,
    certs_hits: Arc<AtomicUsize>,
}

impl Keycloak {
    /// Serves `realm` on an ephemeral loopback port.
    pub(crate) async fn start(realm: &Realm) -> Keycloak {
        let key = TestKey::rsa("kc-rs256");
        let listener = mcp_auth_test_support::bind().await;
        let base = format!(
            "http://{}/realms/{}",
            listener.local_addr().unwrap(),
            realm.name()
        );
        let certs_hits = Arc::new(AtomicUsize::new(0));
        let discovery = discovery(&base, realm);
        let certs = certs(&key);
        let hits = certs_hits.clone();
        let path = format!("/realms/{}", realm.name());
        let router = axum::Router::new()
            .route(
                &format!("{path}/.well-known/openid-configuration"),
                get(move || async move { Json(discovery) }),
            )
            .route(
                &format!("{path}/protocol/openid-connect/certs"),
                get(move || {
                    hits.fetch_add(1, Ordering::SeqCst);
                    async move { Json(certs) }
                }),
            );
        mcp_auth_test_support::serve_on(listener, router);
        Keycloak {
            issuer: base,
            key,
            certs_hits,
        }
    }

    /// How many times the key set was fetched.
    pub(crate) fn certs_hits(&self) -> usize {
        self.certs_hits.load(Ordering::SeqCst)
    }

    /// The claims of an access token Keycloak issues to `client` of `realm` for `user`, who
    /// asked for `scope` (the realm's [`Realm::scope_claim`]): the audience of the scopes'
    /// audience mapper next to `account` (the `roles` scope's audience resolve, from the
    /// default roles), Keycloak's `typ: Bearer` claim, `azp`, `sid`, the roles, the profile
    /// and email claims, and the tenant claim.
    pub(crate) fn access_claims(
        &self,
        realm: &Realm,
        client: &str,
        user: &User,
        scope: &str,
    ) -> Value {
        let mut claims = self.session_claims(client, user);
        let web_origins = realm.client(client)["webOrigins"].clone();
        let more = json!({
            "aud": [realm.audience(client), "account"],
            "typ": "Bearer",
            "allowed-origins": web_origins,
            "realm_access": {
                "roles": [format!("default-roles-{}", realm.name()), "offline_access", "uma_authorization"],
            },
            "resource_access": {
                "account": { "roles": ["manage-account", "manage-account-links", "view-profile"] },
            },
            "scope": scope,
            "email_verified": user.email_verified,
            "name": format!("{} {}", user.first_name, user.last_name),
            "preferred_username": user.username,
            "given_name": user.first_name,
            "family_name": user.last_name,
            "email": user.email,
        });
        merge(&mut claims, more);
        claims[realm.tenant_claim(client)] = user.tenant.clone().into();
        claims
    }

    /// The claims of the ID token Keycloak issues next to an access token: `typ: ID`, the
    /// client as audience, `nonce` and `at_hash`. Its `aud` also names the resource, as an
    /// audience mapper with "Add to ID token" on would: so that only what makes it an ID
    /// token can refuse it.
    pub(crate) fn id_claims(&self, realm: &Realm, client: &str, user: &User) -> Value {
        let mut claims = self.session_claims(client, user);
        let more = json!({
            "aud": [client, realm.audience(client)],
            "typ": "ID",
            "nonce": "n-0S6_WzA2Mj",
            "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
            "email_verified": user.email_verified,
            "preferred_username": user.username,
            "email": user.email,
        });
        merge(&mut claims, more);
        claims
    }

    /// What every token of one sign-in carries.
    fn session_claims(&self, client: &str, user: &User) -> Value {
        json!({
            "exp": at(300),
            "iat": at(0),
            "auth_time": at(-5),
            "jti": "onrtac:4f2c8c39-7c1e-4d77-9a55-2f0d5b3a1e6b",
            "iss": self.issuer,
            "sub": format!("5b1d3b5e-0c1f-4a8e-9d2c-{:0>12}", user.username),
            "azp": client,
            "sid": "0d6b9f2e-3a47-4c55-8d1a-6e2f4b7c9a10",
            "acr": "1",
        })
    }

    /// `claims` signed with the realm's key under a header of `typ`, as Keycloak signs: RS256
    /// and the key's `kid`.
    pub(crate) fn sign(&self, typ: &str, claims: &Value) -> String {
        let mut header = Header::new(self.key.alg);
        header.kid = Some(self.key.kid.clone());
        header.typ = Some(typ.to_owned());
        self.key.sign_with(header, claims)
    }
}

/// Adds the members of `more` to `claims`.
fn merge(claims: &mut Value, more: Value) {
    let Value::Object(more) = more else {
        unreachable!()
    };
    claims.as_object_mut().unwrap().extend(more);
}

/// The realm's OpenID Connect discovery document, as Keycloak serves it (abridged).
fn discovery(issuer: &str, realm: &Realm) -> Value {
    let oidc = format!("{issuer}/protocol/openid-connect");
    let scopes: Vec<&Value> = (realm.json["clientScopes"].as_array().unwrap().iter())
        .map(|scope| &scope["name"])
        .collect();
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{oidc}/auth"),
        "token_endpoint": format!("{oidc}/token"),
        "introspection_endpoint": format!("{oidc}/token/introspect"),
        "userinfo_endpoint": format!("{oidc}/userinfo"),
        "end_session_endpoint": format!("{oidc}/logout"),
        "jwks_uri": format!("{oidc}/certs"),
        "registration_endpoint": format!("{issuer}/clients-registrations/openid-connect"),
        "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "password", "client_credentials"],
        "response_types_supported": ["code", "none", "id_token", "token", "id_token token", "code id_token", "code token", "code id_token token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["PS384", "RS384", "EdDSA", "ES384", "HS256", "HS512", "ES256", "RS256", "HS384", "ES512", "PS256", "PS512", "RS512"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "scopes_supported": std::iter::once(&json!("openid")).chain(scopes).collect::<Vec<_>>(),
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "client_secret_post", "tls_client_auth", "client_secret_jwt"],
    })
}

/// The realm's key set, as Keycloak publishes it: the RS256 signing key (`use: sig`) and an
/// RSA-OAEP encryption key (`use: enc`) that must never verify a signature.
fn certs(key: &TestKey) -> Value {
    let mut signing = serde_json::to_value(&key.jwk).unwrap();
    signing["use"] = "sig".into();
    let mut encryption = serde_json::to_value(&TestKey::rsa("kc-rsa-oaep").jwk).unwrap();
    encryption["alg"] = "RSA-OAEP".into();
    encryption["use"] = "enc".into();
    json!({ "keys": [signing, encryption] })
}
