//! `tools/call` results.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::{RawValue, to_raw_value};
use serde_json::{Map, Value};

/// The result of a tool call, as MCP's `CallToolResult`.
///
/// Most tools return a plain value and let `#[tool]` build this; return it yourself for images,
/// audio, embedded resources or several content blocks.
///
/// ```
/// use mcp_auth_runtime::{CallToolResult, Content};
///
/// let result = CallToolResult::new(vec![
///     Content::text("the chart"),
///     Content::image("iVBORw0KGgo=", "image/png"),
/// ]);
/// assert_eq!(
///     serde_json::to_value(&result).unwrap()["content"][1]["mimeType"],
///     "image/png"
/// );
/// ```
///
/// `structuredContent` is kept as the JSON text it will be sent as, written once when the
/// result is built and copied into the response as is: see [`structured`](Self::structured),
/// [`with_structured`](Self::with_structured) and [`structured_as`](Self::structured_as).
///
/// ```
/// use mcp_auth_runtime::CallToolResult;
/// use serde_json::{Value, json};
///
/// let result = CallToolResult::structured(json!({ "id": "INV-1", "total_cents": 1200 }));
/// let read: Value = result.structured_as().unwrap().unwrap();
/// assert_eq!(read["total_cents"], 1200);
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallToolResult {
    /// The content blocks.
    pub content: Vec<Content>,
    /// The structured result, matching the tool's `outputSchema`, as serialized JSON (MCP
    /// requires an object). It is written into the response as it is, never parsed again.
    ///
    /// Set it with [`CallToolResult::structured`], [`with_structured`](Self::with_structured)
    /// or [`try_structured`](Self::try_structured), or with
    /// [`serde_json::value::to_raw_value`]; read it with [`structured_as`](Self::structured_as)
    /// or, as text, `RawValue::get`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<Box<RawValue>>,
    /// Whether the call failed; the content then says why, for the model to read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
    /// `_meta`, for protocol extensions.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

impl CallToolResult {
    /// A successful result with these content blocks.
    pub fn new(content: Vec<Content>) -> Self {
        CallToolResult {
            content,
            structured_content: None,
            is_error: false,
            meta: None,
        }
    }

    /// A successful result of one text block.
    pub fn text(text: impl Into<String>) -> Self {
        CallToolResult::new(vec![Content::text(text)])
    }

    /// A failed call: one text block saying why, with `isError: true`.
    pub fn error(message: impl Into<String>) -> Self {
        CallToolResult {
            is_error: true,
            ..CallToolResult::text(message)
        }
    }

    /// A structured result: `structuredContent`, and the same JSON as a text block for clients
    /// that read only `content` (MCP 2025-06-18 and later recommend both).
    pub fn structured(value: Value) -> Self {
        // A `Value` always serializes: its map keys are strings and its numbers finite.
        Self::from_raw(to_raw_value(&value).expect("a JSON value serializes as JSON"))
    }

    /// A structured result from any serializable value, written as JSON once (and never parsed
    /// to check it), without a
    /// [`Value`] tree in between: `structuredContent`, and the same JSON as a text block.
    /// What a `#[tool]` returning a struct does.
    ///
    /// ```
    /// use mcp_auth_runtime::{CallToolResult, Content};
    ///
    /// #[derive(serde::Serialize)]
    /// struct Invoice {
    ///     id: &'static str,
    ///     total_cents: u64,
    /// }
    ///
    /// let result = CallToolResult::try_structured(&Invoice { id: "INV-1", total_cents: 1200 })?;
    /// let json = r#"{"id":"INV-1","total_cents":1200}"#;
    /// assert_eq!(result.structured_content.as_deref().unwrap().get(), json);
    /// assert_eq!(result.content, [Content::text(json)]);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When `value` fails to serialize (its `Serialize` reports an error, or a map has keys
    /// that are not strings).
    pub fn try_structured<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Self> {
        let raw = to_raw_value(value)?;
        // `to_raw_value` keeps what `value` wrote without reading it: a `Serialize` that emits
        // serde_json's raw-value token could write any text, which the reply copies into the
        // response as it is (members beside `structuredContent`). One read, building nothing,
        // keeps it exactly one JSON value.
        serde_json::from_str::<serde::de::IgnoredAny>(raw.get())?;
        Ok(Self::from_raw(raw))
    }

    /// The same result with `structuredContent` set to `value`, the content blocks left as
    /// they are (for a text block of your own beside the structured result).
    ///
    /// ```
    /// use mcp_auth_runtime::CallToolResult;
    /// use serde_json::json;
    ///
    /// let result = CallToolResult::text("3 open invoices").with_structured(json!({ "open": 3 }));
    /// assert_eq!(
    ///     serde_json::to_value(&result).unwrap()["structuredContent"],
    ///     json!({ "open": 3 })
    /// );
    /// ```
    pub fn with_structured(mut self, value: Value) -> Self {
        self.structured_content =
            Some(to_raw_value(&value).expect("a JSON value serializes as JSON"));
        self
    }

    /// `structuredContent` read as a `T` (a [`Value`], or the tool's output type), or `None`
    /// if the result has none.
    ///
    /// # Errors
    ///
    /// The inner `Err` when the JSON does not deserialize as a `T`.
    pub fn structured_as<T: DeserializeOwned>(&self) -> Option<serde_json::Result<T>> {
        self.structured_content
            .as_deref()
            .map(|raw| serde_json::from_str(raw.get()))
    }

    /// `structuredContent` as `raw`, and the same text as the only content block.
    fn from_raw(raw: Box<RawValue>) -> Self {
        CallToolResult {
            content: vec![Content::text(raw.get())],
            structured_content: Some(raw),
            is_error: false,
            meta: None,
        }
    }
}

/// Equal when the members are; `structuredContent` is compared by its JSON's meaning, not its
/// spelling, so that a result read back compares equal whatever the order of its members.
impl PartialEq for CallToolResult {
    fn eq(&self, other: &Self) -> bool {
        // Exhaustive, so that a new member cannot be left out of the comparison.
        let CallToolResult {
            content,
            structured_content,
            is_error,
            meta,
        } = self;
        *content == other.content
            && *is_error == other.is_error
            && *meta == other.meta
            && match (structured_content, &other.structured_content) {
                (None, None) => true,
                (Some(a), Some(b)) => same_json(a, b),
                _ => false,
            }
    }
}

/// Whether two JSON texts mean the same value: equal text, or equal parsed trees.
fn same_json(a: &RawValue, b: &RawValue) -> bool {
    a.get() == b.get()
        || matches!(
            (
                serde_json::from_str::<Value>(a.get()),
                serde_json::from_str::<Value>(b.get()),
            ),
            (Ok(a), Ok(b)) if a == b
        )
}

/// One content block of a tool result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Content {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image, base64-encoded.
    Image {
        /// Base64 of the image bytes.
        data: String,
        /// Its media type, e.g. `image/png`.
        #[serde(rename = "mimeType")]
        mime_type: String,
    },
    /// Audio, base64-encoded.
    Audio {
        /// Base64 of the audio bytes.
        data: String,
        /// Its media type, e.g. `audio/wav`.
        #[serde(rename = "mimeType")]
        mime_type: String,
    },
    /// A resource embedded in the result.
    Resource {
        /// The resource's contents.
        resource: ResourceContents,
    },
}

impl Content {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Content::Text { text: text.into() }
    }

    /// An image block from base64 data.
    pub fn image(data: impl Into<String>, mime_type: impl Into<String>) -> Self {
        Content::Image {
            data: data.into(),
            mime_type: mime_type.into(),
        }
    }

    /// An audio block from base64 data.
    pub fn audio(data: impl Into<String>, mime_type: impl Into<String>) -> Self {
        Content::Audio {
            data: data.into(),
            mime_type: mime_type.into(),
        }
    }

    /// An embedded text resource.
    pub fn text_resource(
        uri: impl Into<String>,
        mime_type: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        Content::Resource {
            resource: ResourceContents {
                uri: uri.into(),
                mime_type: Some(mime_type.into()),
                text: Some(text.into()),
                blob: None,
            },
        }
    }
}

/// The contents of an embedded resource: `text` or base64 `blob`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceContents {
    /// The resource URI.
    pub uri: String,
    /// Its media type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Text contents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Base64 binary contents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

impl ResourceContents {
    /// Text contents of `uri`.
    pub fn text(uri: impl Into<String>, text: impl Into<String>) -> Self {
        ResourceContents {
            uri: uri.into(),
            mime_type: None,
            text: Some(text.into()),
            blob: None,
        }
    }

    /// Binary contents of `uri`, sent base64-encoded as `blob`.
    pub fn blob(uri: impl Into<String>, bytes: &[u8]) -> Self {
        use base64::Engine;
        ResourceContents {
            uri: uri.into(),
            mime_type: None,
            text: None,
            blob: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }

    /// The same contents with this media type.
    pub fn with_mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = Some(mime_type.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Invoice {
        id: String,
        total_cents: u64,
    }

    fn invoice() -> Invoice {
        Invoice {
            id: "INV-\"1\"".into(),
            total_cents: 1200,
        }
    }

    #[test]
    fn a_typed_value_is_written_once_and_the_text_block_is_the_same_json() {
        let result = CallToolResult::try_structured(&invoice()).unwrap();
        let json = r#"{"id":"INV-\"1\"","total_cents":1200}"#;
        assert_eq!(result.structured_content.as_deref().unwrap().get(), json);
        assert_eq!(result.content, [Content::text(json)]);
        assert!(!result.is_error);
        assert_eq!(
            result.structured_as::<Invoice>().unwrap().unwrap(),
            invoice()
        );
    }

    /// `try_structured` (what a `#[tool]` returning a struct goes through) must not trust the
    /// text a `Serialize` writes: one that emits serde_json's raw-value token could write any
    /// text, and both eras' replies copy `structuredContent` as it is, so members beside it
    /// (here `isError`) would be injected into the response. It is an error instead.
    #[test]
    fn structured_content_is_always_one_json_value() {
        struct Spoof;
        impl Serialize for Spoof {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let token = "$serde_json::private::RawValue";
                let mut st = s.serialize_struct(token, 1)?;
                st.serialize_field(token, r#"{"a":1},"isError":true,"x":{"b":2}"#)?;
                st.end()
            }
        }
        let result = CallToolResult::try_structured(&Spoof);
        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn a_value_that_fails_to_serialize_is_an_error() {
        let map = std::collections::BTreeMap::from([((1, 2), "a tuple key")]);
        assert!(CallToolResult::try_structured(&map).is_err());
    }

    #[test]
    fn the_wire_form_is_the_one_a_value_tree_gave() {
        let value = json!({ "b": [1, 2.5, null], "a": { "nested": "x\ny" } });
        let result = CallToolResult::structured(value.clone());
        let wire = serde_json::to_value(&result).unwrap();
        assert_eq!(
            wire,
            json!({
                "content": [{ "type": "text", "text": value.to_string() }],
                "structuredContent": value,
            })
        );
        assert!(CallToolResult::text("x").structured_as::<Value>().is_none());
    }

    #[test]
    fn with_structured_keeps_the_content_blocks() {
        let result = CallToolResult::text("summary").with_structured(json!({ "open": 3 }));
        assert_eq!(result.content, [Content::text("summary")]);
        assert_eq!(
            result.structured_as::<Value>().unwrap().unwrap(),
            json!({ "open": 3 })
        );
    }

    #[test]
    fn equality_compares_structured_content_by_meaning() {
        let sorted = CallToolResult::structured(json!({ "a": 1, "b": 2 }));
        let mut reordered = sorted.clone();
        reordered.structured_content =
            Some(RawValue::from_string(r#"{ "b": 2, "a": 1 }"#.into()).unwrap());
        assert_eq!(sorted, reordered);

        let mut other = sorted.clone();
        other.structured_content = Some(RawValue::from_string(r#"{"a":1,"b":3}"#.into()).unwrap());
        assert_ne!(sorted, other);
        let mut none = sorted.clone();
        none.structured_content = None;
        assert_ne!(sorted, none);
        let mut failed = sorted.clone();
        failed.is_error = true;
        assert_ne!(sorted, failed);
    }
}
