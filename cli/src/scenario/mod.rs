//! Scenario files: the schema (hardware, workload, task, simulation options,
//! seed, output), strict reading with every problem named by file, line and
//! field, and resolution into the values a run uses.
//!
//! The schema is documented key by key in `docs/scenarios.md`; a test checks
//! that the page and [`SCHEMA`] agree, so neither can drift.
//!
//! This module holds the types a scenario is read into; `schema` lists its
//! keys and limits, `read` reads a file strictly, `overrides` applies
//! hardware overrides, `resolve` builds the hardware and workload, and
//! `flags` builds scenarios from command-line flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sim::SimOptions;
use sim::config::{Node, Pos};
use sim::graph::Graph;
use sim::spec::{HwSpec, NoSkipping};

use agent::partition::registry::OptionValue;

mod flags;
mod overrides;
mod read;
mod resolve;
mod schema;

pub use flags::{
    LoadedPartition, PartitionFlags, SimulateFlags, from_flags, is_from_flags, parse_sets,
    partition_of_loaded, simulate_from_flags, spec_from_flags,
};
pub use overrides::apply_override;
pub use read::{load, parse};
pub use resolve::{resolve, resolve_graph, resolve_problem, resolve_spec};
pub use schema::{SCHEMA, SchemaKey, TASK_KINDS};

/// Where the hardware comes from.
#[derive(Clone, Debug)]
pub enum HardwareSource {
    /// A spec file (absolute path), and its text.
    File(PathBuf),
    /// A spec written inside the scenario.
    Inline(Node),
}

/// The workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Workload {
    Zoo {
        model: String,
        params: BTreeMap<String, String>,
        /// Where the parameters are written (`[workload.params]`, else
        /// `model`): the place a message about their values points to.
        pos: Pos,
    },
    GraphFile(PathBuf),
    /// An ONNX file imported with `params` (symbolic dim values, `dtype`,
    /// `keep_free_ops`, as text; see [`agent::load::onnx`]).
    Onnx {
        path: PathBuf,
        params: BTreeMap<String, String>,
        /// Where `onnx` is written: the place a message about the import
        /// points to.
        pos: Pos,
    },
}

/// How a simulate task places ops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlacementChoice {
    Contiguous,
    Single,
    File(PathBuf),
}

/// Synthetic traffic parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct TrafficTask {
    pub pattern: String,
    pub rate: f64,
    pub packet_bytes: u64,
    pub warmup_cycles: u64,
    pub measure_cycles: u64,
    pub hotspot_chiplet: Option<u64>,
    pub hotspot_fraction: Option<f64>,
}

/// One sweep axis.
#[derive(Clone, Debug)]
pub struct Axis {
    pub name: String,
    pub target: String,
    pub field: Option<String>,
    /// The values as TOML nodes (kept positioned for messages).
    pub values: Vec<Node>,
    pub pos: Pos,
}

/// Partition search: methods, their options, budget, constraint modes.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionTask {
    pub methods: Vec<String>,
    pub budget: u64,
    /// Options given per method (`[task.options.METHOD]`), checked against
    /// the registry when read; options not given take the registry's defaults.
    pub options: BTreeMap<String, Vec<(String, OptionValue)>>,
    /// Constraint modes replacing the spec's, key by key.
    pub constraints: ConstraintOverrides,
}

/// Constraint modes a task sets in place of the spec's; `None` keeps the
/// spec's mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConstraintOverrides {
    pub acyclic_dataflow: Option<bool>,
    pub no_skipping: Option<NoSkipping>,
    pub no_triangle: Option<bool>,
    pub sram_capacity: Option<bool>,
}

impl PartitionTask {
    /// The constraint set: the spec's, with this task's replacements.
    pub fn constraints(&self, spec: &HwSpec) -> sim::constraints::Constraints {
        let mut c = spec.constraints;
        let o = &self.constraints;
        c.acyclic_dataflow = o.acyclic_dataflow.unwrap_or(c.acyclic_dataflow);
        c.no_skipping = o.no_skipping.unwrap_or(c.no_skipping);
        c.no_triangle = o.no_triangle.unwrap_or(c.no_triangle);
        c.sram_capacity = o.sram_capacity.unwrap_or(c.sram_capacity);
        c
    }
}

/// Pre-training of the learned partitioner over a corpus of problems.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainTask {
    /// PPO batches in all (a resumed run counts the checkpoint's).
    pub batches: u64,
    pub episodes_per_batch: u64,
    pub learning_rate: f64,
    pub entropy_coef: f64,
    /// A checkpoint is written into the output directory every this many
    /// batches while the run goes.
    pub checkpoint_every: u64,
    /// Random (graph, package) problems added after the corpus's own.
    pub random_problems: u64,
    /// Zero-shot samples per holdout problem.
    pub samples: u64,
    /// `[[task.corpus]]`, in order.
    pub corpus: Vec<ProblemEntry>,
    /// `[[task.holdout]]`, in order.
    pub holdout: Vec<ProblemEntry>,
    /// Where `random_problems` is written (or the `[task]` table): the
    /// place a message about drawing them points to.
    pub random_pos: Pos,
}

/// One problem of a train task: a hardware spec and a workload, as a
/// `[[task.corpus]]` or `[[task.holdout]]` entry writes them.
#[derive(Clone, Debug, PartialEq)]
pub struct ProblemEntry {
    /// The spec file (made absolute against the scenario's directory).
    pub spec: PathBuf,
    /// Where `spec` is written.
    pub spec_pos: Pos,
    pub workload: Workload,
    /// The entry's field path, e.g. `task.corpus[2]`: what messages name.
    pub field: String,
    /// Where the entry's table begins.
    pub pos: Pos,
}

/// An architecture search (αNAS): evolution from a seed network, each
/// candidate trained on a data set and scored by `objective`.
#[derive(Clone, Debug, PartialEq)]
pub struct NasTask {
    /// Trials in all, the seed network's included (a resumed checkpoint's
    /// too).
    pub trials: u64,
    pub population: u64,
    /// Trials per generation (`nas::evolve::EvolveConfig::generation_size`).
    pub generation_size: u64,
    pub objective: nas::cost::Objective,
    pub guidance: nas::mutate::Guidance,
    /// Blocks never mutated; `None`: the seed's classifier head.
    pub frozen_blocks: Option<Vec<String>>,
    pub synth_max_steps: u64,
    pub network: SeedNetwork,
    pub data: DataChoice,
    pub epochs: u64,
    pub batch_size: u64,
    pub learning_rate: f64,
    /// How candidates are scored on the hardware (used when the scenario
    /// has `[hardware]`).
    pub scoring: Scoring,
    /// Where `[task]`, `objective`, `[task.network]`, `[task.data]` and
    /// `frozen_blocks` are written: the places messages point to.
    pub pos: Pos,
    pub objective_pos: Pos,
    pub network_pos: Pos,
    pub data_pos: Pos,
    pub frozen_pos: Pos,
}

/// The network a search starts from.
#[derive(Clone, Debug, PartialEq)]
pub enum SeedNetwork {
    /// A seed of `nas::seeds` by name, sized for the data set.
    Named {
        name: String,
        width: u64,
        blocks: u64,
    },
    /// A network in the architecture IR as JSON (absolute path).
    File(PathBuf),
}

/// The data set candidates are trained on.
#[derive(Clone, Debug, PartialEq)]
pub enum DataChoice {
    Digits,
    FashionMnist {
        dir: PathBuf,
        train_limit: Option<u64>,
        test_limit: Option<u64>,
    },
}

/// How a candidate is scored on the simulated package.
#[derive(Clone, Debug, PartialEq)]
pub struct Scoring {
    /// A registry method and the options given to it.
    pub method: String,
    pub options: Vec<(String, OptionValue)>,
    /// Simulator calls the method may make per candidate.
    pub budget: u64,
    /// Samples per inference the candidate is lowered with.
    pub batch: u64,
    pub dtype: sim::graph::DType,
}

/// A sweep: a grid of scenarios, each running `each`.
#[derive(Clone, Debug)]
pub struct SweepTask {
    pub metric: String,
    pub each: Box<Task>,
    pub axes: Vec<Axis>,
}

/// What a scenario runs.
#[derive(Clone, Debug)]
pub enum Task {
    Simulate { placement: PlacementChoice },
    Traffic(TrafficTask),
    Sweep(SweepTask),
    Partition(PartitionTask),
    Train(TrainTask),
    Nas(NasTask),
}

impl Task {
    pub fn kind(&self) -> &'static str {
        match self {
            Task::Simulate { .. } => "simulate",
            Task::Traffic(_) => "traffic",
            Task::Sweep(_) => "sweep",
            Task::Partition(_) => "partition",
            Task::Train(_) => "train",
            Task::Nas(_) => "nas",
        }
    }
}

/// A scenario as read (paths made absolute), before the hardware and the
/// workload are built.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub file: PathBuf,
    pub name: String,
    pub seed: u64,
    /// `None` for a train task, whose problems name their own specs, and
    /// for a nas task scored without hardware.
    pub hardware: Option<HardwareSource>,
    pub overrides: Vec<(String, Node)>,
    pub workload: Option<Workload>,
    pub task: Task,
    pub simulation: SimOptions,
    pub output_dir: Option<PathBuf>,
    pub plots: String,
}

/// A scenario with its hardware and workload built (any task but train,
/// whose problems [`resolve_problem`] builds).
#[derive(Clone, Debug)]
pub struct Resolved {
    pub scenario: Scenario,
    pub spec: HwSpec,
    pub graph: Option<Graph>,
}

/// `a/b/../c` → `a/c`, lexically (no file system access), so that paths
/// printed to users stay readable.
pub fn clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last_is_normal =
                    matches!(out.components().next_back(), Some(Component::Normal(_)));
                if last_is_normal {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}
