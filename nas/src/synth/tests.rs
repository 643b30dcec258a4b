//! Tests of synthesis against the abstract semantics: every fragment
//! returned meets its target (checked again here, independently of the
//! synthesizer's own check), keeps the length range and the interface, and
//! fits back into the network it was made for.

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::ir::{Net, Op, ValueId};
use crate::props::{Props, abstract_props, distance, mutate_target};
use crate::seeds;

fn cfg() -> SynthConfig {
    SynthConfig {
        max_steps: 20_000,
        max_width: 64,
    }
}

fn seed_nets() -> Vec<Net> {
    vec![
        seeds::cifarnet_small(&[1, 8, 8], 10, 16),
        seeds::resnet_small(&[1, 16, 16], 10, 8, 1),
    ]
}

/// Asserts what synthesis promises about `frag`, independently of it.
fn assert_meets(frag: &Fragment, inputs: &[Shape], target: &Target, size_hint: usize) {
    assert_eq!(frag.inputs, inputs);
    let p: Props = abstract_props(frag).expect("a synthesized fragment is well formed");
    assert_eq!(p.shapes, target.shapes, "{frag:?}");
    assert_eq!(distance(&p, target), 0.0, "{p} vs {target:?}\n{frag:?}");
    let (lo, hi) = length_range(size_hint);
    assert!(
        (lo..=hi).contains(&frag.len()),
        "{} ops for hint {size_hint}",
        frag.len()
    );
}

/// Every one-output block of both seeds, many targets each: every result
/// meets its target and replaces the block in a network that keeps its
/// input and output shapes; and synthesis does not simply fail (at least
/// 90% succeed).
#[test]
fn synthesized_blocks_meet_their_targets_and_fit_the_network() {
    let mut tried = 0;
    let mut made = 0;
    for net in seed_nets() {
        let out_shape = net.output_shape().unwrap();
        for block in net.block_names() {
            let region = net.block(&block).unwrap();
            if region.outputs.len() != 1 {
                continue;
            }
            let frag = net.extract(&region).unwrap();
            let props = abstract_props(&frag).unwrap();
            for seed in 0..6 {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let target = mutate_target(&props, &mut rng);
                tried += 1;
                let Ok(got) = synthesize(&frag.inputs, &target, frag.len(), &cfg(), &mut rng)
                else {
                    continue;
                };
                made += 1;
                assert_meets(&got, &frag.inputs, &target, frag.len());
                let child = net.replace(&region, &got, &block).unwrap();
                child.validate().unwrap();
                assert_eq!(child.input, net.input);
                assert_eq!(child.output_shape().unwrap(), out_shape);
            }
        }
    }
    assert!(made * 10 >= tried * 9, "{made} of {tried} synthesized");
}

/// The same seed gives the same fragment.
#[test]
fn synthesis_is_deterministic() {
    let net = seeds::resnet_small(&[1, 16, 16], 10, 8, 1);
    let region = net.block("s2b0").unwrap();
    let frag = net.extract(&region).unwrap();
    let props = abstract_props(&frag).unwrap();
    let run = || {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let target = mutate_target(&props, &mut rng);
        synthesize_counting(&frag.inputs, &target, frag.len(), &cfg(), &mut rng)
    };
    assert_eq!(run(), run());
}

#[test]
fn the_residual_form_is_used() {
    // The resnet block asks for depth 4 from an input of its output shape;
    // over a few seeds some result has an add reading the input.
    let net = seeds::resnet_small(&[1, 16, 16], 10, 8, 1);
    let frag = net.extract(&net.block("s1b0").unwrap()).unwrap();
    let props = abstract_props(&frag).unwrap();
    let target = Target::exactly(&props);
    let residual = (0..12).any(|seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let got = synthesize(&frag.inputs, &target, frag.len(), &cfg(), &mut rng).unwrap();
        assert_meets(&got, &frag.inputs, &target, frag.len());
        got.nodes
            .iter()
            .any(|n| n.op == Op::Add && n.inputs.contains(&ValueId(0)))
    });
    assert!(residual, "no residual form in 12 seeds");
}

#[test]
fn two_inputs_are_joined() {
    let inputs = vec![vec![8, 8, 8], vec![4, 16, 16]];
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut made = 0;
    for _ in 0..10 {
        let base = random_fragment(&inputs, &[vec![8, 8, 8]], 4, &cfg(), &mut rng).unwrap();
        let props = abstract_props(&base).unwrap();
        let target = mutate_target(&props, &mut rng);
        if let Ok(got) = synthesize(&inputs, &target, base.len(), &cfg(), &mut rng) {
            assert_meets(&got, &inputs, &target, base.len());
            made += 1;
        }
    }
    assert!(made >= 9, "{made} of 10 two-input targets synthesized");
}

#[test]
fn impossible_requests_are_clear_errors() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    // A vector cannot become an image.
    let frag = random_fragment(&[vec![4, 4, 4]], &[vec![4, 4, 4]], 3, &cfg(), &mut rng).unwrap();
    let mut target = Target::exactly(&abstract_props(&frag).unwrap());
    let e = synthesize(&[vec![64]], &target, 3, &cfg(), &mut rng).unwrap_err();
    assert!(e.0.contains("no op sequence turns [64]"), "{e}");
    // Depth 30 in at most 5 ops: the budget runs out, and says so.
    target.depth[0][0] = Some((30, 0));
    let small = SynthConfig {
        max_steps: 500,
        max_width: 64,
    };
    let (got, steps) = synthesize_counting(&[vec![4, 4, 4]], &target, 3, &small, &mut rng);
    let e = got.unwrap_err();
    assert!(e.0.contains("within 500 steps"), "{e}");
    assert!(steps <= 500, "{steps} steps");
    // Two outputs.
    target.shapes.push(vec![1]);
    let e = synthesize(&[vec![4, 4, 4]], &target, 3, &cfg(), &mut rng).unwrap_err();
    assert!(e.0.contains("one output"), "{e}");
}

/// A random shape the vocabulary can start from: an image, a vector or a
/// sequence.
fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        (1u64..=16, 1u64..=12, 1u64..=12).prop_map(|(c, h, w)| vec![c, h, w]),
        (1u64..=64).prop_map(|d| vec![d]),
        (1u64..=8, 1u64..=32).prop_map(|(t, d)| vec![t, d]),
    ]
}

/// An output shape reachable from `input`.
fn reachable(input: &Shape, a: u64, b: u64) -> Shape {
    match (input.len(), a % 3) {
        (3, 0) => vec![
            input[0] * (1 + b % 2),
            input[1].div_ceil(2),
            input[2].div_ceil(2),
        ],
        (3, 1) | (1, _) => vec![b % 64 + 1],
        (2, 0 | 1) => vec![input[0], b % 32 + 1],
        _ => input.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Targets near the properties of small random fragments (random input
    /// and output shapes, one or two inputs): whatever synthesis returns
    /// meets the target.
    #[test]
    fn synthesized_fragments_meet_targets_near_random_fragments(
        input in shape(), a in 0u64..6, b in 0u64..64, hint in 1usize..6,
        second in any::<bool>(), seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let output = reachable(&input, a, b);
        let mut inputs = vec![input.clone()];
        if second {
            inputs.push(output.clone());
        }
        let base = random_fragment(&inputs, std::slice::from_ref(&output), hint, &cfg(), &mut rng);
        let base = base.unwrap();
        let props = abstract_props(&base).unwrap();
        let target = mutate_target(&props, &mut rng);
        if let Ok(got) = synthesize(&inputs, &target, base.len(), &cfg(), &mut rng) {
            assert_meets(&got, &inputs, &target, base.len());
        }
    }

    /// Unguided fragments have the wanted shapes and a length in the hint's
    /// range (or the fewest ops the shapes need, when more).
    #[test]
    fn random_fragments_have_the_wanted_shapes(
        input in shape(), a in 0u64..6, b in 0u64..64, hint in 0usize..7,
        second in any::<bool>(), seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let output = reachable(&input, a, b);
        let mut inputs = vec![input.clone()];
        if second {
            inputs.push(output.clone());
        }
        let got = random_fragment(&inputs, std::slice::from_ref(&output), hint, &cfg(), &mut rng)
            .unwrap();
        prop_assert_eq!(&got.inputs, &inputs);
        prop_assert_eq!(got.output_shapes().unwrap(), vec![output.clone()]);
        let (lo, hi) = length_range(hint);
        // The join takes up to two ops.
        let most = ops::min_ops(&input, &output).unwrap() + 2 * usize::from(second);
        prop_assert!(got.len() >= lo && got.len() <= hi.max(most),
            "{} ops for hint {}", got.len(), hint);
    }
}
