//! The `#[tool]` attribute of [fanout](https://docs.rs/fanout): turns a function into a tool.
//!
//! Use it through `fanout::tool`; its documentation there is the reference.

mod docs;
mod expand;
mod options;

use proc_macro::TokenStream;

/// Turn an `async fn` or a plain `fn` into a fanout tool. See `fanout::tool` for the reference.
#[proc_macro_attribute]
pub fn tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = match options::parse(attr.into()) {
        Ok(options) => options,
        Err(err) => return err.to_compile_error().into(),
    };
    let function = syn::parse_macro_input!(item as syn::ItemFn);
    expand::expand(options, function).unwrap_or_else(|err| err.to_compile_error()).into()
}
