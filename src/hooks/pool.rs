//! The instance pool: hook runs take their wasm memories, tables, instance records and
//! stacks from slots mapped once per engine (wasmtime's pooling allocator), instead of
//! mapping and unmapping them on every run. A run's memory is reset to the component's
//! original image when the run ends, so the next run in that slot sees nothing of it
//! (`tests/it/hooks_isolation.rs` checks this with a hook that looks for its own marker).
//!
//! The pool holds [`SLOTS`] hook runs at once; more wait for a slot ([`Slots`]), which a
//! deploy never does (the hooks of a point run one after another). What one component may
//! hold is bounded ([`MAX_CORE_INSTANCES`], [`MAX_MEMORIES`], [`MAX_TABLES`],
//! [`TABLE_ELEMENTS`]): a component beyond them is refused when it is loaded, naming the
//! limit, not when it runs. The Python and JavaScript toolchains' components fit with room.
//!
//! When the pool cannot be mapped (a `ulimit -v` too small for its address space), the
//! engine falls back to mapping each run's memory on demand: slower, the same sandbox.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{Enabled, PoolingAllocationConfig};

/// Hook runs holding an instance at once.
pub const SLOTS: u32 = 8;
/// Core wasm instances in one component (componentize-py's: about a dozen).
pub const MAX_CORE_INSTANCES: u32 = 64;
/// Linear memories in one component.
pub const MAX_MEMORIES: u32 = 4;
/// Tables in one component.
pub const MAX_TABLES: u32 = 16;
/// Elements of the largest table (CPython's function table is the largest we know).
pub const TABLE_ELEMENTS: usize = 100_000;
/// Bytes of one core instance's record (its `vmctx`), which grows with the functions and
/// globals of the module.
const CORE_INSTANCE_SIZE: usize = 4 << 20;
/// Bytes of a memory reset in place (only the pages the run wrote, found with the
/// `PAGEMAP_SCAN` ioctl) rather than dropped and faulted in again by the next run.
const KEEP_RESIDENT: usize = 64 << 20;

/// The pooling configuration for a hook engine.
pub fn config() -> PoolingAllocationConfig {
    let mut p = PoolingAllocationConfig::new();
    p.total_component_instances(SLOTS)
        .total_stacks(SLOTS)
        .max_core_instances_per_component(MAX_CORE_INSTANCES)
        .total_core_instances(SLOTS * MAX_CORE_INSTANCES)
        .max_memories_per_component(MAX_MEMORIES)
        .total_memories(SLOTS * MAX_MEMORIES)
        .max_tables_per_component(MAX_TABLES)
        .total_tables(SLOTS * MAX_TABLES)
        .table_elements(TABLE_ELEMENTS)
        .max_core_instance_size(CORE_INSTANCE_SIZE)
        // A slot's mappings stay with the component that last used it: the next run of
        // the same hook finds its image already mapped.
        .max_unused_warm_slots(SLOTS);
    // Without the scan, keeping memory resident means `memset`ting all of it on every run
    // (64 MiB), far slower than letting the kernel drop it: keep nothing resident then.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        p.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(TABLE_ELEMENTS * 8);
    }
    p
}

/// The runs that may hold a pool slot at once: a run takes a [`Slot`] before it
/// instantiates and gives it back when its store is gone.
#[derive(Clone)]
pub struct Slots(Arc<Semaphore>);

/// A pool slot held by one run.
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

impl Slots {
    pub fn new() -> Self {
        Slots(Arc::new(Semaphore::new(SLOTS as usize)))
    }

    /// Wait for a free slot.
    pub async fn take(&self) -> Slot {
        // The semaphore is never closed.
        Slot(
            self.0
                .clone()
                .acquire_owned()
                .await
                .expect("slots are never closed"),
        )
    }
}

impl Default for Slots {
    fn default() -> Self {
        Self::new()
    }
}
