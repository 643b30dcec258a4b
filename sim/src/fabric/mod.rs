//! The package interconnect: one model of links and packets, used by the
//! workload simulator (`engine`) and by synthetic traffic (`traffic`), so
//! that what a link does is written once.
//!
//! A directed link is a FIFO server that serves one packet at a time. A
//! packet that may leave a chiplet at cycle `a` starts on the link at
//! `max(a, free_at)`, takes `ceil(bytes / bandwidth_bytes_per_cycle)` cycles to
//! serialise, and its tail reaches the far end `latency_cycles` later. A
//! packet follows `spec.routes.path(src, dst)` hop by hop:
//! - store-and-forward: it may leave an intermediate chiplet once its tail
//!   has arrived there;
//! - cut-through: it may leave once its head has arrived (`latency_cycles`
//!   after it started on the previous link), but it cannot finish leaving
//!   before its tail has arrived.
//!
//! Because a link serves packets in the order they join its queue, a packet's
//! service interval is known the moment it joins, so the fabric needs an event
//! only where the next decision waits on time passing: a packet reaching an
//! intermediate chiplet (it joins the next link's queue in time order). The
//! fabric keeps those arrivals in its own queue, ordered by (cycle, sequence
//! number); the caller decides when to take them ([`Fabric::pop_arrival`]) and
//! forwards them ([`Fabric::forward`]), so that it can interleave them with
//! its own events. Contention is exact for FIFO arbitration, with far fewer
//! events than one per packet per hop.
//!
//! Beyond its links, a packet pays the spec's `[interconnect]` costs
//! (`sim::spec::Interconnect`; all zero without the table): an injection
//! latency before it enters its source's router, a router delay in every
//! chiplet it passes (its source's and destination's included: before it
//! may start on the next link or be ejected; with cut-through the delay
//! applies to its head), and an ejection latency at the destination.
//! Calibrated on BookSim2 (`docs/booksim.md`), these give its zero-load
//! latency.
//!
//! This model's links are unbounded queues: it has no finite buffers,
//! credits, virtual channels or allocation, which make real routers saturate
//! below their links' capacity. A spec that gives its routers buffers
//! (`[interconnect]`'s `flit_bytes`, `virtual_channels`, `buffer_flits`)
//! gets the flit-level model of [`buffered`] instead. A change to either
//! model belongs in its file, and both users (engine and traffic) get it.

pub mod buffered;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;

use crate::engine::Switching;
use crate::spec::{ChipletId, HwSpec, LinkId, RouteTable};
use crate::units::{Bytes, Cycles};

/// A packet the fabric carries from `src` to `dst` along the spec's route.
/// `message` and `index` are the caller's names for it (the engine's transfer
/// and packet number within it; traffic's injection number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Packet {
    pub message: u32,
    pub index: u32,
    pub bytes: Bytes,
    pub src: ChipletId,
    pub dst: ChipletId,
}

/// One packet's service on one link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hop {
    pub packet: Packet,
    pub link: LinkId,
    /// When the link started and finished serialising the packet.
    pub start: Cycles,
    pub finish: Cycles,
    /// When the packet's tail has passed the far end's router (for the last
    /// hop: when it is delivered, after the ejection latency).
    pub tail: Cycles,
    /// This was the route's last link: the packet is delivered at `tail`.
    pub last: bool,
}

impl Hop {
    /// When the packet reaches its destination, if this hop took it there.
    pub fn delivered_at(&self) -> Option<Cycles> {
        self.last.then_some(self.tail)
    }
}

/// A packet that reached an intermediate chiplet and may leave it at `at`;
/// its tail arrived there at `tail`. `hop` is the route position of the link
/// it came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Arrival {
    pub at: Cycles,
    seq: u64,
    pub tail: Cycles,
    pub hop: u32,
    pub packet: Packet,
}

/// What a link has done so far in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkServer {
    /// When it finishes the last packet it has accepted.
    pub free_at: Cycles,
    /// Cycles spent serialising packets, counted inside the fabric's window.
    pub busy: Cycles,
    pub bytes: Bytes,
    pub packets: u64,
}

/// A link's fixed numbers.
#[derive(Clone, Copy, Debug)]
struct LinkParams {
    bandwidth_bytes_per_cycle: u64,
    latency: Cycles,
    energy_per_bit_pj: f64,
}

impl LinkParams {
    fn of(link: &crate::spec::Link) -> LinkParams {
        LinkParams {
            bandwidth_bytes_per_cycle: link.bandwidth_bytes_per_cycle,
            latency: Cycles(link.latency_cycles),
            energy_per_bit_pj: link.energy_per_bit_pj,
        }
    }
}

/// When a packet ready at `ready` (tail in at `tail_in`) is served on a link
/// free at `free_at`: (start, finish). The one statement of the service rule.
fn service(
    link: &LinkParams,
    switching: Switching,
    ready: Cycles,
    tail_in: Cycles,
    free_at: Cycles,
    bytes: Bytes,
) -> (Cycles, Cycles) {
    let start = ready.max(free_at);
    let mut finish = start + bytes.cycles_at(link.bandwidth_bytes_per_cycle);
    if switching == Switching::CutThrough {
        finish = finish.max(tail_in);
    }
    (start, finish)
}

/// When a packet that started on a link at `start` and whose tail has passed
/// the far end's router at `tail` may leave that chiplet: store and forward
/// once all of it has; cut-through once its head has (the link latency and
/// the router delay after it started).
fn ready_at_next(
    link: &LinkParams,
    switching: Switching,
    start: Cycles,
    tail: Cycles,
    router_delay: Cycles,
) -> Cycles {
    match switching {
        Switching::StoreAndForward => tail,
        Switching::CutThrough => start + link.latency + router_delay,
    }
}

/// The links of one package as FIFO servers, and the packets between hops.
#[derive(Clone, Debug)]
pub struct Fabric {
    switching: Switching,
    links: Vec<LinkParams>,
    routes: RouteTable,
    router_delay: Cycles,
    injection_latency: Cycles,
    ejection_latency: Cycles,
    servers: Vec<LinkServer>,
    /// Busy cycles are counted only inside this window.
    window: Range<Cycles>,
    arrivals: BinaryHeap<Reverse<Arrival>>,
    next_seq: u64,
    energy_pj: f64,
}

impl Fabric {
    /// An idle fabric for `spec`'s links and routes, counting busy cycles
    /// over the whole run.
    pub fn new(spec: &HwSpec, switching: Switching) -> Fabric {
        Fabric {
            switching,
            links: spec.links.iter().map(LinkParams::of).collect(),
            routes: spec.routes.clone(),
            router_delay: Cycles(spec.interconnect.router_delay_cycles),
            injection_latency: Cycles(spec.interconnect.injection_latency_cycles),
            ejection_latency: Cycles(spec.interconnect.ejection_latency_cycles),
            servers: vec![LinkServer::default(); spec.links.len()],
            window: Cycles::ZERO..Cycles::MAX,
            arrivals: BinaryHeap::new(),
            next_seq: 0,
            energy_pj: 0.0,
        }
    }

    /// Counts busy cycles only inside `window` (a measurement window).
    pub fn with_window(mut self, window: Range<Cycles>) -> Fabric {
        self.window = window;
        self
    }

    /// Back to idle: no packets, no counts.
    pub fn reset(&mut self) {
        self.servers.fill(LinkServer::default());
        self.arrivals.clear();
        self.next_seq = 0;
        self.energy_pj = 0.0;
    }

    /// The links `packet` takes.
    pub fn route(&self, src: ChipletId, dst: ChipletId) -> &[LinkId] {
        self.routes.path(src, dst)
    }

    /// `packet` is created at its source at `now`; it joins the first
    /// link's queue after the injection latency and its source's router.
    pub fn send(&mut self, now: Cycles, packet: Packet) -> Hop {
        let ready = now + self.injection_latency + self.router_delay;
        self.serve(packet, 0, ready, ready)
    }

    /// When the earliest packet waiting at an intermediate chiplet may leave.
    pub fn next_arrival(&self) -> Option<Cycles> {
        self.arrivals.peek().map(|Reverse(a)| a.at)
    }

    /// Takes the earliest such packet (by cycle, then the order its arrival
    /// became known).
    pub fn pop_arrival(&mut self) -> Option<Arrival> {
        self.arrivals.pop().map(|Reverse(a)| a)
    }

    /// Serves an arrived packet on the next link of its route (at its `at`).
    pub fn forward(&mut self, arrival: Arrival) -> Hop {
        self.serve(
            arrival.packet,
            arrival.hop as usize + 1,
            arrival.at,
            arrival.tail,
        )
    }

    fn serve(&mut self, packet: Packet, hop: usize, ready: Cycles, tail_in: Cycles) -> Hop {
        let path = self.routes.path(packet.src, packet.dst);
        let link = path[hop];
        let last = hop + 1 == path.len();
        let params = &self.links[link.idx()];
        let server = &mut self.servers[link.idx()];
        let (start, finish) = service(
            params,
            self.switching,
            ready,
            tail_in,
            server.free_at,
            packet.bytes,
        );
        server.free_at = finish;
        let (a, b) = (start.max(self.window.start), finish.min(self.window.end));
        server.busy += b.saturating_sub(a);
        server.bytes += packet.bytes;
        server.packets += 1;
        self.energy_pj += packet.bytes.get() as f64 * 8.0 * params.energy_per_bit_pj;
        // The tail reaches the far end's router; it leaves that router (on
        // the next link, or into the ejection channel) `router_delay` later.
        let tail = finish + params.latency + self.router_delay;
        if !last {
            let at = ready_at_next(params, self.switching, start, tail, self.router_delay);
            self.arrivals.push(Reverse(Arrival {
                at,
                seq: self.next_seq,
                tail,
                hop: hop as u32,
                packet,
            }));
            self.next_seq += 1;
        }
        Hop {
            packet,
            link,
            start,
            finish,
            tail: if last {
                tail + self.ejection_latency
            } else {
                tail
            },
            last,
        }
    }

    /// One link's counts so far.
    pub fn link(&self, link: LinkId) -> &LinkServer {
        &self.servers[link.idx()]
    }

    /// Energy of every byte served so far, summed in service order.
    pub fn energy_pj(&self) -> f64 {
        self.energy_pj
    }
}

/// The link model a spec chose: the ideal one, or buffered routers when
/// `[interconnect]` gives them buffers.
#[derive(Clone, Debug)]
pub enum Network {
    Ideal(Fabric),
    Buffered(Box<buffered::BufferedFabric>),
}

impl Network {
    /// An idle network for `spec` (`switching` applies to the ideal model).
    pub fn new(spec: &HwSpec, switching: Switching) -> Network {
        match spec.interconnect.buffers {
            Some(_) => Network::Buffered(Box::new(buffered::BufferedFabric::new(spec))),
            None => Network::Ideal(Fabric::new(spec, switching)),
        }
    }

    /// Counts busy cycles only inside `window`.
    pub fn with_window(self, window: Range<Cycles>) -> Network {
        match self {
            Network::Ideal(f) => Network::Ideal(f.with_window(window)),
            Network::Buffered(f) => Network::Buffered(Box::new(f.with_window(window))),
        }
    }

    /// Back to idle: no packets, no counts.
    pub fn reset(&mut self) {
        match self {
            Network::Ideal(f) => f.reset(),
            Network::Buffered(f) => f.reset(),
        }
    }

    /// One link's counts so far.
    pub fn link(&self, link: LinkId) -> &LinkServer {
        match self {
            Network::Ideal(f) => f.link(link),
            Network::Buffered(f) => f.link(link),
        }
    }

    /// Energy of every byte sent on a link so far.
    pub fn energy_pj(&self) -> f64 {
        match self {
            Network::Ideal(f) => f.energy_pj(),
            Network::Buffered(f) => f.energy_pj(),
        }
    }
}

/// Cycles one packet of `bytes` takes along `path` of `spec` on an empty
/// network, from leaving its source to the arrival of its tail. Store and
/// forward this is `Σ_hops (ceil(bytes / bandwidth) + latency_cycles)`;
/// cut-through overlaps each hop's serialisation with the previous hop's.
pub fn zero_load_cycles(
    spec: &HwSpec,
    path: &[LinkId],
    bytes: Bytes,
    switching: Switching,
) -> Cycles {
    let i = &spec.interconnect;
    let router = Cycles(i.router_delay_cycles);
    let injected = Cycles(i.injection_latency_cycles) + router;
    let (mut ready, mut tail) = (injected, injected);
    for &l in path {
        let params = LinkParams::of(spec.link(l));
        let (start, finish) = service(&params, switching, ready, tail, Cycles::ZERO, bytes);
        tail = finish + params.latency + router;
        ready = ready_at_next(&params, switching, start, tail, router);
    }
    tail + Cycles(i.ejection_latency_cycles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ChipletType, Constraints, NoSkipping};
    use crate::testkit::{LinkProps, PackageRecipe, Topology};

    /// A chain of `n` chiplets (links both ways) whose links carry 4 bytes
    /// per cycle with 3 cycles of latency.
    fn chain(n: u32) -> HwSpec {
        let ty = ChipletType {
            name: "t".into(),
            macs_per_cycle: 16,
            array_rows: 4,
            array_cols: 4,
            vector_elems_per_cycle: 4,
            sram_kib: 64,
            sram_bandwidth_bytes_per_cycle: 16,
            op_overhead_cycles: 0,
            energy_per_mac_pj: 1.0,
            energy_per_sram_byte_pj: 1.0,
        };
        let link = LinkProps {
            bandwidth_bytes_per_cycle: 4,
            latency_cycles: 3,
            energy_per_bit_pj: 0.5,
        };
        let constraints = Constraints {
            acyclic_dataflow: false,
            no_skipping: NoSkipping::Off,
            no_triangle: false,
            sram_capacity: false,
        };
        PackageRecipe::uniform(
            n,
            1000.0,
            ty,
            Some((
                Topology::Chain {
                    bidirectional: true,
                },
                link,
            )),
            constraints,
        )
        .build()
        .expect("a valid chain")
    }

    fn packet(message: u32, bytes: u64, src: u32, dst: u32) -> Packet {
        Packet {
            message,
            index: 0,
            bytes: Bytes(bytes),
            src: ChipletId(src),
            dst: ChipletId(dst),
        }
    }

    /// Sends every packet at its cycle and forwards arrivals in order;
    /// returns each packet's delivery cycle.
    fn run(fabric: &mut Fabric, sends: &[(u64, Packet)]) -> Vec<u64> {
        let mut delivered = vec![0; sends.len()];
        let mut note = |hop: Hop| {
            if let Some(at) = hop.delivered_at() {
                delivered[hop.packet.message as usize] = at.get();
            }
        };
        for &(t, p) in sends {
            while fabric.next_arrival().is_some_and(|at| at.get() < t) {
                let a = fabric.pop_arrival().expect("peeked");
                note(fabric.forward(a));
            }
            note(fabric.send(Cycles(t), p));
        }
        while let Some(a) = fabric.pop_arrival() {
            note(fabric.forward(a));
        }
        delivered
    }

    #[test]
    fn store_and_forward_pays_serialisation_and_latency_per_hop() {
        let spec = chain(3);
        let mut f = Fabric::new(&spec, Switching::StoreAndForward);
        // 10 bytes at 4 B/cycle: 3 cycles, then 3 of latency, on each of 2 hops.
        assert_eq!(run(&mut f, &[(5, packet(0, 10, 0, 2))]), vec![5 + 6 + 6]);
        let path = spec.routes.path(ChipletId(0), ChipletId(2));
        let zero = zero_load_cycles(&spec, path, Bytes(10), Switching::StoreAndForward);
        assert_eq!(zero, Cycles(12));
    }

    #[test]
    fn cut_through_overlaps_hops_but_never_outruns_the_tail() {
        let spec = chain(3);
        let mut f = Fabric::new(&spec, Switching::CutThrough);
        // Hop 1: [0, 3), tail at 6; the head reaches chiplet 1 at 3, hop 2
        // starts at 3 and cannot finish before the tail is in (6): tail 9.
        assert_eq!(run(&mut f, &[(0, packet(0, 10, 0, 2))]), vec![9]);
        let path = spec.routes.path(ChipletId(0), ChipletId(2));
        let zero = zero_load_cycles(&spec, path, Bytes(10), Switching::CutThrough);
        assert_eq!(zero, Cycles(9));
    }

    #[test]
    fn a_link_serves_packets_one_at_a_time_in_arrival_order() {
        let spec = chain(2);
        let mut f = Fabric::new(&spec, Switching::StoreAndForward);
        let sends = [(0, packet(0, 8, 0, 1)), (0, packet(1, 8, 0, 1))];
        // 2 cycles each: the second waits for the first.
        assert_eq!(run(&mut f, &sends), vec![2 + 3, 4 + 3]);
        let l = spec.routes.path(ChipletId(0), ChipletId(1))[0];
        let s = f.link(l);
        assert_eq!((s.packets, s.bytes, s.busy), (2, Bytes(16), Cycles(4)));
        assert_eq!(f.energy_pj(), 16.0 * 8.0 * 0.5);
        f.reset();
        assert_eq!(*f.link(l), LinkServer::default());
        assert_eq!(f.energy_pj(), 0.0);
    }

    #[test]
    fn busy_cycles_count_only_inside_the_window() {
        let spec = chain(2);
        let mut f =
            Fabric::new(&spec, Switching::StoreAndForward).with_window(Cycles(1)..Cycles(3));
        run(&mut f, &[(0, packet(0, 16, 0, 1))]);
        let l = spec.routes.path(ChipletId(0), ChipletId(1))[0];
        // Serialised over [0, 4); the window [1, 3) sees 2 of those cycles.
        assert_eq!(f.link(l).busy, Cycles(2));
    }

    #[test]
    fn one_packet_alone_takes_its_zero_load_time_on_every_route() {
        let spec = chain(5);
        for switching in [Switching::StoreAndForward, Switching::CutThrough] {
            for dst in 1..5 {
                for bytes in [1, 4, 7, 64] {
                    let mut f = Fabric::new(&spec, switching);
                    let got = run(&mut f, &[(0, packet(0, bytes, 0, dst))])[0];
                    let path = spec.routes.path(ChipletId(0), ChipletId(dst));
                    let want = zero_load_cycles(&spec, path, Bytes(bytes), switching);
                    assert_eq!(Cycles(got), want, "{switching:?} to {dst}, {bytes} B");
                }
            }
        }
    }
}
