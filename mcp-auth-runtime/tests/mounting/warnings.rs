//! Start-up warnings reach stderr when no tracing subscriber would show them, and only then.
//!
//! Whether a global subscriber is set is process-wide, so each case runs this test binary
//! again as a child process, with the case's name in `MOUNTING_WARNINGS_CHILD`.

use std::process::Command;

use super::server;

const CHILD: &str = "MOUNTING_WARNINGS_CHILD";

/// Runs the test `name` of this binary in a child process; returns its stderr.
fn run_child(name: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stderr).unwrap()
}

fn is_child(name: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|child| child == name)
}

#[test]
fn without_a_subscriber_the_no_auth_warning_goes_to_stderr() {
    const NAME: &str = "warnings::without_a_subscriber_the_no_auth_warning_goes_to_stderr";
    if is_child(NAME) {
        server().without_auth().build().unwrap();
        return;
    }
    let stderr = run_child(NAME);
    assert!(
        stderr.contains("WARN mcp_auth_runtime: MCP server `reports` runs WITHOUT AUTHENTICATION"),
        "{stderr}"
    );
}

#[test]
fn with_a_subscriber_the_warning_goes_to_it_alone() {
    const NAME: &str = "warnings::with_a_subscriber_the_warning_goes_to_it_alone";
    if is_child(NAME) {
        tracing_subscriber::fmt()
            .with_writer(std::io::stdout)
            .with_ansi(false)
            .init();
        server().without_auth().build().unwrap();
        return;
    }
    let stderr = run_child(NAME);
    assert!(!stderr.contains("WITHOUT AUTHENTICATION"), "{stderr}");
}
