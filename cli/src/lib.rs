//! The `tessera` command: argument parsing, the scenario format and runner,
//! the inspection commands, outputs (reports, tables, plots) and their files.
//! It only parses, dispatches and prints: loading, repair and search live in
//! the `agent` library, the hardware model and simulator in `sim`. The binary
//! (`main.rs`) only calls [`cli::main`].

pub mod cli;
pub mod error;
pub mod files;
pub mod inspect;
pub mod load;
pub mod plots;
pub mod report_csv;
pub mod run;
pub mod scenario;
pub mod simulate;
pub mod table;
pub mod traffic;

pub use error::{ErrorKind, UserError};
