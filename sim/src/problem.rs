//! The problem model: what the constraints, the oracle and every partition
//! search know about one graph on one package, precomputed once per (spec,
//! graph, simulator options), and every rule that turns it into bytes or
//! cycles, each stated once, here.
//!
//! Searches evaluate these rules millions of times on *sets* of ops (the ops
//! one chiplet would hold), so they are methods of a precomputed
//! [`ProblemModel`] that take a set; the same methods over a whole placement
//! are what `sim::constraints` (`sram_need`, `activation_peaks`),
//! `sim::cost::residency` and `sim::oracle::analyse` return. A search's number
//! and the simulator's therefore come from one piece of code and cannot
//! drift apart.
//!
//! # Quantities
//!
//! Ops are indexed by `OpId` (a topological order), chiplets by `ChipletId`,
//! links by `LinkId`, all as `usize`.
//!
//! - `weight_bytes[v]`: op `v`'s parameters; `weight_read_bytes[v]`: the
//!   part it reads per run (all of them, except that an embedding lookup
//!   gathers only its output's rows: `cost::weight_bytes_read`).
//! - `output_bytes[v]`; `graph_input_bytes[v]`: bytes of the inputs `v` reads
//!   that no op produces; `io_bytes[v]`: all its inputs (a tensor read twice
//!   counts twice) plus its output.
//! - `producers(v)`, `consumers(v)`: the distinct ops `v` reads and that read
//!   `v`, ascending.
//! - `op_cycles[t][v]`: `cost::op_cost(v, t).cycles` on chiplet type `t`
//!   (the compute model is stated in `cost.rs`).
//! - Chip classes: chiplets of one type that are equally allowed to stream
//!   weights hold any set of ops at the same cost and SRAM need, so every
//!   per-chiplet rule below is a rule per [`ChipClass`] `{ type_idx,
//!   sram_bytes, can_stream }`; `class_of[c]` names chiplet `c`'s. A chiplet
//!   may stream when the spec's off-package memory allows weight streaming
//!   and has a port to it.
//! - `pipeline_order[i]`: the chiplet at position `i`; `position_of[c]`.
//!
//! # The SRAM rule
//!
//! The SRAM need of a chiplet holding the set `S` of ops is
//! `weights(S) + peak(S)`:
//!
//! - `weights(S) = Σ_{v ∈ S} weight_bytes[v]`, or 0 when the chiplet may
//!   stream weights (they then live off-package, and only the activations
//!   must fit: weight residency below decides which weights stay).
//! - `peak(S)`: the most activation bytes live at once when one micro-batch
//!   runs the ops of `S` in topological order. The tensor of op `t` is live
//!   over the ops `[t, last reader of t in S]` when `t ∈ S` (just `[t, t]`
//!   when no op of `S` reads it: a remote copy is freed once sent), and over
//!   `[first, last reader of t in S]` when `t ∉ S` but an op of `S` reads it
//!   (it is held from when it is first needed, a lower bound on when it
//!   arrives). At an op `j ∈ S`, the live bytes are those of the tensors
//!   whose interval holds `j`, plus `j`'s graph inputs; `peak(S)` is their
//!   maximum over `j`.
//!
//! This is static: the simulator measures the dynamic peak of a pipelined
//! run and reports it separately, and gives each micro-batch on the chiplet
//! a slot of `peak(S)` bytes (so it flags an overflow exactly where this
//! rule does). Three facts the searches rely on:
//!
//! - The need depends only on `S` and the chiplet's class, not on where the
//!   other ops are.
//! - It is monotone in `S`: an op joining `S` adds weights, adds a point to
//!   the maximum, and only widens intervals (a producer joining starts its
//!   tensor's interval earlier; a reader extends it). So the need of the ops
//!   placed so far on a chiplet bounds every completion of a partial
//!   placement from below (ops not yet placed are on no chiplet).
//! - For `S = {v}` it is `weights + activation_floor_bytes[v]`, where the
//!   floor is `v`'s output, graph inputs and every distinct producer's
//!   output: what is live while `v` runs wherever it runs, so no `S ∋ v`
//!   needs less.
//!
//! # Weight residency
//!
//! A chiplet keeps all its ops' weights in SRAM when they fit beside one
//! micro-batch's activation slot, `weights(S) + peak(S) ≤ sram_bytes`. When
//! they do not and the chiplet may stream, it keeps room for that slot and
//! at least for the largest op's `io_bytes`, keeps weights resident greedily
//! in topological order while they fit the rest, and streams the others'
//! `weight_read_bytes` from off-package memory on every run. Otherwise every
//! weight counts as resident, and the SRAM rule reports the overflow.
//!
//! # Cycles
//!
//! - An op's cycles on its chiplet are `op_cycles[type][v]`; when its weights
//!   stream, `max(op_cycles, ser + latency)` with
//!   `ser = ceil(weight_read_bytes / memory bandwidth)`, and `ser` also loads
//!   the one off-package memory all chiplets share.
//! - A stage's cycles are the sum of its ops' cycles (one micro-batch).
//! - A tensor of `b` bytes crosses a link of bandwidth `w` in packets of at
//!   most `packet_bytes`: `⌊b/p⌋·ceil(p/w) + ceil((b mod p)/w)` cycles of
//!   serialisation. An op's output is sent once to each other chiplet that
//!   reads it, over the spec's route, and loads every link of that route.
//! - A tensor's contention-free transfer time over a route is that of a
//!   tandem of deterministic FIFO servers (see [`transfer_cycles`]).
//! - The bottleneck of a placement is the largest of its stage cycles, its
//!   link loads and the memory's load: a lower bound on the steady-state
//!   interval between micro-batches.
//!
//! # Slots
//!
//! The simulator gives a chiplet holding `S` as many micro-batch slots as
//! fit beside its resident weights, `slots(S) = max(1, ⌊(sram_bytes −
//! resident weights) / peak(S)⌋)` ([`activation_slots`]; unbounded when
//! `peak(S) = 0`; a run of `M` micro-batches caps it at `M`). Micro-batch
//! `m` may start anything on the chiplet (an op there, or a tensor sent
//! there) only once every micro-batch `≤ m − slots` has given its slot back,
//! and gives it back when its last op there has finished and its last
//! outgoing tensor has left the first link of its route (`engine/`'s SRAM
//! notes). Let `A_m` be when `m` is admitted and `R_m` when it gives its slot
//! back: then `A_{m + slots} ≥ R_m`, so with `hold ≤ R_m − A_m` for every
//! `m`, `A_{m + slots} ≥ A_m + hold` and the steady-state interval is at
//! least `hold / slots`. The slot-aware period of a chiplet is
//! `max(stage, ⌊hold / slots⌋)` ([`SlotCost::period_cycles`]), with `hold`
//! ([`ProblemModel::slot_cost_of`]) a lower bound on `R_m − A_m` from what
//! must happen between the two, in one micro-batch, contention ignored:
//!
//! - a tensor entering `S` is sent no earlier than `A_m` (its sender keeps it
//!   until the slot is there) and reaches the chiplet no earlier than its
//!   serialisation on the package's fastest link plus the least link latency
//!   later (its tail must cross the last link of its route, an in-link of
//!   the chiplet): `arrival_floor_cycles[u]`;
//! - an op of `S` starts once its inputs are there: its earliest start
//!   `est(v)` is the latest of its remote inputs' arrival floors and its
//!   local producers' earliest finishes, `est(p) + cycles(p)`; ops take their
//!   stage cycles (waiting for streamed weights included);
//! - an op's output read off the chiplet must leave the first link of each
//!   route before the slot is given back: at least its serialisation on the
//!   fastest link after the op finishes (`departure_floor_cycles[v]`, 0 when
//!   every reader is local);
//! - the chiplet runs one op at a time, so for any `r`, the ops with
//!   `est ≥ r` finish no earlier than `r` plus their summed cycles, and the
//!   op that finishes last has no reader in `S` (so at least the least
//!   departure floor of such ops follows).
//!
//! `hold` is the largest of the critical path `est(v) + cycles(v) +
//! departure(v)` over `v ∈ S` and the one-engine bound `max_r (r + Σ_{est ≥
//! r} cycles) + min departure of the ops without a reader in S`; it is at
//! least the stage's cycles. The transfer floors use package-wide link
//! figures so that `hold` depends only on `S` and the chiplet's class, like
//! every other per-chiplet rule here. Router, injection and ejection delays
//! and contention only lengthen a hold, so leaving them out keeps the bound.
//! The slot-aware bottleneck ([`ProblemModel::slot_aware_bottleneck_cycles`])
//! is the bottleneck with each stage replaced by its period: still a lower
//! bound on the simulated steady-state interval, never below the bottleneck.

use crate::cost::{CostError, bounded_op_cost, div_ceil, input_bytes, op_cost, weight_bytes_read};
use crate::engine::{SimOptions, Switching};
use crate::graph::{Graph, Source, numel};
use crate::spec::{ChipletId, HwSpec, LinkId, MAX_RUN_CYCLES};

/// Chiplets that hold any set of ops at the same cost and SRAM need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChipClass {
    /// Index into `HwSpec::chiplet_types`.
    pub type_idx: usize,
    pub sram_bytes: u64,
    /// Whether weights may stream from off-package memory.
    pub can_stream: bool,
}

/// Compute and memory cycles of ops for one micro-batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageCost {
    pub cycles: u64,
    /// Serialisation cycles on the off-package memory (streamed weights).
    pub memory_cycles: u64,
}

/// A chiplet's slots and the least time one micro-batch holds one there
/// (see "Slots" in the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotCost {
    pub stage: StageCost,
    /// Micro-batch slots ([`activation_slots`]; `u64::MAX`: unbounded).
    pub slots: u64,
    /// A lower bound on how long one micro-batch holds its slot.
    pub hold_cycles: u64,
}

impl SlotCost {
    /// `max(stage, ⌊hold / slots⌋)`: a lower bound on the interval between
    /// micro-batches that this chiplet allows.
    pub fn period_cycles(&self) -> u64 {
        self.stage.cycles.max(self.hold_cycles / self.slots.max(1))
    }
}

/// Micro-batch slots of a chiplet with `sram_bytes` of SRAM, of which its
/// resident weights take `resident_weight_bytes`, for activation slots of
/// `slot_bytes`: as many as fit, at least one; `u64::MAX` when a slot takes
/// nothing. The simulator caps it at the run's micro-batches
/// (`engine::plan::Plan::size_slots`).
pub fn activation_slots(sram_bytes: u64, resident_weight_bytes: u64, slot_bytes: u64) -> u64 {
    match slot_bytes {
        0 => u64::MAX,
        slot => (sram_bytes.saturating_sub(resident_weight_bytes) / slot).max(1),
    }
}

/// Where each chiplet's weights live for one placement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Residency {
    /// Weight bytes each op streams from off-package memory on every run.
    pub streamed_bytes_per_op: Vec<u64>,
    pub resident_bytes: Vec<u64>,
    pub streamed_bytes: Vec<u64>,
}

/// Cycles of a whole placement, for one micro-batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stages {
    /// Each op's cycles on its chiplet, waiting for streamed weights included.
    pub op_cycles: Vec<u64>,
    /// Each chiplet's.
    pub stage_cycles: Vec<u64>,
    /// The off-package memory's (all chiplets share it).
    pub memory_cycles: u64,
}

impl Stages {
    /// The busiest of the stages, the given links and the memory.
    pub fn bottleneck_cycles(&self, link_cycles: &[u64]) -> u64 {
        self.stage_cycles
            .iter()
            .chain(link_cycles)
            .copied()
            .chain([self.memory_cycles])
            .max()
            .unwrap_or(0)
    }
}

/// Ops grouped by chiplet (or position): `ops(g)` lists group `g`'s ops
/// ascending.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpGroups {
    flat: Vec<usize>,
    start: Vec<usize>,
}

impl OpGroups {
    /// Groups ops `0..n_ops` into `n_groups` by `group_of` (`None`: no group).
    pub fn new(n_ops: usize, n_groups: usize, group_of: impl Fn(usize) -> Option<usize>) -> Self {
        // A counting sort, so ops stay ascending within each group:
        // `start[g + 1]` counts group g, then serves as its fill cursor, and
        // ends as the start of group g + 1.
        let mut start = vec![0usize; n_groups + 1];
        for v in 0..n_ops {
            if let Some(g) = group_of(v) {
                start[g + 1] += 1;
            }
        }
        let mut before = 0;
        for slot in &mut start[1..] {
            let count = *slot;
            *slot = before;
            before += count;
        }
        let mut flat = vec![0usize; before];
        for v in 0..n_ops {
            if let Some(g) = group_of(v) {
                flat[start[g + 1]] = v;
                start[g + 1] += 1;
            }
        }
        OpGroups { flat, start }
    }

    pub fn n_groups(&self) -> usize {
        self.start.len() - 1
    }

    /// The ops of group `g`, ascending.
    pub fn ops(&self, g: usize) -> &[usize] {
        &self.flat[self.start[g]..self.start[g + 1]]
    }
}

/// The model of one graph on one package (see the module documentation).
/// Built by [`ProblemModel::new`]; read-only afterwards.
#[derive(Clone, Debug)]
pub struct ProblemModel<'a> {
    pub spec: &'a HwSpec,
    pub graph: &'a Graph,
    pub n_ops: usize,
    pub n_chiplets: usize,
    pub weight_bytes: Vec<u64>,
    pub weight_read_bytes: Vec<u64>,
    pub output_bytes: Vec<u64>,
    pub graph_input_bytes: Vec<u64>,
    pub io_bytes: Vec<u64>,
    /// What is live while the op runs wherever it runs: its output, its
    /// graph inputs and each distinct producer's output.
    pub activation_floor_bytes: Vec<u64>,
    /// `op_cost(op, type).cycles`, by chiplet type, then op.
    pub op_cycles: Vec<Vec<u64>>,
    /// Distinct classes, in order of their first chiplet.
    pub classes: Vec<ChipClass>,
    /// Index into `classes` of each chiplet.
    pub class_of: Vec<usize>,
    /// The chiplet at each pipeline position, and each chiplet's position.
    pub pipeline_order: Vec<usize>,
    pub position_of: Vec<usize>,
    pub packet_bytes: u64,
    pub switching: Switching,
    /// Distinct link bandwidths, ascending, and each link's index into them.
    pub bandwidths: Vec<u64>,
    pub bandwidth_of_link: Vec<usize>,
    /// Serialisation cycles of each op's output on a link, by bandwidth
    /// index, then op.
    pub output_serialisation_cycles: Vec<Vec<u64>>,
    /// Least cycles from a tensor's sending until it is on its destination:
    /// its serialisation on the fastest link plus the least link latency
    /// (see "Slots"); empty without the transfer tables.
    pub arrival_floor_cycles: Vec<u64>,
    /// Least cycles from a tensor's sending until its last packet has left
    /// the first link: its serialisation on the fastest link.
    pub departure_floor_cycles: Vec<u64>,
    producers: OpGroups,
    consumers: OpGroups,
}

/// Working memory of [`ProblemModel::activation_peak_bytes_of`], reusable
/// across calls to avoid allocating per call; its size follows the op set,
/// not the graph.
#[derive(Clone, Debug, Default)]
pub struct PeakScratch {
    /// Per walk position: bytes of own tensors freed after it.
    freed: Vec<u64>,
    /// Per walk position: bytes of remote tensors first and last read there.
    arrive: Vec<u64>,
    leave: Vec<u64>,
    /// (remote producer, walk position of a reader).
    reads: Vec<(usize, usize)>,
}

impl<'a> ProblemModel<'a> {
    /// Precomputes the model. Only the transfer quantities (`packet_bytes`,
    /// `switching` and what derives from them) read `options`.
    pub fn new(spec: &'a HwSpec, graph: &'a Graph, options: &SimOptions) -> ProblemModel<'a> {
        let mut m = ProblemModel::for_sram(spec, graph);
        m.op_cycles = spec
            .chiplet_types
            .iter()
            .map(|t| graph.ops().iter().map(|op| op_cost(op, t).cycles).collect())
            .collect();
        m.bandwidths = spec
            .links
            .iter()
            .map(|l| l.bandwidth_bytes_per_cycle)
            .collect();
        m.bandwidths.sort_unstable();
        m.bandwidths.dedup();
        m.bandwidth_of_link = spec
            .links
            .iter()
            .map(|l| {
                m.bandwidths
                    .binary_search(&l.bandwidth_bytes_per_cycle)
                    .expect("every bandwidth is listed")
            })
            .collect();
        m.output_serialisation_cycles = m
            .bandwidths
            .iter()
            .map(|&bw| {
                m.output_bytes
                    .iter()
                    .map(|&b| serialisation_cycles(b, options.packet_bytes, bw))
                    .collect()
            })
            .collect();
        m.packet_bytes = options.packet_bytes;
        m.switching = options.switching;
        let least_latency = spec.links.iter().map(|l| l.latency_cycles).min();
        (m.arrival_floor_cycles, m.departure_floor_cycles) =
            match (m.output_serialisation_cycles.last(), least_latency) {
                (Some(fastest), Some(latency)) => (
                    fastest.iter().map(|&c| c + latency).collect(),
                    fastest.clone(),
                ),
                // No links: no tensor ever leaves a chiplet.
                _ => (vec![0; m.n_ops], vec![0; m.n_ops]),
            };
        m
    }

    /// The model without its cycle and transfer tables (`op_cycles`,
    /// `bandwidths`, `bandwidth_of_link` and `output_serialisation_cycles`
    /// are empty): all the SRAM rule and weight residency read. For the
    /// one-placement wrappers in `constraints` and `cost`, called once per
    /// candidate placement, where building those tables would cost more
    /// than the rule on small graphs.
    pub(crate) fn for_sram(spec: &'a HwSpec, graph: &'a Graph) -> ProblemModel<'a> {
        let ops = graph.ops();
        let n_ops = ops.len();
        let n_chiplets = spec.n_chiplets();
        // Sized up front: this runs once per `constraints::check`, where
        // growing vectors would cost more than the walk itself.
        let mut producers = Vec::with_capacity(ops.iter().map(|op| op.inputs.len()).sum());
        let mut producer_start = Vec::with_capacity(n_ops + 1);
        producer_start.push(0);
        for op in ops {
            let first = producers.len();
            producers.extend(op.inputs.iter().filter_map(|x| match x.source {
                Source::Op(p) => Some(p.idx()),
                Source::GraphInput(_) => None,
            }));
            producers[first..].sort_unstable();
            let distinct = dedup_tail(&mut producers, first);
            producer_start.push(first + distinct);
        }
        let mut consumers = Vec::with_capacity(graph.edges().len());
        let mut consumer_start = Vec::with_capacity(n_ops + 1);
        consumer_start.push(0);
        for op in ops {
            // `Graph::consumers` lists distinct consumers in topological order.
            consumers.extend(graph.consumers(op.id).iter().map(|q| q.idx()));
            consumer_start.push(consumers.len());
        }
        let producers = OpGroups {
            flat: producers,
            start: producer_start,
        };
        let consumers = OpGroups {
            flat: consumers,
            start: consumer_start,
        };
        let output_bytes: Vec<u64> = ops.iter().map(|op| op.output_bytes).collect();
        let graph_input_bytes: Vec<u64> = ops
            .iter()
            .map(|op| {
                op.inputs
                    .iter()
                    .filter(|x| matches!(x.source, Source::GraphInput(_)))
                    .map(|x| numel(&x.shape) * op.dtype.bytes())
                    .sum()
            })
            .collect();
        let activation_floor_bytes = (0..n_ops)
            .map(|v| {
                output_bytes[v]
                    + graph_input_bytes[v]
                    + producers
                        .ops(v)
                        .iter()
                        .map(|&p| output_bytes[p])
                        .sum::<u64>()
            })
            .collect();
        let mut classes: Vec<ChipClass> = Vec::new();
        let class_of = spec
            .chiplets
            .iter()
            .map(|chip| {
                let class = ChipClass {
                    type_idx: chip.type_idx,
                    sram_bytes: spec.chiplet_types[chip.type_idx].sram_bytes(),
                    can_stream: spec
                        .memory
                        .as_ref()
                        .is_some_and(|m| m.weight_streaming && m.chiplets.contains(&chip.id)),
                };
                match classes.iter().position(|&k| k == class) {
                    Some(k) => k,
                    None => {
                        classes.push(class);
                        classes.len() - 1
                    }
                }
            })
            .collect();
        ProblemModel {
            spec,
            graph,
            n_ops,
            n_chiplets,
            weight_bytes: ops.iter().map(|op| op.weight_bytes).collect(),
            weight_read_bytes: ops.iter().map(weight_bytes_read).collect(),
            io_bytes: ops
                .iter()
                .map(|op| input_bytes(op) + op.output_bytes)
                .collect(),
            output_bytes,
            graph_input_bytes,
            activation_floor_bytes,
            op_cycles: Vec::new(),
            classes,
            class_of,
            pipeline_order: spec.pipeline_order.iter().map(|c| c.idx()).collect(),
            position_of: spec.pipeline_positions(),
            packet_bytes: 0,
            switching: Switching::StoreAndForward,
            bandwidths: Vec::new(),
            bandwidth_of_link: Vec::new(),
            output_serialisation_cycles: Vec::new(),
            arrival_floor_cycles: Vec::new(),
            departure_floor_cycles: Vec::new(),
            producers,
            consumers,
        }
    }

    /// The distinct ops `v` reads, ascending.
    pub fn producers(&self, v: usize) -> &[usize] {
        self.producers.ops(v)
    }

    /// The distinct ops that read `v`, ascending.
    pub fn consumers(&self, v: usize) -> &[usize] {
        self.consumers.ops(v)
    }

    /// The class of chiplet `c`.
    pub fn class_of_chiplet(&self, c: usize) -> ChipClass {
        self.classes[self.class_of[c]]
    }

    /// The links of the route from chiplet `from` to `to` (empty when equal).
    pub fn route(&self, from: usize, to: usize) -> &'a [LinkId] {
        self.spec
            .routes
            .path(ChipletId(from as u32), ChipletId(to as u32))
    }

    /// Serialisation cycles of op `v`'s output on `link`.
    pub fn link_serialisation_cycles(&self, v: usize, link: LinkId) -> u64 {
        self.output_serialisation_cycles[self.bandwidth_of_link[link.idx()]][v]
    }

    /// Contention-free cycles from when a tensor of `bytes` is ready on
    /// chiplet `from` until its last packet has arrived on `to`.
    pub fn transfer_cycles(&self, from: usize, to: usize, bytes: u64) -> u64 {
        tandem_cycles(
            self.spec,
            self.route(from, to),
            bytes,
            self.packet_bytes,
            self.switching,
        )
    }

    // -----------------------------------------------------------------------
    // The SRAM rule on one set of ops.

    /// `peak(S)` of the SRAM rule for `S = ops` (ascending; `here(v)` must
    /// hold exactly for the ops of `S`). `scratch` is working memory a
    /// caller may reuse across calls. Takes time in the ops of `S` and the
    /// edges that touch them (a sort of the remote reads), never the graph.
    pub fn activation_peak_bytes_of(
        &self,
        ops: &[usize],
        here: impl Fn(usize) -> bool,
        scratch: &mut PeakScratch,
    ) -> u64 {
        debug_assert!(ops.windows(2).all(|w| w[0] < w[1]), "ops must ascend");
        // Walk `S` in order; `freed[r]` collects the bytes of this chiplet's
        // own tensors whose last reader here is `ops[r]`, freed once it has
        // run. (Equivalent to summing the intervals of the rule; a walk needs
        // no sort.) A remote tensor's interval runs from its first reader
        // here to its last: `arrive[r]` and `leave[r]` sum the remote tensors
        // whose first and last reader here is `ops[r]`, found by sorting the
        // (remote producer, reader position) pairs, so that the walk never
        // scans a producer's consumers.
        let PeakScratch {
            freed,
            arrive,
            leave,
            reads,
        } = scratch;
        for v in [&mut *freed, &mut *arrive, &mut *leave] {
            v.clear();
            v.resize(ops.len(), 0);
        }
        reads.clear();
        for (r, &j) in ops.iter().enumerate() {
            reads.extend(
                self.producers(j)
                    .iter()
                    .filter(|&&p| !here(p))
                    .map(|&p| (p, r)),
            );
        }
        reads.sort_unstable();
        for group in reads.chunk_by(|a, b| a.0 == b.0) {
            let bytes = self.output_bytes[group[0].0];
            arrive[group[0].1] += bytes;
            leave[group[group.len() - 1].1] += bytes;
        }
        let (mut live, mut peak) = (0u64, 0u64);
        for (r, &j) in ops.iter().enumerate() {
            live += arrive[r] + self.output_bytes[j];
            peak = peak.max(live + self.graph_input_bytes[j]);
            match self.consumers(j).iter().rev().find(|&&q| here(q)) {
                Some(&last) => {
                    let at = ops[r + 1..]
                        .binary_search(&last)
                        .expect("`here` holds exactly for `ops`");
                    freed[r + 1 + at] += self.output_bytes[j];
                }
                None => live -= self.output_bytes[j],
            }
            live -= freed[r];
            live -= leave[r];
        }
        peak
    }

    /// The SRAM need of `ops` (as for [`Self::activation_peak_bytes_of`])
    /// on a chiplet of class `class`: `weights(S) + peak(S)`.
    pub fn sram_need_bytes_of(
        &self,
        class: usize,
        ops: &[usize],
        here: impl Fn(usize) -> bool,
        scratch: &mut PeakScratch,
    ) -> u64 {
        self.sram_weight_bytes_of(class, ops) + self.activation_peak_bytes_of(ops, here, scratch)
    }

    /// `weights(S)` of the SRAM rule for `S = ops` on a chiplet of class
    /// `class`: zero where weights may stream.
    pub fn sram_weight_bytes_of(&self, class: usize, ops: &[usize]) -> u64 {
        if self.classes[class].can_stream {
            0
        } else {
            ops.iter().map(|&v| self.weight_bytes[v]).sum()
        }
    }

    /// The SRAM need of op `v` alone on a chiplet of class `class`, which no
    /// set holding `v` undercuts: its weights unless streamed, plus its
    /// activation floor.
    pub fn own_sram_need_bytes(&self, v: usize, class: usize) -> u64 {
        let weights = if self.classes[class].can_stream {
            0
        } else {
            self.weight_bytes[v]
        };
        weights + self.activation_floor_bytes[v]
    }

    // -----------------------------------------------------------------------
    // Residency and cycles on one set of ops.

    /// Weight residency of `ops` (ascending) on a chiplet of class `class`
    /// whose activation slot is `slot_bytes` (`peak(S)`; only read when the
    /// class may stream): calls `visit(v, streamed)` for each op in order.
    pub fn residency_of(
        &self,
        class: usize,
        ops: &[usize],
        slot_bytes: u64,
        mut visit: impl FnMut(usize, bool),
    ) {
        let k = self.classes[class];
        let total: u64 = ops.iter().map(|&v| self.weight_bytes[v]).sum();
        if !k.can_stream || total.saturating_add(slot_bytes) <= k.sram_bytes {
            for &v in ops {
                visit(v, false);
            }
            return;
        }
        // Room for one micro-batch's activations (the simulator's SRAM
        // slot), and at least for the largest op's inputs and output.
        let reserve = ops
            .iter()
            .map(|&v| self.io_bytes[v])
            .max()
            .unwrap_or(0)
            .max(slot_bytes);
        let mut budget = k.sram_bytes.saturating_sub(reserve);
        for &v in ops {
            let w = self.weight_bytes[v];
            if w <= budget {
                budget -= w;
                visit(v, false);
            } else {
                visit(v, true);
            }
        }
    }

    /// Op `v`'s cycles on a chiplet of type `type_idx`, waiting for its
    /// weights when they stream, and what it loads the memory with.
    pub fn op_stage_cost(&self, v: usize, type_idx: usize, streamed: bool) -> StageCost {
        let cycles = self.op_cycles[type_idx][v];
        let read = self.weight_read_bytes[v];
        match (&self.spec.memory, streamed && read > 0) {
            (Some(m), true) => {
                let ser = div_ceil(read, m.bandwidth_bytes_per_cycle);
                StageCost {
                    cycles: cycles.max(ser + m.latency_cycles),
                    memory_cycles: ser,
                }
            }
            _ => StageCost {
                cycles,
                memory_cycles: 0,
            },
        }
    }

    /// Stage and memory cycles of `ops` (as for
    /// [`Self::activation_peak_bytes_of`]) on a chiplet of class `class`.
    pub fn stage_cost_of(
        &self,
        class: usize,
        ops: &[usize],
        here: impl Fn(usize) -> bool,
        scratch: &mut PeakScratch,
    ) -> StageCost {
        // Only a chiplet that may stream reads its slot.
        let slot = if self.classes[class].can_stream {
            self.activation_peak_bytes_of(ops, here, scratch)
        } else {
            0
        };
        self.stage_cost_with_slot(class, ops, slot)
    }

    /// [`Self::stage_cost_of`] with the activation slot `peak(S)` known.
    pub fn stage_cost_with_slot(&self, class: usize, ops: &[usize], slot_bytes: u64) -> StageCost {
        let k = self.classes[class];
        let mut sum = StageCost::default();
        self.residency_of(class, ops, slot_bytes, |v, streamed| {
            let c = self.op_stage_cost(v, k.type_idx, streamed);
            sum.cycles += c.cycles;
            sum.memory_cycles += c.memory_cycles;
        });
        sum
    }

    /// Stage cycles, slots and hold of `ops` (as for
    /// [`Self::activation_peak_bytes_of`]) on a chiplet of class `class`
    /// whose activation slot is `slot_bytes` (`peak(S)`): see "Slots".
    pub fn slot_cost_of(
        &self,
        class: usize,
        ops: &[usize],
        here: impl Fn(usize) -> bool,
        slot_bytes: u64,
    ) -> SlotCost {
        let k = self.classes[class];
        let mut cycles = Vec::with_capacity(ops.len());
        let mut stage = StageCost::default();
        let mut resident = 0u64;
        self.residency_of(class, ops, slot_bytes, |v, streamed| {
            let c = self.op_stage_cost(v, k.type_idx, streamed);
            cycles.push(c.cycles);
            stage.cycles += c.cycles;
            stage.memory_cycles += c.memory_cycles;
            if !streamed {
                resident += self.weight_bytes[v];
            }
        });
        let slots = activation_slots(k.sram_bytes, resident, slot_bytes);
        // Earliest finish of each op after admission, and the critical path.
        let mut finish = vec![0u64; ops.len()];
        let mut starts: Vec<(u64, u64)> = Vec::with_capacity(ops.len());
        let (mut path, mut tail) = (0u64, u64::MAX);
        for (r, &v) in ops.iter().enumerate() {
            let mut est = 0u64;
            for &p in self.producers(v) {
                let ready = if here(p) {
                    let at = ops[..r]
                        .binary_search(&p)
                        .expect("a local producer precedes its reader");
                    finish[at]
                } else {
                    self.arrival_floor_cycles[p]
                };
                est = est.max(ready);
            }
            finish[r] = est.saturating_add(cycles[r]);
            starts.push((est, cycles[r]));
            let readers = self.consumers(v);
            let departure = if readers.iter().any(|&q| !here(q)) {
                self.departure_floor_cycles[v]
            } else {
                0
            };
            path = path.max(finish[r].saturating_add(departure));
            if !readers.iter().any(|&q| here(q)) {
                tail = tail.min(departure);
            }
        }
        // One engine: the ops that cannot start before `r` run after it.
        starts.sort_unstable();
        let (mut after, mut engine) = (0u64, 0u64);
        for &(est, c) in starts.iter().rev() {
            after = after.saturating_add(c);
            engine = engine.max(est.saturating_add(after));
        }
        let hold = if ops.is_empty() {
            0
        } else {
            path.max(engine.saturating_add(tail))
        };
        SlotCost {
            stage,
            slots,
            hold_cycles: hold,
        }
    }

    // -----------------------------------------------------------------------
    // Whole placements (`chip_of[v]`: op v's chiplet).

    /// Each chiplet's ops.
    pub fn members(&self, chip_of: &[ChipletId]) -> OpGroups {
        OpGroups::new(self.n_ops, self.n_chiplets, |v| Some(chip_of[v].idx()))
    }

    /// `peak(S)` of each chiplet.
    pub fn activation_peak_bytes(&self, chip_of: &[ChipletId]) -> Vec<u64> {
        let members = self.members(chip_of);
        let mut scratch = PeakScratch::default();
        (0..self.n_chiplets)
            .map(|c| {
                let here = |v: usize| chip_of[v].idx() == c;
                self.activation_peak_bytes_of(members.ops(c), here, &mut scratch)
            })
            .collect()
    }

    /// Each chiplet's SRAM need.
    pub fn sram_need_bytes(&self, chip_of: &[ChipletId]) -> Vec<u64> {
        let members = self.members(chip_of);
        let mut scratch = PeakScratch::default();
        (0..self.n_chiplets)
            .map(|c| {
                let here = |v: usize| chip_of[v].idx() == c;
                self.sram_need_bytes_of(self.class_of[c], members.ops(c), here, &mut scratch)
            })
            .collect()
    }

    /// Weight residency of every chiplet, with each chiplet's activation
    /// slot given (`activation_peak_bytes`, which the simulator computes
    /// once per run for its slots too).
    pub fn residency(&self, chip_of: &[ChipletId], slot_bytes: &[u64]) -> Residency {
        let mut r = Residency {
            streamed_bytes_per_op: vec![0; self.n_ops],
            resident_bytes: vec![0; self.n_chiplets],
            streamed_bytes: vec![0; self.n_chiplets],
        };
        assert_eq!(slot_bytes.len(), self.n_chiplets, "one slot per chiplet");
        let members = self.members(chip_of);
        for (c, &slot) in slot_bytes.iter().enumerate() {
            self.residency_of(self.class_of[c], members.ops(c), slot, |v, streamed| {
                if streamed {
                    r.streamed_bytes_per_op[v] = self.weight_read_bytes[v];
                    r.streamed_bytes[c] += self.weight_bytes[v];
                } else {
                    r.resident_bytes[c] += self.weight_bytes[v];
                }
            });
        }
        r
    }

    /// Every op's, chiplet's and the memory's cycles.
    pub fn stages(&self, chip_of: &[ChipletId]) -> Stages {
        let mut s = Stages {
            op_cycles: vec![0; self.n_ops],
            stage_cycles: vec![0; self.n_chiplets],
            memory_cycles: 0,
        };
        let members = self.members(chip_of);
        let mut scratch = PeakScratch::default();
        for c in 0..self.n_chiplets {
            let (class, ops) = (self.class_of[c], members.ops(c));
            let k = self.classes[class];
            let slot = if k.can_stream {
                self.activation_peak_bytes_of(ops, |v| chip_of[v].idx() == c, &mut scratch)
            } else {
                0
            };
            self.residency_of(class, ops, slot, |v, streamed| {
                let cost = self.op_stage_cost(v, k.type_idx, streamed);
                s.op_cycles[v] = cost.cycles;
                s.stage_cycles[c] += cost.cycles;
                s.memory_cycles += cost.memory_cycles;
            });
        }
        s
    }

    /// Each link's serialisation cycles for one micro-batch: every op's
    /// output, once to each other chiplet that reads it, over its route.
    pub fn link_cycles(&self, chip_of: &[ChipletId]) -> Vec<u64> {
        let mut load = vec![0u64; self.spec.links.len()];
        let mut dsts = Vec::new();
        for u in 0..self.n_ops {
            let src = chip_of[u].idx();
            dsts.clear();
            dsts.extend(
                self.consumers(u)
                    .iter()
                    .map(|&q| chip_of[q].idx())
                    .filter(|&d| d != src),
            );
            dsts.sort_unstable();
            dsts.dedup();
            for &d in &dsts {
                for &l in self.route(src, d) {
                    load[l.idx()] += self.link_serialisation_cycles(u, l);
                }
            }
        }
        load
    }

    /// The busiest of the stages, the links and the memory.
    pub fn bottleneck_cycles(&self, chip_of: &[ChipletId]) -> u64 {
        self.stages(chip_of)
            .bottleneck_cycles(&self.link_cycles(chip_of))
    }

    /// Each chiplet's [`SlotCost`] (see "Slots").
    pub fn slot_costs(&self, chip_of: &[ChipletId]) -> Vec<SlotCost> {
        let members = self.members(chip_of);
        let mut scratch = PeakScratch::default();
        (0..self.n_chiplets)
            .map(|c| {
                let here = |v: usize| chip_of[v].idx() == c;
                let ops = members.ops(c);
                let peak = self.activation_peak_bytes_of(ops, here, &mut scratch);
                self.slot_cost_of(self.class_of[c], ops, here, peak)
            })
            .collect()
    }

    /// The busiest of the chiplets' slot-aware periods, the links and the
    /// memory: a lower bound on the steady-state interval that counts SRAM
    /// slots, never below [`Self::bottleneck_cycles`].
    pub fn slot_aware_bottleneck_cycles(&self, chip_of: &[ChipletId]) -> u64 {
        let costs = self.slot_costs(chip_of);
        let memory: u64 = costs.iter().map(|c| c.stage.memory_cycles).sum();
        costs
            .iter()
            .map(SlotCost::period_cycles)
            .chain(self.link_cycles(chip_of))
            .chain([memory])
            .max()
            .unwrap_or(0)
    }

    /// Inferences per second at one micro-batch every `interval_cycles`
    /// (`None` for a zero interval): `batch × clock / interval`, with the
    /// batch the first graph input's leading dimension.
    pub fn inferences_per_s(&self, interval_cycles: u64) -> Option<f64> {
        let batch = self
            .graph
            .inputs()
            .first()
            .and_then(|i| i.shape.first().copied())
            .unwrap_or(1);
        (interval_cycles > 0)
            .then(|| batch as f64 * self.spec.clock_mhz * 1e6 / interval_cycles as f64)
    }
}

/// Refuses a (spec, graph, options) whose cycles could overflow: an op
/// whose cycles on some chiplet type exceed
/// [`MAX_OP_CYCLES`](crate::spec::MAX_OP_CYCLES)
/// ([`CostError::OpCycles`], naming the op and the type), or a run that could
/// last past [`MAX_RUN_CYCLES`] ([`CostError::RunCycles`]).
///
/// The run's bound is the sum of every activity's duration (see
/// [`MAX_RUN_CYCLES`] for why no event time can exceed it), per micro-batch:
/// each op's most cycles on any type; the streaming of its weights (memory
/// service twice, once as the memory's load and once as the op's wait, plus
/// latency and the bytes read); and its output sent to each of up to
/// `min(consumers, n_chiplets − 1)` other chiplets over up to the longest
/// route's hops, each hop counted as the slowest link's serialisation plus
/// every packet's largest link latency plus the bytes themselves. It is
/// computed in `u128` with saturation, so it is itself never wrapped. Once
/// this passes, every sum [`ProblemModel`] forms over ops and links (stage
/// cycles, link loads, bottlenecks) is below it too.
pub fn check_cycle_bounds(
    spec: &HwSpec,
    graph: &Graph,
    options: &SimOptions,
) -> Result<(), CostError> {
    let packet_bytes = options.packet_bytes.max(1);
    let min_bandwidth = spec
        .links
        .iter()
        .map(|l| l.bandwidth_bytes_per_cycle)
        .min()
        .unwrap_or(1);
    let max_latency = spec
        .links
        .iter()
        .map(|l| l.latency_cycles)
        .max()
        .unwrap_or(0);
    let max_hops = spec.routes.max_hops() as u128;
    let other_chiplets = spec.n_chiplets().saturating_sub(1);
    let mut per_microbatch = 0u128;
    let mut add = |x: u128| per_microbatch = per_microbatch.saturating_add(x);
    for op in graph.ops() {
        let mut worst = 0u64;
        for ty in &spec.chiplet_types {
            worst = worst.max(bounded_op_cost(op, ty)?.cycles);
        }
        add(u128::from(worst));
        let read = weight_bytes_read(op);
        if let (Some(m), true) = (&spec.memory, read > 0) {
            let ser = u128::from(div_ceil(read, m.bandwidth_bytes_per_cycle));
            add(2 * ser + u128::from(m.latency_cycles) + u128::from(read));
        }
        let destinations = graph.consumers(op.id).len().min(other_chiplets) as u128;
        if destinations > 0 {
            let bytes = op.output_bytes;
            let packets = u128::from(div_ceil(bytes, packet_bytes));
            let hop = u128::from(serialisation_cycles(bytes, packet_bytes, min_bandwidth))
                + packets * u128::from(max_latency)
                + u128::from(bytes);
            add(destinations.saturating_mul(max_hops).saturating_mul(hop));
        }
    }
    let bound = per_microbatch.saturating_mul(u128::from(options.microbatches));
    if bound > u128::from(MAX_RUN_CYCLES) {
        return Err(CostError::RunCycles {
            microbatches: options.microbatches,
            bound,
        });
    }
    Ok(())
}

/// Removes repeats from the sorted `v[first..]` in place; returns how many
/// remain.
fn dedup_tail(v: &mut Vec<usize>, first: usize) -> usize {
    let mut kept = first;
    for r in first..v.len() {
        if kept == first || v[kept - 1] != v[r] {
            v[kept] = v[r];
            kept += 1;
        }
    }
    v.truncate(kept);
    kept - first
}

/// Serialisation cycles of a tensor of `bytes` on a link of `bandwidth`
/// bytes per cycle, in packets of at most `packet_bytes`: full packets, then
/// the remainder.
pub fn serialisation_cycles(bytes: u64, packet_bytes: u64, bandwidth: u64) -> u64 {
    let full = bytes / packet_bytes;
    let rest = bytes - full * packet_bytes;
    full * div_ceil(packet_bytes, bandwidth) + div_ceil(rest, bandwidth)
}

/// Contention-free cycles from the moment a tensor of `bytes` is ready until
/// its last packet has arrived at the end of `path`. The `k` packets
/// crossing `h` links are a tandem of deterministic FIFO servers, whose
/// departures follow `D(i, j) = max(A(i, j), D(i − 1, j)) + s(i, j)` with
/// `A(i, j) = D(i, j − 1) + latency(j − 1)` (store-and-forward; cut-through
/// lets a packet's head leave a hop once it has arrived, but never finish
/// before its tail has).
pub fn transfer_cycles(spec: &HwSpec, path: &[LinkId], bytes: u64, options: &SimOptions) -> u64 {
    tandem_cycles(spec, path, bytes, options.packet_bytes, options.switching)
}

fn tandem_cycles(
    spec: &HwSpec,
    path: &[LinkId],
    bytes: u64,
    packet_bytes: u64,
    switching: Switching,
) -> u64 {
    if path.is_empty() || bytes == 0 {
        return 0;
    }
    let p = packet_bytes;
    let k = div_ceil(bytes, p);
    // avail[i] / tail_in[i]: when packet i may start leaving / has fully
    // arrived at the current chiplet.
    let mut avail: Vec<u64> = vec![0; k as usize];
    let mut tail_in: Vec<u64> = vec![0; k as usize];
    for (j, link) in path.iter().enumerate() {
        let l = spec.link(*link);
        let mut free = 0u64;
        for i in 0..k as usize {
            let size = p.min(bytes - i as u64 * p);
            let start = avail[i].max(free);
            let mut finish = start + div_ceil(size, l.bandwidth_bytes_per_cycle);
            if switching == Switching::CutThrough && j > 0 {
                finish = finish.max(tail_in[i]);
            }
            free = finish;
            tail_in[i] = finish + l.latency_cycles;
            avail[i] = match switching {
                Switching::StoreAndForward => finish + l.latency_cycles,
                Switching::CutThrough => start + l.latency_cycles,
            };
        }
    }
    tail_in[k as usize - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialisation_counts_whole_and_partial_packets() {
        // 10 000 bytes in 4096-byte packets on a 4 B/cycle link: two full
        // packets of 1024 cycles and 1808 bytes in 452.
        assert_eq!(serialisation_cycles(10_000, 4096, 4), 2 * 1024 + 452);
        assert_eq!(serialisation_cycles(0, 4096, 4), 0);
    }

    fn ring3(latency_cycles: u64) -> HwSpec {
        use crate::spec::{ChipletType, Constraints, Routing};
        use crate::testkit::{LinkProps, PackageBuilder, PipelineOrder, Topology};
        PackageBuilder::new("ring3")
            .clock_mhz(1000.0)
            .chiplet_type(ChipletType {
                name: "t".to_string(),
                macs_per_cycle: 16,
                array_rows: 4,
                array_cols: 4,
                vector_elems_per_cycle: 4,
                sram_kib: 1024,
                sram_bandwidth_bytes_per_cycle: 16,
                op_overhead_cycles: 10,
                energy_per_mac_pj: 1.0,
                energy_per_sram_byte_pj: 1.0,
            })
            .chiplets(3, "t")
            .topology(
                Topology::Ring {
                    bidirectional: false,
                },
                LinkProps {
                    bandwidth_bytes_per_cycle: 1,
                    latency_cycles,
                    energy_per_bit_pj: 1.0,
                },
            )
            .routing(Routing::ShortestPath)
            .pipeline_order(PipelineOrder::Ascending)
            .constraints(Constraints::none())
            .build()
            .expect("a valid package")
    }

    #[test]
    fn run_bound_counts_ops_transfers_and_microbatches() {
        let g = crate::zoo::build("mlp", &Default::default()).expect("mlp builds");
        let mut options = SimOptions::default();
        assert_eq!(check_cycle_bounds(&ring3(1), &g, &options), Ok(()));
        // One-byte packets, each paying 2^32 cycles of latency, over four
        // billion micro-batches: the bound passes 2^62.
        options.packet_bytes = 1;
        options.microbatches = u32::MAX;
        match check_cycle_bounds(&ring3(1 << 32), &g, &options) {
            Err(CostError::RunCycles {
                microbatches,
                bound,
            }) => {
                assert_eq!(microbatches, u32::MAX);
                assert!(bound > u128::from(MAX_RUN_CYCLES));
            }
            other => panic!("expected a run-cycles refusal, got {other:?}"),
        }
    }

    #[test]
    fn op_groups_keep_ops_ascending_and_skip_the_ungrouped() {
        let g = OpGroups::new(6, 3, |v| (v != 4).then_some((v * 2) % 3));
        assert_eq!(g.n_groups(), 3);
        assert_eq!(g.ops(0), &[0, 3]);
        assert_eq!(g.ops(1), &[2, 5]);
        assert_eq!(g.ops(2), &[1]);
    }
}
