//! Server nonces (RFC 9449 §8) without server state: each nonce is its issue time, sealed.
//!
//! SEP-1932 suggests "an encrypted timestamp ... which can be decrypted, parsed and verified
//! to be within an acceptable time window": a nonce is the issue time (milliseconds since the
//! epoch) sealed with AES-256-GCM under the configured key and a random 96-bit nonce, in
//! base64url. Any replica with the key opens it; none keeps a list. A nonce is current while its
//! issue time lies within the `iat` window of now, as a proof's `iat` must.
//!
//! Opening tells two failures apart: a nonce no configured key sealed (forged, altered, or
//! sealed with a key rotated out) makes the proof invalid; a genuine nonce that is no longer
//! current asks the client to retry with a fresh one (`use_dpop_nonce`).
//!
//! One nonce is issued per [`SLICE`] and handed to every response in it, so that answering
//! does not cost an encryption each time; a client thus gets a nonce up to one slice old.

use std::sync::Mutex;
use std::time::Duration;

use aws_lc_rs::aead::{AES_256_GCM, Aad, Nonce, RandomizedNonceKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::DpopError;

/// The shortest nonce key accepted, in bytes: a 256-bit key.
pub(crate) const MIN_KEY_LEN: usize = 32;

/// How long one issued nonce is handed out: a small part of any sensible window.
pub(crate) const SLICE: Duration = Duration::from_secs(10);

/// Separates the AES key derived here from any other use of the configured key, and the
/// ciphertexts from any other AES-GCM use of it (as associated data).
const CONTEXT: &[u8] = b"mcp-auth DPoP nonce v1\0";

/// AES-GCM's nonce and tag lengths, and the sealed timestamp's.
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const TIME_LEN: usize = 8;

/// Issues and checks a server's nonces: the first key seals, every one opens (rotation).
pub(crate) struct Nonces {
    keys: Vec<RandomizedNonceKey>,
    window_ms: u64,
    /// The nonce of the current slice, and the slice's number.
    current: Mutex<Option<(u64, String)>>,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.debug_struct("Nonces")
            .field("keys", &self.keys.len())
            .field("window_ms", &self.window_ms)
            .finish_non_exhaustive()
    }
}

impl Nonces {
    /// Seals with `current`, opens nonces sealed with it or any of `previous`; a nonce is
    /// current for `window` either way of its issue time. The caller checked the keys'
    /// lengths ([`MIN_KEY_LEN`]).
    pub(crate) fn new(current: &[u8], previous: &[Vec<u8>], window: Duration) -> Nonces {
        let keys = std::iter::once(current)
            .chain(previous.iter().map(Vec::as_slice))
            .map(|key| {
                // SHA-256 of the context and the key: an AES-256 key of its own whatever the
                // configured key's length.
                let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
                context.update(CONTEXT);
                context.update(key);
                RandomizedNonceKey::new(&AES_256_GCM, context.finish().as_ref())
                    .expect("a SHA-256 digest is an AES-256 key")
            })
            .collect();
        Nonces {
            keys,
            window_ms: window.as_millis().try_into().unwrap_or(u64::MAX),
            current: Mutex::new(None),
        }
    }

    /// The nonce to send at `now_ms`: the one issued in this slice, else a new one.
    pub(crate) fn issue(&self, now_ms: u64) -> String {
        let slice = now_ms / SLICE.as_millis() as u64;
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match &*current {
            Some((issued, nonce)) if *issued == slice => nonce.clone(),
            _ => {
                let nonce = self.seal(now_ms);
                *current = Some((slice, nonce.clone()));
                nonce
            }
        }
    }

    /// A new nonce sealing `now_ms`.
    fn seal(&self, now_ms: u64) -> String {
        let mut sealed = now_ms.to_be_bytes().to_vec();
        let nonce = self.keys[0]
            .seal_in_place_append_tag(Aad::from(CONTEXT), &mut sealed)
            .expect("AES-GCM seals 8 bytes");
        let mut bytes = Vec::with_capacity(NONCE_LEN + TIME_LEN + TAG_LEN);
        bytes.extend_from_slice(nonce.as_ref());
        bytes.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `nonce`, from a proof checked at `now_ms`, is current: `UseNonce` if it is
    /// genuine but too old (or too far ahead), `InvalidProof` if no key of ours sealed it.
    pub(crate) fn check(&self, nonce: &str, now_ms: u64) -> Result<(), DpopError> {
        let forged = || DpopError::InvalidProof("nonce not issued by this server".into());
        let bytes = URL_SAFE_NO_PAD.decode(nonce).map_err(|_| forged())?;
        if bytes.len() != NONCE_LEN + TIME_LEN + TAG_LEN {
            return Err(forged());
        }
        let (nonce_bytes, sealed) = bytes.split_at(NONCE_LEN);
        let issued = self
            .keys
            .iter()
            .find_map(|key| {
                let nonce = Nonce::try_assume_unique_for_key(nonce_bytes).ok()?;
                let mut in_out = sealed.to_vec();
                let time = key
                    .open_in_place(nonce, Aad::from(CONTEXT), &mut in_out)
                    .ok()?;
                Some(u64::from_be_bytes(time.try_into().ok()?))
            })
            .ok_or_else(forged)?;
        if issued.abs_diff(now_ms) > self.window_ms {
            return Err(DpopError::UseNonce);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(300);
    const NOW: u64 = 1_800_000_000_000;

    fn nonces(key: u8) -> Nonces {
        Nonces::new(&[key; 32], &[], WINDOW)
    }

    #[test]
    fn a_nonce_is_current_for_the_window() {
        let nonces = nonces(1);
        let nonce = nonces.issue(NOW);
        assert!(
            nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "RFC 9449 §8.1 NQCHAR"
        );
        for at in [NOW, NOW + 300_000, NOW - 300_000] {
            assert_eq!(nonces.check(&nonce, at), Ok(()), "{at}");
        }
        for at in [NOW + 300_001, NOW - 300_001, NOW + 3_600_000] {
            assert_eq!(nonces.check(&nonce, at), Err(DpopError::UseNonce), "{at}");
        }
    }

    #[test]
    fn one_nonce_per_slice() {
        let nonces = nonces(1);
        let slice_start = NOW / 10_000 * 10_000;
        let first = nonces.issue(slice_start);
        assert_eq!(nonces.issue(slice_start + 9_999), first);
        let next = nonces.issue(slice_start + 10_000);
        assert_ne!(next, first);
        // Sealed with random AES-GCM nonces: two seals of one time differ.
        assert_ne!(nonces.seal(NOW), nonces.seal(NOW));
    }

    #[test]
    fn forged_or_foreign_nonces_are_invalid() {
        let ours = nonces(1);
        let theirs = nonces(2);
        let forged = Err(DpopError::InvalidProof(
            "nonce not issued by this server".into(),
        ));
        assert_eq!(ours.check(&theirs.issue(NOW), NOW), forged);
        let mut altered = URL_SAFE_NO_PAD.decode(ours.issue(NOW)).unwrap();
        altered[NONCE_LEN + 7] ^= 1;
        assert_eq!(ours.check(&URL_SAFE_NO_PAD.encode(&altered), NOW), forged);
        for junk in ["", "nonce", "!!!!", &URL_SAFE_NO_PAD.encode([0; 36])] {
            assert_eq!(ours.check(junk, NOW), forged, "{junk}");
        }
    }

    #[test]
    fn previous_keys_open_their_nonces() {
        let old = nonces(1);
        let rotated = Nonces::new(&[2; 32], &[vec![1; 32]], WINDOW);
        assert_eq!(rotated.check(&old.issue(NOW), NOW), Ok(()));
        assert!(
            old.check(&rotated.issue(NOW), NOW).is_err(),
            "the old key cannot open the new"
        );
    }
}
