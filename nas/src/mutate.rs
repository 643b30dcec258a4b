//! Mutations of a whole network, as the evolution applies them: a
//! property-guided rewrite of a random block (most often: its properties are
//! computed, a nearby target proposed, a replacement synthesized), a
//! duplicated block or a deleted one (only blocks whose input and output
//! shapes agree). The unguided baseline rewrites with a random fragment of
//! similar size instead, with no properties.
//!
//! [`mutate`] draws a kind by the weights (among the kinds some non-frozen
//! block allows) and a block uniformly among those the kind applies to,
//! and tries again with fresh draws, up to [`MAX_ATTEMPTS`] times, when
//! synthesis fails or the child has the parent's fingerprint (a rewrite
//! that rebuilt the same block, say). Rewrites apply to blocks with one
//! output; duplication and deletion to blocks with one input and one output
//! of the same shape. A duplicate is a copy of the block placed right after
//! it, in a block of its own (`conv2.dup1`); a deletion makes the block's
//! readers read its input.

use std::collections::BTreeSet;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::ir::{Fragment, Net, Region, ValueId};
use crate::props::{abstract_props, mutate_target};
use crate::synth::{SynthConfig, random_fragment_counting, synthesize_counting};

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

/// Draws of (kind, block) before [`mutate`] gives up.
pub const MAX_ATTEMPTS: usize = 12;

/// The kinds of mutation, in the order of [`MutationWeights`]' fields.
const KINDS: [&str; 3] = ["rewrite", "duplicate", "delete"];

/// A block that may be mutated, with its region.
struct Candidate {
    name: String,
    region: Region,
}

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
    let w = [weights.rewrite, weights.duplicate, weights.delete];
    if w.iter().any(|x| !x.is_finite() || *x < 0.0) {
        return Err(MutateError(format!(
            "mutation weights must be finite and non-negative, got {weights:?}"
        )));
    }
    let shapes = parent
        .shapes()
        .map_err(|e| MutateError(format!("the parent {} is malformed: {e}", parent.name)))?;
    let mut rewritable = Vec::new();
    let mut same_shape = Vec::new();
    for name in parent.block_names() {
        if frozen.contains(&name) {
            continue;
        }
        let Ok(region) = parent.block(&name) else {
            continue;
        };
        if region.outputs.len() != 1 {
            continue;
        }
        let keeps_shape = region.inputs.len() == 1
            && shapes[region.inputs[0].0 as usize] == shapes[region.outputs[0].0 as usize];
        if keeps_shape {
            same_shape.push(Candidate {
                name: name.clone(),
                region: region.clone(),
            });
        }
        rewritable.push(Candidate { name, region });
    }
    let pools = [&rewritable, &same_shape, &same_shape];
    let usable: Vec<f64> = (0..3)
        .map(|k| if pools[k].is_empty() { 0.0 } else { w[k] })
        .collect();
    if usable.iter().sum::<f64>() <= 0.0 {
        return Err(MutateError(format!(
            "no block of {} can be mutated with weights {weights:?}: {} non-frozen block(s) with one output, {} with one input and output of the same shape",
            parent.name,
            rewritable.len(),
            same_shape.len()
        )));
    }
    let parent_fp = parent.fingerprint();
    let mut synth_steps = 0;
    let mut failures: Vec<String> = Vec::new();
    for _ in 0..MAX_ATTEMPTS {
        let kind = crate::synth::draw_index(&usable, rng);
        let pool = pools[kind];
        let block = &pool[rng.gen_range(0..pool.len())];
        let made = match kind {
            0 => rewrite(parent, block, guidance, synth, &mut synth_steps, rng),
            1 => duplicate(parent, block),
            _ => delete(parent, block),
        };
        match made {
            Ok((net, props_before, props_after)) => {
                if let Err(e) = net.validate() {
                    failures.push(format!(
                        "{} of {}: invalid child: {e}",
                        KINDS[kind], block.name
                    ));
                } else if net.fingerprint() == parent_fp {
                    failures.push(format!(
                        "{} of {} gave the parent again",
                        KINDS[kind], block.name
                    ));
                } else {
                    return Ok(Child {
                        net,
                        kind: KINDS[kind],
                        block: block.name.clone(),
                        props_before,
                        props_after,
                        synth_steps,
                    });
                }
            }
            Err(e) => failures.push(format!("{} of {}: {e}", KINDS[kind], block.name)),
        }
    }
    Err(MutateError(format!(
        "no new child of {} in {MAX_ATTEMPTS} attempts: {}",
        parent.name,
        failures.join("; ")
    )))
}

/// The network with `block` rewritten, and the properties before and after
/// (empty when unguided).
fn rewrite(
    parent: &Net,
    block: &Candidate,
    guidance: Guidance,
    synth: &SynthConfig,
    steps: &mut u64,
    rng: &mut impl Rng,
) -> Result<(Net, String, String), String> {
    let frag = parent.extract(&block.region).map_err(|e| e.to_string())?;
    let (replacement, before, after) = match guidance {
        Guidance::Guided => {
            let props = abstract_props(&frag).map_err(|e| e.to_string())?;
            let target = mutate_target(&props, rng);
            let (got, n) = synthesize_counting(&frag.inputs, &target, frag.len(), synth, rng);
            *steps += n;
            let replacement = got.map_err(|e| e.to_string())?;
            let after = abstract_props(&replacement).map_err(|e| e.to_string())?;
            (replacement, props.to_string(), after.to_string())
        }
        Guidance::Unguided => {
            let outputs = frag.output_shapes().map_err(|e| e.to_string())?;
            let (got, n) = random_fragment_counting(&frag.inputs, &outputs, frag.len(), synth, rng);
            *steps += n;
            (
                got.map_err(|e| e.to_string())?,
                String::new(),
                String::new(),
            )
        }
    };
    let mut replacement = replacement;
    for n in &mut replacement.nodes {
        n.name = format!("{}.{}", block.name, n.name);
    }
    let net = parent
        .replace(&block.region, &replacement, &block.name)
        .map_err(|e| e.to_string())?;
    Ok((net, before, after))
}

/// The network with a copy of `block` right after it, in its own block.
fn duplicate(parent: &Net, block: &Candidate) -> Result<(Net, String, String), String> {
    let frag = parent.extract(&block.region).map_err(|e| e.to_string())?;
    let existing: BTreeSet<&str> = parent
        .nodes
        .iter()
        .flat_map(|n| [n.name.as_str(), n.block.as_str()])
        .collect();
    let taken = |k: usize| {
        let tag = format!(".dup{k}");
        existing.contains(format!("{}{tag}", block.name).as_str())
            || frag
                .nodes
                .iter()
                .any(|n| existing.contains(format!("{}{tag}", n.name).as_str()))
    };
    let k = (1..)
        .find(|&k| !taken(k))
        .expect("finitely many names are taken");
    let tag = format!("dup{k}");
    let copy_block = format!("{}.{tag}", block.name);
    // Values of the doubled fragment: 0 the input, 1..=n the original
    // nodes, n + 1..=2n the copies, which read the original's output where
    // the original reads the input.
    let n = frag.nodes.len() as u32;
    let out = frag.outputs[0];
    let mut doubled = Fragment {
        inputs: frag.inputs.clone(),
        nodes: frag.nodes.clone(),
        outputs: vec![ValueId(out.0 + n)],
    };
    let mut copy_names = BTreeSet::new();
    for node in &frag.nodes {
        let mut c = node.clone();
        c.name = format!("{}.{tag}", node.name);
        c.inputs = c
            .inputs
            .iter()
            .map(|v| if v.0 == 0 { out } else { ValueId(v.0 + n) })
            .collect();
        copy_names.insert(c.name.clone());
        doubled.nodes.push(c);
    }
    let mut net = parent
        .replace(&block.region, &doubled, &block.name)
        .map_err(|e| e.to_string())?;
    for node in &mut net.nodes {
        if node.block == block.name && copy_names.contains(&node.name) {
            node.block = copy_block.clone();
        }
    }
    Ok((net, String::new(), String::new()))
}

/// The network with `block` bypassed: its readers read its input.
fn delete(parent: &Net, block: &Candidate) -> Result<(Net, String, String), String> {
    let frag = parent.extract(&block.region).map_err(|e| e.to_string())?;
    let identity = Fragment {
        inputs: frag.inputs.clone(),
        nodes: Vec::new(),
        outputs: vec![ValueId(0)],
    };
    let net = parent
        .replace(&block.region, &identity, &block.name)
        .map_err(|e| e.to_string())?;
    if net.nodes.is_empty() {
        return Err("deleting it would leave no node".into());
    }
    Ok((net, String::new(), String::new()))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::seeds;

    fn cases() -> Vec<(Net, Vec<String>)> {
        vec![
            (
                seeds::cifarnet_small(&[1, 8, 8], 10, 16),
                vec!["logits".to_string()],
            ),
            (
                seeds::resnet_small(&[1, 16, 16], 10, 8, 1),
                vec!["head".to_string()],
            ),
        ]
    }

    fn cfg() -> SynthConfig {
        SynthConfig {
            max_steps: 20_000,
            max_width: 64,
        }
    }

    /// Children are valid, new, keep the interface and leave frozen blocks
    /// alone, for both guidances; and the same seed gives the same child.
    #[test]
    fn children_are_valid_new_and_deterministic() {
        for (parent, frozen) in cases() {
            let fp = parent.fingerprint();
            let out = parent.output_shape().unwrap();
            let frozen_nodes: Vec<_> = parent
                .nodes
                .iter()
                .filter(|n| frozen.contains(&n.block))
                .map(|n| (n.name.clone(), n.op.clone()))
                .collect();
            for guidance in [Guidance::Guided, Guidance::Unguided] {
                for seed in 0..8 {
                    let run = || {
                        let mut rng = ChaCha8Rng::seed_from_u64(seed);
                        let w = MutationWeights::default();
                        mutate(&parent, guidance, &w, &cfg(), &frozen, &mut rng)
                    };
                    let child = run().unwrap();
                    assert_eq!(run().unwrap(), child, "seed {seed} not repeatable");
                    child.net.validate().unwrap();
                    assert_ne!(child.net.fingerprint(), fp);
                    assert_eq!(child.net.input, parent.input);
                    assert_eq!(child.net.output_shape().unwrap(), out);
                    assert!(!frozen.contains(&child.block));
                    let kept: Vec<_> = child
                        .net
                        .nodes
                        .iter()
                        .filter(|n| frozen.contains(&n.block))
                        .map(|n| (n.name.clone(), n.op.clone()))
                        .collect();
                    assert_eq!(kept, frozen_nodes);
                    let guided_rewrite = guidance == Guidance::Guided && child.kind == "rewrite";
                    assert_eq!(!child.props_before.is_empty(), guided_rewrite);
                    assert_eq!(!child.props_after.is_empty(), guided_rewrite);
                }
            }
        }
    }

    fn only(rewrite: f64, duplicate: f64, delete: f64) -> MutationWeights {
        MutationWeights {
            rewrite,
            duplicate,
            delete,
        }
    }

    #[test]
    fn duplicate_inserts_a_copy_after_the_block() {
        let parent = seeds::resnet_small(&[1, 16, 16], 10, 8, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let frozen = ["head".to_string()];
        let child = mutate(
            &parent,
            Guidance::Guided,
            &only(0.0, 1.0, 0.0),
            &cfg(),
            &frozen,
            &mut rng,
        )
        .unwrap();
        assert_eq!(child.kind, "duplicate");
        // s1b0 is the only block of equal input and output shapes.
        assert_eq!(child.block, "s1b0");
        let copy = child.net.block("s1b0.dup1").unwrap();
        let orig = child.net.block("s1b0").unwrap();
        assert_eq!(copy.inputs, orig.outputs);
        assert_eq!(copy.nodes.len(), orig.nodes.len());
        assert_eq!(child.net.nodes.len(), parent.nodes.len() + orig.nodes.len());
        // A second duplicate gets a name of its own.
        let again = mutate(
            &child.net,
            Guidance::Guided,
            &only(0.0, 1.0, 0.0),
            &cfg(),
            &frozen,
            &mut rng,
        )
        .unwrap();
        let before = child.net.block_names();
        let new: Vec<String> = again
            .net
            .block_names()
            .into_iter()
            .filter(|b| !before.contains(b))
            .collect();
        assert_eq!(new.len(), 1, "{new:?}");
        let want = if again.block == "s1b0" {
            "s1b0.dup2"
        } else {
            "s1b0.dup1.dup1"
        };
        assert_eq!(new[0], want);
    }

    #[test]
    fn delete_bypasses_the_block() {
        let parent = seeds::resnet_small(&[1, 16, 16], 10, 8, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let frozen = ["head".to_string()];
        let child = mutate(
            &parent,
            Guidance::Guided,
            &only(0.0, 0.0, 1.0),
            &cfg(),
            &frozen,
            &mut rng,
        )
        .unwrap();
        assert_eq!(child.kind, "delete");
        assert_eq!(child.block, "s1b0");
        assert!(child.net.block("s1b0").is_err());
        // s2b0 now reads the stem's output.
        let s2 = child.net.block("s2b0").unwrap();
        let stem = child.net.block("stem").unwrap();
        assert_eq!(s2.inputs, stem.outputs);
    }

    #[test]
    fn impossible_mutations_are_errors() {
        let parent = seeds::cifarnet_small(&[1, 8, 8], 10, 16);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // No cifarnet block keeps its shape: nothing to duplicate.
        let e = mutate(
            &parent,
            Guidance::Guided,
            &only(0.0, 1.0, 1.0),
            &cfg(),
            &[],
            &mut rng,
        )
        .unwrap_err();
        assert!(e.0.contains("no block of cifarnet can be mutated"), "{e}");
        let all: Vec<String> = parent.block_names();
        let e = mutate(
            &parent,
            Guidance::Guided,
            &MutationWeights::default(),
            &cfg(),
            &all,
            &mut rng,
        )
        .unwrap_err();
        assert!(e.0.contains("0 non-frozen block(s)"), "{e}");
        let e = mutate(
            &parent,
            Guidance::Guided,
            &only(-1.0, 0.0, 0.0),
            &cfg(),
            &[],
            &mut rng,
        )
        .unwrap_err();
        assert!(e.0.contains("non-negative"), "{e}");
    }
}
