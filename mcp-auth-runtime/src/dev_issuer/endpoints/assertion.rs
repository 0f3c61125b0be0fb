//! `private_key_jwt` (RFC 7523 §2.2, §3; OpenID Connect Core §9): a client authenticates with
//! a JWT it signed with its private key, checked against the public keys it was configured
//! with.
//!
//! The assertion must name the client as `iss` and `sub`, the token endpoint's URL or the
//! issuer identifier in `aud`, and carry `exp` at most [`MAX_LIFETIME_SECS`] ahead and a
//! `jti` never seen before: a captured assertion cannot be replayed, not even while it is
//! valid. Only asymmetric algorithms are accepted; `none` and HMAC (which would verify with
//! a "public" key used as a shared secret) never are.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::OAuthError;
use crate::dev_issuer::Inner;
use crate::dev_issuer::issuer::unix_time;
use crate::dev_issuer::keys::is_client_key;
use crate::dev_issuer::store::{Client, ClientAuth, NotRecorded};

/// `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
pub(super) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How far ahead an assertion's `exp` may be: assertions are made for one request.
const MAX_LIFETIME_SECS: u64 = 300;

/// How far in the future an assertion's `iat` may be, for clocks a little ahead.
const CLOCK_SKEW_SECS: u64 = 60;

/// Whether an assertion may be signed with `alg`: the asymmetric algorithms only.
fn accepted(alg: Algorithm) -> bool {
    crate::auth::Algorithm::ASYMMETRIC
        .iter()
        .any(|a| a.to_jsonwebtoken() == alg)
}

/// What is read from an assertion once its signature and registered claims check out.
#[derive(Deserialize)]
struct AssertionClaims {
    exp: u64,
    iat: Option<u64>,
    jti: Option<String>,
}

/// Only the subject, read before the signature is checked, to find whose keys to check it
/// with when the request names no `client_id`.
#[derive(Deserialize)]
struct Unverified {
    sub: Option<String>,
}

/// The client that signed `assertion`; `client_id` is the request's, if it sent one.
pub(super) fn client_from_assertion(
    issuer: &Inner,
    assertion: &str,
    client_id: Option<&str>,
) -> Result<Client, OAuthError> {
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| refused("the client assertion is not a signed JWT with a known algorithm"))?;
    if !accepted(header.alg) {
        return Err(refused(
            "the client assertion must be signed with an asymmetric algorithm (ES256, ES384, RS256..RS512, PS256..PS512, EdDSA)",
        ));
    }
    let id = match client_id {
        Some(id) => id.to_owned(),
        None => jsonwebtoken::dangerous::insecure_decode_claims::<Unverified>(assertion)
            .ok()
            .and_then(|claims| claims.sub)
            .ok_or_else(|| refused("the client assertion names no client (sub)"))?,
    };
    let failed = || OAuthError::new("invalid_client", "client authentication failed");
    let client = issuer.client(&id).ok_or_else(failed)?;
    let ClientAuth::PrivateKeyJwt(jwks) = &client.auth else {
        // A client with a secret (or none) cannot switch to a key it never registered.
        return Err(failed());
    };
    let validation = validation(issuer, &id, header.alg);
    let mut outcome = Err(refused(
        "no key of the client matches the assertion's kid and algorithm",
    ));
    for jwk in jwks.as_jsonwebtoken().keys.iter() {
        if !key_fits(jwk, header.kid.as_deref(), header.alg) {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        outcome = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation)
            .map(|data| data.claims)
            .map_err(|err| refused(why(err.kind())));
        if outcome.is_ok() {
            break;
        }
    }
    let claims = outcome.inspect_err(|err| {
        tracing::info!(
            client_id = %id,
            reason = %err.description,
            "development issuer: a client assertion was refused"
        );
    })?;
    let now = unix_time();
    if claims.exp > now.saturating_add(MAX_LIFETIME_SECS) {
        return Err(refused(
            "the client assertion's exp is more than 5 minutes ahead: assertions are for one request",
        ));
    }
    if claims
        .iat
        .is_some_and(|iat| iat > now.saturating_add(CLOCK_SKEW_SECS))
    {
        return Err(refused("the client assertion's iat is in the future"));
    }
    let jti = claims
        .jti
        .filter(|jti| !jti.is_empty())
        .ok_or_else(|| refused("the client assertion has no jti"))?;
    // Kept until it expires, and a second past, since `exp == now` still passes.
    let expires_ms = claims.exp.saturating_add(1).saturating_mul(1000);
    match issuer
        .store
        .spend_assertion(&id, &jti, expires_ms, now.saturating_mul(1000))
    {
        Ok(()) => Ok(client),
        Err(NotRecorded::Replayed) => {
            tracing::warn!(client_id = %id, "development issuer: a client assertion was replayed");
            Err(refused(
                "the client assertion was used before: make a fresh one (new jti) per request",
            ))
        }
        Err(NotRecorded::Full) => Err(OAuthError::new(
            "temporarily_unavailable",
            "too many unexpired client assertions are recorded: retry shortly",
        )),
    }
}

/// `iss` = `sub` = the client, `aud` the token endpoint or the issuer, `exp` required and
/// no leeway: the assertion was made on this machine a moment ago.
fn validation(issuer: &Inner, client_id: &str, alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.set_audience(&[issuer.token_endpoint.as_str(), issuer.issuer.as_str()]);
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_owned());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = 0;
    validation
}

/// Whether `jwk` may have signed an assertion with header `kid` and `alg`: a public signing
/// key of the algorithm's family, with the same `kid` when the header names one, and the
/// same `alg` when the key names one.
fn key_fits(jwk: &Jwk, kid: Option<&str>, alg: Algorithm) -> bool {
    let kid_ok = kid.is_none_or(|kid| jwk.common.key_id.as_deref() == Some(kid));
    let alg_ok = jwk
        .common
        .key_algorithm
        .is_none_or(|key_alg| key_alg.to_string() == format!("{alg:?}"));
    kid_ok && alg_ok && is_client_key(jwk)
}

/// What a refused assertion is told: which check failed, never the token itself.
fn why(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the client assertion has expired",
        ErrorKind::InvalidAudience => {
            "the client assertion's aud must be the token endpoint's URL or the issuer identifier"
        }
        ErrorKind::InvalidIssuer => "the client assertion's iss must be the client id",
        ErrorKind::InvalidSubject => "the client assertion's sub must be the client id",
        ErrorKind::MissingRequiredClaim(_) => {
            "the client assertion must carry iss, sub, aud and exp"
        }
        ErrorKind::InvalidSignature => "the client assertion's signature does not verify",
        ErrorKind::ImmatureSignature => "the client assertion is not valid yet (nbf)",
        _ => "the client assertion is invalid",
    }
}

fn refused(description: &'static str) -> OAuthError {
    OAuthError::new("invalid_client", description)
}
