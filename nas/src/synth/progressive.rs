//! The progressive synthesizer: grows an op sequence from one input, one op
//! at a time. At each step every vocabulary op valid for the current shape
//! that keeps the goal shape within reach of the ops left is scored by the
//! distance of the properties the sequence would then have to the target
//! (each scored candidate is a step of the budget), and one is drawn with
//! weight `1 / (d + 0.1)²`. Once the sequence is at least the minimum length
//! and meets the target it stops with probability [`P_STOP`] (always at the
//! maximum length); a sequence at the maximum length that does not meet the
//! target, or with no candidate left, is a dead end and growth starts again.
//!
//! A caller may score something other than the bare sequence: `complete`
//! turns a sequence that has reached the goal shape into the fragment the
//! caller will build from it (a residual join, a virtual junction) with its
//! distance to the target, and that distance is what the draw sees.

use rand::Rng;

use crate::ir::{Fragment, Node, Op, Shape, ValueId};
use crate::props::{SHAPE_MISMATCH, Target, abstract_props, distance};

use super::ops::{candidates, min_ops};

/// Probability of stopping at a length within range once the target is met
/// (otherwise growth goes on while the maximum length allows).
pub(crate) const P_STOP: f64 = 0.5;

/// Steps (candidate evaluations) spent and allowed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    pub used: u64,
    pub limit: u64,
}

impl Budget {
    /// Takes one step; false when none is left.
    pub fn spend(&mut self) -> bool {
        if self.used >= self.limit {
            return false;
        }
        self.used += 1;
        true
    }
}

/// Why growth stopped without a sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Halt {
    /// The step budget ran out.
    Budget,
    /// The goal shape cannot be reached within the allowed length.
    Unreachable(String),
}

/// What one growth is asked for.
pub(crate) struct Spec<'a> {
    pub target: &'a Target,
    /// The shape the sequence must end in.
    pub goal: &'a Shape,
    /// Allowed number of ops, inclusive.
    pub min_len: usize,
    pub max_len: usize,
    pub max_width: u64,
}

/// A grown sequence (a one-input fragment whose output is its last value)
/// and the fragment `complete` made of it, which meets the target.
#[derive(Clone, Debug)]
pub(crate) struct Grown {
    pub seq: Fragment,
    pub done: Fragment,
}

/// Appends `op` reading `inputs`; returns the new value.
pub(crate) fn push(frag: &mut Fragment, op: Op, inputs: Vec<ValueId>) -> ValueId {
    let v = ValueId((frag.inputs.len() + frag.nodes.len()) as u32);
    frag.nodes.push(Node {
        name: format!("{}{}", op.name(), frag.nodes.len()),
        block: String::new(),
        op,
        inputs,
    });
    v
}

/// The distance of `frag`'s abstract properties to `target`; infinite when
/// they cannot be computed.
pub(crate) fn score(frag: &Fragment, target: &Target) -> f64 {
    match abstract_props(frag) {
        Ok(p) => distance(&p, target),
        Err(_) => f64::INFINITY,
    }
}

/// Index drawn with probability proportional to `weights` (all finite, at
/// least one positive).
pub(crate) fn draw(weights: &[f64], rng: &mut impl Rng) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.r#gen::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}

/// Grows a sequence from an input of shape `input` (see the module docs).
pub(crate) fn grow(
    input: &Shape,
    spec: &Spec,
    complete: &dyn Fn(&Fragment) -> (Fragment, f64),
    budget: &mut Budget,
    rng: &mut impl Rng,
) -> Result<Grown, Halt> {
    let need = min_ops(input, spec.goal).ok_or_else(|| {
        Halt::Unreachable(format!(
            "no op sequence turns {input:?} into {:?}",
            spec.goal
        ))
    })?;
    if need > spec.max_len || spec.min_len > spec.max_len {
        return Err(Halt::Unreachable(format!(
            "{input:?} → {:?} takes at least {need} ops, more than the {} allowed",
            spec.goal, spec.max_len
        )));
    }
    loop {
        let mut seq = Fragment {
            inputs: vec![input.clone()],
            nodes: Vec::new(),
            outputs: vec![ValueId(0)],
        };
        let mut shape = input.clone();
        // The completed fragment when the sequence so far meets the target.
        let mut met: Option<Fragment> = None;
        if shape == *spec.goal {
            if !budget.spend() {
                return Err(Halt::Budget);
            }
            let (done, d) = complete(&seq);
            if d == 0.0 {
                met = Some(done);
            }
        }
        if spec.max_len == 0 && met.is_none() {
            return Err(Halt::Unreachable(format!(
                "no op is allowed and the input {input:?} does not meet the target"
            )));
        }
        loop {
            let n = seq.nodes.len();
            if n >= spec.min_len
                && let Some(done) = &met
                && (n == spec.max_len || rng.gen_bool(P_STOP))
            {
                return Ok(Grown {
                    seq,
                    done: done.clone(),
                });
            }
            if n == spec.max_len {
                break;
            }
            let left = spec.max_len - n - 1;
            let last = seq.outputs[0];
            let mut options: Vec<(Fragment, Shape, Option<Fragment>)> = Vec::new();
            let mut weights = Vec::new();
            for op in candidates(&shape, spec.goal, spec.max_width) {
                let Ok(y) = op.infer(&[&shape]) else { continue };
                if min_ops(&y, spec.goal).is_none_or(|m| m > left) {
                    continue;
                }
                if !budget.spend() {
                    return Err(Halt::Budget);
                }
                let mut ext = seq.clone();
                let v = push(&mut ext, op, vec![last]);
                ext.outputs = vec![v];
                let (d, done) = if y == *spec.goal {
                    let (done, d) = complete(&ext);
                    (d, Some(done))
                } else {
                    // The output's shape is not the goal's yet, so the
                    // distance carries the same fixed shape penalty for every
                    // candidate; without it the weights would be almost
                    // uniform. What remains is the graded shape gap and the
                    // depth gap, which is what should steer the growth.
                    ((score(&ext, spec.target) - SHAPE_MISMATCH).max(0.0), None)
                };
                if !d.is_finite() {
                    continue;
                }
                weights.push(1.0 / ((d + 0.1) * (d + 0.1)));
                options.push((ext, y, done.filter(|_| d == 0.0)));
            }
            if options.is_empty() {
                break;
            }
            let pick = draw(&weights, rng);
            let (ext, y, done) = options.swap_remove(pick);
            seq = ext;
            shape = y;
            met = done;
        }
    }
}

/// The plain chain form: the sequence itself is the fragment.
pub(crate) fn chain(
    input: &Shape,
    target: &Target,
    min_len: usize,
    max_len: usize,
    max_width: u64,
    budget: &mut Budget,
    rng: &mut impl Rng,
) -> Result<Fragment, Halt> {
    let spec = Spec {
        target,
        goal: &target.shapes[0],
        min_len,
        max_len,
        max_width,
    };
    let complete = |seq: &Fragment| (seq.clone(), score(seq, target));
    grow(input, &spec, &complete, budget, rng).map(|g| g.done)
}
