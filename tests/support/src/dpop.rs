//! The client side of DPoP (RFC 9449) for tests: a key pair, its RFC 7638 thumbprint, and
//! proofs signed with `jsonwebtoken`, honest ones and every variant an attacker could send.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use jsonwebtoken::Header;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use serde_json::{Value, json};

use crate::issuer::{TestKey, at};

/// A client's DPoP key: signs proofs, names its thumbprint for `cnf.jkt`.
#[derive(Clone)]
pub struct DpopKey {
    /// The key pair (its `kid` is not sent in proofs).
    pub key: TestKey,
}

/// What a proof says; [`DpopKey::proof`] fills an honest one, tests change fields to attack.
#[derive(Debug, Clone)]
pub struct ProofClaims {
    /// `htm`.
    pub htm: String,
    /// `htu`.
    pub htu: String,
    /// `iat`, seconds since the epoch.
    pub iat: i64,
    /// `jti`.
    pub jti: String,
    /// `ath`: base64url SHA-256 of the access token, when bound to one.
    pub ath: Option<String>,
    /// `nonce`, when the server asked for one.
    pub nonce: Option<String>,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A `jti` unique in this process and across runs.
pub fn fresh_jti() -> String {
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let mut random = [0u8; 12];
    aws_lc_rs::rand::fill(&mut random).unwrap();
    format!(
        "{}-{n}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
    )
}

/// `ath` for `token`: base64url (no padding) of its SHA-256 (RFC 9449 §4.2).
pub fn ath(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

impl DpopKey {
    /// A fresh P-256 key (ES256), what most clients use.
    pub fn es256() -> DpopKey {
        DpopKey {
            key: TestKey::es256("dpop"),
        }
    }

    /// A fresh RSA-2048 key (RS256).
    pub fn rsa() -> DpopKey {
        DpopKey {
            key: TestKey::rsa("dpop"),
        }
    }

    /// A fresh P-384 key (ES384).
    pub fn es384() -> DpopKey {
        DpopKey {
            key: TestKey::es384("dpop"),
        }
    }

    /// A fresh RSA-2048 key signing with `alg`: RS256/384/512 or PS256/384/512.
    pub fn rsa_with(alg: jsonwebtoken::Algorithm) -> DpopKey {
        let mut key = TestKey::rsa("dpop");
        key.alg = alg;
        DpopKey { key }
    }

    /// A fresh Ed25519 key (EdDSA).
    pub fn ed25519() -> DpopKey {
        DpopKey {
            key: TestKey::ed25519("dpop"),
        }
    }

    /// The public JWK as sent in a proof's header: no `kid`, no `alg`, no private part.
    pub fn public_jwk(&self) -> Jwk {
        let mut jwk = self.key.jwk_without_alg();
        jwk.common.key_id = None;
        jwk
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url: the `cnf.jkt` of tokens bound to this key.
    pub fn thumbprint(&self) -> String {
        self.public_jwk()
            .thumbprint(ThumbprintHash::SHA256)
            .unwrap()
    }

    /// `{"jkt": thumbprint}`, the `cnf` claim of a token bound to this key.
    pub fn cnf(&self) -> Value {
        json!({ "jkt": self.thumbprint() })
    }

    /// Honest claims for `method` on `uri`, bound to `token` when given, issued now.
    pub fn claims(&self, method: &str, uri: &str, token: Option<&str>) -> ProofClaims {
        ProofClaims {
            htm: method.to_owned(),
            htu: uri.to_owned(),
            iat: at(0) as i64,
            jti: fresh_jti(),
            ath: token.map(ath),
            nonce: None,
        }
    }

    /// An honest proof for `method` on `uri`, bound to `token` when given.
    pub fn proof(&self, method: &str, uri: &str, token: Option<&str>) -> String {
        self.sign(&self.claims(method, uri, token))
    }

    /// `claims` signed under the honest header (`typ: dpop+jwt`, this key's `alg` and public
    /// `jwk`).
    pub fn sign(&self, claims: &ProofClaims) -> String {
        self.sign_with(self.header(), &claims.to_json())
    }

    /// The honest proof header.
    pub fn header(&self) -> Header {
        let mut header = Header::new(self.key.alg);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.public_jwk());
        header
    }

    /// Any payload under any header, signed with this key: for attacks on the header.
    pub fn sign_with(&self, header: Header, payload: &Value) -> String {
        self.key.sign_with(header, payload)
    }

    /// Raw header and payload JSON text, signed with this key byte for byte: for headers
    /// `jsonwebtoken::Header` cannot express (a private `d` in the `jwk`, `alg: none`, ...).
    pub fn sign_raw(&self, header: &str, payload: &str) -> String {
        self.key.sign_raw(header, payload)
    }

    /// `request` as an honest DPoP client sends it: `Authorization: DPoP <token>` (replacing
    /// any `Authorization` it had) and one `DPoP` header, a fresh proof for its method and
    /// URL (without query and fragment) bound to `token`.
    pub fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        token: &str,
    ) -> reqwest::RequestBuilder {
        let (client, request) = request.build_split();
        let mut request = request.expect("a valid request");
        let mut htu = request.url().clone();
        htu.set_query(None);
        htu.set_fragment(None);
        let proof = self.proof(request.method().as_str(), htu.as_str(), Some(token));
        let headers = request.headers_mut();
        let value = |text: &str| reqwest::header::HeaderValue::from_str(text).unwrap();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            value(&format!("DPoP {token}")),
        );
        headers.insert("dpop", value(&proof));
        reqwest::RequestBuilder::from_parts(client, request)
    }
}

impl ProofClaims {
    /// The claims as the JSON payload of a proof.
    pub fn to_json(&self) -> Value {
        let mut payload = json!({
            "htm": self.htm,
            "htu": self.htu,
            "iat": self.iat,
            "jti": self.jti,
        });
        if let Some(ath) = &self.ath {
            payload["ath"] = json!(ath);
        }
        if let Some(nonce) = &self.nonce {
            payload["nonce"] = json!(nonce);
        }
        payload
    }
}
