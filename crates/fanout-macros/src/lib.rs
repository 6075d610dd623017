//! The `#[tool]` attribute of fanout (stub).
use proc_macro::TokenStream;
/// stub
#[proc_macro_attribute]
pub fn tool(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
