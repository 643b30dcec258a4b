//! The simulator's state in the `World`: components of chiplet and
//! op-instance entities, and the run-wide resources.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use bevy_ecs::prelude::*;

use crate::fabric::Network;
use crate::graph::OpId;
use crate::report::TraceRecorder;
use crate::spec::ChipletId;
use crate::units::{Bytes, Cycles};

/// Which transfer: `micro-batch × transfers per micro-batch + k`, where `k`
/// numbers the (producer op, destination chiplet) pairs of the placement
/// (see `Plan::transfers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct TransferId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Event {
    /// Nothing to do but look for ready work (the start of a run).
    Start,
    /// Op `op` of micro-batch `mb` finished.
    OpFinished { op: OpId, mb: u32 },
    /// The last packet of the transfer reached its destination.
    TransferDelivered { transfer: TransferId },
    /// Micro-batch `mb` gave back its SRAM slot on chiplet `chip`.
    SlotFreed { chip: ChipletId, mb: u32 },
}

/// An event due at `at`; `seq` orders events of one cycle by when they were
/// scheduled.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scheduled {
    pub at: Cycles,
    pub seq: u64,
    pub event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Pending events of the engine (packets between hops are the fabric's).
#[derive(Resource, Default)]
pub(super) struct EventQueue {
    heap: BinaryHeap<Reverse<Scheduled>>,
    next_seq: u64,
}

impl EventQueue {
    pub fn push(&mut self, at: Cycles, event: Event) {
        self.heap.push(Reverse(Scheduled {
            at,
            seq: self.next_seq,
            event,
        }));
        self.next_seq += 1;
    }

    pub fn next_at(&self) -> Option<Cycles> {
        self.heap.peek().map(|Reverse(s)| s.at)
    }

    pub fn pop(&mut self) -> Option<Scheduled> {
        self.heap.pop().map(|Reverse(s)| s)
    }

    pub fn clear(&mut self) {
        self.heap.clear();
        self.next_seq = 0;
    }
}

/// The package's links: the shared link model as a resource.
#[derive(Resource)]
pub(super) struct Links(pub Network);

/// With buffered routers, packets of a transfer are delivered and leave
/// their source one by one as the routers move them; these count them, by
/// transfer id, for the current run.
#[derive(Resource, Default)]
pub(super) struct PacketTally {
    pub delivered: Vec<u32>,
    pub departed: Vec<u32>,
    pub last_departure: Vec<Cycles>,
}

/// Micro-batches in the current run (the converging loop grows it).
#[derive(Resource)]
pub(super) struct RunLength(pub u32);

/// The simulated clock.
#[derive(Resource, Default)]
pub(super) struct Clock(pub Cycles);

/// Entity handles by stable id: `chips[c]` is chiplet `c`, `insts[mb × n_ops
/// + op]` is op `op` of micro-batch `mb`. Used for lookups only; nothing is
/// ordered by `Entity`.
#[derive(Resource, Default)]
pub(super) struct Index {
    pub chips: Vec<Entity>,
    pub insts: Vec<Entity>,
}

/// Run-wide tallies.
#[derive(Resource, Default)]
pub(super) struct Ledger {
    pub ops_done_per_mb: Vec<u32>,
    pub mb_completion: Vec<u64>,
    pub events: u64,
    pub steps: u64,
    pub last_cycle: Cycles,
    pub memory_free_at: Cycles,
    pub memory_busy: Cycles,
    pub memory_bytes: Bytes,
    pub memory_pj: f64,
    pub trace: TraceRecorder,
    /// With a trace: each op instance's start and end, by `mb × n_ops + op`.
    pub op_start: Vec<u64>,
    pub op_end: Vec<u64>,
}

/// A chiplet (its id is its stable identity).
#[derive(Component)]
pub(super) struct Chiplet(pub ChipletId);

#[derive(Component, Default)]
pub(super) struct ComputeEngine {
    pub busy: bool,
    pub busy_cycles: u64,
}

/// Ready op instances, the earliest micro-batch first, then the lowest op
/// id. Keys are packed into one `u64` (micro-batch in the high half), so a
/// comparison is one integer comparison.
#[derive(Component, Default)]
pub(super) struct ReadyQueue(BinaryHeap<Reverse<u64>>);

impl ReadyQueue {
    pub fn push(&mut self, mb: u32, op: OpId) {
        self.0.push(Reverse(((mb as u64) << 32) | op.0 as u64));
    }

    /// The micro-batch of the instance that would run next.
    pub fn next_microbatch(&self) -> Option<u32> {
        self.0.peek().map(|Reverse(k)| (k >> 32) as u32)
    }

    /// Takes the instance that runs next, as (micro-batch, op).
    pub fn pop(&mut self) -> Option<(u32, OpId)> {
        self.0
            .pop()
            .map(|Reverse(k)| ((k >> 32) as u32, OpId(k as u32)))
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// A chiplet's SRAM slots, one per micro-batch in flight there (see the
/// engine's notes on SRAM).
#[derive(Component, Default)]
pub(super) struct SramSlots {
    /// Oldest micro-batch still holding or waiting for a slot here; every
    /// earlier one has given its slot back.
    pub low: u32,
    /// Slots this chiplet holds: micro-batches `low .. low + slots` may run.
    pub slots: u32,
    pub released: Vec<bool>,
    pub begun: Vec<bool>,
    /// Ops and outgoing transfers of each micro-batch not yet done here.
    pub holders: Vec<u32>,
    /// Latest time one of them finished.
    pub release_at: Vec<Cycles>,
    pub active: u32,
    pub peak_active: u32,
    /// Transfers into this chiplet waiting for their micro-batch's slot, as
    /// (micro-batch, transfer), in the order they were held back.
    pub parked: Vec<(u32, TransferId)>,
}

impl SramSlots {
    pub fn admits(&self, mb: u32) -> bool {
        mb < self.low.saturating_add(self.slots)
    }

    /// Micro-batch `mb` starts using its slot.
    pub fn begin(&mut self, mb: u32) {
        let b = &mut self.begun[mb as usize];
        if !*b {
            *b = true;
            self.active += 1;
            self.peak_active = self.peak_active.max(self.active);
        }
    }

    /// One op or outgoing transfer of `mb` is done here at `at`; when it was
    /// the last, the slot is given back at the latest such time.
    pub fn done(&mut self, chip: ChipletId, mb: u32, at: Cycles, queue: &mut EventQueue) {
        let m = mb as usize;
        self.holders[m] -= 1;
        self.release_at[m] = self.release_at[m].max(at);
        if self.holders[m] == 0 {
            queue.push(self.release_at[m], Event::SlotFreed { chip, mb });
        }
    }
}

#[derive(Component, Default)]
pub(super) struct ChipEnergy {
    pub compute_pj: f64,
    pub sram_pj: f64,
}

/// Which op and micro-batch an instance entity is.
#[derive(Component)]
pub(super) struct OpInstance {
    pub op: OpId,
    pub mb: u32,
}

#[derive(Component, Default)]
pub(super) struct InstState {
    /// Producers whose output has not yet reached this op's chiplet.
    pub inputs_pending: u32,
}
