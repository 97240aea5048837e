//! Waiting on several things at once: watches, log streams and a deadline, through
//! `wasi:io/poll`. This is how one hook follows a Job and all its pods' logs in one loop.
//!
//! ```no_run
//! # use kubes_hook_sdk::prelude::*;
//! # use kubes_hook_sdk::waiting::wait_any;
//! # use std::time::{Duration, Instant};
//! # fn f() -> Result<(), HookError> {
//! let watcher = client::watch(&KindRef::jobs(), None, Some("migrate"), None)?;
//! let deadline = Instant::now() + Duration::from_secs(60);
//! loop {
//!     while let client::Next::Change(c) = client::next_change::<k8s::Job>(&watcher)? {
//!         if c.object.finished().is_some() { return Ok(()); }
//!     }
//!     if !wait_any(&[&watcher.subscribe()], Some(deadline)) {
//!         return Err(HookError::msg("timed out"));
//!     }
//! }
//! # }
//! ```

use std::time::{Duration, Instant};

use crate::bindings::wasi::clocks::monotonic_clock::subscribe_duration;
use crate::bindings::wasi::io::poll::{poll, Pollable};

/// A pollable ready after `d` (the hook world's `wasi:clocks/monotonic-clock` timer).
pub fn timer(d: Duration) -> Pollable {
    let nanos = d.as_nanos().min(u64::MAX as u128) as u64;
    subscribe_duration(nanos)
}

/// Block until one of `pollables` is ready or `until` has passed. Returns false when it
/// returned because of the deadline (nothing else was ready).
pub fn wait_any(pollables: &[&Pollable], until: Option<Instant>) -> bool {
    let timer = until.map(|t| timer(t.saturating_duration_since(Instant::now())));
    let mut list: Vec<&Pollable> = pollables.to_vec();
    if let Some(t) = &timer {
        list.push(t);
    }
    if list.is_empty() {
        return false;
    }
    let ready = poll(&list);
    let timer_index = pollables.len() as u32;
    !(timer.is_some() && ready.iter().all(|&i| i == timer_index))
}

/// Sleep without spinning (the host's epoch deadline still applies).
pub fn sleep(d: Duration) {
    timer(d).block();
}
