//! The graph synthesizer: fragments that branch. For one input, the
//! *residual* form grows a main sequence to the output shape and adds a skip
//! branch to it (the input itself, or a 1×1 conv / dense projection when the
//! shapes differ), then a ReLU or not, whichever is nearer the target (ties
//! go to a preference drawn per call); the main sequence is scored with the
//! join in place, so the distance sees the residual's real properties. For several inputs, the *joined* form grows one sequence per
//! input to the output shape, each against the input's own part of the
//! target and scored with a stand-in for the junction (the sequence added to
//! itself, or concatenated with itself and projected), then joins them with
//! an add or a concat followed by a 1×1 conv / dense back to the output
//! width. A branch whose input the target asks nothing of may be dropped.

use rand::Rng;
use rand::seq::SliceRandom;

use crate::ir::{Fragment, Op, Shape, ValueId};
use crate::props::{Mix, Target};

use super::ops::{conv, min_ops};
use super::progressive::{Budget, Halt, Spec, grow, push, score};

/// How parallel branches meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Join {
    /// Element-wise sum (all branches end in the output shape).
    Add,
    /// Concatenation along the channel (image) or last axis, then a 1×1
    /// conv or dense layer back to the output width.
    Concat,
}

impl Join {
    /// Nodes the junction adds for `branches` branches.
    pub fn nodes(self, branches: usize) -> usize {
        match (branches, self) {
            (0 | 1, _) => 0,
            (_, Join::Add) => 1,
            (_, Join::Concat) => 2,
        }
    }

    /// Add with probability 0.6, else concat.
    pub fn draw(rng: &mut impl Rng) -> Join {
        if rng.gen_bool(0.6) {
            Join::Add
        } else {
            Join::Concat
        }
    }
}

fn concat_axis(goal: &Shape) -> u32 {
    if goal.len() == 3 {
        0
    } else {
        goal.len() as u32 - 1
    }
}

/// The op that brings a concatenation back to the output width.
fn projection(goal: &Shape) -> Op {
    if goal.len() == 3 {
        conv(goal[0], 1, 1, 1)
    } else {
        Op::Dense {
            units: goal[goal.len() - 1],
        }
    }
}

/// Appends the junction of `outs` (all of shape `goal`) to `frag`; returns
/// its value (the single branch's own value when there is one branch).
fn join_into(frag: &mut Fragment, outs: Vec<ValueId>, join: Join, goal: &Shape) -> ValueId {
    if outs.len() == 1 {
        return outs[0];
    }
    match join {
        Join::Add => push(frag, Op::Add, outs),
        Join::Concat => {
            let c = push(
                frag,
                Op::Concat {
                    axis: concat_axis(goal),
                },
                outs,
            );
            push(frag, projection(goal), vec![c])
        }
    }
}

/// One fragment over `inputs` from per-input sequences (`(input index,
/// one-input sequence)`, each ending in shape `goal`) and a junction.
pub(crate) fn assemble(
    inputs: &[Shape],
    branches: &[(usize, Fragment)],
    join: Join,
    goal: &Shape,
) -> Fragment {
    let mut f = Fragment {
        inputs: inputs.to_vec(),
        nodes: Vec::new(),
        outputs: Vec::new(),
    };
    let mut outs = Vec::new();
    for (i, seq) in branches {
        // In `seq`, value 0 is its input and value j ≥ 1 its node j − 1.
        let base = f.inputs.len() + f.nodes.len();
        let map = |v: ValueId| {
            if v.0 == 0 {
                ValueId(*i as u32)
            } else {
                ValueId((base + v.0 as usize - 1) as u32)
            }
        };
        for n in &seq.nodes {
            let mut n = n.clone();
            n.inputs = n.inputs.iter().map(|v| map(*v)).collect();
            n.name = format!("b{i}.{}", n.name);
            f.nodes.push(n);
        }
        outs.push(map(seq.outputs[0]));
    }
    let y = join_into(&mut f, outs, join, goal);
    f.outputs = vec![y];
    f
}

/// The skip branch from `input` to `goal`: `Some(None)` for the identity,
/// `Some(Some(op))` for a projection, `None` when one op cannot do it.
fn skip_op(input: &Shape, goal: &Shape) -> Option<Option<Op>> {
    if input == goal {
        return Some(None);
    }
    match (input.len(), goal.len()) {
        (3, 3) => [1, 2].into_iter().find_map(|s| {
            let op = conv(goal[0], 1, s, 1);
            (op.infer(&[input]).ok()? == *goal).then_some(Some(op))
        }),
        (r, g) if r == g && r != 3 && input[..r - 1] == goal[..r - 1] => {
            Some(Some(Op::Dense { units: goal[r - 1] }))
        }
        _ => None,
    }
}

/// The residual form for one input (see the module docs).
pub(crate) fn residual(
    input: &Shape,
    target: &Target,
    min_len: usize,
    max_len: usize,
    max_width: u64,
    budget: &mut Budget,
    rng: &mut impl Rng,
) -> Result<Fragment, Halt> {
    let goal = &target.shapes[0];
    let skip = skip_op(input, goal).ok_or_else(|| {
        Halt::Unreachable(format!(
            "no one-op skip branch turns {input:?} into {goal:?}"
        ))
    })?;
    let prefer_tail = rng.gen_bool(0.5);
    // The add and the projection; the tail is one more op or none.
    let fixed = 1 + usize::from(skip.is_some());
    if max_len < fixed + 1 {
        return Err(Halt::Unreachable(format!(
            "a residual needs at least {} ops, more than the {max_len} allowed",
            fixed + 1
        )));
    }
    let spec = Spec {
        target,
        goal,
        min_len: min_len.saturating_sub(fixed + 1).max(1),
        max_len: max_len - fixed,
        max_width,
    };
    let complete = |seq: &Fragment| {
        let mut f = seq.clone();
        let main = seq.outputs[0];
        let short = match &skip {
            Some(op) => push(&mut f, op.clone(), vec![ValueId(0)]),
            None => ValueId(0),
        };
        let y = push(&mut f, Op::Add, vec![main, short]);
        let mut options = Vec::new();
        let total = seq.len() + fixed;
        if total >= min_len {
            let mut bare = f.clone();
            bare.outputs = vec![y];
            options.push((false, bare));
        }
        if total < max_len {
            let mut tailed = f;
            let t = push(&mut tailed, Op::Relu, vec![y]);
            tailed.outputs = vec![t];
            options.push((true, tailed));
        }
        let mut best: Option<(Fragment, f64, bool)> = None;
        for (has_tail, frag) in options {
            let d = score(&frag, target);
            let better = match &best {
                None => true,
                Some((_, bd, _)) => d < *bd || (d == *bd && has_tail == prefer_tail),
            };
            if better {
                best = Some((frag, d, has_tail));
            }
        }
        let (frag, d, _) = best.expect("min_len ≤ max_len leaves an option");
        (frag, d)
    };
    grow(input, &spec, &complete, budget, rng).map(|g| g.done)
}

/// The part of `target` about input `i`, for a one-input sequence.
fn sub_target(target: &Target, i: usize) -> Target {
    Target {
        shapes: target.shapes.clone(),
        depth: vec![vec![target.depth[i][0]]],
        mixing: vec![vec![target.mixing[i][0].clone()]],
    }
}

/// True when the target asks nothing of input `i`.
fn asks_nothing(target: &Target, i: usize) -> bool {
    target.depth[i][0].is_none()
        && target.mixing[i][0]
            .iter()
            .all(|row| row.iter().all(|m| *m == Mix::None))
}

/// Fewest steps a branch's growth may take before the try is abandoned
/// (it gets a quarter of what is left when that is more).
const BRANCH_STEPS: u64 = 500;

/// The joined form for several inputs (see the module docs).
pub(crate) fn joined(
    inputs: &[Shape],
    target: &Target,
    min_len: usize,
    max_len: usize,
    max_width: u64,
    budget: &mut Budget,
    rng: &mut impl Rng,
) -> Result<Fragment, Halt> {
    let goal = &target.shapes[0];
    let needs = branch_needs(inputs, goal);
    for (i, need) in needs.iter().enumerate() {
        if need.is_none() && !asks_nothing(target, i) {
            return Err(Halt::Unreachable(format!(
                "no op sequence turns input {i} ({:?}) into {goal:?}",
                inputs[i]
            )));
        }
    }
    let mut reasons = Vec::new();
    loop {
        // Every try takes a step, so the loop ends with the budget even
        // when every try is refused before any candidate is scored.
        if !budget.spend() {
            return Err(match reasons.pop() {
                Some(r) => Halt::Unreachable(r),
                None => Halt::Budget,
            });
        }
        let mut keep: Vec<usize> = (0..inputs.len())
            .filter(|&i| needs[i].is_some() && !(asks_nothing(target, i) && rng.gen_bool(0.5)))
            .collect();
        if keep.is_empty() {
            match needs.iter().position(Option::is_some) {
                Some(i) => keep.push(i),
                None => {
                    return Err(Halt::Unreachable(format!(
                        "no input reaches the output shape {goal:?}"
                    )));
                }
            }
        }
        let join = Join::draw(rng);
        let fixed = join.nodes(keep.len());
        let Some(room) = max_len.checked_sub(fixed) else {
            continue;
        };
        // Branches grow in random order; each may use what the earlier ones
        // left minus the shortest lengths of the later ones, and the last
        // makes up the minimum length.
        let mut order = keep.clone();
        order.shuffle(rng);
        let mut spent = 0;
        let mut branches = Vec::new();
        let mut failed = false;
        for (pos, &i) in order.iter().enumerate() {
            let later: usize = order[pos + 1..].iter().filter_map(|&j| needs[j]).sum();
            let last = pos + 1 == order.len();
            let sub = sub_target(target, i);
            let max_b = room.saturating_sub(spent + later);
            let min_b = if last {
                min_len.saturating_sub(fixed + spent).min(max_b)
            } else {
                0
            };
            let spec = Spec {
                target: &sub,
                goal,
                // A lone branch is the whole fragment and needs an op.
                min_len: min_b.max(usize::from(keep.len() == 1)),
                max_len: max_b,
                max_width,
            };
            let complete = |seq: &Fragment| {
                let mut f = seq.clone();
                let o = seq.outputs[0];
                let y = join_into(&mut f, vec![o, o], join, goal);
                f.outputs = vec![y];
                let d = score(&f, &sub);
                (f, d)
            };
            // A branch gets a slice of what is left, so that a hopeless
            // split of the length does not use up the whole budget.
            let left = budget.limit - budget.used;
            let mut slice = Budget {
                used: budget.used,
                limit: budget.used + left.min((left / 4).max(BRANCH_STEPS)),
            };
            let grown = grow(&inputs[i], &spec, &complete, &mut slice, rng);
            budget.used = slice.used;
            match grown {
                Ok(g) => {
                    spent += g.seq.len();
                    branches.push((i, g.seq));
                }
                Err(Halt::Budget) if budget.used >= budget.limit => return Err(Halt::Budget),
                Err(Halt::Budget) => {
                    failed = true;
                    break;
                }
                Err(Halt::Unreachable(m)) => {
                    reasons.push(m);
                    failed = true;
                    break;
                }
            }
        }
        branches.sort_by_key(|b| b.0);
        if failed {
            continue;
        }
        let frag = assemble(inputs, &branches, join, goal);
        if frag.len() < min_len || frag.len() > max_len {
            continue;
        }
        if !budget.spend() {
            return Err(Halt::Budget);
        }
        if score(&frag, target) == 0.0 {
            return Ok(frag);
        }
    }
}

/// Each input's shortest sequence to `goal` (`None` when it cannot reach it).
pub(crate) fn branch_needs(inputs: &[Shape], goal: &Shape) -> Vec<Option<usize>> {
    inputs.iter().map(|s| min_ops(s, goal)).collect()
}
