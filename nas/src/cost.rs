//! Cost models of a candidate: parameters, multiply-accumulates, and the
//! simulated package — the candidate lowered to a workload graph,
//! partitioned by a fast registry method and simulated for first-inference
//! latency, converged throughput and energy.

use agent::partition::registry::OptionValue;
use serde::{Deserialize, Serialize};
use sim::SimOptions;
use sim::graph::DType;
use sim::spec::HwSpec;

use crate::ir::Net;

/// The simulated package a candidate is scored on.
#[derive(Clone, Debug)]
pub struct HardwareCost {
    pub spec: HwSpec,
    /// Registry method that partitions each candidate (`dp`, `exact`, `rl`,
    /// ...), its options and its budget of simulator calls.
    pub method: String,
    pub options: Vec<(String, OptionValue)>,
    pub budget: u64,
    /// Samples per inference.
    pub batch: u64,
    pub dtype: DType,
    pub sim: SimOptions,
    pub seed: u64,
}

/// What the simulator says of a partitioned candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimCost {
    /// Whether the partitioner found a valid placement.
    pub valid: bool,
    pub latency_cycles: u64,
    pub latency_us: f64,
    /// Converged inferences per second.
    pub throughput_per_s: f64,
    pub energy_mj_per_inference: f64,
    /// Simulator calls the partitioner made.
    pub evaluations: u64,
}

/// Every cost of a candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Costs {
    pub params: u64,
    /// Multiply-accumulates per sample.
    pub macs: u64,
    /// `None` when no hardware is given.
    pub sim: Option<SimCost>,
}

/// The cost a search minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    Params,
    Macs,
    Latency,
    /// Lower is better: the cost is seconds per inference at the converged rate.
    Throughput,
    Energy,
}

impl Objective {
    pub const ALL: [Objective; 5] = [
        Objective::Params,
        Objective::Macs,
        Objective::Latency,
        Objective::Throughput,
        Objective::Energy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Objective::Params => "params",
            Objective::Macs => "macs",
            Objective::Latency => "latency",
            Objective::Throughput => "throughput",
            Objective::Energy => "energy",
        }
    }

    pub fn from_name(s: &str) -> Option<Objective> {
        Objective::ALL.into_iter().find(|o| o.name() == s)
    }

    /// Whether the objective needs the simulated package.
    pub fn needs_hardware(self) -> bool {
        !matches!(self, Objective::Params | Objective::Macs)
    }

    /// The cost to minimise, or `None` when it is unknown (no hardware, or
    /// no valid placement).
    pub fn value(self, c: &Costs) -> Option<f64> {
        let sim = || c.sim.as_ref().filter(|s| s.valid);
        match self {
            Objective::Params => Some(c.params as f64),
            Objective::Macs => Some(c.macs as f64),
            Objective::Latency => sim().map(|s| s.latency_cycles as f64),
            Objective::Throughput => sim().map(|s| 1.0 / s.throughput_per_s),
            Objective::Energy => sim().map(|s| s.energy_mj_per_inference),
        }
    }
}

/// Why a candidate could not be costed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostError(pub String);

impl std::fmt::Display for CostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CostError {}

/// The costs of `net`; simulated on `hw` when given.
pub fn costs(net: &Net, hw: Option<&HardwareCost>) -> Result<Costs, CostError> {
    let _ = (net, hw);
    todo!("costs")
}
