//! The key file on a running server: added and revoked keys take effect without a restart,
//! expired keys are refused, and a file that goes bad keeps the keys loaded before.

use std::time::{Duration, SystemTime};

use mcp_auth_runtime::auth::{ApiKeyFile, ApiKeyRecord, ApiKeys, Readiness, TokenVerifier};
use mcp_auth_test_support::fixture::{TempDir, within};

use super::{Fixture, RELOADED};

#[tokio::test]
async fn added_and_revoked_keys_take_effect_without_a_restart() {
    within(async {
        let fx = Fixture::start(20).await;
        // The file did not exist when the server started: this key comes with a reload.
        let (key, id) = fx.add_key(&["things:read"]).await;
        assert_eq!(fx.call(key.secret(), "read_thing").await.0, 200);
        let (other, _) = fx.add_key(&["things:read"]).await;
        assert!(fx.file.revoke(&id).unwrap());
        assert!(!fx.file.revoke(&id).unwrap(), "revoked twice");
        tokio::time::sleep(RELOADED).await;
        fx.assert_refused(key.secret(), "a revoked key").await;
        assert_eq!(fx.call(other.secret(), "read_thing").await.0, 200);
        // Deleting the file revokes every key.
        std::fs::remove_file(fx.file.path()).unwrap();
        tokio::time::sleep(RELOADED).await;
        fx.assert_refused(other.secret(), "a key of a deleted file")
            .await;
    })
    .await;
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    within(async {
        let fx = Fixture::start(20).await;
        let past = SystemTime::now() - Duration::from_secs(1);
        let future = SystemTime::now() + Duration::from_secs(3600);
        let (expired, record) = ApiKeyRecord::generate("bot", ["things:read"]);
        fx.file.add(record.with_expires_at(past)).unwrap();
        let (valid, record) = ApiKeyRecord::generate("bot", ["things:read"]);
        fx.file.add(record.with_expires_at(future)).unwrap();
        tokio::time::sleep(RELOADED).await;
        fx.assert_refused(expired.secret(), "an expired key").await;
        assert_eq!(fx.call(valid.secret(), "read_thing").await.0, 200);
    })
    .await;
}

#[tokio::test]
async fn a_file_that_goes_bad_keeps_the_keys_loaded_before() {
    within(async {
        let fx = Fixture::start(20).await;
        let (key, _) = fx.add_key(&["things:read"]).await;
        tokio::time::sleep(RELOADED).await;
        assert_eq!(fx.call(key.secret(), "read_thing").await.0, 200);
        let good = std::fs::read_to_string(fx.file.path()).unwrap();
        // Half a file (an editor writing in place), then a record with a misspelt field.
        let path = fx.file.path().to_owned();
        std::fs::write(&path, &good[..good.len() / 2]).unwrap();
        tokio::time::sleep(RELOADED).await;
        assert_eq!(
            fx.call(key.secret(), "read_thing").await.0,
            200,
            "half a file"
        );
        std::fs::write(&path, good.replace("\"expires_at\"", "\"expires\"")).unwrap();
        tokio::time::sleep(RELOADED).await;
        assert_eq!(
            fx.call(key.secret(), "read_thing").await.0,
            200,
            "a bad field"
        );
        // Fixed: read again, and a revocation in it counts.
        std::fs::write(&path, "{\"keys\": []}").unwrap();
        tokio::time::sleep(RELOADED).await;
        fx.assert_refused(key.secret(), "revoked in a fixed file")
            .await;
    })
    .await;
}

#[tokio::test]
async fn bad_files_are_refused_at_start_and_reported_at_reload() {
    let dir = TempDir::new("api-key-files");
    let path = dir.path().join("keys.json");
    let file = ApiKeyFile::new(&path);
    let (key, record) = ApiKeyRecord::generate("bot", ["a"]);
    let id = record.id.clone();
    file.add(record.clone()).unwrap();
    assert!(file.add(record).is_err(), "an id twice");
    let keys = ApiKeys::from_file(&path).unwrap();
    assert_eq!(keys.reload().unwrap(), 1);
    assert_eq!(keys.ready().await, Readiness::Ready);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = ApiKeys::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("writable"), "{err}");
        assert!(keys.reload().is_err());
        assert!(matches!(keys.ready().await, Readiness::Degraded(_)));
        // The keys loaded before stay in use.
        assert!(keys.verify(key.secret()).await.is_ok());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let good = std::fs::read_to_string(&path).unwrap();
    let digest = file.list().unwrap()[0].digest.clone();
    for (bad, why) in [
        (good.replace(&id, "../../etc/passwd"), "an id with a path"),
        (good.replace(&id, "a\\\"b"), "an id with a quote"),
        (good.replace("sha256:", "sha1:"), "another digest"),
        (good.replace("\"a\"", "\"a b\""), "a scope with a space"),
        (format!("{good}{good}"), "two documents"),
        ("[]".to_owned(), "not an object"),
    ] {
        std::fs::write(&path, &bad).unwrap();
        let err = ApiKeys::from_file(&path).expect_err(why).to_string();
        assert!(!err.contains(&digest[7..]), "{why}: the digest in {err}");
        assert!(keys.reload().is_err(), "{why}");
        assert!(keys.verify(key.secret()).await.is_ok(), "{why}");
    }
    std::fs::write(&path, "{\"keys\": []}").unwrap();
    assert_eq!(keys.reload().unwrap(), 0);
    assert!(keys.verify(key.secret()).await.is_err());
}

#[test]
fn concurrent_writers_lose_no_key() {
    let dir = TempDir::new("api-key-writers");
    let path = dir.path().join("keys.json");
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let file = ApiKeyFile::new(&path);
            std::thread::spawn(move || {
                for _ in 0..10 {
                    file.add(ApiKeyRecord::generate("bot", ["a"]).1).unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    assert_eq!(ApiKeyFile::new(&path).list().unwrap().len(), 80);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_present_throughout_never_fails_while_the_file_churns() {
    let dir = TempDir::new("api-key-churn");
    let file = ApiKeyFile::new(dir.path().join("keys.json"));
    let (key, record) = ApiKeyRecord::generate("bot", ["a"]);
    file.add(record).unwrap();
    // Every request looks at the file: the most reloads, the most chances to see half a file.
    let keys = ApiKeys::from_file(file.path())
        .unwrap()
        .reload_interval(Duration::ZERO);
    let writer = {
        let file = file.clone();
        std::thread::spawn(move || {
            for _ in 0..100 {
                let (_, other) = ApiKeyRecord::generate("other", ["a"]);
                let id = other.id.clone();
                file.add(other).unwrap();
                file.revoke(&id).unwrap();
            }
        })
    };
    let mut checks = 0;
    while !writer.is_finished() {
        let caller = keys.verify(key.secret()).await;
        assert_eq!(caller.unwrap().subject(), Some("bot"));
        checks += 1;
        tokio::task::yield_now().await;
    }
    writer.join().unwrap();
    assert!(checks > 0);
    assert_eq!(keys.reload().unwrap(), 1);
}

/// In a directory anyone may write, anyone can rename a file of their own (owned by them,
/// mode 0600 or 0644: the file's mode check passes) over the key file, with their own key.
#[cfg(unix)]
#[tokio::test]
async fn a_key_file_in_a_directory_others_may_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("api-key-shared-dir");
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let path = shared.join("keys.json");
    let (key, record) = ApiKeyRecord::generate("intruder", ["a"]);
    ApiKeyFile::new(&path).add(record).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = ApiKeys::from_file(&path).unwrap_err().to_string();
    assert!(err.contains("directory"), "{err}");
    // Loaded before the directory was opened up: a replaced file is not taken at a reload.
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o700)).unwrap();
    let keys = ApiKeys::from_file(&path).unwrap();
    assert!(keys.verify(key.secret()).await.is_ok());
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(keys.reload().is_err());
}
