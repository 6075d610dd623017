//! The attribute's options: `#[tool(timeout_secs = 5, exclusive, name = "other")]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Lit, LitStr, Meta, Token};

/// Options given to `#[tool(...)]`.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) name: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
    /// Assignments to a `ToolOptions` value named `options`.
    pub(crate) settings: Vec<TokenStream>,
}

pub(crate) fn parse(attr: TokenStream) -> syn::Result<Options> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr)?;
    let mut options = Options::default();
    for meta in metas {
        let key = meta.path().get_ident().map(ToString::to_string).unwrap_or_default();
        let setting = match (key.as_str(), &meta) {
            ("name", Meta::NameValue(nv)) => {
                options.name = Some(string(&nv.value)?);
                continue;
            }
            ("description", Meta::NameValue(nv)) => {
                options.description = Some(string(&nv.value)?);
                continue;
            }
            ("instructions", Meta::NameValue(nv)) => {
                let text = string(&nv.value)?;
                quote!(options.instructions = ::std::option::Option::Some(::std::string::String::from(#text));)
            }
            ("timeout_secs", Meta::NameValue(nv)) => {
                let n = integer(&nv.value)?;
                quote!(options.timeout = ::std::option::Option::Some(::std::time::Duration::from_secs(#n));)
            }
            ("timeout_ms", Meta::NameValue(nv)) => {
                let n = integer(&nv.value)?;
                quote!(options.timeout = ::std::option::Option::Some(::std::time::Duration::from_millis(#n));)
            }
            ("cache_ttl_secs", Meta::NameValue(nv)) => {
                let n = integer(&nv.value)?;
                quote!(options.cache_ttl = ::std::option::Option::Some(::std::time::Duration::from_secs(#n));)
            }
            ("strict", Meta::Path(_)) => quote!(options.strict = true;),
            ("show_result", Meta::Path(_)) => quote!(options.show_result = true;),
            ("stop_after_tool_call", Meta::Path(_)) => quote!(options.stop_after_tool_call = true;),
            ("requires_confirmation", Meta::Path(_)) => quote!(options.requires_confirmation = true;),
            ("exclusive", Meta::Path(_)) => quote!(options.exclusive = true;),
            ("eager_start", Meta::NameValue(nv)) => {
                let eager = boolean(&nv.value)?;
                quote!(options.eager_start = #eager;)
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    &meta,
                    "unknown #[tool] option; expected one of: name = \"..\", description = \"..\", \
                     instructions = \"..\", timeout_secs = N, timeout_ms = N, cache_ttl_secs = N, eager_start = false, \
                     strict, show_result, stop_after_tool_call, requires_confirmation, exclusive",
                ));
            }
        };
        options.settings.push(setting);
    }
    Ok(options)
}

fn string(expr: &Expr) -> syn::Result<LitStr> {
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Ok(s.clone()),
        other => Err(syn::Error::new_spanned(other, "expected a string literal")),
    }
}

fn boolean(expr: &Expr) -> syn::Result<bool> {
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) => Ok(b.value),
        other => Err(syn::Error::new_spanned(other, "expected `true` or `false`")),
    }
}

fn integer(expr: &Expr) -> syn::Result<u64> {
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Int(n), .. }) => n.base10_parse(),
        other => Err(syn::Error::new_spanned(other, "expected an integer literal")),
    }
}
