//! `#[observe]`: the attribute behind `spanlens::observe` (use it through the `spanlens` crate,
//! which documents it).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitBool, LitStr, Pat, ReturnType, Type, parse_macro_input};

struct Opts {
    name: Option<LitStr>,
    as_: Option<LitStr>,
    capture_input: bool,
    capture_output: bool,
}

/// Wraps a function (sync or async) in a Spanlens observation span; see `spanlens::observe`
/// (the attribute) for the options and what is captured.
#[proc_macro_attribute]
pub fn observe(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut opts = Opts {
        name: None,
        as_: None,
        capture_input: true,
        capture_output: true,
    };
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            opts.name = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("as") {
            opts.as_ = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("capture_input") {
            opts.capture_input = meta.value()?.parse::<LitBool>()?.value;
        } else if meta.path.is_ident("capture_output") {
            opts.capture_output = meta.value()?.parse::<LitBool>()?.value;
        } else {
            return Err(meta.error(
                "unknown option; expected `name`, `as`, `capture_input` or `capture_output`",
            ));
        }
        Ok(())
    });
    parse_macro_input!(attr with parser);
    let func = parse_macro_input!(item as ItemFn);
    match expand(opts, func) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn observation_type(lit: Option<&LitStr>) -> syn::Result<TokenStream2> {
    let Some(lit) = lit else {
        return Ok(quote!(::spanlens::ObservationType::Span));
    };
    let variant = match lit.value().as_str() {
        "span" => "Span",
        "agent" => "Agent",
        "chain" | "workflow" => "Chain",
        "tool" => "Tool",
        "retrieval" | "retriever" => "Retrieval",
        "embedding" => "Embedding",
        "generation" | "llm" => "Generation",
        "guardrail" => "Guardrail",
        "evaluator" => "Evaluator",
        other => {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "unknown observation type {other:?}; expected span, agent, chain, workflow, tool, retrieval, embedding, generation (llm), guardrail or evaluator"
                ),
            ));
        }
    };
    let ident = format_ident!("{variant}");
    Ok(quote!(::spanlens::ObservationType::#ident))
}

/// `true` when the return type's last path segment is `Result` (std, io, anyhow, … results).
fn returns_result(ret: &ReturnType) -> bool {
    match ret {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
        ReturnType::Default => false,
    }
}

fn contains_impl_trait(ret: &ReturnType) -> bool {
    match ret {
        ReturnType::Type(_, ty) => quote!(#ty).to_string().contains("impl "),
        ReturnType::Default => false,
    }
}

fn capture(expr: TokenStream2) -> TokenStream2 {
    quote! {{
        #[allow(unused_imports)]
        use ::spanlens::__private::{CaptureDebug as _, CaptureOpaque as _, CaptureSerialize as _};
        (&&&::spanlens::__private::Capture(#expr)).__spanlens_capture()
    }}
}

fn expand(opts: Opts, func: ItemFn) -> syn::Result<TokenStream2> {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let name = match &opts.name {
        Some(lit) => lit.value(),
        None => sig.ident.to_string(),
    };
    let ty = observation_type(opts.as_.as_ref())?;

    // Inputs: every plain `ident: Type` argument (receivers and destructuring patterns skipped).
    let mut inserts = Vec::new();
    if opts.capture_input {
        for arg in &sig.inputs {
            if let FnArg::Typed(pt) = arg
                && let Pat::Ident(pi) = &*pt.pat
            {
                let ident = &pi.ident;
                let key = ident.to_string();
                let value = capture(quote!(&#ident));
                inserts.push(quote_spanned!(pt.span()=> __spanlens_map.insert(::std::string::String::from(#key), #value);));
            }
        }
    }
    let input = if inserts.is_empty() {
        quote!(::core::option::Option::None)
    } else {
        quote! {
            if ::spanlens::__private::capturing() {
                let mut __spanlens_map = ::spanlens::__private::Map::new();
                #(#inserts)*
                ::core::option::Option::Some(::spanlens::__private::Value::Object(__spanlens_map))
            } else {
                ::core::option::Option::None
            }
        }
    };

    let capture_output = opts.capture_output;
    let record_output = if returns_result(&sig.output) {
        let ok_value = capture(quote!(__spanlens_ok));
        quote! {
            match &__spanlens_out {
                ::core::result::Result::Ok(__spanlens_ok) => {
                    if #capture_output && ::spanlens::__private::capturing() {
                        ::spanlens::__private::set_output(&__spanlens_obs, &#ok_value);
                    }
                }
                ::core::result::Result::Err(__spanlens_err) => {
                    #[allow(unused_imports)]
                    use ::spanlens::__private::{ErrorDebug as _, ErrorDisplay as _, ErrorOpaque as _};
                    let __spanlens_msg = (&&&::spanlens::__private::Capture(__spanlens_err)).__spanlens_error_message();
                    ::spanlens::__private::record_error(&__spanlens_obs, __spanlens_err, __spanlens_msg);
                }
            }
        }
    } else {
        let value = capture(quote!(&__spanlens_out));
        quote! {
            if #capture_output && ::spanlens::__private::capturing() {
                ::spanlens::__private::set_output(&__spanlens_obs, &#value);
            }
        }
    };

    // Pins the inner block's return type (so `?` and `return` infer as in the original fn).
    let ret_ty = match &sig.output {
        ReturnType::Type(_, ty) => quote!(#ty),
        ReturnType::Default => quote!(()),
    };
    let pin_return = if contains_impl_trait(&sig.output) {
        quote!()
    } else {
        quote! {
            #[allow(unreachable_code, clippy::diverging_sub_expression)]
            if false {
                let __spanlens_never: #ret_ty = loop {};
                return __spanlens_never;
            }
        }
    };
    let stmts = &block.stmts;

    let body = if sig.asyncness.is_some() {
        quote! {
            let __spanlens_input = #input;
            let __spanlens_obs = ::spanlens::__private::start(#name, #ty, __spanlens_input);
            let __spanlens_out = ::spanlens::FutureExt::with_context(
                async move {
                    #pin_return
                    #(#stmts)*
                },
                __spanlens_obs.context(),
            )
            .await;
            #record_output
            __spanlens_obs.end();
            __spanlens_out
        }
    } else {
        let closure_ret = if contains_impl_trait(&sig.output) {
            quote!()
        } else {
            quote!(-> #ret_ty)
        };
        quote! {
            let __spanlens_input = #input;
            let __spanlens_obs = ::spanlens::__private::start(#name, #ty, __spanlens_input);
            let __spanlens_out = {
                let __spanlens_guard = __spanlens_obs.attach();
                #[allow(clippy::redundant_closure_call)]
                (move || #closure_ret { #(#stmts)* })()
            };
            #record_output
            __spanlens_obs.end();
            __spanlens_out
        }
    };

    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    })
}
