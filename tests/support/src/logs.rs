//! Captures what is logged, for tests that assert what is logged (and what never is): the
//! `tracing` output of the current thread, or of the whole process with the `log` records of
//! dependencies (reqwest, hyper-util) as well.

use std::sync::{Arc, Mutex};

/// What was logged while the guard of [`Logs::capture`] lived.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Captures every level on this thread until the returned guard drops. With
    /// `#[tokio::test]`'s single-threaded runtime that includes the tasks of servers under test.
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = {
            let logs = logs.clone();
            move || logs.clone()
        };
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(writer)
            .with_ansi(false)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    /// Captures every `tracing` event of every thread, for the rest of the process. A test that
    /// calls it needs a test binary of its own: the subscriber can be set only once.
    pub fn capture_global() -> Logs {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    }

    /// [`Logs::capture_global`], and every `log` record as well (as `LOG <level> <target>:
    /// <message>` lines).
    pub fn capture_global_with_log() -> Logs {
        let logs = Logs::capture_global();
        log::set_boxed_logger(Box::new(logs.clone())).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        logs
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl log::Log for Logs {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!(
            "LOG {} {}: {}\n",
            record.level(),
            record.target(),
            record.args()
        );
        self.0.lock().unwrap().extend_from_slice(line.as_bytes());
    }

    fn flush(&self) {}
}
