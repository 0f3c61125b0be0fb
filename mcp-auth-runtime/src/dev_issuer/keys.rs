//! The issuer's ES256 signing key, and the random values and digests the flows need.

use std::fmt;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::DevIssuerError;

/// An ES256 (P-256) private key, its public JWK and its `kid`.
pub(super) struct SigningKey {
    pkcs8: Vec<u8>,
    encoding: EncodingKey,
    /// The public key, to check tokens presented back to the issuer (RFC 8693 subject
    /// tokens).
    decoding: DecodingKey,
    jwk: Jwk,
    kid: String,
}

impl SigningKey {
    /// A fresh key, gone when the process ends.
    pub(super) fn generate() -> Result<SigningKey, DevIssuerError> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| DevIssuerError::KeyGeneration)?;
        let pkcs8 = pair
            .to_pkcs8v1()
            .map_err(|_| DevIssuerError::KeyGeneration)?;
        SigningKey::from_pkcs8(pkcs8.as_ref().to_vec())
    }

    /// A key from its PKCS#8 DER, which must hold a P-256 private key.
    pub(super) fn from_pkcs8(pkcs8: Vec<u8>) -> Result<SigningKey, DevIssuerError> {
        // `EncodingKey::from_ec_der` accepts any bytes; parse first so that a wrong key fails
        // here rather than at the first signature.
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
            .map_err(|_| DevIssuerError::InvalidKey)?;
        crate::auth::install_crypto_provider();
        let encoding = EncodingKey::from_ec_der(&pkcs8);
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)
            .map_err(|_| DevIssuerError::InvalidKey)?;
        // RFC 7638: the thumbprint names the key, so a persisted key keeps its `kid`.
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| DevIssuerError::InvalidKey)?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| DevIssuerError::InvalidKey)?;
        Ok(SigningKey {
            pkcs8,
            encoding,
            decoding,
            jwk,
            kid,
        })
    }

    pub(super) fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    pub(super) fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key, to verify the issuer's own tokens.
    pub(super) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    pub(super) fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.jwk.clone()],
        }
    }

    /// Signs `claims` as an RFC 9068 access token: `typ: at+jwt`, this key's `kid`.
    pub(super) fn sign(&self, claims: &impl Serialize) -> Result<String, DevIssuerError> {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| DevIssuerError::Signing(e.to_string()))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &"ES256")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Whether `jwk` can verify a client's `private_key_jwt` assertions: an asymmetric public key
/// (EC, RSA, OKP), not marked for encryption. An `oct` key never is: it would be a shared
/// secret published as a public key.
pub(super) fn is_client_key(jwk: &Jwk) -> bool {
    let asymmetric = matches!(
        jwk.algorithm,
        AlgorithmParameters::EllipticCurve(_)
            | AlgorithmParameters::RSA(_)
            | AlgorithmParameters::OctetKeyPair(_)
    );
    asymmetric
        && jwk.common.public_key_use != Some(PublicKeyUse::Encryption)
        && DecodingKey::from_jwk(jwk).is_ok()
}

/// 256 random bits, base64url: client ids and secrets, codes, refresh tokens, form tokens.
pub(super) fn random_token() -> String {
    random_string(32)
}

/// `bytes` random bytes, base64url without padding.
pub(super) fn random_string(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The system RNG failing leaves nothing safe to do: never hand out a predictable value.
    aws_lc_rs::rand::fill(&mut buf).expect("the system random number generator failed");
    URL_SAFE_NO_PAD.encode(buf)
}

/// A SHA-256 digest. Codes, refresh tokens, form tokens and client secrets are stored as
/// digests only, so that the in-memory state holds nothing a caller could present.
pub(super) type Digest = [u8; 32];

pub(super) fn digest(value: &str) -> Digest {
    Sha256::digest(value.as_bytes()).into()
}

/// RFC 7636 §4.6, `S256`: `BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge`.
pub(super) fn s256_matches(verifier: &str, challenge: &str) -> bool {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

/// RFC 7636 §4.1: 43 to 128 characters of `ALPHA / DIGIT / "-" / "." / "_" / "~"`; a code
/// challenge has the same form.
pub(super) fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Decodes `Authorization: Basic` credentials (RFC 6749 §2.3.1: each part form-urlencoded).
pub(super) fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_the_rfc_7636_example() {
        // RFC 7636 Appendix B.
        assert!(s256_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!s256_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }

    #[test]
    fn pkce_values_have_the_rfc_7636_form() {
        assert!(is_pkce_value(&"a".repeat(43)));
        assert!(is_pkce_value(&"-._~".repeat(32)));
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn basic_credentials_are_form_urlencoded() {
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("my%3Aclient:s+cret")
        );
        assert_eq!(
            basic_credentials(&header),
            Some(("my:client".into(), "s cret".into()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
    }

    #[test]
    fn keys_round_trip_through_pkcs8_with_a_stable_kid() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_pkcs8(key.pkcs8().to_vec()).unwrap();
        assert_eq!(key.kid(), again.kid());
        assert_eq!(key.kid().len(), 43);
        assert!(SigningKey::from_pkcs8(b"not a key".to_vec()).is_err());
        assert!(!format!("{key:?}").contains(&format!("{:?}", key.pkcs8())));
    }
}
