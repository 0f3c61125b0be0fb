//! The SDKs in other languages (the TypeScript SDK v1 and v2, FastMCP in Python): installing
//! their pinned dependencies, starting them, and the report's lines that compare mcp-auth with
//! its peers and with the hello-world floor.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::ensure;

use super::{Figures, Options, Target, pinned, require};

/// Installs what the wanted peers need: `npm ci` in `ts/` for either TypeScript server; for
/// FastMCP a virtual environment in `py/.venv` (made once) with `py/requirements.txt`, every
/// package pinned to an exact version.
pub(super) fn install(options: &Options, root: &Path) -> anyhow::Result<()> {
    if options.wants("ts") || options.wants("ts-v2") {
        require("node", "install Node.js 20 or later")?;
        require("npm", "install npm")?;
        eprintln!("== npm ci (benches/load/ts)");
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(root.join("ts"))
            .status()?;
        ensure!(status.success(), "npm ci failed");
    }
    if options.wants("fastmcp") {
        require(
            "python3",
            "install Python 3.10 or later with its venv module",
        )?;
        let venv = root.join("py/.venv");
        if !venv.join("bin/python").exists() {
            eprintln!("== python3 -m venv benches/load/py/.venv");
            let status = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()?;
            ensure!(status.success(), "python3 -m venv failed");
        }
        eprintln!("== pip install -r benches/load/py/requirements.txt");
        let status = Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--require-virtualenv",
                "--disable-pip-version-check",
                "--no-deps",
                "-r",
            ])
            .arg(root.join("py/requirements.txt"))
            .status()?;
        ensure!(status.success(), "pip install failed");
    }
    Ok(())
}

/// Starts the peer `name` on the harness's port, if it is one of this module's; its pid is the
/// server's own (`node` or `python`), so that its CPU and RSS are the server's.
pub(super) fn start(
    name: &str,
    options: &Options,
    issuer: &str,
    root: &Path,
) -> Option<anyhow::Result<Child>> {
    let port = options.port.to_string();
    let mut command = match name {
        "ts" => {
            let mut node = pinned(options, "0", "node");
            node.arg(root.join("ts/server.mjs"));
            node
        }
        "ts-v2" => {
            let mut node = pinned(options, "0", "node");
            node.arg(root.join("ts/server-v2.mjs"));
            node
        }
        "fastmcp" => {
            let mut python = pinned(options, "0", root.join("py/.venv/bin/python"));
            python.arg(root.join("py/server.py"));
            python
        }
        _ => return None,
    };
    Some(
        command
            .args([&port, issuer])
            .stdout(Stdio::null())
            .spawn()
            .map_err(Into::into),
    )
}

/// The JSON-RPC message of an answer: the body itself, or the one `data:` line of an answer
/// sent as a one-event SSE stream. The TypeScript SDK v2 answers a 2025-era call that way
/// whatever its `responseMode` (which shapes only its 2026-07-28 exchanges); the request's
/// `Accept` allows both, as the transport requires, and `wrk` counts either as a 200.
pub(super) fn message(text: &str) -> &str {
    text.lines()
        .find_map(|line| line.strip_prefix("data:"))
        .map_or(text, str::trim)
}

/// Figures of the server `name`, if it was measured.
fn find<'a>(results: &'a [(&Target, Figures)], name: &str) -> Option<&'a Figures> {
    results.iter().find(|(t, _)| t.name == name).map(|(_, f)| f)
}

fn label(name: &str) -> &'static str {
    super::TARGETS
        .iter()
        .find(|t| t.name == name)
        .map_or("?", |t| t.label)
}

/// Each mcp-auth row's server CPU per request as a multiple of the hello-world floor's.
pub(super) fn floor(out: &mut String, results: &[(&Target, Figures)]) {
    let Some(hello) = find(results, "hello") else {
        return;
    };
    let _ = writeln!(
        out,
        "\nserver CPU per request as a multiple of the hello-world floor ({:.1} µs/req):",
        hello.cpu_us_per_request
    );
    for (target, f) in results.iter().filter(|(t, _)| t.name.starts_with("ours")) {
        let _ = writeln!(
            out,
            "- {}: {:.2}× ({:.1} µs/req)",
            target.label,
            f.cpu_us_per_request / hello.cpu_us_per_request,
            f.cpu_us_per_request
        );
    }
}

/// One line of the report's target list: what, and, when both sides were measured, whether
/// the target was met and the figure shown.
fn line(out: &mut String, what: &str, measured: Option<(bool, String)>) {
    let (shown, verdict) = match measured {
        Some((true, shown)) => (shown, "met"),
        Some((false, shown)) => (shown, "MISSED"),
        None => ("-".to_owned(), "not measured"),
    };
    let _ = writeln!(out, "- {what}: {shown} — {verdict}");
}

/// The targets against the floor and the peers (issue 20, targets 2 and 3).
pub(super) fn targets(out: &mut String, results: &[(&Target, Figures)]) {
    let off = find(results, "ours-off");
    let on = find(results, "ours-on");

    // The floor, by server CPU per request.
    line(
        out,
        "ours-on (cached authenticated tools/call) within 1.5× the hello-world CPU per request",
        on.zip(find(results, "hello")).map(|(on, hello)| {
            let shown = format!(
                "{:.2}× ({:.1} vs {:.1} µs/req)",
                on.cpu_us_per_request / hello.cpu_us_per_request,
                on.cpu_us_per_request,
                hello.cpu_us_per_request
            );
            (
                on.cpu_us_per_request <= 1.5 * hello.cpu_us_per_request,
                shown,
            )
        }),
    );

    // The faster of rmcp's two rows, by req/s.
    let rust_peer = ["rmcp", "rmcp-jwt"]
        .into_iter()
        .filter_map(|name| find(results, name).map(|f| (name, f)))
        .max_by(|a, b| a.1.rps.total_cmp(&b.1.rps));
    for (ours, which) in [(off, "cache off"), (on, "cache on")] {
        line(
            out,
            &format!("{which} ≥ 1.2× the best Rust peer"),
            ours.zip(rust_peer).map(|(ours, (name, peer))| {
                let shown = format!(
                    "{:.2}× ({:.0} vs {:.0} req/s, {})",
                    ours.rps / peer.rps,
                    ours.rps,
                    peer.rps,
                    label(name)
                );
                (ours.rps >= 1.2 * peer.rps, shown)
            }),
        );
    }
    // Like for like: both verify the token's signature on every request.
    let verifying = off.zip(find(results, "rmcp-jwt"));
    line(
        out,
        "cache off ≥ 1.2× rmcp + jsonwebtoken middleware (both verify every token)",
        verifying.map(|(ours, peer)| {
            let shown = format!(
                "{:.2}× ({:.0} vs {:.0} req/s; CPU per request {:.2}×: {:.1} vs {:.1} µs)",
                ours.rps / peer.rps,
                ours.rps,
                peer.rps,
                peer.cpu_us_per_request / ours.cpu_us_per_request,
                ours.cpu_us_per_request,
                peer.cpu_us_per_request
            );
            (ours.rps >= 1.2 * peer.rps, shown)
        }),
    );

    // The TypeScript and Python SDKs: the verdict on cache off, cache on shown too.
    for name in ["ts", "ts-v2", "fastmcp"] {
        let sdk = find(results, name);
        let on_ratio = on.zip(sdk).map_or(String::new(), |(on, sdk)| {
            format!("; cache on {:.1}×", on.rps / sdk.rps)
        });
        line(
            out,
            &format!("cache off ≥ 30× {}", label(name)),
            off.zip(sdk).map(|(ours, sdk)| {
                let shown = format!(
                    "{:.1}× ({:.0} vs {:.0} req/s{on_ratio})",
                    ours.rps / sdk.rps,
                    ours.rps,
                    sdk.rps
                );
                (ours.rps >= 30.0 * sdk.rps, shown)
            }),
        );
    }
}
