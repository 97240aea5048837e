//! Write kubes hooks in plain Rust.
//!
//! A hook is a WebAssembly component for the `kubes:hook` world (`wit/hook.wit` in the kubes
//! repository, the one source of truth; this crate generates its bindings from there). The
//! host calls the hook's `run` once per lifecycle point; the hook may use the cluster as far
//! as its grants in `.kubes/config/hooks.yaml` allow, and everything it prints appears in the
//! deploy log prefixed with the hook's name.
//!
//! ```no_run
//! use kubes_hook_sdk::prelude::*;
//!
//! #[derive(serde::Deserialize, Default)]
//! #[serde(default)]
//! struct Config {
//!     job: Option<String>,
//! }
//!
//! struct Cleanup;
//!
//! impl Hook for Cleanup {
//!     fn run(ctx: Context) -> Result<(), HookError> {
//!         let config: Config = ctx.config()?;
//!         let job = match config.job {
//!             Some(name) => ObjectRef::job(&name),
//!             None => ctx.target_object("Job")?,
//!         };
//!         if delete_if_exists_and_wait(&job, std::time::Duration::from_secs(30))? {
//!             info!("deleted {job}");
//!         }
//!         Ok(())
//!     }
//! }
//!
//! kubes_hook_sdk::export_hook!(Cleanup);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2`; the component is the crate's `.wasm`
//! under `target/wasm32-wasip2/debug/` (the crate must be `crate-type = ["cdylib"]`).

// The export macro's generated code names the runtime as `kubes_hook_sdk::...`, which must
// also resolve inside this crate.
extern crate self as kubes_hook_sdk;

/// Bindings generated from the repository's `wit/` directory: the raw interfaces
/// (`bindings::kubes::hook::{types, cluster, progress, log}`, `bindings::wasi::io::poll`,
/// `bindings::wasi::clocks::monotonic_clock`). The rest of
/// this crate wraps them; use them directly for anything the wrappers do not cover.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "hook",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_hook_world",
        default_bindings_module: "kubes_hook_sdk::bindings",
        runtime_path: "kubes_hook_sdk::__wit_bindgen_rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen::rt as __wit_bindgen_rt;

pub mod client;
pub mod context;
pub mod delete;
pub mod duration;
pub mod errors;
pub mod job;
pub mod k8s;
pub mod logging;
pub mod object;
pub mod progress;
pub mod rollout;
pub mod waiting;

pub use bindings::kubes::hook::types::{ClusterError, Context, KindRef, ObjectRef, Step, When};
pub use errors::{HookError, ResultExt};

/// What a hook implements: `run` is called once per lifecycle point. Return an error to fail
/// the hook (the deploy stops unless the hook has `exit_on_fail: false`); its text is what
/// the deploy log shows.
pub trait Hook {
    fn run(ctx: Context) -> Result<(), HookError>;
}

#[doc(hidden)]
pub fn __run<H: Hook>(ctx: Context) -> Result<(), String> {
    H::run(ctx).map_err(|e| e.to_string())
}

/// Export a type implementing [`Hook`] as the component's `run`. Use once per crate, at the
/// top level:
///
/// ```no_run
/// # use kubes_hook_sdk::prelude::*;
/// struct Noop;
/// impl Hook for Noop {
///     fn run(_ctx: Context) -> Result<(), HookError> { Ok(()) }
/// }
/// kubes_hook_sdk::export_hook!(Noop);
/// ```
#[macro_export]
macro_rules! export_hook {
    ($hook:ty) => {
        const _: () = {
            struct __KubesHookExport;
            impl $crate::bindings::Guest for __KubesHookExport {
                fn run(ctx: $crate::Context) -> ::core::result::Result<(), $crate::__String> {
                    $crate::__run::<$hook>(ctx)
                }
            }
            $crate::bindings::__export_hook_world!(__KubesHookExport with_types_in $crate::bindings);
        };
    };
}

#[doc(hidden)]
pub type __String = String;

/// Everything a hook usually needs: `use kubes_hook_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::client::{self, LogOptions};
    pub use crate::delete::delete_if_exists_and_wait;
    pub use crate::duration::{format_duration, parse_duration};
    pub use crate::job::{
        wait_for_job, JobFailure, JobOutcome, JobWaitConfig, JobWaitOptions, LastLines,
    };
    pub use crate::k8s;
    pub use crate::rollout::{rollout_wait, RolloutOutcome};
    pub use crate::{debug, error, info, warn};
    pub use crate::{ClusterError, Context, Hook, HookError, KindRef, ObjectRef, ResultExt};
}
