//! [`Tee`]: one audit trail written to two sinks.

use super::{AuditEvent, AuditSink};

/// Records every event in two sinks, `first` then `second`: a database and a file, say.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use mcp_auth_runtime::observe::audit::{AuditEvent, AuditOutcome, AuditSink, Tee};
///
/// let (a, b) = (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(0)));
/// let count = |n: &Arc<Mutex<i32>>| {
///     let n = n.clone();
///     move |_: &AuditEvent| *n.lock().unwrap() += 1
/// };
/// let tee = Tee::new(count(&a), count(&b));
/// tee.record(&AuditEvent::new(AuditOutcome::Done));
/// assert_eq!((*a.lock().unwrap(), *b.lock().unwrap()), (1, 1));
/// ```
#[derive(Debug, Clone)]
pub struct Tee<A, B> {
    first: A,
    second: B,
}

impl<A: AuditSink, B: AuditSink> Tee<A, B> {
    /// Both sinks.
    pub fn new(first: A, second: B) -> Self {
        Tee { first, second }
    }

    /// The first sink.
    pub fn first(&self) -> &A {
        &self.first
    }

    /// The second sink.
    pub fn second(&self) -> &B {
        &self.second
    }
}

impl<A: AuditSink, B: AuditSink> AuditSink for Tee<A, B> {
    fn record(&self, event: &AuditEvent) {
        self.first.record(event);
        self.second.record(event);
    }
}
