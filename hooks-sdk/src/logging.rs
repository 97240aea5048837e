//! Messages for the deploy log, printed with the hook's name and the level
//! (`[migrate-wait] warn: ...`). Plain `println!` works too: stdout lines appear as
//! `[migrate-wait] ...`.
//!
//! ```no_run
//! use kubes_hook_sdk::prelude::*;
//! info!("waiting for {} pods", 3);
//! warn!("pod {} restarted", "migrate-x1");
//! ```

use crate::bindings::kubes::hook::log as wit_log;

pub fn debug(message: &str) {
    wit_log::debug(message)
}

pub fn info(message: &str) {
    wit_log::info(message)
}

pub fn warn(message: &str) {
    wit_log::warn(message)
}

pub fn error(message: &str) {
    wit_log::error(message)
}

/// `debug!("...", args)`: a debug message (shown with `kubes deploy --verbose`).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::logging::debug(&::std::format!($($arg)*)) };
}

/// `info!("...", args)`: an informational message.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::logging::info(&::std::format!($($arg)*)) };
}

/// `warn!("...", args)`: a warning.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::logging::warn(&::std::format!($($arg)*)) };
}

/// `error!("...", args)`: an error message (it does not fail the hook; return an error for that).
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::logging::error(&::std::format!($($arg)*)) };
}
