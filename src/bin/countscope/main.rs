//! `countscope`: the command-line shell (native and wasm32-wasip2) over the countscope core.
//!
//! This is the only part of the crate that reads argv and files. Exit codes: 0 ok, 1 a gate was not met
//! (`report` only), 2 bad input, bad model or bad usage.

//! The browser (`wasm32-unknown-unknown`) has no command line: there the page is the shell (`src/web/`),
//! and this binary is an empty `main` so that `cargo test --target wasm32-unknown-unknown` can build.

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
mod bench;
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
mod cli;
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
mod files;
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
mod output;

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn main() {}
