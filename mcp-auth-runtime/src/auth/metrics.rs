//! What the verifiers of this crate count for a server's [`Metrics`]: token cache lookups,
//! key-set fetches, requests refused for their peer's failures. A verifier of another type
//! counts nothing here (it may keep metrics of its own); one wrapping ours hides them.

use super::{ApiKeys, IntrospectionVerifier, JwtVerifier, SharedVerifier, VerifierChain};
use crate::observe::Metrics;

impl SharedVerifier {
    /// Attaches the counters of the verifier behind this one to `metrics`.
    pub(crate) fn attach_metrics(&self, metrics: &Metrics) {
        let verifier = self.0.as_any();
        if let Some(jwt) = verifier.downcast_ref::<JwtVerifier>() {
            jwt.attach_metrics(metrics);
        } else if let Some(introspection) = verifier.downcast_ref::<IntrospectionVerifier>() {
            introspection.attach_metrics(metrics);
        } else if let Some(keys) = verifier.downcast_ref::<ApiKeys>() {
            keys.attach_metrics(metrics);
        } else if let Some(chain) = verifier.downcast_ref::<VerifierChain>() {
            chain.attach_metrics(metrics);
        } else if let Some(shared) = verifier.downcast_ref::<SharedVerifier>() {
            shared.attach_metrics(metrics);
        }
    }
}
