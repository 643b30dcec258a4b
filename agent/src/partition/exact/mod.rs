//! The `exact` partition method: a branch and bound that minimises the
//! analytic bottleneck of a placement (or its slot-aware form) under the
//! package's constraints, proves a lower bound on it, and reports the gap
//! between the two.
//!
//! # Objective
//!
//! Two objectives ([`Objective`], the registry's `objective` option). The
//! default, `bottleneck`, is `sim::oracle::analyse(..).bottleneck_cycles`,
//! computed here by `sim::problem`'s model (which the oracle adds up too)
//! without building an `Analysis`: the largest of
//! - each chiplet's stage time, `Σ op_cost(op, type).cycles` over its ops, where
//!   an op whose weights stream from off-package memory (under the model's
//!   weight residency) takes `max(cycles, ser + latency)` instead;
//! - each link's serialisation cycles: every op sends its output once to each
//!   other chiplet that consumes it, packet by packet, over the spec's route;
//! - the off-package memory's serialisation cycles (streamed weights, summed
//!   over all chiplets).
//!
//! Without streaming this is exactly "max over chiplets of the stage compute
//! time and over links of the tensors routed over them". With streaming it is
//! still the oracle's number, so the method never optimises something the rest
//! of tessera does not report. Tests check the equality on random
//! placements.
//!
//! **Slot-aware.** `slot_aware` replaces each chiplet's stage time by its
//! period `max(stage, ⌊hold / slots⌋)`
//! (`sim::problem::ProblemModel::slot_aware_bottleneck_cycles`; the rule and
//! its derivation are stated once, in `sim::problem`'s "Slots"). In short:
//! the simulator gives a chiplet holding `S` `slots(S)` micro-batch slots
//! (the function `sim::problem::activation_slots` that the engine's
//! `Plan::size_slots` calls, so the two cannot drift), admits micro-batch `m`
//! there only once every micro-batch `≤ m − slots` has given its slot back,
//! and a micro-batch gives its slot back only after its ops there have run and
//! its outgoing tensors have left their first link. Tensors into the chiplet
//! are sent only after admission. So if every micro-batch holds its slot at
//! least `hold` cycles, admissions are at least `hold` apart every `slots`
//! micro-batches, and the steady-state interval is at least `hold / slots`.
//! `hold` is a contention-free lower bound on that time for one micro-batch:
//! the longer of the critical path through `S` (each tensor entering `S`
//! arrives at least its serialisation on the package's fastest link plus the
//! least link latency after admission; ops take their stage cycles; a tensor
//! leaving `S` takes at least its serialisation on the fastest link to leave)
//! and the one-engine bound (the ops that cannot start before `r` run one at a
//! time after it, and the last one's outputs must then leave). The term
//! depends only on `S` and the chiplet's class, so, like the stage time, the
//! chain search computes it exactly per (pair, class), and its backward
//! programme bounds it exactly: no relaxation is needed for it. The objective
//! is at least the bottleneck, and it is still a lower bound on the simulated
//! converged interval (`tests/tests/sim_properties.rs` checks both, and that
//! the slot counts equal the engine's). It is not the simulated interval:
//! contention, blocking between chiplets with few slots (a sender whose
//! tensor waits for its destination's slot keeps its own slot meanwhile),
//! router delays and pipeline fill are not in it, so a placement with a
//! better slot-aware objective can still simulate slower.
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
//! - SRAM capacity: a chiplet's need (`sim::problem`'s SRAM rule: resident
//!   weights unless the chiplet streams, plus the static peak of live
//!   activations) depends only on the set of ops it holds, and is computed
//!   exactly for each candidate `S_k` (tests check it against `sram_need`).
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

mod lattice;
pub(crate) mod model;
mod search;
#[cfg(test)]
mod tests;

use std::time::Instant;

use sim::constraints::Constraints;
use sim::graph::Graph;
use sim::spec::HwSpec;
use sim::{Placement, SimOptions};

use self::lattice::Lattice;
use self::model::{Model, chiplet_ids};
use self::search::{ChainSearch, Control, OpSearch};
use super::methods::{SegmentModel, segmentation_placement};
use super::search::{Evaluator, Search, SearchProblem};
use crate::error::SearchError;

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
    pub objective: Objective,
    /// What the last `run` found (for `notes`).
    outcome: Option<Outcome>,
}

impl Exact {
    pub fn new(time_limit_s: f64, node_limit: u64) -> Exact {
        Exact {
            time_limit_s,
            node_limit,
            objective: Objective::Bottleneck,
            outcome: None,
        }
    }

    /// The same method minimising `objective`.
    pub fn with_objective(self, objective: Objective) -> Exact {
        Exact { objective, ..self }
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

/// What the method minimises (see "Objective" in the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Objective {
    /// `sim::oracle::analyse(..).bottleneck_cycles`.
    #[default]
    Bottleneck,
    /// The bottleneck with each stage replaced by its slot-aware period,
    /// `max(stage, ⌊hold / slots⌋)`
    /// (`ProblemModel::slot_aware_bottleneck_cycles`).
    SlotAware,
}

impl Objective {
    /// Every objective, in the order the registry lists their names.
    pub const ALL: [Objective; 2] = [Objective::Bottleneck, Objective::SlotAware];

    /// The name used in options and notes.
    pub const fn name(self) -> &'static str {
        match self {
            Objective::Bottleneck => "bottleneck",
            Objective::SlotAware => "slot_aware",
        }
    }

    /// The objective called `name`.
    pub fn from_name(name: &str) -> Option<Objective> {
        Objective::ALL.into_iter().find(|o| o.name() == name)
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
    /// An interrupt was requested (`partition::interrupt`).
    Interrupted,
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
    /// What was minimised; the objective, bound and throughputs below are
    /// all of it.
    pub objective: Objective,
    /// The best valid placement found and its objective (cycles).
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
    /// throughput bound (`Analysis::throughput_bound_inferences_per_s`, or
    /// its slot-aware counterpart).
    pub throughput_bound_inferences_per_s: Option<f64>,
    /// `batch × clock / objective` of `best`: its analytic throughput (what
    /// "optimal" is about), not its simulated one, which contention and
    /// pipeline fill make lower.
    pub analytic_throughput_inferences_per_s: Option<f64>,
    /// With the slot-aware objective, `best`'s plain analytic bottleneck
    /// (`sim::oracle`'s), for comparison.
    pub analytic_bottleneck_cycles: Option<u64>,
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

    /// The facts reported beside the best result, in a fixed order: which
    /// objective, status, objective value, the plain bottleneck (slot-aware
    /// only), its analytic throughput, bound, gap, proven, nodes, what
    /// stopped the search, the throughput bound, the formulation, and why no
    /// placement exists. Every key about the analytic model starts with
    /// `analytic_`: "optimal" and the bound are true of the model's objective
    /// (named by `objective`), not of the simulated throughput reported
    /// beside them.
    pub fn notes(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("objective", self.objective.name().to_string()),
            ("analytic_status", self.status().to_string()),
        ];
        if let Some((_, obj)) = &self.best {
            out.push(("analytic_objective_cycles", obj.to_string()));
        }
        if let Some(b) = self.analytic_bottleneck_cycles {
            out.push(("analytic_bottleneck_cycles", b.to_string()));
        }
        if let Some(t) = self.analytic_throughput_inferences_per_s {
            out.push(("analytic_throughput_inferences_per_s", format!("{t:.3}")));
        }
        out.push((
            "analytic_bound_cycles",
            self.bound_cycles
                .map_or_else(|| "infinite".to_string(), |b| b.to_string()),
        ));
        if let Some(gap) = self.gap() {
            out.push(("analytic_gap", format!("{gap:.4}")));
        }
        out.push(("proven", self.proven.to_string()));
        out.push(("nodes", self.nodes.to_string()));
        out.push((
            "stop",
            match self.stop {
                None => "search completed",
                Some(Stop::NodeLimit) => "stopped by the node limit",
                Some(Stop::TimeLimit) => "stopped by the time limit",
                Some(Stop::Interrupted) => "interrupted",
            }
            .to_string(),
        ));
        if let Some(t) = self.throughput_bound_inferences_per_s {
            out.push((
                "analytic_throughput_bound_inferences_per_s",
                format!("{t:.3}"),
            ));
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
    fn run(
        &mut self,
        problem: &SearchProblem<'_>,
        eval: &mut Evaluator,
    ) -> Result<(), SearchError> {
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
            self.objective,
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

/// Minimises `objective` (the analytic bottleneck, or its slot-aware form)
/// of `graph` on `spec` under `constraints` (see the module documentation).
pub fn solve(
    spec: &HwSpec,
    graph: &Graph,
    constraints: &Constraints,
    options: &SimOptions,
    limits: Limits,
    objective: Objective,
) -> Outcome {
    let problem = Instance {
        spec,
        graph,
        constraints,
        options,
        objective,
    };
    solve_with(&problem, limits, Engine::Auto)
}

/// What [`solve`] is asked.
#[derive(Clone, Copy)]
struct Instance<'a> {
    spec: &'a HwSpec,
    graph: &'a Graph,
    constraints: &'a Constraints,
    options: &'a SimOptions,
    objective: Objective,
}

/// Which search [`solve_with`] may use (tests force the fallback).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Auto,
    #[cfg(test)]
    OpByOp,
}

fn solve_with(problem: &Instance<'_>, limits: Limits, engine: Engine) -> Outcome {
    let started = Instant::now();
    let &Instance {
        spec,
        graph,
        constraints,
        options,
        objective,
    } = problem;
    let m = Model::new(spec, graph, constraints, options, objective);
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
                warm_start(&m, problem, &mut ctl);
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
    let incumbents: Vec<Placement> = ctl
        .incumbents
        .iter()
        .map(|c| Placement {
            chiplet_of_op: chiplet_ids(c),
        })
        .collect();
    let best = incumbents.last().map(|p| (p.clone(), ctl.best));
    let plain_bottleneck = match (objective, &best) {
        (Objective::SlotAware, Some((p, _))) => Some(m.bottleneck_cycles(&p.chiplet_of_op)),
        _ => None,
    };
    Outcome {
        objective,
        best,
        bound_cycles: (bound != INF).then_some(bound),
        proven,
        nodes: ctl.nodes,
        wall_s: started.elapsed().as_secs_f64(),
        stop: ctl.stop,
        formulation,
        infeasible_reason: reason,
        throughput_bound_inferences_per_s: (bound != INF)
            .then(|| m.inferences_per_s(bound))
            .flatten(),
        analytic_throughput_inferences_per_s: (ctl.best != INF)
            .then(|| m.inferences_per_s(ctl.best))
            .flatten(),
        analytic_bottleneck_cycles: plain_bottleneck,
        incumbents,
    }
}

/// Gives the op-by-op search an incumbent: the optimum among acyclic
/// placements when acyclic dataflow is off (a valid placement of the
/// stricter problem is valid here too), else the better of the contiguous
/// balanced placement and `dp`'s optimal segmentation, when valid. Shares the node budget; a limit that stops the
/// warm start leaves the main search to stop at once with a valid bound.
fn warm_start(m: &Model<'_>, problem: &Instance<'_>, ctl: &mut Control) {
    let &Instance {
        spec,
        graph,
        constraints,
        options,
        objective,
    } = problem;
    if !constraints.acyclic_dataflow {
        let stricter = Constraints {
            acyclic_dataflow: true,
            ..*constraints
        };
        let strict = Model::new(spec, graph, &stricter, options, objective);
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
    let mut starts = vec![Placement::contiguous_balanced(spec, graph)];
    // `dp`'s optimal contiguous segmentation (its objective is this one), so
    // that `exact` never reports worse than `dp` where it cannot prove.
    let segments = SegmentModel::new(spec, graph, constraints, options, true);
    if let Some((bounds, _)) = segments.optimal() {
        starts.push(Placement {
            chiplet_of_op: segmentation_placement(spec, &bounds),
        });
    }
    for p in starts {
        if sim::constraints::is_valid(spec, graph, &p, constraints) {
            let chip_of: Vec<usize> = p.chiplet_of_op.iter().map(|c| c.idx()).collect();
            ctl.offer(m.objective(&chip_of), &chip_of);
        }
    }
}
