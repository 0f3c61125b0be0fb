//! Unguessable identifiers from the operating system's CSPRNG (through aws-lc-rs).

use base64::Engine;

/// `bytes` random bytes, base64url without padding: visible ASCII only, so the result is a
/// valid `Mcp-Session-Id` (0x21 to 0x7E) and safe in URLs and headers.
pub(crate) fn token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("the system random generator is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_visible_ascii_and_distinct() {
        let a = super::token(32);
        let b = super::token(32);
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.bytes().all(|c| (0x21..=0x7e).contains(&c)));
    }
}
