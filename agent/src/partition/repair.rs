//! Exact repair of a proposed placement into the valid placement closest to it.
//!
//! Closeness is either the number of ops whose chiplet changes
//! ([`Objective::FewestChanges`]) or a total per-op-per-chiplet cost
//! ([`Objective::Cost`], e.g. −log of a policy's probabilities).
//!
//! # Algorithm
//!
//! Repair works in pipeline positions: `p(v)` is the position, in the spec's
//! pipeline order, of op `v`'s chiplet, and the objective becomes a cost per op
//! and position. Of the constraints in `sim::constraints`, two are pairwise
//! and convex in the positions: acyclic dataflow (`p(v) − p(u) ≥ 0` for every
//! tensor `u → v`) and no skipping in `edge` mode (`p(v) − p(u) ≤ 1`).
//!
//! 1. **Pruning positions.** A position is dropped for an op when its cost is
//!    +∞ or when the op alone overflows that chiplet's SRAM (its resident
//!    weights, inputs, output and graph inputs are all live while it runs).
//!    An op left without positions, or more resident weights than all SRAM
//!    together, is reported as [`Infeasible`] at once, naming the op or the
//!    totals.
//! 2. **Relaxation by minimum cut** (`repair/ishikawa.rs`): costs plus the
//!    convex pairwise constraints are minimised exactly by Ishikawa's
//!    construction (one chain of nodes per op; the minimum cut by Boykov and
//!    Kolmogorov's max-flow algorithm, `repair/maxflow.rs`). Its optimum is a
//!    lower bound on every valid placement. When it also satisfies prefix,
//!    triangle and SRAM, it is optimal, and repair ends here
//!    (`method = "min-cut"`). This is the common case: with acyclic dataflow
//!    and `edge` mode no tensor spans more than one position, so no triangle
//!    can form, and SRAM rarely binds when weights stream (the Edge TPU ring).
//!
//!    Under acyclic dataflow with the SRAM rule, the relaxation also carries
//!    the SRAM rule's consequences for pairs of ops (`repair/sram.rs`): when
//!    the ops on the paths from `a` to `b` overflow a chiplet together, `a`
//!    and `b` cannot both sit on it, since every op between them would sit
//!    there too. That is the convex constraint `p(a) ≥ i ⇒ p(b) ≥ i + 1`
//!    per position `i`, one more infinite arc of the network. Without them
//!    the relaxation keeps far-apart ops of a proposal on one chiplet and
//!    stays 1 to 3 changes below the optimum on ResNet-50 with 4 MiB Simba
//!    chiplets, which branch and bound then closed op by op (tens to
//!    hundreds of nodes); with them it usually meets the optimum.
//! 3. **Branch and bound** (`repair/branch.rs`) otherwise: each node restricts
//!    the ops' positions, is bounded by the relaxation under those
//!    restrictions (and, under prefix, by a covering bound), and splits on one
//!    op and one position of the violation its relaxed optimum shows
//!    ("`p(v) ≠ i`" / "`p(v) = i`"). Nodes close when their bound cannot beat
//!    the best valid placement found, or when the ops they fix already break
//!    the prefix, triangle or SRAM rule for good (the SRAM need of a set of
//!    ops only grows as ops join it, `sim::problem`; `repair/sram.rs` reads
//!    it by position). A primal heuristic (greedy rebuild near the relaxed
//!    optimum, gap filling, local moves) supplies incumbents.
//!
//! # Exactness
//!
//! Finite cuts of Ishikawa's network are exactly the labellings that meet the
//! pairwise constraints (and the SRAM implications), at equal cost, so step 2
//! is exact; every valid placement meets the SRAM implications, so adding
//! them keeps the relaxation a lower bound. In step 3 the
//! children of a split partition their parent, every bound is a valid lower
//! bound for all placements inside its node, a placement is accepted only
//! after the full check, and a node is closed only by its bound or by a
//! violation every completion shares. So the best placement a completed
//! search saw is optimal, and a completed search without one proves that no
//! valid placement exists. Splits shrink domains, so the search ends.
//! Real-valued costs are compared with a relative tolerance of 1e-9; integer
//! costs (fewest changes) exactly. `tests/tests/repair.rs` checks the optimal
//! value against brute force over every placement of small random instances,
//! in every constraint mode, and agreement on infeasibility.
//!
//! # Limits
//!
//! The relaxation is polynomial; the branch and bound is not (SRAM alone
//! makes repair a bin-packing problem). [`RepairOptions::max_nodes`] bounds
//! it (2,000 nodes by default). If the limit stops the search, the answer is
//! still valid, [`Repaired::proven_optimal`] is false and
//! [`Repaired::lower_bound`] says how far from optimal it can be; without any
//! valid placement found, [`Infeasible::proven`] is false. In practice: on
//! the 16-chip Edge TPU ring (acyclic, edge, triangle, SRAM with streamed
//! weights) every BERT-base repair ends at step 2 in a few milliseconds; with
//! `no_skipping = off` branch and bound settles the triangle rule in tens of
//! milliseconds; `prefix` mode often reaches the limit (about a second),
//! answering with a valid placement a few ops (up to about ten) above the
//! proven lower bound. Where SRAM binds under acyclic dataflow (ViT-Ti/16 on
//! Simba, ResNet-50 on Simba with 4 MiB chiplets) the SRAM implications let
//! branch and bound prove the optimum within a few nodes: medians of about
//! 12 and 4 ms, p95 about 100 and 35 ms. `agent/benches/repair.rs` measures
//! these cases.
//!
//! Everything is deterministic: ops and arcs are visited in id order, the
//! minimum cut read is the smallest source side, children are explored in a
//! fixed order, the node limit counts nodes, and no clock is read.

mod branch;
mod domains;
mod ishikawa;
mod maxflow;
pub(crate) mod sram;

use sim::Placement;
use sim::constraints::{Constraints, check};
use sim::graph::Graph;
use sim::spec::{ChipletId, HwSpec, NoSkipping};

use self::branch::{Cause, Instance};
use self::domains::Domains;
use self::sram::SramModel;

/// What "closest" means.
#[derive(Clone, Copy, Debug)]
pub enum Objective<'a> {
    /// Minimise the number of ops placed on a chiplet other than proposed.
    FewestChanges(&'a [ChipletId]),
    /// Minimise Σ_v cost[v][chiplet(v)]; `cost[v]` is indexed by chiplet id.
    /// `+∞` forbids a chiplet for an op; NaN and `−∞` are refused.
    Cost(&'a [Vec<f64>]),
}

/// How much work repair may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RepairOptions {
    /// Branch-and-bound nodes explored before giving up on proving
    /// optimality. The min-cut relaxation alone is one node.
    pub max_nodes: u64,
}

impl Default for RepairOptions {
    fn default() -> RepairOptions {
        RepairOptions { max_nodes: 2_000 }
    }
}

/// A repaired placement.
#[derive(Clone, Debug, PartialEq)]
pub struct Repaired {
    pub placement: Placement,
    /// The objective's value at `placement`.
    pub cost: f64,
    /// Which algorithm proved optimality (for diagnostics and benchmarks):
    /// `"min-cut"` when the relaxation's optimum was already valid, else
    /// `"branch-and-bound"`.
    pub method: &'static str,
    /// Whether `cost` is proven optimal; false only when the node limit
    /// stopped the search.
    pub proven_optimal: bool,
    /// A lower bound on the optimal cost (equal to `cost` when proven).
    pub lower_bound: f64,
    /// Branch-and-bound nodes explored (1 when the relaxation sufficed).
    pub nodes: u64,
}

/// Why no valid placement exists (or, when `proven` is false, why none was
/// found within the node limit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Infeasible {
    pub reason: String,
    /// Whether infeasibility is proven; false when the node limit stopped the
    /// search before it found a valid placement or ruled all out.
    pub proven: bool,
}

impl Infeasible {
    fn proven(reason: String) -> Infeasible {
        Infeasible {
            reason,
            proven: true,
        }
    }
}

/// Returns the valid placement (under `constraints`) that minimises `objective`.
pub fn repair(
    spec: &HwSpec,
    graph: &Graph,
    constraints: &Constraints,
    objective: Objective<'_>,
) -> Result<Repaired, Infeasible> {
    repair_with(
        spec,
        graph,
        constraints,
        objective,
        &RepairOptions::default(),
    )
}

/// [`repair`] with explicit limits.
pub fn repair_with(
    spec: &HwSpec,
    graph: &Graph,
    constraints: &Constraints,
    objective: Objective<'_>,
    options: &RepairOptions,
) -> Result<Repaired, Infeasible> {
    let mut inst = instance(spec, graph, constraints, objective)?;
    let root = root_domains(spec, graph, &inst)?;
    if let Some(m) = inst.sram.as_ref().filter(|_| inst.acyclic) {
        inst.implications = m.implications(&inst.succs);
    }
    let pos_to_chip = &spec.pipeline_order;
    let to_placement = |positions: &[u16]| Placement {
        chiplet_of_op: positions.iter().map(|&p| pos_to_chip[p as usize]).collect(),
    };

    // The relaxation at the root: infeasible means the pairwise constraints
    // cannot be met with the positions each op has left.
    let relaxed = ishikawa::solve(&inst.unary, &root, inst.pairwise(), inst.integral)
        .map_err(|c| pairwise_conflict(spec, graph, &inst, c))?;
    if branch::verdict(&inst, &relaxed.positions, &root) == branch::Verdict::Valid {
        let placement = to_placement(&relaxed.positions);
        debug_assert_eq!(check(spec, graph, &placement, constraints), vec![]);
        return Ok(Repaired {
            placement,
            cost: relaxed.cost,
            method: "min-cut",
            proven_optimal: true,
            lower_bound: relaxed.cost,
            nodes: 1,
        });
    }

    let out = branch::search(&inst, root, &relaxed, options.max_nodes.max(1));
    match out.best {
        Some((positions, cost)) => {
            let placement = to_placement(&positions);
            debug_assert_eq!(check(spec, graph, &placement, constraints), vec![]);
            debug_assert_eq!(cost, inst.cost_of(&positions));
            Ok(Repaired {
                placement,
                cost,
                method: "branch-and-bound",
                proven_optimal: out.complete,
                lower_bound: if out.complete { cost } else { out.lower_bound },
                nodes: out.nodes,
            })
        }
        None => {
            let closest = to_placement(&relaxed.positions);
            let example = check(spec, graph, &closest, constraints)
                .first()
                .map(|v| v.describe(graph))
                .unwrap_or_default();
            let mut causes: Vec<&str> = [Cause::Prefix, Cause::Triangle, Cause::Sram]
                .into_iter()
                .filter(|&c| out.closed_by[c as usize] > 0)
                .map(Cause::name)
                .collect();
            if causes.is_empty() {
                causes.push(Cause::Pairwise.name());
            }
            if out.complete {
                Err(Infeasible::proven(format!(
                    "no valid placement exists: branch and bound ({} nodes) found that every placement \
                     meeting the pairwise constraints breaks {}; the closest such placement breaks {example}",
                    out.nodes,
                    causes.join(" or "),
                )))
            } else {
                Err(Infeasible {
                    reason: format!(
                        "no valid placement found within {} branch-and-bound nodes (feasibility not \
                         decided); the closest placement meeting the pairwise constraints breaks {example}",
                        out.nodes
                    ),
                    proven: false,
                })
            }
        }
    }
}

/// Builds the problem in pipeline positions, refusing malformed objectives.
fn instance<'a>(
    spec: &'a HwSpec,
    graph: &'a Graph,
    constraints: &Constraints,
    objective: Objective<'_>,
) -> Result<Instance<'a>, Infeasible> {
    let n = graph.ops().len();
    let k = spec.n_chiplets();
    let order = &spec.pipeline_order;
    let mut unary = vec![0.0; n * k];
    match objective {
        Objective::FewestChanges(proposal) => {
            if proposal.len() != n {
                return Err(Infeasible::proven(format!(
                    "the proposal has {} entries but graph {:?} has {n} ops",
                    proposal.len(),
                    graph.name()
                )));
            }
            for (v, c) in proposal.iter().enumerate() {
                if c.idx() >= k {
                    return Err(Infeasible::proven(format!(
                        "the proposal puts op {v} on chiplet {c}, but {} has chiplets 0..{}",
                        spec.name,
                        k - 1
                    )));
                }
                for (i, &chip) in order.iter().enumerate() {
                    unary[v * k + i] = if chip == *c { 0.0 } else { 1.0 };
                }
            }
        }
        Objective::Cost(cost) => {
            if cost.len() != n {
                return Err(Infeasible::proven(format!(
                    "the cost table has {} rows but graph {:?} has {n} ops",
                    cost.len(),
                    graph.name()
                )));
            }
            for (v, row) in cost.iter().enumerate() {
                if row.len() != k {
                    return Err(Infeasible::proven(format!(
                        "cost row {v} has {} entries but {} has {k} chiplets",
                        row.len(),
                        spec.name
                    )));
                }
                for (i, &chip) in order.iter().enumerate() {
                    let c = row[chip.idx()];
                    if c.is_nan() || c == f64::NEG_INFINITY {
                        return Err(Infeasible::proven(format!(
                            "cost of op {v} on chiplet {chip} is {c}; costs must be numbers or +inf"
                        )));
                    }
                    unary[v * k + i] = c;
                }
            }
        }
    }
    let finite = unary.iter().copied().filter(|c| c.is_finite());
    let integral = finite
        .clone()
        .all(|c| c.fract() == 0.0 && c.abs() * (n as f64 + 1.0) < 2f64.powi(52));
    let mut pairs: Vec<(u32, u32)> = graph.edges().iter().map(|e| (e.from.0, e.to.0)).collect();
    pairs.dedup();
    let mut preds = vec![Vec::new(); n];
    let mut succs = vec![Vec::new(); n];
    for &(u, v) in &pairs {
        preds[v as usize].push(u);
        succs[u as usize].push(v);
    }
    Ok(Instance {
        n,
        k,
        // Derived in `repair_with` once the root domains are known to exist.
        implications: Vec::new(),
        unary,
        integral,
        pairs,
        acyclic: constraints.acyclic_dataflow,
        edge: constraints.no_skipping == NoSkipping::Edge,
        prefix: constraints.no_skipping == NoSkipping::Prefix,
        triangle: constraints.no_triangle,
        sram: constraints
            .sram_capacity
            .then(|| SramModel::new(spec, graph)),
        preds,
        succs,
    })
}

/// The positions each op may take at all: finite cost and, under the SRAM
/// rule, room for the op alone. Reports the first op left with none, and
/// resident weights beyond all SRAM.
fn root_domains(spec: &HwSpec, graph: &Graph, inst: &Instance) -> Result<Domains, Infeasible> {
    let (n, k) = (inst.n, inst.k);
    let mut d = Domains::full(n, k);
    for v in 0..n {
        for i in 0..k {
            if !inst.unary[v * k + i].is_finite() {
                d.remove(v, i);
            }
        }
        if d.is_empty(v) {
            return Err(Infeasible::proven(format!(
                "op {v} ({:?}) has cost +inf on every chiplet",
                graph.ops()[v].name
            )));
        }
        if let Some(m) = &inst.sram {
            let before: Vec<usize> = (0..k).filter(|&i| d.allows(v, i)).collect();
            for &i in &before {
                if m.own_need(v, i) > m.capacity[i] {
                    d.remove(v, i);
                }
            }
            if d.is_empty(v) {
                let op = &graph.ops()[v];
                // Name the position that comes closest (the first of equals).
                let i = *before
                    .iter()
                    .min_by_key(|&&i| (m.own_need(v, i) - m.capacity[i], i))
                    .expect("the op had a position");
                return Err(Infeasible::proven(format!(
                    "sram_capacity: op {v} ({:?}) alone needs {} bytes on every chiplet it may use \
                     ({} weight bytes{}, plus its inputs, output and graph inputs); chiplet {} \
                     ({:?}) holds only {} bytes",
                    op.name,
                    m.own_need(v, i),
                    op.weight_bytes,
                    if m.resident[i] {
                        " resident"
                    } else {
                        " streamed, so not counted"
                    },
                    spec.pipeline_order[i],
                    spec.chiplet_type(spec.pipeline_order[i]).name,
                    m.capacity[i]
                )));
            }
        }
    }
    if let Some(m) = &inst.sram
        && m.resident.iter().all(|&r| r)
    {
        let weights: u64 = m.problem.weight_bytes.iter().sum();
        let capacity: u64 = m.capacity.iter().sum();
        if weights > capacity {
            return Err(Infeasible::proven(format!(
                "sram_capacity: the model's weights ({weights} bytes) exceed the SRAM of all {k} \
                 chiplets together ({capacity} bytes), and no off-package memory streams weights"
            )));
        }
    }
    Ok(d)
}

/// Explains a relaxation with no solution at the root.
fn pairwise_conflict(
    spec: &HwSpec,
    graph: &Graph,
    inst: &Instance,
    c: ishikawa::Conflict,
) -> Infeasible {
    let pruned = if inst.sram.is_some() {
        " on the chiplets whose SRAM fits it alone"
    } else {
        " on the chiplets of finite cost"
    };
    if c.constraint == "sram_capacity" {
        return Infeasible::proven(format!(
            "sram_capacity: op {} ({:?}) has no position left in the pipeline order of {}{pruned}: \
             under acyclic_dataflow every op on a path between two ops shares their chiplet when \
             they share one, and the ops between some pair of ops would overflow any chiplet's \
             SRAM they shared (no_skipping = {:?})",
            c.op,
            graph.ops()[c.op].name,
            spec.name,
            if inst.edge { "edge" } else { "off" },
        ));
    }
    Infeasible::proven(format!(
        "{}: op {} ({:?}) has no position left in the pipeline order of {}{pruned}, given \
         acyclic_dataflow = {} and no_skipping = {:?}",
        c.constraint,
        c.op,
        graph.ops()[c.op].name,
        spec.name,
        inst.acyclic,
        if inst.edge { "edge" } else { "off" },
    ))
}

/// The number of valid placements of a chain of `n_ops` ops on `n_chiplets`
/// chiplets under acyclic dataflow and the given no-skipping mode (no
/// triangle can form on a chain whose tensors never flow backwards, and SRAM
/// is not counted), or `None` if it exceeds `u128`.
///
/// On a chain, acyclic dataflow makes positions non-decreasing along the
/// chain. `edge` mode allows steps of 0 or 1 from any start; `prefix` mode
/// needs the visited positions to be `0 .. m`, i.e. steps of 0 or 1 from
/// position 0; `off` allows any non-decreasing sequence. Counted by dynamic
/// programming over (op, position). This is what makes valid placements
/// sparse: a 200-op chain on 4 chiplets has 1,333,702 valid placements in
/// `edge` mode (1,313,600 = C(199,0)+C(199,1)+C(199,2)+C(199,3) in `prefix`
/// mode) among 4^200 ≈ 2.6·10^120.
pub fn count_valid_chain_placements(
    n_ops: usize,
    n_chiplets: usize,
    no_skipping: NoSkipping,
) -> Option<u128> {
    if n_ops == 0 || n_chiplets == 0 {
        return Some(u128::from(n_ops == 0));
    }
    let mut count: Vec<u128> = match no_skipping {
        NoSkipping::Prefix => (0..n_chiplets).map(|i| u128::from(i == 0)).collect(),
        NoSkipping::Edge | NoSkipping::Off => vec![1; n_chiplets],
    };
    for _ in 1..n_ops {
        let mut next = vec![0u128; n_chiplets];
        let mut below = 0u128;
        for (i, slot) in next.iter_mut().enumerate() {
            *slot = match no_skipping {
                NoSkipping::Off => {
                    below = below.checked_add(count[i])?;
                    below
                }
                NoSkipping::Edge | NoSkipping::Prefix => {
                    let step = if i > 0 { count[i - 1] } else { 0 };
                    count[i].checked_add(step)?
                }
            };
        }
        count = next;
    }
    count.iter().try_fold(0u128, |a, &c| a.checked_add(c))
}

#[cfg(test)]
mod tests;
