//! Bearer-token verification over real HTTP, with tokens signed by keys generated here and
//! served by issuers on loopback: JWTs (`jwt`), RFC 7662 introspection (`introspection`),
//! scopes on routes of the application's own (`require_scopes`), DPoP-bound tokens and
//! their proofs (`dpop`), API keys next to JWTs (`api_keys`),
//! issuers that fail or misbehave (`issuer_faults`) and the cache of verified tokens
//! (`token_cache`). Attacks on a running server are in the `mcp` tests' `adversarial`.

mod api_keys;
mod dpop;
mod dpop_proof;
mod introspection;
mod issuer_faults;
mod jwt;
mod require_scopes;
mod token_cache;
