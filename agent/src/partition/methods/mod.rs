//! The partitioning methods, each a [`Search`]; their names,
//! options and constructors are registered in [`super::registry`].
//!
//! - `random.rs`: random proposals (uniform per op, or random contiguous
//!   segmentations), each repaired and scored.
//! - `sa.rs`: simulated annealing over valid placements (single-op moves and
//!   boundary shifts, each repaired), geometric cooling over the budget.
//! - `greedy.rs`: contiguous segments with equal weight bytes, as the Edge TPU
//!   compiler segments a model; one evaluation.
//! - `balance.rs`: from the greedy segmentation, shift boundaries toward equal
//!   *measured* stage latency, as libcoral's profiling partitioner does.
//! - `dp.rs`: the optimal contiguous segmentation of the op order under the
//!   analytic bottleneck, by dynamic programming; one evaluation.
//! - `rl.rs`: the learned partitioner (`crate::rl`) trained with PPO on the
//!   problem itself, each episode scored by the search's evaluator.
//! - `exact` (branch and bound with a bound and a gap) lives in
//!   `partition::exact`.
//!
//! Shared here: turning a proposal into a valid placement (the proposal itself
//! when it is valid, else the repair with the fewest changed ops), contiguous
//! segmentations written as segment bounds, and a memo of scored placements
//! so that a revisit costs no simulator call.
//!
//! Determinism: methods draw randomness only from [`Evaluator::rng`], keep
//! only ordered containers (`BTreeMap`), and never read the clock, so the same
//! problem and seed give the same proposals, evaluations and best placement.

mod balance;
mod dp;
mod greedy;
mod random;
mod rl;
mod sa;

use std::collections::BTreeMap;

use sim::Placement;
use sim::constraints::is_valid;
use sim::spec::{ChipletId, HwSpec};

use super::repair::{Objective, RepairOptions, repair_with};
use super::search::{Evaluator, SearchProblem};
use crate::error::SearchError;

pub use balance::Balance;
pub use dp::{Dp, SegmentCost, SegmentModel};
pub use greedy::{Greedy, weight_balanced_bounds};
pub use random::Random;
pub use rl::{Reference, Rl, RlMode};
pub use sa::Annealing;

/// Consecutive proposals that cost no simulator call (already scored, or
/// repaired back onto the current placement) after which a stochastic method
/// concludes that what it can reach is exhausted and stops early. Without
/// this bound a tiny problem with a handful of valid placements would never
/// spend its budget and never stop.
pub(crate) const MAX_IDLE_PROPOSALS: u32 = 1000;

/// Branch-and-bound nodes one repair may use inside a search loop.
pub const REPAIR_NODES: u64 = 64;

/// `proposal` itself when it satisfies the problem's constraints, else its
/// repair with the fewest changed ops. `Ok(None)` when repair stopped at its
/// node limit without finding a valid placement (the proposal is skipped);
/// the error says why no valid placement exists at all.
pub(crate) fn make_valid(
    problem: &SearchProblem<'_>,
    proposal: Vec<ChipletId>,
) -> Result<Option<Placement>, SearchError> {
    let placement = Placement {
        chiplet_of_op: proposal,
    };
    if is_valid(
        problem.spec,
        problem.graph,
        &placement,
        &problem.constraints,
    ) {
        return Ok(Some(placement));
    }
    // Inside a search loop, repair's proof of optimality is bounded: past
    // REPAIR_NODES branch-and-bound nodes it returns the best valid placement
    // it found (valid either way; only "nearest" is then unproven), so that
    // one hard proposal cannot stall a search.
    match repair_with(
        problem.spec,
        problem.graph,
        &problem.constraints,
        Objective::FewestChanges(&placement.chiplet_of_op),
        &RepairOptions {
            max_nodes: REPAIR_NODES,
        },
    ) {
        Ok(r) => Ok(Some(r.placement)),
        Err(e) if e.proven => Err(SearchError::NoValidPlacement { reason: e.reason }),
        Err(_) => Ok(None),
    }
}

/// Repair's node limit for a method's starting point, when the search loop's
/// [`REPAIR_NODES`] did not find one: a start is needed once, so it may cost
/// more.
pub const START_REPAIR_NODES: u64 = 20_000;

/// [`make_valid`] for a method's starting point, which it cannot do without.
/// When repair finds no valid placement near `proposal` within the search
/// loop's node limit, it falls back, in order, to: repair near `proposal`
/// with [`START_REPAIR_NODES`]; repair near the contiguous balanced
/// placement; and any valid placement (repair with a zero cost). The
/// fallback taken is recorded in the evaluator's notes (`start`). Deterministic:
/// node limits, never the clock.
pub(crate) fn make_valid_start(
    problem: &SearchProblem<'_>,
    eval: &mut Evaluator<'_>,
    what: &str,
    proposal: Vec<ChipletId>,
) -> Result<Placement, SearchError> {
    if let Some(p) = make_valid(problem, proposal.clone())? {
        return Ok(p);
    }
    let limit = RepairOptions {
        max_nodes: START_REPAIR_NODES,
    };
    let balanced = Placement::contiguous_balanced(problem.spec, problem.graph).chiplet_of_op;
    let zero = vec![vec![0.0; problem.spec.n_chiplets()]; problem.graph.ops().len()];
    let fallbacks = [
        (
            format!("repaired near the {what} with {START_REPAIR_NODES} nodes"),
            Objective::FewestChanges(&proposal),
        ),
        (
            format!(
                "no valid placement near the {what} within {START_REPAIR_NODES} nodes; started near the contiguous balanced placement"
            ),
            Objective::FewestChanges(&balanced),
        ),
        (
            format!(
                "no valid placement near the {what} within {START_REPAIR_NODES} nodes; started from the first valid placement repair found"
            ),
            Objective::Cost(&zero),
        ),
    ];
    for (note, objective) in fallbacks {
        match repair_with(
            problem.spec,
            problem.graph,
            &problem.constraints,
            objective,
            &limit,
        ) {
            Ok(r) => {
                eval.note("start", note);
                return Ok(r.placement);
            }
            Err(e) if e.proven => return Err(SearchError::NoValidPlacement { reason: e.reason }),
            Err(_) => {}
        }
    }
    Err(SearchError::NoStart {
        near: what.to_string(),
    })
}

/// The placement of a contiguous segmentation: `bounds = [0, b1, …, n_ops]`,
/// strictly increasing, puts ops `bounds[s] .. bounds[s + 1]` on the chiplet
/// at pipeline position `s`.
pub fn segmentation_placement(spec: &HwSpec, bounds: &[usize]) -> Vec<ChipletId> {
    let mut out = Vec::with_capacity(bounds.last().copied().unwrap_or(0));
    for (s, w) in bounds.windows(2).enumerate() {
        out.extend(std::iter::repeat_n(spec.pipeline_order[s], w[1] - w[0]));
    }
    out
}

/// What a search keeps of a scored placement.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Scored {
    /// Throughput, zero when the simulator found the placement invalid.
    pub score: f64,
    /// Busy cycles of each chiplet (by id) over the whole run.
    pub busy_cycles: Vec<u64>,
}

/// Placements already scored in one search.
#[derive(Default)]
pub(crate) struct Memo {
    seen: BTreeMap<Vec<ChipletId>, Scored>,
}

impl Memo {
    /// The placement's score, simulated unless seen before; the flag says
    /// whether a simulator call was spent. `None` when one was needed and the
    /// budget is spent.
    pub fn score(&mut self, eval: &mut Evaluator<'_>, p: &Placement) -> Option<(Scored, bool)> {
        if let Some(s) = self.seen.get(&p.chiplet_of_op) {
            return Some((s.clone(), false));
        }
        let (score, report) = eval.evaluate_report(p)?;
        let mut busy_cycles = vec![0; report.chiplets.len()];
        for c in &report.chiplets {
            busy_cycles[c.id as usize] = c.busy_cycles;
        }
        let s = Scored { score, busy_cycles };
        self.seen.insert(p.chiplet_of_op.clone(), s.clone());
        Some((s, true))
    }
}
