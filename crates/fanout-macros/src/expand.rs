//! The expansion of `#[tool]`: the function becomes a unit struct of the same name implementing
//! `fanout::tool::Tool`; the original function stays callable as `name::func(...)`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::docs;
use crate::options::Options;

struct Argument {
    name: Ident,
    ty: Type,
    doc: Option<String>,
}

pub(crate) fn expand(options: Options, function: ItemFn) -> syn::Result<TokenStream> {
    check_signature(&function)?;
    let ItemFn { attrs, vis, sig, block } = &function;
    let fn_name = &sig.ident;
    let docs = docs::parse(attrs);

    let mut arguments = Vec::new();
    for input in &sig.inputs {
        let FnArg::Typed(typed) = input else {
            return Err(syn::Error::new_spanned(
                input,
                "a #[tool] function cannot take `self`; for tools with state use fanout::tool::Toolkit \
                 or implement fanout::tool::Tool",
            ));
        };
        let Pat::Ident(pat) = &*typed.pat else {
            return Err(syn::Error::new(
                typed.pat.span(),
                "#[tool] arguments need plain names: the model passes them by name",
            ));
        };
        check_type(&typed.ty)?;
        let name = pat.ident.clone();
        let key = name.to_string();
        let doc = docs.arguments.iter().find(|(n, _)| *n == key).map(|(_, d)| d.clone());
        arguments.push(Argument { name, ty: (*typed.ty).clone(), doc });
    }
    if let Some((unknown, _)) = docs.arguments.iter().find(|(n, _)| !arguments.iter().any(|a| a.name == n)) {
        return Err(syn::Error::new(
            fn_name.span(),
            format!("the doc comment describes an argument `{unknown}` that `{fn_name}` does not have"),
        ));
    }

    let tool_name = options.name.map(|n| n.value()).unwrap_or_else(|| fn_name.to_string());
    let description = options.description.map(|d| d.value()).unwrap_or(docs.description);
    let settings = &options.settings;

    let fields = arguments.iter().map(|Argument { name, ty, doc }| {
        let doc = doc.as_ref().map(|d| quote!(#[doc = #d]));
        let default = is_option(ty).then(|| quote!(#[serde(default)]));
        quote!(#doc #default #name: #ty)
    });
    let names: Vec<&Ident> = arguments.iter().map(|a| &a.name).collect();
    let args_struct = format_ident!("__FanoutArgs");

    let output = convert_output(&sig.output);
    let call = if sig.asyncness.is_some() {
        quote! {
            ::fanout::tool::Invocation::future(async move {
                let ret = #fn_name::func(#(#names),*).await;
                #output
            })
        }
    } else {
        quote! {
            ::fanout::tool::Invocation::blocking(move || {
                let ret = #fn_name::func(#(#names),*);
                #output
            })
        }
    };

    let mut func_sig = sig.clone();
    func_sig.ident = Ident::new("func", sig.ident.span());
    let Attributes { cfg, shared, func_only } = Attributes::split(attrs);
    Ok(quote! {
        #(#cfg)*
        #(#shared)*
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #fn_name;

        #(#cfg)*
        #[allow(deprecated)]
        impl #fn_name {
            #(#shared)*
            #(#func_only)*
            #vis #func_sig #block
        }

        #(#cfg)*
        #[allow(deprecated)] // the tool's own `#[deprecated]` is for its users, not for this impl
        const _: () = {
            #[derive(::fanout::__private::serde::Deserialize, ::fanout::__private::schemars::JsonSchema)]
            #[serde(crate = "::fanout::__private::serde")]
            #[schemars(crate = "::fanout::__private::schemars")]
            struct #args_struct {
                #(#fields),*
            }

            impl ::fanout::tool::Tool for #fn_name {
                fn definition(&self) -> ::std::sync::Arc<::fanout::tool::ToolDefinition> {
                    // Generating the schema is the costly part of building an agent: do it once,
                    // and share it with every agent.
                    static DEFINITION: ::std::sync::OnceLock<::std::sync::Arc<::fanout::tool::ToolDefinition>> =
                        ::std::sync::OnceLock::new();
                    ::std::sync::Arc::clone(DEFINITION.get_or_init(|| {
                        ::std::sync::Arc::new(::fanout::tool::ToolDefinition {
                            name: ::std::string::String::from(#tool_name),
                            description: ::std::string::String::from(#description),
                            parameters: ::fanout::tool::parameters_schema::<#args_struct>(),
                            strict: false,
                        })
                    }))
                }

                fn invoke(
                    self: ::std::sync::Arc<Self>,
                    args: ::fanout::__private::serde_json::Value,
                ) -> ::fanout::tool::Invocation {
                    match ::fanout::tool::parse_args::<#args_struct>(args) {
                        ::std::result::Result::Ok(#args_struct { #(#names),* }) => #call,
                        ::std::result::Result::Err(err) => ::fanout::tool::Invocation::error(err),
                    }
                }

                #[allow(unused_mut)]
                fn options(&self) -> ::fanout::tool::ToolOptions {
                    let mut options = ::fanout::tool::ToolOptions::default();
                    #(#settings)*
                    options
                }
            }
        };
    })
}

/// The function's attributes, by where they belong once it becomes a struct and a `func`.
struct Attributes<'a> {
    /// `#[cfg]`/`#[cfg_attr]`: on every generated item, so a configured-out tool disappears whole.
    cfg: Vec<&'a syn::Attribute>,
    /// Docs, lints and `#[deprecated]`: on the struct and the function.
    shared: Vec<&'a syn::Attribute>,
    /// The rest (`#[inline]`, `#[tracing::instrument]`, `#[must_use]` …) only fits a function.
    func_only: Vec<&'a syn::Attribute>,
}

impl<'a> Attributes<'a> {
    fn split(attrs: &'a [syn::Attribute]) -> Self {
        let mut split = Attributes { cfg: Vec::new(), shared: Vec::new(), func_only: Vec::new() };
        for attr in attrs {
            let path = attr.path();
            if path.is_ident("cfg") || path.is_ident("cfg_attr") {
                split.cfg.push(attr);
            } else if ["doc", "allow", "warn", "deny", "forbid", "expect", "deprecated"]
                .iter()
                .any(|name| path.is_ident(name))
            {
                split.shared.push(attr);
            } else {
                split.func_only.push(attr);
            }
        }
        split
    }
}

/// Code turning `ret` into a `ToolResult`: `Result`s by their `Ok`/`Err`, other values through
/// `Display` (text) or else `Serialize` (JSON), `()` into "done".
fn convert_output(output: &ReturnType) -> TokenStream {
    let ty = match output {
        ReturnType::Default => {
            return quote!({
                let () = ret;
                ::std::result::Result::Ok(::std::string::String::from("done"))
            });
        }
        ReturnType::Type(_, ty) => ty,
    };
    let text = |value: TokenStream| {
        quote_spanned! {ty.span()=> {
            #[allow(unused_imports)]
            use ::fanout::__private::{ViaDisplay as _, ViaSerialize as _};
            // The double borrow selects `Display` over `Serialize` (autoref specialisation).
            #[allow(clippy::needless_borrow)]
            let output = (&&::fanout::__private::Wrap(#value)).__fanout_output();
            output
        }}
    };
    if is_result(ty) {
        let ok = text(quote!(value));
        quote! {
            match ret {
                ::std::result::Result::Ok(value) => #ok,
                ::std::result::Result::Err(err) => ::std::result::Result::Err(::fanout::tool::ToolError::failed(err)),
            }
        }
    } else {
        text(quote!(ret))
    }
}

fn check_signature(function: &ItemFn) -> syn::Result<()> {
    let sig = &function.sig;
    if let Some(param) = sig.generics.params.first() {
        return Err(syn::Error::new_spanned(
            param,
            "a #[tool] function cannot be generic: the model's JSON needs concrete argument types",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        return Err(syn::Error::new(unsafety.span(), "a #[tool] function cannot be `unsafe`"));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(variadic.span(), "a #[tool] function cannot be variadic"));
    }
    Ok(())
}

/// Arguments are deserialized from the model's JSON, so they must be owned, named types.
fn check_type(ty: &Type) -> syn::Result<()> {
    match ty {
        Type::Reference(r) => Err(syn::Error::new_spanned(
            r,
            "#[tool] arguments must be owned: they are deserialized from the model's JSON \
             (use `String` instead of `&str`, `Vec<T>` instead of `&[T]`)",
        )),
        Type::ImplTrait(t) => Err(syn::Error::new_spanned(
            t,
            "`impl Trait` is not supported in #[tool] arguments: name a concrete type",
        )),
        Type::Paren(p) => check_type(&p.elem),
        _ => Ok(()),
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        _ => None,
    }
}

fn is_option(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "Option")
}

fn is_result(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "Result")
}
