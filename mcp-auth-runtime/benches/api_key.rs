//! API key checks: how long a refusal takes must not depend on how much of the key was right.
//!
//! `api_key/right` is a good key; `api_key/wrong_first` and `api_key/wrong_last` differ from
//! it at the first and the last character of the secret. The secret is hashed and the
//! SHA-256 digests are compared in constant time, so the two wrong ones take the same time
//! (within noise); `api_key/unknown_id` (an id no record has) does the same work too.
//!
//! `cargo bench -p mcp-auth-runtime --bench api_key`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_auth_runtime::auth::{ApiKeyRecord, ApiKeys, TokenVerifier};

/// `key` with the character at `at` replaced by another one of the alphabet.
fn changed(key: &str, at: usize) -> String {
    let mut bytes = key.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

fn api_key(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // Many records, so that the lookup by id is the one of a real deployment.
    let mut records = Vec::new();
    let (key, record) = ApiKeyRecord::generate("bot", ["invoices:read"]);
    records.push(record);
    records.extend((0..10_000).map(|_| ApiKeyRecord::generate("other", ["a"]).1));
    let keys = ApiKeys::from_records(records);
    let key = key.secret().to_owned();
    let secret_at = key.rfind('_').unwrap() + 1;
    let cases = [
        ("right", key.clone()),
        ("wrong_first", changed(&key, secret_at)),
        ("wrong_last", changed(&key, key.len() - 1)),
        ("unknown_id", changed(&key, "mcpk_".len())),
    ];
    let mut group = c.benchmark_group("api_key");
    for (name, presented) in &cases {
        let accepted = runtime.block_on(keys.verify(presented)).is_ok();
        assert_eq!(accepted, *name == "right", "{name}");
        group.bench_function(*name, |b| {
            b.to_async(&runtime)
                .iter(|| async { keys.verify_shared(black_box(presented)).await.is_ok() })
        });
    }
    group.finish();
}

criterion_group!(benches, api_key);
criterion_main!(benches);
