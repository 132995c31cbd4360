//! `join!(a, b, ..)` and `try_join!(a, b, ..)`: poll every future in one task until all are
//! done (or, for `try_join!`, until the first `Err`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, Token};

pub(crate) fn expand(input: TokenStream, fallible: bool) -> syn::Result<TokenStream> {
    let futs: Vec<Expr> = Punctuated::<Expr, Token![,]>::parse_terminated
        .parse2(input)?
        .into_iter()
        .collect();
    let f: Vec<_> = (0..futs.len())
        .map(|i| format_ident!("__corio_f{i}"))
        .collect();
    let o: Vec<_> = (0..futs.len())
        .map(|i| format_ident!("__corio_o{i}"))
        .collect();
    let step = if fallible {
        quote! {
            #(
                if #o.is_none() {
                    match ::core::future::Future::poll(#f.as_mut(), __cx) {
                        ::core::task::Poll::Ready(::core::result::Result::Ok(v)) => #o = ::core::option::Option::Some(v),
                        ::core::task::Poll::Ready(::core::result::Result::Err(e)) => {
                            return ::core::task::Poll::Ready(::core::result::Result::Err(e));
                        }
                        ::core::task::Poll::Pending => __done = false,
                    }
                }
            )*
            if __done {
                ::core::task::Poll::Ready(::core::result::Result::Ok(()))
            } else {
                ::core::task::Poll::Pending
            }
        }
    } else {
        quote! {
            #(
                if #o.is_none() {
                    match ::core::future::Future::poll(#f.as_mut(), __cx) {
                        ::core::task::Poll::Ready(v) => #o = ::core::option::Option::Some(v),
                        ::core::task::Poll::Pending => __done = false,
                    }
                }
            )*
            if __done {
                ::core::task::Poll::Ready(())
            } else {
                ::core::task::Poll::Pending
            }
        }
    };
    let take = quote! {
        (#(::corio::__macro_support::done(#o),)*)
    };
    let finish = if fallible {
        quote! {
            match __res {
                ::core::result::Result::Ok(()) => ::core::result::Result::Ok(#take),
                ::core::result::Result::Err(e) => ::core::result::Result::Err(e),
            }
        }
    } else {
        quote! {{ let () = __res; #take }}
    };
    Ok(quote! {{
        #(
            let mut #f = ::core::pin::pin!(::core::future::IntoFuture::into_future(#futs));
            let mut #o = ::core::option::Option::None;
        )*
        let __res = ::core::future::poll_fn(|__cx| {
            #[allow(unused_mut)]
            let mut __done = true;
            #step
        })
        .await;
        #finish
    }})
}
