//! The engine's systems: three that reset the world for a placement, and
//! `run_events`, which drives the event loop through the machine's stages.
//!
//! Each stage is a method of [`Machine`], the one system parameter that
//! holds every resource and query the stages use; `run_events` fetches it
//! once per run and calls the stages in order for each event time.

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;

use super::plan::{Model, Plan};
use super::state::{
    ChipEnergy, Chiplet, Clock, ComputeEngine, Event, EventQueue, Index, InstState, Ledger, Links,
    OpInstance, PacketTally, ReadyQueue, RunLength, SramSlots, TransferId,
};
use crate::fabric::buffered::Happening;
use crate::fabric::{Arrival, Hop, Network, Packet};
use crate::graph::OpId;
use crate::report::{TraceSlice, Track};
use crate::spec::ChipletId;
use crate::units::{Bytes, Cycles};

/// The work of one event time, passed from stage to stage.
#[derive(Resource, Default)]
pub(super) struct StepWork {
    /// Due now, by the stage that handles them (each in scheduling order).
    ops_finished: Vec<(OpId, u32)>,
    arrivals: Vec<Arrival>,
    /// What buffered routers did in this cycle.
    happenings: Vec<Happening>,
    delivered: Vec<TransferId>,
    slots_freed: Vec<(ChipletId, u32)>,
    /// Created by this step's stages for its later stages.
    new_transfers: Vec<TransferId>,
    /// Chiplets whose engine became idle or whose ready queue grew.
    pub chips_to_check: Vec<ChipletId>,
}

impl StepWork {
    pub fn clear(&mut self) {
        self.ops_finished.clear();
        self.arrivals.clear();
        self.happenings.clear();
        self.delivered.clear();
        self.slots_freed.clear();
        self.new_transfers.clear();
        self.chips_to_check.clear();
    }
}

/// Resets the run-wide resources: clock, queues, links, tallies.
#[allow(clippy::too_many_arguments)]
pub(super) fn reset_run(
    model: Res<Model>,
    run: Res<RunLength>,
    plan: Res<Plan>,
    mut clock: ResMut<Clock>,
    mut queue: ResMut<EventQueue>,
    mut links: ResMut<Links>,
    mut tally: ResMut<PacketTally>,
    mut ledger: ResMut<Ledger>,
    mut work: ResMut<StepWork>,
) {
    let mbs = run.0 as usize;
    clock.0 = Cycles::ZERO;
    queue.clear();
    queue.push(Cycles::ZERO, Event::Start);
    links.0.reset();
    if matches!(links.0, Network::Buffered(_)) {
        let n = mbs * plan.transfers_per_mb() as usize;
        tally.delivered.clear();
        tally.delivered.resize(n, 0);
        tally.departed.clear();
        tally.departed.resize(n, 0);
        tally.last_departure.clear();
        tally.last_departure.resize(n, Cycles::ZERO);
    }
    let trace = std::mem::take(&mut ledger.trace);
    let mut op_start = std::mem::take(&mut ledger.op_start);
    let mut op_end = std::mem::take(&mut ledger.op_end);
    op_start.clear();
    op_end.clear();
    if model.options.trace {
        let n = mbs * model.n_ops() as usize;
        op_start.resize(n, 0);
        op_end.resize(n, 0);
    }
    *ledger = Ledger {
        ops_done_per_mb: vec![0; mbs],
        mb_completion: vec![0; mbs],
        trace,
        op_start,
        op_end,
        ..Ledger::default()
    };
    ledger.trace.clear();
    work.clear();
}

/// Resets every chiplet for the plan.
pub(super) fn reset_chiplets(
    run: Res<RunLength>,
    plan: Res<Plan>,
    mut chips: Query<(
        &Chiplet,
        &mut ComputeEngine,
        &mut ReadyQueue,
        &mut SramSlots,
        &mut ChipEnergy,
    )>,
) {
    let mbs = run.0;
    for (chip, mut engine, mut ready, mut sram, mut energy) in &mut chips {
        let c = chip.0.idx();
        *engine = ComputeEngine::default();
        ready.clear();
        *energy = ChipEnergy::default();
        let holders = plan.holders_per_mb[c];
        let m = mbs as usize;
        let sram = &mut *sram;
        sram.low = if holders == 0 { mbs } else { 0 };
        sram.slots = plan.slots[c];
        sram.released.clear();
        sram.released.resize(m, holders == 0);
        sram.begun.clear();
        sram.begun.resize(m, false);
        sram.holders.clear();
        sram.holders.resize(m, holders);
        sram.release_at.clear();
        sram.release_at.resize(m, Cycles::ZERO);
        sram.active = 0;
        sram.peak_active = 0;
        sram.parked.clear();
    }
}

/// Resets every op instance: inputs to wait for, and the ready queues of
/// the chiplets whose ops wait for none.
pub(super) fn reset_instances(
    model: Res<Model>,
    run: Res<RunLength>,
    plan: Res<Plan>,
    index: Res<Index>,
    mut work: ResMut<StepWork>,
    mut insts: Query<(&OpInstance, &mut InstState)>,
    mut ready: Query<&mut ReadyQueue>,
) {
    for (inst, mut state) in &mut insts {
        if inst.mb >= run.0 {
            // Spawned for a longer run; not part of this one.
            continue;
        }
        let pending = model.producer_count[inst.op.idx()];
        state.inputs_pending = pending;
        if pending == 0 {
            let chip = plan.chip_of[inst.op.idx()];
            let mut queue = ready
                .get_mut(index.chips[chip.idx()])
                .expect("every chiplet has an entity");
            // The queue orders by (micro-batch, op), so the order in which
            // instances are visited does not matter.
            queue.push(inst.mb, inst.op);
            work.chips_to_check.push(chip);
        }
    }
}

/// Runs events until none is left, one pass of the stages per event time.
pub(super) fn run_events(mut m: Machine) {
    while m.advance_clock() {
        m.finish_ops();
        m.send_transfers();
        m.move_packets();
        m.deliver_transfers();
        m.start_ready_ops();
    }
}

type ChipParts = (
    &'static mut ComputeEngine,
    &'static mut ReadyQueue,
    &'static mut SramSlots,
    &'static mut ChipEnergy,
);

/// Chiplet `c`'s components (every chiplet has an entity from
/// `Simulator::new` on, so the lookup cannot fail).
fn chip_parts<'a>(
    chips: &'a mut Query<'_, '_, ChipParts>,
    index: &Index,
    c: ChipletId,
) -> (
    Mut<'a, ComputeEngine>,
    Mut<'a, ReadyQueue>,
    Mut<'a, SramSlots>,
    Mut<'a, ChipEnergy>,
) {
    chips
        .get_mut(index.chips[c.idx()])
        .expect("every chiplet has an entity")
}

/// Op `op` of micro-batch `mb`'s state (every instance has an entity).
fn instance<'a>(
    insts: &'a mut Query<'_, '_, &'static mut InstState>,
    index: &Index,
    n_ops: u32,
    mb: u32,
    op: OpId,
) -> Mut<'a, InstState> {
    insts
        .get_mut(index.insts[(mb * n_ops + op.0) as usize])
        .expect("every op instance has an entity")
}

/// Everything the stages read and write.
#[derive(SystemParam)]
pub(super) struct Machine<'w, 's> {
    model: Res<'w, Model>,
    plan: Res<'w, Plan>,
    index: Res<'w, Index>,
    run: Res<'w, RunLength>,
    clock: ResMut<'w, Clock>,
    queue: ResMut<'w, EventQueue>,
    links: ResMut<'w, Links>,
    tally: ResMut<'w, PacketTally>,
    ledger: ResMut<'w, Ledger>,
    work: ResMut<'w, StepWork>,
    chips: Query<'w, 's, ChipParts>,
    insts: Query<'w, 's, &'static mut InstState>,
}

impl Machine<'_, '_> {
    /// Moves the clock to the earliest pending event and takes every event
    /// due then, engine's and fabric's; false when none is left.
    fn advance_clock(&mut self) -> bool {
        let net_next = match &self.links.0 {
            Network::Ideal(f) => f.next_arrival(),
            Network::Buffered(f) => f.next_cycle(),
        };
        let t = match (self.queue.next_at(), net_next) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return false,
        };
        self.clock.0 = t;
        let ledger = &mut *self.ledger;
        ledger.steps += 1;
        ledger.last_cycle = ledger.last_cycle.max(t);
        let work = &mut *self.work;
        work.ops_finished.clear();
        work.arrivals.clear();
        work.happenings.clear();
        work.delivered.clear();
        work.slots_freed.clear();
        while self.queue.next_at() == Some(t) {
            let s = self.queue.pop().expect("peeked");
            ledger.events += 1;
            match s.event {
                Event::Start => {}
                Event::OpFinished { op, mb } => work.ops_finished.push((op, mb)),
                Event::TransferDelivered { transfer } => work.delivered.push(transfer),
                Event::SlotFreed { chip, mb } => work.slots_freed.push((chip, mb)),
            }
        }
        match &mut self.links.0 {
            Network::Ideal(f) => {
                while f.next_arrival() == Some(t) {
                    work.arrivals.push(f.pop_arrival().expect("peeked"));
                    ledger.events += 1;
                }
            }
            Network::Buffered(f) => {
                if net_next == Some(t) {
                    f.step(t, &mut work.happenings);
                    ledger.events += work.happenings.len() as u64;
                }
            }
        }
        true
    }

    /// Slots given back admit later micro-batches (and send what waited for
    /// them); finished ops free their engines, wake local consumers and
    /// queue their transfers to remote consumers.
    fn finish_ops(&mut self) {
        let t = self.clock.0;
        let n_ops = self.model.n_ops();
        let mbs = self.run.0;
        let work = &mut *self.work;
        for &(chip, mb) in &work.slots_freed {
            let (_, _, mut sram, _) = chip_parts(&mut self.chips, &self.index, chip);
            let sram = &mut *sram;
            sram.released[mb as usize] = true;
            sram.active -= 1;
            while sram.low < mbs && sram.released[sram.low as usize] {
                sram.low += 1;
            }
            let end = sram.low.saturating_add(sram.slots);
            sram.parked.retain(|&(m, transfer)| {
                let admitted = m < end;
                if admitted {
                    work.new_transfers.push(transfer);
                }
                !admitted
            });
            work.chips_to_check.push(chip);
        }
        let per_mb = self.plan.transfers_per_mb();
        for &(op, mb) in &work.ops_finished {
            let chip = self.plan.chip_of[op.idx()];
            let (mut engine, mut ready, mut sram, _) =
                chip_parts(&mut self.chips, &self.index, chip);
            engine.busy = false;
            work.chips_to_check.push(chip);
            let done = &mut self.ledger.ops_done_per_mb[mb as usize];
            *done += 1;
            if *done == n_ops {
                self.ledger.mb_completion[mb as usize] = t.get();
            }
            sram.done(chip, mb, t, &mut self.queue);
            let local = &self.plan.local_consumers[op.idx()];
            for &q in self.plan.consumers(local) {
                let mut s = instance(&mut self.insts, &self.index, n_ops, mb, q);
                s.inputs_pending -= 1;
                if s.inputs_pending == 0 {
                    ready.push(mb, q);
                }
            }
            for k in self.plan.transfers_of(op) {
                work.new_transfers.push(TransferId(mb * per_mb + k));
            }
        }
    }

    /// Splits each new transfer into packets and sends them on the first
    /// link of their route, unless the destination has no SRAM slot for the
    /// micro-batch yet (then the sender keeps the tensor).
    fn send_transfers(&mut self) {
        let t = self.clock.0;
        let per_mb = self.plan.transfers_per_mb();
        let packet_bytes = self.model.options.packet_bytes;
        let mut new = std::mem::take(&mut self.work.new_transfers);
        for transfer in new.drain(..) {
            let (mb, k) = (transfer.0 / per_mb, transfer.0 % per_mb);
            let tr = self.plan.transfer(k);
            let (op, src, dst, bytes, packets) = (tr.op, tr.src, tr.dst, tr.bytes, tr.packets);
            {
                let (_, _, mut sram_dst, _) = chip_parts(&mut self.chips, &self.index, dst);
                if !sram_dst.admits(mb) {
                    sram_dst.parked.push((mb, transfer));
                    continue;
                }
                sram_dst.begin(mb);
            }
            let mut last_departure = t;
            for i in 0..packets {
                let offset = i as u64 * packet_bytes;
                let packet = Packet {
                    message: transfer.0,
                    index: i,
                    bytes: Bytes(packet_bytes.min(bytes.get() - offset)),
                    src,
                    dst,
                };
                match &mut self.links.0 {
                    Network::Ideal(f) => {
                        let hop = f.send(t, packet);
                        last_departure = hop.finish;
                        self.after_hop(&hop, op, mb, packets);
                    }
                    Network::Buffered(f) => f.send(t, packet),
                }
            }
            if matches!(self.links.0, Network::Buffered(_)) && packets > 0 {
                // The routers report when the packets leave (`move_packets`).
                continue;
            }
            // The sender's part in this transfer is done once its last
            // packet has left the first link.
            let (_, _, mut sram_src, _) = chip_parts(&mut self.chips, &self.index, src);
            sram_src.done(src, mb, last_departure, &mut self.queue);
        }
        self.work.new_transfers = new;
    }

    /// Serves packets that reached an intermediate chiplet on the next link
    /// of their route (ideal links), or takes in what the buffered routers
    /// did this cycle: link crossings for the trace, a transfer's last
    /// packet leaving its source (its share of the source's SRAM slot is then
    /// done) and its last packet delivered.
    fn move_packets(&mut self) {
        let per_mb = self.plan.transfers_per_mb();
        let arrivals = std::mem::take(&mut self.work.arrivals);
        for &a in &arrivals {
            let (mb, k) = (a.packet.message / per_mb, a.packet.message % per_mb);
            let tr = self.plan.transfer(k);
            let (op, packets) = (tr.op, tr.packets);
            let Network::Ideal(f) = &mut self.links.0 else {
                unreachable!("arrivals come from the ideal model")
            };
            let hop = f.forward(a);
            self.after_hop(&hop, op, mb, packets);
        }
        self.work.arrivals = arrivals;
        let happenings = std::mem::take(&mut self.work.happenings);
        for &h in &happenings {
            match h {
                Happening::Link {
                    packet,
                    link,
                    start,
                    finish,
                } => {
                    if self.model.options.trace {
                        let (mb, k) = (packet.message / per_mb, packet.message % per_mb);
                        let op = self.plan.transfer(k).op;
                        let l = self.model.spec.link(link);
                        self.ledger.trace.record(TraceSlice {
                            track: Track::Link {
                                id: l.id.0,
                                from: l.from.0,
                                to: l.to.0,
                            },
                            op,
                            start_cycle: start.get(),
                            end_cycle: finish.get(),
                            microbatch: mb,
                        });
                    }
                }
                Happening::Departed { packet, at } => {
                    let id = packet.message as usize;
                    let (mb, k) = (packet.message / per_mb, packet.message % per_mb);
                    let tr = self.plan.transfer(k);
                    let tally = &mut *self.tally;
                    tally.departed[id] += 1;
                    tally.last_departure[id] = tally.last_departure[id].max(at);
                    if tally.departed[id] == tr.packets {
                        let src = tr.src;
                        let (_, _, mut sram, _) = chip_parts(&mut self.chips, &self.index, src);
                        sram.done(src, mb, tally.last_departure[id], &mut self.queue);
                    }
                }
                Happening::Delivered { packet, at } => {
                    let id = packet.message as usize;
                    let k = packet.message % per_mb;
                    self.tally.delivered[id] += 1;
                    if self.tally.delivered[id] == self.plan.transfer(k).packets {
                        self.queue.push(
                            at,
                            Event::TransferDelivered {
                                transfer: TransferId(packet.message),
                            },
                        );
                    }
                }
            }
        }
        self.work.happenings = happenings;
    }

    /// Records a link service in the trace and, when it brought a
    /// transfer's last packet to its destination, schedules the delivery.
    fn after_hop(&mut self, hop: &Hop, op: OpId, mb: u32, packets: u32) {
        if self.model.options.trace {
            let link = self.model.spec.link(hop.link);
            self.ledger.trace.record(TraceSlice {
                track: Track::Link {
                    id: link.id.0,
                    from: link.from.0,
                    to: link.to.0,
                },
                op,
                start_cycle: hop.start.get(),
                end_cycle: hop.finish.get(),
                microbatch: mb,
            });
        }
        if let Some(at) = hop.delivered_at()
            && hop.packet.index + 1 == packets
        {
            self.queue.push(
                at,
                Event::TransferDelivered {
                    transfer: TransferId(hop.packet.message),
                },
            );
        }
    }

    /// Hands complete tensors to their consumers on the destination.
    fn deliver_transfers(&mut self) {
        let n_ops = self.model.n_ops();
        let per_mb = self.plan.transfers_per_mb();
        let work = &mut *self.work;
        for &transfer in &work.delivered {
            let (mb, k) = (transfer.0 / per_mb, transfer.0 % per_mb);
            let tr = self.plan.transfer(k);
            let (_, mut ready, _, _) = chip_parts(&mut self.chips, &self.index, tr.dst);
            let mut woke = false;
            for &q in self.plan.consumers(&tr.consumers) {
                let mut s = instance(&mut self.insts, &self.index, n_ops, mb, q);
                s.inputs_pending -= 1;
                if s.inputs_pending == 0 {
                    ready.push(mb, q);
                    woke = true;
                }
            }
            if woke {
                work.chips_to_check.push(tr.dst);
            }
        }
    }

    /// Every idle chiplet with ready work starts the ready op of the earliest
    /// micro-batch (then the lowest op id), once that micro-batch holds an
    /// SRAM slot there.
    fn start_ready_ops(&mut self) {
        let t = self.clock.0;
        let model = &*self.model;
        let plan = &*self.plan;
        let ledger = &mut *self.ledger;
        let work = &mut *self.work;
        work.chips_to_check.sort_unstable();
        work.chips_to_check.dedup();
        for &chip in &work.chips_to_check {
            let (mut engine, mut ready, mut sram, mut energy) =
                chip_parts(&mut self.chips, &self.index, chip);
            if engine.busy {
                continue;
            }
            match ready.next_microbatch() {
                Some(mb) if sram.admits(mb) => {}
                _ => continue,
            }
            let Some((mb, op)) = ready.pop() else {
                continue;
            };
            sram.begin(mb);
            let ty_idx = model.spec.chiplets[chip.idx()].type_idx;
            let run = &model.runs[ty_idx][op.idx()];
            let mut finish = t + run.cycles;
            let streamed = plan.streamed_bytes[op.idx()];
            if streamed > 0 {
                let mem = model
                    .spec
                    .memory
                    .as_ref()
                    .expect("streaming implies memory");
                let start = t.max(ledger.memory_free_at);
                let done = start + Bytes(streamed).cycles_at(mem.bandwidth_bytes_per_cycle);
                ledger.memory_free_at = done;
                ledger.memory_busy += done - start;
                ledger.memory_bytes += Bytes(streamed);
                ledger.memory_pj += streamed as f64 * mem.energy_per_byte_pj;
                finish = finish.max(done + Cycles(mem.latency_cycles));
                if model.options.trace {
                    ledger.trace.record(TraceSlice {
                        track: Track::Memory,
                        op,
                        start_cycle: start.get(),
                        end_cycle: done.get(),
                        microbatch: mb,
                    });
                }
            }
            engine.busy = true;
            engine.busy_cycles += (finish - t).get();
            energy.compute_pj += run.compute_pj;
            energy.sram_pj += run.sram_pj;
            self.queue.push(finish, Event::OpFinished { op, mb });
            if model.options.trace {
                let k = (mb * model.n_ops() + op.0) as usize;
                ledger.op_start[k] = t.get();
                ledger.op_end[k] = finish.get();
                ledger.trace.record(TraceSlice {
                    track: Track::Chiplet(chip.0),
                    op,
                    start_cycle: t.get(),
                    end_cycle: finish.get(),
                    microbatch: mb,
                });
            }
        }
        work.chips_to_check.clear();
    }
}
