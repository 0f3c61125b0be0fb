//! Code generation from the validated model. No decisions are taken here.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Pat, parse_quote};

use crate::ast::{ToolFn, is_field_attr};
use crate::authorize::{self, Condition};
use crate::valid::{OutputKind, TaskSupport, Tool, ToolParam};

/// Runs parse → validate → expand. On error the function is still emitted, unchanged, beside
/// the error, so that IDEs keep resolving it and no "cannot find function" errors pile up.
pub(crate) fn tool(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(err) => return with_error(item, err),
    };
    match ToolFn::from_syn(&func, args).and_then(ToolFn::validate) {
        Ok(tool) => expand(&tool),
        Err(err) => with_error(strip_param_attrs(func).to_token_stream(), err),
    }
}

pub(crate) fn with_error(item: TokenStream, err: syn::Error) -> TokenStream {
    let err = err.to_compile_error();
    quote!(#item #err)
}

/// The path every expansion reaches the runtime through.
pub(crate) fn rt() -> TokenStream {
    quote!(::mcp_auth_runtime::__private)
}

/// Parameter doc comments and `#[serde]`/`#[schemars]` attributes belong to the generated
/// arguments struct, `#[arg]` to the macro; rustc rejects doc comments and unknown
/// attributes on parameters, so they leave the function.
fn strip_param_attrs(mut func: ItemFn) -> ItemFn {
    for input in &mut func.sig.inputs {
        if let FnArg::Typed(typed) = input {
            typed
                .attrs
                .retain(|attr| !is_field_attr(attr) && !attr.path().is_ident("arg"));
        }
    }
    func
}

fn expand(tool: &Tool<'_>) -> TokenStream {
    let rt = rt();
    let ident = &tool.func.sig.ident;
    let vis = &tool.func.vis;
    let user_fn = user_fn(tool);

    let name = &tool.name;
    let title = option(tool.title.as_deref());
    let description = &tool.description;
    let scopes = &tool.scopes;
    let annotations = {
        let a = &tool.annotations;
        let [read_only, destructive, idempotent, open_world] =
            [a.read_only, a.destructive, a.idempotent, a.open_world].map(option);
        quote! {
            #rt::Annotations {
                read_only: #read_only,
                destructive: #destructive,
                idempotent: #idempotent,
                open_world: #open_world,
            }
        }
    };
    let task = match tool.task {
        TaskSupport::Forbidden => quote!(#rt::TaskSupport::Forbidden),
        TaskSupport::Optional => quote!(#rt::TaskSupport::Optional),
        TaskSupport::Required => quote!(#rt::TaskSupport::Required),
    };

    let ctx = Ident::new("ctx", Span::mixed_site());
    let arguments = Ident::new("arguments", Span::mixed_site());
    let args_struct = Ident::new("__ToolArgs", Span::mixed_site());
    let value = Ident::new("value", Span::mixed_site());

    // The arguments: a generated struct of the plain parameters, or the `Args<T>` type. Each
    // bound on a user's type is spelled `f::<UserType>`, which rustc reports at `UserType`, and
    // all of them sit in `def`'s body (the handler is a closure), where rustc reports a bound
    // that fails twice at one span once.
    let (args_struct_def, input_schema, (pattern, parse)) = match tool.args_type {
        Some(ty) => {
            let input = Ident::new("input", Span::mixed_site());
            (
                TokenStream::new(),
                quote_spanned!(ty.span()=> #rt::input_schema::<#ty>),
                (
                    quote!(#input),
                    quote_spanned!(ty.span()=> #rt::parse_arguments::<#ty>(#arguments)),
                ),
            )
        }
        None => {
            let input_schema_fn = Ident::new("__input_schema", Span::mixed_site());
            let parse_fn = Ident::new("__parse_arguments", Span::mixed_site());
            // A field without `#[serde]` or `#[schemars]` attributes gets a type parameter, so
            // that the derived impls are generic and a type that is not `Deserialize +
            // JsonSchema` is reported once, at the parameter, rather than again in every
            // derived method. Attributes can name functions of the field's type or add bounds
            // (`default`), so those fields keep their type.
            let mut generics = Vec::new();
            let mut type_args = Vec::new();
            let mut fields = Vec::new();
            let mut names = Vec::new();
            for param in &tool.params {
                let ToolParam::Plain {
                    ident,
                    ty,
                    field_attrs,
                    header,
                } = param
                else {
                    continue;
                };
                let field_ty = if field_attrs.iter().all(|attr| attr.path().is_ident("doc")) {
                    let generic = format_ident!("__McpAuthArg{}", generics.len());
                    generics.push(generic.clone());
                    type_args.push(*ty);
                    generic.to_token_stream()
                } else {
                    ty.to_token_stream()
                };
                // After the user's attributes, which decide the field's type above: the
                // extension only adds a keyword to the property's schema.
                let header = header
                    .as_ref()
                    .map(|name| quote!(#[schemars(extend("x-mcp-header" = #name))]));
                fields.push(quote!(#(#field_attrs)* #header #ident: #field_ty,));
                names.push(*ident);
            }
            let turbofish = (!type_args.is_empty()).then(|| quote!(::<#(#type_args),*>));
            let serde = quote!(#rt::serde).to_string();
            let schemars = quote!(#rt::schemars).to_string();
            (
                quote! {
                    #[derive(#rt::serde::Deserialize, #rt::schemars::JsonSchema)]
                    #[serde(crate = #serde, deny_unknown_fields)]
                    #[schemars(crate = #schemars)]
                    struct #args_struct<#(#generics),*> { #(#fields)* }

                    fn #input_schema_fn<#(#generics: #rt::ToolParam),*>() -> #rt::serde_json::Value {
                        #rt::input_schema::<#args_struct<#(#generics),*>>()
                    }

                    fn #parse_fn<#(#generics: #rt::ToolParam),*>(
                        #arguments: #rt::Arguments,
                    ) -> ::core::result::Result<#args_struct<#(#generics),*>, #rt::ToolError> {
                        #rt::parse_arguments(#arguments)
                    }
                },
                quote!(#input_schema_fn #turbofish),
                (
                    quote!(#args_struct { #(#names),* }),
                    quote!(#parse_fn #turbofish(#arguments)),
                ),
            )
        }
    };

    // The call of the user's function, each parameter in its place.
    let call_args = tool.params.iter().map(|param| match param {
        ToolParam::Context { state, .. } => {
            let state = state.map_or_else(|| quote!(()), ToTokens::to_token_stream);
            quote!(#rt::context::<#state>(#ctx)?)
        }
        ToolParam::Args => {
            let input = Ident::new("input", Span::mixed_site());
            quote!(::mcp_auth_runtime::Args(#input))
        }
        ToolParam::Plain { ident, .. } => ident.to_token_stream(),
    });
    let propagate = tool.output.fallible.then(|| quote!(?));
    let value_ty = tool.output.value;
    let (convert, output_schema) = match tool.output.kind {
        OutputKind::Text => (
            quote!(#rt::text(#value)),
            quote!(::core::option::Option::None),
        ),
        OutputKind::Raw => (
            quote!(#rt::raw(#value)),
            quote!(::core::option::Option::None),
        ),
        OutputKind::Structured => (
            quote_spanned!(value_ty.span()=> #rt::structured::<#value_ty>(#value)),
            quote_spanned! {value_ty.span()=>
                ::core::option::Option::Some(#rt::output_schema::<#value_ty> as fn() -> _)
            },
        ),
    };
    let state = tool
        .params
        .iter()
        .find_map(|param| match param {
            ToolParam::Context { state, .. } => *state,
            _ => None,
        })
        .map_or_else(
            || quote!(::core::option::Option::None),
            |state| quote!(::core::option::Option::Some(#rt::StateType::of::<#state>())),
        );
    // First in `def`, so that a type that is not a tool parameter is reported as required by
    // `assert_tool_param`, whose note says what to do.
    let param_types = tool.params.iter().filter_map(|param| match param {
        ToolParam::Plain { ty, .. } => Some(*ty),
        _ => None,
    });
    let param_checks = param_types
        .chain(tool.args_type)
        .map(|ty| quote_spanned!(ty.span()=> #rt::assert_tool_param::<#ty>();));
    let output_check = (tool.output.kind == OutputKind::Structured)
        .then(|| quote_spanned!(value_ty.span()=> #rt::assert_structured_output::<#value_ty>();));

    // Without conditions the static scopes are checked before the arguments are parsed. With
    // them the check waits for the guard inside the function, which names the static and the
    // conditional scopes in one refusal; arguments that do not parse are refused for the
    // static scopes first, so that a caller without them learns nothing of the input.
    let conditional_scopes = authorize::conditional_scopes(&tool.authorization);
    let (static_check, destructure) = if tool.authorization.conditions.is_empty() {
        (
            quote!(#ctx.require_scopes(&[#(#scopes),*])?;),
            quote!(let #pattern = #parse?;),
        )
    } else {
        (
            TokenStream::new(),
            quote!(let #pattern = #rt::parsed(&#ctx, &[#(#scopes),*], #parse)?;),
        )
    };
    let doc =
        format!("The MCP tool `{name}` declared by the function `{ident}`; list it in `tools!`.");
    let body = quote! {
            #args_struct_def

            #[automatically_derived]
            impl #rt::Tool for #ident {
                fn def() -> #rt::ToolDef {
                    #(#param_checks)*
                    #output_check
                    #rt::tool_def(
                        #rt::ToolMeta {
                            name: #name,
                            title: #title,
                            description: #description,
                            scopes: &[#(#scopes),*],
                            conditional_scopes: &[#(#conditional_scopes),*],
                            annotations: #annotations,
                            input_schema: #input_schema,
                            output_schema: #output_schema,
                            state: #state,
                            task: #task,
                        },
                        |#ctx: #rt::CallContext, #arguments: #rt::Arguments| -> #rt::BoxFuture {
                            ::std::boxed::Box::pin(async move {
                                #static_check
                                #destructure
                                let #value = #ident(#(#call_args),*).await #propagate;
                                #convert
                            })
                        },
                    )
                }
            }
    };
    beside(user_fn, vis, ident, &doc, body)
}

/// The user's function, the type of the same name through which `tools!` and `resources!`
/// reach its descriptor, and `body` (the descriptor's impl) in an anonymous const.
pub(crate) fn beside(
    user_fn: TokenStream,
    vis: &syn::Visibility,
    ident: &Ident,
    doc: &str,
    body: TokenStream,
) -> TokenStream {
    quote! {
        #user_fn

        #[doc = #doc]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #ident {}

        const _: () = {
            #body
        };
    }
}

/// The user's function, with the scope guard as the first statement of its body when it can
/// reach the caller's scopes through a `ToolContext`.
fn user_fn(tool: &Tool<'_>) -> TokenStream {
    let mut func = strip_param_attrs(tool.func.clone());
    let context = tool
        .params
        .iter()
        .position(|p| matches!(p, ToolParam::Context { .. }));
    insert_scope_guard(
        &mut func,
        context,
        &tool.scopes,
        &tool.authorization.conditions,
    );
    func.into_token_stream()
}

/// Makes the scope guard the first statement of `func` when it takes a context (parameter
/// `context`) and requires scopes, always or under `conditions`, so that a direct Rust call is
/// refused as a call through the server is.
pub(crate) fn insert_scope_guard(
    func: &mut ItemFn,
    context: Option<usize>,
    scopes: &[String],
    conditions: &[Condition],
) {
    if let (Some(index), false) = (context, scopes.is_empty() && conditions.is_empty()) {
        let FnArg::Typed(typed) = &mut func.sig.inputs[index] else {
            unreachable!("receivers are rejected by validation")
        };
        // `_: ToolContext` has no name to check; give it one the body cannot see.
        let ctx = match &*typed.pat {
            Pat::Ident(pat) => pat.ident.clone(),
            _ => {
                let ident = format_ident!("__mcp_auth_ctx", span = Span::mixed_site());
                *typed.pat = parse_quote!(#ident);
                ident
            }
        };
        let guard = authorize::guard(&ctx.to_token_stream(), scopes, conditions);
        let guard: syn::Stmt = parse_quote!(#guard);
        func.block.stmts.insert(0, guard);
    }
}

pub(crate) fn option<T: ToTokens>(value: Option<T>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}
