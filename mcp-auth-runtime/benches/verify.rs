//! Token verification and scope checks.
//!
//! `verify/<alg>/cold` checks a token from scratch (the verified-token cache off): header,
//! signature, claims, audience. `verify/<alg>/cached` is the same token again through the
//! cache: a SHA-256 of the token and a lookup. Keys are static, so nothing is fetched.
//!
//! `dpop/<alg>` checks a DPoP proof (`Dpop::verify_proof`): header, key, signature, claims,
//! and its entry in the in-memory replay record.
//!
//! `cargo bench -p mcp-auth-runtime --bench verify`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mcp_auth_runtime::ScopePolicy;
use mcp_auth_runtime::auth::{AuthInfo, Dpop, JwkSet, JwtVerifier, ProofRequest, TokenVerifier};

use mcp_auth_test_support::dpop::DpopKey;
use mcp_auth_test_support::issuer;

use issuer::{TestKey, claims};

const ISSUER: &str = "https://auth.example.com";
const RESOURCE: &str = "https://billing.example.com/mcp";

fn verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("verify");
    for (name, key) in [
        ("rs256", TestKey::rsa("rs")),
        ("es256", TestKey::es256("es")),
        ("eddsa", TestKey::ed25519("ed")),
    ] {
        let token = key.sign(&claims(ISSUER, RESOURCE, "invoices:read invoices:write"));
        for (mode, capacity) in [("cold", 0), ("cached", JwtVerifier::DEFAULT_CACHE_CAPACITY)] {
            let verifier = JwtVerifier::builder(ISSUER, RESOURCE)
                .static_keys(JwkSet::from_value(serde_json::json!({ "keys": [key.jwk] })).unwrap())
                .tenant_claim("tenant")
                .cache_capacity(capacity)
                .build()
                .unwrap();
            let auth = runtime.block_on(verifier.verify_shared(&token)).unwrap();
            assert_eq!(auth.tenant(), Some("acme"));
            group.bench_function(format!("{name}/{mode}"), |b| {
                b.to_async(&runtime)
                    .iter(|| async { verifier.verify_shared(black_box(&token)).await.unwrap() })
            });
        }
    }
    group.finish();
}

/// Proofs signed in advance per algorithm: signing (an RSA signature takes about a
/// millisecond) stays out of the loop.
const PROOFS: usize = 2_000;

fn dpop(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("dpop");
    let token = "an-access-token";
    let request = ProofRequest {
        method: &http::Method::POST,
        uri: RESOURCE,
        access_token: Some(token),
    };
    for (name, key) in [
        ("es256", DpopKey::es256()),
        ("es384", DpopKey::es384()),
        ("eddsa", DpopKey::ed25519()),
        ("ps256", DpopKey::rsa_with(jsonwebtoken::Algorithm::PS256)),
        ("rs256", DpopKey::rsa()),
    ] {
        // Each proof has its own `jti`. A proof is accepted once per replay record, so every
        // iteration verifies a proof its record has not seen: the pool is walked in order,
        // and a fresh `Dpop` (empty record) starts each pass. Measured: one `verify_proof`
        // (all checks, the SHA-256s, the signature, one insert into a record holding fewer
        // than PROOFS entries); the setup (picking the next proof, cloning an `Arc`) is not.
        let proofs: Vec<String> = (0..PROOFS)
            .map(|_| key.proof("POST", RESOURCE, Some(token)))
            .collect();
        let mut dpop = Dpop::accept();
        runtime
            .block_on(dpop.verify_proof(&proofs[0], request))
            .unwrap();
        let mut next = 1;
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_batched(
                || {
                    if next == PROOFS {
                        (dpop, next) = (Dpop::accept(), 0);
                    }
                    next += 1;
                    (dpop.clone(), &proofs[next - 1])
                },
                |(dpop, proof)| async move {
                    dpop.verify_proof(black_box(proof), request).await.unwrap()
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn scope(c: &mut Criterion) {
    let mut group = c.benchmark_group("scope");
    let auth = AuthInfo::new("alice").with_scopes(["invoices:read", "invoices:write", "profile"]);
    let exact = ScopePolicy::exact();
    group.bench_function("exact", |b| {
        b.iter(|| exact.require(black_box(&auth), black_box(&["invoices:write"])))
    });
    let hierarchical = ScopePolicy::hierarchical();
    let writer = AuthInfo::new("bob").with_scopes(["payments:read", "invoices:write"]);
    group.bench_function("hierarchical", |b| {
        b.iter(|| hierarchical.require(black_box(&writer), black_box(&["invoices:read"])))
    });
    group.finish();
}

criterion_group!(benches, verify, dpop, scope);
criterion_main!(benches);
