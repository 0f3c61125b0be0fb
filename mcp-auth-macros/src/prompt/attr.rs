//! Parsing of the `#[prompt(...)]` arguments and of `#[arg(...)]` on its parameters: syntax
//! only, every rule lives in `valid.rs`.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{LitStr, Token};

use crate::attr::{ScopeValue, kw};
use crate::resource::attr::value;

/// One `key = value` or flag of `#[prompt(...)]`, the keyword's span kept for errors.
pub(crate) enum Arg {
    Scope(Span, ScopeValue),
    Unscoped(Span),
    Name(Span, LitStr),
    Title(Span, LitStr),
    Description(Span, LitStr),
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
        }
    }

    /// The span of the key.
    pub(crate) fn key_span(&self) -> Span {
        match self {
            Arg::Scope(span, _)
            | Arg::Unscoped(span)
            | Arg::Name(span, _)
            | Arg::Title(span, _)
            | Arg::Description(span, _) => *span,
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
        } else {
            Err(lookahead.error())
        }
    }
}

/// One `key = value` of `#[arg(...)]` on a parameter.
pub(crate) enum ParamArg {
    /// `name = "invoiceId"`: the argument's name, when not the parameter's.
    Name(Span, LitStr),
}

impl ParamArg {
    pub(crate) fn key(&self) -> &'static str {
        match self {
            ParamArg::Name(..) => "name",
        }
    }

    pub(crate) fn key_span(&self) -> Span {
        match self {
            ParamArg::Name(span, _) => *span,
        }
    }
}

/// The contents of one `#[arg(...)]`.
pub(crate) struct ParamArgs {
    pub(crate) args: Vec<ParamArg>,
}

impl Parse for ParamArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let args = Punctuated::<ParamArg, Token![,]>::parse_terminated(input)?;
        Ok(ParamArgs {
            args: args.into_iter().collect(),
        })
    }
}

impl Parse for ParamArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::name) {
            let (span, lit) = value::<kw::name, _>(input)?;
            Ok(ParamArg::Name(span, lit))
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
        let param: ParamArgs = syn::parse_quote!(name = "invoiceId");
        assert_eq!(param.args[0].key(), "name");
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
