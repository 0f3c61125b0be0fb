//! Code generation for `#[resource]` from the validated model. No decisions are taken here.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use super::valid::{OutputKind, Resource, ResourceParam, Uri};
use crate::arg::{strip_param_attrs, with_completers};
use crate::expand::{beside, insert_scope_guard, option, rt};

pub(crate) fn expand(resource: &Resource<'_>) -> TokenStream {
    let rt = rt();
    let ident = &resource.func.sig.ident;
    let vis = &resource.func.vis;
    let user_fn = user_fn(resource);
    let uri = match &resource.uri {
        Uri::Fixed(uri) => quote!(#rt::ResourceUri::Fixed(#uri)),
        Uri::Template(template) => quote!(#rt::ResourceUri::Template(#template)),
    };
    let name = &resource.name;
    let title = option(resource.title.as_deref());
    let description = option(resource.description.as_deref());
    let mime_type = option(resource.mime_type.as_deref());
    let scopes = &resource.scopes;
    let audience = resource
        .audience
        .iter()
        .map(|role| format_ident!("{role}"))
        .map(|role| quote!(#rt::Role::#role));
    let priority = option(resource.priority);

    let ctx = Ident::new("ctx", Span::mixed_site());
    let read = Ident::new("read", Span::mixed_site());
    let value = Ident::new("value", Span::mixed_site());
    let bindings = resource.params.iter().filter_map(|param| match param {
        ResourceParam::Variable { ident, ty, .. } => {
            let name = ident.to_string();
            Some(quote_spanned! {ty.span()=>
                let #ident: #ty = #rt::template_variable::<#ty>(&#read, #name)?;
            })
        }
        ResourceParam::Context { .. } => None,
    });
    let call_args = resource.params.iter().map(|param| match param {
        ResourceParam::Context { state } => {
            let state = state.map_or_else(|| quote!(()), ToTokens::to_token_stream);
            quote!(#rt::context::<#state>(::core::clone::Clone::clone(&#ctx))?)
        }
        ResourceParam::Variable { ident, .. } => ident.to_token_stream(),
    });
    let mime = option(resource.mime_type.as_deref());
    let output = resource.output;
    let convert = match resource.kind {
        OutputKind::Text => quote!(#rt::resource_text(&#read, #mime, #value)),
        OutputKind::Blob => quote!(#rt::resource_blob(&#read, #mime, #value)),
        OutputKind::Raw => quote!(::core::result::Result::Ok(#value)),
        OutputKind::Json => {
            quote_spanned!(output.span()=> #rt::resource_json::<#output>(&#read, #mime, #value))
        }
    };
    let state = resource
        .params
        .iter()
        .find_map(|param| match param {
            ResourceParam::Context { state } => *state,
            ResourceParam::Variable { .. } => None,
        })
        .map_or_else(
            || quote!(::core::option::Option::None),
            |state| quote!(::core::option::Option::Some(#rt::StateType::of::<#state>())),
        );
    let def = quote! {
        #rt::resource_def(
            #rt::ResourceMeta {
                uri: #uri,
                name: #name,
                title: #title,
                description: #description,
                mime_type: #mime_type,
                scopes: &[#(#scopes),*],
                annotations: #rt::ResourceAnnotations {
                    audience: &[#(#audience),*],
                    priority: #priority,
                },
                state: #state,
            },
            |#ctx: #rt::CallContext, #read: #rt::ReadRequest| -> #rt::ReadFuture {
                ::std::boxed::Box::pin(async move {
                    #ctx.require_scopes(&[#(#scopes),*])?;
                    #(#bindings)*
                    let #value = #ident(#(#call_args),*).await?;
                    #convert
                })
            },
        )
    };
    let completers: Vec<(String, &syn::Path)> = resource
        .params
        .iter()
        .filter_map(|param| match param {
            ResourceParam::Variable {
                ident, complete, ..
            } => complete.as_ref().map(|path| (ident.to_string(), path)),
            ResourceParam::Context { .. } => None,
        })
        .collect();
    let def = with_completers(
        def,
        &Ident::new("resource_completing", Span::call_site()),
        scopes,
        &completers,
    );
    let doc = format!(
        "The MCP resource `{name}` declared by the function `{ident}`; list it in `resources!`."
    );
    let body = quote! {
            #[automatically_derived]
            impl #rt::Resource for #ident {
                fn def() -> #rt::ResourceDef {
                    #def
                }
            }
    };
    beside(user_fn, vis, ident, &doc, body)
}

/// The user's function, with the scope guard as the first statement of its body when it
/// takes a `ToolContext`, so that a direct Rust call is refused as a read is.
fn user_fn(resource: &Resource<'_>) -> TokenStream {
    let mut func = strip_param_attrs(resource.func.clone());
    let context = resource
        .params
        .iter()
        .position(|p| matches!(p, ResourceParam::Context { .. }));
    insert_scope_guard(&mut func, context, &resource.scopes);
    func.into_token_stream()
}
