//! Client authentication at the token endpoint: `client_secret_basic`, `client_secret_post`
//! (RFC 6749 §2.3.1), `private_key_jwt` (RFC 7523 §2.2) and a public client's bare
//! `client_id`. One method per request.

use http::{HeaderMap, header};

use super::assertion::{ASSERTION_TYPE, client_from_assertion};
use super::{OAuthError, Params};
use crate::dev_issuer::Inner;
use crate::dev_issuer::keys::{basic_credentials, digest};
use crate::dev_issuer::store::{Client, ClientAuth};

/// The client a token request comes from, authenticated.
pub(super) fn authenticate(
    issuer: &Inner,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Client, OAuthError> {
    let failed = || OAuthError::new("invalid_client", "client authentication failed");
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(basic_credentials)
                .ok_or_else(failed)?,
        ),
    };
    let assertion = params.get("client_assertion");
    let assertion_type = params.get("client_assertion_type");
    if assertion.is_some() || assertion_type.is_some() {
        if basic.is_some() || params.get("client_secret").is_some() {
            return Err(one_method());
        }
        return match (assertion_type, assertion) {
            (Some(ASSERTION_TYPE), Some(assertion)) => {
                client_from_assertion(issuer, assertion, params.get("client_id"))
            }
            (Some(ASSERTION_TYPE), None) => Err(OAuthError::new(
                "invalid_request",
                "client_assertion is required with client_assertion_type",
            )),
            _ => Err(OAuthError::new(
                "invalid_request",
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )),
        };
    }
    let (id, secret) = match (basic, params.get("client_id"), params.get("client_secret")) {
        (Some(_), _, Some(_)) => return Err(one_method()),
        (Some((id, secret)), body_id, None) => {
            if body_id.is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::new(
                    "invalid_request",
                    "client_id differs from the Authorization header",
                ));
            }
            let secret = (!secret.is_empty()).then_some(secret);
            (id, secret)
        }
        (None, Some(id), secret) => (id.to_owned(), secret.map(str::to_owned)),
        (None, None, _) => {
            return Err(OAuthError::new(
                "invalid_client",
                "client authentication is required",
            ));
        }
    };
    let client = issuer.client(&id).ok_or_else(failed)?;
    // Digests of secrets of at least 256 bits (registration) or 32 characters
    // (configuration): comparing them leaks nothing useful about the secret.
    match (&client.auth, secret) {
        (ClientAuth::Secret(expected), Some(given)) if digest(&given) == *expected => {}
        (ClientAuth::None, None) => {}
        // A `private_key_jwt` client authenticates with an assertion only.
        _ => return Err(failed()),
    }
    Ok(client)
}

fn one_method() -> OAuthError {
    OAuthError::new(
        "invalid_request",
        "use one client authentication method per request",
    )
}
