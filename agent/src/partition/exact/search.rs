//! The branch and bound of the exact method: the chain search over
//! down-sets with its dynamic-programming bound, the op-by-op fallback, and
//! the control (node and time limits, incumbents) both share. What each
//! computes and why it is exact is in the module documentation of `exact`.

use std::time::Instant;

use sim::problem::PeakScratch;
use sim::spec::NoSkipping;

use super::lattice::{Lattice, difference, has, subset};
use super::model::{Model, chiplet_ids};
use super::{INF, Limits, Stop};

pub(super) struct Control {
    pub(super) node_limit: u64,
    pub(super) time_limit_s: f64,
    pub(super) started: Instant,
    pub(super) nodes: u64,
    pub(super) stop: Option<Stop>,
    /// The least bound of a child left unexplored when a limit stopped the
    /// search.
    pub(super) open_bound: u64,
    /// The incumbent's objective (`INF` when none).
    pub(super) best: u64,
    pub(super) incumbents: Vec<Vec<usize>>,
}

impl Control {
    pub(super) fn new(limits: Limits, started: Instant) -> Control {
        Control {
            node_limit: limits.node_limit,
            time_limit_s: limits.time_limit_s,
            started,
            nodes: 0,
            stop: None,
            open_bound: INF,
            best: INF,
            incumbents: Vec::new(),
        }
    }

    /// Counts a node about to be entered, or refuses (and records why) when
    /// a limit is reached. A child refused is left open with bound `lb`.
    fn enter(&mut self, lb: u64) -> bool {
        if self.stop.is_none() {
            if self.nodes >= self.node_limit {
                self.stop = Some(Stop::NodeLimit);
            } else if self.nodes.is_multiple_of(256) {
                if crate::partition::interrupt::requested() {
                    self.stop = Some(Stop::Interrupted);
                } else if self.time_limit_s.is_finite()
                    && self.started.elapsed().as_secs_f64() >= self.time_limit_s
                {
                    self.stop = Some(Stop::TimeLimit);
                }
            }
        }
        if self.stop.is_some() {
            self.open_bound = self.open_bound.min(lb);
            return false;
        }
        self.nodes += 1;
        true
    }

    pub(super) fn offer(&mut self, objective: u64, chip_of: &[usize]) {
        if objective < self.best {
            self.best = objective;
            self.incumbents.push(chip_of.to_vec());
        }
    }
}

/// Facts about the ops `S = J ∖ I` of a pair, computed when first needed:
/// per chiplet class, the chiplet's term (stage cycles, or the slot-aware
/// period), memory cycles and whether the SRAM need fits;
/// per bandwidth, the total and the largest serialisation cycles of the
/// tensors entering `S` from `I` and of those leaving `S` for ops outside `J`.
struct Pairs {
    n_classes: usize,
    n_bws: usize,
    done: Vec<bool>,
    stage: Vec<u64>,
    mem: Vec<u64>,
    fits: Vec<bool>,
    in_ser: Vec<u64>,
    in_max: Vec<u64>,
    out_ser: Vec<u64>,
    out_max: Vec<u64>,
    /// Whether any fact needs the activation peak of `S` (it is the same
    /// for every class).
    needs_peak: bool,
    scratch: PeakScratch,
    ops: Vec<usize>,
}

impl Pairs {
    fn new(m: &Model<'_>, lat: &Lattice) -> Pairs {
        let (c, b, p) = (m.classes.len(), m.bandwidths.len(), lat.n_pairs);
        Pairs {
            n_classes: c,
            n_bws: b,
            done: vec![false; p],
            stage: vec![0; p * c],
            mem: vec![0; p * c],
            fits: vec![false; p * c],
            in_ser: vec![0; p * b],
            in_max: vec![0; p * b],
            out_ser: vec![0; p * b],
            out_max: vec![0; p * b],
            needs_peak: m.slot_aware()
                || m.set.sram_capacity
                || m.classes.iter().any(|k| k.can_stream),
            scratch: PeakScratch::default(),
            ops: Vec::new(),
        }
    }

    fn ensure(&mut self, m: &Model<'_>, lat: &Lattice, pid: usize, i: usize, j: usize) {
        if self.done[pid] {
            return;
        }
        self.done[pid] = true;
        let (si, sj) = (&lat.sets[i], &lat.sets[j]);
        let mut ops = std::mem::take(&mut self.ops);
        difference(si, sj, &mut ops);
        let here = |v: usize| has(sj, v) && !has(si, v);
        // The activation peak is the costly fact. Without streaming it only
        // decides whether S fits, and only on a class whose SRAM holds S's
        // weights: where none does, S fits nowhere whatever its peak.
        // The slot-aware objective reads it everywhere (slots).
        let peak_matters = self.needs_peak
            && (m.slot_aware()
                || m.classes.iter().any(|k| k.can_stream)
                || (0..self.n_classes)
                    .any(|c| m.sram_weight_bytes_of(c, &ops) <= m.classes[c].sram_bytes));
        let peak = if peak_matters {
            m.activation_peak_bytes_of(&ops, here, &mut self.scratch)
        } else {
            0
        };
        for class in 0..self.n_classes {
            // The chiplet's term: its stage, or its slot-aware period. Both
            // depend on S and the class alone, so the programme bounds the
            // slot-aware term exactly too.
            let (cycles, memory_cycles) = if m.slot_aware() {
                let c = m.slot_cost_of(class, &ops, here, peak);
                (c.period_cycles(), c.stage.memory_cycles)
            } else {
                let c = m.stage_cost_with_slot(class, &ops, peak);
                (c.cycles, c.memory_cycles)
            };
            let x = pid * self.n_classes + class;
            self.stage[x] = cycles;
            self.mem[x] = memory_cycles;
            self.fits[x] = !m.set.sram_capacity
                || m.sram_weight_bytes_of(class, &ops) + peak <= m.classes[class].sram_bytes;
        }
        // Tensors entering S: cut ops of I read by some op of S (each sent
        // once to S's chiplet). Tensors leaving: ops of S read outside J.
        let entering = lat.cut_ops[i]
            .iter()
            .filter(|&&u| m.consumers(u).iter().any(|&q| here(q)));
        let leaving = ops
            .iter()
            .filter(|&&u| m.consumers(u).iter().any(|&q| !has(sj, q)));
        for b in 0..self.n_bws {
            let x = pid * self.n_bws + b;
            for &u in entering.clone() {
                self.in_ser[x] += m.output_serialisation_cycles[b][u];
                self.in_max[x] = self.in_max[x].max(m.output_serialisation_cycles[b][u]);
            }
            for &u in leaving.clone() {
                self.out_ser[x] += m.output_serialisation_cycles[b][u];
                self.out_max[x] = self.out_max[x].max(m.output_serialisation_cycles[b][u]);
            }
        }
        self.ops = ops;
    }
}

/// Link facts about one pipeline position for the link terms of the bound.
struct PositionLinks {
    chip: usize,
    class: usize,
    /// Route to the next position's chiplet (empty at the last position).
    next_route: Vec<usize>,
    /// In-links and out-links of the chiplet, and links from positions `≤ k`
    /// to positions `> k`; each with the index of its highest bandwidth
    /// (whose serialisation is the least).
    in_links: (usize, usize),
    out_links: (Vec<usize>, usize),
    cross_links: (Vec<usize>, usize),
}

/// The search over chains of down-sets: the bound's dynamic programme, then
/// a depth-first branch and bound over positions `0, 1, …`.
pub(super) struct ChainSearch<'a> {
    m: &'a Model<'a>,
    lat: &'a Lattice,
    pairs: Pairs,
    positions: Vec<PositionLinks>,
    /// `g[k · N + I]`: least relaxed bottleneck of positions `k..` from `I`.
    g: Vec<u64>,
    /// `h[k · N + I]`: least memory cycles of positions `k..` from `I`.
    h: Vec<u64>,
    chip_of: Vec<usize>,
    load: Vec<u64>,
    /// `flows[a · n + b]`: some tensor flows from position `a` to `b`.
    flows: Vec<bool>,
    /// Scratch: which positions already send to the current one.
    mark: Vec<bool>,
}

/// The tensors entering a position from earlier ones.
struct Entering {
    /// Link loads they add, one entry per tensor and link of its route.
    deltas: Vec<(usize, u64)>,
    /// Positions they come from (distinct).
    sources: Vec<usize>,
}

/// A child of a chain node: the next down-set and what entering it changes.
struct Child {
    lb: u64,
    j: usize,
    stage: u64,
    /// Memory cycles of positions up to and including this one.
    mem: u64,
    entering: Entering,
}

impl<'a> ChainSearch<'a> {
    pub(super) fn new(m: &'a Model<'a>, lat: &'a Lattice) -> ChainSearch<'a> {
        let n = m.n_chiplets;
        let links = &m.spec.links;
        let mut in_links = vec![Vec::new(); n];
        let mut out_links = vec![Vec::new(); n];
        for l in links {
            in_links[l.to.idx()].push(l.id.idx());
            out_links[l.from.idx()].push(l.id.idx());
        }
        let best_bw = |links: &[usize]| {
            links
                .iter()
                .map(|&l| m.bandwidth_of_link[l])
                .max()
                .unwrap_or(0)
        };
        let positions = (0..n)
            .map(|k| {
                let chip = m.pipeline_order[k];
                let next_route = if k + 1 < n {
                    m.route(chip, m.pipeline_order[k + 1])
                        .iter()
                        .map(|l| l.idx())
                        .collect()
                } else {
                    Vec::new()
                };
                let cross: Vec<usize> = links
                    .iter()
                    .filter(|l| m.position_of[l.from.idx()] <= k && m.position_of[l.to.idx()] > k)
                    .map(|l| l.id.idx())
                    .collect();
                PositionLinks {
                    chip,
                    class: m.class_of[chip],
                    next_route,
                    in_links: (in_links[chip].len(), best_bw(&in_links[chip])),
                    out_links: (out_links[chip].clone(), best_bw(&out_links[chip])),
                    cross_links: (cross.clone(), best_bw(&cross)),
                }
            })
            .collect();
        let mut s = ChainSearch {
            m,
            lat,
            pairs: Pairs::new(m, lat),
            positions,
            g: Vec::new(),
            h: Vec::new(),
            chip_of: vec![usize::MAX; m.n_ops],
            load: vec![0; m.spec.links.len()],
            flows: vec![false; n * n],
            mark: vec![false; n],
        };
        s.program();
        s
    }

    /// Whether `J` may follow `I` at any position: the constraints that
    /// depend on the pair alone (SRAM, which depends on the chiplet, aside).
    fn allowed(&self, i: usize, j: usize) -> bool {
        if self.m.edge_mode() && !subset(&self.lat.reach[i], &self.lat.sets[j]) {
            return false;
        }
        !(self.m.set.no_skipping == NoSkipping::Prefix && i == j && i != self.lat.full)
    }

    /// The relaxed link term of position `k` for the pair, with the current
    /// link loads added (all zero while the programme runs).
    fn link_term(&self, k: usize, j: usize, pid: usize) -> u64 {
        let (m, p) = (self.m, &self.positions[k]);
        if m.edge_mode() {
            return p
                .next_route
                .iter()
                .map(|&l| self.load[l] + self.lat.cut_ser[j][m.bandwidth_of_link[l]])
                .max()
                .unwrap_or(0);
        }
        // Each term charges tensors to a group of links every one of them
        // must cross: at least the group's average, and at least its least
        // loaded link plus the largest tensor (a tensor is never split).
        let nb = self.pairs.n_bws;
        let loads = |links: &[usize]| {
            let sum: u64 = links.iter().map(|&l| self.load[l]).sum();
            let least = links.iter().map(|&l| self.load[l]).min().unwrap_or(0);
            (sum, least)
        };
        let mut t = 0;
        let (n_in, in_bw) = p.in_links;
        if n_in > 0 {
            // Tensors entering the chiplet, over its in-links. They are
            // charged exactly during the search; this serves the programme.
            let x = pid * nb + in_bw;
            t = t
                .max(self.pairs.in_ser[x].div_ceil(n_in as u64))
                .max(self.pairs.in_max[x]);
        }
        let (out, out_bw) = &p.out_links;
        if !out.is_empty() {
            // Tensors leaving the chiplet, over its out-links.
            let x = pid * nb + out_bw;
            let (sum, least) = loads(out);
            t = t
                .max((sum + self.pairs.out_ser[x]).div_ceil(out.len() as u64))
                .max(least + self.pairs.out_max[x]);
        }
        let (cross, cross_bw) = &p.cross_links;
        if !cross.is_empty() {
            // Tensors from positions `≤ k` to `> k`, over the links from the
            // one side to the other. With more tensors than links, two of the
            // largest `links + 1` share a link.
            let (sum, least) = loads(cross);
            let ser = |u: usize| m.output_serialisation_cycles[*cross_bw][u];
            let items = &self.lat.cut_ops[j];
            t = t.max((sum + self.lat.cut_ser[j][*cross_bw]).div_ceil(cross.len() as u64));
            if let Some(&u) = items.first() {
                t = t.max(least + ser(u));
            }
            if items.len() > cross.len() {
                let pair = ser(items[cross.len() - 1]) + ser(items[cross.len()]);
                t = t.max(least + pair);
            }
        }
        t
    }

    /// The backward dynamic programme for `g` and `h`.
    fn program(&mut self) {
        let (n, nn) = (self.m.n_chiplets, self.lat.sets.len());
        self.g = vec![INF; (n + 1) * nn];
        self.h = vec![INF; (n + 1) * nn];
        self.g[n * nn + self.lat.full] = 0;
        self.h[n * nn + self.lat.full] = 0;
        for k in (0..n).rev() {
            let class = self.positions[k].class;
            for i in 0..nn {
                let (mut bg, mut bh) = (INF, INF);
                for t in 0..self.lat.supersets[i].len() {
                    let j = self.lat.supersets[i][t] as usize;
                    let gj = self.g[(k + 1) * nn + j];
                    if gj == INF || !self.allowed(i, j) {
                        continue;
                    }
                    let pid = self.lat.pair_base[i] + t;
                    self.pairs.ensure(self.m, self.lat, pid, i, j);
                    let x = pid * self.pairs.n_classes + class;
                    if !self.pairs.fits[x] {
                        continue;
                    }
                    let rc = self.pairs.stage[x].max(self.link_term(k, j, pid));
                    bg = bg.min(rc.max(gj));
                    bh = bh.min(self.pairs.mem[x].saturating_add(self.h[(k + 1) * nn + j]));
                }
                self.g[k * nn + i] = bg;
                self.h[k * nn + i] = bh;
            }
        }
    }

    pub(super) fn root_bound(&self) -> u64 {
        let g = self.g[0];
        if g == INF { INF } else { g.max(self.h[0]) }
    }

    pub(super) fn run(&mut self, ctl: &mut Control) {
        self.dfs(ctl, 0, 0, 0, 0);
    }

    /// The tensors entering position `k` when it takes `J ∖ I` (each cut op
    /// of `I` that an op of `J ∖ I` reads, sent once); `None` if they would
    /// close a chip triangle. Every triangle formed at this step has `k` as
    /// its top, since positions `> k` hold nothing yet.
    fn transfers(&mut self, k: usize, i: usize, j: usize) -> Option<Entering> {
        let (m, lat) = (self.m, self.lat);
        let chip = self.positions[k].chip;
        let (si, sj) = (&lat.sets[i], &lat.sets[j]);
        let mut deltas = Vec::new();
        let mut sources = Vec::new();
        for &u in &lat.cut_ops[i] {
            if !m.consumers(u).iter().any(|&q| has(sj, q) && !has(si, q)) {
                continue;
            }
            let src = self.chip_of[u];
            for &l in m.route(src, chip) {
                deltas.push((l.idx(), m.link_serialisation_cycles(u, l)));
            }
            let a = m.position_of[src];
            if !self.mark[a] {
                self.mark[a] = true;
                sources.push(a);
            }
        }
        for &a in &sources {
            self.mark[a] = false;
        }
        if m.set.no_triangle && !m.edge_mode() {
            let n = m.n_chiplets;
            for &a in &sources {
                for &b in &sources {
                    if a < b && self.flows[a * n + b] {
                        return None;
                    }
                }
            }
        }
        Some(Entering { deltas, sources })
    }

    fn dfs(&mut self, ctl: &mut Control, k: usize, i: usize, partial: u64, mem: u64) {
        let (m, lat) = (self.m, self.lat);
        let (n, nn) = (m.n_chiplets, lat.sets.len());
        if k == n {
            debug_assert_eq!(i, lat.full);
            ctl.offer(partial.max(mem), &self.chip_of);
            return;
        }
        let class = self.positions[k].class;
        let mut children = Vec::new();
        for t in 0..lat.supersets[i].len() {
            let j = lat.supersets[i][t] as usize;
            let gj = self.g[(k + 1) * nn + j];
            if gj == INF || !self.allowed(i, j) {
                continue;
            }
            let pid = lat.pair_base[i] + t;
            self.pairs.ensure(m, lat, pid, i, j);
            let x = pid * self.pairs.n_classes + class;
            if !self.pairs.fits[x] {
                continue;
            }
            let (stage, mem_s) = (self.pairs.stage[x], self.pairs.mem[x]);
            let mem_j = mem + mem_s;
            let quick = partial
                .max(stage)
                .max(gj)
                .max(mem_j.saturating_add(self.h[(k + 1) * nn + j]));
            if quick >= ctl.best {
                continue;
            }
            let Some(entering) = self.transfers(k, i, j) else {
                continue;
            };
            let mut link_max = 0;
            for &(l, d) in &entering.deltas {
                self.load[l] += d;
            }
            for &(l, _) in &entering.deltas {
                link_max = link_max.max(self.load[l]);
            }
            let term = self.link_term(k, j, pid);
            for &(l, d) in &entering.deltas {
                self.load[l] -= d;
            }
            let lb = quick.max(link_max).max(term);
            if lb < ctl.best {
                children.push(Child {
                    lb,
                    j,
                    stage,
                    mem: mem_j,
                    entering,
                });
            }
        }
        children.sort_by_key(|c| (c.lb, c.j));
        let chip = self.positions[k].chip;
        let mut ops = Vec::new();
        for c in &children {
            if c.lb >= ctl.best {
                break;
            }
            if !ctl.enter(c.lb) {
                break;
            }
            difference(&lat.sets[i], &lat.sets[c.j], &mut ops);
            for &v in &ops {
                self.chip_of[v] = chip;
            }
            let mut p = partial.max(c.stage);
            for &(l, d) in &c.entering.deltas {
                self.load[l] += d;
                p = p.max(self.load[l]);
            }
            for &a in &c.entering.sources {
                self.flows[a * n + k] = true;
            }
            self.dfs(ctl, k + 1, c.j, p, c.mem);
            for &a in &c.entering.sources {
                self.flows[a * n + k] = false;
            }
            for &(l, d) in &c.entering.deltas {
                self.load[l] -= d;
            }
            // After a stop, the next child is refused by `enter`, which
            // records its bound: the least of the children left open here.
        }
    }
}

// ---------------------------------------------------------------------------
// The fallback: ops placed one at a time.

/// Depth-first branch and bound that places op `v` on each pipeline position
/// in turn, for `v` in topological order.
pub(super) struct OpSearch<'a> {
    m: &'a Model<'a>,
    chip_of: Vec<usize>,
    /// Per chiplet: Σ op cycles without streaming (a lower bound on the
    /// stage), resident weights (zero where weights may stream), and the
    /// largest activation floor of its ops.
    stage: Vec<u64>,
    weights: Vec<u64>,
    act: Vec<u64>,
    load: Vec<u64>,
    /// Chiplets each op's output is already sent to.
    sent: Vec<Vec<usize>>,
    /// `flows[a · n + b]` for positions `a < b`.
    flows: Vec<bool>,
    /// Ops at each position.
    used: Vec<u32>,
    /// Σ of `stage`.
    assigned: u64,
    /// Suffix sums and maxima of each op's least cycles on any chiplet.
    rest_sum: Vec<u64>,
    rest_max: Vec<u64>,
}

impl<'a> OpSearch<'a> {
    pub(super) fn new(m: &'a Model<'a>) -> OpSearch<'a> {
        let n = m.n_chiplets;
        let min_cost: Vec<u64> = (0..m.n_ops)
            .map(|v| {
                m.classes
                    .iter()
                    .map(|k| m.op_cycles[k.type_idx][v])
                    .min()
                    .unwrap_or(0)
            })
            .collect();
        let mut rest_sum = vec![0u64; m.n_ops + 1];
        let mut rest_max = vec![0u64; m.n_ops + 1];
        for v in (0..m.n_ops).rev() {
            rest_sum[v] = rest_sum[v + 1] + min_cost[v];
            rest_max[v] = rest_max[v + 1].max(min_cost[v]);
        }
        OpSearch {
            m,
            chip_of: vec![usize::MAX; m.n_ops],
            stage: vec![0; n],
            weights: vec![0; n],
            act: vec![0; n],
            load: vec![0; m.spec.links.len()],
            sent: vec![Vec::new(); m.n_ops],
            flows: vec![false; n * n],
            used: vec![0; n],
            assigned: 0,
            rest_sum,
            rest_max,
        }
    }

    pub(super) fn root_bound(&self) -> u64 {
        let n = self.m.n_chiplets as u64;
        self.rest_sum[0].div_ceil(n.max(1)).max(self.rest_max[0])
    }

    pub(super) fn run(&mut self, ctl: &mut Control) {
        self.dfs(ctl, 0, 0);
    }

    /// Whether flow `a → b` (just added to `flows`) closes a chip triangle.
    fn closes_triangle(&self, a: usize, b: usize) -> bool {
        let n = self.m.n_chiplets;
        let f = |x: usize, y: usize| self.flows[x * n + y];
        (a + 1..b).any(|j| f(a, j) && f(j, b))
            || (b + 1..n).any(|k| f(b, k) && f(a, k))
            || (0..a).any(|i| f(i, a) && f(i, b))
    }

    /// Whether the positions in use can still become `0..m` with `left` ops
    /// to place after putting one at position `k`.
    fn prefix_possible(&self, k: usize, left: usize) -> bool {
        let mut top = k;
        let mut distinct = 1;
        for (p, &u) in self.used.iter().enumerate() {
            if u > 0 {
                top = top.max(p);
                if p != k {
                    distinct += 1;
                }
            }
        }
        top + 1 - distinct <= left
    }

    fn dfs(&mut self, ctl: &mut Control, v: usize, partial: u64) {
        let m = self.m;
        let n = m.n_chiplets;
        if v == m.n_ops {
            let prefix_ok = m.set.no_skipping != NoSkipping::Prefix
                || self.used.iter().skip_while(|&&u| u > 0).all(|&u| u == 0);
            let ids = chiplet_ids(&self.chip_of);
            if prefix_ok && m.sram_fits(&ids) {
                let obj = m.objective(&self.chip_of);
                ctl.offer(obj, &self.chip_of);
            }
            return;
        }
        let mut children: Vec<(u64, usize)> = Vec::new();
        for k in 0..n {
            let c = m.pipeline_order[k];
            let class = m.classes[m.class_of[c]];
            let from = |p: usize| m.position_of[self.chip_of[p]];
            if m.set.acyclic_dataflow && m.producers(v).iter().any(|&p| from(p) > k) {
                continue;
            }
            if m.edge_mode() && m.producers(v).iter().any(|&p| k > from(p) + 1) {
                continue;
            }
            if m.set.sram_capacity {
                let w = if class.can_stream {
                    0
                } else {
                    self.weights[c] + m.weight_bytes[v]
                };
                if w + self.act[c].max(m.activation_floor_bytes[v]) > class.sram_bytes {
                    continue;
                }
            }
            if m.set.no_skipping == NoSkipping::Prefix && !self.prefix_possible(k, m.n_ops - v - 1)
            {
                continue;
            }
            let (link_max, triangle, applied) = self.apply(v, k);
            self.undo(k, applied);
            if triangle {
                continue;
            }
            let cost = m.op_cycles[class.type_idx][v];
            let avg = (self.assigned + cost + self.rest_sum[v + 1]).div_ceil(n as u64);
            let lb = partial
                .max(self.stage[c] + cost)
                .max(link_max)
                .max(avg)
                .max(self.rest_max[v + 1]);
            if lb < ctl.best {
                children.push((lb, k));
            }
        }
        children.sort_unstable();
        for &(lb, k) in &children {
            if lb >= ctl.best || !ctl.enter(lb) {
                break;
            }
            let c = m.pipeline_order[k];
            let class = m.classes[m.class_of[c]];
            let cost = m.op_cycles[class.type_idx][v];
            let saved_act = self.act[c];
            self.chip_of[v] = c;
            self.stage[c] += cost;
            self.assigned += cost;
            if !class.can_stream {
                self.weights[c] += m.weight_bytes[v];
            }
            self.act[c] = saved_act.max(m.activation_floor_bytes[v]);
            self.used[k] += 1;
            let (link_max, _, applied) = self.apply(v, k);
            let p = partial.max(self.stage[c]).max(link_max);
            self.dfs(ctl, v + 1, p);
            self.undo(k, applied);
            self.used[k] -= 1;
            self.act[c] = saved_act;
            if !class.can_stream {
                self.weights[c] -= m.weight_bytes[v];
            }
            self.assigned -= cost;
            self.stage[c] -= cost;
            self.chip_of[v] = usize::MAX;
        }
    }

    /// Adds the transfers into op `v` at position `k` (its producers' outputs
    /// not yet sent to that chiplet) and the flows they create. Returns the
    /// largest load among the links touched and whether a chip triangle
    /// formed, with what to give [`OpSearch::undo`].
    fn apply(&mut self, v: usize, k: usize) -> (u64, bool, Applied) {
        let m = self.m;
        let n = m.n_chiplets;
        let c = m.pipeline_order[k];
        let mut link_max = 0;
        let mut triangle = false;
        let mut applied = Applied::default();
        for &p in m.producers(v) {
            let src = self.chip_of[p];
            if src == c || self.sent[p].contains(&c) {
                continue;
            }
            self.sent[p].push(c);
            applied.sends.push(p);
            for &l in m.route(src, c) {
                self.load[l.idx()] += m.link_serialisation_cycles(p, l);
                link_max = link_max.max(self.load[l.idx()]);
            }
            let a = m.position_of[src];
            if a < k && !self.flows[a * n + k] {
                self.flows[a * n + k] = true;
                applied.flows.push(a);
                triangle |= m.set.no_triangle && self.closes_triangle(a, k);
            }
        }
        (link_max, triangle, applied)
    }

    fn undo(&mut self, k: usize, applied: Applied) {
        let m = self.m;
        let n = m.n_chiplets;
        let c = m.pipeline_order[k];
        for &a in &applied.flows {
            self.flows[a * n + k] = false;
        }
        for &p in applied.sends.iter().rev() {
            let src = self.chip_of[p];
            for &l in m.route(src, c) {
                self.load[l.idx()] -= m.link_serialisation_cycles(p, l);
            }
            let last = self.sent[p].pop();
            debug_assert_eq!(last, Some(c));
        }
    }
}

/// What [`OpSearch::apply`] changed: producers that started sending to the
/// chiplet, and positions that started flowing to it.
#[derive(Default)]
struct Applied {
    sends: Vec<usize>,
    flows: Vec<usize>,
}
