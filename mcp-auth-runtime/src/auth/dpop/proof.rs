//! Checking a DPoP proof: every check of RFC 9449 §4.3, in its order, then the nonce (§8) and
//! the replay record (§11.1) last.
//!
//! The header is read twice: as raw JSON, for what `jsonwebtoken::Header` cannot show (a
//! private member of the `jwk`, `crit`, repeated member names, `alg: none`), and through
//! `jsonwebtoken::decode_header`, whose `Jwk` makes the verification key. The signature is
//! checked by `jsonwebtoken::crypto::verify` (aws-lc-rs); the payload is read as raw JSON,
//! since its claims are checked here, not by `jsonwebtoken::Validation`.
//!
//! Repeated member names: RFC 7515 §4 and RFC 7519 §4 let a parser keep the last of them, as
//! `serde_json` does, but other parsers keep the first. A proof whose `htu`, `ath` or `jwk`
//! reads differently to a gateway and to this server is refused, in the header and the payload
//! at any depth (`jsonrpc::unique_keys`).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve};
use serde_json::{Map, Value};

use super::replay::ProofId;
use super::{Dpop, DpopError, ProofRequest, VerifiedProof, htu, thumbprint};
use crate::auth::Algorithm;

/// The longest proof read, in bytes. An honest proof with an RSA-4096 key is about 1.5 KiB;
/// anything longer is refused before it is decoded.
pub(crate) const MAX_PROOF_LEN: usize = 8 * 1024;

/// The longest `jti` accepted, in bytes: 96 random bits are enough (RFC 9449 §4.2), and
/// UUIDs are 36 characters.
pub(crate) const MAX_JTI_LEN: usize = 256;

/// The shortest RSA modulus accepted, in bits (RFC 7518 §3.3, §3.5).
const MIN_RSA_BITS: usize = 2048;

/// Members that make a JWK private or symmetric (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn invalid(reason: &str) -> DpopError {
    DpopError::InvalidProof(reason.to_owned())
}

/// The wall clock, in milliseconds since the epoch.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().try_into().unwrap_or(u64::MAX))
}

/// Checks `proof` against `request` at `now_ms`: see [`Dpop::verify_proof`].
/// With `bound_to`, the key must also have that thumbprint (`cnf.jkt`, RFC 9449 §4.3 item
/// 12), checked before the signature and the replay record, so that proofs by another key
/// cost neither.
pub(super) async fn verify(
    dpop: &Dpop,
    proof: &str,
    request: ProofRequest<'_>,
    bound_to: Option<&str>,
    now_ms: u64,
) -> Result<VerifiedProof, DpopError> {
    // §4.3 items 1-2: one well-formed JWT, read only when short enough to be honest.
    if proof.len() > MAX_PROOF_LEN {
        return Err(invalid("too long"));
    }
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not a compact JWS"));
    };
    if signature.is_empty() {
        return Err(invalid("unsigned"));
    }
    let header = json_object(header_b64).ok_or_else(|| invalid("malformed header"))?;

    // Items 3-5: explicitly typed, an asymmetric algorithm we accept, a public key.
    check_type(header.get("typ"))?;
    let alg = check_algorithm(header.get("alg"), dpop.accepted_algorithms())?;
    if header.contains_key("crit") {
        // RFC 7515 §4.1.11: no extension is understood here.
        return Err(invalid("crit header not understood"));
    }
    let raw_jwk = match header.get("jwk") {
        Some(Value::Object(jwk)) => jwk,
        Some(_) => return Err(invalid("jwk is not an object")),
        None => return Err(invalid("no jwk")),
    };
    if PRIVATE_MEMBERS
        .iter()
        .any(|name| raw_jwk.contains_key(*name))
    {
        return Err(invalid("jwk is not a public key"));
    }
    let typed = jsonwebtoken::decode_header(proof).map_err(|_| invalid("malformed header"))?;
    let jwk = typed.jwk.ok_or_else(|| invalid("no jwk"))?;
    if typed.alg != alg.to_jsonwebtoken() {
        return Err(invalid("malformed header"));
    }
    check_key_type(alg, &jwk.algorithm)?;
    let thumbprint = thumbprint::thumbprint(raw_jwk).ok_or_else(|| invalid("malformed jwk"))?;
    if bound_to.is_some_and(|jkt| jkt != thumbprint) {
        // Both are public: a plain comparison.
        return Err(invalid("jwk is not the key the access token is bound to"));
    }

    // Item 6: signed by that key.
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|_| invalid("unusable jwk"))?;
    let message = &proof[..header_b64.len() + 1 + payload_b64.len()];
    let signed = jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, typed.alg);
    if !matches!(signed, Ok(true)) {
        return Err(invalid("bad signature"));
    }

    // Items 7-11: the claims, for this request, now, and this access token.
    let claims = json_object(payload_b64).ok_or_else(|| invalid("malformed payload"))?;
    let jti = match claims.get("jti") {
        Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => jti,
        _ => return Err(invalid("jti missing, empty or too long")),
    };
    // RFC 9110 §9.1: methods are case-sensitive.
    if claims.get("htm").and_then(Value::as_str) != Some(request.method.as_str()) {
        return Err(invalid("htm does not match the request method"));
    }
    let htu = claims
        .get("htu")
        .and_then(Value::as_str)
        .and_then(htu::normalize);
    if htu.is_none() || htu != htu::normalize(request.uri) {
        return Err(invalid("htu does not match the request URI"));
    }
    let window_ms = u64::try_from(dpop.inner.iat_window.as_millis()).unwrap_or(u64::MAX);
    let iat_ms = issued_at_ms(claims.get("iat")).ok_or_else(|| invalid("iat missing"))?;
    if iat_ms.abs_diff(now_ms) > window_ms {
        return Err(invalid("iat outside the accepted window"));
    }
    if let Some(token) = request.access_token {
        // Both sides are public (the client sent the token and the proof), so a plain
        // comparison of the hashes leaks nothing a timing attack could use.
        match claims.get("ath").and_then(Value::as_str) {
            Some(ath) if ath == thumbprint::ath(token) => {}
            Some(_) => return Err(invalid("ath does not match the access token")),
            None => return Err(invalid("ath missing")),
        }
    }

    // §8: a current server nonce, when nonces are on.
    if let Some(nonces) = dpop.nonce_keys() {
        match claims.get("nonce") {
            None => return Err(DpopError::UseNonce),
            Some(Value::String(nonce)) => nonces.check(nonce, now_ms)?,
            Some(_) => return Err(invalid("nonce is not a string")),
        }
    }

    // §11.1, last so that refused proofs fill nothing: each (key, jti) once, remembered until
    // the proof would be refused as too old anyway.
    let expires_ms = iat_ms.saturating_add(window_ms);
    dpop.inner
        .used
        .record(ProofId::new(&thumbprint, jti), expires_ms, now_ms)
        .await?;
    Ok(VerifiedProof { thumbprint })
}

/// The JSON object a base64url segment encodes, with no member name repeated at any depth.
fn json_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    match crate::jsonrpc::unique_keys(text).ok()? {
        Value::Object(members) => Some(members),
        _ => None,
    }
}

/// `typ` must be `dpop+jwt` (RFC 9449 §4.2), compared as a media type (RFC 7515 §4.1.9:
/// case-insensitively, the `application/` prefix optional), as the access token's `at+jwt` is.
fn check_type(typ: Option<&Value>) -> Result<(), DpopError> {
    let typ = typ
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| invalid("typ is not dpop+jwt"))?;
    match typ.strip_prefix("application/").unwrap_or(&typ) {
        "dpop+jwt" => Ok(()),
        _ => Err(invalid("typ is not dpop+jwt")),
    }
}

/// `alg` names an accepted asymmetric algorithm (never `none` nor HMAC, RFC 9449 §4.2); names
/// are case-sensitive (RFC 7515 §4.1.1).
fn check_algorithm(alg: Option<&Value>, accepted: &[Algorithm]) -> Result<Algorithm, DpopError> {
    alg.and_then(Value::as_str)
        .and_then(|name| name.parse::<Algorithm>().ok())
        .filter(|alg| !alg.is_hmac() && accepted.contains(alg))
        .ok_or_else(|| invalid("alg not accepted"))
}

/// The key is of the algorithm's type: P-256 for ES256, P-384 for ES384, Ed25519 for EdDSA,
/// RSA of at least [`MIN_RSA_BITS`] for RS* and PS*.
fn check_key_type(alg: Algorithm, key: &AlgorithmParameters) -> Result<(), DpopError> {
    let fits = match (alg, key) {
        (Algorithm::ES256, AlgorithmParameters::EllipticCurve(ec)) => {
            ec.curve == EllipticCurve::P256
        }
        (Algorithm::ES384, AlgorithmParameters::EllipticCurve(ec)) => {
            ec.curve == EllipticCurve::P384
        }
        (Algorithm::EdDSA, AlgorithmParameters::OctetKeyPair(okp)) => {
            okp.curve == EllipticCurve::Ed25519
        }
        (
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
            AlgorithmParameters::RSA(rsa),
        ) => {
            if modulus_bits(&rsa.n) < MIN_RSA_BITS {
                return Err(invalid("RSA key too short"));
            }
            true
        }
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(invalid("jwk does not fit alg"))
    }
}

/// The bit length of a base64url big-endian modulus; 0 if it does not decode.
fn modulus_bits(n: &str) -> usize {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(n) else {
        return 0;
    };
    match bytes.iter().position(|b| *b != 0) {
        Some(first) => (bytes.len() - first) * 8 - bytes[first].leading_zeros() as usize,
        None => 0,
    }
}

/// `iat` in milliseconds: a JSON number of seconds since the epoch (RFC 7519 §2 NumericDate,
/// fractions allowed), not before the epoch.
fn issued_at_ms(iat: Option<&Value>) -> Option<u64> {
    let seconds = iat?.as_f64()?;
    if !(0.0..=1e15).contains(&seconds) {
        return None;
    }
    Some((seconds * 1000.0) as u64)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn typ_is_compared_as_a_media_type() {
        for typ in [
            "dpop+jwt",
            "DPoP+JWT",
            "application/dpop+jwt",
            "Application/DPOP+jwt",
        ] {
            assert_eq!(check_type(Some(&json!(typ))), Ok(()), "{typ}");
        }
        for typ in [
            json!("JWT"),
            json!("at+jwt"),
            json!("dpop"),
            json!("text/dpop+jwt"),
            json!(1),
        ] {
            assert!(check_type(Some(&typ)).is_err(), "{typ}");
        }
        assert!(check_type(None).is_err());
    }

    #[test]
    fn only_accepted_asymmetric_algorithms() {
        let accepted = [Algorithm::ES256, Algorithm::HS256];
        assert_eq!(
            check_algorithm(Some(&json!("ES256")), &accepted),
            Ok(Algorithm::ES256)
        );
        for alg in [
            json!("HS256"),
            json!("none"),
            json!("es256"),
            json!("RS256"),
            json!(null),
        ] {
            assert!(check_algorithm(Some(&alg), &accepted).is_err(), "{alg}");
        }
    }

    #[test]
    fn modulus_bits_counts_from_the_first_one_bit() {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(modulus_bits(&b64(&[0x80; 256])), 2048);
        assert_eq!(modulus_bits(&b64(&[0x7f; 256])), 2047);
        let mut padded = vec![0; 10];
        padded.extend([0xff; 256]);
        assert_eq!(modulus_bits(&b64(&padded)), 2048);
        assert_eq!(modulus_bits(&b64(&[0; 300])), 0);
        assert_eq!(modulus_bits("!!"), 0);
    }

    #[test]
    fn iat_is_a_non_negative_number_of_seconds() {
        assert_eq!(
            issued_at_ms(Some(&json!(1_800_000_000))),
            Some(1_800_000_000_000)
        );
        assert_eq!(issued_at_ms(Some(&json!(1.5))), Some(1_500));
        for iat in [json!("1800000000"), json!(-1), json!(1e300), json!(null)] {
            assert_eq!(issued_at_ms(Some(&iat)), None, "{iat}");
        }
        assert_eq!(issued_at_ms(None), None);
    }

    #[test]
    fn repeated_members_are_refused_at_any_depth() {
        let b64 = |json: &str| URL_SAFE_NO_PAD.encode(json);
        assert!(json_object(&b64(r#"{"htu":"a","jti":"b"}"#)).is_some());
        for json in [
            r#"{"htu":"a","htu":"b"}"#,
            r#"{"jwk":{"x":"a","x":"b"}}"#,
            r#"{"h\u0074u":"a","htu":"b"}"#,
            r#"["htu"]"#,
            "{}x",
        ] {
            assert_eq!(json_object(&b64(json)), None, "{json}");
        }
        assert_eq!(json_object("e30="), None, "padding");
    }
}
