//! The token-exchange grant (RFC 8693 §2): a configured client trades an access token this
//! issuer signed (the `subject_token`, e.g. the one an MCP server received) for a token of
//! another of the issuer's resources, for the same user, with no more scope, naming the
//! client as the actor (`act`, §4.1).
//!
//! The policy: only clients configured with [`DevClient::may_exchange_for`] may exchange,
//! only for the resources named there; the scope is at most the subject token's; the token
//! lives no longer than the subject token. Refusals use the RFC 8693 §2.2.2 codes: a subject
//! token that is invalid, expired, not an access token or not this issuer's is
//! `invalid_request`; a target not allowed is `invalid_target`; a wider scope is
//! `invalid_scope`; a client not allowed to exchange at all is `unauthorized_client`.
//!
//! [`DevClient::may_exchange_for`]: crate::dev_issuer::DevClient::may_exchange_for

use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use super::OAuthError;
use super::Params;
use super::token::issued;
use crate::dev_issuer::issuer::{split_scopes, unix_time};
use crate::dev_issuer::store::{Client, Grant};
use crate::dev_issuer::{EXCHANGE_GRANT, Inner};

/// RFC 8693 §3: the token types this grant takes as `subject_token_type` and issues.
pub(super) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The claims of a subject token read once its signature, issuer, audience and expiry check
/// out.
#[derive(Deserialize)]
struct SubjectClaims {
    sub: String,
    exp: u64,
    tenant: Option<String>,
    scope: Option<String>,
    act: Option<Value>,
}

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`, for `client`, authenticated;
/// `proof` the thumbprint of the request's DPoP key, if it sent a valid proof.
pub(super) fn exchange_grant(
    issuer: &Inner,
    client: &Client,
    params: &Params,
    proof: Option<&str>,
) -> Result<Value, OAuthError> {
    if client.exchange_for.is_empty() {
        return Err(OAuthError::new(
            "unauthorized_client",
            "the client may not exchange tokens: configure it with DevClient::may_exchange_for",
        ));
    }
    let subject_token = params
        .get("subject_token")
        .ok_or_else(|| invalid_request("subject_token is required"))?;
    match params.get("subject_token_type") {
        Some(ACCESS_TOKEN_TYPE | JWT_TYPE) => {}
        Some(_) => {
            return Err(invalid_request(
                "subject_token_type must be urn:ietf:params:oauth:token-type:access_token (or :jwt): only this issuer's access tokens are exchanged",
            ));
        }
        None => return Err(invalid_request("subject_token_type is required")),
    }
    // The client authenticated itself: it is the actor. A second party's token would name
    // an actor this issuer has no policy for.
    if params.get("actor_token").is_some() || params.get("actor_token_type").is_some() {
        return Err(invalid_request(
            "actor_token is not supported: the authenticated client is the actor",
        ));
    }
    let issued_token_type = match params.get("requested_token_type") {
        None | Some(ACCESS_TOKEN_TYPE) => ACCESS_TOKEN_TYPE,
        Some(JWT_TYPE) => JWT_TYPE,
        Some(_) => {
            return Err(invalid_request(
                "requested_token_type must be urn:ietf:params:oauth:token-type:access_token",
            ));
        }
    };
    let resource = target(issuer, client, params)?;
    let subject = subject_claims(issuer, subject_token)?;
    let remaining = subject.exp.saturating_sub(unix_time());
    if remaining == 0 {
        return Err(invalid_request("the subject token has expired"));
    }

    // RFC 8693 §2.1 leaves the scope to policy; this issuer's never widens it.
    let held: Vec<&str> = subject.scope.as_deref().unwrap_or("").split(' ').collect();
    let scopes = match params.get("scope") {
        None => issuer.ordered(held.iter().copied()),
        Some(requested) => {
            let requested = split_scopes(requested, |s| held.contains(&s)).map_err(|extra| {
                OAuthError::new(
                    "invalid_scope",
                    format!("scope `{extra}` is not in the subject token's scope: an exchange never widens it"),
                )
            })?;
            issuer.ordered(requested)
        }
    };
    // RFC 8693 §4.1: the acting client, nesting whoever acted before it.
    let mut act = json!({ "sub": client.id });
    if let Some(prior) = subject.act {
        act["act"] = prior;
    }
    let grant = Grant {
        client_id: client.id.clone(),
        subject: subject.sub,
        tenant: subject.tenant,
        scopes,
        resource: resource.to_owned(),
        act: Some(act),
    };
    let lifetime = issuer.token_lifetime.min(Duration::from_secs(remaining));
    // RFC 8693 §2.2.1: no refresh token; the client exchanges again when it needs one.
    let mut body = issued(issuer, EXCHANGE_GRANT, &grant, lifetime, None, proof)?;
    body["issued_token_type"] = issued_token_type.into();
    Ok(body)
}

/// The resource a request names with `resource` and/or `audience` (RFC 8693 §2.1), as
/// configured, if `client` may exchange for it.
fn target<'a>(issuer: &'a Inner, client: &Client, params: &Params) -> Result<&'a str, OAuthError> {
    let named = |value: &str| {
        issuer.resource(Some(value)).ok_or_else(|| {
            OAuthError::new(
                "invalid_target",
                format!("`{value}` is not a resource this issuer mints tokens for"),
            )
        })
    };
    let resource = match (params.get("resource"), params.get("audience")) {
        (None, None) => {
            return Err(invalid_request(
                "name the downstream API with resource (its URI) or audience",
            ));
        }
        (Some(one), None) | (None, Some(one)) => named(one)?,
        (Some(resource), Some(audience)) => {
            let resource = named(resource)?;
            if named(audience)? != resource {
                return Err(OAuthError::new(
                    "invalid_target",
                    "resource and audience name different resources: a token has one audience",
                ));
            }
            resource
        }
    };
    if !client
        .exchange_for
        .iter()
        .any(|allowed| allowed == resource)
    {
        return Err(OAuthError::new(
            "invalid_target",
            format!("the client may not exchange tokens for `{resource}`"),
        ));
    }
    Ok(resource)
}

/// The claims of `token` if it is an access token this issuer signed, for one of its
/// resources (any: the subject token is usually the MCP server's), and not expired.
///
/// A DPoP-bound subject token (`cnf`) is accepted: the client presenting it is authenticated
/// and allowed by policy, and the resource server it came from checked the proof.
fn subject_claims(issuer: &Inner, token: &str) -> Result<SubjectClaims, OAuthError> {
    let invalid = || {
        invalid_request(
            "the subject_token is not a valid, unexpired access token issued by this issuer",
        )
    };
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
    // RFC 9068 §4: an access token says so in its header; an ID token or another JWT this
    // key signed is not a subject token.
    if header.typ.as_deref() != Some("at+jwt") || header.kid.as_deref() != Some(issuer.key.kid()) {
        return Err(invalid());
    }
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[issuer.issuer.as_str()]);
    let audiences: Vec<&str> = issuer.resources.iter().map(|r| r.uri.as_str()).collect();
    validation.set_audience(&audiences);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 0;
    jsonwebtoken::decode::<SubjectClaims>(token, issuer.key.decoding(), &validation)
        .map(|data| data.claims)
        .map_err(|err| {
            tracing::info!(reason = %err, "development issuer: a subject token was refused");
            invalid()
        })
}

fn invalid_request(description: &'static str) -> OAuthError {
    OAuthError::new("invalid_request", description)
}
