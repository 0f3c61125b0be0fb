//! Arbitrary bytes into the decoding of 2026-07-28 header values (`Mcp-Name`), with its
//! `=?base64?…?=` sentinel.
//!
//! Properties: no panic; a value without the sentinel decodes to itself or not at all; and
//! every UTF-8 string survives the sentinel encoding unchanged.

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use mcp_auth_runtime::__fuzz::decode_header_value;

fuzz_target!(|data: &[u8]| {
    let decoded = decode_header_value(data);
    let sentinel = data.starts_with(b"=?base64?") && data.ends_with(b"?=");
    if let (Some(text), false) = (&decoded, sentinel) {
        assert_eq!(text.as_bytes(), data, "plain values are taken as they are");
        assert!(
            data.iter()
                .all(|b| *b == b' ' || *b == b'\t' || (0x21..=0x7e).contains(b))
        );
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let encoded = format!("=?base64?{}?=", STANDARD.encode(text));
        assert_eq!(
            decode_header_value(encoded.as_bytes()).as_deref(),
            Some(text),
            "round trip"
        );
    }
});
