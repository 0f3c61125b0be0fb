//! JSON-RPC 2.0 messages as MCP uses them, and nothing of MCP's methods: parsing,
//! validation and responses.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

mod integers;

/// JSON-RPC 2.0 error codes (§5.1).
pub(crate) mod code {
    pub(crate) const PARSE_ERROR: i32 = -32700;
    pub(crate) const INVALID_REQUEST: i32 = -32600;
    pub(crate) const METHOD_NOT_FOUND: i32 = -32601;
    pub(crate) const INVALID_PARAMS: i32 = -32602;
    pub(crate) const INTERNAL_ERROR: i32 = -32603;
    /// Server-defined: the caller's token lacks a scope the request needs (sent with HTTP 403).
    pub(crate) const INSUFFICIENT_SCOPE: i32 = -32003;
    /// Server-defined: the caller is over its rate limit (sent with HTTP 429).
    pub(crate) const RATE_LIMITED: i32 = -32005;
    /// 2026-07-28: HTTP headers do not match the body, or a required header is missing.
    pub(crate) const HEADER_MISMATCH: i32 = -32020;
    /// 2026-07-28: the request needs a client capability the client did not declare.
    pub(crate) const MISSING_CLIENT_CAPABILITY: i32 = -32021;
    /// 2026-07-28: the requested protocol version is not supported.
    pub(crate) const UNSUPPORTED_PROTOCOL_VERSION: i32 = -32022;
}

/// A request id: a string or an integer, as MCP requires (never `null`), kept as written.
#[derive(Debug, Clone)]
pub(crate) struct Id(pub(crate) Box<RawValue>);

impl Id {
    fn parse(raw: &RawValue) -> Option<Id> {
        let text = raw.get();
        let valid = if text.starts_with('"') {
            true
        } else {
            text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok()
        };
        valid.then(|| Id(raw.to_owned()))
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// One incoming JSON-RPC message.
#[derive(Debug)]
pub(crate) enum Message {
    Request(Request),
    Notification {
        method: String,
        params: Option<Map<String, Value>>,
    },
    /// A response from the client to a request of the server's: its id (as a string) and the
    /// `result`, or the `error`.
    Response {
        id: String,
        answer: Result<Value, Value>,
    },
}

impl Id {
    /// The id as a map key: a string id without its quotes, a number as written.
    pub(crate) fn key(&self) -> String {
        match serde_json::from_str::<Value>(self.0.get()) {
            Ok(Value::String(s)) => s,
            _ => self.0.get().to_owned(),
        }
    }
}

/// A request id as a map key, from the JSON value that names it (`requestId` of
/// `notifications/cancelled`): the same key as [`Id::key`] gives the request's own id.
pub(crate) fn request_id_key(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Request {
    /// `params._meta`, if present and an object.
    pub(crate) fn meta(&self) -> Option<&Map<String, Value>> {
        self.params.as_ref()?.get("_meta")?.as_object()
    }

    /// The `arguments` of a `tools/call` as a JSON object, built only for the paths that read
    /// them as one (audit, `on_call`, `Mcp-Param-*` headers, tasks, `requestState`): `None`
    /// when absent, `null` or not an object.
    pub(crate) fn arguments_map(&self) -> Option<Map<String, Value>> {
        arguments_map(self.arguments.as_deref())
    }
}

/// `arguments` (as [`Request::arguments`] keeps them) as a JSON object, if they are one.
pub(crate) fn arguments_map(arguments: Option<&RawValue>) -> Option<Map<String, Value>> {
    match unique_keys(arguments?.get()) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) id: Id,
    pub(crate) method: String,
    /// `params`, but for `tools/call` without its `arguments`: those are in
    /// [`arguments`](Self::arguments).
    pub(crate) params: Option<Map<String, Value>>,
    /// The `arguments` of a `tools/call` as the client wrote them (checked for repeated member
    /// names at every depth, not yet for their type): the tool deserializes them once, into its
    /// own type, with no `Value` tree in between. `None` for other methods, whose `arguments`
    /// stay in `params`.
    pub(crate) arguments: Option<Box<RawValue>>,
}

/// The envelope, borrowed from the body: `jsonrpc` and `method` are compared or copied once,
/// `id` and `params` are slices of the body until they are needed.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// Keeps an explicit `null` as `Some("null")`: a member that is present differs from one that
/// is absent (a request with `"id": null` is not a notification).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Parses one message. Errors are JSON-RPC error responses, ready to send.
pub(crate) fn parse(body: &[u8]) -> Result<Message, ErrorResponse> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        return Err(ErrorResponse::new(
            None,
            code::INVALID_REQUEST,
            "batch requests are not supported",
        ));
    }
    let envelope: Envelope<'_> = serde_json::from_slice(body).map_err(|err| {
        if err.is_data() {
            ErrorResponse::new(None, code::INVALID_REQUEST, "invalid request")
        } else {
            ErrorResponse::new(None, code::PARSE_ERROR, "parse error")
        }
    })?;
    let id = match envelope.id {
        Some(raw) => Some(Id::parse(raw).ok_or_else(|| {
            ErrorResponse::new(
                None,
                code::INVALID_REQUEST,
                "invalid request: `id` must be a string or an integer",
            )
        })?),
        None => None,
    };
    if envelope.jsonrpc.as_deref() != Some("2.0") {
        return Err(ErrorResponse::new(
            id,
            code::INVALID_REQUEST,
            "invalid request: `jsonrpc` must be \"2.0\"",
        ));
    }
    // A request's `arguments` stay as written for the tool to deserialize; anywhere else
    // (notifications, `prompts/get`) they are part of `params`.
    let keep_arguments = id.is_some() && envelope.method.as_deref() == Some("tools/call");
    let (params, arguments) = match envelope.params {
        None => (None, None),
        Some(raw) => match parse_params(raw.get(), keep_arguments) {
            Ok((Value::Object(map), arguments)) => (Some(map), arguments),
            Err(ParamsError::WideInteger) => {
                return Err(ErrorResponse::new(
                    id,
                    code::INVALID_PARAMS,
                    "invalid params: `arguments` holds an integer beyond the 64-bit range, \
                     which this server does not accept",
                ));
            }
            // The raw value is well-formed JSON already: a data error is a repeated name.
            Err(ParamsError::Json(err)) if err.is_data() => {
                return Err(ErrorResponse::new(
                    id,
                    code::INVALID_REQUEST,
                    "invalid request: an object repeats a member name",
                ));
            }
            _ => {
                return Err(ErrorResponse::new(
                    id,
                    code::INVALID_PARAMS,
                    "invalid params: `params` must be an object",
                ));
            }
        },
    };
    match (envelope.method, id) {
        (Some(method), Some(id)) => Ok(Message::Request(Request {
            id,
            method: method.into_owned(),
            params,
            arguments,
        })),
        (Some(method), None) => Ok(Message::Notification {
            method: method.into_owned(),
            params,
        }),
        (None, Some(id)) if envelope.result.is_some() != envelope.error.is_some() => {
            let value = |raw: &RawValue| unique_keys(raw.get()).unwrap_or(Value::Null);
            let answer = match (envelope.result, envelope.error) {
                (Some(result), _) => Ok(value(result)),
                (_, Some(error)) => Err(value(error)),
                _ => unreachable!("exactly one of result and error"),
            };
            Ok(Message::Response {
                id: id.key(),
                answer,
            })
        }
        (None, id) => Err(ErrorResponse::new(
            id,
            code::INVALID_REQUEST,
            "invalid request: no `method`",
        )),
    }
}

/// Why `params` were refused.
enum ParamsError {
    /// As [`unique_keys`] raises it: a data error is a repeated name, any other (nesting too
    /// deep to check) refuses the params.
    Json(serde_json::Error),
    /// `arguments` hold an integer only the tool would read exactly (see [`integers`]).
    WideInteger,
}

impl From<serde_json::Error> for ParamsError {
    fn from(err: serde_json::Error) -> Self {
        ParamsError::Json(err)
    }
}

/// `params` as [`unique_keys`] parses them, but with `keep_arguments` an object's
/// `arguments` member is checked for repeated names and for integers beyond the 64-bit range
/// without building it, and returned as written.
fn parse_params(
    json: &str,
    keep_arguments: bool,
) -> Result<(Value, Option<Box<RawValue>>), ParamsError> {
    if !keep_arguments {
        return Ok((unique_keys(json)?, None));
    }
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let (params, arguments) = CallParams.deserialize(&mut deserializer)?;
    deserializer.end()?;
    if let Some(arguments) = arguments {
        let json = arguments.get();
        let wide = Distinct.deserialize(&mut serde_json::Deserializer::from_str(json))?;
        if wide.0 && integers::holds_wide_integer(json) {
            return Err(ParamsError::WideInteger);
        }
    }
    Ok((params, arguments.map(RawValue::to_owned)))
}

/// Parses JSON whose objects never repeat a member name, at any depth.
///
/// RFC 8259 §4 leaves repeated names to each parser: `serde_json` keeps the last, others keep
/// the first, so an intermediary that checks `params.name` (or an argument) and this server
/// could act on different values. Such messages are refused instead; the message envelope
/// itself is a struct, whose derived `Deserialize` already refuses repeated fields.
pub(crate) fn unique_keys(json: &str) -> serde_json::Result<Value> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let value = UniqueKeys.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// A [`Value`] whose objects have distinct member names.
pub(crate) struct UniqueKeys;

/// The error [`UniqueKeys`] raises on a repeated member name.
pub(crate) const REPEATED_MEMBER: &str = "an object repeats a member name";

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(UniqueKeys)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(REPEATED_MEMBER));
            }
            let value = access.next_value_seed(UniqueKeys)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// The `params` of a `tools/call` request: a [`Value`] of every member but `arguments`, which
/// is borrowed as written.
struct CallParams;

impl<'de> DeserializeSeed<'de> for CallParams {
    type Value = (Value, Option<&'de RawValue>);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CallParams {
    type Value = (Value, Option<&'de RawValue>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        let mut arguments: Option<&RawValue> = None;
        while let Some(key) = access.next_key::<Key<'de>>()? {
            if key.0 == "arguments" {
                if arguments.is_some() {
                    return Err(de::Error::custom(REPEATED_MEMBER));
                }
                let raw: &'de RawValue = access.next_value()?;
                arguments = Some(raw);
                continue;
            }
            let key = key.0.into_owned();
            if map.contains_key(&key) {
                return Err(de::Error::custom(REPEATED_MEMBER));
            }
            let value = access.next_value_seed(UniqueKeys)?;
            map.insert(key, value);
        }
        Ok((Value::Object(map), arguments))
    }

    // Anything but an object is refused by the caller as `params` that are not one.
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok((Value::Bool(v), None))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok((Value::from(v), None))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok((Value::from(v), None))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok((Value::from(v), None))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok((Value::from(v), None))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok((Value::Null, None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        UniqueKeys.visit_seq(seq).map(|value| (value, None))
    }
}

/// A member name, borrowed from the input unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Checks that no object in a JSON value repeats a member name, at any depth, building
/// nothing: the names of one object are compared in place (a few on the stack, more in a
/// set, so that a large object is not quadratic).
///
/// It also notes whether the value holds a number `serde_json` read as a float of 64-bit
/// integer magnitude or more: an integer literal beyond the 64-bit range is read so, and
/// only then is the text searched for one ([`integers::holds_wide_integer`]).
pub(crate) struct Distinct;

/// What [`Distinct`] found besides distinct names: whether a float of 64-bit integer
/// magnitude or more was read.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MaybeWide(pub(crate) bool);

/// The least magnitude of a float that may be an integer literal beyond the 64-bit range:
/// `serde_json` reads integers in `i64::MIN..=u64::MAX` as integers.
const WIDE: f64 = 9_223_372_036_854_775_808.0;

impl<'de> DeserializeSeed<'de> for Distinct {
    type Value = MaybeWide;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<MaybeWide, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Distinct {
    type Value = MaybeWide;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<MaybeWide, E> {
        Ok(MaybeWide(false))
    }

    fn visit_i64<E>(self, _: i64) -> Result<MaybeWide, E> {
        Ok(MaybeWide(false))
    }

    fn visit_u64<E>(self, _: u64) -> Result<MaybeWide, E> {
        Ok(MaybeWide(false))
    }

    fn visit_f64<E>(self, v: f64) -> Result<MaybeWide, E> {
        Ok(MaybeWide(v.abs() >= WIDE))
    }

    fn visit_str<E>(self, _: &str) -> Result<MaybeWide, E> {
        Ok(MaybeWide(false))
    }

    fn visit_unit<E>(self) -> Result<MaybeWide, E> {
        Ok(MaybeWide(false))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MaybeWide, A::Error> {
        let mut wide = false;
        while let Some(MaybeWide(element)) = seq.next_element_seed(Distinct)? {
            wide |= element;
        }
        Ok(MaybeWide(wide))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<MaybeWide, A::Error> {
        const FEW: usize = 8;
        let mut few: [Cow<'de, str>; FEW] = Default::default();
        let mut count = 0;
        let mut many = std::collections::HashSet::new();
        let mut wide = false;
        while let Some(Key(key)) = access.next_key()? {
            let repeated = if count < FEW {
                let repeated = few[..count].contains(&key);
                few[count] = key;
                repeated
            } else {
                if count == FEW {
                    many.extend(few.iter_mut().map(std::mem::take));
                }
                !many.insert(key)
            };
            if repeated {
                return Err(de::Error::custom(REPEATED_MEMBER));
            }
            count += 1;
            wide |= access.next_value_seed(Distinct)?.0;
        }
        Ok(MaybeWide(wide))
    }
}

/// `{"jsonrpc":"2.0","id":..,"result":..}`
pub(crate) fn result_body(id: &Id, result: &RawValue) -> Bytes {
    #[derive(Serialize)]
    struct Body<'a> {
        jsonrpc: &'static str,
        id: &'a Id,
        result: &'a RawValue,
    }
    to_bytes(&Body {
        jsonrpc: "2.0",
        id,
        result,
    })
}

/// A JSON-RPC error response.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorResponse {
    jsonrpc: &'static str,
    id: Option<Id>,
    error: ErrorObject,
}

#[derive(Debug, Serialize)]
struct ErrorObject {
    code: i32,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
}

impl ErrorResponse {
    pub(crate) fn new(id: Option<Id>, code: i32, message: impl Into<String>) -> Self {
        ErrorResponse {
            jsonrpc: "2.0",
            id,
            error: ErrorObject {
                code,
                message: message.into(),
                data: None,
            },
        }
    }

    pub(crate) fn with_data(mut self, data: Value) -> Self {
        self.error.data = Some(data);
        self
    }

    #[cfg(test)]
    pub(crate) fn code(&self) -> i32 {
        self.error.code
    }

    pub(crate) fn to_bytes(&self) -> Bytes {
        to_bytes(self)
    }
}

fn to_bytes(value: &impl Serialize) -> Bytes {
    serde_json::to_vec(value)
        .expect("JSON-RPC responses serialize")
        .into()
}

/// The start of a response to `id`: `{"jsonrpc":"2.0","id":<id>,"result":`, with room for
/// `more` bytes. The id is echoed as the client wrote it (JSON, checked when it was parsed).
pub(crate) fn response_head(id: &Id, more: usize) -> Vec<u8> {
    const OPEN: &[u8] = br#"{"jsonrpc":"2.0","id":"#;
    const RESULT: &[u8] = br#","result":"#;
    let id = id.0.get().as_bytes();
    let mut head = Vec::with_capacity(OPEN.len() + id.len() + RESULT.len() + more);
    head.extend_from_slice(OPEN);
    head.extend_from_slice(id);
    head.extend_from_slice(RESULT);
    head
}

/// The code of `body` if it is an error response as [`ErrorResponse`] writes them
/// (`{"jsonrpc":"2.0","id":<id>,"error":{"code":<code>,...`): read from its first bytes,
/// skipping the id without allocating and without parsing the rest. `None` for a result.
pub(crate) fn error_code_of(body: &[u8]) -> Option<i32> {
    const OPEN: &[u8] = br#"{"jsonrpc":"2.0","id":"#;
    const ERROR: &[u8] = br#","error":{"code":"#;
    let rest = body.strip_prefix(OPEN)?;
    let mut id = serde_json::Deserializer::from_slice(rest).into_iter::<de::IgnoredAny>();
    id.next()?.ok()?;
    let rest = rest[id.byte_offset()..].strip_prefix(ERROR)?;
    let end = rest
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'-'))
        .unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// An error response to a request whose id is known, for the transport's own checks.
pub(crate) fn error_for(id: Option<Id>, code: i32, message: impl Into<String>) -> Bytes {
    ErrorResponse::new(id, code, message).to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_from_error_responses_only() {
        let Ok(Message::Request(request)) = parse(br#"{"jsonrpc":"2.0","id":"a","method":"x"}"#)
        else {
            panic!("a request")
        };
        let id = request.id;
        let error = ErrorResponse::new(Some(id.clone()), code::INVALID_PARAMS, "no").to_bytes();
        assert_eq!(error_code_of(&error), Some(code::INVALID_PARAMS));
        let unknown = ErrorResponse::new(None, code::INVALID_REQUEST, "no").to_bytes();
        assert_eq!(error_code_of(&unknown), Some(code::INVALID_REQUEST));
        let mut result = response_head(&id, 0);
        result.extend_from_slice(br#"{"error":{"code":1}}}"#);
        assert_eq!(error_code_of(&result), None);
    }

    fn error_code(body: &str) -> i32 {
        parse(body.as_bytes()).unwrap_err().code()
    }

    #[test]
    fn classifies_messages() {
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Ok(Message::Request(_))
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(Message::Notification { .. })
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Ok(Message::Response { .. })
        ));
    }

    #[test]
    fn rejects_what_json_rpc_and_mcp_forbid() {
        let cases = [
            ("{", code::PARSE_ERROR),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                code::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
                code::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                code::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
                code::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
                code::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#,
                code::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#,
                code::INVALID_PARAMS,
            ),
            (r#"{"jsonrpc":"2.0","id":1}"#, code::INVALID_REQUEST),
            ("42", code::INVALID_REQUEST),
        ];
        for (body, expected) in cases {
            assert_eq!(error_code(body), expected, "{body}");
        }
    }

    #[test]
    fn repeated_member_names_are_refused_at_any_depth() {
        assert_eq!(
            error_code(r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}"#),
            code::INVALID_REQUEST
        );
        assert_eq!(
            error_code(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#
            ),
            code::INVALID_REQUEST
        );
        assert_eq!(
            error_code(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":[{"k":1,"k":2}]}}}"#
            ),
            code::INVALID_REQUEST
        );
        let Ok(Message::Request(request)) = parse(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":[1,2.5,null,true,"s",{"k":{}}]}}}"#,
        ) else {
            panic!("a request")
        };
        assert_eq!(
            Value::Object(request.params.unwrap()),
            serde_json::json!({"name":"a"})
        );
        assert_eq!(
            request.arguments.unwrap().get(),
            r#"{"x":[1,2.5,null,true,"s",{"k":{}}]}"#
        );
        // Deeply nested params are refused, not a stack overflow.
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"a":{}{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(error_code(&deep), code::INVALID_PARAMS);
    }

    #[test]
    fn tool_arguments_are_checked_without_being_built() {
        let call = |arguments: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"a","arguments":{arguments}}}}}"#
            )
        };
        // Past the names compared on the stack, and spelled with escapes.
        let many = (0..20)
            .map(|i| format!(r#""k{i}":{i}"#))
            .collect::<Vec<_>>();
        let repeated_late = format!("{{{},\"k3\":0}}", many.join(","));
        for arguments in [
            r#"{"a":1,"a":2}"#,
            r#"{"a":1,"\u0061":2}"#,
            r#"{"x":{"y":[{},{"z":1,"z":1}]}}"#,
            repeated_late.as_str(),
        ] {
            assert_eq!(
                error_code(&call(arguments)),
                code::INVALID_REQUEST,
                "{arguments}"
            );
        }
        assert_eq!(
            error_code(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{},"name":"a","arguments":{}}}"#
            ),
            code::INVALID_REQUEST
        );
        let distinct = format!("{{{}}}", many.join(","));
        let Ok(Message::Request(request)) = parse(call(&distinct).as_bytes()) else {
            panic!("a request")
        };
        assert_eq!(request.arguments.unwrap().get(), distinct);
        // Too deep to check: refused like any `params` that do not parse.
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(error_code(&call(&deep)), code::INVALID_PARAMS);
        // Other methods, and notifications, keep `arguments` in `params`.
        let Ok(Message::Request(request)) = parse(
            br#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"a","arguments":{"k":"v"}}}"#,
        ) else {
            panic!("a request")
        };
        assert!(request.arguments.is_none());
        assert_eq!(
            request.params.unwrap()["arguments"],
            serde_json::json!({"k":"v"})
        );
        let Ok(Message::Notification { params, .. }) =
            parse(br#"{"jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"k":"v"}}}"#)
        else {
            panic!("a notification")
        };
        assert_eq!(params.unwrap()["arguments"], serde_json::json!({"k":"v"}));
    }

    #[test]
    fn tool_arguments_with_integers_beyond_64_bits_are_invalid_params() {
        let call = |arguments: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"a","arguments":{arguments}}}}}"#
            )
        };
        for arguments in [
            r#"{"n":18446744073709551616}"#,
            r#"{"n":-9223372036854775809}"#,
            r#"{"s":"1e30","x":[1.5,{"n":[99999999999999999999]}]}"#,
        ] {
            assert_eq!(
                error_code(&call(arguments)),
                code::INVALID_PARAMS,
                "{arguments}"
            );
        }
        for arguments in [
            r#"{"n":18446744073709551615,"m":-9223372036854775808}"#,
            r#"{"f":1e30,"g":-1.8446744073709552e19,"s":"18446744073709551616"}"#,
        ] {
            let Ok(Message::Request(request)) = parse(call(arguments).as_bytes()) else {
                panic!("a request: {arguments}")
            };
            assert_eq!(request.arguments.unwrap().get(), arguments);
        }
    }

    #[test]
    fn ids_are_echoed_as_written() {
        let Ok(Message::Request(request)) =
            parse(br#"{"jsonrpc":"2.0","id":"x-1","method":"ping"}"#)
        else {
            panic!("a request")
        };
        let body = result_body(&request.id, &RawValue::from_string("{}".into()).unwrap());
        assert_eq!(&body[..], br#"{"jsonrpc":"2.0","id":"x-1","result":{}}"#);
    }
}
