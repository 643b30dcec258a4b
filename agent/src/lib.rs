//! tessera's agent library: what acts on the model. It loads problems (a
//! hardware spec and a workload, [`load`]), repairs placements into valid ones
//! and searches for good ones ([`partition`]), and holds the learned
//! partitioner ([`rl`]: so far its environment and what it observes). It has no command line, no plots and no terminal output: the
//! `tessera` command (crate `tessera-cli`) and the Python binding are built on
//! it.

pub mod error;
pub mod load;
pub mod partition;
pub mod problem;
pub mod rl;

pub use error::{LoadError, SearchError};
pub use problem::Problem;
