//! `random`: random proposals, each repaired to the nearest valid placement
//! and scored, until the budget is spent.
//!
//! By default half of the proposals (option `uniform_share`) put every op on a chiplet drawn uniformly; the other
//! half are random contiguous segmentations (as many segments as chiplets, cut
//! points drawn uniformly without replacement), which the constraints favour:
//! a uniform proposal is almost never valid, and its repair tends to land on
//! the same few placements, while random cuts spread over the valid ones.
//! Placements already scored cost no second simulator call.

use rand::Rng;
use rand::seq::index::sample;
use sim::spec::ChipletId;

use super::{MAX_IDLE_PROPOSALS, Memo, make_valid, segmentation_placement};
use crate::error::SearchError;
use crate::partition::search::{Evaluator, Search, SearchProblem};

/// Random search.
#[derive(Clone, Copy, Debug)]
pub struct Random {
    /// Share of proposals that draw every op's chiplet uniformly; the rest
    /// are random contiguous segmentations.
    pub uniform_share: f64,
}

impl Default for Random {
    fn default() -> Self {
        Random { uniform_share: 0.5 }
    }
}

impl Search for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn run(
        &mut self,
        problem: &SearchProblem<'_>,
        eval: &mut Evaluator,
    ) -> Result<(), SearchError> {
        let n_ops = problem.graph.ops().len();
        let n_chips = problem.spec.n_chiplets();
        if n_ops == 0 || n_chips == 0 {
            return Ok(());
        }
        let mut memo = Memo::default();
        let mut idle = 0;
        while eval.remaining() > 0 && idle < MAX_IDLE_PROPOSALS {
            let proposal = if eval.rng.gen_bool(self.uniform_share) {
                (0..n_ops)
                    .map(|_| ChipletId(eval.rng.gen_range(0..n_chips) as u32))
                    .collect()
            } else {
                let bounds = random_bounds(&mut eval.rng, n_ops, n_chips);
                segmentation_placement(problem.spec, &bounds)
            };
            let Some(placement) = make_valid(problem, proposal)? else {
                idle += 1;
                continue;
            };
            match memo.score(eval, &placement) {
                None => break,
                Some((_, true)) => idle = 0,
                Some((_, false)) => idle += 1,
            }
        }
        Ok(())
    }
}

/// Bounds of a random segmentation of `n_ops` ops into `min(n_chips, n_ops)`
/// non-empty segments: the cut points are distinct and uniform over the
/// `n_ops − 1` gaps.
pub(crate) fn random_bounds(rng: &mut impl Rng, n_ops: usize, n_chips: usize) -> Vec<usize> {
    let segments = n_chips.min(n_ops);
    let mut cuts: Vec<usize> = sample(rng, n_ops - 1, segments - 1)
        .into_iter()
        .map(|gap| gap + 1)
        .collect();
    cuts.sort_unstable();
    let mut bounds = Vec::with_capacity(segments + 1);
    bounds.push(0);
    bounds.extend(cuts);
    bounds.push(n_ops);
    bounds
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn random_bounds_are_strictly_increasing_and_cover_every_op() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (n_ops, n_chips) in [(1, 4), (3, 4), (4, 4), (10, 4), (50, 16)] {
            for _ in 0..50 {
                let b = random_bounds(&mut rng, n_ops, n_chips);
                assert_eq!(b.len(), n_chips.min(n_ops) + 1);
                assert_eq!((b[0], *b.last().unwrap()), (0, n_ops));
                assert!(b.windows(2).all(|w| w[0] < w[1]), "{b:?}");
            }
        }
    }
}
