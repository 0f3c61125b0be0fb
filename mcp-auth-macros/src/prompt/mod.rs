//! `#[prompt]`: parse (`attr.rs`) → validate (`valid.rs`) → expand (`expand.rs`), as
//! `#[tool]` and `#[resource]` do.

mod attr;
mod expand;
mod valid;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ItemFn;

use crate::arg::strip_param_attrs;
use crate::expand::with_error;

/// Runs the phases; on error the function is still emitted beside the error, without the
/// parameter attributes rustc would reject.
pub(crate) fn prompt(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(err) => return with_error(item, err),
    };
    match syn::parse2(args).and_then(|args| valid::validate(&func, args)) {
        Ok(prompt) => expand::expand(&prompt),
        Err(err) => with_error(strip_param_attrs(func).to_token_stream(), err),
    }
}
