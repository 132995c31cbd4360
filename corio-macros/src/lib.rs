//! corio's macros, re-exported by `corio` with its `macros` feature: use them as
//! `#[corio::main]`, `#[corio::test]`, `corio::select!`, `corio::join!`, `corio::try_join!`.
//!
//! The expansions name only `::corio::__macro_support` and `::core`, so they need nothing
//! else in scope. See each macro's documentation in `corio`.

mod attr;
mod join;
mod select;

use proc_macro::TokenStream;

/// Runs `async fn main` on a corio runtime; see `corio::main`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    attr::main(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Runs an `async fn` test on corio, under both drivers unless one is named; see `corio::test`.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    attr::test(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Waits on several futures, runs the branch of the first to complete; see `corio::select`.
#[proc_macro]
pub fn select(input: TokenStream) -> TokenStream {
    select::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Runs futures concurrently to completion; see `corio::join`.
#[proc_macro]
pub fn join(input: TokenStream) -> TokenStream {
    join::expand(input.into(), false)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Runs fallible futures concurrently, stopping at the first error; see `corio::try_join`.
#[proc_macro]
pub fn try_join(input: TokenStream) -> TokenStream {
    join::expand(input.into(), true)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
