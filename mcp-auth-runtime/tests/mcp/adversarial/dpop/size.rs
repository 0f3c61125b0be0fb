//! Oversized proofs, and proofs that would be costly to check: refused, and cheaply.

use super::*;

/// A proof under an RSA key of `bits` bits with exponent `e` (base64url) that nobody can
/// sign for, with random bytes as signature, and a token bound to that key: the server must
/// refuse it before any costly arithmetic.
fn huge_rsa(b: &Bench, method: &str, bits: usize, e: &str) -> Presented {
    let mut n = vec![0u8; bits / 8];
    aws_lc_rs::rand::fill(&mut n).unwrap();
    n[0] |= 0x80;
    *n.last_mut().unwrap() |= 1;
    let mut signature = vec![0u8; bits / 8];
    aws_lc_rs::rand::fill(&mut signature).unwrap();
    signature[0] = 0x01;
    let n = b64(n);
    let jkt = sha256_b64(format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
    let token = b.token_with(&json!({ "cnf": { "jkt": jkt } }));
    let header =
        json!({ "typ": "dpop+jwt", "alg": "RS256", "jwk": { "kty": "RSA", "n": n, "e": e } });
    let payload = b.claims_of(&b.key, method, &token).to_json();
    Presented::dpop(&token, &compact(&header, &payload, &b64(signature)))
}

/// A random exponent of `bytes` bytes, odd, base64url.
fn huge_exponent(bytes: usize) -> String {
    let mut e = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut e).unwrap();
    e[0] |= 0x80;
    *e.last_mut().unwrap() |= 1;
    b64(e)
}

#[tokio::test]
async fn oversized_proofs_are_refused() {
    let suite = Suite::start().await;
    let bad = Outcome::BadProof;
    let e = huge_exponent(2048);
    let attacks = [
        Attack::new("a 40 KiB DPoP header", Outcome::TooLarge, |b, _| {
            Presented::dpop(&b.bound, &"a".repeat(40 * 1024))
        }),
        Attack::claims("a genuine proof of 20 KiB (a long jti)", bad, |_, c| {
            c.jti = "j".repeat(20 * 1024);
        }),
        Attack::new("a genuine proof of 20 KiB (a long claim)", bad, |b, m| {
            let mut payload = b.claims(m).to_json();
            payload["padding"] = "p".repeat(20 * 1024).into();
            Presented::dpop(&b.bound, &b.key.sign_with(b.key.header(), &payload))
        }),
        Attack::new("a genuine proof of 4,000 nested arrays", bad, |b, m| {
            let claims = b.claims(m);
            let payload = format!(
                r#"{{"htm":"{}","htu":"{}","iat":{},"jti":"{}","ath":"{}","x":{}1{}}}"#,
                claims.htm,
                claims.htu,
                claims.iat,
                claims.jti,
                claims.ath.unwrap(),
                "[".repeat(4_000),
                "]".repeat(4_000)
            );
            let header = header_of(&b.key).to_string();
            Presented::dpop(&b.bound, &b.key.sign_raw(&header, &payload))
        }),
        Attack::new("a 16384-bit RSA key", bad, |b, m| {
            huge_rsa(b, m, 16_384, "AQAB")
        }),
        Attack::new(
            "a 16384-bit RSA key with a 16384-bit exponent",
            bad,
            |b, m| huge_rsa(b, m, 16_384, &e),
        ),
        Attack::new(
            "a 2048-bit RSA key with a 16384-bit exponent",
            bad,
            |b, m| huge_rsa(b, m, 2_048, &e),
        ),
    ];
    suite.run(&attacks).await;
}

/// 64 proofs under RSA keys a server must not compute with (16384-bit moduli, or 16384-bit
/// exponents: a modular exponentiation of up to a second each, if the server did one) are
/// refused at once, and a genuine request sent in the middle of them is served without
/// waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_rsa_keys_are_refused_cheaply() {
    let suite = Suite::start().await;
    let e = huge_exponent(2048);
    for b in &suite.benches {
        let shape = Shape::Modern(ACCEPTS[1]);
        let started = Instant::now();
        let flood: Vec<_> = (0..64)
            .map(|i| {
                let presented = match i % 2 {
                    0 => huge_rsa(b, "POST", 16_384, "AQAB"),
                    _ => huge_rsa(b, "POST", 2_048, &e),
                };
                let request = b.request(shape, None, &presented);
                let http = b.http.clone();
                tokio::spawn(async move { http.execute(request).await.unwrap().status().as_u16() })
            })
            .collect();
        let genuine = Instant::now();
        b.check(
            "a genuine call during the flood",
            shape,
            None,
            &b.honest("POST"),
            Outcome::Served,
        )
        .await;
        let genuine = genuine.elapsed();
        for request in flood {
            assert_eq!(request.await.unwrap(), 401);
        }
        let all = started.elapsed();
        assert!(
            genuine < Duration::from_secs(2) && all < Duration::from_secs(5),
            "{:?} {:?}: the genuine call took {genuine:?}, all {all:?}",
            b.policy,
            b.kind
        );
    }
}
