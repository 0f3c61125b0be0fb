//! `Dpop::verify_proof` against real proofs signed by keys made here: every check of RFC 9449
//! §4.3, each refused in each shape an attacker could send and accepted when honest, for
//! every algorithm.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Method;
use jsonwebtoken::{Algorithm as Jose, EncodingKey};
use mcp_auth_runtime::auth::{Algorithm, Dpop, DpopError, ProofRequest};
use mcp_auth_test_support::dpop::{DpopKey, ProofClaims, ath, fresh_jti};
use mcp_auth_test_support::issuer::at;
use serde_json::json;

const URI: &str = "https://api.example.com/mcp";
const TOKEN: &str = "an-access-token";

/// Every algorithm a proof may use, with a fresh key of its own.
fn keys() -> Vec<(&'static str, DpopKey)> {
    vec![
        ("ES256", DpopKey::es256()),
        ("ES384", DpopKey::es384()),
        ("EdDSA", DpopKey::ed25519()),
        ("RS256", DpopKey::rsa()),
        ("RS384", DpopKey::rsa_with(Jose::RS384)),
        ("RS512", DpopKey::rsa_with(Jose::RS512)),
        ("PS256", DpopKey::rsa_with(Jose::PS256)),
        ("PS384", DpopKey::rsa_with(Jose::PS384)),
        ("PS512", DpopKey::rsa_with(Jose::PS512)),
    ]
}

/// `proof` for `POST URI` with `TOKEN`.
async fn check(dpop: &Dpop, proof: &str) -> Result<String, DpopError> {
    check_request(dpop, proof, &Method::POST, URI, Some(TOKEN)).await
}

async fn check_request(
    dpop: &Dpop,
    proof: &str,
    method: &Method,
    uri: &str,
    token: Option<&str>,
) -> Result<String, DpopError> {
    let request = ProofRequest {
        method,
        uri,
        access_token: token,
    };
    let verified = dpop.verify_proof(proof, request).await;
    if let Err(DpopError::InvalidProof(reason) | DpopError::Unavailable(reason)) = &verified {
        // The reason is logged: it never quotes the proof or the token.
        for secret in proof.split('.').chain([TOKEN]) {
            assert!(
                secret.len() < 8 || !reason.contains(secret),
                "reason quotes the request: {reason}"
            );
        }
    }
    verified.map(|proof| proof.thumbprint().to_owned())
}

fn invalid(reason: &str) -> Result<String, DpopError> {
    Err(DpopError::InvalidProof(reason.into()))
}

/// Honest claims for `POST URI` with `TOKEN`.
fn claims(key: &DpopKey) -> ProofClaims {
    key.claims("POST", URI, Some(TOKEN))
}

/// The honest header as JSON text, with `alg` named.
fn header_json(key: &DpopKey, alg: &str) -> String {
    let jwk = serde_json::to_string(&key.public_jwk()).unwrap();
    format!(r#"{{"typ":"dpop+jwt","alg":"{alg}","jwk":{jwk}}}"#)
}

fn payload_json(claims: &ProofClaims) -> String {
    claims.to_json().to_string()
}

#[tokio::test]
async fn honest_proofs_of_every_algorithm_are_accepted_once() {
    let dpop = Dpop::accept();
    for (alg, key) in keys() {
        let proof = key.sign(&claims(&key));
        assert_eq!(check(&dpop, &proof).await, Ok(key.thumbprint()), "{alg}");
        assert_eq!(check(&dpop, &proof).await, invalid("replayed"), "{alg}");
    }
}

#[tokio::test]
async fn a_signature_by_another_key_or_over_other_claims_is_refused() {
    let dpop = Dpop::accept();
    for ((alg, key), (_, other)) in keys().into_iter().zip(keys()) {
        // The header names `key` but `other` signed.
        let forged = other.sign_with(key.header(), &claims(&key).to_json());
        assert_eq!(
            check(&dpop, &forged).await,
            invalid("bad signature"),
            "{alg}"
        );
        // An honest proof whose payload was swapped for another.
        let honest = key.sign(&claims(&key));
        let mut parts: Vec<&str> = honest.split('.').collect();
        let mut changed = claims(&key);
        changed.htu = "https://api.example.com/other".into();
        let payload = URL_SAFE_NO_PAD.encode(payload_json(&changed));
        parts[1] = &payload;
        assert_eq!(
            check(&dpop, &parts.join(".")).await,
            invalid("bad signature"),
            "{alg}"
        );
        // A signature of the right length, all zeros.
        let zeros =
            URL_SAFE_NO_PAD.encode(vec![0; URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len()]);
        let zeroed = format!(
            "{}.{}.{zeros}",
            parts[0],
            URL_SAFE_NO_PAD.encode(payload_json(&claims(&key)))
        );
        assert_eq!(
            check(&dpop, &zeroed).await,
            invalid("bad signature"),
            "{alg}"
        );
    }
}

#[tokio::test]
async fn algorithms_outside_the_list_are_refused() {
    let key = DpopKey::es256();
    // Only EdDSA accepted: an honest ES256 proof is refused.
    let dpop = Dpop::accept().algorithms([Algorithm::EdDSA]);
    assert_eq!(
        check(&dpop, &key.sign(&claims(&key))).await,
        invalid("alg not accepted")
    );

    let dpop = Dpop::accept();
    let payload = payload_json(&claims(&key));
    // `alg: none`, with and without a signature.
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header_json(&key, "none")),
        URL_SAFE_NO_PAD.encode(&payload)
    );
    assert_eq!(check(&dpop, &unsigned).await, invalid("unsigned"));
    let none = key.sign_raw(&header_json(&key, "none"), &payload);
    assert_eq!(check(&dpop, &none).await, invalid("alg not accepted"));
    // Names are case-sensitive; ES512 is not supported.
    for alg in ["es256", "ES512", "", "HS256", "HS384", "HS512"] {
        let proof = key.sign_raw(&header_json(&key, alg), &payload);
        assert_eq!(
            check(&dpop, &proof).await,
            invalid("alg not accepted"),
            "{alg}"
        );
    }
    let no_alg = key.sign_raw(
        &format!(
            r#"{{"typ":"dpop+jwt","jwk":{}}}"#,
            serde_json::to_string(&key.public_jwk()).unwrap()
        ),
        &payload,
    );
    assert_eq!(check(&dpop, &no_alg).await, invalid("alg not accepted"));
}

#[tokio::test]
async fn hmac_signed_with_the_public_key_is_refused() {
    let dpop = Dpop::accept();
    for (alg, key) in keys() {
        // The classic confusion: HS256 keyed with the public key's bytes, as a verifier that
        // picks its algorithm from the header would check it.
        let public = serde_json::to_vec(&key.public_jwk()).unwrap();
        let mut header = key.header();
        header.alg = Jose::HS256;
        let proof = jsonwebtoken::encode(
            &header,
            &claims(&key).to_json(),
            &EncodingKey::from_secret(&public),
        )
        .unwrap();
        assert_eq!(
            check(&dpop, &proof).await,
            invalid("alg not accepted"),
            "{alg}"
        );
    }
    // An `oct` key in the header, HS256 with its secret.
    let secret = b"a shared secret of at least 32 bytes";
    let jwk = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(secret)});
    let header = format!(r#"{{"typ":"dpop+jwt","alg":"HS256","jwk":{jwk}}}"#);
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&header),
        URL_SAFE_NO_PAD.encode(payload_json(&claims(&DpopKey::es256())))
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret),
        Jose::HS256,
    )
    .unwrap();
    assert_eq!(
        check(&dpop, &format!("{message}.{signature}")).await,
        invalid("alg not accepted")
    );
}

#[tokio::test]
async fn private_or_symmetric_keys_in_the_header_are_refused() {
    let dpop = Dpop::accept();
    let key = DpopKey::es256();
    let payload = payload_json(&claims(&key));
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        let mut jwk = serde_json::to_value(key.public_jwk()).unwrap();
        jwk[member] = json!("AAAA");
        let header = format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{jwk}}}"#);
        let proof = key.sign_raw(&header, &payload);
        assert_eq!(
            check(&dpop, &proof).await,
            invalid("jwk is not a public key"),
            "{member}"
        );
    }
    // The honest header without its key, or with a key that is not an object.
    for jwk in ["", r#","jwk":"key""#, r#","jwk":null"#] {
        let header = format!(r#"{{"typ":"dpop+jwt","alg":"ES256"{jwk}}}"#);
        let proof = key.sign_raw(&header, &payload);
        assert!(
            matches!(check(&dpop, &proof).await, Err(DpopError::InvalidProof(reason)) if reason.contains("jwk")),
            "{jwk}"
        );
    }
}

#[tokio::test]
async fn keys_that_do_not_fit_the_algorithm_are_refused() {
    let dpop = Dpop::accept();
    let (es256, es384, ed25519, rsa) = (
        DpopKey::es256(),
        DpopKey::es384(),
        DpopKey::ed25519(),
        DpopKey::rsa(),
    );
    let misfits = [
        (&es256, "ES384"),
        (&es384, "ES256"),
        (&es256, "EdDSA"),
        (&ed25519, "ES256"),
        (&rsa, "ES256"),
        (&es256, "RS256"),
        (&es256, "PS256"),
        (&ed25519, "RS256"),
        (&rsa, "EdDSA"),
    ];
    for (key, alg) in misfits {
        let proof = key.sign_raw(&header_json(key, alg), &payload_json(&claims(key)));
        assert_eq!(
            check(&dpop, &proof).await,
            invalid("jwk does not fit alg"),
            "{alg}"
        );
    }
    // An RSA key of 1024 bits: aws-lc-rs neither makes nor verifies one, so the proof is
    // signed by a 2048-bit key; its header names a real 1024-bit modulus (the size check
    // comes before the signature's).
    let n = URL_SAFE_NO_PAD.encode([0xc5; 128]);
    for alg in ["RS256", "PS256"] {
        let header = format!(
            r#"{{"typ":"dpop+jwt","alg":"{alg}","jwk":{{"kty":"RSA","e":"AQAB","n":"{n}"}}}}"#
        );
        let proof = rsa.sign_raw(&header, &payload_json(&claims(&rsa)));
        assert_eq!(
            check(&dpop, &proof).await,
            invalid("RSA key too short"),
            "{alg}"
        );
    }
}

#[tokio::test]
async fn proofs_not_typed_dpop_jwt_are_refused() {
    let dpop = Dpop::accept();
    let key = DpopKey::es256();
    for typ in [Some("JWT"), Some("at+jwt"), Some("jwt"), Some("dpop"), None] {
        let mut header = key.header();
        header.typ = typ.map(str::to_owned);
        let proof = key.sign_with(header, &claims(&key).to_json());
        assert_eq!(
            check(&dpop, &proof).await,
            invalid("typ is not dpop+jwt"),
            "{typ:?}"
        );
    }
    // A media type is case-insensitive, its `application/` prefix optional (RFC 7515 §4.1.9).
    for typ in ["DPoP+JWT", "application/dpop+jwt"] {
        let mut header = key.header();
        header.typ = Some(typ.into());
        let proof = key.sign_with(header, &claims(&key).to_json());
        assert_eq!(check(&dpop, &proof).await, Ok(key.thumbprint()), "{typ}");
    }
}

#[tokio::test]
async fn proofs_that_are_not_compact_jws_are_refused() {
    let dpop = Dpop::accept();
    let key = DpopKey::es256();
    let proof = key.sign(&claims(&key));
    let (header, rest) = proof.split_once('.').unwrap();
    let too_long = {
        let mut long = claims(&key).to_json();
        long["padding"] = json!("x".repeat(8 * 1024));
        key.sign_with(key.header(), &long)
    };
    let cases = [
        (format!("{header}.{rest}.x"), "not a compact JWS"),
        (rest.to_owned(), "not a compact JWS"),
        (String::new(), "not a compact JWS"),
        (format!("{{\"payload\":\"{rest}\"}}"), "not a compact JWS"),
        (format!("!!.{rest}"), "malformed header"),
        (
            format!("{}.{rest}", URL_SAFE_NO_PAD.encode("[1]")),
            "malformed header",
        ),
        (format!("{header}=.{rest}"), "malformed header"),
        (too_long, "too long"),
    ];
    for (proof, reason) in cases {
        assert_eq!(check(&dpop, &proof).await, invalid(reason), "{reason}");
    }
    // A payload that is not JSON, correctly signed.
    let garbage = key.sign_raw(&header_json(&key, "ES256"), "not json");
    assert_eq!(check(&dpop, &garbage).await, invalid("malformed payload"));
    // Just under the limit is read.
    let mut big = claims(&key).to_json();
    big["padding"] = json!("x".repeat(5 * 1024));
    let proof = key.sign_with(key.header(), &big);
    assert!(proof.len() < 8 * 1024);
    assert_eq!(check(&dpop, &proof).await, Ok(key.thumbprint()));
}

#[tokio::test]
async fn unknown_critical_headers_are_refused() {
    let dpop = Dpop::accept();
    let key = DpopKey::es256();
    let jwk = serde_json::to_string(&key.public_jwk()).unwrap();
    let header =
        format!(r#"{{"typ":"dpop+jwt","alg":"ES256","crit":["b64"],"b64":false,"jwk":{jwk}}}"#);
    let proof = key.sign_raw(&header, &payload_json(&claims(&key)));
    assert_eq!(
        check(&dpop, &proof).await,
        invalid("crit header not understood")
    );
}

#[tokio::test]
async fn repeated_members_are_refused_not_read_last_wins() {
    let dpop = Dpop::accept();
    let key = DpopKey::es256();
    let jwk = serde_json::to_string(&key.public_jwk()).unwrap();
    let other_jwk = serde_json::to_string(&DpopKey::es256().public_jwk()).unwrap();
    let c = claims(&key);
    let honest_payload = payload_json(&c);
    let headers = [
        format!(r#"{{"typ":"JWT","typ":"dpop+jwt","alg":"ES256","jwk":{jwk}}}"#),
        format!(r#"{{"typ":"dpop+jwt","alg":"none","alg":"ES256","jwk":{jwk}}}"#),
        format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{other_jwk},"jwk":{jwk}}}"#),
        format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{jwk},"j\u0077k":{jwk}}}"#),
    ];
    for header in headers {
        let proof = key.sign_raw(&header, &honest_payload);
        assert_eq!(
            check(&dpop, &proof).await,
            invalid("malformed header"),
            "{header}"
        );
    }
    // Each claim repeated, the honest value last, where `serde_json` alone would read it.
    let honest = format!(
        r#""htm":"POST","htu":"{URI}","ath":"{}","iat":{}"#,
        ath(TOKEN),
        c.iat
    );
    let payloads = [
        format!(r#"{{"jti":"{}","htm":"GET",{honest}}}"#, fresh_jti()),
        format!(
            r#"{{"jti":"{}","htu":"https://evil.example/mcp",{honest}}}"#,
            fresh_jti()
        ),
        format!(
            r#"{{"jti":"{}","ath":"{}",{honest}}}"#,
            fresh_jti(),
            ath("other")
        ),
        format!(r#"{{"jti":"{}","iat":1,{honest}}}"#, fresh_jti()),
        format!(r#"{{"jti":"a","jti":"{}",{honest}}}"#, fresh_jti()),
        format!(
            r#"{{"jti":"{}","nonce":"a","nonce":"b",{honest}}}"#,
            fresh_jti()
        ),
    ];
    for payload in payloads {
        let proof = key.sign_raw(&header_json(&key, "ES256"), &payload);
        assert_eq!(
            check(&dpop, &proof).await,
            invalid("malformed payload"),
            "{payload}"
        );
    }
    // The same payloads without the repetition pass: the refusal is for the repetition.
    let single = format!(r#"{{"jti":"{}",{honest}}}"#, fresh_jti());
    let proof = key.sign_raw(&header_json(&key, "ES256"), &single);
    assert_eq!(check(&dpop, &proof).await, Ok(key.thumbprint()));
}

#[tokio::test]
async fn jti_must_be_a_short_non_empty_string() {
    let dpop = Dpop::accept();
    let key = DpopKey::es256();
    for jti in [json!(""), json!(12), json!(null), json!("x".repeat(257))] {
        let mut payload = claims(&key).to_json();
        payload["jti"] = jti.clone();
        let proof = key.sign_with(key.header(), &payload);
        assert_eq!(
            check(&dpop, &proof).await,
            invalid("jti missing, empty or too long"),
            "{jti}"
        );
    }
    let mut payload = claims(&key).to_json();
    payload.as_object_mut().unwrap().remove("jti");
    let proof = key.sign_with(key.header(), &payload);
    assert_eq!(
        check(&dpop, &proof).await,
        invalid("jti missing, empty or too long")
    );
    let mut long = claims(&key);
    long.jti = "x".repeat(256);
    assert_eq!(check(&dpop, &key.sign(&long)).await, Ok(key.thumbprint()));
}

#[tokio::test]
async fn replays_are_refused_per_key() {
    let dpop = Dpop::accept();
    let (key, other) = (DpopKey::es256(), DpopKey::ed25519());
    let first = claims(&key);
    assert_eq!(check(&dpop, &key.sign(&first)).await, Ok(key.thumbprint()));
    // The same jti again, in a new proof signed by the same key (other iat): a replay.
    let mut again = claims(&key);
    again.jti = first.jti.clone();
    again.iat -= 1;
    assert_eq!(check(&dpop, &key.sign(&again)).await, invalid("replayed"));
    // The same jti from another key is another proof.
    let mut theirs = claims(&other);
    theirs.jti = first.jti.clone();
    assert_eq!(
        check(&dpop, &other.sign(&theirs)).await,
        Ok(other.thumbprint())
    );
    // A refused proof is not recorded: fixed, it is accepted.
    let mut wrong = claims(&key);
    wrong.htm = "GET".into();
    let jti = wrong.jti.clone();
    assert!(check(&dpop, &key.sign(&wrong)).await.is_err());
    let mut right = claims(&key);
    right.jti = jti;
    assert_eq!(check(&dpop, &key.sign(&right)).await, Ok(key.thumbprint()));
    // Clones of a `Dpop` share the record.
    let clone = dpop.clone();
    assert_eq!(check(&clone, &key.sign(&first)).await, invalid("replayed"));
}

#[tokio::test]
async fn htm_must_be_the_method_case_sensitively() {
    let dpop = Dpop::accept();
    let key = DpopKey::es256();
    for htm in ["post", "Post", "GET", "POST ", ""] {
        let mut c = claims(&key);
        c.htm = htm.into();
        assert_eq!(
            check(&dpop, &key.sign(&c)).await,
            invalid("htm does not match the request method"),
            "{htm}"
        );
    }
    let get = key.proof("GET", URI, Some(TOKEN));
    assert_eq!(
        check_request(&dpop, &get, &Method::GET, URI, Some(TOKEN)).await,
        Ok(key.thumbprint())
    );
}

#[tokio::test]
async fn htu_must_be_the_uri_once_normalised() {
    let dpop = Dpop::accept();
    let key = DpopKey::es256();
    for htu in [
        "https://other.example.com/mcp",
        "https://api.example.com/other",
        "https://api.example.com/mcp/",
        "http://api.example.com/mcp",
        "https://api.example.com:8443/mcp",
        "https://user@api.example.com/mcp",
        "https://api.example.com/MCP",
        "/mcp",
        "",
    ] {
        let mut c = claims(&key);
        c.htu = htu.into();
        assert_eq!(
            check(&dpop, &key.sign(&c)).await,
            invalid("htu does not match the request URI"),
            "{htu}"
        );
    }
    let mut not_a_string = claims(&key).to_json();
    not_a_string["htu"] = json!(["https://api.example.com/mcp"]);
    let proof = key.sign_with(key.header(), &not_a_string);
    assert_eq!(
        check(&dpop, &proof).await,
        invalid("htu does not match the request URI")
    );
    // Query and fragment are ignored (RFC 9449 §4.3 item 9), equivalent spellings accepted.
    for htu in [
        "HTTPS://API.EXAMPLE.COM/mcp",
        "https://api.example.com:443/mcp",
        "https://api.example.com/./mcp",
        "https://api.example.com/x/../mcp",
        "https://api.example.com/%6dcp",
        "https://api.example.com/mcp?",
        "https://api.example.com/mcp#",
        "https://api.example.com/mcp?session=1",
        "https://api.example.com/mcp#top",
    ] {
        let mut c = claims(&key);
        c.htu = htu.into();
        assert_eq!(
            check(&dpop, &key.sign(&c)).await,
            Ok(key.thumbprint()),
            "{htu}"
        );
    }
    // The request's URI is normalised too.
    let proof = key.proof("POST", URI, Some(TOKEN));
    let uri = "https://API.example.com:443/%7Euser/../mcp";
    assert_eq!(
        check_request(&dpop, &proof, &Method::POST, uri, Some(TOKEN)).await,
        Ok(key.thumbprint())
    );
}

#[tokio::test]
async fn iat_must_be_within_the_window_either_way() {
    let dpop = Dpop::accept();
    let key = DpopKey::es256();
    for offset in [301, -301, 3600, -3600] {
        let mut c = claims(&key);
        c.iat = at(offset) as i64;
        assert_eq!(
            check(&dpop, &key.sign(&c)).await,
            invalid("iat outside the accepted window"),
            "{offset}"
        );
    }
    for offset in [299, -299, 0] {
        let mut c = claims(&key);
        c.iat = at(offset) as i64;
        assert_eq!(
            check(&dpop, &key.sign(&c)).await,
            Ok(key.thumbprint()),
            "{offset}"
        );
    }
    for iat in [json!(null), json!("now"), json!(-5)] {
        let mut payload = claims(&key).to_json();
        payload["iat"] = iat.clone();
        let proof = key.sign_with(key.header(), &payload);
        assert_eq!(check(&dpop, &proof).await, invalid("iat missing"), "{iat}");
    }
    // A narrower window.
    let narrow = Dpop::accept().iat_window(Duration::from_secs(30));
    let mut c = claims(&key);
    c.iat = at(-31) as i64;
    assert_eq!(
        check(&narrow, &key.sign(&c)).await,
        invalid("iat outside the accepted window")
    );
}

#[tokio::test]
async fn ath_must_be_the_access_tokens_hash() {
    let dpop = Dpop::accept();
    let key = DpopKey::es256();
    let other_token = key.proof("POST", URI, Some("another-token"));
    assert_eq!(
        check(&dpop, &other_token).await,
        invalid("ath does not match the access token")
    );
    let unbound = key.proof("POST", URI, None);
    assert_eq!(check(&dpop, &unbound).await, invalid("ath missing"));
    let mut plain = claims(&key);
    plain.ath = Some(TOKEN.into());
    assert_eq!(
        check(&dpop, &key.sign(&plain)).await,
        invalid("ath does not match the access token")
    );
    // Without an access token (a token endpoint), `ath` is neither needed nor checked.
    for proof in [
        key.proof("POST", URI, None),
        key.proof("POST", URI, Some(TOKEN)),
    ] {
        assert_eq!(
            check_request(&dpop, &proof, &Method::POST, URI, None).await,
            Ok(key.thumbprint())
        );
    }
}

#[tokio::test]
async fn nonces_when_on_must_be_current_and_ours() {
    const KEY: [u8; 32] = [7; 32];
    let dpop = Dpop::accept().nonces(KEY);
    let key = DpopKey::es256();
    assert_eq!(Dpop::accept().nonce(), None, "nonces are off by default");
    let nonce = dpop.nonce().unwrap();

    // No nonce: ask for one.
    assert_eq!(
        check(&dpop, &key.sign(&claims(&key))).await,
        Err(DpopError::UseNonce)
    );
    let with = |nonce: &str| {
        let mut c = claims(&key);
        c.nonce = Some(nonce.into());
        key.sign(&c)
    };
    assert_eq!(check(&dpop, &with(&nonce)).await, Ok(key.thumbprint()));
    // A nonce may serve several proofs while current; each proof still once.
    let twice = with(&nonce);
    assert_eq!(check(&dpop, &twice).await, Ok(key.thumbprint()));
    assert_eq!(check(&dpop, &twice).await, invalid("replayed"));

    // Forged: made up, or sealed by another server's key.
    let foreign = Dpop::accept().nonces([8; 32]).nonce().unwrap();
    for forged in ["made-up", foreign.as_str(), &format!("{nonce}A")] {
        assert_eq!(
            check(&dpop, &with(forged)).await,
            invalid("nonce not issued by this server"),
            "{forged}"
        );
    }
    let mut not_a_string = claims(&key).to_json();
    not_a_string["nonce"] = json!(42);
    let proof = key.sign_with(key.header(), &not_a_string);
    assert_eq!(check(&dpop, &proof).await, invalid("nonce is not a string"));

    // Rotation: the previous key's nonces are accepted, until the key is dropped.
    let rotated = Dpop::accept().nonces([9; 32]).previous_nonce_key(KEY);
    assert_eq!(check(&rotated, &with(&nonce)).await, Ok(key.thumbprint()));
    let dropped = Dpop::accept().nonces([9; 32]);
    assert_eq!(
        check(&dropped, &with(&nonce)).await,
        invalid("nonce not issued by this server")
    );
    assert_ne!(rotated.nonce().unwrap(), nonce);
}

#[tokio::test]
async fn a_stale_nonce_asks_for_a_fresh_one() {
    // Nonces are current for the `iat` window: two seconds here, so that one goes stale soon.
    let dpop = Dpop::accept()
        .nonces([7; 32])
        .iat_window(Duration::from_secs(2));
    let key = DpopKey::es256();
    let stale = dpop.nonce().unwrap();
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let mut c = claims(&key);
    c.nonce = Some(stale.clone());
    assert_eq!(check(&dpop, &key.sign(&c)).await, Err(DpopError::UseNonce));
    // The one handed out now (a new time slice may not have begun: a fresh server).
    let fresh = Dpop::accept()
        .nonces([7; 32])
        .iat_window(Duration::from_secs(2));
    let mut c = claims(&key);
    c.nonce = Some(fresh.nonce().unwrap());
    assert_eq!(check(&fresh, &key.sign(&c)).await, Ok(key.thumbprint()));
}

#[tokio::test]
async fn the_thumbprint_is_what_cnf_jkt_names() {
    let dpop = Dpop::accept();
    for (alg, key) in keys() {
        let thumbprint = check(&dpop, &key.sign(&claims(&key))).await.unwrap();
        assert_eq!(json!({ "jkt": thumbprint }), key.cnf(), "{alg}");
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&thumbprint).unwrap().len(),
            32,
            "{alg}"
        );
    }
}

#[tokio::test]
async fn a_bound_proof_must_be_signed_by_the_tokens_key() {
    let dpop = Dpop::accept();
    let (holder, thief) = (DpopKey::es256(), DpopKey::es256());
    let request = ProofRequest {
        method: &Method::POST,
        uri: URI,
        access_token: Some(TOKEN),
    };
    let jkt = holder.thumbprint();
    let honest = holder.sign(&claims(&holder));
    let verified = dpop.verify_bound_proof(&honest, request, &jkt).await;
    assert_eq!(verified.map(|v| v.thumbprint().to_owned()), Ok(jkt.clone()));
    // A valid proof by another key: refused, and not recorded (it is accepted unbound).
    let theirs = thief.sign(&claims(&thief));
    assert_eq!(
        dpop.verify_bound_proof(&theirs, request, &jkt).await,
        Err(DpopError::InvalidProof(
            "jwk is not the key the access token is bound to".into()
        ))
    );
    assert_eq!(check(&dpop, &theirs).await, Ok(thief.thumbprint()));
}
