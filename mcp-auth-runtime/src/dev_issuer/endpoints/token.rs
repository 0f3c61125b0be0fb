//! `POST /token`: the `authorization_code`, `refresh_token` and `client_credentials` grants
//! (RFC 6749 §4.1.3, §6, §4.4) and token exchange (RFC 8693, in `exchange.rs`), with client
//! authentication (`client_auth.rs`) and DPoP-bound tokens (RFC 9449 §5).

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::client_auth::authenticate;
use super::exchange::exchange_grant;
use super::proof::{refresh_binding, require_key, token_proof};
use super::{Issuer, OAuthError, Params, json_value};
use crate::dev_issuer::issuer::split_scopes;
use crate::dev_issuer::keys::{is_pkce_value, s256_matches};
use crate::dev_issuer::store::{Client, Grant, Redeemed};
use crate::dev_issuer::{EXCHANGE_GRANT, Inner};

pub(super) async fn token(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token_response(&issuer, &headers, &body).await {
        Ok(body) => json_value(StatusCode::OK, &body),
        Err(err) => err.into_response(),
    }
}

async fn token_response(
    issuer: &Inner,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, OAuthError> {
    let params = Params::parse(body).map_err(|name| {
        OAuthError::new(
            "invalid_request",
            format!("the parameter `{name}` is repeated"),
        )
    })?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::new("invalid_request", "grant_type is required"))?;
    let client = authenticate(issuer, headers, &params)?;
    // Before the grant: a refused proof spends no code and no refresh token.
    let proof = token_proof(issuer, &client, headers, grant_type == EXCHANGE_GRANT).await?;
    let proof = proof.as_deref();
    let granted = match grant_type {
        "authorization_code" => code_grant(issuer, &client, &params, proof),
        "refresh_token" => refresh_grant(issuer, &client, &params, proof),
        "client_credentials" => client_credentials_grant(issuer, &client, &params, proof),
        EXCHANGE_GRANT => exchange_grant(issuer, &client, &params, proof),
        _ => Err(OAuthError::new(
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:token-exchange",
        )),
    }?;
    // In use only once a grant succeeded: a public client authenticates by its id alone, so
    // a bad request naming it must not pin it in the store (registrations never evict a client
    // in use).
    issuer.store.client_used(&client.id);
    Ok(granted)
}

/// `proof`: the thumbprint of the request's DPoP key, if it sent a valid proof; the same in
/// the other grants.
fn code_grant(
    issuer: &Inner,
    client: &Client,
    params: &Params,
    proof: Option<&str>,
) -> Result<Value, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::new("invalid_request", "code is required"))?;
    // Before presenting the code: a thief holding it without the key cannot spend it.
    require_key(
        issuer.store.code_jkt(code).as_deref(),
        proof,
        "the code is bound to a DPoP key (dpop_jkt): send a proof signed with that key",
    )?;
    let Redeemed::Fresh(entry) = issuer.store.redeem_code(code) else {
        return Err(OAuthError::new(
            "invalid_grant",
            "the code is invalid, expired or already used",
        ));
    };
    let authorization = &entry.authorization;
    if authorization.client_id != client.id {
        return Err(OAuthError::new(
            "invalid_grant",
            "the code was issued to another client",
        ));
    }
    match params.get("redirect_uri") {
        Some(uri) if uri == authorization.redirect_uri => {}
        Some(_) => {
            return Err(OAuthError::new(
                "invalid_grant",
                "redirect_uri differs from the authorization request",
            ));
        }
        None if authorization.redirect_uri_given => {
            return Err(OAuthError::new(
                "invalid_request",
                "redirect_uri is required: the authorization request named one",
            ));
        }
        None => {}
    }
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| OAuthError::new("invalid_request", "code_verifier is required (PKCE)"))?;
    if !is_pkce_value(verifier) || !s256_matches(verifier, &authorization.code_challenge) {
        return Err(OAuthError::new(
            "invalid_grant",
            "code_verifier does not match the code_challenge",
        ));
    }
    if let Some(resource) = params.get("resource")
        && issuer.resource(Some(resource)) != Some(authorization.resource.as_str())
    {
        return Err(OAuthError::new(
            "invalid_target",
            "the resource differs from the authorization request",
        ));
    }
    let refresh = issuer.store.issue_refresh(
        entry.grant.clone(),
        entry.family.clone(),
        refresh_binding(client, proof),
    );
    issued(
        issuer,
        "authorization_code",
        &entry.grant,
        issuer.token_lifetime,
        Some(refresh),
        proof,
    )
}

fn refresh_grant(
    issuer: &Inner,
    client: &Client,
    params: &Params,
    proof: Option<&str>,
) -> Result<Value, OAuthError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::new("invalid_request", "refresh_token is required"))?;
    let invalid = || {
        OAuthError::new(
            "invalid_grant",
            "the refresh token is invalid, expired or already used",
        )
    };
    // Check the request before spending the token: a refused request leaves it usable.
    let refresh = issuer
        .store
        .refresh_grant(token, &client.id)
        .ok_or_else(invalid)?;
    require_key(
        refresh.jkt.as_deref(),
        proof,
        "the refresh token is bound to a DPoP key: send a proof signed with that key",
    )?;
    let grant = refresh.grant;
    // RFC 6749 §6: the scope may be narrowed, never widened beyond the grant.
    let scopes = match params.get("scope") {
        None => grant.scopes.clone(),
        Some(requested) => {
            let requested = split_scopes(requested, |s| grant.scopes.iter().any(|g| g == s))
                .map_err(|extra| {
                    OAuthError::new(
                        "invalid_scope",
                        format!("scope `{extra}` exceeds the grant: authorize again to widen it"),
                    )
                })?;
            issuer.ordered(requested)
        }
    };
    if let Some(resource) = params.get("resource")
        && issuer.resource(Some(resource)) != Some(grant.resource.as_str())
    {
        return Err(OAuthError::new(
            "invalid_target",
            "the resource differs from the grant",
        ));
    }
    // A public client's bound token stays bound to the same key (checked above); one issued
    // without a proof becomes bound once the client sends one.
    let (grant, refresh) = issuer
        .store
        .rotate_refresh(token, &client.id, refresh_binding(client, proof))
        .ok_or_else(invalid)?;
    let narrowed = Grant { scopes, ..grant };
    issued(
        issuer,
        "refresh_token",
        &narrowed,
        issuer.token_lifetime,
        Some(refresh),
        proof,
    )
}

fn client_credentials_grant(
    issuer: &Inner,
    client: &Client,
    params: &Params,
    proof: Option<&str>,
) -> Result<Value, OAuthError> {
    if !client.is_confidential() || !client.grant_types.iter().any(|g| g == "client_credentials") {
        return Err(OAuthError::new(
            "unauthorized_client",
            "client_credentials needs a confidential client registered for that grant",
        ));
    }
    let resource = issuer.resource(params.get("resource")).ok_or_else(|| {
        OAuthError::new(
            "invalid_target",
            "the resource is not one this issuer mints tokens for",
        )
    })?;
    // RFC 6749 §3.3: the registered scope bounds what a machine client gets, and is the default
    // when it names none. No user consents here, so nothing beyond it is granted, and a
    // request for more is refused rather than silently narrowed.
    let registered = issuer.ordered(client.scope.as_deref().unwrap_or_default().split(' '));
    let scopes = match params.get("scope") {
        None => registered,
        Some(requested) => {
            let requested = split_scopes(requested, |s| registered.iter().any(|r| r == s))
                .map_err(|extra| {
                    OAuthError::new(
                        "invalid_scope",
                        format!(
                            "scope `{extra}` is not in the scope the client registered, which bounds client_credentials"
                        ),
                    )
                })?;
            issuer.ordered(requested)
        }
    };
    let grant = Grant {
        client_id: client.id.clone(),
        subject: client.id.clone(),
        tenant: Some(issuer.default_user().1.clone()),
        scopes,
        resource: resource.to_owned(),
        act: None,
    };
    // RFC 6749 §4.4.3: no refresh token for client credentials.
    issued(
        issuer,
        "client_credentials",
        &grant,
        issuer.token_lifetime,
        None,
        proof,
    )
}

/// The RFC 6749 §5.1 success response for an access token valid for `lifetime`; with `jkt`,
/// bound to that DPoP key (RFC 9449 §5: `token_type` `DPoP`).
pub(super) fn issued(
    issuer: &Inner,
    grant_type: &str,
    grant: &Grant,
    lifetime: Duration,
    refresh_token: Option<String>,
    jkt: Option<&str>,
) -> Result<Value, OAuthError> {
    let access_token = issuer
        .access_token(grant, lifetime, jkt)
        .map_err(|_| OAuthError::new("server_error", "the token could not be signed"))?;
    let token_type = if jkt.is_some() { "DPoP" } else { "Bearer" };
    tracing::info!(
        grant_type,
        token_type,
        client_id = %grant.client_id,
        subject = %grant.subject,
        audience = %grant.resource,
        scope = %grant.scopes.join(" "),
        "development issuer: access token issued"
    );
    let mut body = json!({
        "access_token": access_token,
        "token_type": token_type,
        "expires_in": lifetime.as_secs(),
        "scope": grant.scopes.join(" "),
    });
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = refresh_token.into();
    }
    Ok(body)
}
