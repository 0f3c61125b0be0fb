//! DPoP across replicas: with `redis_sessions`, the record of used proofs lives in Redis, so
//! that a proof used at one replica is refused at every other (RFC 9449 §11.1).

use mcp_auth_runtime::McpServerBuilder;
use mcp_auth_runtime::auth::{AuthError, AuthInfo, Dpop, TokenVerifier};
use mcp_auth_test_support::dpop::DpopKey;
use serde_json::json;

use super::{RedisServer, Replica, pair_with};

/// Every token is `user-1`'s, bound to the key of thumbprint `.0`.
struct Bound(String);

impl TokenVerifier for Bound {
    async fn verify(&self, _token: &str) -> Result<AuthInfo, AuthError> {
        Ok(AuthInfo::new("user-1")
            .with_client_id("c")
            .with_scopes(["t:use"])
            .with_dpop_thumbprint(self.0.clone()))
    }
}

/// The replicas' public URI: a load balancer in front of both (their resource).
const PUBLIC: &str = "http://127.0.0.1/mcp";
const TOKEN: &str = "bound-token";

/// A 2026-07-28 `tools/list` to `replica` with `proof`; the status.
async fn list(replica: &Replica, proof: &str) -> u16 {
    let mut request = mcp_auth_test_support::modern::request(
        &reqwest::Client::new(),
        &format!("http://{}/mcp", replica.addr),
        TOKEN,
        "application/json",
        json!({}),
        1,
        "tools/list",
        json!({}),
    )
    .build()
    .unwrap();
    let headers = request.headers_mut();
    headers.insert("authorization", format!("DPoP {TOKEN}").parse().unwrap());
    headers.insert("dpop", proof.parse().unwrap());
    reqwest::Client::new()
        .execute(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_proof_used_at_one_replica_is_refused_at_the_other() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let key = DpopKey::es256();
    let thumbprint = key.thumbprint();
    let configure = |builder: McpServerBuilder, _: &_| {
        builder
            .verifier(Bound(thumbprint.clone()))
            .dpop(Dpop::require())
    };
    let (a, b) = pair_with(&redis, configure).await;
    let proof = key.proof("POST", PUBLIC, Some(TOKEN));
    assert_eq!(list(&a, &proof).await, 200);
    assert_eq!(list(&b, &proof).await, 401, "replayed at the other replica");
    assert_eq!(list(&a, &proof).await, 401, "replayed at the same replica");
    let fresh = key.proof("POST", PUBLIC, Some(TOKEN));
    assert_eq!(list(&b, &fresh).await, 200);
}
