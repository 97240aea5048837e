//! Hostile: allocates (and touches) memory in 16 MiB steps up to 4 GiB. The host's memory
//! cap must stop it.
wit_bindgen::generate!({ path: "../../../../wit", world: "hook", generate_all });

struct Hook;

export!(Hook);

impl Guest for Hook {
    fn run(_ctx: Context) -> Result<(), String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        for i in 1..=256u32 {
            hoard.push(vec![0xA5; 16 << 20]);
            if i % 4 == 0 {
                println!("holding {} MiB", i * 16);
            }
        }
        println!("LEAKED memory: held {} MiB", hoard.len() * 16);
        Ok(())
    }
}
