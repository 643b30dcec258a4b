//! `greedy`: contiguous segments of the topological order with equal weight
//! bytes, one per chiplet in pipeline order, as the Edge TPU compiler segments
//! a model for a pipeline of Edge TPUs (`edgetpu_compiler --num_segments`
//! divides the model so that each segment holds about the same amount of
//! parameter data). The segmentation is repaired if it breaks a constraint
//! and evaluated once.

use sim::graph::Graph;

use super::{make_valid_start, segmentation_placement};
use crate::error::SearchError;
use crate::partition::search::{Evaluator, Search, SearchProblem};

/// Equal-weight segmentation (no settings).
#[derive(Clone, Copy, Debug, Default)]
pub struct Greedy;

impl Search for Greedy {
    fn name(&self) -> &'static str {
        "greedy"
    }

    fn run(
        &mut self,
        problem: &SearchProblem<'_>,
        eval: &mut Evaluator,
    ) -> Result<(), SearchError> {
        if problem.graph.ops().is_empty() {
            return Ok(());
        }
        let bounds = weight_balanced_bounds(problem.graph, problem.spec.n_chiplets());
        let placement = make_valid_start(
            problem,
            eval,
            "equal-weight segmentation",
            segmentation_placement(problem.spec, &bounds),
        )?;
        eval.evaluate(&placement);
        Ok(())
    }
}

/// Bounds `[0, b1, …, n_ops]` of `min(n_segments, n_ops)` non-empty contiguous
/// segments of the op order with weight bytes as equal as cuts allow: cut `s`
/// goes where the weight before it is nearest to `s / segments` of the total
/// (the earlier place on a tie), kept after the previous cut and early enough
/// that every later segment still gets an op. A graph without weights is cut
/// into equal op counts instead.
pub fn weight_balanced_bounds(graph: &Graph, n_segments: usize) -> Vec<usize> {
    let n_ops = graph.ops().len();
    let segments = n_segments.min(n_ops).max(1);
    let total: u64 = graph.ops().iter().map(|o| o.weight_bytes).sum();
    let weight = |i: usize| -> u128 {
        if total == 0 {
            1
        } else {
            u128::from(graph.ops()[i].weight_bytes)
        }
    };
    // before[i]: weight of ops 0..i.
    let mut before = vec![0u128; n_ops + 1];
    for i in 0..n_ops {
        before[i + 1] = before[i] + weight(i);
    }
    let total = before[n_ops];
    let mut bounds = vec![0];
    for s in 1..segments {
        let lo = bounds[s - 1] + 1;
        let hi = n_ops - (segments - s);
        // Distance of before[i] from the target s/segments·total, scaled by
        // `segments` to stay in integers.
        let dist = |i: usize| (before[i] * segments as u128).abs_diff(total * s as u128);
        let mut best = lo;
        for i in lo + 1..=hi {
            if dist(i) < dist(best) {
                best = i;
            }
        }
        bounds.push(best);
    }
    bounds.push(n_ops);
    bounds
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sim::zoo;

    use super::*;

    fn mlp(sizes: &str) -> Graph {
        let params = BTreeMap::from([("sizes".to_string(), sizes.to_string())]);
        zoo::build("mlp", &params).unwrap()
    }

    #[test]
    fn equal_layers_get_one_segment_each() {
        // fc0 relu fc1 relu fc2 relu fc3: four equal weights, four segments.
        let g = mlp("64,64,64,64,64");
        assert_eq!(weight_balanced_bounds(&g, 4), vec![0, 1, 3, 5, 7]);
    }

    #[test]
    fn every_segment_gets_an_op_even_behind_a_heavy_one() {
        // fc0 holds almost all the weight; the later segments still get one
        // op each, and there are never more segments than ops.
        let g = mlp("4096,1024,4,4,4");
        let b = weight_balanced_bounds(&g, 4);
        assert_eq!((b.len(), b[0], b[4]), (5, 0, g.ops().len()));
        assert!(b.windows(2).all(|w| w[0] < w[1]), "{b:?}");
        assert_eq!(weight_balanced_bounds(&mlp("8,8"), 4), vec![0, 1]);
    }
}
