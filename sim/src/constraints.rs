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
//! - **SRAM capacity**: on every chiplet, resident weights plus the peak of
//!   live activations fit the SRAM, unless the chiplet may stream weights from
//!   off-package memory (then only the activations must fit). Live activations
//!   are counted statically, for one micro-batch executed in topological
//!   order: a tensor is live on a chiplet from its production (or arrival)
//!   until its last consumer there has run, and an op's inputs and output are
//!   live while it runs. The simulator measures the dynamic peak of a
//!   pipelined run and reports it separately.

use serde::Serialize;

use crate::cost::input_bytes;
use crate::graph::{Graph, OpId};
use crate::placement::Placement;
use crate::spec::{ChipletId, HwSpec, NoSkipping};

/// Which constraints apply (by default, the spec's `[constraints]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ConstraintSet {
    pub acyclic_dataflow: bool,
    pub no_skipping: NoSkipping,
    pub no_triangle: bool,
    pub sram_capacity: bool,
}

impl ConstraintSet {
    /// The constraints the spec's package imposes.
    pub fn of(spec: &HwSpec) -> ConstraintSet {
        let c = spec.constraints;
        ConstraintSet {
            acyclic_dataflow: c.acyclic_dataflow,
            no_skipping: c.no_skipping,
            no_triangle: c.no_triangle,
            sram_capacity: c.sram_capacity,
        }
    }

    /// No constraint at all.
    pub fn none() -> ConstraintSet {
        ConstraintSet {
            acyclic_dataflow: false,
            no_skipping: NoSkipping::Off,
            no_triangle: false,
            sram_capacity: false,
        }
    }
}

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

/// Per-chiplet SRAM need of a placement under the static rule above: resident
/// weights (zero for a chiplet that may stream its weights) plus the peak of
/// live activations.
pub fn sram_need(spec: &HwSpec, graph: &Graph, chip_of: &[ChipletId]) -> Vec<u64> {
    let n = spec.n_chiplets();
    let mut weights = vec![0u64; n];
    for op in graph.ops() {
        weights[chip_of[op.id.idx()].idx()] += op.weight_bytes;
    }
    for (c, w) in weights.iter_mut().enumerate() {
        if can_stream(spec, ChipletId(c as u32)) {
            *w = 0;
        }
    }
    let peaks = activation_peaks(spec, graph, chip_of);
    weights.iter().zip(peaks).map(|(w, p)| w + p).collect()
}

fn can_stream(spec: &HwSpec, c: ChipletId) -> bool {
    spec.memory
        .as_ref()
        .is_some_and(|m| m.weight_streaming && m.chiplets.contains(&c))
}

/// Peak live activation bytes per chiplet for one micro-batch run in
/// topological order.
pub fn activation_peaks(spec: &HwSpec, graph: &Graph, chip_of: &[ChipletId]) -> Vec<u64> {
    let n = spec.n_chiplets();
    let ops = graph.ops();
    // last_use[t][c]: index of the last op on chiplet c reading tensor t (the
    // output of op t), if any.
    let mut last_use: Vec<Vec<(usize, usize)>> = vec![Vec::new(); ops.len()];
    for op in ops {
        let c = chip_of[op.id.idx()].idx();
        for input in &op.inputs {
            if let crate::graph::Source::Op(p) = input.source {
                let uses = &mut last_use[p.idx()];
                match uses.iter_mut().find(|(chip, _)| *chip == c) {
                    Some(u) => u.1 = u.1.max(op.id.idx()),
                    None => uses.push((c, op.id.idx())),
                }
            }
        }
    }
    let mut live = vec![0u64; n];
    let mut peak = vec![0u64; n];
    // frees[i]: (chiplet, bytes) released after op i has run.
    let mut frees: Vec<Vec<(usize, u64)>> = vec![Vec::new(); ops.len()];
    for op in ops {
        let i = op.id.idx();
        let c = chip_of[i].idx();
        // Tensors arriving from other chiplets become live when consumed
        // first (a lower bound on when they must be held).
        let mut arriving = 0;
        // Distinct remote producers this op reads (an op may read a tensor twice).
        let mut remote: Vec<OpId> = op
            .inputs
            .iter()
            .filter_map(|x| match x.source {
                crate::graph::Source::Op(p) if chip_of[p.idx()].idx() != c => Some(p),
                _ => None,
            })
            .collect();
        remote.sort_unstable();
        remote.dedup();
        for &p in &remote {
            {
                let first_here = ops
                    .iter()
                    .skip(p.idx() + 1)
                    .find(|q| {
                        chip_of[q.id.idx()].idx() == c
                            && q.inputs
                                .iter()
                                .any(|x| x.source == crate::graph::Source::Op(p))
                    })
                    .map(|q| q.id.idx());
                if first_here == Some(i) {
                    arriving += ops[p.idx()].output_bytes;
                }
            }
        }
        live[c] += arriving + op.output_bytes;
        let graph_inputs = input_bytes(op).saturating_sub(
            op.inputs
                .iter()
                .filter(|x| matches!(x.source, crate::graph::Source::Op(_)))
                .map(|x| crate::graph::numel(&x.shape) * op.dtype.bytes())
                .sum::<u64>(),
        );
        peak[c] = peak[c].max(live[c] + graph_inputs);
        // Release this op's output where nobody on this chiplet reads it
        // later (remote copies are freed once sent: counted as sent now).
        let local_last = last_use[i]
            .iter()
            .find(|(chip, _)| *chip == c)
            .map(|(_, last)| *last);
        match local_last {
            Some(last) => frees[last].push((c, op.output_bytes)),
            None => live[c] -= op.output_bytes,
        }
        // Release inputs whose last use on this chiplet was this op.
        for (chip, bytes) in std::mem::take(&mut frees[i]) {
            live[chip] -= bytes;
        }
        for &p in &remote {
            if last_use[p.idx()]
                .iter()
                .any(|&(chip, last)| chip == c && last == i)
            {
                live[c] -= ops[p.idx()].output_bytes;
            }
        }
    }
    peak
}

/// Every violation of `set` by `placement`, in a deterministic order.
pub fn check(
    spec: &HwSpec,
    graph: &Graph,
    placement: &Placement,
    set: &ConstraintSet,
) -> Vec<Violation> {
    let chip_of = &placement.chiplet_of_op;
    let pos = spec.pipeline_positions();
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
    if set.sram_capacity {
        let need = sram_need(spec, graph, chip_of);
        for (c, &needed) in need.iter().enumerate() {
            let id = ChipletId(c as u32);
            let capacity = spec.chiplet_type(id).sram_bytes();
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
pub fn is_valid(spec: &HwSpec, graph: &Graph, placement: &Placement, set: &ConstraintSet) -> bool {
    check(spec, graph, placement, set).is_empty()
}
