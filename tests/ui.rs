//! Compile-fail cases of `#[tool]`, `#[resource]` and `#[prompt]`: each `ui/*.rs`,
//! `ui/resource/*.rs`, `ui/prompt/*.rs` and `ui/authorize/*.rs` (conditional scopes) makes one
//! mistake, and its `.stderr` is the message a user sees. Bless with
//! `TRYBUILD=overwrite cargo test -p mcp-auth-tests --test ui`.

#[rustversion::attr(not(stable(1.95)), ignore = "stderr is blessed on Rust 1.95")]
#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("ui/*.rs");
}

#[rustversion::attr(not(stable(1.95)), ignore = "stderr is blessed on Rust 1.95")]
#[test]
fn ui_resources() {
    trybuild::TestCases::new().compile_fail("ui/resource/*.rs");
}

#[rustversion::attr(not(stable(1.95)), ignore = "stderr is blessed on Rust 1.95")]
#[test]
fn ui_prompts() {
    trybuild::TestCases::new().compile_fail("ui/prompt/*.rs");
}

#[rustversion::attr(not(stable(1.95)), ignore = "stderr is blessed on Rust 1.95")]
#[test]
fn ui_authorize() {
    trybuild::TestCases::new().compile_fail("ui/authorize/*.rs");
}

#[rustversion::attr(not(stable(1.95)), ignore = "stderr is blessed on Rust 1.95")]
#[test]
fn ui_headers() {
    trybuild::TestCases::new().compile_fail("ui/header/*.rs");
}
