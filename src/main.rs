//! The `kubes` binary: a thin shell over the library (see `kubes::cli`).
fn main() -> std::process::ExitCode {
    kubes::cli::main()
}
