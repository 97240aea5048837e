//! Not a hook: a plain WASI command (exports wasi:cli/run, not `run`). The host must refuse
//! it and name what is missing.
fn main() {
    println!("I am a command, not a hook");
}
