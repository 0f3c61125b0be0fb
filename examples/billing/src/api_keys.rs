//! `billing apikey create|list|revoke`: API keys for machine clients that cannot run OAuth,
//! stored as SHA-256 digests in `DATA_DIR/api-keys.json`, which `billing serve` on the same
//! directory reads and reloads when it changes.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use mcp_auth_runtime::auth::{ApiKeyFile, ApiKeyRecord, is_scope_token};

use crate::cli::{ApiKeyCommand, ApiKeyCreateArgs};

/// Runs a `billing apikey` command; returns what it prints.
pub(crate) fn run(command: &ApiKeyCommand) -> anyhow::Result<String> {
    match command {
        ApiKeyCommand::Create(args) => create(args),
        ApiKeyCommand::List(data) => list(&ApiKeyFile::new(data.api_keys_path())),
        ApiKeyCommand::Revoke { id, data } => {
            let file = ApiKeyFile::new(data.api_keys_path());
            anyhow::ensure!(file.revoke(id)?, "no key {id} in {}", file.path().display());
            Ok(format!(
                "Revoked {id}: the server refuses it from its next reload of {}\n",
                file.path().display()
            ))
        }
    }
}

/// Makes a key: the details, then the key alone on the last line. Only its digest is stored.
fn create(args: &ApiKeyCreateArgs) -> anyhow::Result<String> {
    let scopes: Vec<&str> = args
        .scopes
        .iter()
        .flat_map(|s| s.split_whitespace())
        .collect();
    for scope in &scopes {
        anyhow::ensure!(is_scope_token(scope), "`{scope}` is not a scope token");
        anyhow::ensure!(
            crate::dev::SCOPES.iter().any(|(known, _)| known == scope),
            "billing has no scope `{scope}`: use {}",
            crate::dev::SCOPES.map(|(s, _)| s).join(", ")
        );
    }
    anyhow::ensure!(!scopes.is_empty(), "a key needs at least one --scope");
    anyhow::ensure!(!args.tenant.trim().is_empty(), "--tenant cannot be empty");
    let (key, mut record) = ApiKeyRecord::generate("", scopes.iter().copied());
    record.subject = args
        .subject
        .clone()
        .unwrap_or_else(|| format!("api-key:{}", record.id));
    record = record.with_tenant(&args.tenant);
    if let Some(client_id) = &args.client_id {
        record = record.with_client_id(client_id);
    }
    if let Some(lifetime) = args.expires_in {
        record = record.with_expires_at(SystemTime::now() + lifetime);
    }
    let file = ApiKeyFile::new(args.data.api_keys_path());
    if let Some(dir) = file.path().parent() {
        crate::create_private_dir(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    file.add(record.clone())?;
    let mut out = String::new();
    let _ = writeln!(out, "Created API key {}", record.id);
    describe(&mut out, &record);
    let _ = writeln!(
        out,
        "Stored as a hash in {}. The key is shown once; keep it secret:",
        file.path().display()
    );
    let _ = writeln!(out, "{}", key.secret());
    Ok(out)
}

/// One block per key, never a digest.
fn list(file: &ApiKeyFile) -> anyhow::Result<String> {
    let records = file.list()?;
    if records.is_empty() {
        return Ok(format!("No API keys in {}\n", file.path().display()));
    }
    let mut out = String::new();
    for record in &records {
        let _ = writeln!(out, "{}", record.id);
        describe(&mut out, record);
    }
    Ok(out)
}

/// The principal, scopes and times of `record`, indented.
fn describe(out: &mut String, record: &ApiKeyRecord) {
    let _ = writeln!(out, "  subject    {}", record.subject);
    if let Some(client_id) = &record.client_id {
        let _ = writeln!(out, "  client id  {client_id}");
    }
    if let Some(tenant) = &record.tenant {
        let _ = writeln!(out, "  tenant     {tenant}");
    }
    let _ = writeln!(out, "  scopes     {}", record.scopes.join(" "));
    if let Some(created) = record.created_at {
        let _ = writeln!(out, "  created    {}", rfc3339(created));
    }
    let _ = writeln!(
        out,
        "  expires    {}",
        record.expires_at.map_or("never".to_owned(), rfc3339)
    );
}

/// `2026-12-04T05:00:00Z`.
fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The date of `days` since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times_print_as_rfc_3339() {
        assert_eq!(super::rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let time = UNIX_EPOCH + Duration::from_secs(1_796_360_400);
        assert_eq!(super::rfc3339(time), "2026-12-04T05:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(super::rfc3339(leap), "2000-02-29T00:00:00Z");
    }
}
