//! Genuine proofs for another request (`htm`, `htu`), another token (`ath`) or another key
//! (`cnf.jkt`), and the spellings of this request's URI that must still match.

use super::*;

/// The other method a proof could have been made for.
fn other_method(method: &str) -> &'static str {
    match method {
        "POST" => "GET",
        _ => "POST",
    }
}

/// An `htu` made from a bench's resource URI.
type HtuOf = fn(&Bench) -> String;

#[tokio::test]
async fn proofs_for_another_method_or_uri_are_refused() {
    let suite = Suite::start().await;
    let bad = Outcome::BadProof;
    let served = Outcome::Served;
    // (attack, htu from the resource URI `http://127.0.0.1:<port>/mcp`)
    let other_uris: [(&str, HtuOf); 10] = [
        ("another path", |b| format!("{}/other", b.uri)),
        ("the origin only", |b| {
            b.uri.trim_end_matches("/mcp").to_owned()
        }),
        ("a trailing slash", |b| format!("{}/", b.uri)),
        ("another host naming the same machine", |b| {
            b.uri.replace("127.0.0.1", "localhost")
        }),
        ("another scheme", |b| b.uri.replace("http://", "https://")),
        ("another port", |b| {
            b.uri
                .replace(&b.addr.port().to_string(), &(b.addr.port() ^ 1).to_string())
        }),
        ("userinfo", |b| b.uri.replace("http://", "http://client@")),
        ("the path alone", |_| "/mcp".to_owned()),
        ("the path in upper case", |b| b.uri.replace("/mcp", "/MCP")),
        ("an encoded slash", |b| b.uri.replace("/mcp", "/%2Fmcp")),
    ];
    let mut attacks = vec![
        Attack::claims("htm of another method", bad, |_, c| {
            c.htm = other_method(&c.htm).to_owned();
        }),
        Attack::claims("htm in lower case", bad, |_, c| {
            c.htm = c.htm.to_lowercase()
        }),
        Attack::claims("htm with a trailing space", bad, |_, c| c.htm.push(' ')),
    ];
    for (what, htu) in other_uris {
        attacks.push(Attack::claims(format!("htu: {what}"), bad, move |b, c| {
            c.htu = htu(b);
        }));
    }
    // Positive controls: query and fragment are ignored (RFC 9449 §4.3 step 9), and the URI
    // is compared after syntax- and scheme-based normalisation (RFC 3986 §6.2.2, §6.2.3).
    attacks.extend([
        Attack::new("a query on the request, none in htu", served, |b, m| {
            b.honest(m).query("x=1")
        }),
        Attack::new(
            "the same query on the request and in htu",
            served,
            |b, m| {
                let mut c = b.claims(m);
                c.htu = format!("{}?x=1", b.uri);
                Presented::dpop(&b.bound, &b.key.sign(&c)).query("x=1")
            },
        ),
        Attack::claims("a query in htu only", served, |b, c| {
            c.htu = format!("{}?x=1", b.uri);
        }),
        Attack::claims("a fragment in htu", served, |b, c| {
            c.htu = format!("{}#f", b.uri)
        }),
        Attack::claims("htu with the scheme in upper case", served, |b, c| {
            c.htu = b.uri.replace("http://", "HTTP://");
        }),
        Attack::claims(
            "htu with an unreserved character percent-encoded",
            served,
            |b, c| {
                c.htu = b.uri.replace("/mcp", "/%6Dcp");
            },
        ),
        Attack::claims("htu with dot segments", served, |b, c| {
            c.htu = b.uri.replace("/mcp", "/x/../mcp");
        }),
    ]);
    suite.run(&attacks).await;
}

#[tokio::test]
async fn proofs_for_another_token_or_key_are_refused() {
    let suite = Suite::start().await;
    let bad = Outcome::BadProof;
    // RFC 9449 §7.1 Figure 16: a valid proof by another key than the token's is an invalid
    // token ("invalid DPoP key binding").
    let other_key = Outcome::BadToken(Scheme::Dpop);
    let others = [DpopKey::es256(), DpopKey::rsa(), DpopKey::ed25519()];
    let mut attacks = vec![
        Attack::claims("ath of another token of the same caller", bad, |b, c| {
            c.ath = Some(mcp_auth_test_support::dpop::ath(&b.unbound));
        }),
        Attack::claims("ath missing", bad, |_, c| c.ath = None),
        Attack::claims("ath of the token in padded standard base64", bad, |b, c| {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b.bound.as_bytes());
            c.ath = Some(base64::engine::general_purpose::STANDARD.encode(digest));
        }),
        Attack::claims("ath of the empty string", bad, |_, c| {
            c.ath = Some(mcp_auth_test_support::dpop::ath(""));
        }),
        Attack::new(
            "a token bound to another key, with a proof of ours",
            other_key,
            |b, m| {
                let token = b.token(Some(&DpopKey::es256()));
                Presented::dpop(&token, &b.proof_of(&b.key, m, &token))
            },
        ),
        Attack::new("cnf.jkt of our key in upper case", other_key, |b, m| {
            let token =
                b.token_with(&json!({ "cnf": { "jkt": b.key.thumbprint().to_uppercase() } }));
            Presented::dpop(&token, &b.proof_of(&b.key, m, &token))
        }),
        Attack::new("cnf.jkt a SHA-1 digest of our key", other_key, |b, m| {
            let canonical = serde_json::to_string(&b.key.public_jwk()).unwrap();
            let sha1 = aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                canonical.as_bytes(),
            );
            let token = b.token_with(&json!({ "cnf": { "jkt": b64(sha1) } }));
            Presented::dpop(&token, &b.proof_of(&b.key, m, &token))
        }),
    ];
    for other in &others {
        attacks.push(Attack::new(
            format!("a genuine {} proof of another key", alg_of(other)),
            other_key,
            move |b, m| Presented::dpop(&b.bound, &b.proof_of(other, m, &b.bound)),
        ));
    }
    suite.run(&attacks).await;
}

/// Tokens whose confirmation is not a DPoP key: never accepted with a proof.
#[tokio::test]
async fn tokens_bound_otherwise_are_refused_with_a_proof() {
    let suite = Suite::start().await;
    let token = Outcome::BadToken(Scheme::Dpop);
    let with_cnf = |cnf: Value| {
        move |b: &Bench, m: &'static str| {
            let token = b.token_with(&json!({ "cnf": cnf }));
            Presented::dpop(&token, &b.proof_of(&b.key, m, &token))
        }
    };
    let attacks = [
        Attack::new(
            "mTLS-bound (cnf x5t#S256)",
            token,
            with_cnf(json!({ "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" })),
        ),
        Attack::new("cnf.jkt a number", token, with_cnf(json!({ "jkt": 7 }))),
        Attack::new("cnf.jkt empty", token, with_cnf(json!({ "jkt": "" }))),
        Attack::new("cnf an empty object", token, with_cnf(json!({}))),
        Attack::new("cnf a string", token, with_cnf(json!("jkt"))),
        Attack::new("cnf.jkt an array", token, |b, m| {
            let token = b.token_with(&json!({ "cnf": { "jkt": [b.key.thumbprint()] } }));
            Presented::dpop(&token, &b.proof_of(&b.key, m, &token))
        }),
        Attack::new(
            "cnf.jwk (the key itself, not its thumbprint)",
            token,
            |b, m| {
                let token = b.token_with(&json!({ "cnf": { "jwk": jwk_of(&b.key) } }));
                Presented::dpop(&token, &b.proof_of(&b.key, m, &token))
            },
        ),
    ];
    suite.run(&attacks).await;
}
