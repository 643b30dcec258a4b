//! Branch and bound over op domains, bounded by the min-cut relaxation, for
//! the constraints the relaxation leaves out (prefix, triangle, SRAM).
//!
//! A node is a set of allowed positions per op. Its relaxation (costs plus the
//! convex pairwise constraints, solved exactly by `ishikawa`) is a lower bound
//! on every valid placement inside the node. If the relaxation's optimum is
//! valid it is the node's optimum; otherwise it breaks some constraint, and
//! the node splits on one op `v` and one position `i` taken from the violation
//! into "`p(v) ≠ i`" and "`p(v) = i`". The two children partition the node,
//! and the first excludes the relaxed optimum, so nothing valid is lost and
//! every split shrinks a domain: the search is exhaustive and finite. A node
//! is discarded only when its bound cannot beat the incumbent, or when the ops
//! it has *fixed* already break a constraint that more ops can only break
//! further (a triangle among fixed edges; the SRAM need of the fixed ops,
//! which is monotone, see `sram`), or when its domains leave no solution.
//! Search is depth first with a fixed child order, so results do not depend
//! on anything but the inputs; an optional node limit stops it early, and the
//! answer then says so.

use super::domains::Domains;
use super::ishikawa::{self, Labelling, Pairwise};
use super::sram::{SramModel, UNPLACED};

/// The repair problem in pipeline positions.
pub(crate) struct Instance {
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
    pub sram: Option<SramModel>,
}

impl Instance {
    pub(crate) fn pairwise(&self) -> Pairwise<'_> {
        Pairwise {
            pairs: &self.pairs,
            acyclic: self.acyclic,
            edge: self.edge,
        }
    }

    pub(crate) fn cost_of(&self, positions: &[u16]) -> f64 {
        positions
            .iter()
            .enumerate()
            .map(|(v, &p)| self.unary[v * self.k + p as usize])
            .sum()
    }

    /// Whether `a` is a strict improvement on `b` (beyond rounding).
    fn better(&self, a: f64, b: f64) -> bool {
        if self.integral {
            a < b - 0.5
        } else {
            a < b - 1e-9 * b.abs().max(1.0)
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
        cause: Cause,
    },
}

/// The constraint behind a verdict or a pruned node.
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
    /// The parent's relaxed optimum, reused when still inside the domains.
    relaxed: Option<Labelling>,
    /// A lower bound inherited from the parent.
    bound: f64,
}

/// Searches `root` exhaustively (or up to `max_nodes` nodes).
pub(crate) fn search(inst: &Instance, root: Domains, max_nodes: u64) -> Outcome {
    let mut stack = vec![Node {
        domains: root,
        relaxed: None,
        bound: f64::NEG_INFINITY,
    }];
    let mut best: Option<(Vec<u16>, f64)> = None;
    let mut nodes = 0u64;
    let mut closed_by = [0u64; 4];
    while let Some(mut node) = stack.pop() {
        if nodes == max_nodes {
            stack.push(node);
            break;
        }
        nodes += 1;
        if let Err(cause) = propagate(inst, &mut node.domains) {
            closed_by[cause as usize] += 1;
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
            None => match ishikawa::solve(&inst.unary, &node.domains, inst.pairwise(), inst.integral)
            {
                Ok(l) => l,
                Err(_) => {
                    closed_by[Cause::Pairwise as usize] += 1;
                    continue;
                }
            },
        };
        if best
            .as_ref()
            .is_some_and(|(_, b)| !inst.better(relaxed.cost, *b))
        {
            continue;
        }
        match verdict(inst, &relaxed.positions, &node.domains) {
            Verdict::Valid => best = Some((relaxed.positions, relaxed.cost)),
            Verdict::Hopeless(cause) => closed_by[cause as usize] += 1,
            Verdict::Branch {
                op, pos, fix_first, ..
            } => {
                let mut without = node.domains.clone();
                without.remove(op, pos);
                let mut with = node.domains;
                with.fix(op, pos);
                let bound = relaxed.cost;
                let without = Node {
                    domains: without,
                    relaxed: None,
                    bound,
                };
                // The relaxed optimum has p(op) = pos, so it stays optimal
                // in the "=" child.
                let with = Node {
                    domains: with,
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

/// Tightens a node's domains with what its fixed ops imply; `Err` when they
/// already break a constraint in every completion.
fn propagate(inst: &Instance, d: &mut Domains) -> Result<(), Cause> {
    let (n, k) = (inst.n, inst.k);
    if inst.prefix {
        // A position no op may take cannot be used, so (no gaps) no later
        // position can be either.
        if let Some(j) = (0..k).find(|&j| (0..n).all(|v| !d.allows(v, j))) {
            for v in 0..n {
                d.keep_below(v, j);
                if d.is_empty(v) {
                    return Err(Cause::Prefix);
                }
            }
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
    if let Some(m) = &inst.sram {
        let need = m.needs(&fixed);
        if need.iter().zip(&m.capacity).any(|(need, cap)| need > cap) {
            return Err(Cause::Sram);
        }
        // Each position's fixed weights and fixed activation peak; an op fits
        // a position only if both, plus its own weights and activations, do.
        let mut weights = vec![0u64; k];
        for (v, &p) in fixed.iter().enumerate() {
            if p != UNPLACED && m.resident[p as usize] {
                weights[p as usize] += m.weight_bytes[v];
            }
        }
        for v in (0..n).filter(|&v| fixed[v] == UNPLACED) {
            for i in 0..k {
                if !d.allows(v, i) {
                    continue;
                }
                let own = m.own_need(v, i);
                let own_weights = if m.resident[i] { m.weight_bytes[v] } else { 0 };
                let peak = (need[i] - weights[i]).max(own - own_weights);
                if weights[i] + own_weights + peak > m.capacity[i] {
                    d.remove(v, i);
                }
            }
            if d.is_empty(v) {
                return Err(Cause::Sram);
            }
        }
    }
    Ok(())
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

/// Checks a relaxed optimum (which meets the pairwise constraints) against
/// the other constraints, and picks the split for the first one broken.
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
            // Somebody must move to j (propagation guarantees someone may):
            // try the cheapest such move first.
            let delta = |v: usize| inst.unary[v * k + j] - inst.unary[v * k + x[v] as usize];
            let op = (0..n)
                .filter(|&v| d.allows(v, j) && !is_fixed(v))
                .min_by(|&a, &b| delta(a).total_cmp(&delta(b)).then(a.cmp(&b)));
            return match op {
                Some(op) => Verdict::Branch {
                    op,
                    pos: j,
                    fix_first: true,
                    cause: Cause::Prefix,
                },
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
                cause: Cause::Triangle,
            };
        }
    }
    if let Some(m) = &inst.sram {
        let need = m.needs(x);
        if let Some(pos) = (0..k).find(|&i| need[i] > m.capacity[i]) {
            // Move the heaviest unfixed op off the overfull chiplet first.
            let weight = |v: usize| {
                let w = if m.resident[pos] { m.weight_bytes[v] } else { 0 };
                w + m.output_bytes[v]
            };
            let op = (0..n)
                .filter(|&v| x[v] as usize == pos && !is_fixed(v))
                .min_by(|&a, &b| weight(b).cmp(&weight(a)).then(a.cmp(&b)));
            return match op {
                Some(op) => Verdict::Branch {
                    op,
                    pos,
                    fix_first: false,
                    cause: Cause::Sram,
                },
                // All its ops are fixed: the need is the fixed ops' need,
                // which no completion lowers.
                None => Verdict::Hopeless(Cause::Sram),
            };
        }
    }
    Verdict::Valid
}
