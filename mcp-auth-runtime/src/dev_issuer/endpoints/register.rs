//! `POST /register`: RFC 7591 dynamic client registration, for loopback redirect URIs only.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::{Issuer, OAuthError, json_value};
use crate::auth::DpopPolicy;
use crate::auth::claims::is_loopback_host;
use crate::dev_issuer::Inner;
use crate::dev_issuer::issuer::unix_time;
use crate::dev_issuer::keys::{digest, random_token};
use crate::dev_issuer::store::{Client, ClientAuth};

#[derive(Deserialize)]
struct Registration {
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    scope: Option<String>,
    /// RFC 9449 §5.2.
    #[serde(default)]
    dpop_bound_access_tokens: bool,
}

const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];
const AUTH_METHODS: &[&str] = &["none", "client_secret_basic", "client_secret_post"];

pub(super) async fn register(State(issuer): State<Issuer>, body: Bytes) -> Response {
    match registration(&issuer, &body) {
        Ok(body) => json_value(StatusCode::CREATED, &body),
        Err(err) => err.into_response(),
    }
}

fn registration(issuer: &Inner, body: &[u8]) -> Result<Value, OAuthError> {
    let metadata = |why: &'static str| OAuthError::new("invalid_client_metadata", why);
    let request: Registration = serde_json::from_slice(body)
        .map_err(|_| metadata("the body is not a JSON client metadata document"))?;
    let method = request
        .token_endpoint_auth_method
        .unwrap_or_else(|| "client_secret_basic".into()); // RFC 7591 §2
    if !AUTH_METHODS.contains(&method.as_str()) {
        return Err(metadata(
            "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post",
        ));
    }
    let grant_types = request
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    if grant_types.is_empty()
        || grant_types
            .iter()
            .any(|g| !GRANT_TYPES.contains(&g.as_str()))
    {
        return Err(metadata(
            "grant_types may hold authorization_code, refresh_token and client_credentials only",
        ));
    }
    let response_types = request
        .response_types
        .unwrap_or_else(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") {
        return Err(metadata("response_types may hold code only"));
    }
    let has = |grant: &str| grant_types.iter().any(|g| g == grant);
    if has("client_credentials") && method == "none" {
        return Err(metadata(
            "client_credentials needs a confidential client: token_endpoint_auth_method must not be none",
        ));
    }
    if has("authorization_code") && request.redirect_uris.is_empty() {
        return Err(OAuthError::new(
            "invalid_redirect_uri",
            "redirect_uris is required for the authorization_code grant",
        ));
    }
    if request.redirect_uris.len() > 16 {
        return Err(metadata("too many redirect_uris"));
    }
    if request
        .redirect_uris
        .iter()
        .any(|uri| !is_loopback_redirect(uri))
    {
        return Err(OAuthError::new(
            "invalid_redirect_uri",
            "the development issuer accepts loopback redirect URIs only: http://127.0.0.1, http://[::1] or http://localhost, any port, no fragment",
        ));
    }
    if request.client_name.as_ref().is_some_and(|n| n.len() > 200)
        || request.scope.as_ref().is_some_and(|s| s.len() > 2000)
    {
        return Err(metadata("client_name or scope is too long"));
    }

    // An issuer without DPoP ignores the field, as any metadata it does not support.
    let dpop_bound = request.dpop_bound_access_tokens && issuer.dpop.policy() != DpopPolicy::Off;
    let secret = (method != "none").then(random_token);
    let client = Client {
        id: random_token(),
        auth: secret.as_deref().map_or(ClientAuth::None, |secret| {
            ClientAuth::Secret(digest(secret))
        }),
        name: request.client_name.clone(),
        redirect_uris: request.redirect_uris.clone(),
        grant_types: grant_types.clone(),
        scope: request.scope.clone(),
        dpop_bound,
        exchange_for: Vec::new(),
    };
    let issued_at = unix_time();
    let client_id = client.id.clone();
    issuer.store.register(client).map_err(|_| {
        tracing::warn!("development issuer: a registration was refused: every client slot holds a client in use");
        OAuthError::new(
            "temporarily_unavailable",
            "the development issuer holds as many clients as it can, all in use: restart it to start afresh",
        )
    })?;
    tracing::info!(
        client_id = %client_id,
        client_name = request.client_name.as_deref().unwrap_or(""),
        confidential = secret.is_some(),
        "development issuer: client registered"
    );
    let mut body = json!({
        "client_id": client_id,
        "client_id_issued_at": issued_at,
        "redirect_uris": request.redirect_uris,
        "grant_types": grant_types,
        "response_types": response_types,
        "token_endpoint_auth_method": method,
    });
    if let Some(secret) = secret {
        body["client_secret"] = secret.into();
        body["client_secret_expires_at"] = 0.into();
    }
    if let Some(name) = request.client_name {
        body["client_name"] = name.into();
    }
    if let Some(scope) = request.scope {
        body["scope"] = scope.into();
    }
    if dpop_bound {
        body["dpop_bound_access_tokens"] = true.into();
    }
    Ok(body)
}

/// A redirect URI the development issuer accepts: `http` on a loopback host, any port
/// (RFC 8252 §7.3), no fragment (RFC 6749 §3.1.2) and no credentials.
fn is_loopback_redirect(uri: &str) -> bool {
    Url::parse(uri).is_ok_and(|url| {
        url.scheme() == "http"
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none()
            && is_loopback_host(url.host())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_redirect_uris_are_accepted() {
        for ok in [
            "http://127.0.0.1/cb",
            "http://127.0.0.1:33418/callback?x=1",
            "http://[::1]:8080/cb",
            "http://localhost:6274/oauth/callback",
        ] {
            assert!(is_loopback_redirect(ok), "{ok}");
        }
        for bad in [
            "https://example.com/cb",
            "http://example.com/cb",
            "http://localhost.example.com/cb",
            "http://127.0.0.1.nip.io/cb",
            "http://192.168.0.2/cb",
            "http://127.0.0.1/cb#frag",
            "http://user@127.0.0.1/cb",
            "https://127.0.0.1/cb",
            "com.example.app:/cb",
            "/cb",
        ] {
            assert!(!is_loopback_redirect(bad), "{bad}");
        }
    }
}
