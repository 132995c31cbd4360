//! `#[corio::main]` and `#[corio::test]`: `driver = "uring" | "epoll" | "auto"`, `workers = N`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ItemFn, Lit, MetaNameValue, Token};

/// The attribute's arguments.
struct Args {
    /// `None`: main takes `auto`; a test runs under both drivers.
    driver: Option<String>,
    workers: usize,
}

fn parse_args(args: TokenStream) -> syn::Result<Args> {
    let mut out = Args {
        driver: None,
        workers: 1,
    };
    let list = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args)?;
    for nv in list {
        let name = nv
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        let Expr::Lit(ExprLit { lit, .. }) = &nv.value else {
            return Err(syn::Error::new_spanned(&nv.value, "expected a literal"));
        };
        match (name.as_str(), lit) {
            ("driver", Lit::Str(s)) => match s.value().as_str() {
                "uring" | "epoll" | "auto" => out.driver = Some(s.value()),
                _ => {
                    return Err(syn::Error::new_spanned(
                        s,
                        "driver must be \"uring\", \"epoll\" or \"auto\"",
                    ))
                }
            },
            ("workers", Lit::Int(n)) => {
                out.workers = n.base10_parse()?;
                if out.workers == 0 {
                    return Err(syn::Error::new_spanned(n, "workers must be at least 1"));
                }
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    &nv,
                    "expected `driver = \"uring\" | \"epoll\" | \"auto\"` or `workers = N`",
                ))
            }
        }
    }
    Ok(out)
}

fn parse_async_fn(item: TokenStream, what: &str) -> syn::Result<ItemFn> {
    let f: ItemFn = syn::parse2(item)?;
    if f.sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            f.sig.fn_token,
            format!("#[corio::{what}] needs an `async fn`"),
        ));
    }
    if !f.sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(
            &f.sig.inputs,
            format!("#[corio::{what}] functions take no arguments"),
        ));
    }
    Ok(f)
}

fn driver_tokens(driver: &Option<String>) -> TokenStream {
    match driver {
        Some(d) => quote!(::core::option::Option::Some(#d)),
        None => quote!(::core::option::Option::None),
    }
}

pub(crate) fn main(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = parse_args(args)?;
    let f = parse_async_fn(item, "main")?;
    let body = &f.block;
    let driver = driver_tokens(&args.driver);
    let workers = args.workers;
    let attrs = &f.attrs;
    let vis = &f.vis;
    let name = &f.sig.ident;
    let ret = &f.sig.output;
    let run = if workers == 1 {
        quote!(::corio::__macro_support::block_on(#driver, __corio_main()))
    } else {
        quote!(::corio::__macro_support::run_on_workers(#driver, #workers, __corio_main))
    };
    Ok(quote! {
        #(#attrs)*
        #vis fn #name() #ret {
            async fn __corio_main() #ret #body
            #run
        }
    })
}

pub(crate) fn test(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = parse_args(args)?;
    let f = parse_async_fn(item, "test")?;
    let body = &f.block;
    let driver = driver_tokens(&args.driver);
    let workers = args.workers;
    let attrs = &f.attrs;
    let vis = &f.vis;
    let name = &f.sig.ident;
    let ret = &f.sig.output;
    Ok(quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis fn #name() {
            async fn __corio_test() #ret #body
            ::corio::__macro_support::test(::core::stringify!(#name), #driver, #workers, __corio_test)
        }
    })
}
