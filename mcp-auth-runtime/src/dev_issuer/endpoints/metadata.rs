//! `GET /.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`:
//! the RFC 8414 metadata document, built once when the issuer is built.

use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::json;

use super::{Issuer, json_bytes};
use crate::auth::Algorithm;
use crate::dev_issuer::EXCHANGE_GRANT;
use crate::dev_issuer::store::{Client, ClientAuth};

pub(super) async fn metadata(State(issuer): State<Issuer>) -> Response {
    json_bytes(StatusCode::OK, issuer.metadata.clone())
}

/// The RFC 8414 metadata of the issuer `issuer` granting `scopes`, accepting DPoP proofs
/// signed with `dpop_algorithms` (none: no DPoP), with the configured `clients`, serialized.
///
/// Token exchange and `private_key_jwt` are listed when a configured client uses them: a
/// client reading the metadata learns what it can actually do here.
pub(in crate::dev_issuer) fn document(
    issuer: &str,
    scopes: &[(String, String)],
    dpop_algorithms: &[Algorithm],
    clients: &[Client],
) -> Bytes {
    let base = issuer.trim_end_matches('/');
    let endpoint = |path: &str| format!("{base}{path}");
    let mut metadata = json!({
        "issuer": issuer,
        "authorization_endpoint": endpoint("/authorize"),
        "token_endpoint": endpoint("/token"),
        "registration_endpoint": endpoint("/register"),
        "jwks_uri": endpoint("/jwks"),
        "scopes_supported": scopes.iter().map(|(s, _)| s).collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported":
            ["none", "client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
    });
    if clients.iter().any(|c| !c.exchange_for.is_empty()) {
        metadata["grant_types_supported"]
            .as_array_mut()
            .expect("an array")
            .push(EXCHANGE_GRANT.into());
    }
    if clients
        .iter()
        .any(|c| matches!(c.auth, ClientAuth::PrivateKeyJwt(_)))
    {
        metadata["token_endpoint_auth_methods_supported"]
            .as_array_mut()
            .expect("an array")
            .push("private_key_jwt".into());
        // RFC 8414 §2: required when private_key_jwt is listed.
        metadata["token_endpoint_auth_signing_alg_values_supported"] =
            Algorithm::ASYMMETRIC.iter().map(|a| a.name()).collect();
    }
    if !dpop_algorithms.is_empty() {
        // RFC 9449 §5.1: the proof algorithms the token endpoint accepts.
        metadata["dpop_signing_alg_values_supported"] =
            dpop_algorithms.iter().map(|a| a.name()).collect();
    }
    Bytes::from(serde_json::to_vec(&metadata).expect("metadata serializes"))
}
