//! The analytic model: closed-form times of the same hardware without
//! contention. It is the simulator's oracle in tests (equal where there is no
//! contention, never beaten where there is) and a cheap estimator for search.
//!
//! It shares the compute model (`cost.rs`) with the simulator, but computes
//! transfers independently: a tensor of `k` packets crossing `h` links is a
//! tandem of deterministic FIFO servers, whose departures follow the
//! recurrence `D(i, j) = max(A(i, j), D(i − 1, j)) + s(i, j)` with
//! `A(i, j) = D(i, j − 1) + latency(j − 1)` (store-and-forward).

use serde::Serialize;

use crate::cost::{div_ceil, op_cost, residency};
use crate::engine::{SimOptions, Switching};
use crate::graph::{Graph, Source};
use crate::placement::Placement;
use crate::spec::{ChipletId, HwSpec, LinkId};

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

/// Contention-free cycles from the moment a tensor of `bytes` is ready until
/// its last packet has arrived at the end of `path`.
pub fn transfer_cycles(spec: &HwSpec, path: &[LinkId], bytes: u64, options: &SimOptions) -> u64 {
    if path.is_empty() || bytes == 0 {
        return 0;
    }
    let p = options.packet_bytes;
    let k = div_ceil(bytes, p);
    // prev_hop_tail[i] / prev_hop_head[i]: when packet i has fully arrived at
    // (or may start leaving) the current chiplet.
    let mut avail: Vec<u64> = vec![0; k as usize];
    let mut tail_in: Vec<u64> = vec![0; k as usize];
    for (j, link) in path.iter().enumerate() {
        let l = spec.link(*link);
        let mut free = 0u64;
        for i in 0..k as usize {
            let size = p.min(bytes - i as u64 * p);
            let start = avail[i].max(free);
            let mut finish = start + div_ceil(size, l.bandwidth_bytes_per_cycle);
            if options.switching == Switching::CutThrough && j > 0 {
                finish = finish.max(tail_in[i]);
            }
            free = finish;
            tail_in[i] = finish + l.latency_cycles;
            avail[i] = match options.switching {
                Switching::StoreAndForward => finish + l.latency_cycles,
                Switching::CutThrough => start + l.latency_cycles,
            };
        }
    }
    tail_in[k as usize - 1]
}

/// Analyses `placement` of `graph` on `spec`.
pub fn analyse(
    spec: &HwSpec,
    graph: &Graph,
    placement: &Placement,
    options: &SimOptions,
) -> Analysis {
    let chip_of = &placement.chiplet_of_op;
    let slot_bytes = crate::constraints::activation_peaks(spec, graph, chip_of);
    let res = residency(spec, graph, chip_of, &slot_bytes);
    let mut op_cycles = Vec::with_capacity(graph.ops().len());
    let mut stage_cycles = vec![0u64; spec.n_chiplets()];
    let mut memory_cycles = 0;
    for op in graph.ops() {
        let c = chip_of[op.id.idx()];
        let mut cycles = op_cost(op, spec.chiplet_type(c)).cycles;
        let streamed = res.streamed_bytes_per_op[op.id.idx()];
        if let (Some(m), true) = (&spec.memory, streamed > 0) {
            let ser = div_ceil(streamed, m.bandwidth_bytes_per_cycle);
            memory_cycles += ser;
            cycles = cycles.max(ser + m.latency_cycles);
        }
        stage_cycles[c.idx()] += cycles;
        op_cycles.push(cycles);
    }
    let mut link_cycles = vec![0u64; spec.links.len()];
    for op in graph.ops() {
        let src = chip_of[op.id.idx()];
        let mut dsts: Vec<ChipletId> = graph
            .consumers(op.id)
            .iter()
            .map(|q| chip_of[q.idx()])
            .filter(|&d| d != src)
            .collect();
        dsts.sort_unstable();
        dsts.dedup();
        for d in dsts {
            for l in spec.routes.path(src, d) {
                let bw = spec.link(*l).bandwidth_bytes_per_cycle;
                let k = div_ceil(op.output_bytes, options.packet_bytes);
                let full = op.output_bytes / options.packet_bytes;
                let rest = op.output_bytes - full * options.packet_bytes;
                let mut ser = full * div_ceil(options.packet_bytes, bw);
                if k > full {
                    ser += div_ceil(rest, bw);
                }
                link_cycles[l.idx()] += ser;
            }
        }
    }
    let mut finish = vec![0u64; graph.ops().len()];
    for op in graph.ops() {
        let here = chip_of[op.id.idx()];
        let mut ready = 0;
        for input in &op.inputs {
            if let Source::Op(p) = input.source {
                let from = chip_of[p.idx()];
                let arrive = finish[p.idx()]
                    + transfer_cycles(
                        spec,
                        spec.routes.path(from, here),
                        graph.op(p).output_bytes,
                        options,
                    );
                ready = ready.max(arrive);
            }
        }
        finish[op.id.idx()] = ready + op_cycles[op.id.idx()];
    }
    let critical = finish.iter().copied().max().unwrap_or(0);
    let bottleneck = stage_cycles
        .iter()
        .chain(&link_cycles)
        .copied()
        .chain([memory_cycles])
        .max()
        .unwrap_or(0);
    let batch = graph
        .inputs()
        .first()
        .and_then(|i| i.shape.first().copied())
        .unwrap_or(1);
    Analysis {
        op_cycles,
        stage_cycles,
        link_cycles,
        memory_cycles,
        bottleneck_cycles: bottleneck,
        critical_path_cycles: critical,
        throughput_bound_inferences_per_s: if bottleneck == 0 {
            0.0
        } else {
            batch as f64 * spec.clock_mhz * 1e6 / bottleneck as f64
        },
    }
}
