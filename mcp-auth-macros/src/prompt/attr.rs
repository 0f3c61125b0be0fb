//! Parsing of the `#[prompt(...)]` arguments: syntax only, every rule lives in `valid.rs`;
//! `#[arg(...)]` on its parameters is parsed in `crate::arg`.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{LitStr, Token};

use crate::attr::{ScopeValue, kw};
use crate::authorize::{self, Require};
use crate::resource::attr::value;

/// One `key = value` or flag of `#[prompt(...)]`, the keyword's span kept for errors.
pub(crate) enum Arg {
    Scope(Span, ScopeValue),
    Unscoped(Span),
    Name(Span, LitStr),
    Title(Span, LitStr),
    Description(Span, LitStr),
    Require(Require),
    MayRequire(Span, ScopeValue),
}

impl Arg {
    /// The key as written.
    pub(crate) fn key(&self) -> &'static str {
        match self {
            Arg::Scope(..) => "scope",
            Arg::Unscoped(_) => "unscoped",
            Arg::Name(..) => "name",
            Arg::Title(..) => "title",
            Arg::Description(..) => "description",
            Arg::Require(_) => "require",
            Arg::MayRequire(..) => "may_require",
        }
    }

    /// The span of the key.
    pub(crate) fn key_span(&self) -> Span {
        match self {
            Arg::Scope(span, _)
            | Arg::Unscoped(span)
            | Arg::Name(span, _)
            | Arg::Title(span, _)
            | Arg::Description(span, _)
            | Arg::MayRequire(span, _) => *span,
            Arg::Require(require) => require.key,
        }
    }
}

/// All arguments of one `#[prompt(...)]`, in source order.
pub(crate) struct PromptArgs {
    pub(crate) args: Vec<Arg>,
}

impl Parse for PromptArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let args = Punctuated::<Arg, Token![,]>::parse_terminated(input)?;
        Ok(PromptArgs {
            args: args.into_iter().collect(),
        })
    }
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::scope) {
            let (span, value) = value::<kw::scope, _>(input)?;
            Ok(Arg::Scope(span, value))
        } else if lookahead.peek(kw::unscoped) {
            Ok(Arg::Unscoped(input.parse::<kw::unscoped>()?.span))
        } else if lookahead.peek(kw::name) {
            let (span, lit) = value::<kw::name, _>(input)?;
            Ok(Arg::Name(span, lit))
        } else if lookahead.peek(kw::title) {
            let (span, lit) = value::<kw::title, _>(input)?;
            Ok(Arg::Title(span, lit))
        } else if lookahead.peek(kw::description) {
            let (span, lit) = value::<kw::description, _>(input)?;
            Ok(Arg::Description(span, lit))
        } else if lookahead.peek(authorize::kw::require) {
            Ok(Arg::Require(input.parse()?))
        } else if lookahead.peek(authorize::kw::may_require) {
            let (span, value) = value::<authorize::kw::may_require, _>(input)?;
            Ok(Arg::MayRequire(span, value))
        } else {
            Err(lookahead.error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key() {
        let args: PromptArgs = syn::parse_quote!(
            scope = "invoices:read",
            name = "reminder",
            title = "Reminder",
            description = "d"
        );
        let keys: Vec<_> = args.args.iter().map(Arg::key).collect();
        assert_eq!(keys, ["scope", "name", "title", "description"]);
    }

    #[test]
    fn unknown_key_lists_the_known_ones() {
        let err = syn::parse2::<PromptArgs>(quote::quote!(scopes = "a"))
            .err()
            .unwrap();
        assert!(
            err.to_string().starts_with("expected one of: `scope`"),
            "{err}"
        );
    }
}
