//! What a run is computed from: the [`Model`] (hardware, graph, options and
//! cost tables, fixed for a `Simulator`) and the [`Plan`] (everything that
//! depends on the placement, rebuilt in place for each run).

use std::ops::Range;

use bevy_ecs::prelude::*;

use super::SimOptions;
use crate::graph::{Graph, OpId, Source};
use crate::placement::Placement;
use crate::problem::{ProblemModel, activation_slots};
use crate::spec::{ChipletId, HwSpec};
use crate::units::{Bytes, Cycles};

/// Everything that depends only on the hardware, the graph and the options.
#[derive(Resource)]
pub(super) struct Model {
    pub spec: HwSpec,
    pub graph: Graph,
    pub options: SimOptions,
    /// `runs[type_idx][op]`: what running the op costs on a chiplet type.
    pub runs: Vec<Vec<OpRun>>,
    /// Distinct producer ops of each op.
    pub producer_count: Vec<u32>,
}

impl Model {
    pub fn new(spec: &HwSpec, graph: &Graph, options: &SimOptions) -> Model {
        let runs = spec
            .chiplet_types
            .iter()
            .map(|ty| {
                graph
                    .ops()
                    .iter()
                    .map(|op| {
                        let cost = crate::cost::op_cost(op, ty);
                        OpRun {
                            cycles: Cycles(cost.cycles),
                            sram_bound: cost.sram_cycles > cost.engine_cycles,
                            compute_pj: (op.macs + op.vector_ops) as f64 * ty.energy_per_mac_pj,
                            sram_pj: cost.sram_bytes as f64 * ty.energy_per_sram_byte_pj,
                        }
                    })
                    .collect()
            })
            .collect();
        let producer_count = graph
            .ops()
            .iter()
            .map(|op| {
                let mut p: Vec<u32> = op
                    .inputs
                    .iter()
                    .filter_map(|i| match i.source {
                        Source::Op(id) => Some(id.0),
                        Source::GraphInput(_) => None,
                    })
                    .collect();
                p.sort_unstable();
                p.dedup();
                p.len() as u32
            })
            .collect();
        Model {
            spec: spec.clone(),
            graph: graph.clone(),
            options: options.clone(),
            runs,
            producer_count,
        }
    }

    pub fn n_ops(&self) -> u32 {
        self.graph.ops().len() as u32
    }
}

/// One op on one chiplet type, as the engine reads it when the op starts
/// (kept apart from the graph's ops so that the hot loop touches 24 bytes
/// per op, not the whole op).
#[derive(Clone, Copy, Debug)]
pub(super) struct OpRun {
    pub cycles: Cycles,
    /// Its SRAM traffic takes longer than its compute (the report's split
    /// of a chiplet's cycles; see `cost.rs`).
    pub sram_bound: bool,
    /// Energy of its MACs and vector operations, and of its SRAM traffic.
    pub compute_pj: f64,
    pub sram_pj: f64,
}

/// One tensor sent from its producer's chiplet to one remote chiplet that
/// consumes it, in every micro-batch.
#[derive(Clone, Debug)]
pub(super) struct TransferPlan {
    pub op: OpId,
    pub src: ChipletId,
    pub dst: ChipletId,
    pub bytes: Bytes,
    pub packets: u32,
    /// The consumers of `op` on `dst`: a range of [`Plan::consumer_ops`].
    pub consumers: Range<u32>,
}

/// Everything that depends on the placement.
#[derive(Resource, Default)]
pub(super) struct Plan {
    pub chip_of: Vec<ChipletId>,
    /// The transfers of one micro-batch: op `o`'s are
    /// `first_transfer[o] .. first_transfer[o + 1]`, nearest destination first.
    pub transfers: Vec<TransferPlan>,
    pub first_transfer: Vec<u32>,
    /// Each op's consumers on its own chiplet: a range of `consumer_ops`.
    pub local_consumers: Vec<Range<u32>>,
    /// Consumer lists, in `graph.consumers` order within each list.
    pub consumer_ops: Vec<OpId>,
    /// Weight bytes of each op streamed from off-package memory per run.
    pub streamed_bytes: Vec<u64>,
    pub resident_weights: Vec<u64>,
    pub streamed_weights: Vec<u64>,
    pub ops_placed: Vec<u32>,
    /// Activation bytes one micro-batch's SRAM slot takes on each chiplet.
    pub activation_slot_bytes: Vec<u64>,
    /// Micro-batch slots each chiplet holds (≥ 1).
    pub slots: Vec<u32>,
    /// Per chiplet, the ops and outgoing transfers of one micro-batch there:
    /// its slot is given back when all of them are done.
    pub holders_per_mb: Vec<u32>,
    /// Working memory: consumers of one op by chiplet.
    by_chip: Vec<Vec<OpId>>,
}

impl Plan {
    /// Transfers per micro-batch.
    pub fn transfers_per_mb(&self) -> u32 {
        self.transfers.len() as u32
    }

    /// Rebuilds the plan for `placement` (already validated), reusing memory.
    pub fn rebuild(&mut self, model: &Model, placement: &Placement) {
        let graph = &model.graph;
        let spec = &model.spec;
        let n_chips = spec.n_chiplets();
        self.chip_of.clear();
        self.chip_of.extend_from_slice(&placement.chiplet_of_op);
        self.transfers.clear();
        self.first_transfer.clear();
        self.local_consumers.clear();
        self.consumer_ops.clear();
        self.by_chip.resize_with(n_chips, Vec::new);
        let packet_bytes = model.options.packet_bytes;
        let mut dsts: Vec<ChipletId> = Vec::new();
        for op in graph.ops() {
            let own = self.chip_of[op.id.idx()];
            dsts.clear();
            for &q in graph.consumers(op.id) {
                let c = self.chip_of[q.idx()];
                if self.by_chip[c.idx()].is_empty() && c != own {
                    dsts.push(c);
                }
                self.by_chip[c.idx()].push(q);
            }
            // Nearest destination first (then by id): the order in which a
            // producer's transfers join a shared first link depends only on
            // the route lengths, not on how chiplets happen to be numbered.
            dsts.sort_unstable_by_key(|&d| (spec.routes.path(own, d).len(), d));
            let start = self.consumer_ops.len() as u32;
            self.consumer_ops.append(&mut self.by_chip[own.idx()]);
            self.local_consumers
                .push(start..self.consumer_ops.len() as u32);
            self.first_transfer.push(self.transfers.len() as u32);
            let bytes = op.output_bytes;
            for &dst in &dsts {
                let start = self.consumer_ops.len() as u32;
                self.consumer_ops.append(&mut self.by_chip[dst.idx()]);
                self.transfers.push(TransferPlan {
                    op: op.id,
                    src: own,
                    dst,
                    bytes: Bytes(bytes),
                    packets: bytes.div_ceil(packet_bytes) as u32,
                    consumers: start..self.consumer_ops.len() as u32,
                });
            }
        }
        self.first_transfer.push(self.transfers.len() as u32);

        // One SRAM model and one activation-peak computation serve residency
        // and the SRAM slots (the numbers `constraints::activation_peaks` and
        // `cost::residency` give).
        let sram = ProblemModel::for_sram(spec, graph);
        self.activation_slot_bytes = sram.activation_peak_bytes(&placement.chiplet_of_op);
        let residency = sram.residency(&placement.chiplet_of_op, &self.activation_slot_bytes);
        self.streamed_bytes = residency.streamed_bytes_per_op;
        self.resident_weights = residency.resident_bytes;
        self.streamed_weights = residency.streamed_bytes;
        self.ops_placed.clear();
        self.ops_placed.resize(n_chips, 0);
        self.holders_per_mb.clear();
        self.holders_per_mb.resize(n_chips, 0);
        for (op, &c) in self.chip_of.iter().enumerate() {
            let remote = self.first_transfer[op + 1] - self.first_transfer[op];
            self.ops_placed[c.idx()] += 1;
            self.holders_per_mb[c.idx()] += 1 + remote;
        }
    }

    /// Sizes each chiplet's SRAM slots for a run of `microbatches`: as many
    /// as fit beside its resident weights, at least one, at most one per
    /// micro-batch.
    pub fn size_slots(&mut self, model: &Model, microbatches: u32) {
        let spec = &model.spec;
        let n_chips = spec.n_chiplets();
        self.slots.clear();
        self.slots.extend((0..n_chips).map(|c| {
            let sram = spec.chiplet_type(ChipletId(c as u32)).sram_bytes();
            let slots = activation_slots(
                sram,
                self.resident_weights[c],
                self.activation_slot_bytes[c],
            );
            slots.min(u64::from(microbatches)) as u32
        }));
    }

    /// The transfer with within-micro-batch number `k`.
    pub fn transfer(&self, k: u32) -> &TransferPlan {
        &self.transfers[k as usize]
    }

    /// Op `op`'s transfers within a micro-batch.
    pub fn transfers_of(&self, op: OpId) -> Range<u32> {
        self.first_transfer[op.idx()]..self.first_transfer[op.idx() + 1]
    }

    pub fn consumers(&self, range: &Range<u32>) -> &[OpId] {
        &self.consumer_ops[range.start as usize..range.end as usize]
    }
}
