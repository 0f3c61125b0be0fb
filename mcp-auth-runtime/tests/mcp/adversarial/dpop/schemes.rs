//! Tokens and proofs in the wrong place: a DPoP-bound token as a bearer token, a bearer token
//! with a proof, an access token as a proof and a proof as an access token, no `DPoP`
//! header, an empty one, two of them; and the scheme in other cases.

use super::*;

#[tokio::test]
async fn tokens_and_proofs_in_the_wrong_place_are_refused() {
    let suite = Suite::start().await;
    let bad = Outcome::BadProof;
    // Under `require`, the Bearer scheme is refused as an invalid token in the one (DPoP)
    // challenge.
    let bearer_refused = Outcome::BadToken(Scheme::Dpop);
    let attacks = [
        // RFC 9449 §7.2: a DPoP-bound token is never a bearer token, with or without a proof.
        Attack::by_policy(
            "the bound token as a Bearer token",
            Outcome::BadToken(Scheme::Bearer),
            bearer_refused,
            |b, _| Presented::bearer(&b.bound),
        ),
        // Both schemes at once: RFC 9449 §7.2 Figure 19.
        Attack::by_policy(
            "the bound token as a Bearer token, with its proof",
            Outcome::Ambiguous,
            bearer_refused,
            |b, m| Presented::bearer(&b.bound).proof(&b.proof_of(&b.key, m, &b.bound)),
        ),
        // A stolen bearer token with the thief's own proof is still a bearer token: refused
        // under the DPoP scheme; with the Bearer scheme, both schemes at once.
        Attack::new(
            "a bearer token under the DPoP scheme, with a proof",
            Outcome::BadToken(Scheme::Dpop),
            |b, m| Presented::dpop(&b.unbound, &b.proof_of(&b.key, m, &b.unbound)),
        ),
        Attack::by_policy(
            "a bearer token as a Bearer token, with a proof",
            Outcome::Ambiguous,
            bearer_refused,
            |b, m| Presented::bearer(&b.unbound).proof(&b.proof_of(&b.key, m, &b.unbound)),
        ),
        Attack::by_policy(
            "a bearer token as a Bearer token",
            Outcome::Served,
            bearer_refused,
            |b, _| Presented::bearer(&b.unbound),
        ),
        Attack::new("the bound token without a DPoP header", bad, |b, _| {
            Presented::scheme("DPoP", &b.bound)
        }),
        Attack::new("an empty DPoP header", bad, |b, _| {
            Presented::dpop(&b.bound, "")
        }),
        Attack::new("a DPoP header of spaces", bad, |b, _| {
            Presented::dpop(&b.bound, "   ")
        }),
        Attack::new("the access token as the proof", bad, |b, _| {
            Presented::dpop(&b.bound, &b.bound)
        }),
        Attack::new(
            "a proof as the access token",
            Outcome::BadToken(Scheme::Dpop),
            |b, m| {
                let proof = b.proof_of(&b.key, m, &b.bound);
                Presented::dpop(&proof, &b.proof_of(&b.key, m, &proof))
            },
        ),
        Attack::by_policy(
            "a proof as a Bearer token",
            Outcome::BadToken(Scheme::Bearer),
            bearer_refused,
            |b, m| Presented::bearer(&b.proof_of(&b.key, m, &b.bound)),
        ),
        Attack::new(
            "the DPoP scheme without a token",
            Outcome::Malformed(Scheme::Dpop),
            |b, m| Presented::scheme("DPoP", "").proof(&b.proof_of(&b.key, m, &b.bound)),
        ),
        // RFC 9449 §4.3 step 1: not more than one DPoP header.
        Attack::new("two DPoP headers, both genuine", bad, |b, m| {
            b.honest(m).proof(&b.proof_of(&b.key, m, &b.bound))
        }),
        Attack::new("a genuine DPoP header, then garbage", bad, |b, m| {
            b.honest(m).proof("garbage")
        }),
        Attack::new("garbage, then a genuine DPoP header", bad, |b, m| {
            Presented::dpop(&b.bound, "garbage").proof(&b.proof_of(&b.key, m, &b.bound))
        }),
        Attack::new("two proofs in one DPoP header", bad, |b, m| {
            let one = b.proof_of(&b.key, m, &b.bound);
            let two = b.proof_of(&b.key, m, &b.bound);
            Presented::dpop(&b.bound, &format!("{one}, {two}"))
        }),
        Attack::new("a proof after a scheme in the DPoP header", bad, |b, m| {
            Presented::dpop(
                &b.bound,
                &format!("DPoP {}", b.proof_of(&b.key, m, &b.bound)),
            )
        }),
        // RFC 9110 §11.1: the scheme is case-insensitive; these are genuine requests.
        Attack::new("the scheme in lower case", Outcome::Served, |b, m| {
            Presented::scheme("dpop", &b.bound).proof(&b.proof_of(&b.key, m, &b.bound))
        }),
        Attack::new("the scheme in upper case", Outcome::Served, |b, m| {
            Presented::scheme("DPOP", &b.bound).proof(&b.proof_of(&b.key, m, &b.bound))
        }),
    ];
    suite.run(&attacks).await;
}

/// A server that takes bearer tokens only (the default) does not understand the DPoP scheme
/// and refuses DPoP-bound tokens, whatever comes with them.
#[tokio::test]
async fn a_server_without_dpop_takes_no_dpop_token() {
    let suite = Suite::start_with(&[DpopPolicy::Off], &|dpop| dpop).await;
    for bench in &suite.benches {
        for shape in [Shape::Modern(ACCEPTS[0]), Shape::Modern(ACCEPTS[2])] {
            let m = shape.method();
            let proof = bench.proof_of(&bench.key, m, &bench.bound);
            for (what, presented, outcome) in [
                (
                    "the bound token and its proof",
                    Presented::dpop(&bench.bound, &proof),
                    Outcome::Unsupported,
                ),
                (
                    "the bound token as a Bearer token, with its proof",
                    Presented::bearer(&bench.bound).proof(&proof),
                    Outcome::BadToken(Scheme::Bearer),
                ),
                (
                    "the bound token as a Bearer token",
                    Presented::bearer(&bench.bound),
                    Outcome::BadToken(Scheme::Bearer),
                ),
            ] {
                bench.check(what, shape, None, &presented, outcome).await;
            }
            bench
                .check(
                    "a bearer token",
                    shape,
                    None,
                    &Presented::bearer(&bench.unbound),
                    Outcome::Served,
                )
                .await;
        }
    }
    suite.finish();
}
