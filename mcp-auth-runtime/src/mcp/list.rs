//! `tools/list`: pages precomputed when the server is built, opaque cursors bound to the tool
//! set, and per-caller pages when the list is filtered by scope.

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
            .pages_of(&entries)
            .into_iter()
            .map(|(legacy, modern)| (tail(legacy), tail(modern)))
            .collect();
    }

    fn pages_of(&self, entries: &[&RawValue]) -> Vec<(Box<RawValue>, Box<RawValue>)> {
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
                let next = (index + 1 < count).then(|| self.cursor(index + 1));
                (
                    self.list_page(chunk, next.as_deref(), false),
                    self.list_page(chunk, next.as_deref(), true),
                )
            })
            .collect()
    }

    fn list_page(&self, entries: &[&RawValue], next: Option<&str>, modern: bool) -> Box<RawValue> {
        let mut json = String::from("{\"tools\":[");
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

    /// An opaque cursor for page `index` of this tool set.
    fn cursor(&self, index: usize) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{:016x}.{index}", self.fingerprint))
    }

    fn page_of_cursor(&self, cursor: &str) -> Option<usize> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (fingerprint, index) = raw.split_once('.')?;
        if fingerprint != format!("{:016x}", self.fingerprint) {
            return None;
        }
        index.parse().ok()
    }

    pub(super) fn list_tools(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let modern = matches!(ctx.era, Era::Modern { .. });
        let page = match request.params.as_ref().and_then(|p| p.get("cursor")) {
            None | Some(Value::Null) => 0,
            Some(Value::String(cursor)) => match self.page_of_cursor(cursor) {
                Some(page) => page,
                None => {
                    return error(
                        request,
                        StatusCode::OK,
                        code::INVALID_PARAMS,
                        "invalid params: invalid cursor",
                    );
                }
            },
            Some(_) => {
                return error(
                    request,
                    StatusCode::OK,
                    code::INVALID_PARAMS,
                    "invalid params: `cursor` must be a string",
                );
            }
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
            let pages = self.pages_of(&entries);
            return match pages.get(page) {
                Some((legacy, current)) => Reply::Json(
                    StatusCode::OK,
                    result_body(&request.id, if modern { current } else { legacy }),
                ),
                None => error(
                    request,
                    StatusCode::OK,
                    code::INVALID_PARAMS,
                    "invalid params: invalid cursor",
                ),
            };
        }
        match self.pages.get(page) {
            Some((legacy, current)) => Reply::Precomputed {
                head: response_head(&request.id, 0).into(),
                tail: if modern { current } else { legacy }.clone(),
            },
            None => error(
                request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                "invalid params: invalid cursor",
            ),
        }
    }
}
