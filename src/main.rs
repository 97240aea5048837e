//! The `kubes` binary: a thin shell over the library (see `kubes::cli`).
fn main() -> std::process::ExitCode {
    // Rust ignores SIGPIPE, which turns `kubes plan | head` into a panic on the next print.
    // Restore the default: a closed stdout ends kubes quietly, as it does `ls` or `kubectl`.
    // SAFETY: called first thing, before any other thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    kubes::cli::main()
}
