//! The `exact` partition method: a branch and bound that minimises the
//! analytic bottleneck of a placement under the package's constraints, proves
//! a lower bound on it, and reports the gap between the two.
//!
//! # Objective
//!
//! The objective of a placement is `sim::oracle::analyse(..).bottleneck_cycles`,
//! computed here without building an `Analysis`: the largest of
//! - each chiplet's stage time, `Σ op_cost(op, type).cycles` over its ops, where
//!   an op whose weights stream from off-package memory (under
//!   `sim::cost::residency`) takes `max(cycles, ser + latency)` instead;
//! - each link's serialisation cycles: every op sends its output once to each
//!   other chiplet that consumes it, packet by packet, over the spec's route;
//! - the off-package memory's serialisation cycles (streamed weights, summed
//!   over all chiplets).
//!
//! Without streaming this is exactly "max over chiplets of the stage compute
//! time and over links of the tensors routed over them". With streaming it is
//! still the oracle's number, so the method never optimises something the rest
//! of tessera does not report. A test checks the equality on random
//! placements.
//!
//! # Formulation
//!
//! With acyclic dataflow on (every shipped spec), a placement is a chain of
//! *down-sets* of the graph: `I_k`, the ops at pipeline positions `≤ k`, is
//! closed under predecessors, and `∅ ⊆ I_0 ⊆ … ⊆ I_{n−1} = V`; position `k`
//! holds `S_k = I_k ∖ I_{k−1}`. Conversely every such chain is an acyclic
//! placement. Zoo graphs have few down-sets (BERT-base 279, ResNet-50 239,
//! ViT-B/16 295, BERT-large 543), so the search walks chains, choosing `S_k`
//! for `k = 0, 1, …`. Every constraint is exact on this walk:
//! - acyclic dataflow holds by construction;
//! - no skipping, `edge`: `succ(I_{k−1}) ⊆ I_k`; `prefix`: `S_k = ∅` only
//!   once every op is placed;
//! - no triangle: flows into position `k` are all known once `S_k` is chosen
//!   (its producers are placed), so a new triangle must have `k` as its top
//!   and is checked then;
//! - SRAM capacity: a chiplet's need (`sim::constraints::sram_need`: resident
//!   weights unless the chiplet streams, plus the static peak of live
//!   activations) depends only on the set of ops it holds, and is computed
//!   exactly for each candidate `S_k` (a test checks it against `sram_need`).
//!
//! **Bound.** A backward dynamic programme over (position, down-set) computes,
//! for every state, the least possible maximum of a relaxed per-stage cost
//! over the remaining positions: the exact stage time plus a link term, and a
//! second programme the least remaining memory traffic. The link term is
//! - with `no_skipping = "edge"`: exact. Every op of `I_k` with a consumer
//!   outside `I_k` sends its output once, to position `k + 1`, so the load on
//!   the route from position `k` to `k + 1` is a function of `I_k` alone. When
//!   the routes between consecutive positions share no link (a ring or a snake
//!   order on a mesh) the programme's value *is* the optimum without memory
//!   traffic, and the search proves it after one dive;
//! - otherwise a relaxation (the route of a transfer depends on where its
//!   producer sits, which a down-set does not record). Three groups of links
//!   must each carry a set of tensors: the chiplet's in-links the tensors
//!   entering it, its out-links those leaving it, and the links from positions
//!   `≤ k` to positions `> k` those crossing that cut. A group's busiest link
//!   carries at least the group's average, at least the largest tensor (a
//!   tensor is never split), and, with more tensors than links, at least the
//!   two smallest of the `links + 1` largest (two of them share a link). The
//!   search charges exact loads as transfers become known, so its solutions
//!   are exact and only its bound is weaker.
//!
//! **Search.** Depth-first, children in increasing order of their bound
//! (exact partial loads so far, the loaded link terms, and the programme's
//! value of the child), pruned when the bound reaches the incumbent. The bound
//! reported when a limit stops the search is the least bound of any
//! unexplored child, which is a bound on every placement not yet examined.
//!
//! Without acyclic dataflow, or when a graph has more than [`MAX_DOWN_SETS`]
//! down-sets, the method falls back to a branch and bound that places ops one
//! at a time in topological order (bound: current loads, the average remaining
//! work, the largest remaining op; constraints checked as ops are placed, SRAM
//! exactly at the leaves). It is exact but only practical for small graphs;
//! on large ones it reports its gap. It starts from an incumbent: without
//! acyclic dataflow, the chain search's optimum under the stricter constraints
//! (valid here too); otherwise the contiguous balanced placement, if valid.
//!
//! # Why a purpose-built search and not a MILP or CP solver
//!
//! The build must need only Rust and crates.io, which leaves `good_lp` with
//! `microlp` (pure-Rust simplex plus branch and bound; it has time limits and
//! a MIP gap) and `pumpkin-solver` (pure-Rust lazy clause generation CP, with a
//! time-budget termination condition). Both would have to model the problem as
//! a 189 × 16 assignment with big-M or reified constraints for the link loads
//! (a transfer's route depends on both ends: products of assignment
//! variables), a linearised activation peak, and a residency rule that is
//! greedy in topological order. The LP relaxation of such a min-max assignment
//! only proves `total work / chiplets`, and CP would have to rediscover the
//! down-set structure by search. The down-set chain turns the same problem
//! into a walk over a few hundred states with exact costs, and its dynamic
//! programme gives a bound that is exact for the MLSys'22 setting (BERT-base
//! on the 16-chip ring is solved and proven in milliseconds). So no solver
//! crate is added.
//!
//! # Limits and determinism
//!
//! The search counts nodes (children entered); `node_limit` stops it
//! deterministically, so the same problem gives the same result on any
//! machine. `time_limit_s` is a safety net checked every 256 nodes; when it
//! stops the search the notes say so, and the result may depend on machine
//! speed. The defaults are chosen so the node limit binds first.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use sim::constraints::ConstraintSet;
use sim::cost::{input_bytes, op_cost, weight_bytes_read};
use sim::graph::{Graph, OpId, Source, numel};
use sim::spec::{ChipletId, HwSpec, NoSkipping};
use sim::{Placement, SimOptions};

use super::search::{Evaluator, Problem, Search};
use crate::error::SearchError;

#[cfg(test)]
mod tests;

/// "No value": an infeasible state or an unbounded objective.
const INF: u64 = u64::MAX;

/// The most down-sets the chain formulation enumerates. Its dynamic programme
/// visits every pair `I ⊆ J` once per position, so a few thousand keep it
/// well under a second; larger graphs use the op-by-op search.
pub const MAX_DOWN_SETS: usize = 2048;

/// Default node limit. Every shipped spec and zoo model tried is proven within
/// a few thousand nodes; the search enters roughly 200,000–300,000 nodes per
/// second on one core of a 2-core machine, so the limit binds after a few
/// seconds, well before the default time limit on any ordinary machine.
pub const DEFAULT_NODE_LIMIT: u64 = 1_000_000;

/// Default time limit, a safety net behind the node limit.
pub const DEFAULT_TIME_LIMIT_S: f64 = 60.0;

/// The `exact` method. Construct with [`Exact::new`] or `Default`.
#[derive(Clone, Debug)]
pub struct Exact {
    pub time_limit_s: f64,
    pub node_limit: u64,
    /// What the last `run` found (for `notes`).
    outcome: Option<Outcome>,
}

impl Exact {
    pub fn new(time_limit_s: f64, node_limit: u64) -> Exact {
        Exact {
            time_limit_s,
            node_limit,
            outcome: None,
        }
    }

    /// What the last `run` found.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }
}

impl Default for Exact {
    fn default() -> Self {
        Exact::new(DEFAULT_TIME_LIMIT_S, DEFAULT_NODE_LIMIT)
    }
}

/// Search limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Wall-clock seconds; not finite means none.
    pub time_limit_s: f64,
    pub node_limit: u64,
}

/// Which limit stopped a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    NodeLimit,
    TimeLimit,
}

/// Which search ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Formulation {
    /// Chains of down-sets; `down_sets` states per position.
    DownSetChain { down_sets: usize },
    /// Ops placed one at a time (no acyclic dataflow, or too many down-sets).
    OpByOp,
}

/// The result of [`solve`].
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The best valid placement found and its objective (bottleneck cycles).
    pub best: Option<(Placement, u64)>,
    /// A proven lower bound on the objective of every valid placement;
    /// `None` when no valid placement exists (proven).
    pub bound_cycles: Option<u64>,
    /// Whether the search finished: then `best` is optimal, or its absence
    /// proves that no valid placement exists.
    pub proven: bool,
    pub nodes: u64,
    /// Wall time of the whole solve (for the record; nothing depends on it
    /// unless the time limit stopped the search).
    pub wall_s: f64,
    /// The limit that stopped the search, if one did.
    pub stop: Option<Stop>,
    pub formulation: Formulation,
    /// Why no valid placement exists, when that is proven.
    pub infeasible_reason: Option<String>,
    /// `batch × clock / bound`: no valid placement has a higher analytic
    /// throughput bound (`Analysis::throughput_bound_inferences_per_s`).
    pub throughput_bound_inferences_per_s: Option<f64>,
    /// Every improving incumbent in the order found; the last is `best`.
    pub incumbents: Vec<Placement>,
}

impl Outcome {
    /// `(best − bound) / best`, when both exist (0 when best is 0).
    pub fn gap(&self) -> Option<f64> {
        let (_, best) = self.best.as_ref()?;
        let bound = self.bound_cycles?;
        if *best == 0 {
            return Some(0.0);
        }
        Some(best.saturating_sub(bound) as f64 / *best as f64)
    }

    /// One word for the result.
    pub fn status(&self) -> &'static str {
        match (&self.best, self.proven) {
            (Some(_), true) => "optimal",
            (Some(_), false) => "feasible",
            (None, true) => "infeasible",
            (None, false) => "unknown",
        }
    }

    /// The facts reported beside the best result, in a fixed order: status,
    /// objective, bound, gap, proven, nodes, what stopped the search, the
    /// throughput bound, the formulation, and why no placement exists.
    pub fn notes(&self) -> Vec<(String, String)> {
        let mut out = vec![("status", self.status().to_string())];
        if let Some((_, obj)) = &self.best {
            out.push(("objective_cycles", obj.to_string()));
        }
        out.push((
            "bound_cycles",
            self.bound_cycles
                .map_or_else(|| "infinite".to_string(), |b| b.to_string()),
        ));
        if let Some(gap) = self.gap() {
            out.push(("gap", format!("{gap:.4}")));
        }
        out.push(("proven", self.proven.to_string()));
        out.push(("nodes", self.nodes.to_string()));
        out.push((
            "stop",
            match self.stop {
                None => "search completed",
                Some(Stop::NodeLimit) => "stopped by the node limit",
                Some(Stop::TimeLimit) => "stopped by the time limit",
            }
            .to_string(),
        ));
        if let Some(t) = self.throughput_bound_inferences_per_s {
            out.push(("throughput_bound_inferences_per_s", format!("{t:.3}")));
        }
        out.push((
            "formulation",
            match self.formulation {
                Formulation::DownSetChain { down_sets } => {
                    format!("down-set chain ({down_sets} down-sets)")
                }
                Formulation::OpByOp => "op by op".to_string(),
            },
        ));
        if let Some(r) = &self.infeasible_reason {
            out.push(("infeasible_reason", r.clone()));
        }
        // No wall time: notes go into reports, which must not depend on the
        // machine (`wall_s` and the history carry it).
        out.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

impl Search for Exact {
    fn name(&self) -> &'static str {
        "exact"
    }

    /// Solves, then simulates the improving incumbents in the order found:
    /// as many of the last ones as the budget allows, so the best is always
    /// among them when the budget is not zero.
    fn run(&mut self, problem: &Problem<'_>, eval: &mut Evaluator) -> Result<(), SearchError> {
        let limits = Limits {
            time_limit_s: self.time_limit_s,
            node_limit: self.node_limit,
        };
        let outcome = solve(
            problem.spec,
            problem.graph,
            &problem.constraints,
            &problem.options,
            limits,
        );
        let n = outcome.incumbents.len();
        let k = eval.remaining().min(n as u64) as usize;
        for p in &outcome.incumbents[n - k..] {
            eval.evaluate(p);
        }
        self.outcome = Some(outcome);
        Ok(())
    }

    fn notes(&self) -> Vec<(String, String)> {
        self.outcome.as_ref().map_or_else(Vec::new, Outcome::notes)
    }
}

/// Minimises the analytic bottleneck of `graph` on `spec` under `constraints`
/// (see the module documentation).
pub fn solve(
    spec: &HwSpec,
    graph: &Graph,
    constraints: &ConstraintSet,
    options: &SimOptions,
    limits: Limits,
) -> Outcome {
    solve_with(spec, graph, constraints, options, limits, Engine::Auto)
}

/// Which search [`solve_with`] may use (tests force the fallback).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Auto,
    #[cfg(test)]
    OpByOp,
}

fn solve_with(
    spec: &HwSpec,
    graph: &Graph,
    constraints: &ConstraintSet,
    options: &SimOptions,
    limits: Limits,
    engine: Engine,
) -> Outcome {
    let started = Instant::now();
    let m = Model::new(spec, graph, constraints, options);
    let mut ctl = Control::new(limits, started);
    let chain = match engine {
        Engine::Auto if constraints.acyclic_dataflow => Lattice::new(&m, MAX_DOWN_SETS),
        _ => None,
    };
    let (formulation, root_bound) = match &chain {
        Some(lat) => {
            let mut s = ChainSearch::new(&m, lat);
            let root = s.root_bound();
            if root != INF {
                s.run(&mut ctl);
            }
            let down_sets = lat.sets.len();
            (Formulation::DownSetChain { down_sets }, root)
        }
        None => {
            if engine == Engine::Auto {
                warm_start(&m, constraints, options, spec, graph, &mut ctl);
            }
            let mut s = OpSearch::new(&m);
            let root = s.root_bound();
            s.run(&mut ctl);
            (Formulation::OpByOp, root)
        }
    };
    let proven = ctl.stop.is_none();
    let bound = if root_bound == INF {
        INF
    } else if proven {
        ctl.best
    } else {
        root_bound.max(ctl.best.min(ctl.open_bound))
    };
    let reason = (proven && ctl.best == INF).then(|| m.infeasible_reason(formulation));
    let to_placement = |chip_of: &[usize]| Placement {
        chiplet_of_op: chip_of.iter().map(|&c| ChipletId(c as u32)).collect(),
    };
    let incumbents: Vec<Placement> = ctl.incumbents.iter().map(|c| to_placement(c)).collect();
    let best = incumbents.last().map(|p| (p.clone(), ctl.best));
    let batch = graph
        .inputs()
        .first()
        .and_then(|i| i.shape.first().copied())
        .unwrap_or(1);
    Outcome {
        best,
        bound_cycles: (bound != INF).then_some(bound),
        proven,
        nodes: ctl.nodes,
        wall_s: started.elapsed().as_secs_f64(),
        stop: ctl.stop,
        formulation,
        infeasible_reason: reason,
        throughput_bound_inferences_per_s: (bound != INF && bound > 0)
            .then(|| batch as f64 * spec.clock_mhz * 1e6 / bound as f64),
        incumbents,
    }
}

/// Gives the op-by-op search an incumbent: the optimum among acyclic
/// placements when acyclic dataflow is off (a valid placement of the
/// stricter problem is valid here too), else the contiguous balanced
/// placement when it is valid. Shares the node budget; a limit that stops the
/// warm start leaves the main search to stop at once with a valid bound.
fn warm_start(
    m: &Model,
    constraints: &ConstraintSet,
    options: &SimOptions,
    spec: &HwSpec,
    graph: &Graph,
    ctl: &mut Control,
) {
    if !constraints.acyclic_dataflow {
        let stricter = ConstraintSet {
            acyclic_dataflow: true,
            ..*constraints
        };
        let strict = Model::new(spec, graph, &stricter, options);
        if let Some(lat) = Lattice::new(&strict, MAX_DOWN_SETS) {
            let mut s = ChainSearch::new(&strict, &lat);
            if s.root_bound() != INF {
                // Its own control: its open bounds bound only the stricter
                // problem.
                let mut warm = Control::new(
                    Limits {
                        time_limit_s: ctl.time_limit_s,
                        node_limit: ctl.node_limit,
                    },
                    ctl.started,
                );
                s.run(&mut warm);
                ctl.nodes = warm.nodes;
                ctl.best = warm.best;
                ctl.incumbents = warm.incumbents;
            }
        }
        return;
    }
    let p = Placement::contiguous_balanced(spec, graph);
    if sim::constraints::is_valid(spec, graph, &p, constraints) {
        let chip_of: Vec<usize> = p.chiplet_of_op.iter().map(|c| c.idx()).collect();
        ctl.offer(m.objective(&chip_of), &chip_of);
    }
}

// ---------------------------------------------------------------------------
// The problem's data, precomputed once.

/// What the objective and the SRAM rule need to know about a chiplet: its
/// type, capacity and whether it may stream weights. Chiplets of one class
/// are interchangeable as far as a set of ops on them is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ChipClass {
    type_idx: usize,
    capacity: u64,
    can_stream: bool,
}

struct Model {
    set: ConstraintSet,
    /// Op names, for messages.
    names: Vec<String>,
    n_ops: usize,
    n_chips: usize,
    /// Chiplet at each pipeline position, and each chiplet's position.
    order: Vec<usize>,
    pos: Vec<usize>,
    /// Distinct producers and consumers of each op, ascending.
    preds: Vec<Vec<usize>>,
    succs: Vec<Vec<usize>>,
    /// `op_cost(op, type).cycles`, by type then op.
    cost: Vec<Vec<u64>>,
    classes: Vec<ChipClass>,
    class_of: Vec<usize>,
    weight: Vec<u64>,
    weight_read: Vec<u64>,
    out_bytes: Vec<u64>,
    /// Input plus output bytes: what residency keeps free on a streaming chip.
    reserve: Vec<u64>,
    /// Bytes of graph inputs (not produced by an op) an op reads.
    graph_in: Vec<u64>,
    /// A lower bound on the SRAM activations of the chip that runs the op:
    /// its output, its graph inputs and every distinct producer's output are
    /// live while it runs.
    act_floor: Vec<u64>,
    /// Off-package memory bandwidth and latency.
    memory: Option<(u64, u64)>,
    /// Distinct link bandwidths, ascending; each link's index into them.
    bws: Vec<u64>,
    link_bw: Vec<usize>,
    /// Serialisation cycles of each op's output, by bandwidth index then op.
    ser: Vec<Vec<u64>>,
    /// Links of the route from chiplet `a` to `b`, at `a * n_chips + b`.
    routes: Vec<Vec<usize>>,
    in_links: Vec<Vec<usize>>,
    out_links: Vec<Vec<usize>>,
    /// Source and destination chiplet of each link.
    link_ends: Vec<(usize, usize)>,
    n_links: usize,
}

/// Serialisation cycles of one tensor on a link, as `oracle::analyse` counts
/// them: full packets, then the remainder.
fn link_ser(bytes: u64, bandwidth: u64, packet: u64) -> u64 {
    let full = bytes / packet;
    let rest = bytes - full * packet;
    full * packet.div_ceil(bandwidth) + rest.div_ceil(bandwidth)
}

impl Model {
    fn new(spec: &HwSpec, graph: &Graph, set: &ConstraintSet, options: &SimOptions) -> Model {
        let ops = graph.ops();
        let n_ops = ops.len();
        let n_chips = spec.n_chiplets();
        let order: Vec<usize> = spec.pipeline_order.iter().map(|c| c.idx()).collect();
        let pos = spec.pipeline_positions();
        let preds: Vec<Vec<usize>> = ops
            .iter()
            .map(|op| {
                let mut p: Vec<usize> = op
                    .inputs
                    .iter()
                    .filter_map(|i| match i.source {
                        Source::Op(p) => Some(p.idx()),
                        Source::GraphInput(_) => None,
                    })
                    .collect();
                p.sort_unstable();
                p.dedup();
                p
            })
            .collect();
        let succs: Vec<Vec<usize>> = (0..n_ops)
            .map(|i| {
                let mut s: Vec<usize> = graph
                    .consumers(OpId(i as u32))
                    .iter()
                    .map(|q| q.idx())
                    .collect();
                s.sort_unstable();
                s.dedup();
                s
            })
            .collect();
        let cost = spec
            .chiplet_types
            .iter()
            .map(|t| ops.iter().map(|op| op_cost(op, t).cycles).collect())
            .collect();
        let mut class_ids: BTreeMap<ChipClass, usize> = BTreeMap::new();
        let mut classes = Vec::new();
        let mut class_of = Vec::with_capacity(n_chips);
        for chip in &spec.chiplets {
            let class = ChipClass {
                type_idx: chip.type_idx,
                capacity: spec.chiplet_types[chip.type_idx].sram_bytes(),
                can_stream: spec
                    .memory
                    .as_ref()
                    .is_some_and(|m| m.weight_streaming && m.chiplets.contains(&chip.id)),
            };
            let id = *class_ids.entry(class).or_insert_with(|| {
                classes.push(class);
                classes.len() - 1
            });
            class_of.push(id);
        }
        let out_bytes: Vec<u64> = ops.iter().map(|op| op.output_bytes).collect();
        let graph_in: Vec<u64> = ops
            .iter()
            .map(|op| {
                let from_ops: u64 = op
                    .inputs
                    .iter()
                    .filter(|x| matches!(x.source, Source::Op(_)))
                    .map(|x| numel(&x.shape) * op.dtype.bytes())
                    .sum();
                input_bytes(op).saturating_sub(from_ops)
            })
            .collect();
        let act_floor = (0..n_ops)
            .map(|i| {
                out_bytes[i] + graph_in[i] + preds[i].iter().map(|&p| out_bytes[p]).sum::<u64>()
            })
            .collect();
        let bws: Vec<u64> = spec
            .links
            .iter()
            .map(|l| l.bandwidth_bytes_per_cycle)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let link_bw = spec
            .links
            .iter()
            .map(|l| {
                bws.binary_search(&l.bandwidth_bytes_per_cycle)
                    .expect("every bandwidth is listed")
            })
            .collect();
        let ser = bws
            .iter()
            .map(|&bw| {
                out_bytes
                    .iter()
                    .map(|&b| link_ser(b, bw, options.packet_bytes))
                    .collect()
            })
            .collect();
        let mut routes = Vec::with_capacity(n_chips * n_chips);
        for a in 0..n_chips {
            for b in 0..n_chips {
                routes.push(
                    spec.routes
                        .path(ChipletId(a as u32), ChipletId(b as u32))
                        .iter()
                        .map(|l| l.idx())
                        .collect(),
                );
            }
        }
        let mut in_links = vec![Vec::new(); n_chips];
        let mut out_links = vec![Vec::new(); n_chips];
        for l in &spec.links {
            in_links[l.to.idx()].push(l.id.idx());
            out_links[l.from.idx()].push(l.id.idx());
        }
        Model {
            set: *set,
            names: ops.iter().map(|op| op.name.clone()).collect(),
            n_ops,
            n_chips,
            order,
            pos,
            preds,
            succs,
            cost,
            classes,
            class_of,
            weight: ops.iter().map(|op| op.weight_bytes).collect(),
            weight_read: ops.iter().map(weight_bytes_read).collect(),
            out_bytes,
            reserve: ops
                .iter()
                .map(|op| input_bytes(op) + op.output_bytes)
                .collect(),
            graph_in,
            act_floor,
            memory: spec
                .memory
                .as_ref()
                .map(|m| (m.bandwidth_bytes_per_cycle, m.latency_cycles)),
            bws,
            link_bw,
            ser,
            routes,
            in_links,
            out_links,
            link_ends: spec
                .links
                .iter()
                .map(|l| (l.from.idx(), l.to.idx()))
                .collect(),
            n_links: spec.links.len(),
        }
    }

    fn route(&self, from: usize, to: usize) -> &[usize] {
        &self.routes[from * self.n_chips + to]
    }

    fn edge_mode(&self) -> bool {
        self.set.no_skipping == NoSkipping::Edge
    }

    /// Stage cycles and memory serialisation cycles of the ops `ops`
    /// (ascending) on a chiplet of class `class`, under `cost::residency`.
    fn stage(&self, ops: &[usize], class: usize) -> (u64, u64) {
        let k = self.classes[class];
        let cost = &self.cost[k.type_idx];
        let total: u64 = ops.iter().map(|&v| self.weight[v]).sum();
        if !k.can_stream {
            return (ops.iter().map(|&v| cost[v]).sum(), 0);
        }
        // As `cost::residency`: the weights stay resident when they fit beside
        // one micro-batch's activations (the streaming chiplet's SRAM need
        // carries no weights); else it keeps room for those and at least for
        // the largest op's inputs and output.
        let mut scratch = vec![0; self.weight.len()];
        let slot = self.sram_need(ops, |v| ops.binary_search(&v).is_ok(), class, &mut scratch);
        if total.saturating_add(slot) <= k.capacity {
            return (ops.iter().map(|&v| cost[v]).sum(), 0);
        }
        let (bw, latency) = self.memory.expect("a streaming chiplet reaches a memory");
        let reserve = ops
            .iter()
            .map(|&v| self.reserve[v])
            .max()
            .unwrap_or(0)
            .max(slot);
        let mut budget = k.capacity.saturating_sub(reserve);
        let (mut cycles, mut mem) = (0, 0);
        for &v in ops {
            if self.weight[v] <= budget {
                budget -= self.weight[v];
                cycles += cost[v];
            } else if self.weight_read[v] > 0 {
                let ser = self.weight_read[v].div_ceil(bw);
                mem += ser;
                cycles += cost[v].max(ser + latency);
            } else {
                cycles += cost[v];
            }
        }
        (cycles, mem)
    }

    /// SRAM need (`constraints::sram_need`) of the ops `ops` (ascending, and
    /// exactly those for which `here` holds) on a chiplet of class `class`.
    /// `pending` is scratch: all zero on entry and on return.
    fn sram_need(
        &self,
        ops: &[usize],
        here: impl Fn(usize) -> bool,
        class: usize,
        pending: &mut [u64],
    ) -> u64 {
        let weights = if self.classes[class].can_stream {
            0
        } else {
            ops.iter().map(|&v| self.weight[v]).sum()
        };
        let first_here = |p: usize| self.succs[p].iter().copied().find(|&q| here(q));
        let last_here = |p: usize| self.succs[p].iter().rev().copied().find(|&q| here(q));
        let (mut live, mut peak) = (0u64, 0u64);
        for &i in ops {
            // Remote tensors become live at their first consumer here.
            let arriving: u64 = self.preds[i]
                .iter()
                .filter(|&&p| !here(p) && first_here(p) == Some(i))
                .map(|&p| self.out_bytes[p])
                .sum();
            live += arriving + self.out_bytes[i];
            peak = peak.max(live + self.graph_in[i]);
            match last_here(i) {
                Some(last) => pending[last] += self.out_bytes[i],
                None => live -= self.out_bytes[i],
            }
            live -= std::mem::take(&mut pending[i]);
            for &p in &self.preds[i] {
                if !here(p) && last_here(p) == Some(i) {
                    live -= self.out_bytes[p];
                }
            }
        }
        weights + peak
    }

    /// Members of each chiplet under a complete assignment.
    fn members(&self, chip_of: &[usize]) -> Vec<Vec<usize>> {
        let mut members = vec![Vec::new(); self.n_chips];
        for (v, &c) in chip_of.iter().enumerate() {
            members[c].push(v);
        }
        members
    }

    /// The objective of a complete assignment: `analyse(..).bottleneck_cycles`.
    fn objective(&self, chip_of: &[usize]) -> u64 {
        let mut worst = 0;
        let mut mem = 0;
        for (c, ops) in self.members(chip_of).iter().enumerate() {
            let (s, m) = self.stage(ops, self.class_of[c]);
            worst = worst.max(s);
            mem += m;
        }
        let mut load = vec![0u64; self.n_links];
        let mut dsts = Vec::new();
        for u in 0..self.n_ops {
            let src = chip_of[u];
            dsts.clear();
            dsts.extend(
                self.succs[u]
                    .iter()
                    .map(|&q| chip_of[q])
                    .filter(|&d| d != src),
            );
            dsts.sort_unstable();
            dsts.dedup();
            for &d in &dsts {
                for &l in self.route(src, d) {
                    load[l] += self.ser[self.link_bw[l]][u];
                }
            }
        }
        worst.max(load.into_iter().max().unwrap_or(0)).max(mem)
    }

    /// Whether every chiplet's SRAM need fits (when the constraint is on).
    fn sram_fits(&self, chip_of: &[usize], pending: &mut [u64]) -> bool {
        !self.set.sram_capacity
            || self.members(chip_of).iter().enumerate().all(|(c, ops)| {
                let class = self.class_of[c];
                self.sram_need(ops, |v| chip_of[v] == c, class, pending)
                    <= self.classes[class].capacity
            })
    }

    /// Why no valid placement exists (once a finished search has shown it),
    /// as specifically as can be said cheaply.
    fn infeasible_reason(&self, formulation: Formulation) -> String {
        let exhaustive = match formulation {
            Formulation::DownSetChain { down_sets } => {
                format!("no chain of the {down_sets} down-sets satisfies them")
            }
            Formulation::OpByOp => "the search ruled out every placement".to_string(),
        };
        if !self.set.sram_capacity {
            return format!("no placement satisfies the constraints ({exhaustive})");
        }
        let mut pending = vec![0u64; self.n_ops];
        let largest = self.classes.iter().map(|k| k.capacity).max().unwrap_or(0);
        for v in 0..self.n_ops {
            // Alone on a chiplet of the class that suits it best, or with any
            // company: its activations while it runs are live regardless.
            let alone = (0..self.classes.len())
                .map(|k| self.sram_need(&[v], |q| q == v, k, &mut pending))
                .min()
                .unwrap_or(0);
            let need = alone.max(self.act_floor[v]);
            if need > largest {
                return format!(
                    "SRAM capacity: op {v} ({}) needs at least {need} bytes of SRAM wherever \
                     it runs (its resident weights unless streamed, plus its output, inputs \
                     and graph inputs while it runs), more than the largest chiplet SRAM, \
                     {largest} bytes",
                    self.names[v]
                );
            }
        }
        let fixed: u64 = if self.classes.iter().all(|k| !k.can_stream) {
            self.weight.iter().sum()
        } else {
            0
        };
        let total: u64 = (0..self.n_chips)
            .map(|c| self.classes[self.class_of[c]].capacity)
            .sum();
        if fixed > total {
            return format!(
                "SRAM capacity: the weights ({fixed} bytes) exceed the package's SRAM \
                 ({total} bytes) and no chiplet may stream them"
            );
        }
        format!("no placement satisfies the constraints ({exhaustive})")
    }
}

// ---------------------------------------------------------------------------
// Search control shared by both searches.

struct Control {
    node_limit: u64,
    time_limit_s: f64,
    started: Instant,
    nodes: u64,
    stop: Option<Stop>,
    /// The least bound of a child left unexplored when a limit stopped the
    /// search.
    open_bound: u64,
    /// The incumbent's objective (`INF` when none).
    best: u64,
    incumbents: Vec<Vec<usize>>,
}

impl Control {
    fn new(limits: Limits, started: Instant) -> Control {
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
            } else if self.nodes.is_multiple_of(256)
                && self.time_limit_s.is_finite()
                && self.started.elapsed().as_secs_f64() >= self.time_limit_s
            {
                self.stop = Some(Stop::TimeLimit);
            }
        }
        if self.stop.is_some() {
            self.open_bound = self.open_bound.min(lb);
            return false;
        }
        self.nodes += 1;
        true
    }

    fn offer(&mut self, objective: u64, chip_of: &[usize]) {
        if objective < self.best {
            self.best = objective;
            self.incumbents.push(chip_of.to_vec());
        }
    }
}

// ---------------------------------------------------------------------------
// Down-sets.

fn has(set: &[u64], i: usize) -> bool {
    (set[i / 64] >> (i % 64)) & 1 == 1
}

fn insert(set: &mut [u64], i: usize) {
    set[i / 64] |= 1 << (i % 64);
}

fn subset(a: &[u64], b: &[u64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x & !y == 0)
}

/// Members of `b ∖ a`, ascending.
fn difference(a: &[u64], b: &[u64], out: &mut Vec<usize>) {
    out.clear();
    for (w, (x, y)) in a.iter().zip(b).enumerate() {
        let mut bits = y & !x;
        while bits != 0 {
            out.push(w * 64 + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
}

/// Every down-set of the graph and the pairs `I ⊆ J` between them.
struct Lattice {
    /// Bit sets, ordered by size, then by their words; `sets[0]` is empty and
    /// the last is every op.
    sets: Vec<Vec<u64>>,
    /// Each set with its ops' consumers added.
    reach: Vec<Vec<u64>>,
    /// Ops of each set with a consumer outside it, largest output first
    /// (ties by op id).
    cut_ops: Vec<Vec<usize>>,
    /// Serialisation cycles of the cut ops' outputs, by set then bandwidth.
    cut_ser: Vec<Vec<u64>>,
    /// For each set `I`, every set `J ⊇ I` (itself included), ascending.
    supersets: Vec<Vec<u32>>,
    /// Pair `(I, supersets[I][t])` has id `pair_base[I] + t`.
    pair_base: Vec<usize>,
    n_pairs: usize,
    full: usize,
}

impl Lattice {
    /// Enumerates down-sets level by level (a set of size `s + 1` is one of
    /// size `s` plus an op whose producers it holds); `None` beyond `max`.
    fn new(m: &Model, max: usize) -> Option<Lattice> {
        let words = m.n_ops.div_ceil(64).max(1);
        let mut sets = vec![vec![0u64; words]];
        let mut level = BTreeSet::from([vec![0u64; words]]);
        for _ in 0..m.n_ops {
            let mut next = BTreeSet::new();
            for set in &level {
                for v in 0..m.n_ops {
                    if !has(set, v) && m.preds[v].iter().all(|&p| has(set, p)) {
                        let mut j = set.clone();
                        insert(&mut j, v);
                        next.insert(j);
                    }
                }
                if sets.len() + next.len() > max {
                    return None;
                }
            }
            sets.extend(next.iter().cloned());
            level = next;
        }
        let n = sets.len();
        let sizes: Vec<u32> = sets
            .iter()
            .map(|s| s.iter().map(|w| w.count_ones()).sum())
            .collect();
        let reach = sets
            .iter()
            .map(|s| {
                let mut r = s.clone();
                for v in 0..m.n_ops {
                    if has(s, v) {
                        for &q in &m.succs[v] {
                            insert(&mut r, q);
                        }
                    }
                }
                r
            })
            .collect();
        let cut_ops: Vec<Vec<usize>> = sets
            .iter()
            .map(|s| {
                let mut ops: Vec<usize> = (0..m.n_ops)
                    .filter(|&v| has(s, v) && m.succs[v].iter().any(|&q| !has(s, q)))
                    .collect();
                ops.sort_by_key(|&v| (std::cmp::Reverse(m.out_bytes[v]), v));
                ops
            })
            .collect();
        let cut_ser = cut_ops
            .iter()
            .map(|ops| {
                (0..m.bws.len())
                    .map(|b| ops.iter().map(|&u| m.ser[b][u]).sum())
                    .collect()
            })
            .collect();
        let mut supersets = Vec::with_capacity(n);
        let mut pair_base = Vec::with_capacity(n);
        let mut n_pairs = 0;
        for i in 0..n {
            let sup: Vec<u32> = (i..n)
                .filter(|&j| sizes[j] >= sizes[i] && subset(&sets[i], &sets[j]))
                .map(|j| j as u32)
                .collect();
            pair_base.push(n_pairs);
            n_pairs += sup.len();
            supersets.push(sup);
        }
        Some(Lattice {
            sets,
            reach,
            cut_ops,
            cut_ser,
            supersets,
            pair_base,
            n_pairs,
            full: n - 1,
        })
    }
}

/// Facts about the ops `S = J ∖ I` of a pair, computed when first needed:
/// per chiplet class, stage and memory cycles and whether the SRAM need fits;
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
    pending: Vec<u64>,
    ops: Vec<usize>,
}

impl Pairs {
    fn new(m: &Model, lat: &Lattice) -> Pairs {
        let (c, b, p) = (m.classes.len(), m.bws.len(), lat.n_pairs);
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
            pending: vec![0; m.n_ops],
            ops: Vec::new(),
        }
    }

    fn ensure(&mut self, m: &Model, lat: &Lattice, pid: usize, i: usize, j: usize) {
        if self.done[pid] {
            return;
        }
        self.done[pid] = true;
        let (si, sj) = (&lat.sets[i], &lat.sets[j]);
        let mut ops = std::mem::take(&mut self.ops);
        difference(si, sj, &mut ops);
        let here = |v: usize| has(sj, v) && !has(si, v);
        for class in 0..self.n_classes {
            let (s, mm) = m.stage(&ops, class);
            let x = pid * self.n_classes + class;
            self.stage[x] = s;
            self.mem[x] = mm;
            self.fits[x] = !m.set.sram_capacity
                || m.sram_need(&ops, here, class, &mut self.pending) <= m.classes[class].capacity;
        }
        // Tensors entering S: cut ops of I read by some op of S (each sent
        // once to S's chiplet). Tensors leaving: ops of S read outside J.
        let entering = lat.cut_ops[i]
            .iter()
            .filter(|&&u| m.succs[u].iter().any(|&q| here(q)));
        let leaving = ops
            .iter()
            .filter(|&&u| m.succs[u].iter().any(|&q| !has(sj, q)));
        for b in 0..self.n_bws {
            let x = pid * self.n_bws + b;
            for &u in entering.clone() {
                self.in_ser[x] += m.ser[b][u];
                self.in_max[x] = self.in_max[x].max(m.ser[b][u]);
            }
            for &u in leaving.clone() {
                self.out_ser[x] += m.ser[b][u];
                self.out_max[x] = self.out_max[x].max(m.ser[b][u]);
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
struct ChainSearch<'a> {
    m: &'a Model,
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
    fn new(m: &'a Model, lat: &'a Lattice) -> ChainSearch<'a> {
        let n = m.n_chips;
        let best_bw = |links: &[usize]| links.iter().map(|&l| m.link_bw[l]).max().unwrap_or(0);
        let positions = (0..n)
            .map(|k| {
                let chip = m.order[k];
                let next_route = if k + 1 < n {
                    m.route(chip, m.order[k + 1]).to_vec()
                } else {
                    Vec::new()
                };
                let cross: Vec<usize> = (0..m.n_links)
                    .filter(|&l| {
                        let (from, to) = m.link_ends[l];
                        m.pos[from] <= k && m.pos[to] > k
                    })
                    .collect();
                PositionLinks {
                    chip,
                    class: m.class_of[chip],
                    next_route,
                    in_links: (m.in_links[chip].len(), best_bw(&m.in_links[chip])),
                    out_links: (m.out_links[chip].clone(), best_bw(&m.out_links[chip])),
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
            load: vec![0; m.n_links],
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
                .map(|&l| self.load[l] + self.lat.cut_ser[j][m.link_bw[l]])
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
            let ser = |u: usize| m.ser[*cross_bw][u];
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
        let (n, nn) = (self.m.n_chips, self.lat.sets.len());
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

    fn root_bound(&self) -> u64 {
        let g = self.g[0];
        if g == INF { INF } else { g.max(self.h[0]) }
    }

    fn run(&mut self, ctl: &mut Control) {
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
            if !m.succs[u].iter().any(|&q| has(sj, q) && !has(si, q)) {
                continue;
            }
            let src = self.chip_of[u];
            for &l in m.route(src, chip) {
                deltas.push((l, m.ser[m.link_bw[l]][u]));
            }
            let a = m.pos[src];
            if !self.mark[a] {
                self.mark[a] = true;
                sources.push(a);
            }
        }
        for &a in &sources {
            self.mark[a] = false;
        }
        if m.set.no_triangle && !m.edge_mode() {
            let n = m.n_chips;
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
        let (n, nn) = (m.n_chips, lat.sets.len());
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
struct OpSearch<'a> {
    m: &'a Model,
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
    pending: Vec<u64>,
}

impl<'a> OpSearch<'a> {
    fn new(m: &'a Model) -> OpSearch<'a> {
        let n = m.n_chips;
        let min_cost: Vec<u64> = (0..m.n_ops)
            .map(|v| {
                m.classes
                    .iter()
                    .map(|k| m.cost[k.type_idx][v])
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
            load: vec![0; m.n_links],
            sent: vec![Vec::new(); m.n_ops],
            flows: vec![false; n * n],
            used: vec![0; n],
            assigned: 0,
            rest_sum,
            rest_max,
            pending: vec![0; m.n_ops],
        }
    }

    fn root_bound(&self) -> u64 {
        let n = self.m.n_chips as u64;
        self.rest_sum[0].div_ceil(n.max(1)).max(self.rest_max[0])
    }

    fn run(&mut self, ctl: &mut Control) {
        self.dfs(ctl, 0, 0);
    }

    /// Whether flow `a → b` (just added to `flows`) closes a chip triangle.
    fn closes_triangle(&self, a: usize, b: usize) -> bool {
        let n = self.m.n_chips;
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
        let n = m.n_chips;
        if v == m.n_ops {
            let prefix_ok = m.set.no_skipping != NoSkipping::Prefix
                || self.used.iter().skip_while(|&&u| u > 0).all(|&u| u == 0);
            if prefix_ok && m.sram_fits(&self.chip_of, &mut self.pending) {
                let obj = m.objective(&self.chip_of);
                ctl.offer(obj, &self.chip_of);
            }
            return;
        }
        let mut children: Vec<(u64, usize)> = Vec::new();
        for k in 0..n {
            let c = m.order[k];
            let class = m.classes[m.class_of[c]];
            let from = |p: usize| m.pos[self.chip_of[p]];
            if m.set.acyclic_dataflow && m.preds[v].iter().any(|&p| from(p) > k) {
                continue;
            }
            if m.edge_mode() && m.preds[v].iter().any(|&p| k > from(p) + 1) {
                continue;
            }
            if m.set.sram_capacity {
                let w = if class.can_stream {
                    0
                } else {
                    self.weights[c] + m.weight[v]
                };
                if w + self.act[c].max(m.act_floor[v]) > class.capacity {
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
            let cost = m.cost[class.type_idx][v];
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
            let c = m.order[k];
            let class = m.classes[m.class_of[c]];
            let cost = m.cost[class.type_idx][v];
            let saved_act = self.act[c];
            self.chip_of[v] = c;
            self.stage[c] += cost;
            self.assigned += cost;
            if !class.can_stream {
                self.weights[c] += m.weight[v];
            }
            self.act[c] = saved_act.max(m.act_floor[v]);
            self.used[k] += 1;
            let (link_max, _, applied) = self.apply(v, k);
            let p = partial.max(self.stage[c]).max(link_max);
            self.dfs(ctl, v + 1, p);
            self.undo(k, applied);
            self.used[k] -= 1;
            self.act[c] = saved_act;
            if !class.can_stream {
                self.weights[c] -= m.weight[v];
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
        let n = m.n_chips;
        let c = m.order[k];
        let mut link_max = 0;
        let mut triangle = false;
        let mut applied = Applied::default();
        for &p in &m.preds[v] {
            let src = self.chip_of[p];
            if src == c || self.sent[p].contains(&c) {
                continue;
            }
            self.sent[p].push(c);
            applied.sends.push(p);
            for &l in m.route(src, c) {
                self.load[l] += m.ser[m.link_bw[l]][p];
                link_max = link_max.max(self.load[l]);
            }
            let a = m.pos[src];
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
        let n = m.n_chips;
        let c = m.order[k];
        for &a in &applied.flows {
            self.flows[a * n + k] = false;
        }
        for &p in applied.sends.iter().rev() {
            let src = self.chip_of[p];
            for &l in m.route(src, c) {
                self.load[l] -= m.ser[m.link_bw[l]][p];
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
