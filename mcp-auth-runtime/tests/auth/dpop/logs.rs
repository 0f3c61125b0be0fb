//! No token and no proof reaches the logs, whatever happens to a DPoP request: every
//! outcome of the policy table, nonces and replays, with every event at TRACE captured (the
//! servers run on the test's thread).

use mcp_auth_test_support::logs::Logs;

use super::*;

#[tokio::test]
async fn no_token_or_proof_is_ever_logged() {
    let (logs, _guard) = Logs::capture();
    let mut secrets: Vec<String> = Vec::new();
    for kind in KINDS {
        let fx = Fx::start(kind, Dpop::accept().nonces([3u8; 32])).await;
        let key = DpopKey::es256();
        let bound = fx.token("things:read", Some(&key));
        let unbound = fx.token("things:read", None);
        let other = fx.token_with(
            "things:read",
            json!({ "aud": "https://other.example.com/mcp" }),
        );
        let proof = |token: &str, nonce: Option<String>| {
            let mut claims = key.claims("POST", &fx.resource, Some(token));
            claims.nonce = nonce;
            key.sign(&claims)
        };
        let with = |token: &str, scheme: &str, proofs: &[String]| {
            authorized(fx.call("read_thing"), &format!("{scheme} {token}"), proofs)
        };
        // No nonce yet, then the honest request, then its replay.
        let first = proof(&bound, None);
        let asked = fx
            .send(with(&bound, "DPoP", std::slice::from_ref(&first)))
            .await;
        assert_eq!(asked.status, 401);
        let honest = proof(&bound, asked.nonce.clone());
        let answer = fx
            .send(with(&bound, "DPoP", std::slice::from_ref(&honest)))
            .await;
        answer.assert_called("read");
        let replayed = fx
            .send(with(&bound, "DPoP", std::slice::from_ref(&honest)))
            .await;
        assert_eq!(replayed.status, 401);
        let stranger = DpopKey::es256();
        let mut claims = stranger.claims("POST", &fx.resource, Some(&bound));
        claims.nonce = asked.nonce.clone();
        let by_stranger = stranger.sign(&claims);
        let refusals = [
            with(&bound, "Bearer", &[]),
            with(&unbound, "Bearer", std::slice::from_ref(&honest)),
            with(&unbound, "DPoP", &[proof(&unbound, asked.nonce.clone())]),
            with(&bound, "DPoP", &[]),
            with(&bound, "DPoP", &[honest.clone(), honest.clone()]),
            with(&bound, "DPoP", std::slice::from_ref(&by_stranger)),
            with(&other, "DPoP", &[proof(&other, asked.nonce.clone())]),
            with(&bound, "DPoP", &[format!("{honest}x")]),
        ];
        for request in refusals {
            let answer = fx.send(request).await;
            assert!(matches!(answer.status, 400 | 401), "{answer:?}");
        }
        secrets.extend([bound, unbound, other, first, honest, by_stranger]);
    }
    let text = logs.text();
    for expected in [
        "DPoP proof rejected",
        "bearer token rejected",
        "authorization scheme refused",
    ] {
        assert!(text.contains(expected), "`{expected}` is logged:\n{text}");
    }
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a token or proof is logged:\n{text}"
        );
        if let Some((_, signature)) = secret.rsplit_once('.')
            && signature.len() > 16
        {
            assert!(!text.contains(signature), "a signature is logged:\n{text}");
        }
    }
}
