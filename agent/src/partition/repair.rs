//! Exact repair of a proposed placement into the valid placement closest to it.
//!
//! Closeness is either the number of ops whose chiplet changes
//! ([`Objective::FewestChanges`]) or a total per-op-per-chiplet cost
//! ([`Objective::Cost`], e.g. −log of a policy's probabilities).

use sim::Placement;
use sim::constraints::ConstraintSet;
use sim::graph::Graph;
use sim::spec::{ChipletId, HwSpec};

/// What "closest" means.
#[derive(Clone, Copy, Debug)]
pub enum Objective<'a> {
    /// Minimise the number of ops placed on a chiplet other than proposed.
    FewestChanges(&'a [ChipletId]),
    /// Minimise Σ_v cost[v][chiplet(v)]; `cost[v]` is indexed by chiplet id.
    Cost(&'a [Vec<f64>]),
}

/// A repaired placement.
#[derive(Clone, Debug, PartialEq)]
pub struct Repaired {
    pub placement: Placement,
    /// The objective's value at `placement`.
    pub cost: f64,
    /// Which algorithm proved optimality (for diagnostics and benchmarks).
    pub method: &'static str,
}

/// Why no valid placement exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Infeasible {
    pub reason: String,
}

/// Returns the valid placement (under `constraints`) that minimises `objective`.
pub fn repair(
    spec: &HwSpec,
    graph: &Graph,
    constraints: &ConstraintSet,
    objective: Objective<'_>,
) -> Result<Repaired, Infeasible> {
    let _ = (spec, graph, constraints, objective);
    Err(Infeasible {
        reason: "not implemented yet".to_string(),
    })
}
