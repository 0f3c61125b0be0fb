//! The consent page and the error page: self-contained HTML (inline CSS, no script, no
//! external asset), rendered from the templates below with every value HTML-escaped.

use std::fmt::Write as _;

/// The page around every body: a banner saying what this is, and the styles.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{title}} · mcp-auth development issuer</title>
<style>
:root { color-scheme: light dark; --fg: #1d2330; --muted: #5d6677; --bg: #f4f5f8; --card: #fff;
  --line: #dfe2ea; --accent: #2f5bea; --warn-bg: #fff4d6; --warn-fg: #6b4b00; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8ee; --muted: #9aa3b5; --bg: #14161c;
  --card: #1d2029; --line: #2e323e; --accent: #7d9bff; --warn-bg: #3a3016; --warn-fg: #f3d78a; } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: var(--bg); padding: 24px; }
main { width: 100%; max-width: 440px; background: var(--card); border: 1px solid var(--line);
  border-radius: 12px; padding: 28px; box-shadow: 0 8px 28px rgb(0 0 0 / 8%); }
.banner { margin: -28px -28px 22px; padding: 8px 28px; border-radius: 12px 12px 0 0;
  background: var(--warn-bg); color: var(--warn-fg); font-size: 12px; font-weight: 600;
  letter-spacing: .02em; }
h1 { font-size: 20px; margin: 0 0 6px; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted);
  margin: 22px 0 8px; }
p { margin: 0 0 8px; }
.muted { color: var(--muted); font-size: 13px; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
ul { list-style: none; margin: 0; padding: 0; border: 1px solid var(--line); border-radius: 8px; }
li { padding: 10px 12px; border-top: 1px solid var(--line); }
li:first-child { border-top: 0; }
li span { display: block; color: var(--muted); font-size: 13px; }
label { display: block; margin: 10px 0 4px; font-size: 13px; font-weight: 600; }
select { width: 100%; padding: 8px; border: 1px solid var(--line); border-radius: 6px;
  background: var(--card); color: var(--fg); font: inherit; }
.actions { display: flex; gap: 10px; margin-top: 24px; }
button { flex: 1; padding: 10px; border-radius: 8px; font: inherit; font-weight: 600;
  cursor: pointer; border: 1px solid var(--line); background: var(--card); color: var(--fg); }
button.allow { background: var(--accent); border-color: var(--accent); color: #fff; }
button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
footer { margin-top: 20px; }
</style>
</head>
<body>
<main>
<div class="banner">Development issuer · for local development and tests only</div>
{{body}}
</main>
</body>
</html>
"#;

/// The consent form. "Deny" comes first, so that pressing Enter never grants anything.
const CONSENT: &str = r#"<h1>Authorize {{client}}</h1>
<p class="muted">Client names are chosen by the client at registration and are not verified.</p>
<p>{{client}} asks for access to <code>{{resource}}</code>. You will be sent back to <code>{{redirect}}</code>.</p>
<h2>Requested scopes</h2>
<ul>
{{scopes}}
</ul>
<form method="post" action="{{action}}">
<input type="hidden" name="form_token" value="{{form_token}}">
<h2>Sign in as</h2>
<label for="subject">User</label>
<select id="subject" name="subject">
{{users}}
</select>
<label for="tenant">Tenant</label>
<select id="tenant" name="tenant">
{{tenants}}
</select>
<div class="actions">
<button type="submit" name="decision" value="deny">Deny</button>
<button type="submit" name="decision" value="allow" class="allow">Allow</button>
</div>
</form>
<footer class="muted">Issuer <code>{{issuer}}</code></footer>
"#;

/// A request that cannot be answered with a redirect.
const ERROR: &str = r#"<h1>{{title}}</h1>
<p>{{message}}</p>
<footer class="muted">Start the authorization again from the client.</footer>
"#;

/// What the consent page shows.
pub(super) struct ConsentPage<'a> {
    pub(super) issuer: &'a str,
    pub(super) action: &'a str,
    pub(super) form_token: &'a str,
    pub(super) client: &'a str,
    pub(super) resource: &'a str,
    pub(super) redirect_uri: &'a str,
    /// Each requested scope with what it means.
    pub(super) scopes: Vec<(&'a str, &'a str)>,
    /// Each user with their home tenant; the first is preselected.
    pub(super) users: &'a [(String, String)],
    /// The tenants; `selected` is preselected.
    pub(super) tenants: &'a [String],
    pub(super) selected_tenant: &'a str,
}

impl ConsentPage<'_> {
    pub(super) fn render(&self) -> String {
        let mut scopes = String::new();
        for (scope, meaning) in &self.scopes {
            let _ = writeln!(
                scopes,
                "<li><code>{}</code><span>{}</span></li>",
                escape(scope),
                escape(meaning)
            );
        }
        if scopes.is_empty() {
            scopes.push_str("<li>No scopes<span>the token grants no scope</span></li>");
        }
        let mut users = String::new();
        for (i, (subject, tenant)) in self.users.iter().enumerate() {
            let _ = writeln!(
                users,
                "<option value=\"{}\"{}>{} (home tenant: {})</option>",
                escape(subject),
                if i == 0 { " selected" } else { "" },
                escape(subject),
                escape(tenant)
            );
        }
        let mut tenants = String::new();
        for tenant in self.tenants {
            let _ = writeln!(
                tenants,
                "<option value=\"{}\"{}>{}</option>",
                escape(tenant),
                if tenant == self.selected_tenant {
                    " selected"
                } else {
                    ""
                },
                escape(tenant)
            );
        }
        let client = format!("<strong>{}</strong>", escape(self.client));
        let body = render(
            CONSENT,
            &[
                ("client", &client),
                ("resource", &escape(self.resource)),
                ("redirect", &escape(self.redirect_uri)),
                ("scopes", scopes.trim_end()),
                ("action", &escape(self.action)),
                ("form_token", &escape(self.form_token)),
                ("users", users.trim_end()),
                ("tenants", tenants.trim_end()),
                ("issuer", &escape(self.issuer)),
            ],
        );
        render(PAGE, &[("title", "Authorize"), ("body", &body)])
    }
}

/// The page for a request that cannot be redirected (unknown client, unregistered redirect
/// URI, a stale form): RFC 6749 §4.1.2.1 forbids redirecting those.
pub(super) fn error_page(title: &str, message: &str) -> String {
    let body = render(
        ERROR,
        &[("title", &escape(title)), ("message", &escape(message))],
    );
    render(PAGE, &[("title", &escape(title)), ("body", &body)])
}

/// Fills `{{name}}` placeholders in one pass, so a value is never scanned for placeholders.
fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 2048);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").expect("template placeholders are closed");
        let name = &after[..end];
        let value = values
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
            .expect("every template placeholder has a value");
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_never_rescanned() {
        let users = [("<b>".to_owned(), "{{body}}".to_owned())];
        let tenants = ["t\"1".to_owned()];
        let page = ConsentPage {
            issuer: "http://127.0.0.1",
            action: "/authorize",
            form_token: "tok",
            client: "<script>alert(1)</script>",
            resource: "http://127.0.0.1/mcp",
            redirect_uri: "http://127.0.0.1/cb?a=1&b=2",
            scopes: vec![("invoices:read", "read access to invoices")],
            users: &users,
            tenants: &tenants,
            selected_tenant: "t\"1",
        }
        .render();
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("{{body}}"), "values are inserted verbatim");
        assert!(page.contains("value=\"t&quot;1\" selected"));
        assert!(page.contains("cb?a=1&amp;b=2"));
        assert!(page.contains("name=\"form_token\" value=\"tok\""));
        assert!(!page.contains("<script"));
        assert!(!page.contains("src="), "no external asset");
    }
}
