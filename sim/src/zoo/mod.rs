//! The model zoo: workload graphs generated from architecture parameters.

pub mod builder;

pub use builder::{GraphBuilder, Tensor};
