//! Servers that issue nonces (RFC 9449 §8): a proof without one gets a fresh one, and a
//! nonce that this server did not seal (forged, of another server, not a string) is refused.

use super::*;

#[tokio::test]
async fn nonces_cannot_be_skipped_forged_or_borrowed() {
    let sealed_by = |key: &'static [u8]| move |dpop: Dpop| dpop.nonces(key);
    // One server's nonce, taken first: each suite captures the logs while it lives.
    let theirs = Suite::start_with(
        &[DpopPolicy::Accept],
        &sealed_by(b"the nonce key of some other server"),
    )
    .await;
    let foreign = theirs.benches[0].fetch_nonce().await;
    theirs.finish();
    let ours = sealed_by(b"the nonce key of this very server");
    let suite = Suite::start_with(&[DpopPolicy::Accept, DpopPolicy::Require], &ours).await;
    let bad = Outcome::BadProof;
    let attacks = [
        Attack::claims("no nonce", Outcome::UseNonce, |_, c| c.nonce = None),
        Attack::claims("a forged nonce", bad, |_, c| {
            c.nonce = Some("bm90IGEgc2VhbGVkIG5vbmNl".into());
        }),
        Attack::claims("a nonce of another server", bad, |_, c| {
            c.nonce = Some(foreign.clone());
        }),
        Attack::claims("our nonce with one character changed", bad, |_, c| {
            let mut nonce = c.nonce.clone().unwrap().into_bytes();
            nonce[4] = if nonce[4] == b'A' { b'B' } else { b'A' };
            c.nonce = Some(String::from_utf8(nonce).unwrap());
        }),
        Attack::new("a nonce that is not a string", bad, |b, m| {
            let mut payload = b.claims(m).to_json();
            payload["nonce"] = json!(1);
            Presented::dpop(&b.bound, &b.key.sign_with(b.key.header(), &payload))
        }),
        Attack::claims("our nonce (a positive control)", Outcome::Served, |_, _| {}),
    ];
    for bench in &suite.benches {
        let nonce = bench.fetch_nonce().await;
        *bench.nonce.lock().unwrap() = Some(nonce);
        bench.run(&attacks).await;
    }
    suite.finish();
}
