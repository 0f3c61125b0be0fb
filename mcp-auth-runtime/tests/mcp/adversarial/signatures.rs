//! Forged, stripped, tampered and algorithm-confused signatures, and hostile key ids.

use super::*;

/// `header` with `change` made to it.
fn edited(mut header: Header, change: impl FnOnce(&mut Header)) -> Header {
    change(&mut header);
    header
}

#[tokio::test]
async fn algorithm_confusion_never_verifies() {
    let fx = Fx::start().await;
    let claims = fx.claims(ALL);
    let bad = Challenge::InvalidToken;
    let (_, payload, signature) = segments(&fx.rsa.sign(&claims)).to_owned_parts();

    // 1–3. `alg: none`, without and with a signature, and in another case.
    let none = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
    fx.refused("alg none", fx.void(&none), 401, bad).await;
    let none_signed = format!(
        "{}.{payload}.{signature}",
        b64(r#"{"alg":"none","kid":"rsa-1"}"#)
    );
    fx.refused("alg none with a signature", fx.void(&none_signed), 401, bad)
        .await;
    let none_cased = format!("{}.{payload}.", b64(r#"{"alg":"None"}"#));
    fx.refused("alg None", fx.void(&none_cased), 401, bad).await;

    // 4–7. HMAC keyed with the RSA public key, in every shape an attacker can get it.
    let pkcs1 = fx.rsa.rsa_public_pkcs1_der();
    let spki = fx.rsa.rsa_public_spki_der();
    let pem = fx.rsa.rsa_public_pem();
    let jwk = serde_json::to_string(&fx.rsa.jwk).unwrap();
    for (shape, secret) in [
        ("PKCS#1 DER", pkcs1.as_slice()),
        ("SPKI DER", spki.as_slice()),
        ("PEM", pem.as_bytes()),
        ("JWK JSON", jwk.as_bytes()),
    ] {
        let forged = hs256(secret, "rsa-1", &claims);
        fx.refused(
            &format!("HS256 with the RSA public key as {shape}"),
            fx.void(&forged),
            401,
            bad,
        )
        .await;
    }

    // 8–11. An algorithm the named key cannot verify: the key type decides, not the header.
    let mismatched = [
        (
            "ES256 header naming an RSA kid",
            &fx.ec,
            edited(fx.ec.header(), |h| h.kid = Some("rsa-1".into())),
        ),
        (
            "RS256 header naming an EC kid",
            &fx.rsa,
            edited(fx.rsa.header(), |h| h.kid = Some("ec-1".into())),
        ),
        (
            "EdDSA header naming an EC kid",
            &fx.ed,
            edited(fx.ed.header(), |h| h.kid = Some("ec-1".into())),
        ),
        (
            "PS256 with a key whose JWK pins RS256",
            &fx.rsa,
            edited(fx.rsa.header(), |h| h.alg = Algorithm::PS256),
        ),
    ];
    for (attack, key, header) in mismatched {
        fx.refused(attack, fx.void(&key.sign_with(header, &claims)), 401, bad)
            .await;
    }

    // 12–16. Keys named by the token itself are never fetched or used.
    let attacker = TestKey::es256("attacker");
    let attacker_issuer = Issuer::start(&[&attacker]).await;
    let jwks = || Some(attacker_issuer.jwks_url());
    let named_keys = [
        (
            "jku to the attacker's key set",
            edited(attacker.header(), |h| h.jku = jwks()),
        ),
        (
            "jku with our kid",
            edited(attacker.header(), |h| {
                h.kid = Some("ec-1".into());
                h.jku = jwks();
            }),
        ),
        (
            "x5u to the attacker",
            edited(attacker.header(), |h| h.x5u = jwks()),
        ),
        (
            "embedded jwk",
            edited(attacker.header(), |h| {
                h.kid = Some("ec-1".into());
                h.jwk = Some(attacker.jwk.clone());
            }),
        ),
        (
            "embedded x5c",
            edited(attacker.header(), |h| {
                h.x5c = Some(vec![
                    base64::engine::general_purpose::STANDARD.encode(&attacker.der),
                ]);
            }),
        ),
    ];
    for (attack, header) in named_keys {
        fx.refused(
            attack,
            fx.void(&attacker.sign_with(header, &claims)),
            401,
            bad,
        )
        .await;
    }
    assert_eq!(
        (attacker_issuer.jwks_hits(), attacker_issuer.metadata_hits()),
        (0, 0),
        "the attacker's key set was fetched"
    );

    // 17–19. `crit`: nothing here is understood, so any critical parameter refuses the token,
    // even one the verifier does check (and an empty list, which RFC 7515 forbids).
    for crit in [vec!["exp".to_owned()], vec!["b64".to_owned()], vec![]] {
        let header = edited(fx.ec.header(), |h| h.crit = Some(crit.clone()));
        fx.refused(
            &format!("crit {crit:?}"),
            fx.void(&fx.ec.sign_with(header, &claims)),
            401,
            bad,
        )
        .await;
    }
    fx.accepted("the genuine RS256 token", fx.void(&fx.rsa.sign(&claims)))
        .await;
}

#[tokio::test]
async fn stripped_truncated_and_borrowed_signatures_never_verify() {
    let fx = Fx::start().await;
    let bad = Challenge::InvalidToken;
    let good = fx.good();
    let (header, payload, signature) = segments(&good);
    let other = fx.ec.sign(&fx.claims("invoices:read"));
    let (_, _, other_signature) = segments(&other);
    let mut flipped = b64_decode(signature);
    flipped[10] ^= 1;
    for (attack, token) in [
        ("signature stripped", format!("{header}.{payload}.")),
        ("two segments", format!("{header}.{payload}")),
        (
            "signature truncated",
            format!("{header}.{payload}.{}", &signature[..signature.len() - 6]),
        ),
        (
            "signature of another token",
            format!("{header}.{payload}.{other_signature}"),
        ),
        (
            "one bit of the signature flipped",
            format!("{header}.{payload}.{}", b64(&flipped)),
        ),
        // CVE-2022-21449: an ECDSA signature with r = s = 0.
        (
            "ECDSA signature of zeros",
            format!("{header}.{payload}.{}", b64([0u8; 64])),
        ),
        ("five segments", format!("{good}.{payload}.{signature}")),
        ("empty header", format!(".{payload}.{signature}")),
    ] {
        fx.refused(attack, fx.void(&token), 401, bad).await;
    }
    // Padding or spaces inside a token are not a b64token at all.
    fx.refused(
        "padding inside the token",
        fx.void(&format!("{header}==.{payload}.{signature}")),
        400,
        Challenge::InvalidRequest,
    )
    .await;
    fx.accepted("the genuine token", fx.void(&good)).await;
}

#[tokio::test]
async fn tampered_claims_and_foreign_keys_never_verify() {
    let fx = Fx::start().await;
    let bad = Challenge::InvalidToken;
    let reader = fx.rsa.sign(&fx.claims("invoices:read"));
    let (header, payload, signature) = segments(&reader);
    let mut escalated = fx.claims(ALL);
    escalated["sub"] = "admin".into();
    fx.refused(
        "payload swapped for one with more scopes",
        fx.void(&format!(
            "{header}.{}.{signature}",
            b64(escalated.to_string())
        )),
        401,
        bad,
    )
    .await;
    let rekeyed = b64(json!({ "alg": "RS256", "kid": "rsa-2", "typ": "at+jwt" }).to_string());
    fx.refused(
        "header re-pointed at another of the issuer's keys",
        fx.void(&format!("{rekeyed}.{payload}.{signature}")),
        401,
        bad,
    )
    .await;
    for impostor in [TestKey::rsa("rsa-1"), TestKey::es256("ec-1")] {
        fx.refused(
            &format!(
                "a key of our kid {} that the issuer never had",
                impostor.kid
            ),
            fx.void(&impostor.sign(&fx.claims(ALL))),
            401,
            bad,
        )
        .await;
    }
    // A token of the issuer signed by one key but naming the other RSA key's kid.
    let mut header = fx.rsa2.header();
    header.kid = Some("rsa-1".into());
    fx.refused(
        "rsa-2 signature under the rsa-1 kid",
        fx.void(&fx.rsa2.sign_with(header, &fx.claims(ALL))),
        401,
        bad,
    )
    .await;
}

#[tokio::test]
async fn hostile_kids_are_plain_unknown_names() {
    let fx = Fx::start().await;
    fx.accepted("warm the key cache", fx.void(&fx.good())).await;
    let hits = fx.issuer.jwks_hits();
    for kid in [
        "../../etc/passwd",
        "' OR 1=1 --",
        "ec-1\u{0}",
        "ec-1 ",
        "",
        "%2e%2e%2fjwks",
        &"k".repeat(8 * 1024),
    ] {
        let mut header = fx.ec.header();
        header.kid = Some(kid.to_owned());
        fx.refused(
            &format!("kid {:?}", kid.chars().take(20).collect::<String>()),
            fx.void(&fx.ec.sign_with(header, &fx.claims(ALL))),
            401,
            Challenge::InvalidToken,
        )
        .await;
    }
    let (_, payload, signature) = segments(&fx.good()).to_owned_parts();
    for header in [
        json!({ "alg": "ES256", "kid": 1 }),
        json!({ "alg": "ES256", "kid": ["ec-1"] }),
        json!({ "alg": "ES256", "kid": { "$ne": "" } }),
    ] {
        fx.refused(
            &format!("kid of another type: {header}"),
            fx.void(&format!(
                "{}.{payload}.{signature}",
                b64(header.to_string())
            )),
            401,
            Challenge::InvalidToken,
        )
        .await;
    }
    // Unknown kids cost at most one refetch per interval (30 s by default).
    assert!(
        fx.issuer.jwks_hits() <= hits + 1,
        "{}",
        fx.issuer.jwks_hits()
    );
}
