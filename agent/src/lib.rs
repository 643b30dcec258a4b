//! tessera's search, learning and scenario running, and the logic of the
//! `tessera` command. The binary (`main.rs`) only calls [`cli::main`].

pub mod cli;
pub mod files;
pub mod inspect;
pub mod onnx;
pub mod partition;
pub mod plots;
pub mod run;
pub mod scenario;
pub mod simulate;
pub mod table;
pub mod traffic;
