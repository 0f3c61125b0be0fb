//! Replayed DPoP proofs across replicas sharing Redis, with real tokens the test issuer signs
//! with `cnf.jkt`: the record of proof ids (`jti`) is shared, so a proof served by one
//! replica is refused by the other, even when both get it at once.
//! The replicas sit behind one public URI (`http://127.0.0.1/mcp`, each on its own port), the
//! `htu` of every proof.

use mcp_auth_runtime::auth::{Dpop, JwtVerifier};
use mcp_auth_test_support::dpop::DpopKey;
use mcp_auth_test_support::issuer::{Issuer, TestKey, claims};
use serde_json::json;

use super::{RedisServer, Replica, pair_with};

/// The public URI of both replicas.
const RESOURCE: &str = "http://127.0.0.1/mcp";

struct Bound {
    key: DpopKey,
    token: String,
    http: reqwest::Client,
}

impl Bound {
    /// A client key and a token bound to it, from a fresh issuer that both replicas trust;
    /// the replicas, sharing `redis`, with `Dpop::require()`.
    async fn replicas(redis: &RedisServer) -> (Bound, Replica, Replica) {
        let signer = TestKey::es256("as-1");
        let issuer = Issuer::start(&[&signer]).await;
        let url = issuer.url.clone();
        let (a, b) = pair_with(redis, move |builder, _| {
            let verifier = JwtVerifier::builder(url.clone(), RESOURCE).build().unwrap();
            builder.verifier(verifier).dpop(Dpop::require())
        })
        .await;
        let key = DpopKey::es256();
        let mut claims = claims(&issuer.url, RESOURCE, "t:use");
        claims["cnf"] = key.cnf();
        let bound = Bound {
            token: signer.sign(&claims),
            key,
            http: reqwest::Client::new(),
        };
        (bound, a, b)
    }

    /// A genuine proof for a POST to the public URI.
    fn proof(&self) -> String {
        self.key.proof("POST", RESOURCE, Some(&self.token))
    }

    /// A 2026-07-28 `tools/call` of `echo.name` to `replica` with `proof`: the status and the
    /// `WWW-Authenticate` challenges.
    async fn call(&self, replica: &Replica, proof: &str) -> (u16, Vec<String>) {
        let mut request = mcp_auth_test_support::modern::request(
            &self.http,
            &format!("http://{}/mcp", replica.addr),
            "",
            "application/json",
            json!({}),
            1,
            "tools/call",
            json!({ "name": "echo.name", "arguments": { "name": "ada" } }),
        )
        .build()
        .unwrap();
        let headers = request.headers_mut();
        headers.insert(
            "authorization",
            format!("DPoP {}", self.token).parse().unwrap(),
        );
        headers.insert("dpop", proof.parse().unwrap());
        let response = self.http.execute(request).await.unwrap();
        let challenges = mcp_auth_test_support::header_values(&response, "www-authenticate");
        (response.status().as_u16(), challenges)
    }
}

#[tokio::test]
async fn a_proof_served_by_one_replica_is_refused_by_the_other() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (client, a, b) = Bound::replicas(&redis).await;
    let proof = client.proof();
    assert_eq!(client.call(&a, &proof).await.0, 200, "the first use");
    for (replica, which) in [(&b, "the other replica"), (&a, "the same replica")] {
        let (status, challenges) = client.call(replica, &proof).await;
        assert_eq!(status, 401, "replayed on {which}");
        assert!(
            challenges
                .iter()
                .any(|c| c.starts_with("DPoP ") && c.contains(r#"error="invalid_dpop_proof""#)),
            "replayed on {which}: {challenges:?}"
        );
    }
    // The positive control: a fresh proof is served by either.
    assert_eq!(client.call(&b, &client.proof()).await.0, 200);
    assert_eq!(client.call(&a, &client.proof()).await.0, 200);
}

/// One proof sent 16 times to each replica at once: served once in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_sent_to_both_replicas_at_once_is_served_once() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (client, a, b) = Bound::replicas(&redis).await;
    let client = std::sync::Arc::new(client);
    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    for round in 0..3 {
        let proof = client.proof();
        let requests: Vec<_> = (0..32)
            .map(|i| {
                let (client, proof) = (client.clone(), proof.clone());
                let replica = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move { client.call(&replica, &proof).await.0 })
            })
            .collect();
        let mut statuses = Vec::new();
        for request in requests {
            statuses.push(request.await.unwrap());
        }
        let served = statuses.iter().filter(|&&s| s == 200).count();
        assert_eq!(served, 1, "round {round}: {statuses:?}");
        assert!(
            statuses.iter().all(|&s| s == 200 || s == 401),
            "round {round}: {statuses:?}"
        );
    }
}
