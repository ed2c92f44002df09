//! The `hlprov` binary: everything lives in the library; see src/cli/.

fn main() {
    std::process::exit(hlprov::cli::main());
}
