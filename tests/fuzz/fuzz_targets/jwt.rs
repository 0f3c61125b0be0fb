//! The JWT verifier with a static key set, driven three ways by the first input byte:
//!
//! - `0`: the rest is the token: header decoding, the algorithm allow-list, `crit`, the key
//!   lookup by `kid` and `alg` (RSA, EC P-256/P-384, Ed25519 keys, pinned and unpinned, with
//!   and without `kid`, and unusable `oct` and encryption keys) and signature verification;
//! - `1`: the rest is the payload, which the target signs with the verifier's HMAC secret,
//!   so that the checks after the signature run on arbitrary claims: repeated names, `iat`,
//!   `exp`/`nbf`/`iss`, the claims' types, scopes and the audience;
//! - `2`: the rest is the header, signed the same way over valid claims.
//!
//! Properties: no panic, no pending future; an accepted token names this issuer and this
//! resource, is unexpired, carries only valid scope tokens and repeats no name.

#![no_main]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::FutureExt;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use mcp_auth_runtime::auth::{JwkSet, JwtVerifier, TokenVerifier, is_scope_token};

const ISSUER: &str = "https://auth.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const SECRET: &[u8] = b"fuzzing-secret-fuzzing-secret-32";

fn verifier() -> &'static JwtVerifier {
    static VERIFIER: OnceLock<JwtVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let keys: JwkSet =
            serde_json::from_str(include_str!("keys.json")).expect("the key set parses");
        JwtVerifier::builder(ISSUER, RESOURCE)
            .static_keys(keys)
            .hmac_secret(SECRET)
            .build()
            .expect("a valid configuration")
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn signed(header: &[u8], payload: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{message}.{signature}")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let verifier = verifier();
    let token = match mode % 3 {
        0 => match std::str::from_utf8(rest) {
            Ok(token) => token.to_owned(),
            Err(_) => return,
        },
        1 => signed(br#"{"alg":"HS256","typ":"at+jwt"}"#, rest),
        _ => {
            let claims = serde_json::json!({
                "iss": ISSUER, "aud": RESOURCE, "sub": "s", "scope": "a:read",
                "exp": now() + 300, "iat": now(),
            });
            signed(rest, claims.to_string().as_bytes())
        }
    };
    let result = verifier
        .verify(&token)
        .now_or_never()
        .expect("a static key set never waits");
    let Ok(auth) = result else { return };
    assert!(mode % 3 != 0 || token.split('.').count() == 3);
    assert_eq!(auth.issuer(), Some(ISSUER));
    assert!(
        auth.audience().iter().any(
            |aud| aud.trim_end_matches('/').eq_ignore_ascii_case(RESOURCE)
                || aud.starts_with("https://mcp.example.com")
                || aud.starts_with("HTTPS://")
                || aud
                    .to_ascii_lowercase()
                    .starts_with("https://mcp.example.com")
        ),
        "{:?}",
        auth.audience()
    );
    let exp = auth.expires_at().expect("exp is required");
    assert!(exp + std::time::Duration::from_secs(60) >= SystemTime::now());
    assert!(auth.scopes().iter().all(|s| is_scope_token(s)));
    let payload = URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).unwrap())
        .unwrap();
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&payload).expect("an accepted payload is an object");
    assert_eq!(claims.get("iss").and_then(|v| v.as_str()), Some(ISSUER));
});
