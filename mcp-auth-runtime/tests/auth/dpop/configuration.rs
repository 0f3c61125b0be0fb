//! DPoP configurations `build()` refuses, each with a message that says what to change.

use mcp_auth_runtime::BuildError;
use mcp_auth_runtime::auth::{Algorithm, DpopConfigError};
use mcp_auth_test_support::tools::Users;

use super::*;

fn build(configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder) -> BuildError {
    let builder = McpServer::builder("dpop", "1.0.0")
        .tools(tools![read_thing])
        .verifier(Users);
    configure(builder).build().unwrap_err()
}

#[test]
fn configurations_that_cannot_work_are_refused() {
    let resource = "https://mcp.example.com/mcp";
    let error = build(|b| b.dpop(Dpop::accept()));
    assert!(matches!(error, BuildError::DpopWithoutResource), "{error}");
    assert!(error.to_string().contains(".resource(..)"), "{error}");
    for (dpop, expected, hint) in [
        (
            Dpop::accept().algorithms([Algorithm::ES256, Algorithm::HS512]),
            DpopConfigError::SymmetricAlgorithm(Algorithm::HS512),
            "asymmetric algorithms only",
        ),
        (
            Dpop::require().algorithms([]),
            DpopConfigError::NoAlgorithms,
            "at least one",
        ),
        (
            Dpop::accept().nonces([1u8; 16]),
            DpopConfigError::NonceKeyTooShort(16),
            "at least 32 bytes",
        ),
        (
            Dpop::accept()
                .nonces([1u8; 32])
                .previous_nonce_key([1u8; 31]),
            DpopConfigError::NonceKeyTooShort(31),
            "at least 32 bytes",
        ),
        (
            Dpop::accept().previous_nonce_key([1u8; 32]),
            DpopConfigError::PreviousNonceKeyWithoutCurrent,
            "Dpop::nonces",
        ),
        (
            Dpop::accept().replay_capacity(5),
            DpopConfigError::ReplayCapacity {
                capacity: 5,
                per_key: 0,
            },
            "at least one proof",
        ),
        (
            Dpop::accept()
                .replay_capacity(100)
                .replay_capacity_per_key(101),
            DpopConfigError::ReplayCapacity {
                capacity: 100,
                per_key: 101,
            },
            "no more than the whole",
        ),
    ] {
        let error = build(|b| b.resource(resource).dpop(dpop));
        assert!(
            matches!(&error, BuildError::Dpop(e) if *e == expected),
            "{error:?}"
        );
        assert!(error.to_string().contains(hint), "{error}");
    }
    // Off needs nothing, and checks nothing it would not use.
    let off = McpServer::builder("dpop", "1.0.0")
        .tools(tools![read_thing])
        .verifier(Users)
        .resource(resource)
        .dpop(Dpop::off().algorithms([]))
        .build();
    assert!(off.is_ok());
}
