//! Parsing of the `#[resource(...)]` arguments: syntax only, every rule lives in `valid.rs`.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{LitFloat, LitStr, Token, bracketed};

use crate::attr::{ScopeValue, kw};

mod rkw {
    syn::custom_keyword!(uri);
    syn::custom_keyword!(uri_template);
    syn::custom_keyword!(mime_type);
    syn::custom_keyword!(audience);
    syn::custom_keyword!(priority);
}

/// One `key = value` or flag of `#[resource(...)]`, the keyword's span kept for errors.
pub(crate) enum Arg {
    Uri(Span, LitStr),
    UriTemplate(Span, LitStr),
    Scope(Span, ScopeValue),
    Unscoped(Span),
    Name(Span, LitStr),
    Title(Span, LitStr),
    Description(Span, LitStr),
    MimeType(Span, LitStr),
    Audience(Span, Punctuated<LitStr, Token![,]>),
    Priority(Span, LitFloat),
}

impl Arg {
    /// The key as written.
    pub(crate) fn key(&self) -> &'static str {
        match self {
            Arg::Uri(..) => "uri",
            Arg::UriTemplate(..) => "uri_template",
            Arg::Scope(..) => "scope",
            Arg::Unscoped(_) => "unscoped",
            Arg::Name(..) => "name",
            Arg::Title(..) => "title",
            Arg::Description(..) => "description",
            Arg::MimeType(..) => "mime_type",
            Arg::Audience(..) => "audience",
            Arg::Priority(..) => "priority",
        }
    }

    /// The span of the key.
    pub(crate) fn key_span(&self) -> Span {
        match self {
            Arg::Uri(span, _)
            | Arg::UriTemplate(span, _)
            | Arg::Scope(span, _)
            | Arg::Unscoped(span)
            | Arg::Name(span, _)
            | Arg::Title(span, _)
            | Arg::Description(span, _)
            | Arg::MimeType(span, _)
            | Arg::Audience(span, _)
            | Arg::Priority(span, _) => *span,
        }
    }
}

/// All arguments of one `#[resource(...)]`, in source order.
pub(crate) struct ResourceArgs {
    pub(crate) args: Vec<Arg>,
}

impl Parse for ResourceArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let args = Punctuated::<Arg, Token![,]>::parse_terminated(input)?;
        Ok(ResourceArgs {
            args: args.into_iter().collect(),
        })
    }
}

/// `key = value`, returning the key's span and the value.
pub(crate) fn value<K: Parse + syn::spanned::Spanned, V: Parse>(
    input: ParseStream<'_>,
) -> syn::Result<(Span, V)> {
    let key: K = input.parse()?;
    input.parse::<Token![=]>()?;
    Ok((key.span(), input.parse()?))
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(rkw::uri) {
            let (span, lit) = value::<rkw::uri, _>(input)?;
            Ok(Arg::Uri(span, lit))
        } else if lookahead.peek(rkw::uri_template) {
            let (span, lit) = value::<rkw::uri_template, _>(input)?;
            Ok(Arg::UriTemplate(span, lit))
        } else if lookahead.peek(kw::scope) {
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
        } else if lookahead.peek(rkw::mime_type) {
            let (span, lit) = value::<rkw::mime_type, _>(input)?;
            Ok(Arg::MimeType(span, lit))
        } else if lookahead.peek(rkw::audience) {
            let key: rkw::audience = input.parse()?;
            input.parse::<Token![=]>()?;
            let content;
            bracketed!(content in input);
            Ok(Arg::Audience(
                key.span,
                Punctuated::parse_terminated(&content)?,
            ))
        } else if lookahead.peek(rkw::priority) {
            let (span, lit) = value::<rkw::priority, _>(input)?;
            Ok(Arg::Priority(span, lit))
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
        let args: ResourceArgs = syn::parse_quote!(
            uri_template = "invoice://{id}",
            scope = "invoices:read",
            name = "invoice",
            title = "Invoice",
            description = "d",
            mime_type = "application/json",
            audience = ["user", "assistant"],
            priority = 0.5
        );
        let keys: Vec<_> = args.args.iter().map(Arg::key).collect();
        assert_eq!(
            keys,
            [
                "uri_template",
                "scope",
                "name",
                "title",
                "description",
                "mime_type",
                "audience",
                "priority"
            ]
        );
    }

    #[test]
    fn unknown_key_lists_the_known_ones() {
        let err = syn::parse2::<ResourceArgs>(quote::quote!(url = "a://b"))
            .err()
            .unwrap();
        assert!(
            err.to_string().starts_with("expected one of: `uri`"),
            "{err}"
        );
    }
}
