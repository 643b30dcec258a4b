//! Partition constraints: what makes a placement valid on a package, each
//! defined precisely, each switchable, each violation reported with the ops,
//! edges and chiplets that break it.
//!
//! Let `p(v)` be the position, in the spec's pipeline order, of the chiplet
//! holding op `v`, and let an edge `u → v` be a tensor from op `u` to op `v`.
//!
//! - **Acyclic dataflow**: for every edge, `p(u) ≤ p(v)`: data never flows
//!   backwards along the pipeline.
//! - **No skipping chips**, mode `edge`: for every edge, `p(v) − p(u) ≤ 1`
//!   (data only moves to the next chiplet). Mode `prefix`: the positions in use
//!   are exactly `0 .. m` for some `m` (the first `m` chiplets of the order,
//!   none skipped). Or off.
//! - **No chip triangle**: there are no positions `i < j < k` with tensors
//!   flowing `i → j`, `j → k` and `i → k` (the `i → k` tensor would have to
//!   relay through `j` on a chain-like package). Or off.
//! - **SRAM capacity**: on every chiplet, the SRAM need of the ops it holds
//!   fits its SRAM. The need (resident weights, unless the chiplet may
//!   stream them, plus the static peak of one micro-batch's live
//!   activations) is defined in `sim::problem`, with the facts searches rely
//!   on; the simulator measures the dynamic peak of a pipelined run and
//!   reports it separately.

use serde::Serialize;

use crate::graph::{Graph, OpId};
use crate::placement::Placement;
use crate::problem::ProblemModel;
use crate::spec::{ChipletId, HwSpec, NoSkipping};

/// Which constraints apply: the spec's `[constraints]`, or a task's
/// replacement of them. One type for both, defined with the spec.
pub use crate::spec::Constraints;

/// One broken constraint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "constraint", rename_all = "snake_case")]
pub enum Violation {
    /// Edge `from → to` flows backwards: `p(from) > p(to)`.
    AcyclicDataflow {
        from: OpId,
        to: OpId,
        from_chiplet: ChipletId,
        to_chiplet: ChipletId,
    },
    /// Edge `from → to` skips chiplets: `p(to) − p(from) > 1`.
    NoSkippingEdge {
        from: OpId,
        to: OpId,
        from_chiplet: ChipletId,
        to_chiplet: ChipletId,
    },
    /// Position `unused` holds no op, but a later position does.
    NoSkippingPrefix {
        unused_chiplet: ChipletId,
        used_later: ChipletId,
    },
    /// Chiplets at positions i < j < k exchange tensors i→j, j→k and i→k;
    /// `edges` names one op edge for each.
    Triangle {
        chiplets: [ChipletId; 3],
        edges: [(OpId, OpId); 3],
    },
    /// Resident weights plus peak live activations exceed the SRAM.
    SramCapacity {
        chiplet: ChipletId,
        needed_bytes: u64,
        capacity_bytes: u64,
        /// Ops on the chiplet, heaviest weights first (at most 8).
        heaviest_ops: Vec<OpId>,
    },
}

impl Violation {
    /// The violation in words, naming ops by their names in `graph`.
    pub fn describe(&self, graph: &Graph) -> String {
        let name = |op: OpId| graph.op(op).name.clone();
        match self {
            Violation::AcyclicDataflow {
                from,
                to,
                from_chiplet,
                to_chiplet,
            } => format!(
                "acyclic_dataflow on edge {} → {} (chiplet {from_chiplet} → {to_chiplet})",
                name(*from),
                name(*to)
            ),
            Violation::NoSkippingEdge {
                from,
                to,
                from_chiplet,
                to_chiplet,
            } => format!(
                "no_skipping on edge {} → {} (chiplet {from_chiplet} → {to_chiplet})",
                name(*from),
                name(*to)
            ),
            Violation::NoSkippingPrefix {
                unused_chiplet,
                used_later,
            } => format!(
                "no_skipping = \"prefix\": chiplet {unused_chiplet} is unused but chiplet {used_later} \
                 later in the order is used"
            ),
            Violation::Triangle { chiplets, edges } => format!(
                "no_triangle on chiplets {}, {}, {} (edges {} → {}, {} → {}, {} → {})",
                chiplets[0],
                chiplets[1],
                chiplets[2],
                name(edges[0].0),
                name(edges[0].1),
                name(edges[1].0),
                name(edges[1].1),
                name(edges[2].0),
                name(edges[2].1)
            ),
            Violation::SramCapacity {
                chiplet,
                needed_bytes,
                capacity_bytes,
                ..
            } => format!(
                "sram_capacity on chiplet {chiplet} ({needed_bytes} bytes needed, {capacity_bytes} available)"
            ),
        }
    }
}

/// Per-chiplet SRAM need of a placement (`sim::problem`'s SRAM rule).
pub fn sram_need(spec: &HwSpec, graph: &Graph, chip_of: &[ChipletId]) -> Vec<u64> {
    sram_model(spec, graph).sram_need_bytes(chip_of)
}

/// Peak live activation bytes per chiplet for one micro-batch run in
/// topological order (`peak(S)` of `sim::problem`'s SRAM rule): the
/// simulator's SRAM slot.
pub fn activation_peaks(spec: &HwSpec, graph: &Graph, chip_of: &[ChipletId]) -> Vec<u64> {
    sram_model(spec, graph).activation_peak_bytes(chip_of)
}

/// The problem model for SRAM quantities (which do not depend on the
/// simulator's options), without the cycle tables they never read.
fn sram_model<'a>(spec: &'a HwSpec, graph: &'a Graph) -> ProblemModel<'a> {
    ProblemModel::for_sram(spec, graph)
}

/// Every violation of `set` by `placement`, in a deterministic order.
pub fn check(
    spec: &HwSpec,
    graph: &Graph,
    placement: &Placement,
    set: &Constraints,
) -> Vec<Violation> {
    let chip_of = &placement.chiplet_of_op;
    let model = set.sram_capacity.then(|| sram_model(spec, graph));
    let positions;
    let pos: &[usize] = match &model {
        Some(m) => &m.position_of,
        None => {
            positions = spec.pipeline_positions();
            &positions
        }
    };
    let p = |op: OpId| pos[chip_of[op.idx()].idx()];
    let mut out = Vec::new();
    for e in graph.edges() {
        let (a, b) = (p(e.from), p(e.to));
        if set.acyclic_dataflow && a > b {
            out.push(Violation::AcyclicDataflow {
                from: e.from,
                to: e.to,
                from_chiplet: chip_of[e.from.idx()],
                to_chiplet: chip_of[e.to.idx()],
            });
        }
        if set.no_skipping == NoSkipping::Edge && b > a + 1 {
            out.push(Violation::NoSkippingEdge {
                from: e.from,
                to: e.to,
                from_chiplet: chip_of[e.from.idx()],
                to_chiplet: chip_of[e.to.idx()],
            });
        }
    }
    if set.no_skipping == NoSkipping::Prefix {
        let mut used = vec![false; spec.n_chiplets()];
        for c in chip_of {
            used[pos[c.idx()]] = true;
        }
        if let Some(last) = used.iter().rposition(|&u| u) {
            for (i, &u) in used.iter().enumerate().take(last) {
                if !u {
                    out.push(Violation::NoSkippingPrefix {
                        unused_chiplet: spec.pipeline_order[i],
                        used_later: spec.pipeline_order[last],
                    });
                }
            }
        }
    }
    if set.no_triangle {
        // Chip-level flows between positions, with one witness edge each.
        let n = spec.n_chiplets();
        let mut flow: Vec<Option<(OpId, OpId)>> = vec![None; n * n];
        for e in graph.edges() {
            let (a, b) = (p(e.from), p(e.to));
            if a < b && flow[a * n + b].is_none() {
                flow[a * n + b] = Some((e.from, e.to));
            }
        }
        for i in 0..n {
            for k in i + 2..n {
                let Some(ik) = flow[i * n + k] else { continue };
                for j in i + 1..k {
                    if let (Some(ij), Some(jk)) = (flow[i * n + j], flow[j * n + k]) {
                        out.push(Violation::Triangle {
                            chiplets: [
                                spec.pipeline_order[i],
                                spec.pipeline_order[j],
                                spec.pipeline_order[k],
                            ],
                            edges: [ij, jk, ik],
                        });
                    }
                }
            }
        }
    }
    if let Some(model) = model {
        let need = model.sram_need_bytes(chip_of);
        for (c, &needed) in need.iter().enumerate() {
            let id = ChipletId(c as u32);
            let capacity = model.class_of_chiplet(c).sram_bytes;
            if needed > capacity {
                let mut ops: Vec<&crate::graph::Op> = graph
                    .ops()
                    .iter()
                    .filter(|o| chip_of[o.id.idx()] == id)
                    .collect();
                ops.sort_by_key(|o| (std::cmp::Reverse(o.weight_bytes), o.id));
                out.push(Violation::SramCapacity {
                    chiplet: id,
                    needed_bytes: needed,
                    capacity_bytes: capacity,
                    heaviest_ops: ops.iter().take(8).map(|o| o.id).collect(),
                });
            }
        }
    }
    out
}

/// Whether `placement` satisfies every constraint in `set`.
pub fn is_valid(spec: &HwSpec, graph: &Graph, placement: &Placement, set: &Constraints) -> bool {
    check(spec, graph, placement, set).is_empty()
}
