//! Arbitrary `Authorization` headers and query strings into the bearer-token extraction.
//!
//! Input: the query string, then each `Authorization` value, separated by `0xFF` bytes (which
//! can appear in neither). Properties: no panic; a token is returned only from exactly one
//! `Bearer` header, only as an RFC 6750 b64token of at most 16 KiB that ends the header, and
//! never when the query string carries `access_token`.

#![no_main]

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use mcp_auth_runtime::__fuzz::bearer_token;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0xFF);
    let query = parts.next().and_then(|q| std::str::from_utf8(q).ok());
    let query = query.filter(|q| !q.is_empty());
    let mut headers = HeaderMap::new();
    for value in parts {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(header::AUTHORIZATION, value);
        }
    }
    let count = headers.get_all(header::AUTHORIZATION).iter().count();
    let result = bearer_token(&headers, query);
    let token_in_query = query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("access_token"))
    });
    if token_in_query || count > 1 {
        assert!(result.is_err(), "{result:?}");
    }
    if let Ok(Some(token)) = result {
        assert_eq!(count, 1);
        let value = headers[header::AUTHORIZATION].to_str().unwrap();
        assert!(value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer "));
        assert!(value.ends_with(token));
        assert!(!token.is_empty() && token.len() <= 16 * 1024);
        let body = token.trim_end_matches('=');
        assert!(!body.is_empty());
        assert!(
            body.bytes().all(|b| b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
        );
    }
});
