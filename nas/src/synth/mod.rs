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

use rand::Rng;

use crate::ir::{Fragment, Shape};
use crate::props::Target;

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
    let _ = (inputs, target, size_hint, cfg, rng);
    todo!("synthesis")
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
    let _ = (inputs, outputs, size_hint, cfg, rng);
    todo!("random fragment")
}
