//! What metrics cost a request: `record_decision` (authenticated, authorized) and
//! `record_operation` of one `tools/call`, on one thread and on four at once (the series are
//! shared, so contention is what grows). Without metrics configured, none of this runs.
//!
//! `cargo bench -p mcp-auth-runtime --features fuzzing,prometheus --bench observe`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_auth_runtime::__observe::record_call;
use mcp_auth_runtime::observe::Metrics;

fn per_request(c: &mut Criterion) {
    let metrics = Metrics::new();
    let took = Duration::from_micros(850);
    c.bench_function("observe/record_call", |b| {
        b.iter(|| record_call(black_box(&metrics), black_box("void_invoice"), took));
    });
    c.bench_function("observe/record_call_4_threads", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..4 {
                    scope.spawn(|| {
                        for _ in 0..iters {
                            record_call(&metrics, "void_invoice", took);
                        }
                    });
                }
            });
            // Per request: four threads each recorded `iters` of them.
            start.elapsed() / 4
        });
    });
    c.bench_function("observe/prometheus_text", |b| {
        b.iter(|| black_box(metrics.prometheus_text()));
    });
}

criterion_group!(benches, per_request);
criterion_main!(benches);
