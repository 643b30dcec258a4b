//! The `tessera` command: thin glue that hands the arguments to [`agent::cli`].

fn main() {
    std::process::exit(agent::cli::main());
}
