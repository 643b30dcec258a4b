//! Synthesis: given input shapes and target properties, a subgraph that
//! satisfies them, or a clear failure within a step budget (a count, not a
//! clock, so a search stays deterministic). The *progressive* synthesizer
//! grows an op sequence one op at a time, choosing the next op with weight
//! `1 / (d + 0.1)²` for the distance `d` it leaves to the target, keeps the
//! length within the replaced subgraph's ± 2, and may stop once the target
//! is met; then it randomises free hyper-parameters. The *graph*
//! synthesizer handles several inputs or branches with junction ops (add,
//! concat) and may drop a branch. Every result is checked against the target
//! by the abstract semantics before it is returned.
//!
//! Parts: [`ops`] (the op vocabulary and shape reachability),
//! [`progressive`] (growth of a sequence and the chain form), [`graph`] (the
//! residual and joined forms), [`tune`] (hyper-parameter randomisation),
//! [`random`] (the unguided baseline's fragments). [`synthesize`] tries the
//! forms that fit the inputs, each with an equal share of the step budget
//! left: for one input the chain and the residual (in random order, the
//! chain first with probability 0.7), for several the joined form.

use rand::Rng;

use crate::ir::{Fragment, Shape};
use crate::props::{Target, abstract_props, distance};

mod graph;
mod ops;
mod progressive;
mod random;
#[cfg(test)]
mod tests;
mod tune;

/// An index drawn with probability proportional to its weight.
pub(crate) use progressive::draw as draw_index;
use progressive::{Budget, Halt};

/// Probability that a one-input synthesis tries the residual form before
/// the chain.
const P_RESIDUAL_FIRST: f64 = 0.3;

/// Limits of one synthesis call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SynthConfig {
    /// Ops tried (candidate extensions scored) before giving up.
    pub max_steps: u64,
    /// Largest width (channels, units) a synthesized op may have.
    pub max_width: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            max_steps: 20_000,
            max_width: 256,
        }
    }
}

/// Why synthesis gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthError(pub String);

impl std::fmt::Display for SynthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SynthError {}

/// A fragment taking `inputs` that satisfies `target` (checked by
/// [`crate::props::abstract_props`] and [`crate::props::distance`] = 0),
/// with about `size_hint` ops (within ± 2).
pub fn synthesize(
    inputs: &[Shape],
    target: &Target,
    size_hint: usize,
    cfg: &SynthConfig,
    rng: &mut impl Rng,
) -> Result<Fragment, SynthError> {
    synthesize_counting(inputs, target, size_hint, cfg, rng).0
}

/// The ops a fragment for `size_hint` may have: `size_hint ± 2`, at least 1.
pub fn length_range(size_hint: usize) -> (usize, usize) {
    let min_len = size_hint.saturating_sub(2).max(1);
    (min_len, (size_hint + 2).max(min_len))
}

/// One-input forms and the joined form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Chain,
    Residual,
    Joined,
}

/// [`synthesize`], also returning the steps taken (candidate extensions
/// scored and checks made, over every form tried), whether it succeeded or
/// not.
pub fn synthesize_counting(
    inputs: &[Shape],
    target: &Target,
    size_hint: usize,
    cfg: &SynthConfig,
    rng: &mut impl Rng,
) -> (Result<Fragment, SynthError>, u64) {
    if let Err(e) = check_request(inputs, target, cfg) {
        return (Err(e), 0);
    }
    let (min_len, max_len) = length_range(size_hint);
    let forms = if inputs.len() > 1 {
        vec![Form::Joined]
    } else if rng.gen_bool(P_RESIDUAL_FIRST) {
        vec![Form::Residual, Form::Chain]
    } else {
        vec![Form::Chain, Form::Residual]
    };
    let mut used = 0;
    let mut reasons = Vec::new();
    for (k, form) in forms.iter().enumerate() {
        let share = (cfg.max_steps - used) / (forms.len() - k) as u64;
        let mut budget = Budget {
            used,
            limit: used + share,
        };
        let w = cfg.max_width;
        let got = match form {
            Form::Chain => {
                progressive::chain(&inputs[0], target, min_len, max_len, w, &mut budget, rng)
            }
            Form::Residual => {
                graph::residual(&inputs[0], target, min_len, max_len, w, &mut budget, rng)
            }
            Form::Joined => graph::joined(inputs, target, min_len, max_len, w, &mut budget, rng),
        };
        used = budget.used;
        match got {
            Ok(frag) => {
                let mut budget = Budget {
                    used,
                    limit: cfg.max_steps,
                };
                let frag = tune::tune(&frag, target, w, &mut budget, rng);
                let checked = check(&frag, inputs, target).map(|()| frag);
                return (checked, budget.used);
            }
            Err(Halt::Budget) => reasons.push(format!("{form:?}: none within {share} steps")),
            Err(Halt::Unreachable(why)) => reasons.push(format!("{form:?}: {why}")),
        }
    }
    let err = SynthError(format!(
        "no fragment of {min_len} to {max_len} ops from {inputs:?} meets the target \
         (shapes {:?}, depth {:?}) within {} steps ({})",
        target.shapes,
        target.depth,
        cfg.max_steps,
        reasons.join("; ")
    ));
    (Err(err), used)
}

/// Refuses requests synthesis cannot serve, with what is wrong.
fn check_request(inputs: &[Shape], target: &Target, cfg: &SynthConfig) -> Result<(), SynthError> {
    if inputs.is_empty() {
        return Err(SynthError("synthesis needs at least one input".into()));
    }
    if target.shapes.len() != 1 {
        return Err(SynthError(format!(
            "synthesis makes fragments with one output; the target has {}",
            target.shapes.len()
        )));
    }
    for s in inputs.iter().chain(&target.shapes) {
        if s.is_empty() || s.contains(&0) {
            return Err(SynthError(format!(
                "shape {s:?} is empty or has a zero axis"
            )));
        }
    }
    let rows_fit = |n: usize| n == inputs.len();
    if !rows_fit(target.depth.len())
        || !rows_fit(target.mixing.len())
        || target.depth.iter().any(|r| r.len() != 1)
        || target.mixing.iter().any(|r| r.len() != 1)
    {
        return Err(SynthError(format!(
            "the target's depth and mixing must have one row per input ({}) and one column",
            inputs.len()
        )));
    }
    if cfg.max_width == 0 {
        return Err(SynthError("max_width must be at least 1".into()));
    }
    Ok(())
}

/// Checks that `fragment` takes `inputs` and satisfies `target` by the
/// abstract semantics (distance 0).
pub fn check(fragment: &Fragment, inputs: &[Shape], target: &Target) -> Result<(), SynthError> {
    if fragment.inputs != inputs {
        return Err(SynthError(format!(
            "the fragment takes {:?}, not {inputs:?}",
            fragment.inputs
        )));
    }
    let props = abstract_props(fragment)
        .map_err(|e| SynthError(format!("the fragment is malformed: {e}")))?;
    let d = distance(&props, target);
    if d != 0.0 {
        return Err(SynthError(format!(
            "the fragment's properties ({props}, shapes {:?}) are at distance {d} from the target",
            props.shapes
        )));
    }
    Ok(())
}

/// The unguided baseline's replacement: a random fragment taking `inputs`
/// and giving `outputs` (shapes only, no properties), of about `size_hint`
/// ops (within ± 2).
pub fn random_fragment(
    inputs: &[Shape],
    outputs: &[Shape],
    size_hint: usize,
    cfg: &SynthConfig,
    rng: &mut impl Rng,
) -> Result<Fragment, SynthError> {
    random_fragment_counting(inputs, outputs, size_hint, cfg, rng).0
}

/// [`random_fragment`], also returning the candidate ops it considered.
/// When the shapes alone need more than `size_hint + 2` ops, it uses the
/// fewest that reach them.
pub fn random_fragment_counting(
    inputs: &[Shape],
    outputs: &[Shape],
    size_hint: usize,
    cfg: &SynthConfig,
    rng: &mut impl Rng,
) -> (Result<Fragment, SynthError>, u64) {
    if inputs.is_empty() || outputs.len() != 1 {
        return (
            Err(SynthError(format!(
                "a random fragment has at least one input and exactly one output; asked for {} and {}",
                inputs.len(),
                outputs.len()
            ))),
            0,
        );
    }
    if let Some(s) = inputs
        .iter()
        .chain(outputs)
        .find(|s| s.is_empty() || s.contains(&0))
    {
        return (
            Err(SynthError(format!(
                "shape {s:?} is empty or has a zero axis"
            ))),
            0,
        );
    }
    let (min_len, max_len) = length_range(size_hint);
    random::random_fragment(inputs, &outputs[0], min_len, max_len, cfg.max_width, rng)
}
