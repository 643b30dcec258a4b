//! tessera's model of multi-chip-module accelerators: hardware specs, workload
//! graphs, the model zoo, and the cycle-approximate simulator. `sim` knows
//! nothing of learning or search, and does no file IO: callers hand it text and
//! a file name for its messages.

pub mod config;
pub mod constraints;
pub mod cost;
pub mod engine;
pub mod fabric;
pub mod graph;
pub mod oracle;
pub mod placement;
pub mod problem;
pub mod report;
pub mod spec;
pub mod spec_write;
pub mod testkit;
pub mod traffic;
pub mod units;
pub mod zoo;

pub use engine::{
    MAX_MICROBATCHES, MAX_PACKET_BYTES, SimError, SimOptions, SimOutput, Simulator, SteadyState,
    Switching, simulate,
};
pub use placement::{Placement, PlacementError};
pub use report::SimReport;
