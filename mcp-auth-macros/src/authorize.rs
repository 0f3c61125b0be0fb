//! Scopes a call may need beyond its static ones, shared by every attribute that guards
//! something (`#[tool]`, `#[resource]`, and whatever comes next):
//!
//! - `require(scope = "payments:approve", when = amount_cents > 100_000)`, repeatable: the
//!   scope is required when the condition, a Rust `bool` expression over the function's
//!   parameters (the context included, by its name), holds. The condition is evaluated by the
//!   guard inside the function, after the arguments are parsed and before the body.
//! - `may_require = "x"` or `may_require = ["x", "y"]`: scopes only the body decides on, with
//!   `ctx.require_scopes(..)`.
//!
//! Both are declared so that the server's `scopes_supported` and each descriptor's `_meta`
//! name every scope a call can ever need. Parse, validate and expand live side by side here
//! so that an attribute adopts them in a few lines: parse [`Require`] and a [`ScopeValue`]
//! after its keywords, call [`validate`], and pass the result to
//! `expand::insert_scope_guard` and [`conditional_scopes`].

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, Token, parenthesized};

use crate::attr::ScopeValue;
use crate::valid::{Errors, scope_tokens};

pub(crate) mod kw {
    syn::custom_keyword!(require);
    syn::custom_keyword!(may_require);
    syn::custom_keyword!(when);
}

/// One `require(scope = .., when = ..)` as written; what is missing is reported by
/// [`validate`], at the keyword.
pub(crate) struct Require {
    pub(crate) key: Span,
    pub(crate) scope: Option<ScopeValue>,
    pub(crate) when: Option<(Span, Expr)>,
}

impl Require {
    /// Parses `require(...)`, the keyword included.
    pub(crate) fn parse_with_key(input: ParseStream<'_>) -> syn::Result<Self> {
        let key: kw::require = input.parse()?;
        let content;
        parenthesized!(content in input);
        let mut require = Require {
            key: key.span,
            scope: None,
            when: None,
        };
        while !content.is_empty() {
            let lookahead = content.lookahead1();
            if lookahead.peek(crate::attr::kw::scope) {
                let scope: crate::attr::kw::scope = content.parse()?;
                content.parse::<Token![=]>()?;
                if require.scope.is_some() {
                    return Err(syn::Error::new(
                        scope.span,
                        "duplicate `scope` in `require`",
                    ));
                }
                require.scope = Some(content.parse()?);
            } else if lookahead.peek(kw::when) {
                let when: kw::when = content.parse()?;
                content.parse::<Token![=]>()?;
                if require.when.is_some() {
                    return Err(syn::Error::new(when.span, "duplicate `when` in `require`"));
                }
                if content.is_empty() || content.peek(Token![,]) {
                    return Err(syn::Error::new(
                        when.span,
                        "`when` needs a condition: a `bool` expression over the parameters, such as `when = amount_cents > 100_000`",
                    ));
                }
                require.when = Some((when.span, content.parse()?));
            } else {
                return Err(lookahead.error());
            }
            if !content.is_empty() {
                content.parse::<Token![,]>()?;
            }
        }
        Ok(require)
    }
}

impl Parse for Require {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        Require::parse_with_key(input)
    }
}

/// A validated `require(..)`: these scopes, when this holds.
pub(crate) struct Condition {
    pub(crate) scopes: Vec<String>,
    pub(crate) when: Expr,
}

/// Everything a call may need beyond its static scopes.
#[derive(Default)]
pub(crate) struct Authorization {
    pub(crate) conditions: Vec<Condition>,
    /// `may_require`: checked by the body only.
    pub(crate) may_require: Vec<String>,
}

/// Every scope `authorization` declares, each once, in the order written: the descriptor's
/// `conditional_scopes`.
pub(crate) fn conditional_scopes(authorization: &Authorization) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    let all = authorization
        .conditions
        .iter()
        .flat_map(|c| c.scopes.iter())
        .chain(&authorization.may_require);
    for scope in all {
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    scopes
}

/// The rules of `require(..)` and `may_require`, for an item called `what` (`tool`,
/// `resource`) whose static scopes are `static_scopes` (`None` when they were invalid) and
/// whose context parameter, if any, is `context`.
///
/// - every scope is an RFC 6749 scope token, as a static one must be;
/// - a conditional scope is not also static (it would always be required: the condition
///   would lie) and not declared twice (which condition would count is a guess);
/// - `when` is given: a scope only the body decides on is a `may_require`;
/// - a condition needs a context parameter: it is evaluated by the guard inside the function,
///   which refuses through the caller's scopes, so that a direct Rust call is refused as a
///   call through the server is.
pub(crate) fn validate(
    requires: &[&Require],
    may_require: Option<&ScopeValue>,
    static_scopes: Option<&[String]>,
    has_context: bool,
    what: &str,
    errors: &mut Errors,
) -> Authorization {
    let mut seen: Vec<String> = Vec::new();
    let mut check = |value: &ScopeValue, errors: &mut Errors| -> Vec<String> {
        let mut kept = Vec::new();
        for (scope, span) in scope_tokens(value, errors) {
            if static_scopes.is_some_and(|s| s.contains(&scope)) {
                errors.push(
                    span,
                    format_args!(
                        "`{scope}` is already required by `scope`: a conditional scope is one the {what} does not always require"
                    ),
                );
            } else if seen.contains(&scope) {
                errors.push(
                    span,
                    format_args!("`{scope}` is declared twice: name each conditional scope once"),
                );
            } else {
                seen.push(scope.clone());
                kept.push(scope);
            }
        }
        kept
    };
    let mut authorization = Authorization::default();
    for require in requires {
        let scopes = match &require.scope {
            Some(value) => check(value, errors),
            None => {
                errors.push(
                    require.key,
                    "`require` needs the scope it adds: `require(scope = \"...\", when = ...)`",
                );
                Vec::new()
            }
        };
        match &require.when {
            Some((_, when)) => {
                if !has_context {
                    errors.push_spanned(
                        when,
                        format_args!(
                            "a `{what}` with `require(..)` takes a `ToolContext`: the condition is checked inside the function against the caller's scopes, so that a direct call is refused too"
                        ),
                    );
                }
                authorization.conditions.push(Condition {
                    scopes,
                    when: when.clone(),
                });
            }
            None => errors.push(
                require.key,
                "`require` needs `when = <condition>`; for a scope only the body checks, with `ctx.require_scopes(..)`, write `may_require = \"...\"`",
            ),
        }
    }
    if let Some(value) = may_require {
        authorization.may_require = check(value, errors);
    }
    authorization
}

/// The guard statement for a function whose context is `ctx`: every static scope, plus the
/// scopes of each condition that holds, in one check, so that one refusal names them all.
pub(crate) fn guard(ctx: &TokenStream, scopes: &[String], conditions: &[Condition]) -> TokenStream {
    let rt = crate::expand::rt();
    if conditions.is_empty() {
        return quote!(#rt::require_scopes(&#ctx, &[#(#scopes),*])?;);
    }
    let conditions = conditions.iter().map(|Condition { scopes, when }| {
        // Spanned at the condition, so that one that is not a `bool` is reported there.
        let applies = quote_spanned!(when.span()=> #rt::Condition::new(&[#(#scopes),*], #when));
        quote!(#applies,)
    });
    quote!(#rt::authorize(&#ctx, &[#(#scopes),*], &[#(#conditions)*])?;)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tokens: TokenStream) -> syn::Result<Require> {
        syn::parse2(tokens)
    }

    #[test]
    fn parses_scope_and_when_in_either_order() {
        let require = parse(quote!(require(when = a > 1, scope = "x:y"))).unwrap();
        assert!(require.scope.is_some());
        let (_, when) = require.when.unwrap();
        assert_eq!(quote!(#when).to_string(), "a > 1");
    }

    #[test]
    fn an_empty_when_says_what_it_needs() {
        let err = parse(quote!(require(scope = "x", when = ))).err().unwrap();
        assert!(
            err.to_string().starts_with("`when` needs a condition"),
            "{err}"
        );
        let err = parse(quote!(require(when = , scope = "x"))).err().unwrap();
        assert!(
            err.to_string().starts_with("`when` needs a condition"),
            "{err}"
        );
    }

    #[test]
    fn conditional_scopes_keep_the_written_order_once_each() {
        let mut errors = Errors::default();
        let a = parse(quote!(require(scope = ["b", "a"], when = x))).unwrap();
        let b = parse(quote!(require(scope = "c", when = y))).unwrap();
        let may: ScopeValue = syn::parse_quote!("d");
        let auth = validate(&[&a, &b], Some(&may), Some(&[]), true, "tool", &mut errors);
        assert!(errors.finish().is_ok());
        assert_eq!(conditional_scopes(&auth), ["b", "a", "c", "d"]);
    }

    #[test]
    fn a_scope_also_static_or_twice_is_refused() {
        let mut errors = Errors::default();
        let a = parse(quote!(require(scope = ["s", "x"], when = x))).unwrap();
        let b = parse(quote!(require(scope = "x", when = y))).unwrap();
        validate(
            &[&a, &b],
            None,
            Some(&["s".to_owned()]),
            true,
            "tool",
            &mut errors,
        );
        let message: Vec<String> = errors
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(message.len(), 2, "{message:?}");
        assert!(message[0].starts_with("`s` is already required"));
        assert!(message[1].starts_with("`x` is declared twice"));
    }
}
