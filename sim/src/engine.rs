//! The cycle-approximate, event-driven simulator of a placement on a package,
//! built on bevy_ecs.
//!
//! State lives in a `World`: chiplets (compute engine, ready queue, SRAM usage,
//! energy), links (a FIFO server each), operation instances (one per op per
//! micro-batch) and transfers (one per tensor per destination chiplet per
//! micro-batch) are entities with components; the clock, the event queue keyed
//! by (cycle, sequence number), and the events due now are resources. The
//! machine's steps are systems in one schedule, run by the single-threaded
//! executor in this order, once per distinct event time:
//!
//! 1. `advance_clock`: move the clock to the earliest pending event and take
//!    every event due then (in sequence order);
//! 2. `finish_ops`: retire finished op instances, release their inputs' buffers,
//!    wake local consumers, and queue transfers to remote consumers;
//! 3. `inject_transfers`: split each new transfer into packets and serve them on
//!    the first link of their route;
//! 4. `forward_packets`: serve packets that reached an intermediate chiplet on
//!    the next link of their route;
//! 5. `deliver_transfers`: hand complete tensors to their consumers;
//! 6. `start_ready_ops`: every idle chiplet with ready work starts the ready op
//!    of the earliest micro-batch, then the lowest op id.
//!
//! Systems touch only the entities named by the events due (looked up through
//! the `Index` resource), never every op or packet.
//!
//! Links are FIFO servers that serve one packet at a time: a packet that
//! reaches a link at cycle `a` starts at `max(a, free_at)` and takes
//! `ceil(bytes / bandwidth)` cycles, then `latency_cycles` to reach the far end.
//! Because packets are served in arrival order, a packet's service interval is
//! known the moment it joins the link's queue, so an event is needed only where
//! a decision waits on it: a packet reaching an intermediate chiplet (it joins
//! the next link's queue in time order), and the last packet of a transfer
//! reaching its destination. Contention is therefore simulated exactly for FIFO
//! arbitration, with far fewer events than one per packet per hop; this is what
//! keeps an evaluation near a millisecond. Store-and-forward (default): a
//! packet may leave a chiplet once it has fully arrived. Cut-through: it may
//! leave once its head has arrived (`latency_cycles` after it started), but
//! never finish leaving before it has fully arrived.
//!
//! SRAM is planned statically, as an accelerator compiler plans it: a
//! chiplet's resident weights are fixed per placement, and each micro-batch
//! gets one activation slot of the size `sim::constraints::activation_peaks`
//! gives (the peak live activations of one micro-batch run in topological
//! order, the same number the SRAM constraint checks). A chiplet holds as many
//! slots as fit beside its weights, so the simulated SRAM never holds more than
//! the constraint allows. A micro-batch takes a slot on a chiplet before its
//! first op there starts or its first tensor is sent there, and gives it back
//! when its last op there has finished and its last outgoing tensor has left
//! the first link. Work of a micro-batch without a slot waits (its sender keeps
//! the tensor): micro-batches are admitted in order, and the oldest unfinished
//! one always has a slot everywhere, so the pipeline cannot deadlock. When even
//! one slot does not fit, the run still goes ahead one micro-batch at a time
//! and the report marks the overflow.
//!
//! Off-package memory (weight streaming) is one FIFO server shared by every
//! chiplet: an op whose weights are streamed requests them when it starts and
//! cannot finish before they have arrived.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{Schedule, ScheduleLabel, SingleThreadedExecutor};
use serde::Serialize;

use crate::cost::{OpCost, div_ceil, op_cost};
use crate::graph::{Graph, OpId};
use crate::placement::{Placement, PlacementError};
use crate::report::{
    ChipletReport, EnergyReport, LinkReport, MemoryReport, REPORT_SCHEMA_VERSION, SimReport,
    TraceSlice, Track, Violation, chrome_trace,
};
use crate::spec::{ChipletId, HwSpec};

/// How packets move through intermediate chiplets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Switching {
    StoreAndForward,
    CutThrough,
}

/// Options of one simulation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimOptions {
    /// Micro-batches pushed through the pipeline (≥ 1).
    pub microbatches: u32,
    /// Largest packet a tensor is split into.
    pub packet_bytes: u64,
    pub switching: Switching,
    /// Record a timeline trace.
    pub trace: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            microbatches: 8,
            packet_bytes: 4096,
            switching: Switching::StoreAndForward,
            trace: false,
        }
    }
}

/// Why a simulation could not run. (A placement that breaks a constraint
/// still runs: its violations are in the report.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    /// [`SimOptions::microbatches`] is 0.
    NoMicrobatches,
    /// [`SimOptions::packet_bytes`] is 0.
    NoPacketBytes,
    /// The placement does not fit the graph or the spec.
    Placement(PlacementError),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::NoMicrobatches => f.write_str("microbatches must be at least 1"),
            SimError::NoPacketBytes => f.write_str("packet_bytes must be at least 1"),
            SimError::Placement(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SimError::Placement(e) => Some(e),
            _ => None,
        }
    }
}

impl From<PlacementError> for SimError {
    fn from(e: PlacementError) -> SimError {
        SimError::Placement(e)
    }
}

/// Simulates `placement` of `graph` on `spec`. For many placements of the same
/// hardware and graph, build a [`Simulator`] once and call [`Simulator::run`].
pub fn simulate(
    spec: &HwSpec,
    graph: &Graph,
    placement: &Placement,
    options: &SimOptions,
) -> Result<SimOutput, SimError> {
    Simulator::new(spec, graph, options)?.run(placement)
}

/// A report, and the trace when one was asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOutput {
    pub report: SimReport,
    pub trace: Option<Vec<TraceSlice>>,
}

impl SimOutput {
    /// The trace as Chrome trace-event JSON, if recorded.
    pub fn trace_json(&self, clock_mhz: f64) -> Option<String> {
        self.trace.as_ref().map(|t| chrome_trace(t, clock_mhz))
    }
}

/// Everything that depends only on the hardware, the graph and the options.
#[derive(Resource)]
struct Model {
    spec: HwSpec,
    graph: Graph,
    options: SimOptions,
    /// `cost[type_idx][op]`.
    cost: Vec<Vec<OpCost>>,
    /// Distinct producer ops of each op, ascending.
    producers: Vec<Vec<u32>>,
}

/// Everything that depends on the placement; rebuilt by [`Simulator::run`].
#[derive(Resource, Default)]
struct Plan {
    chip_of: Vec<u32>,
    /// Distinct remote chiplets that consume each op's output, nearest first.
    remote_dsts: Vec<Vec<u32>>,
    /// Index of each op's first transfer slot within a micro-batch.
    transfer_base: Vec<u32>,
    transfers_per_mb: u32,
    /// Weight bytes of each op streamed from off-package memory per run.
    streamed_bytes: Vec<u64>,
    resident_weights: Vec<u64>,
    streamed_weights: Vec<u64>,
    ops_placed: Vec<u32>,
    /// Activation bytes one micro-batch's slot takes on each chiplet.
    slot_bytes: Vec<u64>,
    /// Micro-batch slots each chiplet holds (≥ 1).
    slots: Vec<u32>,
    /// Per chiplet, the ops and outgoing transfers of one micro-batch there:
    /// the slot is given back when all of them are done.
    holders_per_mb: Vec<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// Nothing to do but look for ready work (the start of a run).
    Start,
    OpFinished {
        inst: u32,
    },
    /// Packet `packet` of transfer `slot` can leave the chiplet at the end of
    /// route hop `hop`; `tail_cycle` is when it has fully arrived there.
    PacketArrived {
        slot: u32,
        packet: u32,
        hop: u32,
        tail_cycle: u64,
    },
    /// The last packet of transfer `slot` reached its destination.
    TransferDelivered {
        slot: u32,
    },
    /// Micro-batch `mb` gave back its SRAM slot on chiplet `chip`.
    SlotFreed {
        chip: u32,
        mb: u32,
    },
}

/// The simulated clock, in cycles.
#[derive(Resource, Default)]
struct Clock(u64);

/// Pending events keyed by (cycle, sequence number).
#[derive(Resource, Default)]
struct EventQueue {
    heap: BinaryHeap<Reverse<(u64, u64, Event)>>,
    next_seq: u64,
}

impl EventQueue {
    fn push(&mut self, cycle: u64, event: Event) {
        self.heap.push(Reverse((cycle, self.next_seq, event)));
        self.next_seq += 1;
    }
}

/// The events due at the current cycle, by the stage that handles them.
#[derive(Resource, Default)]
struct Due {
    ops_finished: Vec<u32>,
    packets: Vec<(u32, u32, u32, u64)>,
    delivered: Vec<u32>,
    slots_freed: Vec<(u32, u32)>,
}

/// Work created during this step for later stages of the same step.
#[derive(Resource, Default)]
struct Pending {
    new_transfers: Vec<u32>,
    /// Chiplets whose engine became idle or whose ready queue grew.
    chips_to_check: Vec<u32>,
}

/// Entity handles by stable id.
#[derive(Resource, Default)]
struct Index {
    chips: Vec<Entity>,
    links: Vec<Entity>,
    insts: Vec<Entity>,
    transfers: Vec<Entity>,
}

/// Run-wide tallies.
#[derive(Resource, Default)]
struct Ledger {
    ops_done_per_mb: Vec<u32>,
    mb_completion: Vec<u64>,
    events: u64,
    steps: u64,
    last_cycle: u64,
    memory_free_at: u64,
    memory_busy_cycles: u64,
    memory_bytes: u64,
    links_pj: f64,
    memory_pj: f64,
    trace: Vec<TraceSlice>,
}

#[derive(Component)]
struct Chiplet(#[allow(dead_code)] ChipletId);

#[derive(Component, Default)]
struct ComputeEngine {
    busy: bool,
    busy_cycles: u64,
}

/// Ready op instances as (micro-batch, op id), smallest first.
#[derive(Component, Default)]
struct ReadyQueue(BinaryHeap<Reverse<(u32, u32)>>);

/// A chiplet's micro-batch slots (see the module notes on SRAM).
#[derive(Component, Default)]
struct SramSlots {
    /// Oldest micro-batch still holding or waiting for a slot here; every
    /// earlier one has given its slot back.
    low: u32,
    /// Slots held: micro-batches `low .. low + slots` may run here.
    slots: u32,
    released: Vec<bool>,
    begun: Vec<bool>,
    /// Ops and outgoing transfers of each micro-batch not yet done here.
    holders: Vec<u32>,
    /// Latest time one of them finished.
    release_at: Vec<u64>,
    active: u32,
    peak_active: u32,
    /// Transfers into this chiplet waiting for their micro-batch's slot.
    parked: Vec<(u32, u32)>,
}

impl SramSlots {
    fn admits(&self, mb: u32) -> bool {
        mb < self.low.saturating_add(self.slots)
    }

    /// Micro-batch `mb` starts using its slot.
    fn begin(&mut self, mb: u32) {
        let b = &mut self.begun[mb as usize];
        if !*b {
            *b = true;
            self.active += 1;
            self.peak_active = self.peak_active.max(self.active);
        }
    }

    /// One op or outgoing transfer of `mb` is done here at `at`; when it was
    /// the last, the slot is given back at the latest such time.
    fn done(&mut self, chip: u32, mb: u32, at: u64, queue: &mut EventQueue) {
        let m = mb as usize;
        self.holders[m] -= 1;
        self.release_at[m] = self.release_at[m].max(at);
        if self.holders[m] == 0 {
            queue.push(self.release_at[m], Event::SlotFreed { chip, mb });
        }
    }
}

#[derive(Component, Default)]
struct ChipEnergy {
    compute_pj: f64,
    sram_pj: f64,
}

#[derive(Component, Default)]
struct LinkServer {
    free_at: u64,
    busy_cycles: u64,
    bytes: u64,
    packets: u64,
}

/// Which op and micro-batch an instance entity is; its index in
/// `Index::insts` is `mb × n_ops + op`, which is what systems use.
#[derive(Component)]
#[allow(dead_code)]
struct OpInstance {
    op: u32,
    mb: u32,
}

#[derive(Component, Default)]
struct InstState {
    /// Producers whose output has not yet reached this op's chiplet.
    inputs_pending: u32,
}

#[derive(Component, Default)]
struct TransferState {
    op: u32,
    mb: u32,
    src: u32,
    dst: u32,
}

#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
struct Step;

/// A simulator for one hardware spec, graph and options, reusable across
/// placements: [`Simulator::run`] resets the world's state in place instead of
/// rebuilding it.
pub struct Simulator {
    world: World,
    schedule: Schedule,
}

impl Simulator {
    /// Prepares the world: chiplet and link entities, cost tables, schedule.
    pub fn new(spec: &HwSpec, graph: &Graph, options: &SimOptions) -> Result<Simulator, SimError> {
        if options.microbatches == 0 {
            return Err(SimError::NoMicrobatches);
        }
        if options.packet_bytes == 0 {
            return Err(SimError::NoPacketBytes);
        }
        let cost = spec
            .chiplet_types
            .iter()
            .map(|ty| graph.ops().iter().map(|op| op_cost(op, ty)).collect())
            .collect();
        let producers = graph
            .ops()
            .iter()
            .map(|op| {
                let mut p: Vec<u32> = op
                    .inputs
                    .iter()
                    .filter_map(|i| match i.source {
                        crate::graph::Source::Op(id) => Some(id.0),
                        crate::graph::Source::GraphInput(_) => None,
                    })
                    .collect();
                p.sort_unstable();
                p.dedup();
                p
            })
            .collect();
        let mut world = World::new();
        let mut index = Index::default();
        for c in &spec.chiplets {
            index.chips.push(
                world
                    .spawn((
                        Chiplet(c.id),
                        ComputeEngine::default(),
                        ReadyQueue::default(),
                        SramSlots::default(),
                        ChipEnergy::default(),
                    ))
                    .id(),
            );
        }
        for _ in &spec.links {
            index.links.push(world.spawn(LinkServer::default()).id());
        }
        let n_insts = graph.ops().len() * options.microbatches as usize;
        for i in 0..n_insts {
            let op = (i % graph.ops().len()) as u32;
            let mb = (i / graph.ops().len()) as u32;
            index.insts.push(
                world
                    .spawn((OpInstance { op, mb }, InstState::default()))
                    .id(),
            );
        }
        world.insert_resource(Model {
            spec: spec.clone(),
            graph: graph.clone(),
            options: options.clone(),
            cost,
            producers,
        });
        world.insert_resource(index);
        world.init_resource::<Plan>();
        world.init_resource::<Clock>();
        world.init_resource::<EventQueue>();
        world.init_resource::<Due>();
        world.init_resource::<Pending>();
        world.init_resource::<Ledger>();
        let mut schedule = Schedule::new(Step);
        schedule.set_executor(SingleThreadedExecutor::new());
        schedule.add_systems(
            (
                advance_clock,
                finish_ops,
                inject_transfers,
                forward_packets,
                deliver_transfers,
                start_ready_ops,
            )
                .chain(),
        );
        Ok(Simulator { world, schedule })
    }

    /// Simulates one placement from a clean state.
    pub fn run(&mut self, placement: &Placement) -> Result<SimOutput, SimError> {
        {
            let model = self.world.resource::<Model>();
            placement.validate(&model.spec, &model.graph)?;
        }
        self.reset(placement);
        while !self.world.resource::<EventQueue>().heap.is_empty() {
            self.schedule.run(&mut self.world);
        }
        Ok(self.report())
    }

    fn reset(&mut self, placement: &Placement) {
        let world = &mut self.world;
        let model: &Model = world.resource::<Model>();
        let plan = make_plan(model, placement);
        let n_ops = model.graph.ops().len();
        let mbs = model.options.microbatches;
        let n_transfers = (plan.transfers_per_mb * mbs) as usize;
        let producers_len: Vec<u32> = model.producers.iter().map(|p| p.len() as u32).collect();

        // Transfer entities come from a pool that only grows.
        let missing = n_transfers.saturating_sub(world.resource::<Index>().transfers.len());
        let new: Vec<Entity> = (0..missing)
            .map(|_| world.spawn(TransferState::default()).id())
            .collect();
        world.resource_mut::<Index>().transfers.extend(new);

        let index = world.remove_resource::<Index>().expect("index");
        for (slot, &e) in index.transfers.iter().take(n_transfers).enumerate() {
            let slot = slot as u32;
            let mb = slot / plan.transfers_per_mb.max(1);
            let within = slot % plan.transfers_per_mb.max(1);
            // Find the op whose slots contain `within`.
            let op = plan.transfer_base.partition_point(|&b| b <= within) - 1;
            let k = (within - plan.transfer_base[op]) as usize;
            let dst = plan.remote_dsts[op][k];
            *world.get_mut::<TransferState>(e).expect("transfer") = TransferState {
                op: op as u32,
                mb,
                src: plan.chip_of[op],
                dst,
            };
        }
        let mut ready: Vec<(u32, u32, u32)> = Vec::new();
        for (i, &e) in index.insts.iter().enumerate() {
            let op = i % n_ops;
            let mb = (i / n_ops) as u32;
            let pending = producers_len[op];
            *world.get_mut::<InstState>(e).expect("inst") = InstState {
                inputs_pending: pending,
            };
            if pending == 0 {
                ready.push((plan.chip_of[op], mb, op as u32));
            }
        }
        for &e in &index.chips {
            *world.get_mut::<ComputeEngine>(e).expect("chip") = ComputeEngine::default();
            world.get_mut::<ReadyQueue>(e).expect("chip").0.clear();
            *world.get_mut::<ChipEnergy>(e).expect("chip") = ChipEnergy::default();
        }
        for (c, &e) in index.chips.iter().enumerate() {
            let holders = plan.holders_per_mb[c];
            let m = mbs as usize;
            let mut sl = world.get_mut::<SramSlots>(e).expect("chip");
            sl.low = if holders == 0 { mbs } else { 0 };
            sl.slots = plan.slots[c];
            sl.released.clear();
            sl.released.resize(m, holders == 0);
            sl.begun.clear();
            sl.begun.resize(m, false);
            sl.holders.clear();
            sl.holders.resize(m, holders);
            sl.release_at.clear();
            sl.release_at.resize(m, 0);
            sl.active = 0;
            sl.peak_active = 0;
            sl.parked.clear();
        }
        for &e in &index.links {
            *world.get_mut::<LinkServer>(e).expect("link") = LinkServer::default();
        }
        let mut chips_to_check = Vec::new();
        for (chip, mb, op) in ready {
            world
                .get_mut::<ReadyQueue>(index.chips[chip as usize])
                .expect("chip")
                .0
                .push(Reverse((mb, op)));
            chips_to_check.push(chip);
        }
        world.insert_resource(index);
        world.insert_resource(plan);
        world.insert_resource(Clock(0));
        let mut queue = EventQueue::default();
        queue.push(0, Event::Start);
        world.insert_resource(queue);
        world.insert_resource(Due::default());
        world.insert_resource(Pending {
            new_transfers: Vec::new(),
            chips_to_check,
        });
        world.insert_resource(Ledger {
            ops_done_per_mb: vec![0; mbs as usize],
            mb_completion: vec![0; mbs as usize],
            ..Ledger::default()
        });
    }

    fn report(&mut self) -> SimOutput {
        let world = &mut self.world;
        let model = world.resource::<Model>();
        let plan = world.resource::<Plan>();
        let ledger = world.resource::<Ledger>();
        let index = world.resource::<Index>();
        let spec = &model.spec;
        let makespan = ledger.last_cycle;
        let util = |busy: u64| {
            if makespan == 0 {
                0.0
            } else {
                busy as f64 / makespan as f64
            }
        };
        let mut violations = Vec::new();
        let mut energy = EnergyReport {
            links_pj: ledger.links_pj,
            memory_pj: ledger.memory_pj,
            ..EnergyReport::default()
        };
        let mut chiplets = Vec::with_capacity(spec.chiplets.len());
        for (c, &e) in index.chips.iter().enumerate() {
            let engine = world.get::<ComputeEngine>(e).expect("chip");
            let sram = world.get::<SramSlots>(e).expect("chip");
            let en = world.get::<ChipEnergy>(e).expect("chip");
            let capacity = spec.chiplet_type(ChipletId(c as u32)).sram_bytes();
            let weights = plan.resident_weights[c];
            let one_slot = weights + plan.slot_bytes[c];
            let needed = weights + plan.slot_bytes[c] * sram.peak_active as u64;
            if one_slot > capacity {
                violations.push(Violation::SramOverflow {
                    chiplet: c as u32,
                    needed_bytes: one_slot,
                    capacity_bytes: capacity,
                    over_bytes: one_slot - capacity,
                });
            }
            energy.compute_pj += en.compute_pj;
            energy.sram_pj += en.sram_pj;
            chiplets.push(ChipletReport {
                id: c as u32,
                ops_placed: plan.ops_placed[c],
                busy_cycles: engine.busy_cycles,
                utilisation: util(engine.busy_cycles),
                sram_capacity_bytes: capacity,
                weight_bytes_resident: plan.resident_weights[c],
                weight_bytes_streamed: plan.streamed_weights[c],
                sram_slot_bytes: plan.slot_bytes[c],
                sram_slots: plan.slots[c],
                microbatches_in_flight_peak: sram.peak_active,
                sram_peak_bytes: needed,
                energy_pj: en.compute_pj + en.sram_pj,
            });
        }
        let links = spec
            .links
            .iter()
            .zip(&index.links)
            .map(|(l, &e)| {
                let s = world.get::<LinkServer>(e).expect("link");
                LinkReport {
                    id: l.id.0,
                    from: l.from.0,
                    to: l.to.0,
                    bytes: s.bytes,
                    packets: s.packets,
                    busy_cycles: s.busy_cycles,
                    utilisation: util(s.busy_cycles),
                }
            })
            .collect();
        energy.total_pj = energy.compute_pj + energy.sram_pj + energy.links_pj + energy.memory_pj;
        let mbs = model.options.microbatches as usize;
        let mut done = ledger.mb_completion.clone();
        done.sort_unstable();
        let first = ledger.mb_completion[0];
        let interval = if mbs == 1 {
            first as f64
        } else {
            let h = mbs / 2;
            (done[mbs - 1] - done[h - 1]) as f64 / (mbs - h) as f64
        };
        let batch = model
            .graph
            .inputs()
            .first()
            .and_then(|i| i.shape.first().copied())
            .unwrap_or(1);
        let clock_hz = spec.clock_mhz * 1e6;
        let report = SimReport {
            schema_version: REPORT_SCHEMA_VERSION,
            valid: violations.is_empty(),
            microbatches: model.options.microbatches,
            inferences_per_microbatch: batch,
            first_inference_latency_cycles: first,
            first_inference_latency_us: first as f64 / spec.clock_mhz,
            steady_state_interval_cycles: interval,
            throughput_inferences_per_s: if interval > 0.0 {
                batch as f64 * clock_hz / interval
            } else {
                0.0
            },
            makespan_cycles: makespan,
            chiplets,
            links,
            memory: spec.memory.as_ref().map(|_| MemoryReport {
                bytes_streamed: ledger.memory_bytes,
                busy_cycles: ledger.memory_busy_cycles,
                utilisation: util(ledger.memory_busy_cycles),
            }),
            energy,
            violations,
            events_processed: ledger.events,
            steps: ledger.steps,
        };
        let trace = model.options.trace.then(|| {
            let mut t = ledger.trace.clone();
            t.sort_by(|a, b| {
                (a.track, a.start_cycle, a.end_cycle).cmp(&(b.track, b.start_cycle, b.end_cycle))
            });
            t
        });
        SimOutput { report, trace }
    }
}

fn make_plan(model: &Model, placement: &Placement) -> Plan {
    let graph = &model.graph;
    let spec = &model.spec;
    let n_chips = spec.n_chiplets();
    let chip_of: Vec<u32> = placement.chiplet_of_op.iter().map(|c| c.0).collect();
    let mut plan = Plan {
        chip_of: chip_of.clone(),
        ..Plan::default()
    };
    let mut base = 0;
    for op in graph.ops() {
        let own = chip_of[op.id.idx()];
        let mut dsts: Vec<u32> = graph
            .consumers(op.id)
            .iter()
            .map(|q| chip_of[q.idx()])
            .filter(|&c| c != own)
            .collect();
        // Nearest destination first (then by id): the order in which a
        // producer's transfers join a shared first link depends only on the
        // route lengths, not on how chiplets happen to be numbered.
        dsts.sort_unstable();
        dsts.dedup();
        dsts.sort_by_key(|&d| (spec.routes.path(ChipletId(own), ChipletId(d)).len(), d));
        plan.transfer_base.push(base);
        base += dsts.len() as u32;
        plan.remote_dsts.push(dsts);
    }
    plan.transfers_per_mb = base;

    // One activation-peak computation serves residency and the SRAM slots.
    plan.slot_bytes = crate::constraints::activation_peaks(spec, graph, &placement.chiplet_of_op);
    let residency = crate::cost::residency(spec, graph, &placement.chiplet_of_op, &plan.slot_bytes);
    plan.streamed_bytes = residency.streamed_bytes_per_op;
    plan.resident_weights = residency.resident_bytes;
    plan.streamed_weights = residency.streamed_bytes;
    plan.ops_placed = vec![0; n_chips];
    plan.holders_per_mb = vec![0; n_chips];
    for (op, &c) in chip_of.iter().enumerate() {
        plan.ops_placed[c as usize] += 1;
        plan.holders_per_mb[c as usize] += 1 + plan.remote_dsts[op].len() as u32;
    }
    let mbs = model.options.microbatches;
    plan.slots = (0..n_chips)
        .map(|c| {
            let free = spec
                .chiplet_type(ChipletId(c as u32))
                .sram_bytes()
                .saturating_sub(plan.resident_weights[c]);
            match plan.slot_bytes[c] {
                0 => mbs,
                slot => (free / slot).clamp(1, mbs as u64) as u32,
            }
        })
        .collect();
    plan
}

fn advance_clock(
    mut clock: ResMut<Clock>,
    mut queue: ResMut<EventQueue>,
    mut due: ResMut<Due>,
    mut ledger: ResMut<Ledger>,
) {
    let Some(Reverse((t, _, _))) = queue.heap.peek() else {
        return;
    };
    let t = *t;
    clock.0 = t;
    ledger.steps += 1;
    ledger.last_cycle = ledger.last_cycle.max(t);
    due.ops_finished.clear();
    due.packets.clear();
    due.delivered.clear();
    due.slots_freed.clear();
    while let Some(Reverse((when, _, _))) = queue.heap.peek() {
        if *when != t {
            break;
        }
        let Reverse((_, _, event)) = queue.heap.pop().expect("peeked");
        ledger.events += 1;
        match event {
            Event::Start => {}
            Event::OpFinished { inst } => due.ops_finished.push(inst),
            Event::PacketArrived {
                slot,
                packet,
                hop,
                tail_cycle,
            } => due.packets.push((slot, packet, hop, tail_cycle)),
            Event::TransferDelivered { slot } => due.delivered.push(slot),
            Event::SlotFreed { chip, mb } => due.slots_freed.push((chip, mb)),
        }
    }
}

fn finish_ops(
    clock: Res<Clock>,
    model: Res<Model>,
    plan: Res<Plan>,
    index: Res<Index>,
    due: Res<Due>,
    mut pending: ResMut<Pending>,
    mut ledger: ResMut<Ledger>,
    mut queue: ResMut<EventQueue>,
    mut insts: Query<&mut InstState>,
    mut chips: Query<(&mut ComputeEngine, &mut ReadyQueue, &mut SramSlots)>,
) {
    let t = clock.0;
    let n_ops = model.graph.ops().len() as u32;
    let mbs = model.options.microbatches;
    // Slots given back: admit later micro-batches and send what waited for them.
    for &(chip, mb) in &due.slots_freed {
        let (_, _, mut sram) = chips.get_mut(index.chips[chip as usize]).expect("chip");
        let sram = &mut *sram;
        sram.released[mb as usize] = true;
        sram.active -= 1;
        while sram.low < mbs && sram.released[sram.low as usize] {
            sram.low += 1;
        }
        let (now, later): (Vec<_>, Vec<_>) = sram
            .parked
            .iter()
            .partition(|&&(m, _)| m < sram.low.saturating_add(sram.slots));
        sram.parked = later;
        pending
            .new_transfers
            .extend(now.into_iter().map(|(_, slot)| slot));
        pending.chips_to_check.push(chip);
    }
    for &inst in &due.ops_finished {
        let (op, mb) = (inst % n_ops, inst / n_ops);
        let chip = plan.chip_of[op as usize];
        let (mut engine, mut ready, mut sram) =
            chips.get_mut(index.chips[chip as usize]).expect("chip");
        engine.busy = false;
        pending.chips_to_check.push(chip);
        ledger.ops_done_per_mb[mb as usize] += 1;
        if ledger.ops_done_per_mb[mb as usize] == n_ops {
            ledger.mb_completion[mb as usize] = t;
        }
        sram.done(chip, mb, t, &mut queue);
        for q in model.graph.consumers(OpId(op)) {
            if plan.chip_of[q.idx()] != chip {
                continue;
            }
            let mut s = insts
                .get_mut(index.insts[(mb * n_ops + q.0) as usize])
                .expect("inst");
            s.inputs_pending -= 1;
            if s.inputs_pending == 0 {
                ready.0.push(Reverse((mb, q.0)));
            }
        }
        for k in 0..plan.remote_dsts[op as usize].len() as u32 {
            pending
                .new_transfers
                .push(mb * plan.transfers_per_mb + plan.transfer_base[op as usize] + k);
        }
    }
}

/// Serves one packet on link `link_idx`, available at `avail`; with
/// cut-through it may not finish before `tail_in` (its full arrival).
/// Returns (start, finish).
fn serve_packet(
    model: &Model,
    link_idx: usize,
    server: &mut LinkServer,
    ledger: &mut Ledger,
    avail: u64,
    tail_in: u64,
    bytes: u64,
    label: (u32, u32),
) -> (u64, u64) {
    let link = &model.spec.links[link_idx];
    let start = avail.max(server.free_at);
    let mut finish = start + div_ceil(bytes, link.bandwidth_bytes_per_cycle);
    if model.options.switching == Switching::CutThrough {
        finish = finish.max(tail_in);
    }
    server.free_at = finish;
    server.busy_cycles += finish - start;
    server.bytes += bytes;
    server.packets += 1;
    ledger.links_pj += bytes as f64 * 8.0 * link.energy_per_bit_pj;
    if model.options.trace {
        ledger.trace.push(TraceSlice {
            track: Track::Link {
                id: link.id.0,
                from: link.from.0,
                to: link.to.0,
            },
            name: model.graph.ops()[label.0 as usize].name.clone(),
            start_cycle: start,
            end_cycle: finish,
            microbatch: label.1,
        });
    }
    (start, finish)
}

/// Bytes of packet `i` of a tensor of `total` bytes.
fn packet_bytes(total: u64, packet: u64, i: u32) -> u64 {
    let offset = i as u64 * packet;
    packet.min(total - offset)
}

/// After a packet left hop `hop` (served over [start, finish]), either
/// schedule its arrival at the next chiplet or, at the destination, record
/// the transfer's delivery.
fn after_hop(
    model: &Model,
    queue: &mut EventQueue,
    slot: u32,
    packet: u32,
    n_packets: u32,
    hop: u32,
    n_hops: u32,
    start: u64,
    finish: u64,
    latency: u64,
) {
    let tail = finish + latency;
    if hop + 1 == n_hops {
        if packet + 1 == n_packets {
            queue.push(tail, Event::TransferDelivered { slot });
        }
    } else {
        let avail = match model.options.switching {
            Switching::StoreAndForward => tail,
            Switching::CutThrough => start + latency,
        };
        queue.push(
            avail,
            Event::PacketArrived {
                slot,
                packet,
                hop,
                tail_cycle: tail,
            },
        );
    }
}

fn inject_transfers(
    clock: Res<Clock>,
    model: Res<Model>,
    index: Res<Index>,
    mut pending: ResMut<Pending>,
    mut queue: ResMut<EventQueue>,
    mut ledger: ResMut<Ledger>,
    transfers: Query<&TransferState>,
    mut links: Query<&mut LinkServer>,
    mut sram: Query<&mut SramSlots>,
) {
    let t = clock.0;
    let mut new = std::mem::take(&mut pending.new_transfers);
    for slot in new.drain(..) {
        let tr = transfers.get(index.transfers[slot as usize]).expect("tr");
        let (op, mb, src, dst) = (tr.op, tr.mb, tr.src, tr.dst);
        {
            let mut sram_dst = sram.get_mut(index.chips[dst as usize]).expect("chip");
            if !sram_dst.admits(mb) {
                // The destination has no slot for this micro-batch yet: the
                // sender keeps the tensor until one is given back.
                sram_dst.parked.push((mb, slot));
                continue;
            }
            sram_dst.begin(mb);
        }
        let bytes = model.graph.ops()[op as usize].output_bytes;
        let path = model.spec.routes.path(ChipletId(src), ChipletId(dst));
        let n_packets = div_ceil(bytes, model.options.packet_bytes) as u32;
        let first = path[0].idx();
        let latency = model.spec.links[first].latency_cycles;
        let mut last_departure = t;
        for i in 0..n_packets {
            let b = packet_bytes(bytes, model.options.packet_bytes, i);
            let mut server = links.get_mut(index.links[first]).expect("link");
            let (start, finish) =
                serve_packet(&model, first, &mut server, &mut ledger, t, t, b, (op, mb));
            last_departure = finish;
            after_hop(
                &model,
                &mut queue,
                slot,
                i,
                n_packets,
                0,
                path.len() as u32,
                start,
                finish,
                latency,
            );
        }
        // The sender's part in this transfer is done once its last packet has
        // left the first link.
        let mut sram_src = sram.get_mut(index.chips[src as usize]).expect("chip");
        sram_src.done(src, mb, last_departure, &mut queue);
    }
    pending.new_transfers = new;
}

fn forward_packets(
    model: Res<Model>,
    index: Res<Index>,
    due: Res<Due>,
    mut queue: ResMut<EventQueue>,
    mut ledger: ResMut<Ledger>,
    transfers: Query<&TransferState>,
    mut links: Query<&mut LinkServer>,
    clock: Res<Clock>,
) {
    let t = clock.0;
    for &(slot, packet, hop, tail_in) in &due.packets {
        let tr = transfers.get(index.transfers[slot as usize]).expect("tr");
        let bytes = model.graph.ops()[tr.op as usize].output_bytes;
        let path = model.spec.routes.path(ChipletId(tr.src), ChipletId(tr.dst));
        let n_packets = div_ceil(bytes, model.options.packet_bytes) as u32;
        let next = hop + 1;
        let link = path[next as usize].idx();
        let latency = model.spec.links[link].latency_cycles;
        let b = packet_bytes(bytes, model.options.packet_bytes, packet);
        let mut server = links.get_mut(index.links[link]).expect("link");
        let (start, finish) = serve_packet(
            &model,
            link,
            &mut server,
            &mut ledger,
            t,
            tail_in,
            b,
            (tr.op, tr.mb),
        );
        after_hop(
            &model,
            &mut queue,
            slot,
            packet,
            n_packets,
            next,
            path.len() as u32,
            start,
            finish,
            latency,
        );
    }
}

fn deliver_transfers(
    model: Res<Model>,
    plan: Res<Plan>,
    index: Res<Index>,
    due: Res<Due>,
    mut pending: ResMut<Pending>,
    transfers: Query<&TransferState>,
    mut insts: Query<&mut InstState>,
    mut ready: Query<&mut ReadyQueue>,
) {
    let n_ops = model.graph.ops().len() as u32;
    for &slot in &due.delivered {
        let tr = transfers.get(index.transfers[slot as usize]).expect("tr");
        let mut queue = ready.get_mut(index.chips[tr.dst as usize]).expect("chip");
        let mut woke = false;
        for q in model.graph.consumers(OpId(tr.op)) {
            if plan.chip_of[q.idx()] != tr.dst {
                continue;
            }
            let mut s = insts
                .get_mut(index.insts[(tr.mb * n_ops + q.0) as usize])
                .expect("inst");
            s.inputs_pending -= 1;
            if s.inputs_pending == 0 {
                queue.0.push(Reverse((tr.mb, q.0)));
                woke = true;
            }
        }
        if woke {
            pending.chips_to_check.push(tr.dst);
        }
    }
}

fn start_ready_ops(
    clock: Res<Clock>,
    model: Res<Model>,
    plan: Res<Plan>,
    index: Res<Index>,
    mut pending: ResMut<Pending>,
    mut queue: ResMut<EventQueue>,
    mut ledger: ResMut<Ledger>,
    mut chips: Query<(
        &mut ComputeEngine,
        &mut ReadyQueue,
        &mut SramSlots,
        &mut ChipEnergy,
    )>,
) {
    let t = clock.0;
    let n_ops = model.graph.ops().len() as u32;
    pending.chips_to_check.sort_unstable();
    pending.chips_to_check.dedup();
    for &chip in &pending.chips_to_check {
        let (mut engine, mut ready, mut sram, mut energy) =
            chips.get_mut(index.chips[chip as usize]).expect("chip");
        if engine.busy {
            continue;
        }
        // The earliest ready micro-batch runs only once it holds a slot here.
        match ready.0.peek() {
            Some(&Reverse((mb, _))) if sram.admits(mb) => {}
            _ => continue,
        }
        let Some(Reverse((mb, op))) = ready.0.pop() else {
            continue;
        };
        sram.begin(mb);
        let ty_idx = model.spec.chiplets[chip as usize].type_idx;
        let ty = &model.spec.chiplet_types[ty_idx];
        let cost = &model.cost[ty_idx][op as usize];
        let o = &model.graph.ops()[op as usize];
        let mut finish = t + cost.cycles;
        let streamed = plan.streamed_bytes[op as usize];
        if streamed > 0 {
            let mem = model
                .spec
                .memory
                .as_ref()
                .expect("streaming implies memory");
            let start = t.max(ledger.memory_free_at);
            let done = start + div_ceil(streamed, mem.bandwidth_bytes_per_cycle);
            ledger.memory_free_at = done;
            ledger.memory_busy_cycles += done - start;
            ledger.memory_bytes += streamed;
            ledger.memory_pj += streamed as f64 * mem.energy_per_byte_pj;
            finish = finish.max(done + mem.latency_cycles);
            if model.options.trace {
                ledger.trace.push(TraceSlice {
                    track: Track::Memory,
                    name: o.name.clone(),
                    start_cycle: start,
                    end_cycle: done,
                    microbatch: mb,
                });
            }
        }
        engine.busy = true;
        engine.busy_cycles += finish - t;
        energy.compute_pj += (o.macs + o.vector_ops) as f64 * ty.energy_per_mac_pj;
        energy.sram_pj += cost.sram_bytes as f64 * ty.energy_per_sram_byte_pj;
        queue.push(
            finish,
            Event::OpFinished {
                inst: mb * n_ops + op,
            },
        );
        if model.options.trace {
            ledger.trace.push(TraceSlice {
                track: Track::Chiplet(chip),
                name: o.name.clone(),
                start_cycle: t,
                end_cycle: finish,
                microbatch: mb,
            });
        }
    }
    pending.chips_to_check.clear();
}
