//! Mutations of a whole network, as the evolution applies them: a
//! property-guided rewrite of a random block (most often: its properties are
//! computed, a nearby target proposed, a replacement synthesized), a
//! duplicated block or a deleted one (only blocks whose input and output
//! shapes agree). The unguided baseline rewrites with a random fragment of
//! similar size instead, with no properties.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::ir::Net;
use crate::synth::SynthConfig;

/// Guided (αNAS) or unguided (the baseline) rewrites.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guidance {
    Guided,
    Unguided,
}

/// How likely each kind of mutation is (normalised when drawn).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MutationWeights {
    pub rewrite: f64,
    pub duplicate: f64,
    pub delete: f64,
}

impl Default for MutationWeights {
    fn default() -> Self {
        MutationWeights {
            rewrite: 0.8,
            duplicate: 0.1,
            delete: 0.1,
        }
    }
}

/// A child network and how it was made.
#[derive(Clone, Debug, PartialEq)]
pub struct Child {
    pub net: Net,
    /// `rewrite`, `duplicate` or `delete`.
    pub kind: &'static str,
    /// The block mutated.
    pub block: String,
    /// The block's properties before, as [`crate::props::Props`]'s display
    /// form (empty for unguided rewrites).
    pub props_before: String,
    /// The replacement's properties (empty for unguided rewrites).
    pub props_after: String,
    /// Synthesis calls made and the steps they took.
    pub synth_steps: u64,
}

/// Why no child could be made (every attempt failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MutateError(pub String);

impl std::fmt::Display for MutateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MutateError {}

/// One child of `parent`. Blocks named in `frozen` (e.g. the classifier
/// head) are never mutated.
pub fn mutate(
    parent: &Net,
    guidance: Guidance,
    weights: &MutationWeights,
    synth: &SynthConfig,
    frozen: &[String],
    rng: &mut impl Rng,
) -> Result<Child, MutateError> {
    let _ = (parent, guidance, weights, synth, frozen, rng);
    todo!("mutation")
}
