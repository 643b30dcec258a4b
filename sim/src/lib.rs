//! tessera's model of multi-chip-module accelerators: hardware specs, workload
//! graphs and the model zoo. `sim` knows nothing of learning or search, and does no
//! file IO: callers hand it text and a file name for its messages.

pub mod config;
pub mod graph;
pub mod spec;
pub mod zoo;
