//! The cycle-approximate, event-driven simulator of a placement on a package,
//! built on bevy_ecs.
//!
//! State lives in a `World` (`state.rs`). Chiplets are entities with a
//! compute engine, a ready queue, SRAM slots and an energy tally; op instances
//! (one per op per micro-batch) are entities with the count of inputs they
//! still wait for. The model (hardware, graph, options, per-op cost on each
//! chiplet type), the plan (`plan.rs`: everything that depends on the
//! placement — transfers of a micro-batch, consumer lists, SRAM slots), the
//! clock, the event queue keyed by (cycle, sequence number), the links (a
//! [`Network`], `fabric/`) and the run's tallies are resources.
//!
//! # How a run is driven, and why
//!
//! One schedule runs once per evaluation (`machine.rs`): `reset_run`,
//! `reset_chiplets` and `reset_instances` put the world back to the start for
//! the new plan, iterating the chiplet and op-instance entities with queries;
//! then `run_events` fetches its one system parameter, `Machine`
//! (every resource and query the stages touch), and loops over event times,
//! calling the machine's stages as methods, in this order, once per time:
//!
//! 1. `advance_clock`: move the clock to the earliest pending event (the
//!    engine's or the fabric's) and take every event due then;
//! 2. `finish_ops`: give back SRAM slots (admitting the micro-batches that
//!    waited), retire finished op instances, wake local consumers, and queue
//!    transfers to remote consumers;
//! 3. `send_transfers`: split each new transfer into packets and send them on
//!    the first link of their route;
//! 4. `forward_packets`: serve packets that reached an intermediate chiplet
//!    on the next link of their route;
//! 5. `deliver_transfers`: hand complete tensors to their consumers;
//! 6. `start_ready_ops`: every idle chiplet with ready work starts the ready op
//!    of the earliest micro-batch, then the lowest op id.
//!
//! The stages used to be six systems in a schedule that ran once per event
//! time. Profiled with callgrind (BERT-base on `edgetpu_ring16`, 1,889 events
//! in 1,874 schedule runs), about two thirds of the instructions were bevy's
//! per-run bookkeeping — fetching the systems' 35 resource parameters, the
//! executor, the queries' archetype checks — and an evaluation took 1.3 ms.
//! The stages are strictly sequential and each event time needs all of them,
//! so nothing is gained from the executor between them; handling several
//! event times per schedule run would need a proof that the window cannot
//! reorder anything. Fetching the parameters once per evaluation and calling
//! the stages directly keeps every stage a named unit over ECS state, keeps
//! the exact event order (`tests/tests/engine_corpus.rs` checks reports and
//! traces byte for byte against the six-system engine) and pays bevy's fixed
//! cost once per evaluation instead of once per event time. See README.md's
//! performance section for the profile after the change.
//!
//! Stages touch only what the events due name: a chiplet or op instance is
//! looked up by its stable id (an `Index` from id to entity; nothing is
//! ordered by `Entity`), and a delivered tensor visits only the consumers on
//! its destination (precomputed per transfer in the plan), so the cost of a
//! run grows with its events, not with ops × chiplets.
//!
//! # Links
//!
//! Packets move through the spec's [`Network`], the link model shared with
//! synthetic traffic (see `fabric/`). With the ideal links (`Fabric`): FIFO
//! links serving one packet at a time, store-and-forward or cut-through. A
//! packet's service interval on a link is known when it joins the link's
//! queue, so the only events are a packet reaching an intermediate chiplet
//! (the fabric's own queue, taken at the event time it is due, after the
//! engine's own events of that time) and the last packet of a transfer
//! reaching its destination. Contention is exact for FIFO arbitration with far
//! fewer events than one per packet per hop. With buffered routers
//! (`BufferedFabric`) the network is stepped in every cycle in which a router
//! can act; what it reports (a transfer's last packet leaving its source, its
//! last packet delivered) becomes the engine's events, so one evaluation
//! costs about one step per flit per hop.
//!
//! # SRAM
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
//! # Off-package memory
//!
//! Weight streaming is one FIFO server shared by every chiplet: an op whose
//! weights are streamed requests them when it starts and cannot finish before
//! they have arrived.

mod machine;
mod plan;
mod report;
mod state;
mod steady;

use std::fmt;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{Schedule, ScheduleLabel, SingleThreadedExecutor};
use serde::{Deserialize, Serialize};

use crate::fabric::Network;
use crate::graph::Graph;
use crate::placement::{Placement, PlacementError};
use crate::report::{OpTimeline, SimReport, Trace, chrome_trace};
use crate::spec::{Constraints, HwSpec};
use machine::StepWork;
use plan::{Model, Plan};
use state::{
    ChipEnergy, Chiplet, Clock, ComputeEngine, EventQueue, Index, InstState, Ledger, Links,
    OpInstance, PacketTally, ReadyQueue, RunLength, SramSlots,
};

/// How packets move through intermediate chiplets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Switching {
    StoreAndForward,
    CutThrough,
}

/// How the steady-state interval is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum SteadyState {
    /// Simulate [`SimOptions::microbatches`] micro-batches, then twice as
    /// many, and so on, until the interval is converged or
    /// `max_microbatches` (or `microbatches`, if more) have been simulated. Converged: each window of the
    /// middle half of the completions agrees with their mean within
    /// `tolerance_ppm` parts per million (see `steady.rs`), so does the
    /// previous run's estimate, from half as many micro-batches, and the
    /// estimate is not below the oracle's bound (the busiest resource's work
    /// per micro-batch, `sim::oracle`) by more than the tolerance: a faster
    /// "regime" is a burst of the fill, not the steady state.
    Converge {
        tolerance_ppm: u32,
        max_microbatches: u32,
    },
    /// Simulate exactly [`SimOptions::microbatches`] micro-batches (to see a
    /// transient, say); the report says whether the interval converged.
    Fixed,
}

impl SteadyState {
    /// Converged within 1 %, up to 1,024 micro-batches.
    pub const DEFAULT: SteadyState = SteadyState::Converge {
        tolerance_ppm: 10_000,
        max_microbatches: 1024,
    };
}

impl Default for SteadyState {
    fn default() -> Self {
        SteadyState::DEFAULT
    }
}

/// Options of one simulation. (Deserialized only from what this type wrote,
/// e.g. a sweep point shipped to another process; users' options come
/// through the scenario reader, which checks them.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimOptions {
    /// Micro-batches pushed through the pipeline (≥ 1): the count simulated
    /// first when converging, or the only count when [`SteadyState::Fixed`].
    pub microbatches: u32,
    /// How the steady-state interval is obtained.
    pub steady_state: SteadyState,
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
            steady_state: SteadyState::DEFAULT,
            packet_bytes: 4096,
            switching: Switching::StoreAndForward,
            trace: false,
        }
    }
}

/// The most micro-batches one simulation takes. Every command goes through
/// [`Simulator::new`], which refuses more: the engine holds an op instance
/// per op per micro-batch, so memory and time grow with this number.
pub const MAX_MICROBATCHES: u32 = 4096;

/// The largest packet one simulation takes (1 GiB): larger values are
/// almost certainly a unit mistake, and byte counts derived from them must
/// stay far from overflow.
pub const MAX_PACKET_BYTES: u64 = 1 << 30;

/// Why a simulation could not run. (A placement that breaks a constraint
/// still runs: its violations are in the report.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    /// [`SimOptions::microbatches`] is 0.
    NoMicrobatches,
    /// [`SimOptions::packet_bytes`] is 0.
    NoPacketBytes,
    /// [`SimOptions::microbatches`] is above [`MAX_MICROBATCHES`].
    TooManyMicrobatches { found: u32 },
    /// [`SimOptions::packet_bytes`] is above [`MAX_PACKET_BYTES`].
    PacketTooLarge { found: u64 },
    /// The placement does not fit the graph or the spec.
    Placement(PlacementError),
    /// Some op's cycles, or a whole run's, could not be represented (see
    /// `problem::check_cycle_bounds`); names the op and chiplet type.
    Cost(crate::cost::CostError),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::NoMicrobatches => f.write_str("microbatches must be at least 1"),
            SimError::NoPacketBytes => f.write_str("packet_bytes must be at least 1"),
            SimError::TooManyMicrobatches { found } => write!(
                f,
                "microbatches must be at most {MAX_MICROBATCHES}, found {found}"
            ),
            SimError::PacketTooLarge { found } => write!(
                f,
                "packet_bytes must be at most {MAX_PACKET_BYTES} (1 GiB), found {found}"
            ),
            SimError::Placement(e) => e.fmt(f),
            SimError::Cost(e) => e.fmt(f),
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
    /// Bounded: see [`Trace`] and [`crate::report::MAX_TRACE_SLICES`].
    pub trace: Option<Trace>,
    /// Every op instance's start and end, recorded with the trace (not
    /// capped: two numbers per op per micro-batch).
    pub op_timeline: Option<OpTimeline>,
}

impl SimOutput {
    /// The trace as Chrome trace-event JSON, if recorded.
    pub fn trace_json(&self, clock_mhz: f64) -> Option<String> {
        self.trace.as_ref().map(|t| chrome_trace(t, clock_mhz))
    }
}

/// A simulator for one hardware spec, graph and options, reusable across
/// placements: [`Simulator::run`] resets the world's state in place instead of
/// rebuilding it.
pub struct Simulator {
    world: World,
    schedule: Schedule,
    /// The partition constraints every run's placement is checked against
    /// (SRAM capacity aside: the simulator plans SRAM itself).
    constraints: Constraints,
}

#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
struct Evaluate;

impl Simulator {
    /// Prepares the world: chiplet and op-instance entities, cost tables,
    /// links, schedule.
    pub fn new(spec: &HwSpec, graph: &Graph, options: &SimOptions) -> Result<Simulator, SimError> {
        if options.microbatches == 0 {
            return Err(SimError::NoMicrobatches);
        }
        if options.packet_bytes == 0 {
            return Err(SimError::NoPacketBytes);
        }
        if options.microbatches > MAX_MICROBATCHES {
            return Err(SimError::TooManyMicrobatches {
                found: options.microbatches,
            });
        }
        if options.packet_bytes > MAX_PACKET_BYTES {
            return Err(SimError::PacketTooLarge {
                found: options.packet_bytes,
            });
        }
        // Every event time of the longest run this simulator may do must fit.
        let longest = SimOptions {
            microbatches: match options.steady_state {
                SteadyState::Converge {
                    max_microbatches, ..
                } => max_microbatches.max(options.microbatches),
                SteadyState::Fixed => options.microbatches,
            },
            ..options.clone()
        };
        crate::problem::check_cycle_bounds(spec, graph, &longest).map_err(SimError::Cost)?;
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
        world.insert_resource(Links(Network::new(spec, options.switching)));
        world.init_resource::<PacketTally>();
        world.insert_resource(Model::new(spec, graph, options));
        world.insert_resource(index);
        world.insert_resource(RunLength(options.microbatches));
        spawn_instances(&mut world, options.microbatches);
        world.init_resource::<Plan>();
        world.init_resource::<Clock>();
        world.init_resource::<EventQueue>();
        world.init_resource::<Ledger>();
        world.init_resource::<StepWork>();
        let mut schedule = Schedule::new(Evaluate);
        schedule.set_executor(SingleThreadedExecutor::new());
        schedule.add_systems(
            (
                machine::reset_run,
                machine::reset_chiplets,
                machine::reset_instances,
                machine::run_events,
            )
                .chain(),
        );
        Ok(Simulator {
            world,
            schedule,
            constraints: spec.constraints,
        })
    }

    /// Checks placements against `constraints` instead of the spec's own
    /// (a task that replaced them). Their `sram_capacity` switch is not
    /// read: the simulator reports SRAM overflow from its own SRAM plan.
    pub fn with_constraints(mut self, constraints: Constraints) -> Simulator {
        self.constraints = constraints;
        self
    }

    /// Simulates one placement from a clean state.
    pub fn run(&mut self, placement: &Placement) -> Result<SimOutput, SimError> {
        {
            let model = self.world.resource::<Model>();
            placement.validate(&model.spec, &model.graph)?;
        }
        self.world.resource_scope(|world, mut plan: Mut<Plan>| {
            plan.rebuild(world.resource::<Model>(), placement);
        });
        let options = self.world.resource::<Model>().options.clone();
        let mut m = options.microbatches;
        let mut previous = None;
        // The busiest resource's work per micro-batch: no periodic regime is
        // faster, so an estimate below it is still a transient. Only a
        // converging run reads it; a fixed run (a search's hot path when it
        // asks for one) does not pay for the oracle.
        let bound = match options.steady_state {
            SteadyState::Fixed => 0.0,
            SteadyState::Converge { .. } => {
                let model = self.world.resource::<Model>();
                crate::oracle::analyse(&model.spec, &model.graph, placement, &options)
                    .bottleneck_cycles as f64
            }
        };
        let estimate = loop {
            spawn_instances(&mut self.world, m);
            self.world.resource_mut::<RunLength>().0 = m;
            self.world.resource_scope(|world, mut plan: Mut<Plan>| {
                plan.size_slots(world.resource::<Model>(), m);
            });
            self.schedule.run(&mut self.world);
            let completions = &self.world.resource::<Ledger>().mb_completion;
            match options.steady_state {
                SteadyState::Fixed => break steady::estimate(completions, None),
                SteadyState::Converge {
                    tolerance_ppm,
                    max_microbatches,
                } => {
                    let mut e = steady::estimate(completions, Some(tolerance_ppm));
                    // Converged also needs the previous, half as long run to
                    // agree: a transient that drifts slowly can look flat
                    // within one run's windows.
                    e.converged &= previous.is_some_and(|p: f64| {
                        (p - e.interval_cycles).abs() <= e.tolerance * e.interval_cycles
                    }) && e.interval_cycles >= bound * (1.0 - e.tolerance);
                    if e.converged || m >= max_microbatches.max(options.microbatches) {
                        break e;
                    }
                    previous = Some(e.interval_cycles);
                    m = m.saturating_mul(2).min(max_microbatches);
                }
            }
        };
        let partition = {
            let model = self.world.resource::<Model>();
            let set = Constraints {
                sram_capacity: false,
                ..self.constraints
            };
            crate::constraints::check(&model.spec, &model.graph, placement, &set)
        };
        Ok(report::build(&mut self.world, partition, estimate))
    }
}

/// Makes sure op-instance entities exist for micro-batches `0..microbatches`
/// (they are spawned once and kept for later runs).
fn spawn_instances(world: &mut World, microbatches: u32) {
    let n_ops = world.resource::<Model>().graph.ops().len();
    let have = world.resource::<Index>().insts.len();
    let want = n_ops * microbatches as usize;
    if have >= want || n_ops == 0 {
        return;
    }
    let ids: Vec<crate::graph::OpId> = world
        .resource::<Model>()
        .graph
        .ops()
        .iter()
        .map(|o| o.id)
        .collect();
    let mut new = Vec::with_capacity(want - have);
    for mb in (have / n_ops) as u32..microbatches {
        for &op in &ids {
            new.push(
                world
                    .spawn((OpInstance { op, mb }, InstState::default()))
                    .id(),
            );
        }
    }
    world.resource_mut::<Index>().insts.extend(new);
}
