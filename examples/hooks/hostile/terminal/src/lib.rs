//! Hostile: tries to forge the deploy log through terminal control sequences: erase the
//! line and print a fake `[kubes] deploy complete`, write the clipboard (OSC 52), colour
//! text with a C1 CSI, overwrite with backspaces, ring the bell, send DEL; a tab line is
//! the harmless control. The forged line also goes to stderr and through `log::info` and
//! `log::warn`, and the hook fails with a message full of escapes. No config.
wit_bindgen::generate!({ path: "../../../../wit", world: "hook", generate_all });

struct Hook;

export!(Hook);

use kubes::hook::log;

const FORGED: &str = "\x1b[2K\r[kubes] deploy complete";

impl Guest for Hook {
    fn run(_ctx: Context) -> Result<(), String> {
        println!("{FORGED}");
        println!("\x1b]52;c;ZWNobyBwd25lZA==\x07");
        println!("\u{9b}31mred");
        println!("status: failed\x08\x08\x08\x08\x08\x08ok    ");
        println!("bell\x07");
        println!("del\x7f");
        println!("a\tb");
        eprintln!("{FORGED}");
        log::info(FORGED);
        log::warn(FORGED);
        Err("\x1b[31mforged error\x1b[0m\r[other-hook] ok".to_string())
    }
}
