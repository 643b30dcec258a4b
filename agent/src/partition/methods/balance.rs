//! `balance`: move segment boundaries toward equal *measured* stage latency,
//! after libcoral's profiling-based partitioner for Edge TPU pipelines
//! (`partition_with_profiling`: it segments with the Edge TPU compiler's
//! equal-parameter split, measures each segment's latency on the device, and
//! re-segments toward a common target latency until the segments are even).
//! Here the re-segmentation is local, one op at a time.
//!
//! The search keeps a contiguous segmentation of the op order, one segment per
//! chiplet in pipeline order, starting from the `greedy` one (equal weight
//! bytes). Each step reads every stage's busy cycles from the simulator's
//! report of the current placement, takes the slowest stage, and shifts one of
//! its boundaries by one op toward a neighbouring stage, the lighter neighbour
//! first: its last op goes to the next stage, or its first op to the previous
//! one. When the repaired shift is the current placement (repair undid it),
//! the boundary moves one op further, as long as the slow stage keeps an op.
//! A shift is kept only when it strictly improves the simulated throughput,
//! or keeps it equal while evening out the stages: the stage busy cycles,
//! sorted from the slowest down, become lexicographically smaller (fewer
//! stages at the maximum, then a lower runner-up, …). Without that second
//! rule the search halts at once when several stages tie for slowest, which
//! is common (identical transformer layers), or when the simulator scores
//! both placements zero (e.g. an SRAM overflow it measures in the pipelined
//! run). The search stops when neither shift of the slowest stage improves,
//! or the budget is spent. It therefore never ends below its start, and it
//! ends: every kept shift is strictly better in that order.

use sim::Placement;

use super::greedy::weight_balanced_bounds;
use super::{Memo, Scored, make_valid, make_valid_start, segmentation_placement};
use crate::error::SearchError;
use crate::partition::search::{Evaluator, Search, SearchProblem};

/// The measured-latency boundary search.
#[derive(Clone, Debug, Default)]
pub struct Balance {
    accepted: u64,
}

impl Search for Balance {
    fn name(&self) -> &'static str {
        "balance"
    }

    fn run(
        &mut self,
        problem: &SearchProblem<'_>,
        eval: &mut Evaluator,
    ) -> Result<(), SearchError> {
        self.accepted = 0;
        if problem.graph.ops().is_empty() {
            return Ok(());
        }
        let spec = problem.spec;
        let mut memo = Memo::default();
        let mut bounds = weight_balanced_bounds(problem.graph, spec.n_chiplets());
        let mut current = make_valid_start(
            problem,
            eval,
            "equal-weight segmentation",
            segmentation_placement(spec, &bounds),
        )?;
        let Some((mut scored, _)) = memo.score(eval, &current) else {
            return Ok(());
        };
        while let Some(step) = self.step(problem, eval, &mut memo, &bounds, &current, &scored)? {
            (bounds, current, scored) = step;
            self.accepted += 1;
        }
        Ok(())
    }

    fn notes(&self) -> Vec<(String, String)> {
        vec![("shifts".to_string(), self.accepted.to_string())]
    }
}

impl Balance {
    /// The first improving shift of the slowest stage's boundaries, or `None`
    /// when neither improves (or the budget is spent).
    fn step(
        &self,
        problem: &SearchProblem<'_>,
        eval: &mut Evaluator,
        memo: &mut Memo,
        bounds: &[usize],
        current: &Placement,
        scored: &Scored,
    ) -> Result<Option<(Vec<usize>, Placement, Scored)>, SearchError> {
        let spec = problem.spec;
        let n_stages = bounds.len() - 1;
        let stage = |s: usize| scored.busy_cycles[spec.pipeline_order[s].idx()];
        // The slowest stage; the first on a tie.
        let slow = (0..n_stages).fold(0, |a, s| if stage(s) > stage(a) { s } else { a });
        // Neighbours, lighter first (the earlier one on a tie).
        let mut toward: Vec<usize> = Vec::new();
        if slow > 0 {
            toward.push(slow - 1);
        }
        if slow + 1 < n_stages {
            toward.push(slow + 1);
        }
        toward.sort_by_key(|&s| (stage(s), s));
        for neighbour in toward {
            let len = bounds[slow + 1] - bounds[slow];
            for shift in 1..len {
                let mut b = bounds.to_vec();
                if neighbour > slow {
                    b[slow + 1] -= shift;
                } else {
                    b[slow] += shift;
                }
                let Some(candidate) = make_valid(problem, segmentation_placement(spec, &b))? else {
                    continue;
                };
                if candidate == *current {
                    continue;
                }
                let Some((s, _)) = memo.score(eval, &candidate) else {
                    return Ok(None);
                };
                if better(&s, scored) {
                    return Ok(Some((b, candidate, s)));
                }
                break;
            }
        }
        Ok(None)
    }
}

/// Higher throughput, or equal throughput and more even stages (busy cycles
/// sorted from the slowest down, lexicographically smaller).
fn better(a: &Scored, b: &Scored) -> bool {
    let descending = |s: &Scored| {
        let mut busy = s.busy_cycles.clone();
        busy.sort_unstable_by(|x, y| y.cmp(x));
        busy
    };
    a.score > b.score || (a.score == b.score && descending(a) < descending(b))
}
