//! `sa`: simulated annealing over valid placements, maximising simulated
//! throughput.
//!
//! - **Start**: the contiguous balanced placement
//!   ([`sim::Placement::contiguous_balanced`]), repaired if it breaks a
//!   constraint.
//! - **Moves** (each repaired to the nearest valid placement before it is
//!   scored): with probability `shift_probability` a *boundary shift* — pick a
//!   run (a maximal stretch of consecutive ops, in op order, on one chiplet)
//!   uniformly, and move its first op to the chiplet one position earlier in
//!   the pipeline order or its last op to the one a position later (the end
//!   that has such a neighbour; a fair coin when both do); otherwise a
//!   *single-op move* — one op, drawn uniformly, to another chiplet drawn
//!   uniformly. A move that repair undoes (the repaired placement is the
//!   current one) is skipped without a simulator call; a placement scored
//!   before is not simulated again.
//! - **Acceptance** (Metropolis, with the seeded generator): a candidate of
//!   throughput `f'` replaces the current `f` if `f' ≥ f`, else with
//!   probability `exp((f' − f) / T)`.
//! - **Temperature**: geometric cooling over the budget,
//!   `T(k) = T0 · (T_end / T0)^(k / B)`, where `k` is the number of simulator
//!   calls spent so far and `B` the calls the search was given;
//!   `T0 = t0_fraction · f0` and `T_end = t_end_fraction · f0`, with `f0` the
//!   start's throughput. With the defaults (0.005 and 0.00005) a move that
//!   costs 0.5 % of the start's throughput is accepted with probability
//!   e⁻¹ ≈ 0.37 at first, and one that costs 0.005 % with the same
//!   probability at the end. Chosen on BERT-base / `edgetpu_ring16` at
//!   budgets 200 to 5,000: starting at 5 % or 2 % the walk leaves the
//!   balanced start within a few dozen moves (one op more on the slowest
//!   stage costs several per cent) and does not find its way back within
//!   200 evaluations; from 0.5 % down it reaches the same best at every
//!   budget tried.
//! - **Stop**: the budget is spent, or [`super::MAX_IDLE_PROPOSALS`]
//!   consecutive moves needed no simulator call.

use rand::Rng;
use sim::Placement;
use sim::spec::ChipletId;

use super::{MAX_IDLE_PROPOSALS, Memo, make_valid, make_valid_start};
use crate::error::SearchError;
use crate::partition::search::{Evaluator, Search, SearchProblem};

/// Simulated annealing and its schedule.
#[derive(Clone, Debug)]
pub struct Annealing {
    /// Initial temperature as a fraction of the start's throughput.
    pub t0_fraction: f64,
    /// Final temperature as a fraction of the start's throughput.
    pub t_end_fraction: f64,
    /// Probability that a move is a boundary shift (else a single-op move).
    pub shift_probability: f64,
    proposed: u64,
    accepted: u64,
}

impl Annealing {
    /// Annealing with this schedule (see the module comment).
    pub fn new(t0_fraction: f64, t_end_fraction: f64, shift_probability: f64) -> Self {
        Annealing {
            t0_fraction,
            t_end_fraction,
            shift_probability,
            proposed: 0,
            accepted: 0,
        }
    }
}

impl Default for Annealing {
    /// The schedule the registry documents as default (chosen as the module
    /// comment says).
    fn default() -> Self {
        Annealing::new(0.005, 0.00005, 0.5)
    }
}

impl Search for Annealing {
    fn name(&self) -> &'static str {
        "sa"
    }

    fn run(
        &mut self,
        problem: &SearchProblem<'_>,
        eval: &mut Evaluator,
    ) -> Result<(), SearchError> {
        self.proposed = 0;
        self.accepted = 0;
        let n_chips = problem.spec.n_chiplets();
        if problem.graph.ops().is_empty() || eval.remaining() == 0 {
            return Ok(());
        }
        let calls = eval.remaining();
        let start = eval.used();
        let positions = problem.spec.pipeline_positions();
        let mut memo = Memo::default();
        let mut current = make_valid_start(
            problem,
            eval,
            "contiguous balanced placement",
            Placement::contiguous_balanced(problem.spec, problem.graph).chiplet_of_op,
        )?;
        let Some((scored, _)) = memo.score(eval, &current) else {
            return Ok(());
        };
        let mut f = scored.score;
        let scale = f.max(f64::MIN_POSITIVE);
        let (t0, t_end) = (self.t0_fraction * scale, self.t_end_fraction * scale);
        if n_chips < 2 {
            return Ok(());
        }
        let mut idle = 0;
        while eval.remaining() > 0 && idle < MAX_IDLE_PROPOSALS {
            self.proposed += 1;
            let proposal = if eval.rng.gen_bool(self.shift_probability) {
                boundary_shift(&mut eval.rng, &current.chiplet_of_op, &positions, problem)
            } else {
                single_op_move(&mut eval.rng, &current.chiplet_of_op, n_chips)
            };
            let Some(candidate) = make_valid(problem, proposal)? else {
                idle += 1;
                continue;
            };
            if candidate == current {
                idle += 1;
                continue;
            }
            let Some((scored, fresh)) = memo.score(eval, &candidate) else {
                break;
            };
            idle = if fresh { 0 } else { idle + 1 };
            let progress = (eval.used() - start) as f64 / calls as f64;
            let t = t0 * (t_end / t0).powf(progress);
            let delta = scored.score - f;
            if delta >= 0.0 || eval.rng.r#gen::<f64>() < (delta / t).exp() {
                current = candidate;
                f = scored.score;
                self.accepted += 1;
            }
        }
        Ok(())
    }

    fn notes(&self) -> Vec<(String, String)> {
        vec![
            ("moves".to_string(), self.proposed.to_string()),
            ("accepted".to_string(), self.accepted.to_string()),
        ]
    }
}

/// One op, drawn uniformly, moved to another chiplet drawn uniformly.
fn single_op_move(rng: &mut impl Rng, current: &[ChipletId], n_chips: usize) -> Vec<ChipletId> {
    let mut out = current.to_vec();
    let op = rng.gen_range(0..out.len());
    let mut to = rng.gen_range(0..n_chips - 1) as u32;
    if to >= out[op].0 {
        to += 1;
    }
    out[op] = ChipletId(to);
    out
}

/// A run of consecutive ops on one chiplet, drawn uniformly, gives its first
/// op to the chiplet one pipeline position earlier or its last op to the one a
/// position later.
fn boundary_shift(
    rng: &mut impl Rng,
    current: &[ChipletId],
    positions: &[usize],
    problem: &SearchProblem<'_>,
) -> Vec<ChipletId> {
    let order = &problem.spec.pipeline_order;
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for i in 1..=current.len() {
        if i == current.len() || current[i] != current[start] {
            runs.push((start, i));
            start = i;
        }
    }
    let (first, end) = runs[rng.gen_range(0..runs.len())];
    let pos = positions[current[first].idx()];
    let earlier = pos > 0;
    let later = pos + 1 < order.len();
    let take_first = match (earlier, later) {
        (true, true) => rng.gen_bool(0.5),
        (e, _) => e,
    };
    let mut out = current.to_vec();
    if take_first {
        out[first] = order[pos - 1];
    } else {
        out[end - 1] = order[pos + 1];
    }
    out
}
