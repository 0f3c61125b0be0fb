//! `tools/list`: pages precomputed when the server is built, opaque cursors bound to the tool
//! and resource set and to the list they page, and per-caller pages when the list is filtered
//! by scope. The other lists page the same way.

use base64::Engine;
use bytes::Bytes;
use http::StatusCode;
use serde_json::Value;
use serde_json::json;
use serde_json::value::RawValue;

use super::reply::{Reply, error};
use super::{Dispatcher, Era, RequestCtx};
use crate::jsonrpc::{Request, code, response_head, result_body};
use crate::protocol::meta;

impl Dispatcher {
    /// Precomputes the `tools/list` pages of both eras.
    pub(crate) fn paginate(&mut self) {
        let entries: Vec<&RawValue> = self.registry.entries().collect();
        let tail = |page: Box<RawValue>| Bytes::from(format!("{}}}", page.get()));
        self.pages = self
            .pages_of("tools", &entries)
            .into_iter()
            .map(|(legacy, modern)| (tail(legacy), tail(modern)))
            .collect();
    }

    /// The pages of a list result whose items are `entries`, under `key`: (handshake era,
    /// 2026-07-28 era).
    pub(super) fn pages_of(
        &self,
        key: &str,
        entries: &[&RawValue],
    ) -> Vec<(Box<RawValue>, Box<RawValue>)> {
        let chunks: Vec<&[&RawValue]> = if entries.is_empty() {
            vec![&[]]
        } else {
            entries.chunks(self.page_size.max(1)).collect()
        };
        let count = chunks.len();
        chunks
            .into_iter()
            .enumerate()
            .map(|(index, chunk)| {
                let next = (index + 1 < count).then(|| self.cursor(key, index + 1));
                (
                    self.list_page(key, chunk, next.as_deref(), false),
                    self.list_page(key, chunk, next.as_deref(), true),
                )
            })
            .collect()
    }

    fn list_page(
        &self,
        key: &str,
        entries: &[&RawValue],
        next: Option<&str>,
        modern: bool,
    ) -> Box<RawValue> {
        let mut json = format!("{{{}:[", Value::from(key));
        for (i, entry) in entries.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str(entry.get());
        }
        json.push(']');
        if let Some(next) = next {
            json.push_str(",\"nextCursor\":");
            json.push_str(&Value::from(next).to_string());
        }
        if modern {
            let extras = json!({
                "resultType": "complete",
                "ttlMs": self.list_ttl.as_millis() as u64,
                "cacheScope": self.cache_scope,
                "_meta": { meta::SERVER_INFO: self.server_info },
            });
            for (key, value) in extras.as_object().expect("an object") {
                json.push_str(&format!(",{}:{}", Value::from(key.as_str()), value));
            }
        }
        json.push('}');
        RawValue::from_string(json).expect("pages are JSON")
    }

    /// An opaque cursor for page `index` of the list whose result holds its items under `key`
    /// (`tools`, `resources`, ...), in this deployment: a cursor of one list is refused by
    /// the others, and by a server with other tools or resources.
    fn cursor(&self, key: &str, index: usize) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{:016x}.{key}.{index}", self.fingerprint))
    }

    fn page_of_cursor(&self, key: &str, cursor: &str) -> Option<usize> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (fingerprint, rest) = raw.split_once('.')?;
        let (list, index) = rest.rsplit_once('.')?;
        if fingerprint != format!("{:016x}", self.fingerprint) || list != key {
            return None;
        }
        index.parse().ok()
    }

    /// The page a list request asks for: the first without a cursor.
    pub(super) fn requested_page(&self, request: &Request) -> Result<usize, Reply> {
        match request.params.as_ref().and_then(|p| p.get("cursor")) {
            None | Some(Value::Null) => Ok(0),
            Some(Value::String(cursor)) => self
                .page_of_cursor(list_key(&request.method), cursor)
                .ok_or_else(|| invalid_cursor(request)),
            Some(_) => Err(error(
                request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                "invalid params: `cursor` must be a string",
            )),
        }
    }

    /// Page `page` of a list computed for this request.
    pub(super) fn computed_page(
        &self,
        request: &Request,
        modern: bool,
        pages: Vec<(Box<RawValue>, Box<RawValue>)>,
        page: usize,
    ) -> Reply {
        match pages.get(page) {
            Some((legacy, current)) => Reply::Json(
                StatusCode::OK,
                result_body(&request.id, if modern { current } else { legacy }),
            ),
            None => invalid_cursor(request),
        }
    }

    pub(super) fn list_tools(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let modern = matches!(ctx.era, Era::Modern { .. });
        let page = match self.requested_page(request) {
            Ok(page) => page,
            Err(refused) => return refused,
        };
        if self.filter_tools {
            let entries: Vec<&RawValue> = self
                .registry
                .tools()
                .iter()
                .zip(self.registry.entries())
                .filter(|(tool, _)| self.scopes.missing(&ctx.auth, tool.scopes()).is_empty())
                .map(|(_, entry)| entry)
                .collect();
            return self.computed_page(request, modern, self.pages_of("tools", &entries), page);
        }
        match self.pages.get(page) {
            Some((legacy, current)) => Reply::Precomputed {
                head: response_head(&request.id, 0).into(),
                tail: if modern { current } else { legacy }.clone(),
            },
            None => invalid_cursor(request),
        }
    }
}

/// The key under which the result of list method `method` holds its items, which its cursors
/// name; the method itself for any other, whose cursors then match no list.
fn list_key(method: &str) -> &str {
    match method {
        "tools/list" => "tools",
        "resources/list" => "resources",
        "resources/templates/list" => "resourceTemplates",
        "prompts/list" => "prompts",
        other => other,
    }
}

fn invalid_cursor(request: &Request) -> Reply {
    error(
        request,
        StatusCode::OK,
        code::INVALID_PARAMS,
        "invalid params: invalid cursor",
    )
}
