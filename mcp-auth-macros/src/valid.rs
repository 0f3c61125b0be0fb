//! Every rule `#[tool]` enforces. Each check collects its errors so that one build reports
//! every mistake, and each says why the rule exists.

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, GenericArgument, Ident, ItemFn, LitStr, Pat, PathArguments, Type,
    TypeReference,
};

use crate::ast::{Output, Param, ParamKind, ToolFn, TypedParam, first_paragraph};
use crate::attr::{Arg, ScopeValue};
use crate::authorize::{self, Authorization, Require};

/// The validated model `expand.rs` reads.
pub(crate) struct Tool<'a> {
    pub(crate) func: &'a ItemFn,
    pub(crate) name: String,
    pub(crate) title: Option<String>,
    pub(crate) description: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) annotations: Annotations,
    /// Every parameter in order, as the call of the user's function needs them.
    pub(crate) params: Vec<ToolParam<'a>>,
    /// `Some(T)` when the input is one `Args<T>` parameter.
    pub(crate) args_type: Option<&'a Type>,
    pub(crate) output: OutputModel<'a>,
    /// `require(..)` and `may_require`.
    pub(crate) authorization: Authorization,
    /// `task = ..`: whether the tool may run as a task.
    pub(crate) task: TaskSupport,
}

/// The value of `task = ..`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) enum TaskSupport {
    #[default]
    Forbidden,
    Optional,
    Required,
}

/// MCP tool annotations given as flags; `None` leaves the hint out, so that clients apply the
/// specification's conservative defaults (destructive, open world).
#[derive(Default)]
pub(crate) struct Annotations {
    pub(crate) read_only: Option<bool>,
    pub(crate) destructive: Option<bool>,
    pub(crate) idempotent: Option<bool>,
    pub(crate) open_world: Option<bool>,
}

pub(crate) enum ToolParam<'a> {
    /// The injected context; `state` is `None` for `ToolContext` without a state type.
    Context { state: Option<&'a Type> },
    /// `Args(pattern): Args<T>`.
    Args,
    /// A property of the generated arguments struct.
    Plain {
        ident: &'a Ident,
        ty: &'a Type,
        field_attrs: Vec<&'a Attribute>,
        /// `#[arg(header = "..")]`: the `x-mcp-header` of the property.
        header: Option<String>,
    },
}

pub(crate) struct OutputModel<'a> {
    pub(crate) value: &'a Type,
    pub(crate) fallible: bool,
    pub(crate) kind: OutputKind,
}

/// How the success value becomes a `CallToolResult`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OutputKind {
    /// `String`, `&str`: one text block.
    Text,
    /// `CallToolResult`: passed through as built by the tool.
    Raw,
    /// Anything else: `Serialize + JsonSchema`, giving `outputSchema` and `structuredContent`.
    Structured,
}

impl<'a> ToolFn<'a> {
    pub(crate) fn validate(self) -> syn::Result<Tool<'a>> {
        let mut errors = Errors::default();
        let func = self.original;

        check_signature(func, &mut errors);
        check_duplicate_args(&self.args, &mut errors);
        check_annotations(&self.args, &mut errors);
        let scopes = check_scopes(&self.args, &mut errors);
        let name = check_name(&self.args, func, &mut errors);
        let description = check_description(&self, &mut errors);
        let task = check_task(&self.args, &mut errors);
        let (params, args_type) = check_params(&self.params, &mut errors);
        let output = check_output(self.output.as_ref(), func, &mut errors);
        let has_context = params
            .iter()
            .any(|p| matches!(p, ToolParam::Context { .. }));
        let requires: Vec<&Require> = self
            .args
            .iter()
            .filter_map(|arg| match arg {
                Arg::Require(require) => Some(require),
                _ => None,
            })
            .collect();
        let may_require = self.args.iter().find_map(|arg| match arg {
            Arg::MayRequire(_, value) => Some(value),
            _ => None,
        });
        let authorization = authorize::validate(
            &requires,
            may_require,
            scopes.as_deref(),
            has_context,
            "tool",
            &mut errors,
        );
        if let (Some(output), Some(scopes)) = (&output, &scopes) {
            let guarded = !scopes.is_empty() || !authorization.conditions.is_empty();
            check_guard_can_refuse(&params, guarded, output, &mut errors);
        }
        errors.finish()?;

        let mut title = None;
        let mut annotations = Annotations::default();
        let flag = |value: &Option<syn::LitBool>| Some(value.as_ref().is_none_or(|b| b.value));
        for arg in &self.args {
            match arg {
                Arg::Title(_, lit) => title = Some(lit.value()),
                Arg::ReadOnly(_, value) => annotations.read_only = flag(value),
                Arg::Destructive(_, value) => annotations.destructive = flag(value),
                Arg::Idempotent(_, value) => annotations.idempotent = flag(value),
                Arg::OpenWorld(_, value) => annotations.open_world = flag(value),
                _ => {}
            }
        }
        Ok(Tool {
            func,
            name: name.expect("errors finished above"),
            title,
            description: description.expect("errors finished above"),
            scopes: scopes.expect("errors finished above"),
            annotations,
            params,
            args_type,
            output: output.expect("errors finished above"),
            authorization,
            task,
        })
    }
}

/// Every error of one expansion, reported together.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

/// `message`, then `help` on the next line, where rustc indents it under the message.
fn with_help(message: impl std::fmt::Display, help: impl std::fmt::Display) -> String {
    format!("{message}\n= help: {help}")
}

impl Errors {
    /// An error at one token.
    pub(crate) fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        self.add(syn::Error::new(span, message));
    }

    /// An error covering `tokens` from the first to the last, such as all of `&self` or
    /// `Args<NewInvoice>`: `Spanned::span` gives only the first token on stable Rust.
    pub(crate) fn push_spanned(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.add(syn::Error::new_spanned(tokens, message));
    }

    /// An error over `tokens` with the fix on a line of its own, as rustc's `help:` lines say
    /// it (a stable proc macro has only the message to say it in).
    pub(crate) fn push_with_help(
        &mut self,
        tokens: impl ToTokens,
        message: impl std::fmt::Display,
        help: impl std::fmt::Display,
    ) {
        self.push_spanned(tokens, with_help(message, help));
    }

    fn add(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// The runtime polls tools as futures and registers free functions: an `async fn` without
/// receiver or generics (`impl Trait` parameters included) is the only shape it can call
/// through a plain function pointer.
fn check_signature(func: &ItemFn, errors: &mut Errors) {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errors.push(sig.fn_token.span, "`#[tool]` requires an `async fn`");
    }
    let generic_message = "`#[tool]` functions cannot be generic: the tool's schema must be known when the server is built";
    if !sig.generics.params.is_empty() {
        errors.push_spanned(&sig.generics, generic_message);
    } else if let Some(where_clause) = &sig.generics.where_clause {
        errors.push_spanned(where_clause, generic_message);
    }
    for input in &sig.inputs {
        if let FnArg::Typed(typed) = input
            && let Some(impl_trait) = find_impl_trait(&typed.ty)
        {
            errors.push_spanned(
                impl_trait,
                "a tool parameter cannot be `impl Trait`: name its type, from which the input schema is generated",
            );
        }
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(variadic.span(), "`#[tool]` functions cannot be variadic");
    }
    if let Some(abi) = &sig.abi {
        errors.push(abi.span(), "`#[tool]` functions cannot declare an ABI");
    }
}

/// A key given twice is almost always a copy-paste mistake, and which one wins would be a guess.
/// `require(..)` is the one key that repeats: each adds a condition.
fn check_duplicate_args(args: &[Arg], errors: &mut Errors) {
    check_duplicate_keys(
        args.iter()
            .filter(|a| !matches!(a, Arg::Require(_)))
            .map(|a| (a.key(), a.key_span())),
        errors,
    );
}

/// Reports every key that came earlier already, at the later one.
pub(crate) fn check_duplicate_keys(
    keys: impl Iterator<Item = (&'static str, Span)>,
    errors: &mut Errors,
) {
    let mut seen = Vec::new();
    for (key, span) in keys {
        if seen.contains(&key) {
            errors.push(span, format_args!("duplicate `{key}` argument"));
        }
        seen.push(key);
    }
}

/// MCP defines `destructiveHint` only for tools that are not read-only; a tool marked both
/// would tell clients two contradicting things.
/// `task = optional` or `task = required`, nothing else: a misspelt word must not leave a
/// tool that its author meant to run as a task answering synchronously, or the reverse.
fn check_task(args: &[Arg], errors: &mut Errors) -> TaskSupport {
    let mut support = TaskSupport::Forbidden;
    for arg in args {
        if let Arg::Task(_, word) = arg {
            if word == "optional" {
                support = TaskSupport::Optional;
            } else if word == "required" {
                support = TaskSupport::Required;
            } else {
                errors.push(
                    word.span(),
                    with_help(
                        format_args!("unknown task support `{word}`"),
                        "write `task = optional` (a task when the client supports tasks) or \
                         `task = required` (only as a task)",
                    ),
                );
            }
        }
    }
    support
}

fn check_annotations(args: &[Arg], errors: &mut Errors) {
    let is_set = |value: &Option<syn::LitBool>| value.as_ref().is_none_or(|b| b.value);
    let read_only = args
        .iter()
        .any(|arg| matches!(arg, Arg::ReadOnly(_, value) if is_set(value)));
    for arg in args {
        if let Arg::Destructive(kw, value) = arg
            && read_only
            && is_set(value)
        {
            errors.push(
                kw.span,
                "`destructive` contradicts `read_only`: a read-only tool changes nothing",
            );
        }
    }
}

/// Least privilege is the default: every tool states its scopes, or says explicitly that
/// anyone may call it. Each scope must be an RFC 6749 §3.3 scope-token, or no authorization
/// server could ever grant it.
fn check_scopes(args: &[Arg], errors: &mut Errors) -> Option<Vec<String>> {
    let scope = args.iter().find_map(|arg| match arg {
        Arg::Scope(_, value) => Some(value),
        _ => None,
    });
    let unscoped = args.iter().find_map(|arg| match arg {
        Arg::Unscoped(kw) => Some(kw.span),
        _ => None,
    });
    decide_scopes(
        scope,
        unscoped,
        ScopeMessages {
            conflict: "`unscoped` conflicts with `scope`: a tool either requires scopes or declares that it needs none",
            missing: "`#[tool]` requires a scope decision: add `scope = \"...\"` (or `scope = [\"a\", \"b\"]`), or `unscoped` for a tool any authenticated caller may use",
        },
        errors,
    )
}

/// What [`decide_scopes`] says about the item it checks.
pub(crate) struct ScopeMessages {
    /// Both `scope` and `unscoped`.
    pub(crate) conflict: &'static str,
    /// Neither.
    pub(crate) missing: &'static str,
}

/// The scopes of `scope = ..`, or none for `unscoped`; one of them, exactly, and every scope
/// a valid scope token given once. Shared by every attribute that guards something.
pub(crate) fn decide_scopes(
    scope: Option<&ScopeValue>,
    unscoped: Option<Span>,
    messages: ScopeMessages,
    errors: &mut Errors,
) -> Option<Vec<String>> {
    match (scope, unscoped) {
        (Some(_), Some(unscoped)) => {
            errors.push(unscoped, messages.conflict);
            None
        }
        (None, Some(_)) => Some(Vec::new()),
        (None, None) => {
            errors.push(Span::call_site(), messages.missing);
            None
        }
        (Some(value), None) => {
            if value.literals().is_empty() {
                errors.push(
                    value.span(),
                    "empty scope list: name at least one scope, or use `unscoped`",
                );
                return None;
            }
            let mut scopes: Vec<String> = Vec::new();
            for (scope, span) in scope_tokens(value, errors) {
                if scopes.contains(&scope) {
                    errors.push(span, format_args!("duplicate scope `{scope}`"));
                } else {
                    scopes.push(scope);
                }
            }
            Some(scopes)
        }
    }
}

/// The scopes of a `scope = ..`-like value that are valid RFC 6749 scope tokens, each with its
/// literal's span; every invalid one is reported, and an empty list too.
pub(crate) fn scope_tokens(value: &ScopeValue, errors: &mut Errors) -> Vec<(String, Span)> {
    let literals = value.literals();
    if literals.is_empty() {
        errors.push(value.span(), "empty scope list: name at least one scope");
    }
    let in_list = matches!(value, ScopeValue::List(..));
    let mut scopes = Vec::new();
    for lit in literals {
        let scope = lit.value();
        match scope_token_error(&scope) {
            Err(why) => match split_scope_help(&scope, in_list) {
                Some(help) => errors.push_with_help(lit, why, help),
                None => errors.push(lit.span(), why),
            },
            Ok(()) => scopes.push((scope, lit.span())),
        }
    }
    scopes
}

/// `scope = "a b"` is most often meant as two scopes (a token request's `scope` parameter
/// is space-separated, RFC 6749 §3.3): the fix, when every part is a valid scope token.
fn split_scope_help(scope: &str, in_list: bool) -> Option<String> {
    let parts: Vec<&str> = scope.split_whitespace().collect();
    if parts.len() < 2 || parts.iter().any(|part| scope_token_error(part).is_err()) {
        return None;
    }
    let quoted = parts
        .iter()
        .map(|part| format!("\"{part}\""))
        .collect::<Vec<_>>()
        .join(", ");
    Some(if in_list {
        format!("to require each of these scopes, write each as a string of its own: `{quoted}`")
    } else {
        format!("to require each of these scopes, list them: `scope = [{quoted}]`")
    })
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn scope_token_error(scope: &str) -> Result<(), String> {
    if scope.is_empty() {
        return Err("invalid scope: a scope token cannot be empty".to_owned());
    }
    let reason = scope.chars().find_map(|c| match c {
        ' ' => Some("a scope token cannot contain spaces"),
        '"' => Some("a scope token cannot contain `\"`"),
        '\\' => Some("a scope token cannot contain `\\`"),
        '\x21'..='\x7e' => None,
        _ => Some("a scope token is printable ASCII only (RFC 6749 §3.3)"),
    });
    match reason {
        Some(reason) => Err(format!("invalid scope `{scope}`: {reason}")),
        None => Ok(()),
    }
}

/// MCP 2025-11-25: tool names are 1 to 128 characters of `A-Z a-z 0-9 _ - .`, so that every
/// client can display and address them.
fn check_name(args: &[Arg], func: &ItemFn, errors: &mut Errors) -> Option<String> {
    let explicit = args.iter().find_map(|arg| match arg {
        Arg::Name(_, lit) => Some(lit),
        _ => None,
    });
    checked_name("tool", explicit, func, errors)
}

/// The name of the `what` (tool, prompt) `func` declares: `explicit`, or the function's name;
/// an error at whichever gave it when it is not a valid name.
pub(crate) fn checked_name(
    what: &str,
    explicit: Option<&LitStr>,
    func: &ItemFn,
    errors: &mut Errors,
) -> Option<String> {
    let (name, span, fix) = match explicit {
        Some(lit) => (lit.value(), lit.span(), ""),
        None => {
            let ident = func.sig.ident.to_string();
            let ident = ident.strip_prefix("r#").unwrap_or(&ident).to_owned();
            (
                ident,
                func.sig.ident.span(),
                "; rename the function or set `name = \"...\"`",
            )
        }
    };
    if !is_valid_name(&name) {
        errors.push(
            span,
            format_args!(
                "invalid {what} name `{name}`: a {what} name is 1 to 128 characters of `A-Z`, `a-z`, `0-9`, `_`, `-` and `.`{fix}"
            ),
        );
        return None;
    }
    Some(name)
}

/// 1 to 128 characters of `A-Z a-z 0-9 _ - .`: the names of tools and prompts, which
/// travel in the `Mcp-Name` header too.
fn is_valid_name(name: &str) -> bool {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    !name.is_empty() && name.chars().count() <= 128 && name.chars().all(valid_char)
}

/// The description is what the model reads to decide when to call the tool; a tool without
/// one is unusable, so it is required. The first paragraph of the doc comment is the default,
/// as rustdoc uses it for the summary; the rest of the comment stays for Rust readers.
fn check_description(tool: &ToolFn<'_>, errors: &mut Errors) -> Option<String> {
    if let Some(lit) = tool.args.iter().find_map(|arg| match arg {
        Arg::Description(_, lit) => Some(lit),
        _ => None,
    }) {
        return non_empty(lit, errors);
    }
    let paragraph = first_paragraph(&tool.original.attrs);
    if paragraph.is_none() {
        errors.push(
            tool.original.sig.ident.span(),
            "`#[tool]` requires a description: add a doc comment, or `description = \"...\"`",
        );
    }
    paragraph
}

fn non_empty(lit: &LitStr, errors: &mut Errors) -> Option<String> {
    let value = lit.value();
    if value.trim().is_empty() {
        errors.push(lit.span(), "the description cannot be empty");
        return None;
    }
    Some(value)
}

/// Parameters are the tool's input: plain named parameters become properties of one object,
/// or one `Args<T>` is the whole object; never both, since neither could then be the schema.
/// At most one `ToolContext` is injected, as the runtime has exactly one to give.
fn check_params<'a>(
    params: &[Param<'a>],
    errors: &mut Errors,
) -> (Vec<ToolParam<'a>>, Option<&'a Type>) {
    let mut out = Vec::new();
    let mut context_seen = false;
    let mut args_type = None;
    let mut plain = Vec::new();
    let mut headers = Vec::new();
    for param in params {
        let typed = match param {
            Param::Receiver(receiver) => {
                errors.push_spanned(
                    receiver,
                    "`#[tool]` functions cannot take `self`: declare the tool as a free function and reach shared state through `ToolContext<S>`",
                );
                continue;
            }
            Param::Typed(typed) => typed,
        };
        match typed.kind {
            ParamKind::Context(state) => {
                if context_seen {
                    errors
                        .push_spanned(typed.ty, "a tool takes at most one `ToolContext` parameter");
                }
                context_seen = true;
                reject_field_attrs(typed, "`ToolContext`", errors);
                crate::header::reject_on(
                    &typed.original.attrs,
                    "the `ToolContext`",
                    "nothing of it travels in a header",
                    errors,
                );
                out.push(ToolParam::Context { state });
            }
            ParamKind::Args(inner) => {
                let Some(inner) = inner else {
                    errors.push_spanned(typed.ty, "`Args` needs its type: `Args<T>`");
                    continue;
                };
                if args_type.is_some() {
                    errors.push_spanned(typed.ty, "a tool takes at most one `Args<T>` parameter");
                }
                check_owned(inner, errors);
                reject_field_attrs(typed, "`Args<T>`", errors);
                crate::header::reject_on(
                    &typed.original.attrs,
                    "`Args<T>`",
                    "mirror a field of `T` with `#[schemars(extend(\"x-mcp-header\" = \"..\"))]`",
                    errors,
                );
                args_type = Some(inner);
                out.push(ToolParam::Args);
            }
            ParamKind::Plain => {
                check_owned(typed.ty, errors);
                plain.push(typed);
                let header =
                    crate::header::plain_param_header(&typed.original.attrs, typed.ty, errors);
                headers.extend(header.clone());
                match plain_ident(typed.pat) {
                    Some(ident) => out.push(ToolParam::Plain {
                        ident,
                        ty: typed.ty,
                        field_attrs: typed.field_attrs.clone(),
                        header: header.map(|(name, _)| name),
                    }),
                    None => errors.push_spanned(
                        typed.pat,
                        "tool parameters must be plain names, which become the input's property names",
                    ),
                }
            }
        }
    }
    crate::header::check_unique(&headers, errors);
    if args_type.is_some() {
        for typed in plain {
            errors.push_spanned(
                typed.original,
                "plain parameters cannot be mixed with `Args<T>`, which is the whole input of the tool: move this one into the `Args` type",
            );
        }
    }
    (out, args_type)
}

/// Arguments are deserialized from the request's JSON into values the tool owns
/// (`DeserializeOwned`): nothing outlives the request for a parameter to borrow from. The
/// context, too, is handed to each call by value.
fn check_owned(ty: &Type, errors: &mut Errors) {
    let Some(reference) = find_reference(ty) else {
        return;
    };
    let elem = &*reference.elem;
    match crate::ast::last_segment(elem) {
        Some(("ToolContext", _)) => errors.push_with_help(
            reference,
            "take `ToolContext` by value",
            format_args!(
                "write `{}`: each call hands the tool a context of its own",
                source_text(elem)
            ),
        ),
        Some(("Args", _)) => errors.push_with_help(
            reference,
            "take `Args<T>` by value",
            format_args!("write `{}`", source_text(elem)),
        ),
        _ => {
            let owned = match elem {
                Type::Slice(slice) => format!("Vec<{}>", source_text(&slice.elem)),
                elem if is_str(elem) => "String".to_owned(),
                elem => source_text(elem),
            };
            errors.push_with_help(
                reference,
                "tool parameters are deserialized into owned values, so they cannot be references",
                format_args!("use `{owned}` instead of `{}`", source_text(reference)),
            );
        }
    }
}

fn reject_field_attrs(param: &TypedParam<'_>, what: &str, errors: &mut Errors) {
    for attr in &param.field_attrs {
        errors.push_spanned(
            attr,
            format_args!(
                "{what} is not part of the input schema, so it takes no doc comment, `#[serde]` or `#[schemars]` attribute"
            ),
        );
    }
}

fn plain_ident(pat: &Pat) -> Option<&Ident> {
    match pat {
        Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => Some(&pat.ident),
        _ => None,
    }
}

/// A tool answers every call with a result, so it must return one, of a type that can be named
/// where its output schema is generated.
fn check_output<'a>(
    output: Option<&Output<'a>>,
    func: &ItemFn,
    errors: &mut Errors,
) -> Option<OutputModel<'a>> {
    let Some(output) = output else {
        errors.push(
            func.sig.paren_token.span.close(),
            "a tool must return its result: `-> Result<T, ToolError>`, `-> String` or `-> CallToolResult`",
        );
        return None;
    };
    if let Some(impl_trait) = find_impl_trait(output.value) {
        errors.push_spanned(
            impl_trait,
            "a tool cannot return `impl Trait`: name the result type, from which its output schema is generated",
        );
        return None;
    }
    let kind = match output.value {
        Type::Reference(reference) if is_str(&reference.elem) => OutputKind::Text,
        ty => match crate::ast::last_segment(ty) {
            Some(("String", _)) => OutputKind::Text,
            Some(("CallToolResult", _)) => OutputKind::Raw,
            _ => OutputKind::Structured,
        },
    };
    if let Type::Tuple(tuple) = output.value
        && tuple.elems.is_empty()
    {
        errors.push_spanned(
            output.value,
            "a tool must return a result the client can read, not `()`: return a `String`, a `Serialize + JsonSchema` type or a `CallToolResult`",
        );
        return None;
    }
    if kind == OutputKind::Structured
        && let Some(what) = non_object(output.value)
    {
        errors.push_with_help(
            output.value,
            format_args!(
                "MCP requires a structured tool result to be a JSON object, and `{}` {what}",
                source_text(output.value)
            ),
            "return a struct that holds it in a named field, or `String` for text, or `CallToolResult` for full control",
        );
        return None;
    }
    Some(OutputModel {
        value: output.value,
        fallible: output.fallible,
        kind,
    })
}

/// What JSON a structured result of type `ty` is, when its name says it is no object. MCP
/// requires `structuredContent` to be an object and `outputSchema` to describe one; a type
/// whose name does not tell (a user's enum, say, or an alias) is checked by its schema when
/// the server is built.
fn non_object(ty: &Type) -> Option<&'static str> {
    const ARRAYS: [&str; 6] = [
        "Vec",
        "VecDeque",
        "LinkedList",
        "BinaryHeap",
        "HashSet",
        "BTreeSet",
    ];
    const NUMBERS: [&str; 14] = [
        "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
        "f32", "f64",
    ];
    match ty {
        Type::Array(_) | Type::Slice(_) | Type::Tuple(_) => Some("is an array"),
        Type::Reference(reference) => non_object(&reference.elem),
        Type::Paren(paren) => non_object(&paren.elem),
        Type::Group(group) => non_object(&group.elem),
        Type::Path(path) if path.qself.is_none() => {
            let segments = &path.path.segments;
            // A path through anything but the standard library may be a type of the same name.
            let std = segments.len() == 1
                || ["std", "core", "alloc"]
                    .iter()
                    .any(|krate| segments[0].ident == krate);
            let last = segments.last()?;
            let name = last.ident.to_string();
            match name.as_str() {
                _ if !std => None,
                name if ARRAYS.contains(&name) => Some("is an array"),
                name if NUMBERS.contains(&name) => Some("is a number"),
                "bool" => Some("is a boolean"),
                "char" => Some("is a string"),
                "Option" => Some("is `null` when `None`"),
                // Serialized as the value they hold.
                "Box" | "Rc" | "Arc" => match &last.arguments {
                    PathArguments::AngleBracketed(args) => match args.args.first()? {
                        GenericArgument::Type(inner) => non_object(inner),
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

/// The first `impl Trait` in `ty`.
fn find_impl_trait(ty: &Type) -> Option<&Type> {
    find_in_type(ty, &|ty| matches!(ty, Type::ImplTrait(_)))
}

/// The first reference in `ty`, `ty` itself included.
fn find_reference(ty: &Type) -> Option<&TypeReference> {
    match find_in_type(ty, &|ty| matches!(ty, Type::Reference(_))) {
        Some(Type::Reference(reference)) => Some(reference),
        _ => None,
    }
}

/// The first type in `ty` (`ty` included, outermost first) that `matches`, looking through
/// references, tuples, slices, arrays and generic arguments.
fn find_in_type<'a>(ty: &'a Type, matches: &impl Fn(&Type) -> bool) -> Option<&'a Type> {
    if matches(ty) {
        return Some(ty);
    }
    match ty {
        Type::Reference(reference) => find_in_type(&reference.elem, matches),
        Type::Slice(slice) => find_in_type(&slice.elem, matches),
        Type::Array(array) => find_in_type(&array.elem, matches),
        Type::Paren(paren) => find_in_type(&paren.elem, matches),
        Type::Group(group) => find_in_type(&group.elem, matches),
        Type::Tuple(tuple) => tuple.elems.iter().find_map(|ty| find_in_type(ty, matches)),
        Type::Path(path) => path.path.segments.iter().find_map(|segment| {
            let PathArguments::AngleBracketed(args) = &segment.arguments else {
                return None;
            };
            args.args.iter().find_map(|arg| match arg {
                GenericArgument::Type(ty) => find_in_type(ty, matches),
                _ => None,
            })
        }),
        _ => None,
    }
}

/// `tokens` as a user writes them (`Vec<Note>`, `&'static str`), for messages: `to_string`
/// puts a space between every two tokens.
fn source_text(tokens: &impl ToTokens) -> String {
    let text = tokens.to_token_stream().to_string();
    let mut out = String::new();
    let mut glue = true;
    for token in text.split(' ') {
        let tight_before = token.starts_with(['<', '>', ')', ']', ',', ';']) || token == "::";
        if !glue && !tight_before {
            out.push(' ');
        }
        out.push_str(token);
        glue = token.ends_with(['<', '(', '[', '&']) || token == "::";
    }
    out
}

fn is_str(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.is_ident("str"))
}

/// The in-handler scope guard refuses a call by returning `Err(ToolError::InsufficientScope)`
/// from the tool itself, which only a fallible tool can do.
fn check_guard_can_refuse(
    params: &[ToolParam<'_>],
    guarded: bool,
    output: &OutputModel<'_>,
    errors: &mut Errors,
) {
    let has_context = params
        .iter()
        .any(|p| matches!(p, ToolParam::Context { .. }));
    if has_context && guarded && !output.fallible {
        errors.push_spanned(
            output.value,
            "a scoped tool that takes a `ToolContext` must return `Result<_, ToolError>`, so that its scope guard can refuse a call",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use syn::parse_quote;

    fn validate(args: proc_macro2::TokenStream, func: ItemFn) -> Result<(), String> {
        ToolFn::from_syn(&func, args)
            .and_then(ToolFn::validate)
            .map(|_| ())
            .map_err(|e| {
                e.into_iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
    }

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        assert!(scope_token_error("invoices:read").is_ok());
        assert!(scope_token_error("https://api.example.com/x.read").is_ok());
        assert_eq!(
            scope_token_error("invoices write").unwrap_err(),
            "invalid scope `invoices write`: a scope token cannot contain spaces"
        );
        assert!(scope_token_error("a\"b").is_err());
        assert!(scope_token_error("a\\b").is_err());
        assert_eq!(
            scope_token_error("").unwrap_err(),
            "invalid scope: a scope token cannot be empty"
        );
        assert!(scope_token_error("façade").is_err());
    }

    #[test]
    fn description_is_the_first_doc_paragraph() {
        let func: ItemFn = parse_quote! {
            /// Look up an invoice
            /// by its id.
            ///
            /// Rust-only details.
            async fn lookup(id: String) -> String { id }
        };
        let tool = ToolFn::from_syn(&func, quote!(unscoped))
            .unwrap()
            .validate()
            .ok()
            .unwrap();
        assert_eq!(tool.description, "Look up an invoice by its id.");
        assert_eq!(tool.name, "lookup");
        assert_eq!(tool.output.kind, OutputKind::Text);
        assert!(tool.scopes.is_empty());
    }

    #[test]
    fn every_mistake_is_reported_in_one_build() {
        let func: ItemFn = parse_quote! {
            fn f(&self, a: u32) -> String { todo!() }
        };
        let errors = validate(quote!(scope = "a b", scope = "c"), func).unwrap_err();
        let lines: Vec<_> = errors.lines().collect();
        assert_eq!(
            lines,
            [
                "`#[tool]` requires an `async fn`",
                "duplicate `scope` argument",
                "invalid scope `a b`: a scope token cannot contain spaces",
                "= help: to require each of these scopes, list them: `scope = [\"a\", \"b\"]`",
                "`#[tool]` requires a description: add a doc comment, or `description = \"...\"`",
                "`#[tool]` functions cannot take `self`: declare the tool as a free function and reach shared state through `ToolContext<S>`",
            ]
        );
    }

    #[test]
    fn scoped_tool_with_context_must_be_fallible() {
        let func: ItemFn = parse_quote! {
            /// d
            async fn f(ctx: ToolContext) -> String { todo!() }
        };
        let errors = validate(quote!(scope = "a"), func).unwrap_err();
        assert!(
            errors.contains("must return `Result<_, ToolError>`"),
            "{errors}"
        );
    }

    #[test]
    fn args_mixed_with_plain_parameters_is_one_error_per_plain_parameter() {
        let func: ItemFn = parse_quote! {
            /// d
            async fn f(currency: String, Args(new): Args<NewInvoice>) -> String { todo!() }
        };
        let errors = validate(quote!(unscoped), func).unwrap_err();
        assert_eq!(
            errors,
            "plain parameters cannot be mixed with `Args<T>`, which is the whole input of the tool: move this one into the `Args` type"
        );
    }

    #[test]
    fn an_invalid_name_from_the_function_suggests_the_name_argument() {
        let func: ItemFn = parse_quote! {
            /// d
            async fn annuler_facturé() -> String { todo!() }
        };
        let errors = validate(quote!(unscoped), func.clone()).unwrap_err();
        assert!(
            errors.ends_with("; rename the function or set `name = \"...\"`"),
            "{errors}"
        );
        let errors = validate(quote!(unscoped, name = "a b"), func).unwrap_err();
        assert!(errors.starts_with("invalid tool name `a b`:"), "{errors}");
        assert!(!errors.contains("rename the function"), "{errors}");
    }

    #[test]
    fn unit_output_is_rejected() {
        let func: ItemFn = parse_quote! {
            /// d
            async fn f() -> Result<(), ToolError> { todo!() }
        };
        let errors = validate(quote!(unscoped), func).unwrap_err();
        assert!(errors.contains("not `()`"), "{errors}");
    }

    #[test]
    fn a_space_in_a_scope_suggests_the_list_form_only_when_the_parts_are_scopes() {
        assert_eq!(
            split_scope_help("a:read  b", false).unwrap(),
            "to require each of these scopes, list them: `scope = [\"a:read\", \"b\"]`"
        );
        assert!(
            split_scope_help("a b", true)
                .unwrap()
                .ends_with("`\"a\", \"b\"`")
        );
        assert_eq!(split_scope_help("a b\\c", false), None);
        assert_eq!(split_scope_help(" a ", false), None);
    }

    #[test]
    fn reference_parameters_are_refused_with_the_owned_type() {
        let cases: [(ItemFn, &str); 5] = [
            (
                parse_quote!(
                    async fn f(id: &str) -> String {}
                ),
                "use `String` instead of `&str`",
            ),
            (
                parse_quote!(
                    async fn f(ids: Option<&'static [u32]>) -> String {}
                ),
                "use `Vec<u32>` instead of `&'static [u32]`",
            ),
            (
                parse_quote!(
                    async fn f(filter: &mut Filter<'a>) -> String {}
                ),
                "use `Filter<'a>` instead of `&mut Filter<'a>`",
            ),
            (
                parse_quote!(
                    async fn f(ctx: &ToolContext<Notes>) -> String {}
                ),
                "take `ToolContext` by value\n= help: write `ToolContext<Notes>`",
            ),
            (
                parse_quote!(
                    async fn f(Args(a): Args<&A>) -> String {}
                ),
                "use `A` instead of `&A`",
            ),
        ];
        for (mut func, expected) in cases {
            func.attrs.push(parse_quote!(#[doc = "d"]));
            let errors = validate(quote!(unscoped), func).unwrap_err();
            assert!(errors.contains(expected), "{errors}");
        }
    }

    #[test]
    fn results_whose_type_shows_no_object_are_refused() {
        let refused: [(Type, &str); 10] = [
            (parse_quote!(Vec<Note>), "is an array"),
            (parse_quote!(std::collections::HashSet<u8>), "is an array"),
            (parse_quote!(&'static [Note]), "is an array"),
            (parse_quote!((Note, Note)), "is an array"),
            (parse_quote!([u8; 4]), "is an array"),
            (parse_quote!(Box<[Note]>), "is an array"),
            (parse_quote!(Option<Note>), "is `null` when `None`"),
            (parse_quote!(u64), "is a number"),
            (parse_quote!(bool), "is a boolean"),
            (parse_quote!(char), "is a string"),
        ];
        for (ty, what) in refused {
            assert_eq!(non_object(&ty), Some(what), "{}", source_text(&ty));
        }
        // A path outside the standard library may be a type of the user's with the same name.
        let allowed: [Type; 4] = [
            parse_quote!(Note),
            parse_quote!(HashMap<String, Note>),
            parse_quote!(my::Vec<Note>),
            parse_quote!(Arc<Note>),
        ];
        for ty in allowed {
            assert_eq!(non_object(&ty), None, "{}", source_text(&ty));
        }
    }

    #[test]
    fn source_text_spaces_types_as_rustc_does() {
        let cases: [(Type, &str); 4] = [
            (parse_quote!(Vec<Vec<Note>>), "Vec<Vec<Note>>"),
            (
                parse_quote!(&'static [&'static str]),
                "&'static [&'static str]",
            ),
            (
                parse_quote!(std::collections::BTreeSet<(u8, char)>),
                "std::collections::BTreeSet<(u8, char)>",
            ),
            (parse_quote!([f64; 3]), "[f64; 3]"),
        ];
        for (ty, text) in cases {
            assert_eq!(source_text(&ty), text);
        }
    }

    #[test]
    fn structured_and_raw_outputs_are_recognised() {
        let func: ItemFn = parse_quote! {
            /// d
            async fn f() -> Result<CallToolResult, ToolError> { todo!() }
        };
        let tool = ToolFn::from_syn(&func, quote!(unscoped)).unwrap();
        assert_eq!(tool.validate().ok().unwrap().output.kind, OutputKind::Raw);
        let func: ItemFn = parse_quote! {
            /// d
            async fn f() -> Result<Invoice, ToolError> { todo!() }
        };
        let tool = ToolFn::from_syn(&func, quote!(unscoped)).unwrap();
        assert_eq!(
            tool.validate().ok().unwrap().output.kind,
            OutputKind::Structured
        );
    }
}
