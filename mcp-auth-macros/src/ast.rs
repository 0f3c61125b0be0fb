//! A typed, borrowed view of the function under `#[tool]`. Syntax only: every rule about what
//! is allowed lives in `valid.rs`.

use proc_macro2::TokenStream;
use syn::{
    Attribute, Expr, FnArg, GenericArgument, ItemFn, Lit, Meta, Pat, PatType, PathArguments,
    Receiver, ReturnType, Type,
};

use crate::attr::{Arg, ToolArgs};

/// The annotated function and its `#[tool(...)]` arguments.
pub(crate) struct ToolFn<'a> {
    pub(crate) original: &'a ItemFn,
    pub(crate) args: Vec<Arg>,
    pub(crate) params: Vec<Param<'a>>,
    pub(crate) output: Option<Output<'a>>,
}

/// One parameter of the function.
pub(crate) enum Param<'a> {
    /// `self`, `&self`, ...: always rejected, kept so that the error can point at it.
    Receiver(&'a Receiver),
    Typed(TypedParam<'a>),
}

/// A `pattern: Type` parameter.
pub(crate) struct TypedParam<'a> {
    pub(crate) original: &'a PatType,
    pub(crate) pat: &'a Pat,
    pub(crate) ty: &'a Type,
    pub(crate) kind: ParamKind<'a>,
    /// `#[doc]`, `#[serde]` and `#[schemars]` attributes, moved to the arguments struct.
    pub(crate) field_attrs: Vec<&'a Attribute>,
}

/// What a parameter is, recognised by its type's last path segment.
pub(crate) enum ParamKind<'a> {
    /// `ToolContext` or `ToolContext<S>`, with `S` when given.
    Context(Option<&'a Type>),
    /// `Args<T>`: `T` is the whole input.
    Args(Option<&'a Type>),
    /// Any other type: one property of the input object.
    Plain,
}

/// The declared return type, split into the success value and whether it is a `Result`.
pub(crate) struct Output<'a> {
    /// The success type: `T` of `Result<T, E>`, or the whole type.
    pub(crate) value: &'a Type,
    pub(crate) fallible: bool,
}

impl<'a> ToolFn<'a> {
    pub(crate) fn from_syn(original: &'a ItemFn, args: TokenStream) -> syn::Result<Self> {
        let ToolArgs { args } = syn::parse2(args)?;
        let params = original.sig.inputs.iter().map(Param::from_syn).collect();
        let output = match &original.sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => Some(Output::from_syn(ty)),
        };
        Ok(ToolFn {
            original,
            args,
            params,
            output,
        })
    }
}

impl<'a> Param<'a> {
    fn from_syn(arg: &'a FnArg) -> Self {
        match arg {
            FnArg::Receiver(receiver) => Param::Receiver(receiver),
            FnArg::Typed(typed) => {
                let kind = match last_segment(&typed.ty) {
                    Some(("ToolContext", generic)) => ParamKind::Context(generic),
                    Some(("Args", generic)) => ParamKind::Args(generic),
                    _ => ParamKind::Plain,
                };
                Param::Typed(TypedParam {
                    original: typed,
                    pat: &typed.pat,
                    ty: &typed.ty,
                    kind,
                    field_attrs: typed.attrs.iter().filter(|a| is_field_attr(a)).collect(),
                })
            }
        }
    }
}

impl<'a> Output<'a> {
    fn from_syn(ty: &'a Type) -> Self {
        match last_segment(ty) {
            Some(("Result", Some(value))) => Output {
                value,
                fallible: true,
            },
            _ => Output {
                value: ty,
                fallible: false,
            },
        }
    }
}

/// Attributes on a parameter that belong to the generated arguments struct's field.
pub(crate) fn is_field_attr(attr: &Attribute) -> bool {
    ["doc", "serde", "schemars"]
        .iter()
        .any(|name| attr.path().is_ident(name))
}

/// The last segment's name of a path type and its first generic type argument, if any.
pub(crate) fn last_segment(ty: &Type) -> Option<(&'static str, Option<&Type>)> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let segment = path.path.segments.last()?;
    let name = ["ToolContext", "Args", "Result", "String", "CallToolResult"]
        .into_iter()
        .find(|name| segment.ident == name)?;
    let generic = match &segment.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        }),
        _ => None,
    };
    Some((name, generic))
}

/// The doc comment's first paragraph, its lines joined by spaces, as rustdoc's summary.
pub(crate) fn first_paragraph(attrs: &[Attribute]) -> Option<String> {
    let lines = doc_lines(attrs);
    let paragraph: Vec<&str> = lines
        .iter()
        .map(|line| line.trim())
        .skip_while(|line| line.is_empty())
        .take_while(|line| !line.is_empty())
        .collect();
    (!paragraph.is_empty()).then(|| paragraph.join(" "))
}

pub(crate) fn doc_lines(attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter_map(|attr| match &attr.meta {
            Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
                Expr::Lit(lit) => match &lit.lit {
                    Lit::Str(s) => Some(s.value()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .flat_map(|doc| doc.split('\n').map(str::to_owned).collect::<Vec<_>>())
        .map(|line| line.strip_prefix(' ').map(str::to_owned).unwrap_or(line))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn recognises_context_args_and_plain_parameters() {
        let func: ItemFn = parse_quote! {
            async fn f(
                ctx: ToolContext<Billing>,
                /// The id
                id: String,
                limit: Option<u32>,
            ) -> Result<Invoice, ToolError> {}
        };
        let tool = ToolFn::from_syn(&func, quote::quote!(unscoped)).unwrap();
        let kinds: Vec<_> = tool
            .params
            .iter()
            .map(|p| match p {
                Param::Typed(t) => match t.kind {
                    ParamKind::Context(Some(_)) => "context",
                    ParamKind::Plain => "plain",
                    _ => "other",
                },
                Param::Receiver(_) => "receiver",
            })
            .collect();
        assert_eq!(kinds, ["context", "plain", "plain"]);
        let Param::Typed(id) = &tool.params[1] else {
            unreachable!()
        };
        assert_eq!(id.field_attrs.len(), 1);
        let output = tool.output.unwrap();
        assert!(output.fallible);
        let value = output.value;
        assert_eq!(quote::quote!(#value).to_string(), "Invoice");
    }

    #[test]
    fn doc_lines_drop_the_leading_space() {
        let func: ItemFn = parse_quote! {
            /// First line.
            ///
            ///   Indented.
            async fn f() -> String {}
        };
        assert_eq!(doc_lines(&func.attrs), ["First line.", "", "  Indented."]);
    }
}
