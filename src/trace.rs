//! Diagnostics. With the `tracing` feature the library's few notable moments are `tracing`
//! events (target `corio`): the driver fallback and its reason, a ring's set-up, a forced
//! shutdown, and work dropped or leaked at shutdown. Without it the library prints nothing by
//! itself; the fallback's reason stays in `Runtime::driver_info()` for the program to report.

/// `event!(warn, "format", args..)`: a `tracing` event at that level with the feature on;
/// nothing (the arguments type-checked, not evaluated) without it.
macro_rules! event {
    ($level:ident, $($arg:tt)+) => {{
        #[cfg(feature = "tracing")]
        {
            tracing::$level!(target: "corio", $($arg)+);
        }
        #[cfg(not(feature = "tracing"))]
        {
            if false {
                let _ = format_args!($($arg)+);
            }
        }
    }};
}
pub(crate) use event;
