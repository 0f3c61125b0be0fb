//! `#[arg(header = "Region")]` on a `#[tool]` parameter: the parameter is also sent as the
//! `Mcp-Param-Region` HTTP header (SEP-2243), and its schema property gets
//! `"x-mcp-header": "Region"`. The rules a name and a type must follow are checked here, where
//! the user's span is known; the server checks the final schema again when it is built, for
//! types this macro cannot see into.

use proc_macro2::Span;
use syn::{Attribute, Type};

use crate::arg::{ParamArg, param_args};
use crate::valid::Errors;

/// The header name of a plain tool parameter's `#[arg(header = ..)]`, with its span; `None`
/// without one or when it breaks a rule. `name` and `complete` are for prompts and
/// templates, whose arguments are strings a client completes.
pub(crate) fn plain_param_header(
    attrs: &[Attribute],
    ty: &Type,
    errors: &mut Errors,
) -> Option<(String, Span)> {
    let mut header = None;
    for arg in param_args(attrs, errors) {
        match arg {
            ParamArg::Header(_, lit) => {
                let name = lit.value();
                if let Some(message) = invalid_name(&name) {
                    errors.push(lit.span(), message);
                    continue;
                }
                if let Some(message) = not_scalar(ty) {
                    errors.push_spanned(ty, message);
                    continue;
                }
                if let Some(alias) = serde_alias(attrs) {
                    errors.push(
                        alias,
                        "a parameter mirrored in a header cannot have a serde `alias`: a body naming it by the alias would carry its value where the header check does not look (the server refuses such bodies too)",
                    );
                    continue;
                }
                header = Some((name, lit.span()));
            }
            ParamArg::Name(span, _) | ParamArg::Complete(span, _) => errors.push(
                span,
                "a tool parameter takes only `#[arg(header = \"..\")]`: `name` and `complete` are for prompt arguments and template variables (a tool parameter is named by its name, or `#[serde(rename = \"..\")]`)",
            ),
        }
    }
    header
}

/// The span of an `alias` in the parameter's `#[serde(..)]`, if it has one.
fn serde_alias(attrs: &[Attribute]) -> Option<Span> {
    fn find(tokens: proc_macro2::TokenStream) -> Option<Span> {
        tokens.into_iter().find_map(|token| match token {
            proc_macro2::TokenTree::Ident(ident) if ident == "alias" => Some(ident.span()),
            proc_macro2::TokenTree::Group(group) => find(group.stream()),
            _ => None,
        })
    }
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("serde"))
        .find_map(|attr| match &attr.meta {
            syn::Meta::List(list) => find(list.tokens.clone()),
            _ => None,
        })
}

/// `#[arg]` on the `ToolContext` or on `Args<T>` (`hint` says what to do instead), which
/// are no property of the input.
pub(crate) fn reject_on(attrs: &[Attribute], what: &str, hint: &str, errors: &mut Errors) {
    for arg in param_args(attrs, errors) {
        errors.push(
            arg.key_span(),
            format_args!("`#[arg]` on {what}: it is no property of the input; {hint}"),
        );
    }
}

/// Two parameters cannot travel in one header: header names are compared regardless of case
/// (and some proxies turn `_` into `-`), so `Region` and `REGION` are one header.
pub(crate) fn check_unique(headers: &[(String, Span)], errors: &mut Errors) {
    let fold = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    for (index, (name, span)) in headers.iter().enumerate() {
        if let Some((earlier, _)) = headers[..index]
            .iter()
            .find(|(other, _)| fold(other) == fold(name))
        {
            errors.push(
                *span,
                format_args!(
                    "duplicate header `Mcp-Param-{name}`: `{earlier}` names the same header, as header names ignore case (and some proxies read `_` as `-`)"
                ),
            );
        }
    }
}

/// Why `name` cannot follow `Mcp-Param-`: it must be an RFC 9110 token.
fn invalid_name(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the header name cannot be empty: it follows `Mcp-Param-`".into());
    }
    let bad = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(*c)))?;
    Some(format!(
        "invalid header name `{}`: {} cannot be part of an HTTP header name (use letters, digits, `-` and `_`)",
        name.escape_default(),
        match bad {
            ' ' => "a space".to_owned(),
            c if c.is_control() => format!("the control character `{}`", c.escape_default()),
            c if !c.is_ascii() => format!("the non-ASCII `{c}`"),
            c => format!("`{c}`"),
        }
    ))
}

/// Why a parameter of type `ty` cannot be a header, when its type says so: a header carries
/// one string, integer or boolean (never a JSON `number`). Other types are left to the
/// server's check of their schema.
fn not_scalar(ty: &Type) -> Option<String> {
    let ty = strip_option(ty);
    let what = match ty {
        Type::Array(_) | Type::Slice(_) => "an array",
        Type::Tuple(tuple) if tuple.elems.is_empty() => "`()`",
        Type::Tuple(_) => "a tuple",
        Type::Path(path) if path.qself.is_none() => {
            let segment = path.path.segments.last()?;
            match segment.ident.to_string().as_str() {
                "f32" | "f64" => {
                    return Some(format!(
                        "a `{}` parameter cannot be a header: `x-mcp-header` allows strings, integers and booleans, not JSON numbers; take an integer (cents, milliseconds, ...)",
                        segment.ident
                    ));
                }
                "Vec" | "VecDeque" | "LinkedList" | "HashSet" | "BTreeSet" | "IndexSet" => "a list",
                "HashMap" | "BTreeMap" | "IndexMap" | "Map" | "Value" => "an object",
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(format!(
        "this parameter cannot be a header: a header carries one string, integer or boolean, not {what}"
    ))
}

/// `T` of `Option<T>`: an optional parameter is mirrored when given.
fn strip_option(ty: &Type) -> &Type {
    if let Type::Path(path) = ty
        && path.qself.is_none()
        && let Some(segment) = path.path.segments.last()
        && segment.ident == "Option"
        && let syn::PathArguments::AngleBracketed(args) = &segment.arguments
        && let Some(syn::GenericArgument::Type(inner)) = args.args.first()
    {
        return inner;
    }
    ty
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn names_are_tokens() {
        assert_eq!(invalid_name("Region"), None);
        assert_eq!(invalid_name("Tenant_Id-2"), None);
        for bad in [
            "",
            "My Region",
            "Region:Primary",
            "R\u{e9}gion",
            "Region\t1",
        ] {
            assert!(invalid_name(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn scalars_pass_and_containers_do_not() {
        for ty in [
            parse_quote!(String),
            parse_quote!(Option<u32>),
            parse_quote!(bool),
            parse_quote!(Region),
        ] {
            assert_eq!(not_scalar(&ty), None);
        }
        for ty in [
            parse_quote!(f64),
            parse_quote!(Option<f32>),
            parse_quote!(Vec<String>),
            parse_quote!([u8; 4]),
            parse_quote!((u8, u8)),
            parse_quote!(std::collections::HashMap<String, String>),
        ] {
            let ty: Type = ty;
            assert!(not_scalar(&ty).is_some(), "{}", quote::quote!(#ty));
        }
    }
}
