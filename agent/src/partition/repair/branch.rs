//! Branch and bound over op domains, bounded by the min-cut relaxation, for
//! the constraints the relaxation leaves out (prefix, triangle, SRAM).
//!
//! A node is a set of allowed positions per op (and, under the prefix rule,
//! the number `m` of positions in use). Its relaxation (costs plus the convex
//! pairwise constraints, solved exactly by `ishikawa`) is a lower bound on
//! every valid placement inside the node. If the relaxation's optimum is valid
//! it is the node's optimum; otherwise it breaks some constraint, and the node
//! splits on one op `v` and one position `i` taken from the violation into
//! "`p(v) ≠ i`" and "`p(v) = i`". The two children partition the node, the
//! relaxed optimum cannot satisfy both, and every split shrinks a domain, so
//! the search is exhaustive and finite. Under the prefix rule the root first
//! splits on `m`, the number of positions used (children for every `m` in
//! `1 ..= k`, positions `≥ m` removed, the `m` the root's relaxed optimum
//! reaches first, then from `k` down); valid placements have exactly one `m`,
//! so this too is a partition, and each `m` child also has a covering bound
//! (each position below `m` needs an op of its own).
//!
//! A node is discarded only when its bound cannot beat the best valid
//! placement found, or when the ops it has *fixed* already break a constraint
//! that more ops can only break further (a triangle among fixed edges; the
//! SRAM need of the fixed ops, which is monotone, see `sram`), or when its
//! domains leave no solution.
//!
//! Good incumbents come from a primal heuristic ([`polish`]) run on relaxed
//! optima: it rebuilds a placement near the relaxed optimum greedily, fills
//! prefix gaps, then moves ops back to cheaper positions while the placement
//! stays valid. If its result costs no more than the relaxed optimum, the node
//! is solved. With integer costs the relaxation breaks its ties towards the
//! incumbent (see [`Instance::relax`]), which changes which optimum it
//! returns, never its value.
//!
//! (A Lagrangian bound on the covering constraints of prefix and on resident
//! weights was tried and dropped: for fewest changes, ops that change anyway
//! move in groups to whichever position pays them, so the dual bound barely
//! rose above the relaxation, at several min cuts per node.)
//!
//! Search is depth first with a fixed child order and integer node counts, so
//! results depend on nothing but the inputs; an optional node limit stops it
//! early, and the answer then says so.

use super::domains::Domains;
use super::ishikawa::{self, Labelling, Pairwise};
use super::sram::{SramModel, UNPLACED};

/// The repair problem in pipeline positions.
pub(crate) struct Instance<'a> {
    pub n: usize,
    pub k: usize,
    /// `unary[v·k + i]`: cost of op `v` at position `i` (+∞: not allowed).
    pub unary: Vec<f64>,
    /// Every finite cost is an integer (exact flow, exact comparisons).
    pub integral: bool,
    /// Distinct `(from, to)` op pairs joined by a tensor, ascending.
    pub pairs: Vec<(u32, u32)>,
    pub acyclic: bool,
    pub edge: bool,
    pub prefix: bool,
    pub triangle: bool,
    pub sram: Option<SramModel<'a>>,
    /// Constraints the SRAM rule implies that the relaxation can carry
    /// (see `sram::implications`); empty without acyclic dataflow.
    pub implications: Vec<ishikawa::Implication>,
    /// Distinct producers and consumers of each op (from `pairs`).
    pub preds: Vec<Vec<u32>>,
    pub succs: Vec<Vec<u32>>,
}

impl Instance<'_> {
    pub(crate) fn pairwise(&self) -> Pairwise<'_> {
        Pairwise {
            pairs: &self.pairs,
            acyclic: self.acyclic,
            edge: self.edge,
            implications: &self.implications,
        }
    }

    /// The relaxation of a node. With integer costs, ties among its optima
    /// are broken towards `target` (the incumbent, or ops spread evenly over
    /// the positions in topological order) by adding `ε·|p(v) − target(v)|`
    /// with `ε = 1 / (2·n·k)`: the perturbation totals less than 1/2, so the
    /// perturbed optimum is still an optimum of the integer costs, and its
    /// reported cost is the unperturbed one. Spreading matters because the
    /// smallest-source-side cut otherwise piles every op that changes anyway
    /// onto the lowest position its producers allow, overfilling SRAM.
    fn relax(&self, d: &Domains, target: Option<&[u16]>) -> Result<Labelling, ishikawa::Conflict> {
        if !self.integral {
            return ishikawa::solve(&self.unary, d, self.pairwise(), false);
        }
        let (n, k) = (self.n, self.k);
        let eps = 1.0 / (2.0 * n as f64 * k as f64);
        let mut unary = self.unary.clone();
        for v in 0..n {
            let t = target.map_or(v * k / n, |t| t[v] as usize);
            for i in 0..k {
                unary[v * k + i] += eps * i.abs_diff(t) as f64;
            }
        }
        let mut l = ishikawa::solve(&unary, d, self.pairwise(), false)?;
        l.cost = self.cost_of(&l.positions);
        l.slack = 0.0;
        Ok(l)
    }

    pub(crate) fn cost_of(&self, positions: &[u16]) -> f64 {
        positions
            .iter()
            .enumerate()
            .map(|(v, &p)| self.unary[v * self.k + p as usize])
            .sum()
    }

    /// Whether a node whose placements all cost at least `bound` may hold
    /// one strictly cheaper than `incumbent` (beyond rounding: integer costs
    /// compare exactly, real ones with a relative tolerance of 1e-9).
    fn may_beat(&self, bound: f64, incumbent: Option<f64>) -> bool {
        let Some(b) = incumbent else { return true };
        if self.integral {
            // Node costs are integers ≥ bound (with a margin for bounds
            // summed in floating point).
            (bound - 1e-6).ceil() <= b - 1.0
        } else {
            bound < b - 1e-9 * b.abs().max(1.0)
        }
    }
}

/// Which constraint a placement breaks first, and how to split on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Valid,
    /// Every completion of the node breaks the constraint.
    Hopeless(Cause),
    /// Split on `p(op) = pos`; `fix_first` explores "=" before "≠".
    Branch {
        op: usize,
        pos: usize,
        fix_first: bool,
    },
}

/// The constraint behind a closed node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Cause {
    Prefix,
    Triangle,
    Sram,
    /// The domains left no placement meeting the pairwise constraints.
    Pairwise,
}

impl Cause {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cause::Prefix => "no_skipping = \"prefix\"",
            Cause::Triangle => "no_triangle",
            Cause::Sram => "sram_capacity",
            Cause::Pairwise => "acyclic_dataflow / no_skipping = \"edge\"",
        }
    }
}

/// The outcome of a search.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    /// Best valid placement found and its cost.
    pub best: Option<(Vec<u16>, f64)>,
    /// Whether the search finished (so `best` is optimal, or none exists).
    pub complete: bool,
    /// A lower bound on the optimum (the best cost when complete).
    pub lower_bound: f64,
    pub nodes: u64,
    /// How many nodes each constraint closed, by [`Cause`] order.
    pub closed_by: [u64; 4],
}

struct Node {
    domains: Domains,
    /// Under the prefix rule, the number of positions in use (set below the
    /// root).
    m: Option<usize>,
    /// The parent's relaxed optimum, reused when still inside the domains.
    relaxed: Option<Labelling>,
    /// A lower bound inherited from the parent.
    bound: f64,
}

/// Once an incumbent exists, the primal heuristic runs at every this many
/// nodes (before, at every node).
const POLISH_EVERY: u64 = 32;

/// Searches `root`, whose relaxed optimum is `relaxed`, exhaustively (or up
/// to `max_nodes` nodes).
pub(crate) fn search(
    inst: &Instance,
    root: Domains,
    relaxed: &Labelling,
    max_nodes: u64,
) -> Outcome {
    let root_bound = relaxed.cost - relaxed.slack;
    let mut stack = Vec::new();
    if inst.prefix {
        // Every m, the one the relaxed optimum reaches explored first.
        let reach = relaxed
            .positions
            .iter()
            .map(|&p| p as usize + 1)
            .max()
            .unwrap_or(1);
        let mut ms: Vec<usize> = (1..=inst.k).collect();
        ms.sort_by_key(|&m| (m != reach, std::cmp::Reverse(m)));
        for &m in ms.iter().rev() {
            let mut d = root.clone();
            for v in 0..inst.n {
                d.keep_below(v, m);
            }
            stack.push(Node {
                domains: d,
                m: Some(m),
                relaxed: (m == reach).then(|| relaxed.clone()),
                bound: root_bound,
            });
        }
    } else {
        stack.push(Node {
            domains: root,
            m: None,
            relaxed: Some(relaxed.clone()),
            bound: root_bound,
        });
    }
    let mut best: Option<(Vec<u16>, f64)> = None;
    let mut nodes = 0u64;
    let mut closed_by = [0u64; 4];
    while let Some(mut node) = stack.pop() {
        if nodes == max_nodes {
            stack.push(node);
            break;
        }
        nodes += 1;
        let incumbent = best.as_ref().map(|b| b.1);
        if !inst.may_beat(node.bound, incumbent) {
            continue;
        }
        if let Err(cause) = propagate(inst, &mut node.domains, node.m) {
            closed_by[cause as usize] += 1;
            continue;
        }
        let cover = node.m.map_or(f64::NEG_INFINITY, |m| {
            covering_bound(inst, &node.domains, m)
        });
        if !inst.may_beat(cover, incumbent) {
            continue;
        }
        let reuse = node.relaxed.take().filter(|l| {
            l.positions
                .iter()
                .enumerate()
                .all(|(v, &p)| node.domains.allows(v, p as usize))
        });
        let relaxed = match reuse {
            Some(l) => l,
            None => match inst.relax(&node.domains, best.as_ref().map(|b| b.0.as_slice())) {
                Ok(l) => l,
                Err(_) => {
                    closed_by[Cause::Pairwise as usize] += 1;
                    continue;
                }
            },
        };
        if !inst.may_beat(relaxed.cost - relaxed.slack, incumbent) {
            continue;
        }
        let (op, pos, fix_first) = match verdict(inst, &relaxed.positions, &node.domains) {
            Verdict::Valid => {
                if inst.may_beat(relaxed.cost, incumbent) {
                    best = Some((relaxed.positions, relaxed.cost));
                }
                continue;
            }
            _ if (best.is_none() || nodes % POLISH_EVERY == 1)
                && polish(inst, &relaxed, &node.domains, &mut best) =>
            {
                // The relaxed optimum, made valid at no extra cost.
                continue;
            }
            Verdict::Hopeless(cause) => {
                closed_by[cause as usize] += 1;
                continue;
            }
            Verdict::Branch { op, pos, fix_first } => (op, pos, fix_first),
        };
        let bound = (relaxed.cost - relaxed.slack).max(cover);
        let mut without = node.domains.clone();
        without.remove(op, pos);
        let mut with = node.domains;
        with.fix(op, pos);
        let without = Node {
            domains: without,
            m: node.m,
            relaxed: None,
            bound,
        };
        // When the relaxed optimum has p(op) = pos (SRAM and triangle
        // splits), it stays optimal in the "=" child; otherwise the child
        // solves its own.
        let with = Node {
            domains: with,
            m: node.m,
            relaxed: Some(relaxed),
            bound,
        };
        if fix_first {
            stack.push(without);
            stack.push(with);
        } else {
            stack.push(with);
            stack.push(without);
        }
    }
    let complete = stack.is_empty();
    let open = stack.iter().map(|n| n.bound).fold(f64::INFINITY, f64::min);
    let lower_bound = match &best {
        Some((_, c)) => c.min(open),
        None => open,
    };
    Outcome {
        best,
        complete,
        lower_bound,
        nodes,
        closed_by,
    }
}

/// A lower bound for a node whose placements use exactly the positions
/// `0 .. m`: each op pays at least its cheapest allowed cost, and each
/// position `j < m` needs an op of its own there, which pays at least the
/// cheapest excess `cost_v(j) − min cost_v` over the ops allowed at `j`
/// (the ops are distinct, so summing per-position minima only weakens the
/// bound). It ignores the pairwise constraints, so it complements the
/// relaxation rather than replacing it; it is what proves, for instance, that
/// a proposal with every op on the last chip needs `m − 1` changes.
fn covering_bound(inst: &Instance, d: &Domains, m: usize) -> f64 {
    let (n, k) = (inst.n, inst.k);
    let mut excess = vec![f64::INFINITY; m];
    let mut total = 0.0;
    for v in 0..n {
        let row = &inst.unary[v * k..(v + 1) * k];
        let least = (0..k)
            .filter(|&i| d.allows(v, i))
            .map(|i| row[i])
            .fold(f64::INFINITY, f64::min);
        total += least;
        for (j, e) in excess.iter_mut().enumerate() {
            if d.allows(v, j) {
                *e = e.min(row[j] - least);
            }
        }
    }
    total + excess.iter().sum::<f64>()
}

/// A primal heuristic. From `x` (which meets the pairwise constraints): if
/// it breaks SRAM or triangle, rebuild it greedily ([`construct`]); then fill
/// unused positions below the last used one (prefix) by moving, each time,
/// the cheapest op that can move there without emptying another position or
/// breaking the pairwise or SRAM rule. A valid result becomes the incumbent
/// if better. Returns whether it is valid and costs no more than `x`, which
/// makes it optimal for any node whose relaxed optimum `x` is.
fn polish(inst: &Instance, x: &Labelling, d: &Domains, best: &mut Option<(Vec<u16>, f64)>) -> bool {
    let mut y = x.positions.clone();
    if inst.violations_beyond_prefix(&y) {
        match construct(inst, &x.positions, d) {
            Some(z) => y = z,
            None => return false,
        }
    }
    if inst.prefix && !fill_gaps(inst, &mut y, d) {
        return false;
    }
    if verdict(inst, &y, d) != Verdict::Valid {
        return false;
    }
    let mut better = y.clone();
    improve(inst, &mut better, d);
    if verdict(inst, &better, d) == Verdict::Valid {
        y = better;
    } else {
        debug_assert!(false, "improve broke a constraint");
    }
    let cost = inst.cost_of(&y);
    let free = if inst.integral {
        cost <= x.cost
    } else {
        cost <= x.cost + 1e-9 * x.cost.abs().max(1.0)
    };
    if inst.may_beat(cost, best.as_ref().map(|b| b.1)) {
        *best = Some((y, cost));
    }
    free
}

impl Instance<'_> {
    /// Whether `y` breaks the triangle or SRAM rule.
    fn violations_beyond_prefix(&self, y: &[u16]) -> bool {
        let triangle = self.triangle
            && find_triangle(
                self.k,
                self.pairs
                    .iter()
                    .map(|&(u, v)| (y[u as usize], y[v as usize])),
            )
            .is_some();
        let sram = self.sram.as_ref().is_some_and(|m| {
            m.needs(y)
                .iter()
                .zip(&m.capacity)
                .any(|(need, cap)| need > cap)
        });
        triangle || sram
    }

    /// Whether op `v` may sit at `j` with its placed neighbours in `y`.
    fn fits(&self, y: &[u16], v: usize, j: usize) -> bool {
        self.preds[v].iter().all(|&u| {
            let a = y[u as usize];
            a == UNPLACED
                || ((!self.acyclic || a as usize <= j) && (!self.edge || j <= a as usize + 1))
        }) && self.succs[v].iter().all(|&w| {
            let b = y[w as usize];
            b == UNPLACED
                || ((!self.acyclic || j <= b as usize) && (!self.edge || b as usize <= j + 1))
        })
    }
}

/// Local search on a valid placement: moves single ops to cheaper positions
/// while every constraint keeps holding (pairwise with the neighbours where
/// they are, prefix without opening a gap, no new chip-level triangle, SRAM at
/// the target), cheapest target first, in op order, until a pass changes
/// nothing.
fn improve(inst: &Instance, y: &mut [u16], d: &Domains) {
    let (n, k) = (inst.n, inst.k);
    let mut on: Vec<Vec<u32>> = vec![Vec::new(); k];
    for (v, &p) in y.iter().enumerate() {
        on[p as usize].push(v as u32);
    }
    // Tensors per (from position, to position), for the triangle rule.
    let mut flows = vec![0u32; k * k];
    for &(u, w) in &inst.pairs {
        flows[y[u as usize] as usize * k + y[w as usize] as usize] += 1;
    }
    let mut targets: Vec<usize> = Vec::with_capacity(k);
    for _pass in 0..4 {
        let mut changed = false;
        for v in 0..n {
            let here = y[v] as usize;
            let last = on.iter().rposition(|o| !o.is_empty()).unwrap_or(0);
            targets.clear();
            targets.extend((0..k).filter(|&j| {
                inst.unary[v * k + j] < inst.unary[v * k + here]
                    && d.allows(v, j)
                    && inst.fits(y, v, j)
            }));
            targets.sort_by(|&a, &b| {
                inst.unary[v * k + a]
                    .total_cmp(&inst.unary[v * k + b])
                    .then(a.abs_diff(here).cmp(&b.abs_diff(here)))
                    .then(a.cmp(&b))
            });
            for &j in &targets {
                if inst.prefix {
                    // The used positions must stay 0 ..= (new top).
                    let used = on.iter().filter(|o| !o.is_empty()).count();
                    let emptied = on[here].len() == 1;
                    let filled = on[j].is_empty();
                    let used = used - usize::from(emptied) + usize::from(filled);
                    let top = if emptied && here == last {
                        on[..here]
                            .iter()
                            .rposition(|o| !o.is_empty())
                            .unwrap_or(0)
                            .max(j)
                    } else {
                        last.max(j)
                    };
                    if used != top + 1 {
                        continue;
                    }
                }
                if inst.triangle {
                    let mut trial = flows.clone();
                    for &u in &inst.preds[v] {
                        let a = y[u as usize] as usize;
                        trial[a * k + here] -= 1;
                    }
                    for &w in &inst.succs[v] {
                        let b = y[w as usize] as usize;
                        trial[here * k + b] -= 1;
                    }
                    let mut closes = false;
                    let mut present: Vec<bool> = trial.iter().map(|&c| c > 0).collect();
                    for (a, b) in inst.preds[v]
                        .iter()
                        .map(|&u| (y[u as usize] as usize, j))
                        .chain(inst.succs[v].iter().map(|&w| (j, y[w as usize] as usize)))
                    {
                        if a < b && !present[a * k + b] {
                            closes |= closes_triangle(&present, k, a, b);
                            present[a * k + b] = true;
                        }
                    }
                    if closes {
                        continue;
                    }
                }
                if let Some(m) = &inst.sram {
                    y[v] = j as u16;
                    on[j].push(v as u32);
                    let fits = m.need_at(y, &on[j], j as u16) <= m.capacity[j];
                    on[j].pop();
                    y[v] = here as u16;
                    if !fits {
                        continue;
                    }
                }
                for &u in &inst.preds[v] {
                    let a = y[u as usize] as usize;
                    flows[a * k + here] -= 1;
                    flows[a * k + j] += 1;
                }
                for &w in &inst.succs[v] {
                    let b = y[w as usize] as usize;
                    flows[here * k + b] -= 1;
                    flows[j * k + b] += 1;
                }
                on[here].retain(|&o| o as usize != v);
                on[j].push(v as u32);
                y[v] = j as u16;
                changed = true;
                break;
            }
        }
        if !changed {
            break;
        }
    }
}

/// Fills the gaps of `y` below its last used position by single moves (see
/// [`polish`]); false if some gap cannot be filled.
fn fill_gaps(inst: &Instance, y: &mut [u16], d: &Domains) -> bool {
    let (n, k) = (inst.n, inst.k);
    let mut on: Vec<Vec<u32>> = vec![Vec::new(); k];
    for (v, &p) in y.iter().enumerate() {
        on[p as usize].push(v as u32);
    }
    loop {
        let last = on.iter().rposition(|o| !o.is_empty()).unwrap_or(0);
        let Some(j) = (0..last).find(|&j| on[j].is_empty()) else {
            return true;
        };
        let delta = |v: usize| inst.unary[v * k + j] - inst.unary[v * k + y[v] as usize];
        let fits_sram = |v: usize| {
            inst.sram
                .as_ref()
                .is_none_or(|m| m.need_at(y, &[v as u32], j as u16) <= m.capacity[j])
        };
        let mover = (0..n)
            .filter(|&v| {
                let p = y[v] as usize;
                d.allows(v, j)
                    && (on[p].len() > 1 || p == last)
                    && inst.fits(y, v, j)
                    && fits_sram(v)
            })
            .min_by(|&a, &b| delta(a).total_cmp(&delta(b)).then(a.cmp(&b)));
        let Some(v) = mover else { return false };
        let p = y[v] as usize;
        on[p].retain(|&o| o as usize != v);
        on[j].push(v as u32);
        y[v] = j as u16;
    }
}

/// Builds a placement op by op in topological order, each op at the
/// allowed position nearest to `x` (ties: cheapest, then lowest) that keeps
/// the pairwise constraints with its placed producers, adds no chip-level
/// triangle, and keeps its chiplet's SRAM need (of the ops placed so far,
/// which later ops only raise) within capacity. `None` if some op has no
/// such position.
fn construct(inst: &Instance, x: &[u16], d: &Domains) -> Option<Vec<u16>> {
    let (n, k) = (inst.n, inst.k);
    let mut y = vec![UNPLACED; n];
    let mut on: Vec<Vec<u32>> = vec![Vec::new(); k];
    let mut flow = vec![false; k * k];
    let mut candidates: Vec<usize> = Vec::with_capacity(k);
    for v in 0..n {
        candidates.clear();
        candidates.extend((0..k).filter(|&i| d.allows(v, i) && inst.fits(&y, v, i)));
        let key = |i: usize| ((i as i64 - x[v] as i64).abs(), inst.unary[v * k + i], i);
        candidates.sort_by(|&a, &b| {
            let (da, ca, ia) = key(a);
            let (db, cb, ib) = key(b);
            da.cmp(&db).then(ca.total_cmp(&cb)).then(ia.cmp(&ib))
        });
        let mut chosen = None;
        for &i in &candidates {
            if inst.triangle {
                let mut trial = flow.clone();
                let mut closes = false;
                for &u in &inst.preds[v] {
                    let a = y[u as usize] as usize;
                    if a < i && !trial[a * k + i] {
                        closes |= closes_triangle(&trial, k, a, i);
                        trial[a * k + i] = true;
                    }
                }
                if closes {
                    continue;
                }
            }
            if let Some(m) = &inst.sram {
                y[v] = i as u16;
                on[i].push(v as u32);
                let fits = m.need_at(&y, &on[i], i as u16) <= m.capacity[i];
                on[i].pop();
                y[v] = UNPLACED;
                if !fits {
                    continue;
                }
            }
            chosen = Some(i);
            break;
        }
        let chosen = chosen?;
        for &u in &inst.preds[v] {
            let a = y[u as usize] as usize;
            if a < chosen {
                flow[a * k + chosen] = true;
            }
        }
        y[v] = chosen as u16;
        on[chosen].push(v as u32);
    }
    Some(y)
}

/// Whether adding the flow `a → b` (a < b) to `flow` completes a triangle.
fn closes_triangle(flow: &[bool], k: usize, a: usize, b: usize) -> bool {
    (0..k).any(|j| {
        (a < j && j < b && flow[a * k + j] && flow[j * k + b])
            || (j > b && flow[b * k + j] && flow[a * k + j])
            || (j < a && flow[j * k + a] && flow[j * k + b])
    })
}

/// Tightens a node's domains with what its fixed ops imply; `Err` when they
/// already break a constraint in every completion.
///
/// Each round first narrows every op to its interval under the pairwise
/// constraints (`ishikawa::propagate_bounds`: no placement of the node that
/// meets them uses a position outside it), so an op whose interval is one
/// position counts as fixed, then applies the rules below to the fixed ops;
/// SRAM may remove positions, which may narrow intervals further, so rounds
/// repeat until nothing changes. On chains of ops this is what closes a node
/// at once when two fixed ops would force everything between them onto one
/// overfull chiplet, instead of branching op by op towards that conclusion.
fn propagate(inst: &Instance, d: &mut Domains, m: Option<usize>) -> Result<(), Cause> {
    loop {
        let (lo, hi) =
            ishikawa::propagate_bounds(d, inst.n, inst.pairwise()).map_err(|_| Cause::Pairwise)?;
        for v in 0..inst.n {
            d.keep_between(v, lo[v], hi[v]);
        }
        if !propagate_fixed(inst, d, m)? {
            return Ok(());
        }
    }
}

/// One round of [`propagate`] on the ops whose domain is a single position;
/// returns whether it removed a position.
fn propagate_fixed(inst: &Instance, d: &mut Domains, m: Option<usize>) -> Result<bool, Cause> {
    let (n, k) = (inst.n, inst.k);
    if let Some(m) = m {
        // Every position below m must be used: one no op may take closes
        // the node.
        if (0..m).any(|j| (0..n).all(|v| !d.allows(v, j))) {
            return Err(Cause::Prefix);
        }
    }
    let fixed: Vec<u16> = (0..n)
        .map(|v| d.fixed(v).map_or(UNPLACED, |p| p as u16))
        .collect();
    if inst.triangle {
        let pairs = inst.pairs.iter().filter_map(|&(u, v)| {
            let (a, b) = (fixed[u as usize], fixed[v as usize]);
            (a != UNPLACED && b != UNPLACED).then_some((a, b))
        });
        if find_triangle(k, pairs).is_some() {
            return Err(Cause::Triangle);
        }
    }
    let mut removed = false;
    if let Some(model) = &inst.sram {
        let need = model.needs(&fixed);
        if need
            .iter()
            .zip(&model.capacity)
            .any(|(need, cap)| need > cap)
        {
            return Err(Cause::Sram);
        }
        // Each position's fixed weights and fixed activation peak; an op fits
        // a position only if both, plus its own weights and activations, do.
        let mut weights = vec![0u64; k];
        for (v, &p) in fixed.iter().enumerate() {
            if p != UNPLACED && model.resident[p as usize] {
                weights[p as usize] += model.problem.weight_bytes[v];
            }
        }
        for v in (0..n).filter(|&v| fixed[v] == UNPLACED) {
            for i in 0..k {
                if !d.allows(v, i) {
                    continue;
                }
                let own = model.own_need(v, i);
                let own_weights = if model.resident[i] {
                    model.problem.weight_bytes[v]
                } else {
                    0
                };
                let peak = (need[i] - weights[i]).max(own - own_weights);
                if weights[i] + own_weights + peak > model.capacity[i] {
                    d.remove(v, i);
                    removed = true;
                }
            }
            if d.is_empty(v) {
                return Err(Cause::Sram);
            }
        }
    }
    Ok(removed)
}

/// Positions `i < j < k` with flows `i → j`, `j → k` and `i → k` among the
/// given `(p(from), p(to))` pairs, the first in lexicographic order.
fn find_triangle(k: usize, pairs: impl Iterator<Item = (u16, u16)>) -> Option<[usize; 3]> {
    let mut flow = vec![false; k * k];
    for (a, b) in pairs {
        if a < b {
            flow[a as usize * k + b as usize] = true;
        }
    }
    for i in 0..k {
        for j in i + 1..k {
            if !flow[i * k + j] {
                continue;
            }
            for l in j + 1..k {
                if flow[j * k + l] && flow[i * k + l] {
                    return Some([i, j, l]);
                }
            }
        }
    }
    None
}

/// Checks a placement that meets the pairwise constraints against the other
/// constraints, and picks the split for the first one broken.
pub(crate) fn verdict(inst: &Instance, x: &[u16], d: &Domains) -> Verdict {
    let (n, k) = (inst.n, inst.k);
    let is_fixed = |v: usize| d.fixed(v).is_some();
    if inst.prefix {
        let mut used = vec![false; k];
        for &p in x {
            used[p as usize] = true;
        }
        let last = used.iter().rposition(|&u| u).unwrap_or(0);
        if let Some(j) = (0..last).find(|&j| !used[j]) {
            // Somebody must move to j: try the cheapest such move first,
            // among ops whose bounds under the pairwise constraints allow it.
            let Ok((lo, hi)) = ishikawa::propagate_bounds(d, n, inst.pairwise()) else {
                return Verdict::Hopeless(Cause::Pairwise);
            };
            // Prefer the ends of tensors that jump over j (moving one of
            // them there disturbs least), then the cheapest move, then the
            // nearest op.
            let mut jumps = vec![false; n];
            for &(u, w) in &inst.pairs {
                let (a, b) = (x[u as usize] as usize, x[w as usize] as usize);
                if a.min(b) < j && j < a.max(b) {
                    jumps[u as usize] = true;
                    jumps[w as usize] = true;
                }
            }
            let key = |v: usize| {
                (
                    !jumps[v],
                    inst.unary[v * k + j] - inst.unary[v * k + x[v] as usize],
                    (x[v] as usize).abs_diff(j),
                    v,
                )
            };
            let op = (0..n)
                .filter(|&v| d.allows(v, j) && lo[v] <= j && j <= hi[v] && !is_fixed(v))
                .min_by(|&a, &b| {
                    let (ja, ca, da, ia) = key(a);
                    let (jb, cb, db, ib) = key(b);
                    ja.cmp(&jb)
                        .then(ca.total_cmp(&cb))
                        .then(da.cmp(&db))
                        .then(ia.cmp(&ib))
                });
            return match op {
                Some(op) => Verdict::Branch {
                    op,
                    pos: j,
                    fix_first: true,
                },
                // Nobody may move to j, yet someone sits beyond it.
                None => Verdict::Hopeless(Cause::Prefix),
            };
        }
    }
    if inst.triangle {
        let pairs = inst
            .pairs
            .iter()
            .map(|&(u, v)| (x[u as usize], x[v as usize]));
        if let Some([i, j, l]) = find_triangle(k, pairs) {
            // The witnesses of each flow; a flow with a witness between fixed
            // ops is there in every completion.
            let witnesses = |a: usize, b: usize| -> Vec<(usize, usize)> {
                inst.pairs
                    .iter()
                    .map(|&(u, v)| (u as usize, v as usize))
                    .filter(|&(u, v)| x[u] as usize == a && x[v] as usize == b)
                    .collect()
            };
            let flows = [witnesses(i, l), witnesses(i, j), witnesses(j, l)];
            let breakable = flows
                .iter()
                .filter(|w| !w.iter().any(|&(u, v)| is_fixed(u) && is_fixed(v)))
                .min_by_key(|w| w.len());
            let Some(w) = breakable else {
                return Verdict::Hopeless(Cause::Triangle);
            };
            let (u, v) = w
                .iter()
                .copied()
                .find(|&(u, v)| !is_fixed(u) || !is_fixed(v))
                .expect("a breakable flow has an unfixed witness");
            let op = if is_fixed(u) { v } else { u };
            return Verdict::Branch {
                op,
                pos: x[op] as usize,
                fix_first: false,
            };
        }
    }
    if let Some(model) = &inst.sram {
        let need = model.needs(x);
        if let Some(pos) = (0..k).find(|&i| need[i] > model.capacity[i]) {
            // Move the heaviest unfixed op off the overfull chiplet first.
            let weight = |v: usize| {
                let w = if model.resident[pos] {
                    model.problem.weight_bytes[v]
                } else {
                    0
                };
                w + model.problem.output_bytes[v]
            };
            let op = (0..n)
                .filter(|&v| x[v] as usize == pos && !is_fixed(v))
                .min_by(|&a, &b| weight(b).cmp(&weight(a)).then(a.cmp(&b)));
            return match op {
                Some(op) => Verdict::Branch {
                    op,
                    pos,
                    fix_first: false,
                },
                // All its ops are fixed: the need is the fixed ops' need,
                // which no completion lowers.
                None => Verdict::Hopeless(Cause::Sram),
            };
        }
    }
    Verdict::Valid
}
