//! The buffered interconnect: input-queued routers with virtual channels,
//! finite buffers and credit-based flow control, simulated flit by flit and
//! cycle by cycle. A spec selects it with `[interconnect]`'s `flit_bytes`,
//! `virtual_channels` and `buffer_flits` (see docs/hw_spec.md); without them
//! the package uses the ideal link model of `fabric/mod.rs`.
//!
//! Every chiplet has a router. Its input ports are its incoming links (in
//! link-id order) and an injection port; its output ports are its outgoing
//! links and an ejection port. Each input port has `virtual_channels` VCs of
//! `buffer_flits` flits. A packet of `b` bytes is `ceil(b / flit_bytes)`
//! flits; a link moves one flit per `ceil(flit_bytes / bandwidth)` cycles and
//! delivers it `latency_cycles` later. The router pipeline of a head flit
//! that entered a buffer in cycle `t` is: route computation through cycle
//! `t + router_delay − 3`, VC allocation in `t + router_delay − 2`, switch
//! allocation in `t + router_delay − 1`, and on the link from
//! `t + router_delay`; body flits need only switch allocation (from the cycle
//! they arrive). So an empty network costs `router_delay` in every router a
//! packet passes (its source's and destination's included), as the ideal
//! model does.
//!
//! - **Flow control.** An output port may send a flit on an output VC only
//!   with a credit for it (a free slot in the downstream buffer); the credit
//!   comes back `latency_cycles + 1` after the flit leaves that buffer. A full
//!   downstream buffer so blocks the link, and back-pressure reaches the
//!   sources, whose queues are unbounded (open loop).
//! - **Allocation.** One iteration of separable, input-first round-robin
//!   allocation per cycle, for VCs and for the switch (each input port sends
//!   at most one flit, each output port accepts at most one), with
//!   round-robin pointers that move past a grant (iSLIP-style). An output VC
//!   is held from its packet's head to its tail and may be reallocated once
//!   the tail has been sent (BookSim's `wait_for_tail_credit = 0`).
//! - **Deadlock freedom.** A packet's VC class starts at 0 and goes up by one
//!   each time its route takes a *back edge* of the channel dependency graph
//!   (the graph of consecutive link pairs over all routes, searched depth
//!   first in link-id order); VCs are split evenly among the classes the
//!   routes need. Within a class, dependencies follow the search's finishing
//!   order and cannot form a cycle. A mesh with XY routing needs one class, a
//!   ring two (the back edge acts as the dateline). A spec with fewer VCs than
//!   classes is refused (`required_vc_classes`).
//! - **Endpoints.** A packet created in cycle `c` may enter its source's
//!   injection channel from `c + 1`, one flit per cycle, and a flit sent in
//!   cycle `y` reaches the router's buffer in `y + injection_latency − 1`; a
//!   flit granted the ejection port in cycle `s` is delivered in
//!   `s + 1 + ejection_latency` (the packet when its tail is).
//!
//! The caller steps the fabric through the cycles it asks for
//! ([`BufferedFabric::next_cycle`], [`BufferedFabric::step`]) and learns
//! from the [`Happening`]s what happened; packets it sends in a cycle join
//! the source queue and move from the next cycle on, so whether a caller
//! sends before or after stepping a cycle does not matter. Idle cycles are
//! skipped. Everything is in fixed index order: same inputs, same outputs.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};
use std::ops::Range;

use super::{LinkServer, Packet};
use crate::spec::{ChipletId, HwSpec, Link, LinkId, RouteTable, RouterBuffers};
use crate::units::{Bytes, Cycles};

/// What the fabric did in a cycle that its user may care about.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Happening {
    /// `packet` crossed `link`: its head started at `start`, its tail
    /// finished serialising at `finish`.
    Link {
        packet: Packet,
        link: LinkId,
        start: Cycles,
        finish: Cycles,
    },
    /// `packet`'s tail has left its source (on the first link, or into the
    /// ejection port for a packet to itself) at `at`.
    Departed { packet: Packet, at: Cycles },
    /// `packet`'s tail reaches its destination at `at` (possibly a later
    /// cycle than the one stepped).
    Delivered { packet: Packet, at: Cycles },
}

/// Channel-dependency back edges of `routes`, sorted, and the number of VC
/// classes the routes need (1 + the most back edges any route takes).
fn back_edges(n_links: usize, n_chiplets: usize, routes: &RouteTable) -> (Vec<(u32, u32)>, u32) {
    let mut edges: BTreeSet<(u32, u32)> = BTreeSet::new();
    for s in 0..n_chiplets {
        for d in 0..n_chiplets {
            let p = routes.path(ChipletId(s as u32), ChipletId(d as u32));
            for w in p.windows(2) {
                edges.insert((w[0].0, w[1].0));
            }
        }
    }
    let mut adj: Vec<Vec<u32>> = vec![Vec::new(); n_links];
    for &(a, b) in &edges {
        adj[a as usize].push(b);
    }
    // Iterative depth-first search in link-id order; an edge to a link on
    // the current stack is a back edge.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; n_links];
    let mut back = Vec::new();
    for root in 0..n_links {
        if mark[root] != Mark::New {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Open;
        while let Some(&mut (u, ref mut next)) = stack.last_mut() {
            if let Some(&v) = adj[u].get(*next) {
                *next += 1;
                match mark[v as usize] {
                    Mark::New => {
                        mark[v as usize] = Mark::Open;
                        stack.push((v as usize, 0));
                    }
                    Mark::Open => back.push((u as u32, v)),
                    Mark::Done => {}
                }
            } else {
                mark[u] = Mark::Done;
                stack.pop();
            }
        }
    }
    back.sort_unstable();
    let mut classes = 1;
    for s in 0..n_chiplets {
        for d in 0..n_chiplets {
            let p = routes.path(ChipletId(s as u32), ChipletId(d as u32));
            let crossings = p
                .windows(2)
                .filter(|w| back.binary_search(&(w[0].0, w[1].0)).is_ok())
                .count() as u32;
            classes = classes.max(1 + crossings);
        }
    }
    (back, classes)
}

/// How many VC classes the buffered routers need on these routes for
/// deadlock freedom (see the module comment); a spec must have at least
/// this many `virtual_channels`.
pub fn required_vc_classes(links: &[Link], n_chiplets: usize, routes: &RouteTable) -> u32 {
    back_edges(links.len(), n_chiplets, routes).1
}

/// Cycles a link takes per flit.
fn cycles_per_flit(flit_bytes: u64, bandwidth_bytes_per_cycle: u64) -> u64 {
    flit_bytes.div_ceil(bandwidth_bytes_per_cycle).max(1)
}

/// Cycles one packet of `bytes` takes along `path` on an empty buffered
/// network, from creation to the delivery of its tail, when its flits stream
/// at the slowest link's pace: buffers at least as deep as the credit round
/// trip (`2 × latency_cycles + cycles per flit + 2` on a link). Shallower
/// buffers throttle a long packet even on an empty network.
pub fn zero_load_cycles(spec: &HwSpec, b: &RouterBuffers, path: &[LinkId], bytes: Bytes) -> Cycles {
    let i = &spec.interconnect;
    let d = i.router_delay_cycles;
    let tail_index = bytes.get().div_ceil(b.flit_bytes).max(1) - 1;
    // Per router on the route: the cycles its output takes per flit (the
    // link's, or 1 for the ejection port), and the head's switch-allocation
    // cycle there (relative to creation).
    let mut out_cycles = Vec::with_capacity(path.len() + 1);
    let mut head_sa = Vec::with_capacity(path.len() + 1);
    // Cycles from a flit's switch allocation in router j to its arrival in
    // router j + 1 (where a body flit may be allocated at once).
    let mut hop = Vec::with_capacity(path.len());
    let mut sa = i.injection_latency_cycles + d - 1;
    for &l in path {
        let link = spec.link(l);
        let c = cycles_per_flit(b.flit_bytes, link.bandwidth_bytes_per_cycle);
        out_cycles.push(c);
        head_sa.push(sa);
        hop.push(c + link.latency_cycles + 1);
        sa += c + link.latency_cycles + 1 + d - 1;
    }
    out_cycles.push(1);
    head_sa.push(sa);
    // The tail's switch allocation at the destination: the latest of the
    // head's pipeline followed by the tail streaming behind it at some
    // router's output pace, and the injection channel's one flit a cycle.
    let mut rest = vec![0; path.len() + 1];
    for j in (0..path.len()).rev() {
        rest[j] = rest[j + 1] + hop[j];
    }
    let mut tail_sa = i.injection_latency_cycles + tail_index + rest[0];
    for j in 0..=path.len() {
        tail_sa = tail_sa.max(head_sa[j] + tail_index * out_cycles[j] + rest[j]);
    }
    Cycles(tail_sa + 1 + i.ejection_latency_cycles)
}

#[derive(Clone, Copy, Debug)]
struct Flit {
    slot: u32,
    index: u32,
    arrived: Cycles,
    /// Route position of the link this flit takes out of the router it is in
    /// (the route's length: the ejection port).
    hop: u16,
    /// VC class of the link it came over (0 for injection).
    class: u8,
}

#[derive(Clone, Copy, Debug)]
enum VcState {
    Idle,
    /// The head at the front waits for VC allocation from `va_at`.
    Routing {
        out: u16,
        class: u8,
        va_at: Cycles,
    },
    /// The packet at the front holds output VC `ovc` of port `out`; its head
    /// may request the switch from `sa_at`.
    Active {
        out: u16,
        ovc: u16,
        sa_at: Cycles,
    },
}

#[derive(Clone, Debug)]
struct InVc {
    flits: VecDeque<Flit>,
    state: VcState,
}

#[derive(Clone, Debug)]
struct InPort {
    vcs: Vec<InVc>,
    rr: u32,
    /// The link feeding it; `None` for the injection port.
    link: Option<LinkId>,
}

/// An output VC as its router sees it (for the injection port: as the
/// source sees it).
#[derive(Clone, Debug, Default)]
struct OutVc {
    /// Credits landed and not yet used, as of the last `settle`.
    credits: u32,
    /// When the credits on their way back land, in order.
    pending: VecDeque<Cycles>,
    owned: bool,
    head_start: Cycles,
}

impl OutVc {
    fn fresh(depth: u32) -> OutVc {
        OutVc {
            credits: depth,
            ..OutVc::default()
        }
    }

    /// Credits a decision may use that sees those landed by `upto`.
    fn credits_by(&self, upto: Cycles) -> u32 {
        self.credits + self.pending.iter().take_while(|&&a| a <= upto).count() as u32
    }

    /// Counts the credits landed by `upto`.
    fn settle(&mut self, upto: Cycles) {
        while self.pending.front().is_some_and(|&a| a <= upto) {
            self.pending.pop_front();
            self.credits += 1;
        }
    }

    /// When the first credit landing after `upto` lands.
    fn next_credit_after(&self, upto: Cycles) -> Option<Cycles> {
        self.pending.iter().copied().find(|&a| a > upto)
    }
}

#[derive(Clone, Debug)]
struct OutPort {
    /// `None` for the ejection port.
    link: Option<LinkId>,
    vcs: Vec<OutVc>,
    /// Earliest cycle the switch may grant this port again.
    next_sa: Cycles,
    sa_rr: u32,
    va_rr: u32,
}

#[derive(Clone, Debug)]
struct Router {
    inputs: Vec<InPort>,
    outputs: Vec<OutPort>,
    buffered: usize,
}

#[derive(Clone, Debug)]
struct Source {
    queue: VecDeque<(Cycles, u32)>,
    next_flit: u32,
    vc: Option<u16>,
    vc_rr: u16,
    /// Credits and ownership of the injection port's VCs, as the source sees them.
    vcs: Vec<OutVc>,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    packet: Packet,
    flits: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Flight {
    at: Cycles,
    seq: u64,
    router: u32,
    port: u16,
    vc: u16,
    slot: u32,
    index: u32,
    hop: u16,
    class: u8,
}

#[derive(Clone, Copy, Debug)]
struct LinkInfo {
    from: u32,
    to: u32,
    out_port: u16,
    in_port: u16,
    cycles_per_flit: u64,
    latency: u64,
    energy_per_bit_pj: f64,
}

/// The package's routers and links, flit by flit.
#[derive(Clone, Debug)]
pub struct BufferedFabric {
    buffers: RouterBuffers,
    router_delay: u64,
    injection_latency: u64,
    ejection_latency: u64,
    routes: RouteTable,
    back: Vec<(u32, u32)>,
    classes: u32,
    links: Vec<LinkInfo>,
    routers: Vec<Router>,
    sources: Vec<Source>,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    flights: BinaryHeap<Reverse<Flight>>,
    seq: u64,
    last_step: Option<Cycles>,
    /// After a step: the earliest later cycle in which a router could act
    /// (allocate a VC or the switch).
    router_wake: Option<Cycles>,
    buffered: usize,
    queued: usize,
    servers: Vec<LinkServer>,
    window: Range<Cycles>,
    energy_pj: f64,
    // Scratch for switch allocation, reused every cycle.
    requests: Vec<Option<(u16, u16)>>,
}

impl BufferedFabric {
    /// An idle buffered fabric for `spec`, which must have `[interconnect]`
    /// buffers (spec validation guarantees enough VCs for the routes).
    pub fn new(spec: &HwSpec) -> BufferedFabric {
        let b = spec
            .interconnect
            .buffers
            .expect("a buffered fabric needs [interconnect] buffers");
        let n = spec.n_chiplets();
        let (back, classes) = back_edges(spec.links.len(), n, &spec.routes);
        let mut ins: Vec<Vec<LinkId>> = vec![Vec::new(); n];
        let mut outs: Vec<Vec<LinkId>> = vec![Vec::new(); n];
        for l in &spec.links {
            outs[l.from.idx()].push(l.id);
            ins[l.to.idx()].push(l.id);
        }
        let vcs = b.virtual_channels as usize;
        let out_vc = OutVc::fresh(b.buffer_flits);
        let mut links: Vec<LinkInfo> = spec
            .links
            .iter()
            .map(|l| LinkInfo {
                from: l.from.0,
                to: l.to.0,
                out_port: 0,
                in_port: 0,
                cycles_per_flit: cycles_per_flit(b.flit_bytes, l.bandwidth_bytes_per_cycle),
                latency: l.latency_cycles,
                energy_per_bit_pj: l.energy_per_bit_pj,
            })
            .collect();
        let routers = (0..n)
            .map(|c| {
                let mut inputs: Vec<InPort> = ins[c]
                    .iter()
                    .map(|&l| InPort {
                        vcs: Vec::new(),
                        rr: 0,
                        link: Some(l),
                    })
                    .collect();
                inputs.push(InPort {
                    vcs: Vec::new(),
                    rr: 0,
                    link: None,
                });
                for (i, p) in inputs.iter_mut().enumerate() {
                    p.vcs = vec![
                        InVc {
                            flits: VecDeque::new(),
                            state: VcState::Idle,
                        };
                        vcs
                    ];
                    if let Some(l) = p.link {
                        links[l.idx()].in_port = i as u16;
                    }
                }
                let mut outputs: Vec<OutPort> = outs[c]
                    .iter()
                    .map(|&l| OutPort {
                        link: Some(l),
                        vcs: vec![out_vc.clone(); vcs],
                        next_sa: Cycles::ZERO,
                        sa_rr: 0,
                        va_rr: 0,
                    })
                    .collect();
                outputs.push(OutPort {
                    link: None,
                    vcs: Vec::new(),
                    next_sa: Cycles::ZERO,
                    sa_rr: 0,
                    va_rr: 0,
                });
                for (o, p) in outputs.iter().enumerate() {
                    if let Some(l) = p.link {
                        links[l.idx()].out_port = o as u16;
                    }
                }
                Router {
                    inputs,
                    outputs,
                    buffered: 0,
                }
            })
            .collect();
        BufferedFabric {
            buffers: b,
            router_delay: spec.interconnect.router_delay_cycles,
            injection_latency: spec.interconnect.injection_latency_cycles,
            ejection_latency: spec.interconnect.ejection_latency_cycles,
            routes: spec.routes.clone(),
            back,
            classes,
            links,
            routers,
            sources: vec![
                Source {
                    queue: VecDeque::new(),
                    next_flit: 0,
                    vc: None,
                    vc_rr: 0,
                    vcs: vec![out_vc; vcs],
                };
                n
            ],
            slots: Vec::new(),
            free_slots: Vec::new(),
            flights: BinaryHeap::new(),
            seq: 0,
            last_step: None,
            router_wake: None,
            buffered: 0,
            queued: 0,
            servers: vec![LinkServer::default(); spec.links.len()],
            window: Cycles::ZERO..Cycles::MAX,
            energy_pj: 0.0,
            requests: Vec::new(),
        }
    }

    /// Back to idle: empty buffers and queues, full credits, no counts.
    pub fn reset(&mut self) {
        let depth = self.buffers.buffer_flits;
        for router in &mut self.routers {
            for port in &mut router.inputs {
                port.rr = 0;
                for vc in &mut port.vcs {
                    vc.flits.clear();
                    vc.state = VcState::Idle;
                }
            }
            for port in &mut router.outputs {
                port.next_sa = Cycles::ZERO;
                port.sa_rr = 0;
                port.va_rr = 0;
                for vc in &mut port.vcs {
                    *vc = OutVc::fresh(depth);
                }
            }
            router.buffered = 0;
        }
        for src in &mut self.sources {
            src.queue.clear();
            src.next_flit = 0;
            src.vc = None;
            src.vc_rr = 0;
            for vc in &mut src.vcs {
                *vc = OutVc::fresh(depth);
            }
        }
        self.slots.clear();
        self.free_slots.clear();
        self.flights.clear();
        self.seq = 0;
        self.last_step = None;
        self.router_wake = None;
        self.buffered = 0;
        self.queued = 0;
        self.servers.fill(LinkServer::default());
        self.energy_pj = 0.0;
    }

    /// Counts busy cycles only inside `window`.
    pub fn with_window(mut self, window: Range<Cycles>) -> BufferedFabric {
        self.window = window;
        self
    }

    /// One link's counts so far.
    pub fn link(&self, link: LinkId) -> &LinkServer {
        &self.servers[link.idx()]
    }

    /// Energy of every flit sent on a link so far.
    pub fn energy_pj(&self) -> f64 {
        self.energy_pj
    }

    /// Packets created but not yet delivered (in source queues, buffers or
    /// on links).
    pub fn packets_in_flight(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    /// `packet` is created at its source in cycle `now`.
    pub fn send(&mut self, now: Cycles, packet: Packet) {
        let flits = packet.bytes.get().div_ceil(self.buffers.flit_bytes).max(1) as u32;
        let slot = Slot { packet, flits };
        let id = match self.free_slots.pop() {
            Some(id) => {
                self.slots[id as usize] = slot;
                id
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.sources[packet.src.idx()].queue.push_back((now, id));
        self.queued += 1;
    }

    /// The next cycle in which something can happen, if anything is left.
    /// Cycles in which nothing can (every flit waits for a busy link, a
    /// credit or a later pipeline stage) are skipped: stepping them would
    /// change nothing, round-robin pointers included, since those move only
    /// on grants.
    pub fn next_cycle(&self) -> Option<Cycles> {
        let after = self.last_step.map_or(Cycles::ZERO, |t| t + Cycles(1));
        let mut next: Option<Cycles> = self.router_wake;
        let mut consider = |c: Cycles| next = Some(next.map_or(c, |n: Cycles| n.min(c)));
        if self.queued > 0 {
            for s in &self.sources {
                let Some(&(created, _)) = s.queue.front() else {
                    continue;
                };
                let ready = (created + Cycles(1)).max(after);
                // A source injects in a step with the credits landed before it.
                match (s.vc, self.last_step) {
                    (Some(v), Some(last)) => {
                        let v = &s.vcs[v as usize];
                        if v.credits_by(last) > 0 {
                            consider(ready);
                        } else if let Some(at) = v.next_credit_after(last) {
                            consider(ready.max(at + Cycles(1)));
                        }
                    }
                    _ => consider(ready),
                }
            }
        }
        if let Some(Reverse(f)) = self.flights.peek() {
            consider(f.at.max(after));
        }
        next
    }

    /// The earliest cycle after `t` in which some router could grant a VC
    /// or the switch, given its state now. (A head waiting for a free VC, or
    /// a flit waiting for a credit that has not been sent yet, is woken by
    /// the step in which a flit leaves the buffer concerned, which computes
    /// this again.)
    fn wake_after(&self, t: Cycles) -> Option<Cycles> {
        let after = t + Cycles(1);
        let mut wake: Option<Cycles> = None;
        for router in self.routers.iter().filter(|r| r.buffered > 0) {
            for port in &router.inputs {
                for vc in &port.vcs {
                    let Some(front) = vc.flits.front() else {
                        continue;
                    };
                    let at = match vc.state {
                        VcState::Idle => continue,
                        VcState::Routing { out, class, va_at } => {
                            let o = &router.outputs[out as usize];
                            let free =
                                o.link.is_none() || self.class_vcs(class).any(|x| !o.vcs[x].owned);
                            if !free {
                                continue;
                            }
                            va_at
                        }
                        VcState::Active { out, ovc, sa_at } => {
                            let o = &router.outputs[out as usize];
                            let ready = if front.index == 0 {
                                sa_at
                            } else {
                                front.arrived
                            };
                            let mut at = ready.max(o.next_sa);
                            if o.link.is_some() {
                                let v = &o.vcs[ovc as usize];
                                if v.credits_by(after) == 0 {
                                    match v.next_credit_after(after) {
                                        Some(c) => at = at.max(c),
                                        None => continue,
                                    }
                                }
                            }
                            at
                        }
                    };
                    let at = at.max(after);
                    wake = Some(wake.map_or(at, |w: Cycles| w.min(at)));
                }
            }
        }
        wake
    }

    /// Simulates cycle `t` (later than any cycle stepped before), appending
    /// what happened to `out`.
    pub fn step(&mut self, t: Cycles, out: &mut Vec<Happening>) {
        debug_assert!(self.last_step.is_none_or(|l| t > l), "cycles go forward");
        self.last_step = Some(t);
        self.inject(t);
        self.land(t);
        self.allocate_vcs(t);
        self.allocate_switches(t, out);
        self.router_wake = self.wake_after(t);
    }

    /// Sources send one flit each into their router's injection port.
    fn inject(&mut self, t: Cycles) {
        if self.queued == 0 {
            return;
        }
        let arrive = t + Cycles(self.injection_latency.saturating_sub(1));
        for r in 0..self.sources.len() {
            let Some(&(created, slot)) = self.sources[r].queue.front() else {
                continue;
            };
            if created + Cycles(1) > t {
                continue;
            }
            let flits = self.slots[slot as usize].flits;
            let port = (self.routers[r].inputs.len() - 1) as u16;
            let src = &mut self.sources[r];
            let vc = match src.vc {
                Some(vc) => vc,
                None => {
                    let n = src.vcs.len() as u16;
                    let Some(vc) = (0..n)
                        .map(|k| (src.vc_rr + k) % n)
                        .find(|&v| !src.vcs[v as usize].owned)
                    else {
                        continue;
                    };
                    src.vcs[vc as usize].owned = true;
                    src.vc = Some(vc);
                    src.vc_rr = (vc + 1) % n;
                    vc
                }
            };
            let v = &mut src.vcs[vc as usize];
            if t > Cycles::ZERO {
                v.settle(t - Cycles(1));
            }
            if v.credits == 0 {
                continue;
            }
            v.credits -= 1;
            let index = src.next_flit;
            src.next_flit += 1;
            if src.next_flit == flits {
                src.queue.pop_front();
                src.next_flit = 0;
                src.vc = None;
                v.owned = false;
                self.queued -= 1;
            }
            self.flights.push(Reverse(Flight {
                at: arrive,
                seq: self.seq,
                router: r as u32,
                port,
                vc,
                slot,
                index,
                hop: 0,
                class: 0,
            }));
            self.seq += 1;
        }
    }

    /// Flits due by `t` reach their buffers.
    fn land(&mut self, t: Cycles) {
        while self.flights.peek().is_some_and(|Reverse(f)| f.at <= t) {
            let Reverse(f) = self.flights.pop().expect("peeked");
            let flit = Flit {
                slot: f.slot,
                index: f.index,
                arrived: f.at,
                hop: f.hop,
                class: f.class,
            };
            self.buffered += 1;
            let router = &mut self.routers[f.router as usize];
            router.buffered += 1;
            let vc = &mut router.inputs[f.port as usize].vcs[f.vc as usize];
            vc.flits.push_back(flit);
            if vc.flits.len() == 1 && matches!(vc.state, VcState::Idle) {
                debug_assert_eq!(flit.index, 0, "a packet starts with its head");
                let state = self.route_head(f.router, &flit, f.at);
                self.routers[f.router as usize].inputs[f.port as usize].vcs[f.vc as usize].state =
                    state;
            }
        }
    }

    /// Route computation for a head that reached the front of its VC at
    /// `front_at`: the output port and VC class it needs.
    fn route_head(&self, router: u32, flit: &Flit, front_at: Cycles) -> VcState {
        let p = self.slots[flit.slot as usize].packet;
        let path = self.routes.path(p.src, p.dst);
        let hop = flit.hop as usize;
        let va_at = (flit.arrived + Cycles(self.router_delay.saturating_sub(2))).max(front_at);
        if hop == path.len() {
            let out = (self.routers[router as usize].outputs.len() - 1) as u16;
            return VcState::Routing {
                out,
                class: 0,
                va_at,
            };
        }
        let link = path[hop];
        let class = if hop == 0 {
            0
        } else {
            let back = self.back.binary_search(&(path[hop - 1].0, link.0)).is_ok();
            flit.class + u8::from(back)
        };
        VcState::Routing {
            out: self.links[link.idx()].out_port,
            class,
            va_at,
        }
    }

    /// The output VCs of class `class`.
    fn class_vcs(&self, class: u8) -> Range<usize> {
        let v = self.buffers.virtual_channels as usize;
        let k = self.classes as usize;
        let c = (class as usize).min(k - 1);
        c * v / k..(c + 1) * v / k
    }

    /// VC allocation: each output port, in turn, grants free VCs of the
    /// requested class to the waiting heads, round-robin over input VCs.
    fn allocate_vcs(&mut self, t: Cycles) {
        let n_vcs = self.buffers.virtual_channels as usize;
        for r in 0..self.routers.len() {
            if self.routers[r].buffered == 0 {
                continue;
            }
            let n_in = self.routers[r].inputs.len();
            let total = n_in * n_vcs;
            for o in 0..self.routers[r].outputs.len() {
                let eject = self.routers[r].outputs[o].link.is_none();
                let start = self.routers[r].outputs[o].va_rr as usize;
                for k in 0..total {
                    let idx = (start + k) % total;
                    let (ip, v) = (idx / n_vcs, idx % n_vcs);
                    let VcState::Routing { out, class, va_at } =
                        self.routers[r].inputs[ip].vcs[v].state
                    else {
                        continue;
                    };
                    if out as usize != o || va_at > t {
                        continue;
                    }
                    let ovc = if eject {
                        0
                    } else {
                        let range = self.class_vcs(class);
                        let port = &self.routers[r].outputs[o];
                        match range.clone().find(|&x| !port.vcs[x].owned) {
                            Some(x) => x,
                            None => continue,
                        }
                    };
                    let router = &mut self.routers[r];
                    if !eject {
                        router.outputs[o].vcs[ovc].owned = true;
                    }
                    router.outputs[o].va_rr = ((idx + 1) % total) as u32;
                    router.inputs[ip].vcs[v].state = VcState::Active {
                        out,
                        ovc: ovc as u16,
                        sa_at: t + Cycles(1),
                    };
                }
            }
        }
    }

    /// Switch allocation and traversal: each input port asks for one output
    /// port on behalf of one of its VCs; each output port grants one input.
    fn allocate_switches(&mut self, t: Cycles, out: &mut Vec<Happening>) {
        for r in 0..self.routers.len() {
            if self.routers[r].buffered == 0 {
                continue;
            }
            let mut requests = std::mem::take(&mut self.requests);
            requests.clear();
            {
                let router = &self.routers[r];
                for port in &router.inputs {
                    let n = port.vcs.len() as u32;
                    let mut want = None;
                    for k in 0..n {
                        let v = ((port.rr + k) % n) as usize;
                        let vc = &port.vcs[v];
                        let VcState::Active { out, ovc, sa_at } = vc.state else {
                            continue;
                        };
                        let Some(front) = vc.flits.front() else {
                            continue;
                        };
                        let ready = if front.index == 0 {
                            sa_at
                        } else {
                            front.arrived
                        };
                        let o = &router.outputs[out as usize];
                        if ready > t
                            || o.next_sa > t
                            || (o.link.is_some() && o.vcs[ovc as usize].credits_by(t) == 0)
                        {
                            continue;
                        }
                        want = Some((v as u16, out));
                        break;
                    }
                    requests.push(want);
                }
            }
            let n_in = requests.len();
            for o in 0..self.routers[r].outputs.len() {
                let start = self.routers[r].outputs[o].sa_rr as usize;
                let Some(ip) = (0..n_in)
                    .map(|k| (start + k) % n_in)
                    .find(|&ip| requests[ip].is_some_and(|(_, out)| out as usize == o))
                else {
                    continue;
                };
                let (v, _) = requests[ip].expect("found");
                self.traverse(t, r, ip, v as usize, o, out);
                let router = &mut self.routers[r];
                router.outputs[o].sa_rr = ((ip + 1) % n_in) as u32;
                router.inputs[ip].rr = (u32::from(v) + 1) % router.inputs[ip].vcs.len() as u32;
            }
            self.requests = requests;
        }
    }

    /// The front flit of input VC (`ip`, `v`) of router `r` wins output `o`
    /// in cycle `s`.
    fn traverse(
        &mut self,
        s: Cycles,
        r: usize,
        ip: usize,
        v: usize,
        o: usize,
        out: &mut Vec<Happening>,
    ) {
        let VcState::Active { ovc, .. } = self.routers[r].inputs[ip].vcs[v].state else {
            unreachable!("only active VCs request the switch");
        };
        let flit = self.routers[r].inputs[ip].vcs[v]
            .flits
            .pop_front()
            .expect("requested with a front flit");
        self.buffered -= 1;
        self.routers[r].buffered -= 1;
        let slot = self.slots[flit.slot as usize];
        let tail = flit.index + 1 == slot.flits;
        let from_source = self.routers[r].inputs[ip].link.is_none();
        // The freed buffer slot's credit goes back upstream.
        match self.routers[r].inputs[ip].link {
            Some(l) => {
                let info = self.links[l.idx()];
                self.routers[info.from as usize].outputs[info.out_port as usize].vcs[v]
                    .pending
                    .push_back(s + Cycles(info.latency + 1));
            }
            None => self.sources[r].vcs[v].pending.push_back(s + Cycles(1)),
        }
        let fb = self.buffers.flit_bytes;
        let bytes = if tail {
            slot.packet.bytes.get() - fb * (slot.flits as u64 - 1)
        } else {
            fb
        };
        let link = self.routers[r].outputs[o].link;
        let cpf = link.map_or(1, |l| self.links[l.idx()].cycles_per_flit);
        let start = s + Cycles(1);
        let finish = start + Cycles(cpf);
        self.routers[r].outputs[o].next_sa = s + Cycles(cpf);
        match link {
            Some(l) => {
                let info = self.links[l.idx()];
                let port = &mut self.routers[r].outputs[o];
                let ov = &mut port.vcs[ovc as usize];
                ov.settle(s);
                ov.credits -= 1;
                if flit.index == 0 {
                    ov.head_start = start;
                }
                let server = &mut self.servers[l.idx()];
                let (a, b) = (start.max(self.window.start), finish.min(self.window.end));
                server.busy += b.saturating_sub(a);
                server.bytes += Bytes(bytes);
                self.energy_pj += bytes as f64 * 8.0 * info.energy_per_bit_pj;
                if tail {
                    ov.owned = false;
                    server.packets += 1;
                    server.free_at = server.free_at.max(finish);
                    out.push(Happening::Link {
                        packet: slot.packet,
                        link: l,
                        start: ov.head_start,
                        finish,
                    });
                }
                self.flights.push(Reverse(Flight {
                    at: finish + Cycles(info.latency),
                    seq: self.seq,
                    router: info.to,
                    port: info.in_port,
                    vc: ovc,
                    slot: flit.slot,
                    index: flit.index,
                    hop: flit.hop + 1,
                    class: self.class_of(&flit, l),
                }));
                self.seq += 1;
            }
            None => {
                if tail {
                    out.push(Happening::Delivered {
                        packet: slot.packet,
                        at: start + Cycles(self.ejection_latency),
                    });
                    self.free_slots.push(flit.slot);
                }
            }
        }
        if tail && from_source {
            out.push(Happening::Departed {
                packet: slot.packet,
                at: finish,
            });
        }
        if tail {
            let next = self.routers[r].inputs[ip].vcs[v].flits.front().copied();
            let state = match next {
                Some(head) => self.route_head(r as u32, &head, s + Cycles(1)),
                None => VcState::Idle,
            };
            self.routers[r].inputs[ip].vcs[v].state = state;
        }
    }

    /// The VC class a flit has on `link`, the next link of its route.
    fn class_of(&self, flit: &Flit, link: LinkId) -> u8 {
        let p = self.slots[flit.slot as usize].packet;
        let hop = flit.hop as usize;
        if hop == 0 {
            return 0;
        }
        let path = self.routes.path(p.src, p.dst);
        let back = self.back.binary_search(&(path[hop - 1].0, link.0)).is_ok();
        flit.class + u8::from(back)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ChipletType, Constraints, Interconnect};
    use crate::testkit::{LinkProps, PackageRecipe, Topology};

    /// A package of `n` chiplets joined by `topology` (links of `bandwidth`
    /// bytes per cycle and 2 cycles; meshes route XY, the rest by shortest
    /// path), with BookSim's router pipeline and `vcs` × `depth` buffers of
    /// 16-byte flits.
    fn package(n: u32, topology: Topology, bandwidth: u64, vcs: u32, depth: u32) -> HwSpec {
        let ty = ChipletType {
            name: "t".into(),
            macs_per_cycle: 64,
            array_rows: 8,
            array_cols: 8,
            vector_elems_per_cycle: 16,
            sram_kib: 1024,
            sram_bandwidth_bytes_per_cycle: 64,
            op_overhead_cycles: 10,
            energy_per_mac_pj: 0.2,
            energy_per_sram_byte_pj: 1.0,
        };
        let link = LinkProps {
            bandwidth_bytes_per_cycle: bandwidth,
            latency_cycles: 2,
            energy_per_bit_pj: 1.0,
        };
        let mut spec =
            PackageRecipe::uniform(n, 1000.0, ty, Some((topology, link)), Constraints::none())
                .build()
                .expect("a valid package");
        spec.interconnect = Interconnect {
            router_delay_cycles: 3,
            injection_latency_cycles: 3,
            ejection_latency_cycles: 1,
            buffers: Some(RouterBuffers {
                flit_bytes: 16,
                virtual_channels: vcs,
                buffer_flits: depth,
            }),
        };
        spec
    }

    /// A chain with 16-flit buffers: deeper than the credit round trip, so a
    /// lone packet streams at the link rate.
    fn chain(n: u32, bandwidth: u64) -> HwSpec {
        let chain = Topology::Chain {
            bidirectional: true,
        };
        package(n, chain, bandwidth, 2, 16)
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

    /// Sends every packet at its cycle and steps until the fabric is idle;
    /// returns everything that happened, in order.
    fn run(f: &mut BufferedFabric, sends: &[(u64, Packet)]) -> Vec<Happening> {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            let next_send = sends.get(i).map(|s| Cycles(s.0));
            let t = match (next_send, f.next_cycle()) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => break,
            };
            if f.next_cycle() == Some(t) {
                f.step(t, &mut out);
            }
            while i < sends.len() && Cycles(sends[i].0) == t {
                f.send(t, sends[i].1);
                i += 1;
            }
        }
        out
    }

    fn delivered(h: &[Happening], message: u32) -> Vec<u64> {
        h.iter()
            .filter_map(|h| match h {
                Happening::Delivered { packet, at } if packet.message == message => Some(at.get()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn one_packet_alone_takes_its_zero_load_time() {
        for bandwidth in [16, 4] {
            let spec = chain(5, bandwidth);
            let b = spec.interconnect.buffers.unwrap();
            for dst in 0..5 {
                for bytes in [1, 16, 17, 64, 100] {
                    let mut f = BufferedFabric::new(&spec);
                    let h = run(&mut f, &[(10, packet(0, bytes, 0, dst))]);
                    let path = spec.routes.path(ChipletId(0), ChipletId(dst));
                    let want = zero_load_cycles(&spec, &b, path, Bytes(bytes)).get();
                    assert_eq!(
                        delivered(&h, 0),
                        vec![10 + want],
                        "{bandwidth} B/cycle, to {dst}, {bytes} B"
                    );
                    assert_eq!(f.packets_in_flight(), 0);
                }
            }
        }
        // 1 flit, 2 hops, 16 B/cycle: 3 in, 3 per router, 1 + 2 per link, 1 out.
        let spec = chain(3, 16);
        let b = spec.interconnect.buffers.unwrap();
        let path = spec.routes.path(ChipletId(0), ChipletId(2));
        assert_eq!(
            zero_load_cycles(&spec, &b, path, Bytes(16)),
            Cycles(3 + 3 * 3 + 2 * 3 + 1)
        );
    }

    #[test]
    fn a_full_downstream_buffer_holds_back_the_link_before_it() {
        // 0 -> 1 carries a flit a cycle, 1 -> 2 one every 4 cycles. A
        // 40-flit packet crosses the first link at the second link's pace
        // once the 4-flit buffer at chiplet 1 is full.
        let mut spec = chain(3, 16);
        let slow = spec.routes.path(ChipletId(1), ChipletId(2))[0];
        spec.links[slow.idx()].bandwidth_bytes_per_cycle = 4;
        let fast = spec.routes.path(ChipletId(0), ChipletId(1))[0];
        let link_time = |depth: u32| {
            let mut s = spec.clone();
            s.interconnect.buffers.as_mut().unwrap().buffer_flits = depth;
            let mut f = BufferedFabric::new(&s);
            let h = run(&mut f, &[(0, packet(0, 40 * 16, 0, 2))]);
            h.iter()
                .find_map(|h| match h {
                    Happening::Link {
                        link,
                        start,
                        finish,
                        ..
                    } if *link == fast => Some((*finish - *start).get()),
                    _ => None,
                })
                .expect("crossed the first link")
        };
        // With room for the whole packet the first link runs at full speed.
        assert_eq!(link_time(64), 40);
        // With 4 flits of room it is paced by the slow link: 4 cycles a flit
        // for all but the flits the buffer and the credit loop absorb.
        let paced = link_time(4);
        assert!(paced >= 4 * (40 - 8), "the first link took {paced} cycles");
    }

    #[test]
    fn rings_under_overload_deliver_every_packet_once() {
        for (topology, bandwidth, vcs) in [
            (
                Topology::Ring {
                    bidirectional: true,
                },
                16,
                2,
            ),
            (
                Topology::Ring {
                    bidirectional: false,
                },
                8,
                2,
            ),
            (Topology::Mesh { rows: 3, cols: 3 }, 16, 1),
        ] {
            let n = 9;
            let body = format!("{topology:?}");
            let spec = package(n, topology, bandwidth, vcs, 2);
            // Every chiplet sends a 4-flit packet every cycle for 300
            // cycles: far beyond what any link carries.
            let mut sends = Vec::new();
            for t in 0..300u64 {
                for src in 0..n {
                    let dst = ((t * 7 + u64::from(src) * 3) % u64::from(n)) as u32;
                    sends.push((t, packet(sends.len() as u32, 64, src, dst)));
                }
            }
            let mut f = BufferedFabric::new(&spec);
            let h = run(&mut f, &sends);
            let mut delivered = vec![0u32; sends.len()];
            let mut departed = vec![0u32; sends.len()];
            let mut crossings = vec![0usize; sends.len()];
            for e in &h {
                match e {
                    Happening::Delivered { packet, at } => {
                        delivered[packet.message as usize] += 1;
                        let created = sends[packet.message as usize].0;
                        let p = spec.routes.path(packet.src, packet.dst);
                        let zero = zero_load_cycles(
                            &spec,
                            &spec.interconnect.buffers.unwrap(),
                            p,
                            packet.bytes,
                        );
                        assert!(at.get() >= created + zero.get());
                    }
                    Happening::Departed { packet, .. } => departed[packet.message as usize] += 1,
                    Happening::Link { packet, .. } => crossings[packet.message as usize] += 1,
                }
            }
            assert!(
                delivered.iter().all(|&d| d == 1),
                "{body}: every packet once"
            );
            assert!(departed.iter().all(|&d| d == 1), "{body}");
            for (k, (_, p)) in sends.iter().enumerate() {
                assert_eq!(crossings[k], spec.routes.path(p.src, p.dst).len());
            }
            assert_eq!(f.packets_in_flight(), 0);
            // Every byte crossed each link of its route.
            let bytes: u64 = spec.links.iter().map(|l| f.link(l.id).bytes.get()).sum();
            let want: u64 = sends
                .iter()
                .map(|(_, p)| 64 * spec.routes.path(p.src, p.dst).len() as u64)
                .sum();
            assert_eq!(bytes, want);
        }
    }

    #[test]
    fn vc_classes_follow_the_cycles_of_the_routes() {
        let mesh = package(9, Topology::Mesh { rows: 3, cols: 3 }, 16, 1, 4);
        assert_eq!(required_vc_classes(&mesh.links, 9, &mesh.routes), 1);
        let ring = Topology::Ring {
            bidirectional: true,
        };
        let ring = package(8, ring, 16, 2, 4);
        assert_eq!(required_vc_classes(&ring.links, 8, &ring.routes), 2);
        let chain = chain(4, 16);
        assert_eq!(required_vc_classes(&chain.links, 4, &chain.routes), 1);
    }

    #[test]
    fn reset_gives_the_same_run_again() {
        let ring = Topology::Ring {
            bidirectional: true,
        };
        let spec = package(8, ring, 16, 2, 2);
        let sends: Vec<(u64, Packet)> = (0..200u32)
            .map(|k| (u64::from(k / 4), packet(k, 48, k % 8, (k * 5 + 1) % 8)))
            .collect();
        let mut f = BufferedFabric::new(&spec);
        let first = run(&mut f, &sends);
        let energy = f.energy_pj();
        f.reset();
        assert_eq!(f.energy_pj(), 0.0);
        assert_eq!(run(&mut f, &sends), first);
        assert_eq!(f.energy_pj(), energy);
    }
}
