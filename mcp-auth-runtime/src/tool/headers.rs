//! `x-mcp-header` (SEP-2243): the tool parameters a client also sends as `Mcp-Param-{Name}`
//! HTTP headers, so that gateways can route or authorize on them without reading the body.
//!
//! They are found in the final input schema, wherever they came from (`#[arg(header = ..)]`,
//! or `#[schemars(extend("x-mcp-header" = ..))]` on a field of an `Args<T>` type), so that no
//! declaration a client mirrors goes unchecked by the server. The rules are the
//! specification's (streamable HTTP §custom headers): a non-empty field-name token, unique
//! regardless of case, on a string, integer or boolean property reached from the root through
//! `properties` alone. A tool that breaks one is refused when the server is built, since
//! clients drop such a tool from their lists.

use http::HeaderName;
use serde_json::{Map, Value};

/// The schema extension keyword.
pub(crate) const KEYWORD: &str = "x-mcp-header";

/// The subschema keywords a declaration's path must not pass through (the specification's
/// "statically reachable" rule): a declaration below one is an error, not ignored.
const UNREACHABLE: [&str; 18] = [
    "items",
    "prefixItems",
    "contains",
    "additionalProperties",
    "unevaluatedProperties",
    "unevaluatedItems",
    "propertyNames",
    "patternProperties",
    "dependentSchemas",
    "oneOf",
    "anyOf",
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "$defs",
    "definitions",
];

/// One parameter mirrored in a header.
#[derive(Debug, Clone)]
pub(crate) struct HeaderParam {
    /// `mcp-param-{name}`, lowercase as [`http::HeaderMap`] keys are.
    pub(crate) header: HeaderName,
    /// `Mcp-Param-{Name}` as declared, for messages.
    pub(crate) display: String,
    /// The `properties` keys from the input's root to the parameter.
    pub(crate) path: Vec<String>,
    /// The `properties` keys of each object on the way (the root's first): the only members
    /// a body may have there, so that no name serde also accepts (an `alias`) carries the
    /// value past its header.
    pub(crate) levels: Vec<Vec<String>>,
    pub(crate) kind: Kind,
}

/// The JSON types a mirrored parameter may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Integer,
    Boolean,
}

impl HeaderParam {
    /// The body's value of the parameter in `arguments`; `None` when absent or `null`, which
    /// the client mirrors as no header at all.
    pub(crate) fn value_in<'a>(
        &self,
        arguments: Option<&'a Map<String, Value>>,
    ) -> Option<&'a Value> {
        let (last, parents) = self.path.split_last()?;
        let mut object = arguments?;
        for key in parents {
            object = object.get(key)?.as_object()?;
        }
        object.get(last).filter(|v| !v.is_null())
    }

    /// A member of `arguments`, on the way to the parameter, that the schema does not list.
    pub(crate) fn unlisted_member(&self, arguments: Option<&Map<String, Value>>) -> Option<String> {
        let mut object = arguments?;
        for (depth, known) in self.levels.iter().enumerate() {
            if let Some(key) = object.keys().find(|key| !known.contains(key)) {
                let mut at = self.path[..depth].to_vec();
                at.push(key.clone());
                return Some(at.join("."));
            }
            object = object.get(self.path.get(depth)?)?.as_object()?;
        }
        None
    }
}

/// The header parameters declared in `schema`, which is rewritten where a client could not
/// read a declaration: an optional parameter's `"type": ["string", "null"]` becomes
/// `"type": "string"` (clients require one primitive type; the server still takes `null` as
/// absent). An error names the property and the rule it breaks.
pub(crate) fn scan(schema: &mut Value) -> Result<Vec<HeaderParam>, String> {
    let mut found = Vec::new();
    visit(schema, &mut Vec::new(), &mut Vec::new(), true, &mut found)?;
    for (index, param) in found.iter().enumerate() {
        if let Some(earlier) = found[..index]
            .iter()
            .find(|other| same_header(&other.display, &param.display))
        {
            return Err(format!(
                "`{KEYWORD}` `{}` of property `{}` repeats `{}` of property `{}`: header names are compared without regard to case (and some proxies treat `_` as `-`)",
                &param.display["Mcp-Param-".len()..],
                param.path.join("."),
                &earlier.display["Mcp-Param-".len()..],
                earlier.path.join("."),
            ));
        }
    }
    Ok(found)
}

/// Whether two header names could reach this server as one: case never matters, and some
/// proxies (nginx, CGI gateways) turn `_` into `-`.
fn same_header(a: &str, b: &str) -> bool {
    let fold = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    fold(a) == fold(b)
}

fn visit(
    node: &mut Value,
    path: &mut Vec<String>,
    levels: &mut Vec<Vec<String>>,
    reachable: bool,
    found: &mut Vec<HeaderParam>,
) -> Result<(), String> {
    let Value::Object(schema) = node else {
        return Ok(());
    };
    if let Some(name) = schema.get(KEYWORD).cloned() {
        let at = if path.is_empty() {
            "the input's root".to_owned()
        } else {
            format!("property `{}`", path.join("."))
        };
        if !reachable || path.is_empty() {
            return Err(format!(
                "`{KEYWORD}` on {at}: only a property reached from the root through `properties` alone can be mirrored (not below `items`, `$defs`, `anyOf`, ...)"
            ));
        }
        let Some(name) = name.as_str().filter(|n| is_token(n)) else {
            return Err(format!(
                "`{KEYWORD}` on {at} must be a non-empty HTTP field-name token (letters, digits and `!#$%&'*+-.^_`|~`)"
            ));
        };
        let header = HeaderName::from_bytes(format!("mcp-param-{name}").as_bytes())
            .map_err(|_| format!("`{KEYWORD}` `{name}` on {at} is no HTTP header name"))?;
        let display = format!("Mcp-Param-{name}");
        let kind = primitive_type(schema).map_err(|found| {
            format!(
                "`{KEYWORD}` `{name}` on {at}: a header carries one string, integer or boolean, not {found}"
            )
        })?;
        found.push(HeaderParam {
            header,
            display,
            path: path.clone(),
            levels: levels.clone(),
            kind,
        });
    }
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        levels.push(properties.keys().cloned().collect());
        for (key, child) in properties.iter_mut() {
            path.push(key.clone());
            visit(child, path, levels, reachable, found)?;
            path.pop();
        }
        levels.pop();
    }
    for keyword in UNREACHABLE {
        match schema.get_mut(keyword) {
            Some(Value::Array(branches)) => {
                for branch in branches {
                    visit(branch, path, levels, false, found)?;
                }
            }
            Some(Value::Object(sub)) if is_map_keyword(keyword) => {
                for branch in sub.values_mut() {
                    visit(branch, path, levels, false, found)?;
                }
            }
            Some(sub) => visit(sub, path, levels, false, found)?,
            None => {}
        }
    }
    Ok(())
}

/// Keywords whose value maps names to subschemas rather than being one.
fn is_map_keyword(keyword: &str) -> bool {
    matches!(
        keyword,
        "patternProperties" | "dependentSchemas" | "$defs" | "definitions"
    )
}

/// The property's primitive type; `[T, "null"]` (an `Option<T>`) is rewritten to `T`. The
/// error describes what was found instead.
fn primitive_type(schema: &mut Map<String, Value>) -> Result<Kind, String> {
    let single = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => {
            let named: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            match named.as_slice() {
                [t, "null"] | ["null", t] if types.len() == 2 => {
                    let t = (*t).to_owned();
                    schema.insert("type".into(), Value::String(t.clone()));
                    t
                }
                _ => return Err(format!("the types {}", Value::Array(types.clone()))),
            }
        }
        Some(other) => return Err(format!("the type {other}")),
        None if schema.contains_key("$ref") => {
            return Err(
                "a `$ref` (add `#[schemars(inline)]` to the parameter's type, so that its schema sits in the property)"
                    .into(),
            );
        }
        None => return Err("a property without a `type`".into()),
    };
    match single.as_str() {
        "string" => Ok(Kind::String),
        "integer" => Ok(Kind::Integer),
        "boolean" => Ok(Kind::Boolean),
        "number" => Err("a `number` (the specification excludes them: use an integer)".into()),
        other => Err(format!("an `{other}`")),
    }
}

/// RFC 9110 `token` (`1*tchar`).
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each declaration's header, path and kind.
    type Found = Vec<(String, Vec<String>, Kind)>;

    fn scanned(mut schema: Value) -> Result<(Found, Value), String> {
        let found = scan(&mut schema)?;
        Ok((
            found
                .into_iter()
                .map(|p| (p.header.as_str().to_owned(), p.path, p.kind))
                .collect(),
            schema,
        ))
    }

    #[test]
    fn finds_top_level_and_nested_declarations() {
        let (found, _) = scanned(json!({
            "type": "object",
            "properties": {
                "region": { "type": "string", "x-mcp-header": "Region" },
                "query": { "type": "string" },
                "target": { "type": "object", "properties": {
                    "tenant": { "type": "integer", "x-mcp-header": "Tenant" }
                } }
            }
        }))
        .unwrap();
        assert_eq!(
            found,
            [
                (
                    "mcp-param-region".to_owned(),
                    vec!["region".to_owned()],
                    Kind::String
                ),
                (
                    "mcp-param-tenant".to_owned(),
                    vec!["target".to_owned(), "tenant".to_owned()],
                    Kind::Integer
                ),
            ]
        );
    }

    #[test]
    fn an_optional_parameter_gets_one_type() {
        let (found, schema) = scanned(json!({
            "type": "object",
            "properties": { "flag": { "type": ["boolean", "null"], "x-mcp-header": "Flag" } }
        }))
        .unwrap();
        assert_eq!(found[0].2, Kind::Boolean);
        assert_eq!(schema["properties"]["flag"]["type"], "boolean");
    }

    #[test]
    fn refuses_what_the_specification_forbids() {
        let cases = [
            (json!({ "type": "number", "x-mcp-header": "N" }), "number"),
            (json!({ "type": "array", "x-mcp-header": "A" }), "array"),
            (json!({ "type": "object", "x-mcp-header": "O" }), "object"),
            (json!({ "type": "null", "x-mcp-header": "Z" }), "null"),
            (json!({ "$ref": "#/$defs/R", "x-mcp-header": "R" }), "$ref"),
            (json!({ "type": "string", "x-mcp-header": "" }), "token"),
            (
                json!({ "type": "string", "x-mcp-header": "My Region" }),
                "token",
            ),
            (
                json!({ "type": "string", "x-mcp-header": "Region:Primary" }),
                "token",
            ),
            (
                json!({ "type": "string", "x-mcp-header": "R\u{e9}gion" }),
                "token",
            ),
            (
                json!({ "type": "string", "x-mcp-header": "Region\t1" }),
                "token",
            ),
            (json!({ "type": "string", "x-mcp-header": 7 }), "token"),
        ];
        for (property, why) in cases {
            let err =
                scanned(json!({ "type": "object", "properties": { "p": property } })).unwrap_err();
            assert!(err.contains("property `p`"), "{why}: {err}");
        }
    }

    #[test]
    fn refuses_declarations_a_path_of_properties_does_not_reach() {
        for schema in [
            json!({ "type": "object", "x-mcp-header": "Root" }),
            json!({ "type": "object", "properties": { "list": { "type": "array",
                "items": { "type": "string", "x-mcp-header": "Item" } } } }),
            json!({ "type": "object", "$defs": { "R": { "type": "object", "properties": {
                "r": { "type": "string", "x-mcp-header": "R" } } } } }),
            json!({ "type": "object", "anyOf": [{ "properties": {
                "r": { "type": "string", "x-mcp-header": "R" } } }] }),
            json!({ "type": "object", "additionalProperties": {
                "type": "string", "x-mcp-header": "Extra" } }),
        ] {
            let err = scanned(schema.clone()).unwrap_err();
            assert!(
                err.contains("through `properties` alone"),
                "{schema}: {err}"
            );
        }
    }

    #[test]
    fn refuses_names_one_header_could_stand_for() {
        for (a, b) in [
            ("Region", "Region"),
            ("Region", "REGION"),
            ("Tenant_Id", "tenant-id"),
        ] {
            let err = scanned(json!({ "type": "object", "properties": {
                "a": { "type": "string", "x-mcp-header": a },
                "b": { "type": "string", "x-mcp-header": b },
            } }))
            .unwrap_err();
            assert!(err.contains("repeats"), "{a} {b}: {err}");
        }
        // A standard header's name is another header once prefixed.
        assert!(
            scanned(json!({ "type": "object", "properties": {
                "m": { "type": "string", "x-mcp-header": "Method" } } }))
            .is_ok()
        );
    }

    #[test]
    fn reads_the_body_value_at_the_path() {
        let mut schema = json!({ "type": "object", "properties": {
            "a": { "type": "object", "properties": { "b": { "type": "string", "x-mcp-header": "B" } } }
        } });
        let param = scan(&mut schema).unwrap().remove(0);
        let args = |v: Value| v.as_object().cloned();
        assert_eq!(
            param.value_in(args(json!({ "a": { "b": "x" } })).as_ref()),
            Some(&json!("x"))
        );
        assert_eq!(
            param.value_in(args(json!({ "a": { "b": null } })).as_ref()),
            None
        );
        assert_eq!(param.value_in(args(json!({ "a": "b" })).as_ref()), None);
        assert_eq!(param.value_in(None), None);
    }
}
