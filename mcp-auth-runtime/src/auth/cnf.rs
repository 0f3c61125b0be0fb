//! The confirmation claim `cnf` (RFC 7800): the key a token is bound to. Only the JWK
//! SHA-256 thumbprint method `jkt` of DPoP (RFC 9449 §6) is understood, in a JWT's claims
//! (§6.1) and in an introspection response (§6.2) alike.

use base64::Engine;
use serde_json::{Map, Value};

/// Length of a base64url (unpadded) SHA-256 digest: 32 bytes in 43 characters.
const JKT_LEN: usize = 43;

/// The `cnf.jkt` of verified `claims`: `Ok(None)` when there is no `cnf`, `Ok(Some(jkt))`
/// when `cnf` is an object whose only member is `jkt`, a base64url SHA-256 thumbprint, and
/// `Err` with a reason otherwise. Any other confirmation (`x5t#S256` of mutual TLS, `jwk`, or
/// several methods at once) binds the token to something this server cannot check, so the
/// token is refused rather than taken as a bearer token.
pub(crate) fn jkt(claims: &Map<String, Value>) -> Result<Option<String>, &'static str> {
    let Some(cnf) = claims.get("cnf") else {
        return Ok(None);
    };
    let cnf = cnf
        .as_object()
        .ok_or("claim `cnf` is not an object (RFC 7800 §3.1)")?;
    let (Some(jkt), 1) = (cnf.get("jkt"), cnf.len()) else {
        return Err(
            "the token is bound (`cnf`) by a confirmation method other than a DPoP key \
             thumbprint (`jkt`) alone, which this server cannot check",
        );
    };
    jkt.as_str()
        .filter(|jkt| is_sha256_thumbprint(jkt))
        .map(|jkt| Some(jkt.to_owned()))
        .ok_or("`cnf.jkt` is not a base64url SHA-256 thumbprint (RFC 9449 §6.1)")
}

/// 43 base64url characters that decode (canonically: no stray trailing bits) to 32 bytes.
fn is_sha256_thumbprint(value: &str) -> bool {
    value.len() == JKT_LEN
        && base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .is_ok_and(|digest| digest.len() == 32)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn of(cnf: Value) -> Result<Option<String>, &'static str> {
        jkt(json!({ "sub": "a", "cnf": cnf }).as_object().unwrap())
    }

    #[test]
    fn only_a_lone_sha256_jkt_is_understood() {
        let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        assert_eq!(of(json!({ "jkt": jkt })), Ok(Some(jkt.to_owned())));
        assert_eq!(super::jkt(&Map::new()), Ok(None));
        for refused in [
            json!(null),
            json!("jkt"),
            json!({}),
            json!({ "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" }),
            json!({ "jwk": { "kty": "EC" } }),
            json!({ "jkt": jkt, "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" }),
            json!({ "jkt": 42 }),
            json!({ "jkt": "x" }),
            json!({ "jkt": format!("{jkt}=") }),
            json!({ "jkt": jkt.replace('-', "+") }),
            // 43 characters whose last one carries bits beyond the 32 bytes.
            json!({ "jkt": format!("{}J", &jkt[..42]) }),
            json!({ "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4" }),
        ] {
            assert!(of(refused.clone()).is_err(), "{refused}");
        }
    }
}
