//! Hand-worked cases for the properties, and the target's promises.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::ir::{Node, Op, ValueId};

/// A fragment of one input of shape `input` and a chain of ops, each
/// reading the previous value, returning the last.
pub(crate) fn chain(input: &[u64], ops: &[Op]) -> Fragment {
    let nodes = ops
        .iter()
        .enumerate()
        .map(|(i, op)| Node {
            name: format!("n{i}"),
            block: String::new(),
            op: op.clone(),
            inputs: vec![ValueId(i as u32)],
        })
        .collect();
    Fragment {
        inputs: vec![input.to_vec()],
        nodes,
        outputs: vec![ValueId(ops.len() as u32)],
    }
}

pub(crate) fn conv(out_channels: u64, kernel: u64, padding: u64) -> Op {
    Op::Conv {
        out_channels,
        kernel,
        stride: 1,
        padding,
        groups: 1,
    }
}

/// Parses a matrix written as rows of letters (`-`, `1`, `m`, `A`)
/// separated by `/`.
pub(crate) fn mx(s: &str) -> MixMatrix {
    s.split('/')
        .map(|r| {
            r.chars()
                .map(|c| match c {
                    '-' => Mix::None,
                    '1' => Mix::OneToOne,
                    'm' => Mix::ManyToOne,
                    'A' => Mix::AllToOne,
                    _ => panic!("bad letter {c}"),
                })
                .collect()
        })
        .collect()
}

fn abs(f: &Fragment) -> Props {
    abstract_props(f).unwrap()
}

#[test]
fn conv_relu_conv_relu_is_four_deep() {
    let f = chain(
        &[4, 8, 8],
        &[conv(4, 3, 1), Op::Relu, conv(4, 3, 1), Op::Relu],
    );
    let p = abs(&f);
    assert_eq!(p.depth, vec![vec![Some(4)]]);
    assert_eq!(p.shapes, vec![vec![4, 8, 8]]);
}

#[test]
fn a_residual_add_takes_the_deeper_branch() {
    let mut f = chain(&[4, 8, 8], &[conv(4, 3, 1), Op::Relu]);
    f.nodes.push(Node {
        name: "add".into(),
        block: String::new(),
        op: Op::Add,
        inputs: vec![ValueId(0), ValueId(2)],
    });
    f.outputs = vec![ValueId(3)];
    assert_eq!(abs(&f).depth, vec![vec![Some(3)]]);
}

#[test]
fn softmax_mixes_all_of_its_axis() {
    let p = abs(&chain(&[5, 7], &[Op::Softmax]));
    assert_eq!(p.mixing[0][0], mx("1-/AA"));
    assert_eq!(p.depth, vec![vec![Some(1)]]);
}

#[test]
fn a_3x3_conv_mixes_space_locally_and_channels_fully() {
    let p = abs(&chain(&[4, 8, 8], &[conv(6, 3, 1)]));
    assert_eq!(p.mixing[0][0], mx("AAA/-m-/--m"));
}

#[test]
fn a_1x1_conv_maps_space_one_to_one() {
    let p = abs(&chain(&[4, 8, 8], &[conv(6, 1, 0)]));
    assert_eq!(p.mixing[0][0], mx("AAA/-1-/--1"));
}

#[test]
fn a_depthwise_conv_keeps_channels_apart() {
    let op = Op::Conv {
        out_channels: 4,
        kernel: 3,
        stride: 1,
        padding: 1,
        groups: 4,
    };
    assert_eq!(
        abs(&chain(&[4, 8, 8], &[op])).mixing[0][0],
        mx("1--/-m-/--m")
    );
    let grouped = Op::Conv {
        out_channels: 4,
        kernel: 3,
        stride: 1,
        padding: 1,
        groups: 2,
    };
    assert_eq!(
        abs(&chain(&[4, 8, 8], &[grouped])).mixing[0][0],
        mx("m--/-m-/--m")
    );
}

#[test]
fn dense_mixes_the_last_axis_into_everything() {
    let p = abs(&chain(&[3, 5], &[Op::Dense { units: 4 }]));
    assert_eq!(p.mixing[0][0], mx("1-/AA"));
    assert_eq!(p.shapes, vec![vec![3, 4]]);
}

#[test]
fn flatten_maps_every_axis_one_to_one() {
    let p = abs(&chain(&[4, 2, 3], &[Op::Flatten]));
    assert_eq!(p.mixing[0][0], mx("1/1/1"));
    assert_eq!(p.depth, vec![vec![Some(0)]]);
    // Then a dense: everything into everything.
    let p = abs(&chain(&[4, 2, 3], &[Op::Flatten, Op::Dense { units: 5 }]));
    assert_eq!(p.mixing[0][0], mx("A/A/A"));
}

#[test]
fn global_average_pool_mixes_space_fully() {
    let p = abs(&chain(&[4, 6, 6], &[Op::GlobalAvgPool]));
    assert_eq!(p.mixing[0][0], mx("1/A/A"));
}

#[test]
fn a_size_one_input_axis_is_all_to_one() {
    // [1, 8, 8]: the single channel is the whole axis.
    let p = abs(&chain(&[1, 8, 8], &[Op::Relu]));
    assert_eq!(p.mixing[0][0], mx("AAA/-1-/--1"));
}

#[test]
fn transpose_permutes_axes() {
    let p = abs(&chain(
        &[3, 4, 5],
        &[Op::Transpose {
            perm: vec![2, 0, 1],
        }],
    ));
    assert_eq!(p.mixing[0][0], mx("-1-/--1/1--"));
}

#[test]
fn an_unreached_output_has_no_depth_and_no_mixing() {
    let f = Fragment {
        inputs: vec![vec![4], vec![4]],
        nodes: vec![Node {
            name: "r".into(),
            block: String::new(),
            op: Op::Relu,
            inputs: vec![ValueId(1)],
        }],
        outputs: vec![ValueId(2)],
    };
    let p = abs(&f);
    assert_eq!(p.depth, vec![vec![None], vec![Some(1)]]);
    assert_eq!(p.mixing[0][0], mx("-"));
    assert_eq!(p.mixing[1][0], mx("1"));
}

fn sample_props() -> Props {
    abs(&chain(
        &[4, 8, 8],
        &[Op::BatchNorm, Op::Relu, Op::GlobalAvgPool],
    ))
}

#[test]
fn properties_satisfy_their_exact_target_at_distance_zero() {
    let p = sample_props();
    let t = Target::exactly(&p);
    assert!(satisfies(&p, &t));
    assert_eq!(distance(&p, &t), 0.0);
}

#[test]
fn distance_counts_depth_and_mixing_shortfalls() {
    let p = sample_props();
    let mut t = Target::exactly(&p);
    assert_eq!(p.depth, vec![vec![Some(3)]]);
    assert_eq!(p.mixing[0][0], mx("1/A/A"));
    t.depth[0][0] = Some((6, 1));
    // Depth 3 (batch norm, relu, then the linear pool), wanted 6 ± 1: two
    // units outside.
    assert_eq!(distance(&p, &t), 2.0);
    assert!(!satisfies(&p, &t));
    let mut t = Target::exactly(&p);
    // Ask for ALL-TO-ONE where there is ONE-TO-ONE: two levels.
    t.mixing[0][0][0][0] = Mix::AllToOne;
    assert_eq!(distance(&p, &t), 2.0);
    assert!(!satisfies(&p, &t));
    // Less than there is asks nothing.
    let mut t = Target::exactly(&p);
    t.mixing[0][0][1][0] = Mix::None;
    assert_eq!(distance(&p, &t), 0.0);
    assert!(satisfies(&p, &t));
}

#[test]
fn shape_mismatch_dominates_and_falls_as_the_shape_approaches() {
    let p = sample_props();
    let want = Target::exactly(&p);
    // The same properties with output shapes approaching [4].
    let with_shape = |s: &[u64]| Props {
        shapes: vec![s.to_vec()],
        ..p.clone()
    };
    for seq in [&[&[4, 8, 8][..], &[4, 8]][..], &[&[64], &[16], &[8]]] {
        let ds: Vec<f64> = seq
            .iter()
            .map(|s| distance(&with_shape(s), &want))
            .collect();
        for w in ds.windows(2) {
            assert!(w[0] > w[1], "{ds:?}");
        }
        assert!(ds.iter().all(|&d| d >= SHAPE_MISMATCH), "{ds:?}");
    }
    // A real fragment of the wrong shape is far too.
    let far = abs(&chain(&[4, 8, 8], &[conv(4, 3, 1)]));
    assert!(distance(&far, &want) >= SHAPE_MISMATCH);
    // A missing output counts as a mismatch too.
    let none = Props {
        shapes: vec![],
        depth: vec![vec![]],
        mixing: vec![vec![]],
    };
    assert!(distance(&none, &want) >= SHAPE_MISMATCH);
}

#[test]
fn a_missing_path_is_as_far_as_the_wanted_depth() {
    let p = sample_props();
    let mut have = p.clone();
    have.depth[0][0] = None;
    let t = Target::exactly(&p);
    assert_eq!(distance(&have, &t), 3.0);
    // Even a wanted depth of 0 (a structural path) counts when missing.
    let mut t0 = t.clone();
    t0.depth[0][0] = Some((0, 0));
    assert_eq!(distance(&have, &t0), 1.0);
}

#[test]
fn mutated_targets_stay_near_their_properties() {
    let p = abs(&chain(
        &[4, 8, 8],
        &[conv(4, 3, 1), Op::Relu, conv(4, 3, 1), Op::Relu],
    ));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut seen_depths = std::collections::BTreeSet::new();
    let mut relaxed_any = false;
    for _ in 0..200 {
        let t = mutate_target(&p, &mut rng);
        assert_eq!(t.shapes, p.shapes);
        let (d, tol) = t.depth[0][0].unwrap();
        assert_eq!(tol, 0);
        assert!((2..=6).contains(&d), "{d}");
        seen_depths.insert(d);
        for (hr, tr) in p.mixing[0][0].iter().zip(&t.mixing[0][0]) {
            for (h, w) in hr.iter().zip(tr) {
                assert!(*w == *h || w.level() + 1 == h.level(), "{h:?} → {w:?}");
                relaxed_any |= w != h;
            }
        }
        assert!(satisfies(
            &p,
            &Target {
                depth: Target::exactly(&p).depth,
                ..t.clone()
            }
        ));
    }
    assert_eq!(seen_depths.len(), 5);
    assert!(relaxed_any);
}

#[test]
fn mutated_depth_never_drops_below_one() {
    let p = abs(&chain(&[4, 6], &[Op::Relu]));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..50 {
        let (d, _) = mutate_target(&p, &mut rng).depth[0][0].unwrap();
        assert!((1..=3).contains(&d));
    }
}
