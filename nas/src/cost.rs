//! Cost models of a candidate: parameters, multiply-accumulates, and the
//! simulated package — the candidate lowered to a workload graph,
//! partitioned by a fast registry method and simulated for first-inference
//! latency, converged throughput and energy.

use agent::Problem;
use agent::partition::registry::{self, OptionValue};
use agent::partition::search::Evaluator;
use serde::{Deserialize, Serialize};
use sim::SimOptions;
use sim::graph::DType;
use sim::spec::HwSpec;

use crate::ir::Net;
use crate::lower::to_graph;

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
    let params = net.params().map_err(|e| CostError(e.to_string()))?;
    let macs = net.macs().map_err(|e| CostError(e.to_string()))?;
    let sim = hw.map(|hw| simulate(net, hw)).transpose()?;
    Ok(Costs { params, macs, sim })
}

/// `net` lowered at `hw.batch` samples per inference, partitioned by
/// `hw.method` within `hw.budget` simulator calls, and the best placement's
/// report read off. A method that finds no valid placement gives
/// `valid: false` (the candidate is then unscorable on this package, not an
/// error).
pub fn simulate(net: &Net, hw: &HardwareCost) -> Result<SimCost, CostError> {
    let graph = to_graph(net, hw.batch, hw.dtype).map_err(|e| CostError(e.to_string()))?;
    let problem = Problem::new(hw.spec.clone(), graph).with_options(hw.sim.clone());
    let info = registry::lookup(&hw.method).map_err(|e| CostError(e.to_string()))?;
    let options = info
        .options(&hw.options)
        .map_err(|e| CostError(e.to_string()))?;
    let search = problem.search(hw.budget, hw.seed);
    let mut eval = Evaluator::new(&search).map_err(|e| CostError(e.to_string()))?;
    let mut method = info.build(&options, hw.budget);
    let error = method.run(&search, &mut eval).err();
    let result = eval.finish(info.name, method.notes(), error);
    Ok(match result.best {
        Some((_, report)) if report.valid => {
            let inferences = (report.microbatches as u64 * report.inferences_per_microbatch).max(1);
            SimCost {
                valid: true,
                latency_cycles: report.first_inference_latency_cycles,
                latency_us: report.first_inference_latency_us,
                throughput_per_s: report.throughput_inferences_per_s,
                energy_mj_per_inference: report.energy_run.total_pj / inferences as f64 * 1e-9,
                evaluations: result.evaluations,
            }
        }
        _ => SimCost {
            valid: false,
            latency_cycles: 0,
            latency_us: 0.0,
            throughput_per_s: 0.0,
            energy_mj_per_inference: 0.0,
            evaluations: result.evaluations,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeds;
    use std::path::Path;

    fn ring4() -> HardwareCost {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        HardwareCost {
            spec: agent::load::load_spec(&root.join("hw_specs/edgetpu_ring4.toml")).unwrap(),
            method: "dp".into(),
            options: Vec::new(),
            budget: 200,
            batch: 1,
            dtype: DType::Int8,
            sim: SimOptions::default(),
            seed: 1,
        }
    }

    #[test]
    fn a_smaller_network_is_cheaper_everywhere() {
        let hw = ring4();
        let big = costs(&seeds::cifarnet_small(&[1, 8, 8], 10, 64), Some(&hw)).unwrap();
        let small = costs(&seeds::cifarnet_small(&[1, 8, 8], 10, 16), Some(&hw)).unwrap();
        let (b, s) = (big.sim.clone().unwrap(), small.sim.clone().unwrap());
        assert!(b.valid && s.valid);
        assert!(small.params < big.params && small.macs < big.macs);
        assert!(s.latency_cycles < b.latency_cycles, "{s:?} vs {b:?}");
        assert!(s.energy_mj_per_inference < b.energy_mj_per_inference);
        for o in Objective::ALL {
            assert!(
                o.value(&small).unwrap() <= o.value(&big).unwrap(),
                "{}",
                o.name()
            );
        }
        // Without hardware only parameters and MACs are known.
        let bare = costs(&seeds::cifarnet_small(&[1, 8, 8], 10, 16), None).unwrap();
        assert_eq!(Objective::Latency.value(&bare), None);
        assert_eq!(Objective::Params.value(&bare), Some(small.params as f64));
    }

    #[test]
    fn simulation_is_deterministic() {
        let hw = ring4();
        let net = seeds::resnet_small(&[1, 8, 8], 10, 8, 1);
        assert_eq!(simulate(&net, &hw).unwrap(), simulate(&net, &hw).unwrap());
    }
}
