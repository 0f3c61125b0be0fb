//! The key format, `PREFIX<id>_<secret>`, and the digest of its secret.
//!
//! The id is 16 lowercase hex digits (64 random bits, never a `_`, so that the first `_`
//! after the prefix ends it); the secret is 32 random bytes (256 bits) in base64url without
//! padding, 43 characters. Only `sha256:` + the base64url SHA-256 of the secret is stored:
//! a stored digest cannot be turned back into a key, and a 256-bit secret needs no slow hash
//! or salt to resist guessing.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Random bytes of a key's secret: 256 bits.
const SECRET_BYTES: usize = 32;

/// Characters of a secret: 32 bytes in base64url without padding.
pub(super) const SECRET_LEN: usize = 43;

/// Random bytes of a generated id, shown as hex.
const ID_BYTES: usize = 8;

/// Longest id a record may have.
pub(super) const MAX_ID_LEN: usize = 64;

/// What a digest starts with: the one algorithm, named so that another could follow.
const DIGEST_PREFIX: &str = "sha256:";

/// The parts of a presented key, after its prefix: the id and the secret. `None` for anything
/// that cannot be a key of this format (a wrong length, a stray character), before any
/// record is looked at.
pub(super) fn split(rest: &str) -> Option<(&str, &str)> {
    let (id, secret) = rest.split_once('_')?;
    let well_formed = is_id(id)
        && secret.len() == SECRET_LEN
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then_some((id, secret))
}

/// Whether `id` is a valid key id: 1 to 64 ASCII letters, digits or `-`. No `_` (it ends the
/// id in a key), nothing that means something in a path, JSON or a log line.
pub(super) fn is_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A new id and secret from the system CSPRNG.
pub(super) fn generate() -> (String, String) {
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    aws_lc_rs::rand::fill(&mut id).expect("the system random generator is available");
    aws_lc_rs::rand::fill(&mut secret).expect("the system random generator is available");
    let id = id.iter().map(|b| format!("{b:02x}")).collect();
    (id, URL_SAFE_NO_PAD.encode(secret))
}

/// The SHA-256 digest of `secret`, raw.
pub(super) fn digest_of(secret: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, secret.as_bytes()).as_ref());
    out
}

/// The stored form of `secret`'s digest: `sha256:` + base64url.
pub(super) fn stored_digest(secret: &str) -> String {
    format!(
        "{DIGEST_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(digest_of(secret))
    )
}

/// The raw digest of a stored one; `None` unless it is `sha256:` + the base64url of 32 bytes.
pub(super) fn parse_digest(stored: &str) -> Option<[u8; 32]> {
    let encoded = stored.strip_prefix(DIGEST_PREFIX)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    bytes.try_into().ok()
}

/// Whether `secret`'s digest is `expected`. The secret is hashed first and the digests are
/// compared in constant time: how long this takes says nothing of how much of the secret was
/// right (the raw secret is never compared).
pub(super) fn matches(secret: &str, expected: &[u8; 32]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(&digest_of(secret), expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_split_back_into_their_parts() {
        for _ in 0..64 {
            let (id, secret) = generate();
            assert_eq!(id.len(), 16);
            assert_eq!(secret.len(), SECRET_LEN);
            assert_eq!(split(&format!("{id}_{secret}")), Some((&*id, &*secret)));
        }
    }

    #[test]
    fn malformed_keys_do_not_split() {
        let (id, secret) = generate();
        for bad in [
            String::new(),
            id.clone(),
            format!("{id}_"),
            format!("_{secret}"),
            format!("{id}_{secret}x"),
            format!("{id}_{}", &secret[1..]),
            format!("{id}_{secret}="),
            format!("{id}_{}.", &secret[1..]),
            format!("{id}_{}+", &secret[1..]),
            format!("../{id}_{secret}"),
            format!("{}_{secret}", "a".repeat(MAX_ID_LEN + 1)),
        ] {
            assert_eq!(split(&bad), None, "{bad}");
        }
    }

    #[test]
    fn the_comparison_is_over_digests_not_secrets() {
        let (_, secret) = generate();
        let digest = parse_digest(&stored_digest(&secret)).unwrap();
        assert!(matches(&secret, &digest));
        // A record holding the secret itself (32 raw bytes) never matches it: what is compared
        // is the digest of what was presented.
        let (_, other) = generate();
        let raw: [u8; 32] = URL_SAFE_NO_PAD.decode(&other).unwrap().try_into().unwrap();
        assert!(!matches(&other, &raw));
        assert!(!matches(&other, &digest));
    }

    #[test]
    fn digests_are_checked_for_their_algorithm_and_length() {
        let (_, secret) = generate();
        let stored = stored_digest(&secret);
        assert!(parse_digest(&stored).is_some());
        assert_eq!(parse_digest(&stored.replace("sha256:", "sha512:")), None);
        assert_eq!(parse_digest(&stored.replace("sha256:", "SHA256:")), None);
        assert_eq!(parse_digest(&stored[..stored.len() - 2]), None);
        assert_eq!(parse_digest(&format!("{stored}AA")), None);
        assert_eq!(parse_digest("sha256:"), None);
    }
}
