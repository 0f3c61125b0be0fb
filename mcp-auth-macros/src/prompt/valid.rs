//! Every rule `#[prompt]` enforces, each collected so that one build reports every mistake.

use syn::{FnArg, Ident, ItemFn, Pat, Type};

use super::attr::{Arg, PromptArgs};
use crate::arg::{ParamArg, completer, is_param_attr, param_args, reject_header};
use crate::ast::first_paragraph;
use crate::authorize::{self, Authorization, Require};
use crate::resource::valid::{
    check_signature, context_state, first_type_argument, non_empty, result_value,
};
use crate::valid::{Errors, ScopeMessages, check_duplicate_keys, checked_name, decide_scopes};

/// The validated model `expand.rs` reads.
pub(crate) struct Prompt<'a> {
    pub(crate) func: &'a ItemFn,
    pub(crate) name: String,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) scopes: Vec<String>,
    /// `require(..)` over the arguments, and `may_require`.
    pub(crate) authorization: Authorization,
    pub(crate) params: Vec<PromptParam<'a>>,
    /// `T` of the returned `Result<T, ToolError>`.
    pub(crate) output: &'a Type,
}

pub(crate) enum PromptParam<'a> {
    /// `ToolContext` or `ToolContext<S>`.
    Context { state: Option<&'a Type> },
    /// One prompt argument.
    Argument(Argument<'a>),
}

pub(crate) struct Argument<'a> {
    pub(crate) ident: &'a Ident,
    /// The argument's name in MCP.
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    /// The parameter's type as written.
    pub(crate) ty: &'a Type,
    /// `T` parsed from the string: the parameter's type, or `T` of `Option<T>`.
    pub(crate) parsed: &'a Type,
    pub(crate) required: bool,
    /// `#[arg(complete = f)]`.
    pub(crate) complete: Option<syn::Path>,
}

pub(crate) fn validate(func: &ItemFn, args: PromptArgs) -> syn::Result<Prompt<'_>> {
    let mut errors = Errors::default();
    let args = args.args;
    check_signature(func, "prompt", &mut errors);
    // `require(..)` is the one key that repeats: each adds a condition.
    check_duplicate_keys(
        args.iter()
            .filter(|a| !matches!(a, Arg::Require(_)))
            .map(|a| (a.key(), a.key_span())),
        &mut errors,
    );
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
            conflict: "`unscoped` conflicts with `scope`: a prompt either requires scopes or declares that it needs none",
            missing: "`#[prompt]` requires a scope decision: add `scope = \"...\"` (or `scope = [\"a\", \"b\"]`), or `unscoped` for a prompt any authenticated caller may get",
        },
        &mut errors,
    );
    // The name travels in `prompts/get` and the `Mcp-Name` header: a tool name's characters.
    let explicit_name = args.iter().find_map(|arg| match arg {
        Arg::Name(_, lit) => Some(lit),
        _ => None,
    });
    let name = checked_name("prompt", explicit_name, func, &mut errors);
    let params = check_params(func, &mut errors);
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
            .any(|p| matches!(p, PromptParam::Context { .. })),
        "prompt",
        &mut errors,
    );
    let output = check_output(func, &mut errors);
    let (mut title, mut description) = (None, first_paragraph(&func.attrs));
    for arg in &args {
        match arg {
            Arg::Title(_, lit) => title = Some(non_empty(lit, &mut errors)),
            Arg::Description(_, lit) => description = Some(non_empty(lit, &mut errors)),
            _ => {}
        }
    }
    errors.finish()?;
    Ok(Prompt {
        func,
        name: name.expect("errors finished above"),
        title,
        description,
        scopes: scopes.expect("errors finished above"),
        authorization,
        params,
        output: output.expect("errors finished above"),
    })
}

/// Each plain parameter is one argument, named once: `prompts/get` gives arguments by name,
/// so two of one name could not both be given. `ToolContext` may come once.
fn check_params<'a>(func: &'a ItemFn, errors: &mut Errors) -> Vec<PromptParam<'a>> {
    let mut params: Vec<PromptParam<'a>> = Vec::new();
    for input in &func.sig.inputs {
        let FnArg::Typed(typed) = input else { continue };
        let param_args = param_args(&typed.attrs, errors);
        if let Some(state) = context_state(&typed.ty) {
            if params
                .iter()
                .any(|p| matches!(p, PromptParam::Context { .. }))
            {
                errors.push_spanned(&typed.ty, "at most one `ToolContext` parameter");
            }
            if let Some(attr) = typed.attrs.iter().find(|a| is_param_attr(a)) {
                errors.push_spanned(
                    attr,
                    "the `ToolContext` is no prompt argument: a doc comment or `#[arg]` on it describes nothing",
                );
            }
            params.push(PromptParam::Context { state });
            continue;
        }
        let Pat::Ident(pat) = &*typed.pat else {
            errors.push_spanned(
                &typed.pat,
                "a prompt parameter must be a plain name: it is the argument of that name",
            );
            continue;
        };
        let ident = &pat.ident;
        let explicit_name = param_args.iter().find_map(|a| match a {
            ParamArg::Name(_, lit) => Some(lit),
            ParamArg::Complete(..) | ParamArg::Header(..) => None,
        });
        reject_header(&param_args, "a prompt", errors);
        let (name, name_span) = match explicit_name {
            Some(lit) => (non_empty(lit, errors), lit.span()),
            None => (
                ident.to_string().trim_start_matches("r#").to_owned(),
                ident.span(),
            ),
        };
        let taken = params.iter().any(|p| match p {
            PromptParam::Argument(other) => other.name == name,
            PromptParam::Context { .. } => false,
        });
        if taken {
            errors.push(
                name_span,
                format_args!(
                    "duplicate prompt argument `{name}`: `prompts/get` gives arguments by name; rename one with `#[arg(name = \"...\")]`"
                ),
            );
        }
        let optional = match &*typed.ty {
            Type::Path(path) if path.qself.is_none() => path
                .path
                .segments
                .last()
                .filter(|s| s.ident == "Option")
                .and_then(|s| first_type_argument(&s.arguments)),
            _ => None,
        };
        params.push(PromptParam::Argument(Argument {
            ident,
            name,
            description: first_paragraph(&typed.attrs),
            ty: &typed.ty,
            parsed: optional.unwrap_or(&typed.ty),
            required: optional.is_none(),
            complete: completer(&param_args).cloned(),
        }));
    }
    params
}

/// Getting a prompt can fail (a refused scope, an argument that does not parse), so the
/// function returns `Result<T, ToolError>`; `T` is checked to be a prompt result where the
/// prompt is registered.
fn check_output<'a>(func: &'a ItemFn, errors: &mut Errors) -> Option<&'a Type> {
    result_value(
        func,
        "a prompt returns `Result<T, ToolError>`, with `T` a `String` (one user message), a `PromptMessage`, a `Vec<PromptMessage>` or a `GetPromptResult`",
        errors,
    )
}
