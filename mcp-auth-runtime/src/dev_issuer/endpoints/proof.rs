//! DPoP at the token endpoint (RFC 9449 §5, §10): the proof of a token request, and the keys
//! codes and refresh tokens are bound to.
//!
//! Nonces (§8) are not used: the issuer serves loopback clients only, and the `iat` window
//! and the replay record already refuse stale and replayed proofs. A nonce would cost every
//! client a second round trip for no protection a local development setup needs.

use http::{HeaderMap, Method};

use super::OAuthError;
use crate::auth::{DpopError, DpopPolicy, ProofRequest};
use crate::dev_issuer::Inner;
use crate::dev_issuer::store::Client;

/// The header a proof travels in (RFC 9449 §4.1).
const DPOP: &str = "dpop";

/// The thumbprint of the key of `client`'s token request's valid proof; `None` without a
/// proof, or when the issuer ignores DPoP.
///
/// RFC 9449 §4.3: at most one `DPoP` header, and the proof is for `POST` to the token
/// endpoint's URL. Checked before the grant, so that a refused proof spends no code. A proof is
/// required when the issuer requires DPoP, and from a client registered with
/// `dpop_bound_access_tokens` (§5.2), except for a token exchange (`exchange`): that token is
/// for a downstream API the exchanging resource server calls itself, as a confidential client
/// holding no DPoP key, so `Require` (a policy for the tokens of MCP clients) does not apply to
/// it. A proof sent with an exchange is still checked and binds the token.
pub(super) async fn token_proof(
    issuer: &Inner,
    client: &Client,
    headers: &HeaderMap,
    exchange: bool,
) -> Result<Option<String>, OAuthError> {
    let policy = issuer.dpop.policy();
    if policy == DpopPolicy::Off {
        return Ok(None);
    }
    let mut proofs = headers.get_all(DPOP).iter();
    let proof = match (proofs.next(), proofs.next()) {
        (None, _) if policy == DpopPolicy::Require && !exchange => {
            return Err(invalid_proof(
                "a DPoP proof is required: this issuer issues DPoP-bound tokens only",
            ));
        }
        (None, _) if client.dpop_bound => {
            return Err(invalid_proof(
                "a DPoP proof is required: the client registered dpop_bound_access_tokens",
            ));
        }
        (None, _) => return Ok(None),
        (Some(_), Some(_)) => return Err(invalid_proof("send one DPoP header, not several")),
        (Some(proof), None) => proof
            .to_str()
            .map_err(|_| invalid_proof("the DPoP header is not a JWT"))?,
    };
    let request = ProofRequest {
        method: &Method::POST,
        uri: &issuer.token_endpoint,
        access_token: None,
    };
    match issuer.dpop.verify_proof(proof, request).await {
        Ok(verified) => Ok(Some(verified.thumbprint().to_owned())),
        Err(DpopError::Unavailable(reason)) => {
            tracing::warn!(%reason, "development issuer: DPoP proofs cannot be checked");
            Err(OAuthError::new(
                "temporarily_unavailable",
                "DPoP proofs cannot be checked right now",
            ))
        }
        // `UseNonce` cannot happen (no nonces); refused all the same.
        Err(err) => {
            tracing::info!(reason = %err, "development issuer: a DPoP proof was refused");
            Err(invalid_proof(
                "the DPoP proof is invalid; the issuer's log says why",
            ))
        }
    }
}

/// The key a refresh token issued now is bound to (RFC 9449 §5): a public client's is bound to
/// the key of the request's proof, since nothing else stops a thief from using it. A
/// confidential client's is not: it is already bound to the client's credentials.
pub(super) fn refresh_binding(client: &Client, proof: Option<&str>) -> Option<String> {
    if client.is_confidential() {
        None
    } else {
        proof.map(str::to_owned)
    }
}

/// Refuses a request whose proof is not signed with the key `bound` names: a code with a
/// `dpop_jkt`, a refresh token bound to a key (RFC 9449 §5, §10). The grant, not the proof,
/// is at fault: `invalid_grant`, as a grant issued to another client is.
pub(super) fn require_key(
    bound: Option<&str>,
    proof: Option<&str>,
    what: &'static str,
) -> Result<(), OAuthError> {
    match bound {
        Some(bound) if proof != Some(bound) => Err(OAuthError::new("invalid_grant", what)),
        _ => Ok(()),
    }
}

/// Whether `value` can be an RFC 7638 SHA-256 thumbprint: 32 bytes, base64url without padding.
pub(super) fn is_thumbprint(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn invalid_proof(description: &'static str) -> OAuthError {
    OAuthError::new("invalid_dpop_proof", description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_are_43_base64url_characters() {
        assert!(is_thumbprint("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"));
        for bad in [
            "",
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4",
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I=",
            "0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
            "0ZcOCORZNYy DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
        ] {
            assert!(!is_thumbprint(bad), "{bad}");
        }
    }
}
