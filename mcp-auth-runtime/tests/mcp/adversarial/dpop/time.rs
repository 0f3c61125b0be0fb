//! Time and replay: `iat` just inside and just outside the ±5 minute window, absurd `iat`
//! values, and proofs used twice: again, re-signed with the same `jti`, to end another
//! session, in the other era, and many times at once.

use super::*;

#[tokio::test]
async fn proofs_outside_the_iat_window_are_refused() {
    let suite = Suite::start().await;
    let bad = Outcome::BadProof;
    let served = Outcome::Served;
    let shifted = |offset: i64| move |_: &Bench, c: &mut ProofClaims| c.iat += offset;
    let attacks = [
        // Positive controls: 10 s inside either bound of the default window (300 s).
        Attack::claims("iat 290 s ago", served, shifted(-290)),
        Attack::claims("iat 290 s ahead", served, shifted(290)),
        Attack::claims("iat 310 s ago", bad, shifted(-310)),
        Attack::claims("iat 310 s ahead", bad, shifted(310)),
        Attack::claims("iat a day ago", bad, shifted(-86_400)),
        Attack::claims("iat a year ahead", bad, shifted(365 * 86_400)),
        Attack::claims("iat 0", bad, |_, c| c.iat = 0),
        Attack::claims("iat negative", bad, |_, c| c.iat = -1),
        Attack::claims("iat i64::MIN", bad, |_, c| c.iat = i64::MIN),
        Attack::claims("iat i64::MAX", bad, |_, c| c.iat = i64::MAX),
        Attack::new("iat beyond i64", bad, |b, m| {
            let mut payload = b.claims(m).to_json();
            payload["iat"] = json!(u64::MAX);
            Presented::dpop(&b.bound, &b.key.sign_with(b.key.header(), &payload))
        }),
        Attack::new("iat 1e300", bad, |b, m| {
            let mut payload = b.claims(m).to_json();
            payload["iat"] = json!(1e300);
            Presented::dpop(&b.bound, &b.key.sign_with(b.key.header(), &payload))
        }),
    ];
    suite.run(&attacks).await;
}

#[tokio::test]
async fn replayed_proofs_are_refused() {
    let suite = Suite::start().await;
    for b in &suite.benches {
        for shape in Shape::ALL {
            let m = shape.method();
            let claims = b.claims(m);
            let proof = b.key.sign(&claims);
            let first = match shape.in_session() {
                true => Some(b.open_session().await),
                false => None,
            };
            b.check(
                "the first use of a proof",
                shape,
                first.as_deref(),
                &Presented::dpop(&b.bound, &proof),
                Outcome::Served,
            )
            .await;
            // A `DELETE` proof replayed against another session: it must not end it.
            let second = match shape.in_session() {
                true => Some(b.open_session().await),
                false => None,
            };
            let session = match shape.takes_the_session() {
                true => second.as_deref(),
                false => first.as_deref(),
            };
            b.check(
                "the same proof again",
                shape,
                session,
                &Presented::dpop(&b.bound, &proof),
                Outcome::BadProof,
            )
            .await;
            let resigned = ProofClaims {
                iat: claims.iat - 1,
                ..claims.clone()
            };
            b.check(
                "the same jti, signed again with another iat",
                shape,
                session,
                &Presented::dpop(&b.bound, &b.key.sign(&resigned)),
                Outcome::BadProof,
            )
            .await;
            if shape == Shape::SessionDelete {
                b.assert_open("a replayed DELETE proof", session.unwrap())
                    .await;
            }
        }
        // Proof ids are one key's: another client using our next `jti` first blocks nothing.
        let thief = DpopKey::es256();
        let theirs = b.token(Some(&thief));
        let modern = Shape::Modern(ACCEPTS[0]);
        let ours = b.claims("POST");
        let first = ProofClaims {
            ath: Some(mcp_auth_test_support::dpop::ath(&theirs)),
            ..ours.clone()
        };
        let presented = Presented::dpop(&theirs, &thief.sign(&first));
        b.check(
            "another key's proof with our jti",
            modern,
            None,
            &presented,
            Outcome::Served,
        )
        .await;
        let presented = Presented::dpop(&b.bound, &b.key.sign(&ours));
        b.check(
            "our proof with that jti",
            modern,
            None,
            &presented,
            Outcome::Served,
        )
        .await;
        // One replay record for both eras: a proof served in one is refused in the other.
        let session = b.open_session().await;
        let modern = Shape::Modern(ACCEPTS[1]);
        let legacy = Shape::SessionPost(ACCEPTS[1]);
        for (first, then) in [(modern, legacy), (legacy, modern)] {
            let presented = b.honest("POST");
            for (shape, outcome) in [(first, Outcome::Served), (then, Outcome::BadProof)] {
                let session = shape.in_session().then_some(session.as_str());
                b.check(
                    "a proof used in the other era",
                    shape,
                    session,
                    &presented,
                    outcome,
                )
                .await;
            }
        }
    }
    suite.finish();
}

/// One proof sent 32 times at once, to each server: exactly one request is served, however
/// the requests interleave between the check and the record of its `jti`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_sent_many_times_at_once_is_served_once() {
    let suite = Suite::start().await;
    for b in &suite.benches {
        let shape = Shape::Modern(ACCEPTS[1]);
        let presented = b.honest("POST");
        let before = b.runs();
        let requests: Vec<_> = (0..32)
            .map(|_| {
                let request = b.request(shape, None, &presented);
                let http = b.http.clone();
                tokio::spawn(async move { http.execute(request).await.unwrap().status().as_u16() })
            })
            .collect();
        let mut statuses = Vec::new();
        for request in requests {
            statuses.push(request.await.unwrap());
        }
        let served = statuses.iter().filter(|&&s| s == 200).count();
        assert_eq!(served, 1, "{:?} {:?}: {statuses:?}", b.policy, b.kind);
        assert!(
            statuses.iter().all(|&s| s == 200 || s == 401),
            "{statuses:?}"
        );
        assert_eq!(b.runs(), before + 1, "{:?} {:?}", b.policy, b.kind);
    }
}
