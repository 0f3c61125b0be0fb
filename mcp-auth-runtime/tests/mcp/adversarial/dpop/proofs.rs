//! Forged and malformed proofs: `alg: none` and HMAC, algorithms the key cannot make, keys
//! that are not public keys or not keys at all, broken signatures, other JWT types, repeated
//! member names and missing or mistyped claims. Every one is `401 invalid_dpop_proof`.

use super::*;

/// `header` with `change` made to it, as raw JSON text.
fn header_with(key: &DpopKey, change: impl FnOnce(&mut Value)) -> String {
    let mut header = header_of(key);
    change(&mut header);
    header.to_string()
}

/// The private scalar of a P-256 or Ed25519 key, from its PKCS#8 document.
fn private_scalar(key: &DpopKey) -> String {
    let der = &key.key.der;
    // ECPrivateKey (RFC 5915): version 1, then the 32-byte key; Ed25519 (RFC 8410): an
    // OCTET STRING of 34 bytes wrapping the 32-byte seed.
    let marker: &[u8] = match key.key.alg {
        jsonwebtoken::Algorithm::ES256 => &[0x02, 0x01, 0x01, 0x04, 0x20],
        _ => &[0x04, 0x22, 0x04, 0x20],
    };
    let at = der
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("a private key in the PKCS#8 document")
        + marker.len();
    b64(&der[at..at + 32])
}

/// An HS256 signature of `header` and `payload` under `secret`.
fn hs256_proof(secret: &[u8], header: &Value, payload: &Value) -> String {
    let message = format!("{}.{}", b64(header.to_string()), b64(payload.to_string()));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{message}.{signature}")
}

#[tokio::test]
async fn unsigned_and_hmac_proofs_are_refused() {
    let suite = Suite::start().await;
    let bad = Outcome::BadProof;
    let attacks = [
        Attack::new("alg none", bad, |b, m| {
            let header = json!({ "typ": "dpop+jwt", "alg": "none", "jwk": jwk_of(&b.key) });
            Presented::dpop(&b.bound, &compact(&header, &b.claims(m).to_json(), ""))
        }),
        Attack::new("alg None", bad, |b, m| {
            let header = json!({ "typ": "dpop+jwt", "alg": "None", "jwk": jwk_of(&b.key) });
            Presented::dpop(&b.bound, &compact(&header, &b.claims(m).to_json(), ""))
        }),
        Attack::new("alg none with a genuine signature", bad, |b, m| {
            let genuine = b.proof_of(&b.key, m, &b.bound);
            let (_, payload, signature) = segments(&genuine);
            let header = json!({ "typ": "dpop+jwt", "alg": "none", "jwk": jwk_of(&b.key) });
            let proof = format!("{}.{payload}.{signature}", b64(header.to_string()));
            Presented::dpop(&b.bound, &proof)
        }),
        Attack::new("no alg", bad, |b, m| {
            let header = json!({ "typ": "dpop+jwt", "jwk": jwk_of(&b.key) });
            let genuine = b.proof_of(&b.key, m, &b.bound);
            let (_, payload, signature) = segments(&genuine);
            let proof = format!("{}.{payload}.{signature}", b64(header.to_string()));
            Presented::dpop(&b.bound, &proof)
        }),
        Attack::new("HS256 keyed with the JWK's JSON text", bad, |b, m| {
            let jwk = jwk_of(&b.key);
            let header = json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": jwk });
            let proof = hs256_proof(jwk.to_string().as_bytes(), &header, &b.claims(m).to_json());
            Presented::dpop(&b.bound, &proof)
        }),
        Attack::new("HS256 keyed with the key's thumbprint", bad, |b, m| {
            let header = json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": jwk_of(&b.key) });
            let proof = hs256_proof(
                b.key.thumbprint().as_bytes(),
                &header,
                &b.claims(m).to_json(),
            );
            Presented::dpop(&b.bound, &proof)
        }),
        Attack::new("HS256 keyed with the key's x coordinate", bad, |b, m| {
            let jwk = jwk_of(&b.key);
            let x = b64_decode(jwk["x"].as_str().unwrap());
            let header = json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": jwk });
            Presented::dpop(&b.bound, &hs256_proof(&x, &header, &b.claims(m).to_json()))
        }),
        // A symmetric JWK in the header, and a token bound to its thumbprint.
        Attack::new(
            "HS256 under an oct JWK the token is bound to",
            bad,
            |b, m| {
                let secret = b"a shared secret of thirty-two by";
                let k = b64(secret);
                let jkt = sha256_b64(format!(r#"{{"k":"{k}","kty":"oct"}}"#));
                let token = b.token_with(&json!({ "cnf": { "jkt": jkt } }));
                let header =
                    json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": { "kty": "oct", "k": k } });
                let claims = b.claims_of(&b.key, m, &token).to_json();
                Presented::dpop(&token, &hs256_proof(secret, &header, &claims))
            },
        ),
    ];
    suite.run(&attacks).await;
}

/// A proof of `key` whose header `change` edits, signed byte for byte by `key`, with a token
/// bound to `key`.
fn edited(b: &Bench, m: &str, key: &DpopKey, change: impl FnOnce(&mut Value)) -> Presented {
    let token = b.token(Some(key));
    let claims = b.claims_of(key, m, &token).to_json();
    Presented::dpop(
        &token,
        &key.sign_raw(&header_with(key, change), &claims.to_string()),
    )
}

/// A proof under `jwk`, signed by the bench's key, with a token bound to `jwk`'s thumbprint
/// (computed over `canonical`, its RFC 7638 members).
fn under_jwk(b: &Bench, m: &str, jwk: Value, canonical: &str) -> Presented {
    let token = b.token_with(&json!({ "cnf": { "jkt": sha256_b64(canonical) } }));
    let claims = b.claims_of(&b.key, m, &token).to_json();
    let header = header_with(&b.key, |h| h["jwk"] = jwk);
    Presented::dpop(&token, &b.key.sign_raw(&header, &claims.to_string()))
}

/// RSA with e = 1: the "signature" is the PKCS#1 v1.5 padded digest itself, so a verifier
/// that takes any exponent accepts it.
fn rsa_exponent_one(b: &Bench, m: &str) -> Presented {
    const SHA256_INFO: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    let mut n = [0u8; 256];
    aws_lc_rs::rand::fill(&mut n).unwrap();
    n[0] = 0xff;
    n[255] |= 1;
    let n = b64(n);
    let jkt = sha256_b64(format!(r#"{{"e":"AQ","kty":"RSA","n":"{n}"}}"#));
    let token = b.token_with(&json!({ "cnf": { "jkt": jkt } }));
    let header =
        json!({ "typ": "dpop+jwt", "alg": "RS256", "jwk": { "kty": "RSA", "n": n, "e": "AQ" } });
    let payload = b.claims_of(&b.key, m, &token).to_json();
    let message = format!("{}.{}", b64(header.to_string()), b64(payload.to_string()));
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message.as_bytes());
    let mut padded = vec![0x00, 0x01];
    padded.resize(256 - SHA256_INFO.len() - 32 - 1, 0xff);
    padded.push(0x00);
    padded.extend_from_slice(&SHA256_INFO);
    padded.extend_from_slice(digest.as_ref());
    Presented::dpop(&token, &format!("{message}.{}", b64(padded)))
}

#[tokio::test]
async fn keys_that_are_not_the_public_key_of_the_signature_are_refused() {
    let suite = Suite::start().await;
    let bad = Outcome::BadProof;
    let rsa = DpopKey::rsa();
    let ed = DpopKey::ed25519();
    let remove = |member: &'static str| {
        move |h: &mut Value| {
            h.as_object_mut().unwrap().remove(member);
        }
    };
    // RFC 9449 §4.3 step 5: an accepted algorithm that fits the key. (attack, key, `alg`)
    let misfits = [
        ("alg ES384 over a P-256 key", None, "ES384"),
        ("alg RS256 over an EC key", None, "RS256"),
        ("alg EdDSA over an EC key", None, "EdDSA"),
        ("alg ES256K, not accepted", None, "ES256K"),
        ("alg ES256 over an RSA key", Some(&rsa), "ES256"),
        ("alg PS256 over an RS256 signature", Some(&rsa), "PS256"),
        ("alg ES256 over an Ed25519 key", Some(&ed), "ES256"),
    ];
    let mut attacks: Vec<Attack<'_>> = misfits
        .into_iter()
        .map(|(what, key, alg)| {
            Attack::new(what, bad, move |b, m| {
                edited(b, m, key.unwrap_or(&b.key), |h| h["alg"] = alg.into())
            })
        })
        .collect();
    attacks.extend([
        // RFC 9449 §4.3 step 6: a public key, given by value.
        Attack::new("no jwk", bad, move |b, m| {
            edited(b, m, &b.key, remove("jwk"))
        }),
        Attack::new("a kid instead of the jwk", bad, move |b, m| {
            edited(b, m, &b.key, |h| {
                remove("jwk")(h);
                h["kid"] = b.key.thumbprint().into();
            })
        }),
        Attack::new("a jku instead of the jwk", bad, move |b, m| {
            edited(b, m, &b.key, |h| {
                remove("jwk")(h);
                h["jku"] = format!("http://{}/jwks", b.addr).into();
            })
        }),
        Attack::new("an x5c instead of the jwk", bad, move |b, m| {
            edited(b, m, &b.key, |h| {
                remove("jwk")(h);
                let der = base64::engine::general_purpose::STANDARD.encode(&b.key.key.der);
                h["x5c"] = json!([der]);
            })
        }),
        Attack::new("the jwk as a string", bad, |b, m| {
            edited(b, m, &b.key, |h| {
                h["jwk"] = jwk_of(&b.key).to_string().into()
            })
        }),
        Attack::new("the private key in the jwk (d)", bad, |b, m| {
            edited(b, m, &b.key, |h| {
                h["jwk"]["d"] = private_scalar(&b.key).into()
            })
        }),
        Attack::new("the private key in an Ed25519 jwk (d)", bad, |b, m| {
            edited(b, m, &ed, |h| h["jwk"]["d"] = private_scalar(&ed).into())
        }),
        Attack::new("private members in an RSA jwk", bad, |b, m| {
            edited(b, m, &rsa, |h| {
                for member in ["d", "p", "q", "dp", "dq", "qi"] {
                    h["jwk"][member] = "AQAB".into();
                }
            })
        }),
        Attack::new("a symmetric k beside the public key", bad, |b, m| {
            edited(b, m, &b.key, |h| h["jwk"]["k"] = b64("secret").into())
        }),
        // An invalid-curve point: x of our key, y moved off the curve.
        Attack::new("a point off the curve, bound to it", bad, |b, m| {
            let mut jwk = jwk_of(&b.key);
            let mut y = b64_decode(jwk["y"].as_str().unwrap());
            y[31] ^= 1;
            jwk["y"] = b64(&y).into();
            let canonical = format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                jwk["x"].as_str().unwrap(),
                jwk["y"].as_str().unwrap()
            );
            under_jwk(b, m, jwk, &canonical)
        }),
        Attack::new(
            "RSA with e = 1 and the padded digest as signature",
            bad,
            rsa_exponent_one,
        ),
    ]);
    suite.run(&attacks).await;
}

#[tokio::test]
async fn broken_signatures_and_other_jwt_types_are_refused() {
    let suite = Suite::start().await;
    let bad = Outcome::BadProof;
    let typed = |typ: Option<&'static str>| {
        move |b: &Bench, payload: Value| {
            let header = header_with(&b.key, |h| match typ {
                Some(typ) => h["typ"] = typ.into(),
                None => {
                    h.as_object_mut().unwrap().remove("typ");
                }
            });
            (header, payload.to_string())
        }
    };
    let resigned = |change: fn(&str, &str) -> String| {
        move |b: &Bench, m: &'static str| {
            let proof = b.proof_of(&b.key, m, &b.bound);
            let other = b.proof_of(&b.key, m, &b.bound);
            let (_, _, other_signature) = segments(&other);
            let (header, payload, signature) = segments(&proof);
            let signature = change(signature, other_signature);
            Presented::dpop(&b.bound, &format!("{header}.{payload}.{signature}"))
        }
    };
    let attacks = [
        Attack::raw("typ missing", bad, typed(None)),
        Attack::raw("typ JWT", bad, typed(Some("JWT"))),
        Attack::raw("typ at+jwt", bad, typed(Some("at+jwt"))),
        Attack::raw("typ dpop", bad, typed(Some("dpop"))),
        Attack::raw(
            "typ dpop+jwt with a trailing space",
            bad,
            typed(Some("dpop+jwt ")),
        ),
        Attack::raw(
            "crit naming a parameter nobody understands",
            bad,
            |b, payload| {
                (
                    header_with(&b.key, |h| h["crit"] = json!(["urn:example:x"])),
                    payload.to_string(),
                )
            },
        ),
        Attack::new("signature stripped", bad, resigned(|_, _| String::new())),
        Attack::new(
            "signature of another proof",
            bad,
            resigned(|_, other| other.to_owned()),
        ),
        Attack::new(
            "signature truncated",
            bad,
            resigned(|s, _| s[..s.len() - 4].to_owned()),
        ),
        Attack::new(
            "one bit of the signature flipped",
            bad,
            resigned(|s, _| {
                let mut bytes = b64_decode(s);
                bytes[7] ^= 1;
                b64(bytes)
            }),
        ),
        // CVE-2022-21449: r = s = 0.
        Attack::new(
            "an ECDSA signature of zeros",
            bad,
            resigned(|_, _| b64([0u8; 64])),
        ),
        Attack::new("four segments", bad, |b, m| {
            let proof = b.proof_of(&b.key, m, &b.bound);
            let (_, _, signature) = segments(&proof);
            Presented::dpop(&b.bound, &format!("{proof}.{signature}"))
        }),
        Attack::new("a JWE-like five segments", bad, |b, m| {
            Presented::dpop(
                &b.bound,
                &format!("{}..x.y", b.proof_of(&b.key, m, &b.bound)),
            )
        }),
    ];
    suite.run(&attacks).await;
}

/// A proof signed byte for byte by the right key whose JSON repeats a member name: parsers
/// that keep the first or the last would disagree about what was signed (RFC 8725 §3.2 asks
/// for rejection).
#[tokio::test]
async fn repeated_member_names_refuse_the_proof() {
    let suite = Suite::start().await;
    let bad = Outcome::BadProof;
    // (attack, header members, payload members), JSON text with `{alg}`, `{jwk}`, `{htm}`,
    // `{htu}`, `{iat}`, `{jti}`, `{ath}` filled in.
    let cases: [(&str, &str, &str); 11] = [
        (
            "typ twice, dpop+jwt last",
            r#""typ":"JWT","typ":"dpop+jwt","alg":"{alg}","jwk":{jwk}"#,
            r#""htm":"{htm}","htu":"{htu}","iat":{iat},"jti":"{jti}","ath":"{ath}""#,
        ),
        (
            "typ twice, dpop+jwt first",
            r#""typ":"dpop+jwt","typ":"JWT","alg":"{alg}","jwk":{jwk}"#,
            r#""htm":"{htm}","htu":"{htu}","iat":{iat},"jti":"{jti}","ath":"{ath}""#,
        ),
        (
            "alg twice",
            r#""typ":"dpop+jwt","alg":"none","alg":"{alg}","jwk":{jwk}"#,
            r#""htm":"{htm}","htu":"{htu}","iat":{iat},"jti":"{jti}","ath":"{ath}""#,
        ),
        (
            "jwk twice, ours last",
            r#""typ":"dpop+jwt","alg":"{alg}","jwk":{other},"jwk":{jwk}"#,
            r#""htm":"{htm}","htu":"{htu}","iat":{iat},"jti":"{jti}","ath":"{ath}""#,
        ),
        (
            "jwk twice, ours first",
            r#""typ":"dpop+jwt","alg":"{alg}","jwk":{jwk},"jwk":{other}"#,
            r#""htm":"{htm}","htu":"{htu}","iat":{iat},"jti":"{jti}","ath":"{ath}""#,
        ),
        (
            "htm twice",
            r#""typ":"dpop+jwt","alg":"{alg}","jwk":{jwk}"#,
            r#""htm":"PATCH","htm":"{htm}","htu":"{htu}","iat":{iat},"jti":"{jti}","ath":"{ath}""#,
        ),
        (
            "htu twice",
            r#""typ":"dpop+jwt","alg":"{alg}","jwk":{jwk}"#,
            r#""htm":"{htm}","htu":"https://elsewhere.example/mcp","htu":"{htu}","iat":{iat},"jti":"{jti}","ath":"{ath}""#,
        ),
        (
            "iat twice, an old one first",
            r#""typ":"dpop+jwt","alg":"{alg}","jwk":{jwk}"#,
            r#""htm":"{htm}","htu":"{htu}","iat":1,"iat":{iat},"jti":"{jti}","ath":"{ath}""#,
        ),
        (
            "jti twice",
            r#""typ":"dpop+jwt","alg":"{alg}","jwk":{jwk}"#,
            r#""htm":"{htm}","htu":"{htu}","iat":{iat},"jti":"replayed","jti":"{jti}","ath":"{ath}""#,
        ),
        (
            "ath twice",
            r#""typ":"dpop+jwt","alg":"{alg}","jwk":{jwk}"#,
            r#""htm":"{htm}","htu":"{htu}","iat":{iat},"jti":"{jti}","ath":"x","ath":"{ath}""#,
        ),
        (
            "ath twice, one spelled with an escape",
            r#""typ":"dpop+jwt","alg":"{alg}","jwk":{jwk}"#,
            r#""htm":"{htm}","htu":"{htu}","iat":{iat},"jti":"{jti}","ath":"x","\u0061th":"{ath}""#,
        ),
    ];
    let other = DpopKey::es256();
    let fill = |b: &Bench, m: &str, text: &str| {
        let claims = b.claims(m);
        text.replace("{alg}", &alg_of(&b.key))
            .replace("{jwk}", &jwk_of(&b.key).to_string())
            .replace("{other}", &jwk_of(&other).to_string())
            .replace("{htm}", &claims.htm)
            .replace("{htu}", &claims.htu)
            .replace("{iat}", &claims.iat.to_string())
            .replace("{jti}", &claims.jti)
            .replace("{ath}", claims.ath.as_deref().unwrap())
    };
    let mut attacks: Vec<Attack<'_>> = cases
        .iter()
        .map(|&(what, header, payload)| {
            Attack::new(what, bad, move |b, m| {
                let header = format!("{{{}}}", fill(b, m, header));
                let payload = format!("{{{}}}", fill(b, m, payload));
                Presented::dpop(&b.bound, &b.key.sign_raw(&header, &payload))
            })
        })
        .collect();
    // The positive control: the same raw signing without repetition.
    attacks.push(Attack::new(
        "the raw proof without repetition",
        Outcome::Served,
        |b, m| {
            let header = format!(
                "{{{}}}",
                fill(b, m, r#""typ":"dpop+jwt","alg":"{alg}","jwk":{jwk}"#)
            );
            let payload = format!(
                "{{{}}}",
                fill(
                    b,
                    m,
                    r#""htm":"{htm}","htu":"{htu}","iat":{iat},"jti":"{jti}","ath":"{ath}""#
                )
            );
            Presented::dpop(&b.bound, &b.key.sign_raw(&header, &payload))
        },
    ));
    suite.run(&attacks).await;
}

#[tokio::test]
async fn missing_and_mistyped_claims_refuse_the_proof() {
    let suite = Suite::start().await;
    let bad = Outcome::BadProof;
    // (attack, claim, new value; `None` removes the claim)
    let cases: [(&str, &str, Option<Value>); 12] = [
        ("no htm", "htm", None),
        ("no htu", "htu", None),
        ("no iat", "iat", None),
        ("no jti", "jti", None),
        ("an empty jti", "jti", Some(json!(""))),
        ("jti a number", "jti", Some(json!(7))),
        (
            "htm an array",
            "htm",
            Some(json!(["POST", "GET", "DELETE"])),
        ),
        ("htu an array", "htu", Some(json!(["a"]))),
        ("htu not a URI", "htu", Some(json!("not a uri"))),
        ("iat a string", "iat", Some(json!("now"))),
        ("ath a number", "ath", Some(json!(1))),
        ("ath null", "ath", Some(Value::Null)),
    ];
    let attacks: Vec<Attack<'_>> = cases
        .into_iter()
        .map(|(what, claim, value)| {
            Attack::new(what, bad, move |b, m| {
                let mut payload = b.claims(m).to_json();
                match &value {
                    Some(Value::Null) => payload[claim] = Value::Null,
                    Some(value) => payload[claim] = value.clone(),
                    None => {
                        payload.as_object_mut().unwrap().remove(claim);
                    }
                }
                Presented::dpop(&b.bound, &b.key.sign_with(b.key.header(), &payload))
            })
        })
        .collect();
    suite.run(&attacks).await;
}

/// A genuine proof of `key` with a token bound to `key`.
fn genuine_of(b: &Bench, m: &str, key: &DpopKey) -> Presented {
    let token = b.token(Some(key));
    Presented::dpop(&token, &b.proof_of(key, m, &token))
}

/// Positive controls for each algorithm the default configuration accepts, then a server
/// that accepts ES256 alone refusing the others.
#[tokio::test]
async fn accepted_algorithms_are_served_and_others_refused() {
    use jsonwebtoken::Algorithm::{PS256, PS384, PS512, RS384, RS512};
    let keys = [
        DpopKey::es256(),
        DpopKey::es384(),
        DpopKey::ed25519(),
        DpopKey::rsa(),
        DpopKey::rsa_with(RS384),
        DpopKey::rsa_with(RS512),
        DpopKey::rsa_with(PS256),
        DpopKey::rsa_with(PS384),
        DpopKey::rsa_with(PS512),
    ];
    let attacks = |only_es256: bool| -> Vec<Attack<'_>> {
        keys.iter()
            .map(|key| {
                let alg = alg_of(key);
                let outcome = match !only_es256 || alg == "ES256" {
                    true => Outcome::Served,
                    false => Outcome::BadProof,
                };
                Attack::new(format!("a genuine {alg} proof"), outcome, move |b, m| {
                    genuine_of(b, m, key)
                })
            })
            .collect()
    };
    Suite::start().await.run(&attacks(false)).await;
    let es256_only = |dpop: Dpop| dpop.algorithms([mcp_auth_runtime::auth::Algorithm::ES256]);
    let suite = Suite::start_with(&[DpopPolicy::Accept, DpopPolicy::Require], &es256_only).await;
    suite.run(&attacks(true)).await;
}
