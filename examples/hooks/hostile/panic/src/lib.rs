//! Hostile: panics. The trap must be reported with the panic message, the host unharmed.
wit_bindgen::generate!({ path: "../../../../wit", world: "hook", generate_all });

struct Hook;

export!(Hook);

impl Guest for Hook {
    fn run(_ctx: Context) -> Result<(), String> {
        println!("about to panic");
        panic!("hostile hook panicked on purpose");
    }
}
