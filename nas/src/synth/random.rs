//! The unguided baseline's fragments: random op sequences of a random length
//! near the size hint that end in the wanted shape, with no properties
//! asked. Each op is drawn uniformly among the vocabulary ops valid for the
//! current shape that keep the output shape within reach of the ops left
//! (so the sequence always arrives; see [`super::ops`]). Several inputs get
//! one sequence each, joined by an add or a concat and projection.

use rand::Rng;

use crate::ir::{Fragment, Shape, ValueId};

use super::SynthError;
use super::graph::{Join, assemble, branch_needs};
use super::ops::{candidates, min_ops};
use super::progressive::push;

/// A random sequence of exactly `len` ops from `input` to `goal`; `drawn`
/// counts the candidate ops considered.
pub(crate) fn random_chain(
    input: &Shape,
    goal: &Shape,
    len: usize,
    max_width: u64,
    drawn: &mut u64,
    rng: &mut impl Rng,
) -> Result<Fragment, SynthError> {
    let mut seq = Fragment {
        inputs: vec![input.clone()],
        nodes: Vec::new(),
        outputs: vec![ValueId(0)],
    };
    let mut shape = input.clone();
    for n in 0..len {
        let left = len - n - 1;
        let mut options = Vec::new();
        for op in candidates(&shape, goal, max_width) {
            *drawn += 1;
            if let Ok(y) = op.infer(&[&shape])
                && min_ops(&y, goal).is_some_and(|m| m <= left)
            {
                options.push((op, y));
            }
        }
        if options.is_empty() {
            return Err(SynthError(format!(
                "no op leads from {shape:?} to {goal:?} in {} more ops",
                left + 1
            )));
        }
        let (op, y) = options.swap_remove(rng.gen_range(0..options.len()));
        let last = seq.outputs[0];
        let v = push(&mut seq, op, vec![last]);
        seq.outputs = vec![v];
        shape = y;
    }
    if shape != *goal {
        return Err(SynthError(format!(
            "a random sequence from {input:?} ended in {shape:?}, not {goal:?}"
        )));
    }
    Ok(seq)
}

/// [`super::random_fragment`] with the count of candidate ops considered.
pub(crate) fn random_fragment(
    inputs: &[Shape],
    goal: &Shape,
    min_len: usize,
    max_len: usize,
    max_width: u64,
    rng: &mut impl Rng,
) -> (Result<Fragment, SynthError>, u64) {
    let mut drawn = 0;
    let needs: Vec<usize> = match branch_needs(inputs, goal)
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            n.ok_or_else(|| {
                SynthError(format!(
                    "no op sequence turns input {i} ({:?}) into {goal:?}",
                    inputs[i]
                ))
            })
        })
        .collect()
    {
        Ok(n) => n,
        Err(e) => return (Err(e), 0),
    };
    let join = if inputs.len() > 1 {
        Join::draw(rng)
    } else {
        Join::Add
    };
    let fixed = join.nodes(inputs.len());
    let least: usize = needs.iter().sum::<usize>() + fixed;
    // The hint's range, stretched when the shapes alone need more ops.
    let len = rng.gen_range(min_len.max(least)..=max_len.max(least));
    // Each branch gets its shortest length, the rest is dealt out at random.
    let mut lens = needs.clone();
    for _ in 0..len - least {
        let b = rng.gen_range(0..lens.len());
        lens[b] += 1;
    }
    let mut branches = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        match random_chain(input, goal, lens[i], max_width, &mut drawn, rng) {
            Ok(seq) => branches.push((i, seq)),
            Err(e) => return (Err(e), drawn),
        }
    }
    let frag = assemble(inputs, &branches, join, goal);
    let result = match frag.output_shapes() {
        Ok(s) if s == [goal.clone()] => Ok(frag),
        Ok(s) => Err(SynthError(format!(
            "the random fragment gives {s:?}, not {goal:?}"
        ))),
        Err(e) => Err(SynthError(format!("the random fragment is malformed: {e}"))),
    };
    (result, drawn)
}
