//! `tools![a, b::c]`: the descriptor of each listed tool, read through the type `#[tool]`
//! declares beside the function.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Path, Token};

use crate::expand::rt;

pub(crate) fn tools(input: TokenStream) -> TokenStream {
    list(input, &quote!(Tool))
}

/// `resources![a, b::c]`, as `tools!` through the `Resource` trait.
pub(crate) fn resources(input: TokenStream) -> TokenStream {
    list(input, &quote!(Resource))
}

/// `prompts![a, b::c]`, as `tools!` through the `Prompt` trait.
pub(crate) fn prompts(input: TokenStream) -> TokenStream {
    list(input, &quote!(Prompt))
}

fn list(input: TokenStream, kind: &TokenStream) -> TokenStream {
    let paths = match Punctuated::<Path, Token![,]>::parse_terminated.parse2(input) {
        Ok(paths) => paths,
        Err(err) => return err.to_compile_error(),
    };
    let defs = paths.iter().map(|path| def(path, kind));
    quote!(::std::vec![#(#defs),*])
}

/// `<path as Tool>::def()`, written so that a path to a function without `#[tool]` is reported
/// as "`f` is not a tool" at the path, not as "expected type, found function".
///
/// `#[tool] async fn f` declares a braced struct `f` beside the function, the same name in the
/// type namespace, which implements `Tool`. A plain `async fn f` has its name in the value
/// namespace only, and a type path to it fails in name resolution, where no trait can explain.
/// So each entry imports the path under a local name, and a glob import offers that local name
/// in the type namespace too, as a struct also called `f` that is no tool. An explicit import
/// shadows a glob one only in the namespaces where its path has an item: a tool's path resolves
/// to its own type, any other function's to the stand-in, which `Tool`'s `on_unimplemented`
/// names as not a tool.
fn def(path: &Path, kind: &TokenStream) -> TokenStream {
    let rt = rt();
    let name = &path
        .segments
        .last()
        .expect("a parsed path has a segment")
        .ident;
    let local = Ident::new("__mcp_auth_tool", name.span());
    let stand_ins = format_ident!("__mcp_auth_stand_ins");
    quote! {{
        #[allow(non_camel_case_types, dead_code, unreachable_pub)]
        mod #stand_ins {
            mod names {
                pub struct #name {}
            }
            pub use self::names::#name as #local;
        }
        #[allow(unused_imports)]
        use #stand_ins::*;
        #[allow(unused_imports)]
        use #path as #local;
        <#local as #rt::#kind>::def()
    }}
}
