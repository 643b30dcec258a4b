//! The `tessera` command: thin glue that hands the arguments to [`tessera_cli::cli`].

fn main() {
    std::process::exit(tessera_cli::cli::main());
}
