//! `#[arg(...)]` on a parameter of a `#[prompt]`, of a `#[resource(uri_template = ..)]` or of
//! a `#[tool]`: parsed here, its rules applied by each attribute's `valid.rs`, and the
//! completers it names expanded into the descriptor's erased completer.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, ItemFn, LitStr, Path, Token};

use crate::attr::kw;
use crate::expand::rt;
use crate::resource::attr::value;
use crate::valid::{Errors, check_duplicate_keys};

mod akw {
    syn::custom_keyword!(complete);
    syn::custom_keyword!(header);
}

/// One `key = value` of `#[arg(...)]`.
pub(crate) enum ParamArg {
    /// `name = "invoiceId"`: the prompt argument's name, when not the parameter's.
    Name(Span, LitStr),
    /// `complete = invoice_ids`: the `async fn` that completes the argument.
    Complete(Span, Path),
    /// `header = "Region"`: a tool parameter also sent as the `Mcp-Param-Region` header.
    Header(Span, LitStr),
}

impl ParamArg {
    pub(crate) fn key(&self) -> &'static str {
        match self {
            ParamArg::Name(..) => "name",
            ParamArg::Complete(..) => "complete",
            ParamArg::Header(..) => "header",
        }
    }

    pub(crate) fn key_span(&self) -> Span {
        match self {
            ParamArg::Name(span, _) | ParamArg::Complete(span, _) | ParamArg::Header(span, _) => {
                *span
            }
        }
    }
}

struct ParamArgs(Vec<ParamArg>);

impl Parse for ParamArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let args = Punctuated::<ParamArg, Token![,]>::parse_terminated(input)?;
        Ok(ParamArgs(args.into_iter().collect()))
    }
}

impl Parse for ParamArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::name) {
            let (span, lit) = value::<kw::name, _>(input)?;
            Ok(ParamArg::Name(span, lit))
        } else if lookahead.peek(akw::complete) {
            let (span, path) = value::<akw::complete, _>(input)?;
            Ok(ParamArg::Complete(span, path))
        } else if lookahead.peek(akw::header) {
            let (span, lit) = value::<akw::header, _>(input)?;
            Ok(ParamArg::Header(span, lit))
        } else {
            Err(lookahead.error())
        }
    }
}

/// `#[doc]` and `#[arg]`: what prompts and templates read from a parameter; rustc rejects
/// both on a function's parameters, so they leave it.
pub(crate) fn is_param_attr(attr: &Attribute) -> bool {
    attr.path().is_ident("doc") || attr.path().is_ident("arg")
}

/// `func` without the attributes [`is_param_attr`] names.
pub(crate) fn strip_param_attrs(mut func: ItemFn) -> ItemFn {
    for input in &mut func.sig.inputs {
        if let FnArg::Typed(typed) = input {
            typed.attrs.retain(|attr| !is_param_attr(attr));
        }
    }
    func
}

/// Every `#[arg(...)]` on a parameter, each key once.
pub(crate) fn param_args(attrs: &[Attribute], errors: &mut Errors) -> Vec<ParamArg> {
    let mut args = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("arg")) {
        match attr.parse_args::<ParamArgs>() {
            Ok(parsed) => args.extend(parsed.0),
            Err(err) => errors.push(err.span(), err),
        }
    }
    check_duplicate_keys(args.iter().map(|a| (a.key(), a.key_span())), errors);
    args
}

/// The completer named by `complete = f`, if any.
pub(crate) fn completer(args: &[ParamArg]) -> Option<&Path> {
    args.iter().find_map(|a| match a {
        ParamArg::Complete(_, path) => Some(path),
        ParamArg::Name(..) | ParamArg::Header(..) => None,
    })
}

/// `header = ".."` is refused on a parameter of `what` (a prompt, a resource template):
/// only tool calls carry arguments a gateway reads from `Mcp-Param-*` headers.
pub(crate) fn reject_header(args: &[ParamArg], what: &str, errors: &mut Errors) {
    for arg in args {
        if let ParamArg::Header(span, _) = arg {
            errors.push(
                *span,
                format_args!(
                    "`#[arg(header = ..)]` is for tool parameters: {what} has no `Mcp-Param-*` headers"
                ),
            );
        }
    }
}

/// `def` wrapped with the erased completer of `completers` (argument name, completer), which
/// checks `scopes` first, as the descriptor's handler does; `def` itself when there are none.
pub(crate) fn with_completers(
    def: TokenStream,
    wrap: &Ident,
    scopes: &[String],
    completers: &[(String, &Path)],
) -> TokenStream {
    if completers.is_empty() {
        return def;
    }
    let rt = rt();
    let ctx = Ident::new("ctx", Span::mixed_site());
    let request = Ident::new("request", Span::mixed_site());
    let states = completers
        .iter()
        .map(|(name, path)| quote_spanned!(path.span()=> (#name, #rt::completer_state(&#path))));
    // Spanned at `f` as `completer_state` is, so that a function that is no completer is
    // reported there.
    let arms = completers.iter().map(|(name, path)| {
        let call = quote_spanned!(path.span()=> #rt::complete(#path, #ctx, #request));
        quote!(#name => #call.await,)
    });
    quote! {
        #rt::#wrap(
            #def,
            #rt::completion_def(
                ::std::vec![#(#states),*],
                |#ctx: #rt::CallContext, #request: #rt::CompletionRequest| -> #rt::CompleteFuture {
                    ::std::boxed::Box::pin(async move {
                        #ctx.require_scopes(&[#(#scopes),*])?;
                        match #request.argument() {
                            #(#arms)*
                            _ => ::core::result::Result::Ok(::core::default::Default::default()),
                        }
                    })
                },
            ),
        )
    }
}
