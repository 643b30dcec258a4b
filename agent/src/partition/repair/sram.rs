//! SRAM need per pipeline position, computed from live intervals so that it
//! also bounds partial placements.
//!
//! `sim::constraints::sram_need` walks the ops in topological order; the same
//! quantity, restated: the tensor of op `t` is live on chiplet `c` over an
//! interval of op indices, `[t, last consumer of t on c]` when `t` runs on
//! `c` (just `[t, t]` without a consumer there), else `[first, last consumer
//! of t on c]` when some op on `c` reads it. The need of `c` is its resident
//! weights plus the maximum, over the ops `j` on `c`, of the bytes of tensors
//! live on `c` at `j` plus `j`'s graph inputs.
//!
//! That need depends only on the set `S` of ops on `c`, and is monotone in
//! it: adding an op to `S` adds weights, adds a point to the maximum, and only
//! widens intervals (a producer moving onto `c` starts its tensor's interval
//! earlier; a consumer extends it). So the need of the ops *already fixed* on
//! `c` is a lower bound for every completion, which is what branch and bound
//! prunes with. The tests check this function against `sram_need`.

use sim::cost::input_bytes;
use sim::graph::{Graph, Source, numel};
use sim::spec::{ChipletId, HwSpec};

/// Marks an op with no position yet.
pub(crate) const UNPLACED: u16 = u16::MAX;

/// What the SRAM rule needs to know, indexed by op and by pipeline position.
#[derive(Clone, Debug)]
pub(crate) struct SramModel {
    pub weight_bytes: Vec<u64>,
    pub output_bytes: Vec<u64>,
    /// Bytes of graph inputs (not produced by an op) each op reads.
    pub graph_input_bytes: Vec<u64>,
    /// Distinct consumers of each op's output, ascending.
    pub consumers: Vec<Vec<u32>>,
    /// Distinct producers each op reads, ascending.
    pub producers: Vec<Vec<u32>>,
    /// Whether the chiplet at each position keeps its weights in SRAM (it
    /// cannot stream them from off-package memory).
    pub resident: Vec<bool>,
    /// SRAM bytes of the chiplet at each position.
    pub capacity: Vec<u64>,
}

impl SramModel {
    pub(crate) fn new(spec: &HwSpec, graph: &Graph) -> SramModel {
        let ops = graph.ops();
        let graph_input_bytes = ops
            .iter()
            .map(|op| {
                // As `activation_peaks` does: every input minus those from ops.
                let from_ops: u64 = op
                    .inputs
                    .iter()
                    .filter(|x| matches!(x.source, Source::Op(_)))
                    .map(|x| numel(&x.shape) * op.dtype.bytes())
                    .sum();
                input_bytes(op).saturating_sub(from_ops)
            })
            .collect();
        let mut producers: Vec<Vec<u32>> = ops
            .iter()
            .map(|op| {
                op.inputs
                    .iter()
                    .filter_map(|x| match x.source {
                        Source::Op(p) => Some(p.0),
                        Source::GraphInput(_) => None,
                    })
                    .collect()
            })
            .collect();
        for p in &mut producers {
            p.sort_unstable();
            p.dedup();
        }
        let streams = |c: ChipletId| {
            spec.memory
                .as_ref()
                .is_some_and(|m| m.weight_streaming && m.chiplets.contains(&c))
        };
        SramModel {
            weight_bytes: ops.iter().map(|o| o.weight_bytes).collect(),
            output_bytes: ops.iter().map(|o| o.output_bytes).collect(),
            graph_input_bytes,
            consumers: ops
                .iter()
                .map(|o| graph.consumers(o.id).iter().map(|c| c.0).collect())
                .collect(),
            producers,
            resident: spec.pipeline_order.iter().map(|&c| !streams(c)).collect(),
            capacity: spec
                .pipeline_order
                .iter()
                .map(|&c| spec.chiplet_type(c).sram_bytes())
                .collect(),
        }
    }

    /// The least SRAM op `v` needs at position `i` whatever else runs there:
    /// its resident weights plus its inputs, its output and its graph inputs,
    /// all live while it runs.
    pub(crate) fn own_need(&self, v: usize, i: usize) -> u64 {
        let inputs: u64 = self.producers[v]
            .iter()
            .map(|&p| self.output_bytes[p as usize])
            .sum();
        let weights = if self.resident[i] {
            self.weight_bytes[v]
        } else {
            0
        };
        weights + inputs + self.output_bytes[v] + self.graph_input_bytes[v]
    }

    /// The need at each position of the ops placed so far (`UNPLACED` ops
    /// ignored): exact for a full placement, a lower bound for every
    /// completion of a partial one.
    pub(crate) fn needs(&self, positions: &[u16]) -> Vec<u64> {
        let k = self.capacity.len();
        let mut need = vec![0u64; k];
        // (position, op index, kind): kind 0 changes the live bytes, kind 1
        // evaluates the peak; changes at an index apply before evaluation.
        let mut events: Vec<(u16, u32, u8, i64)> = Vec::new();
        let mut spans: Vec<(u16, u32, u32)> = Vec::new();
        for (t, &pt) in positions.iter().enumerate() {
            // Interval of t's tensor on each position that holds it; a
            // producer not yet placed contributes its consumers' intervals,
            // which every completion contains.
            spans.clear();
            if pt != UNPLACED {
                if self.resident[pt as usize] {
                    need[pt as usize] += self.weight_bytes[t];
                }
                events.push((pt, t as u32, 1, self.graph_input_bytes[t] as i64));
                spans.push((pt, t as u32, t as u32));
            }
            for &q in &self.consumers[t] {
                let pq = positions[q as usize];
                if pq == UNPLACED {
                    continue;
                }
                match spans.iter_mut().find(|s| s.0 == pq) {
                    Some(s) => s.2 = q,
                    None => spans.push((pq, q, q)),
                }
            }
            let bytes = self.output_bytes[t] as i64;
            for &(p, first, last) in &spans {
                events.push((p, first, 0, bytes));
                events.push((p, last + 1, 0, -bytes));
            }
        }
        events.sort_unstable();
        let mut live = 0i64;
        let mut current = u16::MAX;
        let mut peak = vec![0u64; k];
        for &(p, _, kind, bytes) in &events {
            if p != current {
                current = p;
                live = 0;
            }
            if kind == 0 {
                live += bytes;
            } else {
                peak[p as usize] = peak[p as usize].max((live + bytes) as u64);
            }
        }
        for (n, p) in need.iter_mut().zip(peak) {
            *n += p;
        }
        need
    }
    /// The need at position `c` alone of the ops placed so far (as
    /// [`SramModel::needs`], touching only the ops on `c` and their inputs).
    pub(crate) fn need_at(&self, positions: &[u16], on_c: &[u32], c: u16) -> u64 {
        let mut tensors: Vec<u32> = Vec::new();
        let mut weights = 0;
        for &j in on_c {
            if self.resident[c as usize] {
                weights += self.weight_bytes[j as usize];
            }
            tensors.push(j);
            tensors.extend(&self.producers[j as usize]);
        }
        tensors.sort_unstable();
        tensors.dedup();
        let mut events: Vec<(u32, u8, i64)> = Vec::new();
        for &j in on_c {
            events.push((j, 1, self.graph_input_bytes[j as usize] as i64));
        }
        for &t in &tensors {
            let mut span = (positions[t as usize] == c).then_some((t, t));
            for &q in &self.consumers[t as usize] {
                if positions[q as usize] == c {
                    span = Some(match span {
                        Some((first, _)) => (first, q),
                        None => (q, q),
                    });
                }
            }
            if let Some((first, last)) = span {
                let bytes = self.output_bytes[t as usize] as i64;
                events.push((first, 0, bytes));
                events.push((last + 1, 0, -bytes));
            }
        }
        events.sort_unstable();
        let (mut live, mut peak) = (0i64, 0u64);
        for (_, kind, bytes) in events {
            if kind == 0 {
                live += bytes;
            } else {
                peak = peak.max((live + bytes) as u64);
            }
        }
        weights + peak
    }
}
