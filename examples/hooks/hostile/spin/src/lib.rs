//! Hostile: never returns. The host must stop it at its timeout.
wit_bindgen::generate!({ path: "../../../../wit", world: "hook", generate_all });

struct Hook;

export!(Hook);

impl Guest for Hook {
    fn run(_ctx: Context) -> Result<(), String> {
        println!("spinning forever");
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}
