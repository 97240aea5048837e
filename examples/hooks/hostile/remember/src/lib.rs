//! Hostile: tries to read what an earlier run left behind. The host reuses a pooled
//! instance slot for the next run of the same hook, so each run searches all of its linear
//! memory (data, heap, shadow stack, grown pages) for the marker an earlier run planted,
//! then plants it everywhere it can: a static, the heap, and 40 MiB of freshly grown pages.
//!
//! It prints `LEAKED ...` when it finds an earlier run's marker. To show that its search
//! works, it plants one marker in its own heap before searching and must find exactly that
//! one (`self-check: found own marker`).
wit_bindgen::generate!({ path: "../../../../wit", world: "hook", generate_all });

struct Hook;

export!(Hook);

/// The marker, stored inverted so the module's own data does not contain it.
const INVERTED: [u8; 24] = invert(*b"KUBES-REMEMBER-ME-MARKER");

const fn invert(b: [u8; 24]) -> [u8; 24] {
    let mut out = [0u8; 24];
    let mut i = 0;
    while i < 24 {
        out[i] = !b[i];
        i += 1;
    }
    out
}

/// Write the marker into `dst`, byte by byte from its inverted form (no whole copy of it
/// is left on the stack for the search to find).
fn plant(dst: &mut [u8]) {
    for (i, b) in INVERTED.iter().enumerate() {
        dst[i] = !*b;
    }
}

static mut PLANTED: [u8; 4096] = [0; 4096];

/// Addresses in linear memory where the marker is found.
fn search() -> Vec<usize> {
    let size = core::arch::wasm32::memory_size(0) * 65536;
    let mut found = Vec::new();
    // From 16: reading address 0 would be a null-pointer read in Rust's eyes.
    let mut addr = 16usize;
    while addr + INVERTED.len() <= size {
        // SAFETY: every address below `memory_size` is readable linear memory.
        let first = unsafe { core::ptr::read_volatile(addr as *const u8) };
        if first == !INVERTED[0] {
            let hit = (0..INVERTED.len()).all(|i| {
                // SAFETY: as above.
                unsafe { core::ptr::read_volatile((addr + i) as *const u8) == !INVERTED[i] }
            });
            if hit {
                found.push(addr);
            }
        }
        addr += 1;
    }
    found
}

impl Guest for Hook {
    fn run(_ctx: Context) -> Result<(), String> {
        // The self-check's marker lives on the heap and is wiped before planting.
        let mut own = vec![0u8; 64];
        plant(&mut own);
        let found = search();
        let own_at = own.as_ptr() as usize;
        let others: Vec<usize> = found.iter().copied().filter(|&a| a != own_at).collect();
        if found.contains(&own_at) {
            println!("self-check: found own marker");
        }
        let pages = core::arch::wasm32::memory_size(0);
        if others.is_empty() {
            println!("searched {} pages: nothing of an earlier run", pages);
        } else {
            println!(
                "LEAKED an earlier run's marker at {} addresses (first {:#x}) in {} pages",
                others.len(),
                others[0],
                pages
            );
        }
        own.fill(0);
        drop(own);

        // Plant: a static, the heap, and freshly grown memory (beyond what the host keeps
        // resident), all left in place when the run ends.
        // SAFETY: one run at a time in this instance; no reference to PLANTED escapes.
        unsafe {
            let p = &raw mut PLANTED;
            plant(&mut *p);
        }
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        for _ in 0..10 {
            let mut block = vec![0u8; 4 << 20];
            for chunk in block.chunks_mut(4096) {
                plant(chunk);
            }
            hoard.push(block);
        }
        std::mem::forget(hoard);
        println!("planted the marker");
        Ok(())
    }
}
