//! The harness's token issuer: keys generated here with aws-lc-rs, RFC 8414 metadata and a
//! JWKS on loopback, tokens signed with `jsonwebtoken`.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    pub jwk: Jwk,
}

impl SigningKey {
    pub fn rsa(kid: &str) -> SigningKey {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = pair.as_der().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        SigningKey::new(kid, Algorithm::RS256, encoding)
    }

    pub fn ed25519(kid: &str) -> SigningKey {
        let pair = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
        let der = pair.to_pkcs8v1().unwrap();
        SigningKey::new(
            kid,
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(der.as_ref()),
        )
    }

    fn new(kid: &str, alg: Algorithm, encoding: EncodingKey) -> SigningKey {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        SigningKey {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk,
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// RFC 9068 access-token claims, valid for an hour.
pub fn claims(issuer: &str, audience: &str, subject: &str) -> Value {
    json!({
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "client_id": "load-client",
        "scope": "invoices:read invoices:write",
        "tenant": "acme",
        "iat": now(),
        "exp": now() + 3600,
        "jti": format!("load-{subject}"),
    })
}

/// Serves the metadata and the key set on `listener`; returns the issuer URL.
pub fn serve(listener: tokio::net::TcpListener, keys: Vec<Jwk>) -> String {
    let addr: SocketAddr = listener.local_addr().unwrap();
    let issuer = format!("http://{addr}");
    let metadata = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
    });
    let jwks = serde_json::to_value(JwkSet { keys }).unwrap();
    let router = axum::Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            axum::routing::get(move || async move { axum::Json(metadata) }),
        )
        .route(
            "/jwks",
            axum::routing::get(move || async move { axum::Json(jwks) }),
        )
        // An OTLP/HTTP sink for `ours-observed`: takes the exports, counts their bytes,
        // keeps nothing. The exporter's cost is the server's; the sink's, the harness's.
        .route("/v1/traces", axum::routing::post(take))
        .route("/v1/metrics", axum::routing::post(take));
    tokio::spawn(async move { axum::serve(listener, router).await });
    issuer
}

/// Bytes of OTLP exports received, since the harness started.
pub static OTLP_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn take(body: axum::body::Bytes) -> &'static str {
    OTLP_BYTES.fetch_add(body.len() as u64, std::sync::atomic::Ordering::Relaxed);
    ""
}
