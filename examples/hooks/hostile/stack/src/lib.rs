//! Hostile: recurses without end. The wasm stack overflow must trap, not crash the host.
wit_bindgen::generate!({ path: "../../../../wit", world: "hook", generate_all });

struct Hook;

export!(Hook);

#[allow(unconditional_recursion)] // the point of this hook
fn recurse(n: u64) -> u64 {
    // black_box on both sides keeps the recursion from being turned into a loop.
    std::hint::black_box(recurse(std::hint::black_box(n + 1))) + 1
}

impl Guest for Hook {
    fn run(_ctx: Context) -> Result<(), String> {
        println!("recursing");
        let depth = recurse(0);
        println!("LEAKED stack: returned from depth {depth}");
        Ok(())
    }
}
