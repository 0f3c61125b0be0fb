//! Warnings an operator must see even without a tracing subscriber: a server running without
//! authentication, a development issuer, a misconfigured mount.
//!
//! They go to `tracing` as every other event; when no subscriber would receive them (none is
//! installed, globally or for this thread), they also go to stderr, since otherwise the one
//! line that says "never in production" is dropped unseen. They never carry a secret.

use std::fmt;
use std::io::Write;

/// A warning about the configuration, logged and, without a subscriber, written to stderr.
pub(crate) fn visible_warning(message: fmt::Arguments<'_>) {
    tracing::warn!("{message}");
    to_stderr_without_subscriber("WARN", message, &mut std::io::stderr().lock());
}

/// An error in the configuration found at run time, logged and, without a subscriber, written
/// to stderr.
pub(crate) fn visible_error(message: fmt::Arguments<'_>) {
    tracing::error!("{message}");
    to_stderr_without_subscriber("ERROR", message, &mut std::io::stderr().lock());
}

fn to_stderr_without_subscriber(level: &str, message: fmt::Arguments<'_>, out: &mut dyn Write) {
    if no_subscriber() {
        // Nothing else reports a failed write to stderr; there is nowhere left to say it.
        let _ = writeln!(out, "{level} mcp_auth_runtime: {message}");
    }
}

/// Whether events of this thread reach no subscriber: none was set globally
/// (`tracing::dispatcher::has_been_set`) nor for this scope.
fn no_subscriber() -> bool {
    tracing::dispatcher::get_default(|dispatch| dispatch.is::<tracing::subscriber::NoSubscriber>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(message: fmt::Arguments<'_>) -> String {
        let mut out = Vec::new();
        to_stderr_without_subscriber("WARN", message, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn without_a_subscriber_the_warning_goes_to_stderr() {
        assert_eq!(
            written(format_args!("runs without {}", "authentication")),
            "WARN mcp_auth_runtime: runs without authentication\n"
        );
    }

    #[test]
    fn with_a_subscriber_it_goes_to_the_subscriber_only() {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            assert_eq!(written(format_args!("runs without authentication")), "");
        });
    }
}
