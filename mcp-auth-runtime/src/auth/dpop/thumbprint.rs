//! The hashes a proof is matched by: the RFC 7638 thumbprint of its key (what `cnf.jkt`
//! names) and `ath`, the hash of the access token it is bound to (RFC 9449 §4.2).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// The RFC 7638 SHA-256 thumbprint of a public `jwk`, base64url without padding, or `None`
/// when it lacks a required member of its key type or one is not a base64url string.
///
/// Computed from the members as received, not through `jsonwebtoken`'s `Jwk::thumbprint`,
/// which writes them into its JSON unescaped: here each value is a string of the base64url
/// alphabet (or a known curve name) and the canonical JSON is written by `serde_json`, so no
/// crafted member can make two keys' canonical forms, hence thumbprints, coincide.
pub(crate) fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let kty = jwk.get("kty")?.as_str()?;
    // RFC 7638 §3.2: the required members of the key type, and only those.
    let required: &[&str] = match kty {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = BTreeMap::new();
    for &name in required {
        let value = jwk.get(name)?.as_str()?;
        let allowed = match name {
            "kty" => true,
            "crv" => matches!(value, "P-256" | "P-384" | "P-521" | "Ed25519" | "Ed448"),
            _ => is_base64url(value),
        };
        if !allowed {
            return None;
        }
        canonical.insert(name, value);
    }
    // A `BTreeMap` serializes its members in lexicographic order, without whitespace: the
    // canonical form of RFC 7638 §3.3 (the names are ASCII).
    let json = serde_json::to_vec(&canonical).ok()?;
    Some(sha256_base64url(&json))
}

/// `ath` for `token`: base64url (no padding) of the SHA-256 of its ASCII bytes (RFC 9449 §4.2).
pub(crate) fn ath(token: &str) -> String {
    sha256_base64url(token.as_bytes())
}

fn sha256_base64url(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Non-empty and of the base64url alphabet, without padding (RFC 7515 §2).
fn is_base64url(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn members(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    /// The RSA key of RFC 7638 §3.1 and its thumbprint, as printed there.
    #[test]
    fn rfc_7638_example_thumbprint() {
        let jwk = members(json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }));
        assert_eq!(
            thumbprint(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    /// RFC 8037 Appendix A.3: the thumbprint of its Ed25519 key.
    #[test]
    fn rfc_8037_okp_thumbprint() {
        let jwk = members(json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        }));
        assert_eq!(
            thumbprint(&jwk).as_deref(),
            Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        );
    }

    #[test]
    fn ec_thumbprint_hashes_the_required_members_in_order() {
        let jwk = members(json!({"y": "Yg", "x": "WA", "kty": "EC", "crv": "P-256", "kid": "k"}));
        let expected = sha256_base64url(br#"{"crv":"P-256","kty":"EC","x":"WA","y":"Yg"}"#);
        assert_eq!(thumbprint(&jwk), Some(expected));
    }

    #[test]
    fn members_that_could_forge_a_canonical_form_are_refused() {
        for jwk in [
            json!({"kty": "EC", "crv": "P-256", "x": "WA\",\"y\":\"Yg", "y": "Yg"}),
            json!({"kty": "EC", "crv": "P-256", "x": "WA"}),
            json!({"kty": "EC", "crv": "P-256\"", "x": "WA", "y": "Yg"}),
            json!({"kty": "RSA", "n": "", "e": "AQAB"}),
            json!({"kty": "RSA", "n": 5, "e": "AQAB"}),
            json!({"kty": "oct", "k": "c2VjcmV0"}),
            json!({"crv": "Ed25519", "x": "WA"}),
        ] {
            assert_eq!(thumbprint(&members(jwk.clone())), None, "{jwk}");
        }
    }

    #[test]
    fn ath_is_the_rfc_9449_example() {
        // RFC 9449 §7.1: the access token and the `ath` of the proof that accompanies it.
        assert_eq!(
            ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
