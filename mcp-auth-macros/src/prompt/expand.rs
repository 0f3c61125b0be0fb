//! Code generation for `#[prompt]` from the validated model. No decisions are taken here.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use super::valid::{Prompt, PromptParam};
use crate::arg::{strip_param_attrs, with_completers};
use crate::authorize;
use crate::expand::{beside, insert_scope_guard, option, rt};

pub(crate) fn expand(prompt: &Prompt<'_>) -> TokenStream {
    let rt = rt();
    let ident = &prompt.func.sig.ident;
    let vis = &prompt.func.vis;
    let user_fn = user_fn(prompt);
    let name = &prompt.name;
    let title = option(prompt.title.as_deref());
    let description = option(prompt.description.as_deref());
    let scopes = &prompt.scopes;

    let ctx = Ident::new("ctx", Span::mixed_site());
    let arguments = Ident::new("arguments", Span::mixed_site());
    let value = Ident::new("value", Span::mixed_site());
    let mut declared = Vec::new();
    let mut checks = Vec::new();
    let mut bindings = Vec::new();
    for param in &prompt.params {
        let PromptParam::Argument(argument) = param else {
            continue;
        };
        let (arg_name, arg_ident, ty, parsed) =
            (&argument.name, argument.ident, argument.ty, argument.parsed);
        let arg_description = option(argument.description.as_deref());
        let required = argument.required;
        declared.push(quote! {
            #rt::PromptArgument {
                name: #arg_name,
                description: #arg_description,
                required: #required,
            }
        });
        checks.push(quote_spanned!(parsed.span()=> #rt::assert_prompt_arg::<#parsed>();));
        let parse = if required {
            quote!(prompt_required)
        } else {
            quote!(prompt_optional)
        };
        let parse = quote_spanned!(ty.span()=> #rt::#parse::<#parsed>(&#arguments, #arg_name));
        // As `#[tool]` does: with conditions, the static scopes are checked by the guard
        // inside the function together with the conditional ones, or first when an argument
        // does not parse.
        bindings.push(if prompt.authorization.conditions.is_empty() {
            quote!(let #arg_ident: #ty = #parse?;)
        } else {
            quote!(let #arg_ident: #ty = #rt::parsed(&#ctx, &[#(#scopes),*], #parse)?;)
        });
    }
    let call_args = prompt.params.iter().map(|param| match param {
        PromptParam::Context { state } => {
            let state = state.map_or_else(|| quote!(()), ToTokens::to_token_stream);
            quote!(#rt::context::<#state>(::core::clone::Clone::clone(&#ctx))?)
        }
        PromptParam::Argument(argument) => argument.ident.to_token_stream(),
    });
    let output = prompt.output;
    let output_check = quote_spanned!(output.span()=> #rt::assert_prompt_output::<#output>(););
    let convert = quote_spanned!(output.span()=> #rt::prompt_result::<#output>(#value));
    let state = prompt
        .params
        .iter()
        .find_map(|param| match param {
            PromptParam::Context { state } => *state,
            PromptParam::Argument(_) => None,
        })
        .map_or_else(
            || quote!(::core::option::Option::None),
            |state| quote!(::core::option::Option::Some(#rt::StateType::of::<#state>())),
        );
    let conditional_scopes = authorize::conditional_scopes(&prompt.authorization);
    let static_check = prompt
        .authorization
        .conditions
        .is_empty()
        .then(|| quote!(#ctx.require_scopes(&[#(#scopes),*])?;));
    let completers: Vec<(String, &syn::Path)> = prompt
        .params
        .iter()
        .filter_map(|param| match param {
            PromptParam::Argument(argument) => argument
                .complete
                .as_ref()
                .map(|path| (argument.name.clone(), path)),
            PromptParam::Context { .. } => None,
        })
        .collect();
    let def = quote! {
        #rt::prompt_def(
            #rt::PromptMeta {
                name: #name,
                title: #title,
                description: #description,
                arguments: &[#(#declared),*],
                scopes: &[#(#scopes),*],
                conditional_scopes: &[#(#conditional_scopes),*],
                state: #state,
            },
            |#ctx: #rt::CallContext, #arguments: #rt::PromptArguments| -> #rt::GetFuture {
                ::std::boxed::Box::pin(async move {
                    #static_check
                    #(#bindings)*
                    let #value = #ident(#(#call_args),*).await?;
                    #convert
                })
            },
        )
    };
    let def = with_completers(
        def,
        &Ident::new("prompt_completing", Span::call_site()),
        scopes,
        &completers,
    );
    let doc = format!(
        "The MCP prompt `{name}` declared by the function `{ident}`; list it in `prompts!`."
    );
    let body = quote! {
            #[automatically_derived]
            impl #rt::Prompt for #ident {
                fn def() -> #rt::PromptDef {
                    #(#checks)*
                    #output_check
                    #def
                }
            }
    };
    beside(user_fn, vis, ident, &doc, body)
}

/// The user's function, with the scope guard as the first statement of its body when it
/// takes a `ToolContext`, so that a direct Rust call is refused as `prompts/get` is.
fn user_fn(prompt: &Prompt<'_>) -> TokenStream {
    let mut func = strip_param_attrs(prompt.func.clone());
    let context = prompt
        .params
        .iter()
        .position(|p| matches!(p, PromptParam::Context { .. }));
    insert_scope_guard(
        &mut func,
        context,
        &prompt.scopes,
        &prompt.authorization.conditions,
    );
    func.into_token_stream()
}
