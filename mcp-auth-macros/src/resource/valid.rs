//! Every rule `#[resource]` enforces, each collected so that one build reports every mistake.
//! The runtime checks URIs and templates again when the server is built, for descriptors
//! written by hand; here they fail at the user's literal instead.

use proc_macro2::Span;
use syn::{FnArg, GenericArgument, Ident, ItemFn, LitStr, Pat, PathArguments, ReturnType, Type};

use super::attr::{Arg, ResourceArgs};
use crate::arg::{ParamArg, completer, param_args, reject_header};
use crate::ast::first_paragraph;
use crate::authorize::{self, Authorization, Require};
use crate::valid::{Errors, ScopeMessages, check_duplicate_keys, decide_scopes};

/// The validated model `expand.rs` reads.
pub(crate) struct Resource<'a> {
    pub(crate) func: &'a ItemFn,
    pub(crate) uri: Uri,
    pub(crate) name: String,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) mime_type: Option<String>,
    pub(crate) scopes: Vec<String>,
    /// `User` or `Assistant`, the runtime's `Role` variants.
    pub(crate) audience: Vec<&'static str>,
    pub(crate) priority: Option<f64>,
    pub(crate) params: Vec<ResourceParam<'a>>,
    pub(crate) output: &'a Type,
    pub(crate) kind: OutputKind,
    /// `require(..)` over the template variables, and `may_require`.
    pub(crate) authorization: Authorization,
}

pub(crate) enum Uri {
    Fixed(String),
    Template(String),
}

pub(crate) enum ResourceParam<'a> {
    /// `ToolContext` or `ToolContext<S>`.
    Context { state: Option<&'a Type> },
    /// Bound to the template variable of the same name; `complete` from
    /// `#[arg(complete = f)]`.
    Variable {
        ident: &'a Ident,
        ty: &'a Type,
        complete: Option<syn::Path>,
    },
}

/// How the success value becomes the read's contents.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OutputKind {
    /// `String`: one text item.
    Text,
    /// `Vec<u8>`: one base64 `blob` item.
    Blob,
    /// `Vec<ResourceContents>`: as built by the function.
    Raw,
    /// Anything else: `Serialize`, one JSON text item.
    Json,
}

pub(crate) fn validate(func: &ItemFn, args: ResourceArgs) -> syn::Result<Resource<'_>> {
    let mut errors = Errors::default();
    let args = args.args;
    check_signature(func, "resource", &mut errors);
    check_duplicates(&args, &mut errors);
    let uri = check_uri(&args, &mut errors);
    let scopes = decide_scopes(
        args.iter().find_map(|a| match a {
            Arg::Scope(_, value) => Some(value),
            _ => None,
        }),
        args.iter().find_map(|a| match a {
            Arg::Unscoped(span) => Some(*span),
            _ => None,
        }),
        ScopeMessages {
            conflict: "`unscoped` conflicts with `scope`: a resource either requires scopes or declares that it needs none",
            missing: "`#[resource]` requires a scope decision: add `scope = \"...\"` (or `scope = [\"a\", \"b\"]`), or `unscoped` for a resource any authenticated caller may read",
        },
        &mut errors,
    );
    let params = check_params(func, uri.as_ref(), &mut errors);
    let requires: Vec<&Require> = args
        .iter()
        .filter_map(|a| match a {
            Arg::Require(require) => Some(require),
            _ => None,
        })
        .collect();
    let authorization = authorize::validate(
        &requires,
        args.iter().find_map(|a| match a {
            Arg::MayRequire(_, value) => Some(value),
            _ => None,
        }),
        scopes.as_deref(),
        params
            .iter()
            .any(|p| matches!(p, ResourceParam::Context { .. })),
        "resource",
        &mut errors,
    );
    let output = check_output(func, &mut errors);
    let mut name = func
        .sig
        .ident
        .to_string()
        .trim_start_matches("r#")
        .to_owned();
    let (mut title, mut description, mut mime_type) = (None, first_paragraph(&func.attrs), None);
    let (mut audience, mut priority) = (Vec::new(), None);
    for arg in &args {
        match arg {
            Arg::Name(_, lit) => name = non_empty(lit, &mut errors),
            Arg::Title(_, lit) => title = Some(non_empty(lit, &mut errors)),
            Arg::Description(_, lit) => description = Some(non_empty(lit, &mut errors)),
            Arg::MimeType(_, lit) => mime_type = Some(check_mime_type(lit, &mut errors)),
            Arg::Audience(_, roles) => {
                for role in roles {
                    match role.value().as_str() {
                        "user" => audience.push("User"),
                        "assistant" => audience.push("Assistant"),
                        _ => errors.push(
                            role.span(),
                            "an audience is `\"user\"` or `\"assistant\"` (MCP `Role`)",
                        ),
                    }
                }
            }
            Arg::Priority(_, lit) => match lit.base10_parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => priority = Some(p),
                _ => errors.push(
                    lit.span(),
                    "`priority` is a number from 0 (optional) to 1 (required)",
                ),
            },
            _ => {}
        }
    }
    errors.finish()?;
    let (output, kind) = output.expect("errors finished above");
    Ok(Resource {
        func,
        uri: uri.expect("errors finished above").0,
        name,
        title,
        description,
        mime_type,
        scopes: scopes.expect("errors finished above"),
        audience,
        priority,
        params,
        output,
        kind,
        authorization,
    })
}

/// Resources and prompts (`#[attr]`) are run through a plain function pointer that polls a
/// future: an `async fn` without receiver or generics is the only shape it can call.
pub(crate) fn check_signature(func: &ItemFn, attr: &str, errors: &mut Errors) {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errors.push(
            sig.fn_token.span,
            format_args!("`#[{attr}]` requires an `async fn`"),
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push_spanned(
            &sig.generics,
            format_args!("`#[{attr}]` functions cannot be generic"),
        );
    }
    for input in &sig.inputs {
        if let FnArg::Receiver(receiver) = input {
            errors.push_spanned(
                receiver,
                format_args!(
                    "`#[{attr}]` functions cannot take `self`: write a free function and reach shared data through `ToolContext<S>`"
                ),
            );
        }
    }
}

/// A key given twice is a copy-paste mistake, and which one wins would be a guess.
/// `require(..)` is the one key that repeats: each adds a condition.
fn check_duplicates(args: &[Arg], errors: &mut Errors) {
    check_duplicate_keys(
        args.iter()
            .filter(|a| !matches!(a, Arg::Require(_)))
            .map(|a| (a.key(), a.key_span())),
        errors,
    );
}

/// Exactly one of `uri` and `uri_template`, well-formed, so that the server can route each
/// read to this resource and no other; returns it with the template's variables.
fn check_uri(args: &[Arg], errors: &mut Errors) -> Option<(Uri, Vec<String>, Span)> {
    let given: Vec<&Arg> = args
        .iter()
        .filter(|a| matches!(a, Arg::Uri(..) | Arg::UriTemplate(..)))
        .collect();
    match given.as_slice() {
        [] => {
            errors.push(
                Span::call_site(),
                "`#[resource]` requires `uri = \"scheme://...\"` or `uri_template = \"scheme://{var}\"`",
            );
            None
        }
        [Arg::Uri(_, lit)] => {
            let uri = lit.value();
            if uri.contains(['{', '}']) {
                errors.push(
                    lit.span(),
                    "a `uri` cannot contain `{` or `}`: for a template, write `uri_template = ...`",
                );
                None
            } else if let Err(why) = uri_text(&uri) {
                errors.push(lit.span(), format_args!("invalid resource URI: {why}"));
                None
            } else {
                Some((Uri::Fixed(uri), Vec::new(), lit.span()))
            }
        }
        [Arg::UriTemplate(_, lit)] => match template_variables(&lit.value()) {
            Ok(variables) => Some((Uri::Template(lit.value()), variables, lit.span())),
            Err(why) => {
                errors.push(lit.span(), format_args!("invalid URI template: {why}"));
                None
            }
        },
        [_, second, ..] => {
            errors.push(
                second.key_span(),
                "give one of `uri` and `uri_template`: a resource has one URI or one template",
            );
            None
        }
        [_] => unreachable!("filtered to `uri` and `uri_template`"),
    }
}

/// Text a URI may contain (RFC 3986), after a scheme.
fn uri_text(text: &str) -> Result<(), String> {
    let scheme_ok = text.split_once(':').is_some_and(|(scheme, _)| {
        let mut chars = scheme.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if !scheme_ok {
        return Err("it must start with a scheme, as in `billing://...`".into());
    }
    match text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(*c)))
    {
        Some(c) => Err(format!("`{}` cannot appear in a URI", c.escape_default())),
        None => Ok(()),
    }
}

/// The variables of an RFC 6570 level-1 template (`{name}` only), or why it is not one.
fn template_variables(template: &str) -> Result<Vec<String>, String> {
    let mut variables: Vec<String> = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        literal.push_str(&rest[..open]);
        if open == 0 && !variables.is_empty() {
            return Err("two variables are adjacent: a read could not tell where one ends".into());
        }
        let Some(close) = rest[open..].find('}') else {
            return Err("a `{` is not closed".into());
        };
        let name = &rest[open + 1..open + close];
        let level_one =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !level_one {
            return Err(format!(
                "`{{{name}}}` is not a level-1 variable: only `{{name}}` is supported"
            ));
        }
        if variables.iter().any(|v| v == name) {
            return Err(format!("variable `{name}` appears twice"));
        }
        variables.push(name.to_owned());
        literal.push('x');
        rest = &rest[open + close + 1..];
    }
    literal.push_str(rest);
    if literal.contains('}') {
        return Err("a `}` closes nothing".into());
    }
    if variables.is_empty() {
        return Err("it has no `{variable}`: for a single URI, write `uri = ...`".into());
    }
    if !template.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("it must start with a scheme, as in `invoice://{id}`".into());
    }
    uri_text(&literal)?;
    Ok(variables)
}

/// Each template variable is a parameter of the same name and each parameter a variable, so
/// that no value is silently dropped or left unbound; `ToolContext` may come once.
fn check_params<'a>(
    func: &'a ItemFn,
    uri: Option<&(Uri, Vec<String>, Span)>,
    errors: &mut Errors,
) -> Vec<ResourceParam<'a>> {
    let mut params = Vec::new();
    let mut bound = Vec::new();
    for input in &func.sig.inputs {
        let FnArg::Typed(typed) = input else { continue };
        let args = param_args(&typed.attrs, errors);
        if let Some(state) = context_state(&typed.ty) {
            if params
                .iter()
                .any(|p| matches!(p, ResourceParam::Context { .. }))
            {
                errors.push_spanned(&typed.ty, "at most one `ToolContext` parameter");
            }
            if let Some(arg) = args.first() {
                errors.push(
                    arg.key_span(),
                    "the `ToolContext` is no template variable: `#[arg]` on it completes nothing",
                );
            }
            params.push(ResourceParam::Context { state });
            continue;
        }
        let Pat::Ident(pat) = &*typed.pat else {
            errors.push_spanned(
                &typed.pat,
                "a resource parameter must be a plain name: it is bound to the template variable of that name",
            );
            continue;
        };
        let ident = &pat.ident;
        let name = ident.to_string();
        match uri {
            Some((Uri::Fixed(_), ..)) => errors.push(
                ident.span(),
                format_args!(
                    "parameter `{name}` has no template variable: a resource with a fixed `uri` takes only a `ToolContext`"
                ),
            ),
            Some((Uri::Template(_), variables, _)) if !variables.contains(&name) => errors.push(
                ident.span(),
                format_args!(
                    "parameter `{name}` has no template variable: add `{{{name}}}` to the `uri_template`, or remove the parameter"
                ),
            ),
            _ => bound.push(name),
        }
        reject_header(&args, "a resource", errors);
        for arg in &args {
            if let ParamArg::Name(span, _) = arg {
                errors.push(
                    *span,
                    "a template variable is named by its parameter: `#[arg(name = ..)]` is for prompt arguments",
                );
            }
        }
        params.push(ResourceParam::Variable {
            ident,
            ty: &typed.ty,
            complete: completer(&args).cloned(),
        });
    }
    if let Some((Uri::Template(_), variables, span)) = uri {
        for variable in variables.iter().filter(|v| !bound.contains(v)) {
            errors.push(
                *span,
                format_args!(
                    "template variable `{variable}` has no parameter: add `{variable}: String` to the function"
                ),
            );
        }
    }
    params
}

/// `Some(state)` for a `ToolContext` or `ToolContext<S>` parameter.
pub(crate) fn context_state(ty: &Type) -> Option<Option<&Type>> {
    let Type::Path(path) = ty else { return None };
    let segment = path.path.segments.last()?;
    if segment.ident != "ToolContext" {
        return None;
    }
    Some(first_type_argument(&segment.arguments))
}

pub(crate) fn first_type_argument(arguments: &PathArguments) -> Option<&Type> {
    match arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        }),
        _ => None,
    }
}

/// `T` of the function's `Result<T, _>` return type, or `message` at the return type.
pub(crate) fn result_value<'a>(
    func: &'a ItemFn,
    message: &str,
    errors: &mut Errors,
) -> Option<&'a Type> {
    let ReturnType::Type(_, ty) = &func.sig.output else {
        errors.push(func.sig.ident.span(), message);
        return None;
    };
    let value = match &**ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .filter(|s| s.ident == "Result")
            .and_then(|s| first_type_argument(&s.arguments)),
        _ => None,
    };
    if value.is_none() {
        errors.push_spanned(ty, message);
    }
    value
}

/// A read can fail (not found, a refused scope), so the function returns
/// `Result<T, ToolError>`; `T` decides the contents' form.
fn check_output<'a>(func: &'a ItemFn, errors: &mut Errors) -> Option<(&'a Type, OutputKind)> {
    let value = result_value(
        func,
        "a resource returns `Result<T, ToolError>`, with `T` a `String` (text), `Vec<u8>` (binary), `Vec<ResourceContents>` or any `Serialize` (JSON)",
        errors,
    )?;
    let segment = match value {
        Type::Path(path) => path.path.segments.last(),
        _ => None,
    };
    let kind = match segment {
        Some(s) if s.ident == "String" => OutputKind::Text,
        Some(s) if s.ident == "Vec" => match first_type_argument(&s.arguments) {
            Some(Type::Path(inner)) if inner.path.is_ident("u8") => OutputKind::Blob,
            Some(Type::Path(inner))
                if inner
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "ResourceContents") =>
            {
                OutputKind::Raw
            }
            _ => OutputKind::Json,
        },
        _ => OutputKind::Json,
    };
    Some((value, kind))
}

pub(crate) fn non_empty(lit: &LitStr, errors: &mut Errors) -> String {
    let value = lit.value();
    if value.trim().is_empty() {
        errors.push(lit.span(), "cannot be empty");
    }
    value
}

/// A media type is `type/subtype`; anything else would mislead the client decoding it.
fn check_mime_type(lit: &LitStr, errors: &mut Errors) -> String {
    let value = lit.value();
    let valid = value.split_once('/').is_some_and(|(t, s)| {
        !t.is_empty() && !s.is_empty() && !value.contains(char::is_whitespace)
    });
    if !valid {
        errors.push(
            lit.span(),
            "a `mime_type` is `type/subtype`, such as `\"application/json\"`",
        );
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_one_templates_give_their_variables() {
        assert_eq!(
            template_variables("invoice://{tenant}/{invoice_id}").unwrap(),
            ["tenant", "invoice_id"]
        );
        for bad in [
            "invoice://{+id}",
            "invoice://{id",
            "invoice://id}",
            "invoice://{a}{b}",
            "invoice://{a}/{a}",
            "invoice://all",
            "{s}://x",
            "invoice:// {id}",
        ] {
            assert!(template_variables(bad).is_err(), "{bad}");
        }
    }
}
