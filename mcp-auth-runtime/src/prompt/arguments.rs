//! The arguments of one `prompts/get`: strings by name, as MCP sends them.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::error::ToolError;

/// The arguments of one `prompts/get` (`params.arguments`): a string for each name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptArguments {
    values: BTreeMap<String, String>,
}

impl PromptArguments {
    /// Arguments from `(name, value)` pairs; for calling a handler directly.
    pub fn new<N: Into<String>, V: Into<String>>(values: impl IntoIterator<Item = (N, V)>) -> Self {
        PromptArguments {
            values: values
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }

    /// `params.arguments` of a request, or why it is not a map of strings (MCP types every
    /// prompt argument as a string).
    pub(crate) fn from_json(arguments: Option<&Value>) -> Result<Self, String> {
        let map = match arguments {
            None | Some(Value::Null) => return Ok(PromptArguments::default()),
            Some(Value::Object(map)) => map,
            Some(_) => return Err("invalid params: `arguments` must be an object".into()),
        };
        Self::from_map(map)
    }

    fn from_map(map: &Map<String, Value>) -> Result<Self, String> {
        let mut values = BTreeMap::new();
        for (name, value) in map {
            let Value::String(value) = value else {
                return Err(format!(
                    "invalid params: argument `{name}` must be a string"
                ));
            };
            values.insert(name.clone(), value.clone());
        }
        Ok(PromptArguments { values })
    }

    /// The value of argument `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The names given.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Every `(name, value)`, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// A prompt argument's type: any type parsed from the argument's string with [`FromStr`],
/// `String` among them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a prompt argument: it does not implement `FromStr` with a `Display` error",
    label = "not parsed from a string",
    note = "MCP sends every prompt argument as a string: take `String`, `Option<String>` or a type implementing `std::str::FromStr`"
)]
pub trait PromptArg: Sized {
    /// Parses the argument's string.
    fn parse_arg(value: &str) -> Result<Self, String>;
}

#[diagnostic::do_not_recommend]
impl<T: FromStr> PromptArg for T
where
    T::Err: Display,
{
    fn parse_arg(value: &str) -> Result<Self, String> {
        value.parse().map_err(|err: T::Err| err.to_string())
    }
}

/// Required argument `name`, parsed: missing or unparsable is invalid params naming it.
pub(crate) fn required<T: PromptArg>(
    arguments: &PromptArguments,
    name: &str,
) -> Result<T, ToolError> {
    optional(arguments, name)?
        .ok_or_else(|| ToolError::InvalidArguments(format!("missing required argument `{name}`")))
}

/// Optional argument `name`, parsed when given.
pub(crate) fn optional<T: PromptArg>(
    arguments: &PromptArguments,
    name: &str,
) -> Result<Option<T>, ToolError> {
    arguments
        .get(name)
        .map(|value| {
            T::parse_arg(value)
                .map_err(|why| ToolError::InvalidArguments(format!("argument `{name}`: {why}")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_are_strings() {
        let args = PromptArguments::from_json(Some(&json!({"a": "1"}))).unwrap();
        assert_eq!(args.get("a"), Some("1"));
        assert!(PromptArguments::from_json(Some(&json!({"a": 1}))).is_err());
        assert!(PromptArguments::from_json(Some(&json!(["a"]))).is_err());
        assert_eq!(
            PromptArguments::from_json(None).unwrap(),
            PromptArguments::default()
        );
    }

    #[test]
    fn parse_failures_and_missing_arguments_name_the_argument() {
        let args = PromptArguments::new([("n", "x")]);
        let err = required::<u32>(&args, "n").unwrap_err();
        assert!(err.to_string().contains("`n`"), "{err}");
        let err = required::<String>(&args, "m").unwrap_err();
        assert!(
            err.to_string().contains("missing required argument `m`"),
            "{err}"
        );
        assert_eq!(optional::<u32>(&args, "m").unwrap(), None);
    }
}
