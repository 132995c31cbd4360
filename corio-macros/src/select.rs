//! `select!`: poll every branch's future in one task; the first to complete with a value
//! that matches its pattern wins, its handler runs, and the other futures are dropped.
//!
//! ```text
//! select! {
//!     biased;                              // optional: poll in written order, not randomly
//!     pattern = future, if condition => handler,   // `, if condition` optional
//!     ...
//!     else => handler,                     // optional: every branch disabled
//! }
//! ```
//!
//! A branch is disabled when its condition is false (its future is still created, never
//! polled) or when its output does not match its pattern; with every branch disabled the
//! `else` handler runs (without one: a panic, as tokio's).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{token, Expr, Pat, Token};

struct Branch {
    pat: Pat,
    fut: Expr,
    cond: Option<Expr>,
    handler: Expr,
}

struct Select {
    biased: bool,
    branches: Vec<Branch>,
    otherwise: Option<Expr>,
}

/// A handler: a block (its comma optional) or an expression (a comma unless last).
fn parse_handler(input: ParseStream) -> syn::Result<Expr> {
    let handler = if input.peek(token::Brace) {
        Expr::Block(input.parse()?)
    } else {
        input.parse()?
    };
    if input.peek(Token![,]) {
        input.parse::<Token![,]>()?;
    } else if !input.is_empty() && !matches!(handler, Expr::Block(_)) {
        return Err(input.error("expected `,` after a select! branch"));
    }
    Ok(handler)
}

impl Parse for Select {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut biased = false;
        if input.peek(syn::Ident)
            && input.fork().parse::<syn::Ident>()? == "biased"
            && input.peek2(Token![;])
        {
            input.parse::<syn::Ident>()?;
            input.parse::<Token![;]>()?;
            biased = true;
        }
        let mut branches = Vec::new();
        let mut otherwise = None;
        while !input.is_empty() {
            if input.peek(Token![else]) {
                input.parse::<Token![else]>()?;
                input.parse::<Token![=>]>()?;
                otherwise = Some(parse_handler(input)?);
                if !input.is_empty() {
                    return Err(input.error("the else branch comes last"));
                }
                break;
            }
            let pat = Pat::parse_single(input)?;
            input.parse::<Token![=]>()?;
            let fut = Expr::parse_without_eager_brace(input)?;
            let cond = if input.peek(Token![,]) && input.peek2(Token![if]) {
                input.parse::<Token![,]>()?;
                input.parse::<Token![if]>()?;
                Some(Expr::parse_without_eager_brace(input)?)
            } else {
                None
            };
            input.parse::<Token![=>]>()?;
            let handler = parse_handler(input)?;
            branches.push(Branch {
                pat,
                fut,
                cond,
                handler,
            });
        }
        if branches.is_empty() {
            return Err(input.error("select! needs at least one branch"));
        }
        if branches.len() > 64 {
            return Err(input.error("select! takes at most 64 branches"));
        }
        Ok(Select {
            biased,
            branches,
            otherwise,
        })
    }
}

/// The pattern with `ref` and `mut` removed from its bindings, to test a borrowed output
/// against it without moving out of it.
fn borrowing(pat: &Pat) -> Pat {
    let mut p = pat.clone();
    strip(&mut p);
    p
}

fn strip(p: &mut Pat) {
    match p {
        Pat::Ident(i) => {
            i.by_ref = None;
            i.mutability = None;
            if let Some((_, sub)) = &mut i.subpat {
                strip(sub);
            }
        }
        Pat::Or(o) => o.cases.iter_mut().for_each(strip),
        Pat::Paren(x) => strip(&mut x.pat),
        Pat::Reference(r) => strip(&mut r.pat),
        Pat::Slice(s) => s.elems.iter_mut().for_each(strip),
        Pat::Struct(s) => s.fields.iter_mut().for_each(|f| strip(&mut f.pat)),
        Pat::Tuple(t) => t.elems.iter_mut().for_each(strip),
        Pat::TupleStruct(t) => t.elems.iter_mut().for_each(strip),
        Pat::Type(t) => strip(&mut t.pat),
        _ => {}
    }
}

pub(crate) fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let s: Select = syn::parse2(input)?;
    let n = s.branches.len();
    let f: Vec<_> = (0..n).map(|i| format_ident!("__corio_f{i}")).collect();
    let v: Vec<_> = (0..n).map(|i| format_ident!("_{i}")).collect();
    let t: Vec<_> = (0..n).map(|i| format_ident!("T{i}")).collect();
    let idx: Vec<_> = (0..n).collect();
    let futs: Vec<_> = s.branches.iter().map(|b| &b.fut).collect();
    let pats: Vec<_> = s.branches.iter().map(|b| &b.pat).collect();
    let tests: Vec<_> = s.branches.iter().map(|b| borrowing(&b.pat)).collect();
    let handlers: Vec<_> = s.branches.iter().map(|b| &b.handler).collect();
    let conds: Vec<_> = s
        .branches
        .iter()
        .map(|b| match &b.cond {
            Some(c) => quote!(!(#c)),
            None => quote!(false),
        })
        .collect();
    let start = if s.biased {
        quote!(0usize)
    } else {
        quote!(::corio::__macro_support::random(#n))
    };
    let otherwise = match &s.otherwise {
        Some(e) => quote!(#e),
        None => quote!(::core::panic!(
            "all branches are disabled and there is no else branch"
        )),
    };
    Ok(quote! {{
        enum __CorioOut<#(#t,)*> {
            #(#v(#t),)*
            Disabled,
        }
        let mut __disabled: [bool; #n] = [#(#conds,)*];
        #(
            let mut #f = ::core::pin::pin!(::core::future::IntoFuture::into_future(#futs));
        )*
        let __start: usize = #start;
        let __out = ::core::future::poll_fn(|__cx| {
            for __i in 0..#n {
                let __b = ::corio::__macro_support::branch(__start, __i, #n);
                if __disabled[__b] {
                    continue;
                }
                match __b {
                    #(
                        #idx => {
                            if let ::core::task::Poll::Ready(__v) =
                                ::core::future::Future::poll(#f.as_mut(), __cx)
                            {
                                #[allow(unreachable_patterns, unused_variables)]
                                let __matches = match &__v {
                                    #tests => true,
                                    _ => false,
                                };
                                if __matches {
                                    return ::core::task::Poll::Ready(__CorioOut::#v(__v));
                                }
                                __disabled[#idx] = true;
                            }
                        }
                    )*
                    _ => ::core::unreachable!(),
                }
            }
            if __disabled.iter().all(|d| *d) {
                ::core::task::Poll::Ready(__CorioOut::Disabled)
            } else {
                ::core::task::Poll::Pending
            }
        })
        .await;
        #[allow(unreachable_patterns)]
        match __out {
            #(__CorioOut::#v(#pats) => #handlers,)*
            __CorioOut::Disabled => #otherwise,
            _ => ::core::unreachable!(),
        }
    }})
}
