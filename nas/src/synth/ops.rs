//! The op vocabulary of synthesis: which single-input ops may extend a value
//! of a given shape toward a goal shape ([`candidates`]), and how many such
//! ops at least separate a shape from the goal ([`min_ops`]).
//!
//! The two agree: every op on a shortest path that [`min_ops`] counts is
//! among the [`candidates`] offered at that point, so growth that keeps
//! `min_ops(shape, goal)` within the ops it has left can always still reach
//! the goal. Shapes reachable: an image `[c, h, w]` changes channels by a
//! conv, halves its spatial size rounding up by a stride-2 conv (kernel k,
//! padding k/2) or down by a 2×2/2 pool, and becomes a vector by global
//! average pooling or flattening; a vector or sequence changes its last axis
//! by a dense layer and a sequence becomes a vector by flattening. Nothing
//! turns a vector or sequence back into an image, and no op changes a
//! sequence's leading axes.

use std::collections::{BTreeSet, VecDeque};

use crate::ir::{Op, numel};

/// Kernel sizes a synthesized conv may have (odd, padding `k / 2`, so stride
/// 1 keeps the spatial size and stride 2 rounds half of it up for every one).
pub(crate) const KERNELS: [u64; 3] = [1, 3, 5];

/// A conv with "same" padding.
pub(crate) fn conv(out_channels: u64, kernel: u64, stride: u64, groups: u64) -> Op {
    Op::Conv {
        out_channels,
        kernel,
        stride,
        padding: kernel / 2,
        groups,
    }
}

/// Widths (channels or units) an op may produce from width `current`:
/// the current one, double and half of it (those within `max_width`), and
/// `goal` when given. The goal is offered even above `max_width`: the
/// interface asks for it.
pub(crate) fn widths(current: u64, goal: Option<u64>, max_width: u64) -> Vec<u64> {
    let mut set = BTreeSet::new();
    for w in [current, current * 2, (current / 2).max(1)] {
        if w <= max_width {
            set.insert(w);
        }
    }
    if let Some(g) = goal {
        set.insert(g);
    }
    set.into_iter().collect()
}

/// Single-input ops valid for a value of shape `shape` that may be useful
/// on the way to `goal` (an op that makes the goal unreachable may still be
/// offered; [`min_ops`] tells).
pub(crate) fn candidates(shape: &[u64], goal: &[u64], max_width: u64) -> Vec<Op> {
    let mut ops = Vec::new();
    let elementwise = [Op::Relu, Op::Gelu, Op::Tanh, Op::Sigmoid];
    match shape.len() {
        3 => {
            let (c, h, w) = (shape[0], shape[1], shape[2]);
            let goal_image = goal.len() == 3;
            let goal_width = match goal.len() {
                3 => Some(goal[0]),
                1 if goal[0] <= max_width => Some(goal[0]),
                _ => None,
            };
            let shrink = goal_image && (goal[1] < h || goal[2] < w);
            let strides: &[u64] = if shrink { &[1, 2] } else { &[1] };
            for &k in &KERNELS {
                for &s in strides {
                    for out in widths(c, goal_width, max_width) {
                        ops.push(conv(out, k, s, 1));
                    }
                    if c > 1 {
                        ops.push(conv(c, k, s, c));
                    }
                }
            }
            if h >= 2 && w >= 2 {
                ops.push(Op::MaxPool {
                    kernel: 2,
                    stride: 2,
                    padding: 0,
                });
                ops.push(Op::AvgPool {
                    kernel: 2,
                    stride: 2,
                    padding: 0,
                });
            }
            ops.push(Op::MaxPool {
                kernel: 3,
                stride: 1,
                padding: 1,
            });
            ops.push(Op::AvgPool {
                kernel: 3,
                stride: 1,
                padding: 1,
            });
            ops.push(Op::BatchNorm);
            ops.extend(elementwise);
            if !goal_image {
                ops.push(Op::GlobalAvgPool);
                ops.push(Op::Flatten);
            }
        }
        1 => {
            let goal_width = (goal.len() == 1).then(|| goal[0]);
            for u in widths(shape[0], goal_width, max_width) {
                ops.push(Op::Dense { units: u });
            }
            ops.extend(elementwise);
            ops.push(Op::LayerNorm);
            ops.push(Op::BatchNorm);
        }
        _ => {
            let r = shape.len();
            let same_lead = goal.len() == r && goal[..r - 1] == shape[..r - 1];
            let goal_width = same_lead.then(|| goal[r - 1]);
            for u in widths(shape[r - 1], goal_width, max_width) {
                ops.push(Op::Dense { units: u });
            }
            ops.extend(elementwise);
            ops.push(Op::LayerNorm);
            ops.push(Op::Softmax);
            if goal.len() == 1 {
                ops.push(Op::Flatten);
            }
        }
    }
    ops
}

/// The fewest vocabulary ops that turn shape `from` into `to`, or `None`
/// when no sequence of them can.
pub(crate) fn min_ops(from: &[u64], to: &[u64]) -> Option<usize> {
    if from == to {
        return Some(0);
    }
    match (from.len(), to.len()) {
        (3, 3) => image_to_image(from, to),
        // Global average pool or flatten, then a dense layer unless that
        // already gives the width.
        (3, 1) => Some(if to[0] == from[0] || to[0] == numel(from) {
            1
        } else {
            2
        }),
        (1, 1) => Some(1),
        (r, 1) if r != 3 => Some(if to[0] == numel(from) { 1 } else { 2 }),
        (r, s) if r == s && r != 3 && from[..r - 1] == to[..r - 1] => Some(1),
        _ => None,
    }
}

/// Breadth-first search over (channels right, height, width): a conv sets
/// the channels (stride 1 keeps the size, stride 2 halves it rounding up),
/// a 2×2/2 pool halves it rounding down. Sizes only shrink, so the search
/// is small.
fn image_to_image(from: &[u64], to: &[u64]) -> Option<usize> {
    let start = (from[0] == to[0], from[1], from[2]);
    let done = |s: (bool, u64, u64)| s.0 && s.1 == to[1] && s.2 == to[2];
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::new();
    seen.insert(start);
    queue.push_back((start, 0usize));
    while let Some((s, n)) = queue.pop_front() {
        if done(s) {
            return Some(n);
        }
        let (_, h, w) = s;
        let mut next = vec![(true, h, w), (true, h.div_ceil(2), w.div_ceil(2))];
        if h >= 2 && w >= 2 {
            next.push((s.0, h / 2, w / 2));
        }
        for t in next {
            // A state smaller than the goal on either axis can never grow back.
            if t.1 >= to[1] && t.2 >= to[2] && seen.insert(t) {
                queue.push_back((t, n + 1));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Shape;

    #[test]
    fn min_ops_counts_the_fewest_steps() {
        assert_eq!(min_ops(&[1, 8, 8], &[1, 8, 8]), Some(0));
        // One strided conv changes channels and halves.
        assert_eq!(min_ops(&[1, 8, 8], &[16, 4, 4]), Some(1));
        assert_eq!(min_ops(&[1, 16, 16], &[16, 4, 4]), Some(2));
        // 7 → 3 needs the pool's rounding down, so the channels take a
        // separate conv.
        assert_eq!(min_ops(&[1, 7, 7], &[16, 3, 3]), Some(2));
        assert_eq!(min_ops(&[4, 7, 7], &[4, 3, 3]), Some(1));
        assert_eq!(min_ops(&[16, 2, 2], &[384]), Some(2));
        assert_eq!(min_ops(&[16, 2, 2], &[64]), Some(1));
        assert_eq!(min_ops(&[16, 2, 2], &[16]), Some(1));
        assert_eq!(min_ops(&[384], &[192]), Some(1));
        assert_eq!(min_ops(&[8, 32], &[8, 16]), Some(1));
        assert_eq!(min_ops(&[8, 32], &[4, 32]), None);
        assert_eq!(min_ops(&[64], &[4, 4, 4]), None);
        assert_eq!(min_ops(&[4, 4, 4], &[4, 8, 8]), None);
    }

    /// Following only candidates that keep the goal within reach, a
    /// breadth-first walk reaches the goal in exactly `min_ops` steps: the
    /// bound is achievable with the offered ops.
    #[test]
    fn candidates_realise_min_ops() {
        let cases: [(&[u64], &[u64]); 7] = [
            (&[1, 8, 8], &[16, 4, 4]),
            (&[1, 16, 16], &[16, 4, 4]),
            (&[1, 7, 7], &[16, 3, 3]),
            (&[3, 9, 5], &[8, 2, 1]),
            (&[16, 2, 2], &[384]),
            (&[8, 32], &[8, 16]),
            (&[8, 32], &[100]),
        ];
        for (from, to) in cases {
            let want = min_ops(from, to).unwrap();
            let mut frontier: Vec<Shape> = vec![from.to_vec()];
            let mut steps = 0;
            while !frontier.iter().any(|s| s.as_slice() == to) {
                let mut next = BTreeSet::new();
                for s in &frontier {
                    for op in candidates(s, to, 64) {
                        if let Ok(y) = op.infer(&[s]) {
                            next.insert(y);
                        }
                    }
                }
                frontier = next.into_iter().collect();
                steps += 1;
                assert!(steps <= want, "{from:?} → {to:?} not reached in {want}");
            }
            assert_eq!(steps, want, "{from:?} → {to:?}");
        }
    }
}
