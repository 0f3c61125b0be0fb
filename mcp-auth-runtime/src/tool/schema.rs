//! JSON Schema generation for tool inputs and outputs.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::Value;

/// The JSON Schema 2020-12 of `T`, the dialect MCP 2025-11-25 makes the default. The root
/// `title` is dropped: it names a Rust type (often a generated one), and the tool already has a
/// name and title of its own.
fn schema<T: JsonSchema>() -> Value {
    let schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut value = schema.to_value();
    if let Value::Object(map) = &mut value {
        map.remove("title");
    }
    value
}

pub(crate) fn input<T: JsonSchema>() -> Value {
    schema::<T>()
}

pub(crate) fn output<T: JsonSchema>() -> Value {
    schema::<T>()
}

/// Whether a schema's root describes a JSON object, as MCP requires of both tool schemas.
pub(crate) fn is_object_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("object")
}
