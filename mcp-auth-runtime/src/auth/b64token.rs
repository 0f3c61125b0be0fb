//! The RFC 6750 §2.1 `b64token` grammar (RFC 9449's `token68`): what may follow `Bearer ` in an
//! `Authorization` header, and so what an access token may be at all.
//!
//! Every authenticated request runs this over its whole token (700 bytes for a typical RS256
//! access token), so it is written without an early exit per byte: each chunk's bytes are
//! classified with range arithmetic and or-ed together, which the compiler turns into a few
//! SIMD instructions per 32 bytes instead of a compare-and-branch chain per byte.

/// Bytes classified per step: one or two vector registers' worth.
const CHUNK: usize = 32;

/// Whether `token` is an RFC 6750 §2.1 `b64token`:
/// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub(crate) fn is_b64token(token: &[u8]) -> bool {
    // The trailing padding: rarely more than two bytes, so a plain loop from the end.
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    if body.is_empty() {
        return false;
    }
    let mut chunks = body.chunks_exact(CHUNK);
    // A chunk is refused as a whole; no branch depends on a single byte.
    let chunks_ok =
        chunks.all(|chunk| chunk.iter().fold(0u8, |bad, &b| bad | not_token_char(b)) == 0);
    chunks_ok
        && chunks
            .remainder()
            .iter()
            .fold(0u8, |bad, &b| bad | not_token_char(b))
            == 0
}

/// `1` when `b` is not one of `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"`, else `0`;
/// comparisons only, no branch, so that a loop over it vectorizes.
#[inline(always)]
fn not_token_char(b: u8) -> u8 {
    let digit = b.wrapping_sub(b'0') < 10;
    // ASCII letters differ from their other case in bit 0x20 only.
    let alpha = (b | 0x20).wrapping_sub(b'a') < 26;
    // `+` `,` `-` `.` `/` are 0x2B..=0x2F: the range less the comma.
    let punct = (b.wrapping_sub(b'+') < 5) & (b != b',');
    let other = (b == b'_') | (b == b'~');
    u8::from(!(digit | alpha | punct | other))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grammar written out plainly, the definition the fast form must agree with.
    fn reference(token: &[u8]) -> bool {
        let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
        body_len > 0
            && token[..body_len].iter().all(|&b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
            })
    }

    fn agree(token: &[u8]) {
        assert_eq!(is_b64token(token), reference(token), "{token:?}");
    }

    #[test]
    fn examples() {
        assert!(is_b64token(b"abc"));
        assert!(is_b64token(b"a-._~+/Z09=="));
        assert!(is_b64token(b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"));
        assert!(!is_b64token(b""));
        assert!(!is_b64token(b"=="));
        assert!(!is_b64token(b"a=b"));
        assert!(!is_b64token(b"a b"));
        assert!(!is_b64token(b"a,b"));
        assert!(!is_b64token(b"a\"b"));
        assert!(!is_b64token("é".as_bytes()));
    }

    /// Every byte value in every position class: alone, first, in the middle of the body, last
    /// of the body before padding, after the padding, in a full chunk and in the remainder.
    #[test]
    fn every_byte_in_every_position() {
        let body = |len: usize| vec![b'a'; len];
        for b in 0..=255u8 {
            agree(&[b]);
            for len in [1, 2, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 7] {
                for at in [0, len / 2, len - 1] {
                    let mut token = body(len);
                    token[at] = b;
                    agree(&token);
                    token.extend_from_slice(b"==");
                    agree(&token);
                }
                let mut padded = body(len);
                padded.extend_from_slice(&[b'=', b, b'=']);
                agree(&padded);
                let mut after = body(len);
                after.extend_from_slice(&[b'=', b'=', b]);
                agree(&after);
            }
        }
    }

    /// Random strings over an alphabet weighted towards the grammar's edges, at lengths around
    /// the chunk boundaries (a fixed-seed xorshift, so a failure reproduces).
    #[test]
    fn random_strings() {
        const EDGES: &[u8] = b"aAzZ09-._~+/=,*0@[`{\x7f \x00\xff";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut accepted = 0;
        for _ in 0..20_000 {
            let len = (next() % 100) as usize;
            let token: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    match r % 8 {
                        // Mostly valid bytes, so that whole tokens pass now and then.
                        0..=5 => b"abcXYZ0189-._~+/"[(r >> 8) as usize % 16],
                        6 => EDGES[(r >> 8) as usize % EDGES.len()],
                        _ => (r >> 8) as u8,
                    }
                })
                .collect();
            agree(&token);
            accepted += usize::from(reference(&token));
        }
        assert!(accepted > 100, "the test must exercise accepted tokens too");
    }
}
