//! Bounds and scratch space for tests that run whole servers.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The longest any test may run.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `test`, failing it if it takes longer than [`TEST_TIMEOUT`].
pub async fn within<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("the test did not finish in time")
}

/// Waits, if need be, until at least `needed` is left of the current fixed rate-limit window
/// of length `window` (the runtime's windows are aligned to the clock: a per-minute quota
/// counts from each whole minute). A test that expects its second call in a window to be
/// refused calls this first, so that its calls cannot straddle two windows and pass.
pub async fn time_left_in_window(window: Duration, needed: Duration) {
    assert!(
        needed < window,
        "a window of {window:?} never has {needed:?} left"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let window_ms = window.as_millis();
    let left = window_ms - now % window_ms;
    if left < needed.as_millis() {
        tokio::time::sleep(Duration::from_millis(left as u64 + 10)).await;
    }
}

/// An HTTP client that never goes through a proxy and never waits long.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory under the system's temporary directory, named after `prefix`.
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Its path, as UTF-8.
    pub fn str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
