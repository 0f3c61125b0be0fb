//! Warnings an operator must see even without a tracing subscriber: a server running without
//! authentication, a development issuer, a misconfigured mount.
//!
//! They go to `tracing` as every other event, from the module that raises them; when no
//! subscriber would receive them (none is installed, globally or for this thread), they also
//! go to stderr, since otherwise the one line that says "never in production" is dropped
//! unseen. They never carry a secret.

use std::fmt;
use std::io::Write;

/// A warning about the configuration: `tracing::warn!`, and stderr without a subscriber.
macro_rules! visible_warning {
    ($($message:tt)+) => {{
        ::tracing::warn!($($message)+);
        $crate::server::to_stderr_without_subscriber("WARN", format_args!($($message)+));
    }};
}

/// An error in the configuration found at run time: `tracing::error!`, and stderr without a
/// subscriber.
macro_rules! visible_error {
    ($($message:tt)+) => {{
        ::tracing::error!($($message)+);
        $crate::server::to_stderr_without_subscriber("ERROR", format_args!($($message)+));
    }};
}

pub(crate) use {visible_error, visible_warning};

/// Writes `message` to stderr when no subscriber receives this thread's events.
pub(crate) fn to_stderr_without_subscriber(level: &str, message: fmt::Arguments<'_>) {
    if no_subscriber() {
        write_line(level, message, &mut std::io::stderr().lock());
    }
}

fn write_line(level: &str, message: fmt::Arguments<'_>, out: &mut dyn Write) {
    // Nothing else reports a failed write to stderr; there is nowhere left to say it.
    let _ = writeln!(out, "{level} mcp_auth_runtime: {message}");
}

/// Whether events of this thread reach no subscriber: none was set globally
/// (`tracing::dispatcher::has_been_set`) nor for this scope.
fn no_subscriber() -> bool {
    tracing::dispatcher::get_default(|dispatch| dispatch.is::<tracing::subscriber::NoSubscriber>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_level_and_the_crate() {
        let mut out = Vec::new();
        write_line(
            "WARN",
            format_args!("runs without {}", "authentication"),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "WARN mcp_auth_runtime: runs without authentication\n"
        );
    }

    #[test]
    fn only_a_thread_without_a_subscriber_has_none() {
        assert!(no_subscriber());
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || assert!(!no_subscriber()));
    }
}
