//! Parsing of the `#[tool(...)]` arguments: syntax only, every rule lives in `valid.rs`.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{LitBool, LitStr, Token, bracketed};

use crate::authorize::{self, Require};

pub(crate) mod kw {
    syn::custom_keyword!(scope);
    syn::custom_keyword!(unscoped);
    syn::custom_keyword!(name);
    syn::custom_keyword!(title);
    syn::custom_keyword!(description);
    syn::custom_keyword!(read_only);
    syn::custom_keyword!(destructive);
    syn::custom_keyword!(idempotent);
    syn::custom_keyword!(open_world);
    syn::custom_keyword!(task);
}

/// One `key` or `key = value` of `#[tool(...)]`, each keyword kept beside its value so that
/// errors can point at either.
pub(crate) enum Arg {
    Scope(kw::scope, ScopeValue),
    Unscoped(kw::unscoped),
    Name(kw::name, LitStr),
    Title(kw::title, LitStr),
    Description(kw::description, LitStr),
    ReadOnly(kw::read_only, Option<LitBool>),
    Destructive(kw::destructive, Option<LitBool>),
    Idempotent(kw::idempotent, Option<LitBool>),
    OpenWorld(kw::open_world, Option<LitBool>),
    /// `require(scope = .., when = ..)`, repeatable.
    Require(Require),
    MayRequire(authorize::kw::may_require, ScopeValue),
    /// `task = optional` or `task = required`; the word is checked in `valid.rs`.
    Task(kw::task, syn::Ident),
}

/// `scope = "a"` or `scope = ["a", "b"]`.
pub(crate) enum ScopeValue {
    One(LitStr),
    List(syn::token::Bracket, Punctuated<LitStr, Token![,]>),
}

impl ScopeValue {
    pub(crate) fn literals(&self) -> Vec<&LitStr> {
        match self {
            ScopeValue::One(lit) => vec![lit],
            ScopeValue::List(_, list) => list.iter().collect(),
        }
    }
}

impl Arg {
    /// The key as written, for messages such as "duplicate `scope` argument".
    pub(crate) fn key(&self) -> &'static str {
        match self {
            Arg::Scope(..) => "scope",
            Arg::Unscoped(_) => "unscoped",
            Arg::Name(..) => "name",
            Arg::Title(..) => "title",
            Arg::Description(..) => "description",
            Arg::ReadOnly(..) => "read_only",
            Arg::Destructive(..) => "destructive",
            Arg::Idempotent(..) => "idempotent",
            Arg::OpenWorld(..) => "open_world",
            Arg::Require(_) => "require",
            Arg::MayRequire(..) => "may_require",
            Arg::Task(..) => "task",
        }
    }

    /// The span of the key token.
    pub(crate) fn key_span(&self) -> Span {
        match self {
            Arg::Scope(kw, _) => kw.span,
            Arg::Unscoped(kw) => kw.span,
            Arg::Name(kw, _) => kw.span,
            Arg::Title(kw, _) => kw.span,
            Arg::Description(kw, _) => kw.span,
            Arg::ReadOnly(kw, _) => kw.span,
            Arg::Destructive(kw, _) => kw.span,
            Arg::Idempotent(kw, _) => kw.span,
            Arg::OpenWorld(kw, _) => kw.span,
            Arg::Require(require) => require.key,
            Arg::MayRequire(kw, _) => kw.span,
            Arg::Task(kw, _) => kw.span,
        }
    }
}

/// All arguments of one `#[tool(...)]`, in source order.
pub(crate) struct ToolArgs {
    pub(crate) args: Vec<Arg>,
}

impl Parse for ToolArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let args = Punctuated::<Arg, Token![,]>::parse_terminated(input)?;
        Ok(ToolArgs {
            args: args.into_iter().collect(),
        })
    }
}

/// The optional `= true` / `= false` after an annotation flag.
fn flag_value(input: ParseStream<'_>) -> syn::Result<Option<LitBool>> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        Ok(Some(input.parse()?))
    } else {
        Ok(None)
    }
}

fn string_value<K: Parse>(input: ParseStream<'_>) -> syn::Result<(K, LitStr)> {
    let key = input.parse()?;
    input.parse::<Token![=]>()?;
    Ok((key, input.parse()?))
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::scope) {
            let key: kw::scope = input.parse()?;
            input.parse::<Token![=]>()?;
            Ok(Arg::Scope(key, input.parse()?))
        } else if lookahead.peek(kw::unscoped) {
            Ok(Arg::Unscoped(input.parse()?))
        } else if lookahead.peek(kw::name) {
            let (key, value) = string_value(input)?;
            Ok(Arg::Name(key, value))
        } else if lookahead.peek(kw::title) {
            let (key, value) = string_value(input)?;
            Ok(Arg::Title(key, value))
        } else if lookahead.peek(kw::description) {
            let (key, value) = string_value(input)?;
            Ok(Arg::Description(key, value))
        } else if lookahead.peek(kw::read_only) {
            Ok(Arg::ReadOnly(input.parse()?, flag_value(input)?))
        } else if lookahead.peek(kw::destructive) {
            Ok(Arg::Destructive(input.parse()?, flag_value(input)?))
        } else if lookahead.peek(kw::idempotent) {
            Ok(Arg::Idempotent(input.parse()?, flag_value(input)?))
        } else if lookahead.peek(kw::open_world) {
            Ok(Arg::OpenWorld(input.parse()?, flag_value(input)?))
        } else if lookahead.peek(authorize::kw::require) {
            Ok(Arg::Require(input.parse()?))
        } else if lookahead.peek(authorize::kw::may_require) {
            let key = input.parse()?;
            input.parse::<Token![=]>()?;
            Ok(Arg::MayRequire(key, input.parse()?))
        } else if lookahead.peek(kw::task) {
            let key = input.parse()?;
            input.parse::<Token![=]>()?;
            Ok(Arg::Task(key, input.parse()?))
        } else {
            Err(lookahead.error())
        }
    }
}

/// What follows `scope =`, in every attribute that takes one.
impl Parse for ScopeValue {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(syn::token::Bracket) {
            let content;
            let bracket = bracketed!(content in input);
            Ok(ScopeValue::List(
                bracket,
                Punctuated::parse_terminated(&content)?,
            ))
        } else if input.peek(LitStr) {
            Ok(ScopeValue::One(input.parse()?))
        } else {
            Err(input.error(
                "expected a scope string such as `\"invoices:read\"` or a list `[\"a\", \"b\"]`",
            ))
        }
    }
}

impl ScopeValue {
    /// The whole value, for errors about the list itself.
    pub(crate) fn span(&self) -> Span {
        match self {
            ScopeValue::One(lit) => lit.span(),
            ScopeValue::List(bracket, _) => bracket.span.join(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key() {
        let args: ToolArgs = syn::parse_quote!(
            scope = ["a:read", "b:write"],
            name = "x",
            title = "X",
            description = "d",
            read_only,
            destructive = false,
            idempotent,
            open_world = true
        );
        let keys: Vec<_> = args.args.iter().map(Arg::key).collect();
        assert_eq!(
            keys,
            [
                "scope",
                "name",
                "title",
                "description",
                "read_only",
                "destructive",
                "idempotent",
                "open_world"
            ]
        );
        let Arg::Scope(_, value) = &args.args[0] else {
            panic!("first argument is the scope")
        };
        let scopes: Vec<_> = value.literals().iter().map(|l| l.value()).collect();
        assert_eq!(scopes, ["a:read", "b:write"]);
    }

    #[test]
    fn unknown_key_lists_the_known_ones() {
        let err = syn::parse2::<ToolArgs>(quote::quote!(scopes = "a"))
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(
            msg.starts_with("expected one of: `scope`, `unscoped`"),
            "{msg}"
        );
    }

    #[test]
    fn unscoped_takes_no_value_but_scope_needs_one() {
        assert!(syn::parse2::<ToolArgs>(quote::quote!(unscoped)).is_ok());
        let err = syn::parse2::<ToolArgs>(quote::quote!(scope = 1))
            .err()
            .unwrap();
        assert!(err.to_string().contains("expected a scope string"));
    }

    #[test]
    fn empty_arguments_parse_to_nothing() {
        let args: ToolArgs = syn::parse_quote!();
        assert!(args.args.is_empty());
    }
}
