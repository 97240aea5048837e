//! Hostile: tries to read the host's /etc/passwd (and the working directory). The sandbox
//! preopens no directory, so both must fail.
wit_bindgen::generate!({ path: "../../../../wit", world: "hook", generate_all });

struct Hook;

export!(Hook);

impl Guest for Hook {
    fn run(_ctx: Context) -> Result<(), String> {
        match std::fs::read_to_string("/etc/passwd") {
            Ok(text) => {
                // The escape: print what leaked so a test can see it.
                println!("LEAKED /etc/passwd: {}", text.lines().next().unwrap_or(""));
                Ok(())
            }
            Err(e) => {
                let cwd = std::fs::read_dir(".").map(|d| d.count());
                Err(format!(
                    "could not read /etc/passwd: {e}; read_dir(.): {cwd:?}"
                ))
            }
        }
    }
}
