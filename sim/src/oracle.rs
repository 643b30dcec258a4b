//! The analytic model: closed-form times of the same hardware without
//! contention. It is the simulator's oracle in tests (equal where there is no
//! contention, never beaten where there is) and a cheap estimator for search.
//!
//! Every quantity comes from `sim::problem`'s model (op and stage cycles
//! with weight streaming, link loads, the memory's load, contention-free
//! transfer times by the tandem-queue recurrence), the same code the
//! partition searches optimise; this module adds them up: per-stage and
//! per-link times, the bottleneck, the critical path and the throughput
//! bound. Transfers are computed independently of the simulator's packet
//! machinery.

use serde::Serialize;

pub use crate::problem::transfer_cycles;

use crate::engine::SimOptions;
use crate::graph::{Graph, Source};
use crate::placement::Placement;
use crate::problem::ProblemModel;
use crate::spec::HwSpec;

/// Closed-form times of one placement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analysis {
    /// Cycles of each op on its chiplet (including waiting for streamed weights).
    pub op_cycles: Vec<u64>,
    /// Per chiplet: cycles of its ops for one micro-batch.
    pub stage_cycles: Vec<u64>,
    /// Per link: serialisation cycles of one micro-batch's packets.
    pub link_cycles: Vec<u64>,
    /// Off-package memory serialisation cycles per micro-batch.
    pub memory_cycles: u64,
    /// The busiest resource's cycles per micro-batch: a lower bound on the
    /// steady-state interval, and `microbatches ×` it on the makespan.
    pub bottleneck_cycles: u64,
    /// Longest path through the graph with op times and contention-free
    /// transfer times, ignoring that ops on one chiplet run one at a time: a
    /// lower bound on one micro-batch's latency (exact for a chain).
    pub critical_path_cycles: u64,
    /// `batch × clock / bottleneck`: an upper bound on throughput.
    pub throughput_bound_inferences_per_s: f64,
}

/// Analyses `placement` of `graph` on `spec`.
pub fn analyse(
    spec: &HwSpec,
    graph: &Graph,
    placement: &Placement,
    options: &SimOptions,
) -> Analysis {
    analyse_with(&ProblemModel::new(spec, graph, options), placement)
}

/// [`analyse`] with the problem model built once (for many placements).
pub fn analyse_with(model: &ProblemModel<'_>, placement: &Placement) -> Analysis {
    let chip_of = &placement.chiplet_of_op;
    let stages = model.stages(chip_of);
    let link_cycles = model.link_cycles(chip_of);
    let mut finish = vec![0u64; model.n_ops];
    for op in model.graph.ops() {
        let here = chip_of[op.id.idx()].idx();
        let mut ready = 0;
        for input in &op.inputs {
            if let Source::Op(p) = input.source {
                let from = chip_of[p.idx()].idx();
                let arrive = finish[p.idx()]
                    + model.transfer_cycles(from, here, model.output_bytes[p.idx()]);
                ready = ready.max(arrive);
            }
        }
        finish[op.id.idx()] = ready + stages.op_cycles[op.id.idx()];
    }
    let critical = finish.iter().copied().max().unwrap_or(0);
    let bottleneck = stages.bottleneck_cycles(&link_cycles);
    Analysis {
        op_cycles: stages.op_cycles,
        stage_cycles: stages.stage_cycles,
        link_cycles,
        memory_cycles: stages.memory_cycles,
        bottleneck_cycles: bottleneck,
        critical_path_cycles: critical,
        throughput_bound_inferences_per_s: model.inferences_per_s(bottleneck).unwrap_or(0.0),
    }
}
