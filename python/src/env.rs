//! `tessera._native.PartitionEnv`: the learned partitioner's environment
//! (`agent::rl::PartitionEnv`) for the Gymnasium environment in
//! `tessera/gym.py`. It hands over plain values only: feature matrices as
//! little-endian bytes with their shapes (the Python side views them as
//! NumPy arrays without copying element by element), a step's information
//! as JSON text. One episode is one step, as in the Rust environment.
//!
//! The environment sits behind a mutex so the class can be shared between
//! threads (the GIL is released while a step repairs and simulates); a
//! second thread stepping the same environment waits for the first.

use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use agent::Problem;
use agent::rl::features::{CHIP_FEATURES, EDGE_FEATURES, NODE_FEATURES, OP_CHIP_FEATURES};
use agent::rl::{Action, EnvError, EnvOptions, StepInfo};
use sim::graph::Graph;

use crate::convert::violations_json;
use crate::errors::{detached_with, internal, raise};
use crate::objects::{Spec, Workload};

/// Which column of `OP_CHIP_FEATURES` says whether an op alone fits a chip.
const FITS_ALONE: usize = 1;

/// One partition problem as an environment: reset, then one step that
/// proposes a chip for every op and is rewarded with the repaired
/// placement's throughput relative to the baseline's. Build it through
/// `tessera.gym.PartitionEnv`.
#[pyclass(frozen, module = "tessera._native", name = "PartitionEnv")]
pub struct PartitionEnv {
    inner: Mutex<agent::rl::PartitionEnv>,
    /// The workload's graph, for the violations' messages.
    graph: Arc<Graph>,
}

impl PartitionEnv {
    /// The environment; a panic in an earlier call cannot leave it
    /// half-changed (a step takes its simulator out and puts it back, and
    /// reports a missing one as an error), so a poisoned lock is taken over.
    fn env(&self) -> MutexGuard<'_, agent::rl::PartitionEnv> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The exception for an error of the environment: a refused action or a
/// call out of turn is the caller's (`InputError`), a problem without a
/// baseline is infeasible, a simulator failure is a bug.
fn env_error(py: Python<'_>, e: EnvError) -> PyErr {
    match e {
        EnvError::NoBaseline(_) => raise(py, "InfeasibleError", e.to_string()),
        EnvError::Simulator(_) | EnvError::Scoring(_) | EnvError::Interrupted => {
            internal(py, &e.to_string())
        }
        EnvError::NotReset
        | EnvError::EpisodeOver
        | EnvError::ActionLength { .. }
        | EnvError::ChipOutOfRange { .. }
        | EnvError::CostsLength { .. }
        | EnvError::BadCost { .. } => raise(py, "InputError", e.to_string()),
    }
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A step's information as a JSON object (see `tessera.gym.PartitionEnv`).
fn info_json(graph: &Graph, baseline_method: &str, info: &StepInfo) -> String {
    let report = info
        .report
        .as_ref()
        .map(|r| serde_json::to_value(r).expect("reports serialise"));
    serde_json::json!({
        "placement": info.placement.as_ref().map(|p| p.chip_ids()),
        "repair_distance": info.repair_distance,
        "repair_proven_optimal": info.repair_proven_optimal,
        "proposal_violations": violations_json(graph, &info.proposal_violations),
        "report": report,
        "throughput_inferences_per_s": info.throughput_inferences_per_s,
        "baseline_method": baseline_method,
        "baseline_throughput_inferences_per_s": info.baseline_throughput_inferences_per_s,
        "invalid_reason": info.invalid_reason,
    })
    .to_string()
}

#[pymethods]
impl PartitionEnv {
    /// Builds the environment of `workload` on `spec` (the baseline is
    /// searched here: `greedy`, else `dp`). The simulator's options are
    /// `tessera.simulate`'s; `repair_nodes` bounds repair's search per step
    /// and `invalid_reward` is the reward of a step that ends without a
    /// valid placement.
    #[new]
    #[pyo3(signature = (spec, workload, repair_nodes, invalid_reward, microbatches, fixed_microbatches, packet_bytes, cut_through))]
    fn new(
        py: Python<'_>,
        spec: &Bound<'_, Spec>,
        workload: &Bound<'_, Workload>,
        repair_nodes: u64,
        invalid_reward: f64,
        microbatches: u32,
        fixed_microbatches: bool,
        packet_bytes: u64,
        cut_through: bool,
    ) -> PyResult<PartitionEnv> {
        if !invalid_reward.is_finite() {
            return Err(raise(
                py,
                "OptionError",
                format!("invalid_reward: must be a finite number, found {invalid_reward}"),
            ));
        }
        let hw = spec.get().hw();
        let graph = workload.get().graph();
        let shared = Arc::clone(&graph);
        let options = crate::sim_options(
            microbatches,
            fixed_microbatches,
            packet_bytes,
            cut_through,
            false,
        );
        let env = detached_with(
            py,
            move || {
                let mut problem = Problem::new((*hw).clone(), (*shared).clone());
                problem.options = options;
                agent::rl::PartitionEnv::new(
                    problem,
                    EnvOptions {
                        repair_nodes,
                        invalid_reward,
                    },
                )
            },
            env_error,
        )?;
        Ok(PartitionEnv {
            inner: Mutex::new(env),
            graph,
        })
    }

    /// Number of ops (the length of an action).
    #[getter]
    fn n_ops(&self) -> usize {
        self.env().n_ops()
    }

    /// Number of chiplets (each op's choices).
    #[getter]
    fn n_chips(&self) -> usize {
        self.env().n_chips()
    }

    /// Number of edges (tensors between ops).
    #[getter]
    fn n_edges(&self) -> usize {
        self.env().observation().edges.len()
    }

    /// The observation, the same for every episode: a dict of
    /// `node_features`, `edge_features`, `chip_features` and
    /// `op_chip_features` (little-endian float32 bytes, row-major), `edges`
    /// (little-endian uint32 bytes, `[producer, consumer]` pairs),
    /// `chip_positions` (a list) and the column names of each matrix
    /// (`node_columns`, `edge_columns`, `chip_columns`, `op_chip_columns`).
    fn observation<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let obs = Arc::clone(self.env().observation());
        let edges: Vec<u8> = obs
            .edges
            .iter()
            .flat_map(|e| e.iter().flat_map(|v| v.to_le_bytes()))
            .collect();
        let d = PyDict::new(py);
        for (name, values) in [
            ("node_features", &obs.node_features),
            ("edge_features", &obs.edge_features),
            ("chip_features", &obs.chip_features),
            ("op_chip_features", &obs.op_chip_features),
        ] {
            d.set_item(name, PyBytes::new(py, &f32_bytes(values)))?;
        }
        d.set_item("edges", PyBytes::new(py, &edges))?;
        d.set_item("chip_positions", obs.chip_positions.clone())?;
        d.set_item("node_columns", NODE_FEATURES.to_vec())?;
        d.set_item("edge_columns", EDGE_FEATURES.to_vec())?;
        d.set_item("chip_columns", CHIP_FEATURES.to_vec())?;
        d.set_item("op_chip_columns", OP_CHIP_FEATURES.to_vec())?;
        Ok(d)
    }

    /// Which chips each op may take, as `n_ops × n_chips` bytes (row-major,
    /// 1 = allowed): a chip whose SRAM the op alone overflows can hold it in
    /// no valid placement when the spec checks SRAM capacity. An op no chip
    /// could hold keeps every chip (repair then reports the problem).
    fn action_mask<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let env = self.env();
        let obs = env.observation();
        let check_sram = env.problem().constraints.sram_capacity;
        let mut mask = Vec::with_capacity(obs.n_ops * obs.n_chips);
        for op in 0..obs.n_ops {
            let row: Vec<u8> = (0..obs.n_chips)
                .map(|c| u8::from(!check_sram || obs.op_chip(op, c)[FITS_ALONE] > 0.5))
                .collect();
            if row.contains(&1) {
                mask.extend(row);
            } else {
                mask.extend(std::iter::repeat_n(1, obs.n_chips));
            }
        }
        PyBytes::new(py, &mask)
    }

    /// The baseline the reward is relative to: `(method, placement,
    /// throughput_inferences_per_s)`.
    fn baseline(&self) -> (String, Vec<u32>, f64) {
        let env = self.env();
        let b = env.baseline();
        (
            b.method.to_string(),
            b.placement.chip_ids(),
            b.throughput_inferences_per_s,
        )
    }

    /// Starts an episode (the environment draws nothing at random; the
    /// seed is recorded only).
    #[pyo3(signature = (seed=None))]
    fn reset(&self, seed: Option<u64>) {
        self.env().reset(seed);
    }

    /// Repairs and scores a proposal of one chip per op, and ends the
    /// episode: `(reward, terminated, truncated, info_json)`. A wrong
    /// action raises `InputError` and leaves the episode as it was. The
    /// GIL is released while it repairs and simulates.
    fn step(&self, py: Python<'_>, chips: Vec<u32>) -> PyResult<(f64, bool, bool, String)> {
        let graph = Arc::clone(&self.graph);
        detached_with(
            py,
            move || {
                let mut env = self.env();
                let step = env.step(&Action {
                    chips,
                    repair_costs: None,
                })?;
                let info = info_json(&graph, env.baseline().method, &step.info);
                Ok((step.reward, step.terminated, step.truncated, info))
            },
            env_error,
        )
    }
}
