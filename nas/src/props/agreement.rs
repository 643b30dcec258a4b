//! Abstract against concrete: the hand-worked cases measured, a
//! finite-difference check of the interpreter's dependence sets, every
//! small network a generator builds, and every block of the seed networks.

use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::concrete::{Run, dependence};
use super::interp::{Params, Tensor};
use super::tests::{chain, conv, mx};
use super::*;
use crate::ir::{Node, Op, ValueId, numel};
use crate::seeds;

fn agree(f: &Fragment) {
    let a = abstract_props(f).unwrap();
    let c = concrete_props(f, 11).unwrap();
    assert_eq!(a, c, "abstract {a} vs concrete {c} on {:?}", f);
}

#[test]
fn hand_worked_cases_measure_as_computed() {
    let f = chain(
        &[4, 8, 8],
        &[conv(4, 3, 1), Op::Relu, conv(4, 3, 1), Op::Relu],
    );
    let c = concrete_props(&f, 3).unwrap();
    assert_eq!(c.depth, vec![vec![Some(4)]]);
    assert_eq!(c.mixing[0][0], mx("AAA/-m-/--m"));
    agree(&f);
    let c = concrete_props(&chain(&[5, 7], &[Op::Softmax]), 3).unwrap();
    assert_eq!(c.mixing[0][0], mx("1-/AA"));
    let c = concrete_props(&chain(&[4, 8, 8], &[conv(6, 3, 1)]), 3).unwrap();
    assert_eq!(c.mixing[0][0], mx("AAA/-m-/--m"));
    let c = concrete_props(&chain(&[3, 5], &[Op::Dense { units: 4 }]), 3).unwrap();
    assert_eq!(c.mixing[0][0], mx("1-/AA"));
    let c = concrete_props(&chain(&[4, 2, 3], &[Op::Flatten]), 3).unwrap();
    assert_eq!(c.mixing[0][0], mx("1/1/1"));
    assert_eq!(c.depth, vec![vec![Some(0)]]);
    let c = concrete_props(&chain(&[4, 6, 6], &[Op::GlobalAvgPool]), 3).unwrap();
    assert_eq!(c.mixing[0][0], mx("1/A/A"));
    assert_eq!(c.depth, vec![vec![Some(1)]]);
}

/// A branching network with no ReLU or max, where the structural sparsity
/// and the true Jacobian's must be the same.
fn smooth_net() -> Fragment {
    let node = |op: Op, inputs: &[u32]| Node {
        name: op.name().into(),
        block: String::new(),
        op,
        inputs: inputs.iter().map(|&v| ValueId(v)).collect(),
    };
    Fragment {
        inputs: vec![vec![2, 6, 6], vec![3]],
        nodes: vec![
            node(conv(3, 3, 1), &[0]), // 2: [3,6,6]
            node(Op::Tanh, &[2]),      // 3
            node(
                Op::AvgPool {
                    kernel: 2,
                    stride: 2,
                    padding: 0,
                },
                &[3],
            ), // 4: [3,3,3]
            node(
                Op::Conv {
                    out_channels: 3,
                    kernel: 1,
                    stride: 2,
                    padding: 0,
                    groups: 1,
                },
                &[0],
            ), // 5: [3,3,3]
            node(Op::Add, &[4, 5]),    // 6
            node(Op::Reshape { shape: vec![9, 3] }, &[6]), // 7: [9,3]
            node(Op::LayerNorm, &[7]), // 8
            node(Op::Transpose { perm: vec![1, 0] }, &[8]), // 9: [3,9]
            node(Op::MatMul, &[7, 9]), // 10: [9,9]
            node(Op::Softmax, &[10]),  // 11
            node(Op::Dense { units: 3 }, &[11]), // 12: [9,3]
            node(Op::Sigmoid, &[1]),   // 13: [3]
            node(Op::Reshape { shape: vec![1, 3] }, &[13]), // 14: [1,3]
            node(Op::Concat { axis: 0 }, &[12, 14]), // 15: [10,3]
            node(Op::Gelu, &[15]),     // 16
            node(Op::BatchNorm, &[16]), // 17
        ],
        outputs: vec![ValueId(17), ValueId(6)],
    }
}

#[test]
fn dependence_sets_match_a_finite_difference_jacobian() {
    let f = smooth_net();
    let shapes = f.shapes().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let run = Run::new(&f, &mut rng).unwrap();
    let params: Vec<Params> = run.params.clone();
    let base: Vec<Tensor> = run.values[..f.inputs.len()].to_vec();
    let h = 1e-5;
    for i in 0..f.inputs.len() {
        let deps = dependence(&f, &run, i);
        for e in 0..base[i].data.len() {
            let mut plus = base.clone();
            plus[i].data[e] += h;
            let mut minus = base.clone();
            minus[i].data[e] -= h;
            let rp = Run::with(&f, shapes.clone(), params.clone(), plus);
            let rm = Run::with(&f, shapes.clone(), params.clone(), minus);
            for o in &f.outputs {
                let o = o.0 as usize;
                for y in 0..rp.values[o].data.len() {
                    let slope = (rp.values[o].data[y] - rm.values[o].data[y]) / (2.0 * h);
                    let measured = slope.abs() > 1e-9;
                    let claimed = deps[o]
                        .as_ref()
                        .is_some_and(|d| d.element(y)[e / 64] >> (e % 64) & 1 == 1);
                    assert_eq!(
                        measured, claimed,
                        "input {i} element {e} → value {o} element {y}: slope {slope}"
                    );
                }
            }
        }
    }
    agree(&f);
}

/// Builds a random valid fragment of up to `n_ops` ops from `seed`.
pub(crate) fn random_fragment(seed: u64, n_ops: usize) -> Fragment {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let first: Vec<u64> = match rng.gen_range(0..3) {
        0 => vec![
            rng.gen_range(1..=4),
            rng.gen_range(6..=12),
            rng.gen_range(6..=12),
        ],
        1 => vec![rng.gen_range(1..=16)],
        _ => vec![rng.gen_range(1..=6), rng.gen_range(1..=8)],
    };
    let mut inputs = vec![first.clone()];
    if rng.gen_bool(0.3) {
        // A second input: same shape, or a matmul partner.
        let mut second = first.clone();
        if second.len() >= 2 && rng.gen_bool(0.5) {
            let r = second.len();
            second[r - 2] = first[r - 1];
            second[r - 1] = rng.gen_range(1..=6);
        }
        inputs.push(second);
    }
    let mut f = Fragment {
        inputs,
        nodes: Vec::new(),
        outputs: Vec::new(),
    };
    while f.nodes.len() < n_ops {
        let shapes = f.shapes().unwrap();
        let x = rng.gen_range(0..shapes.len());
        let sx = shapes[x].clone();
        let Some((op, others)) = random_op(&mut rng, &sx, &shapes) else {
            continue;
        };
        let mut ins = vec![ValueId(x as u32)];
        ins.extend(others.into_iter().map(|v| ValueId(v as u32)));
        let refs: Vec<&Shape> = ins.iter().map(|v| &shapes[v.0 as usize]).collect();
        if op.infer(&refs).is_err() {
            continue;
        }
        f.nodes.push(Node {
            name: format!("n{}", f.nodes.len()),
            block: String::new(),
            op,
            inputs: ins,
        });
    }
    let last = f.inputs.len() + f.nodes.len() - 1;
    f.outputs.push(ValueId(last as u32));
    if last > 1 && rng.gen_bool(0.3) {
        f.outputs.push(ValueId(rng.gen_range(1..last) as u32));
    }
    f
}

/// A random op reading a value of shape `x` first, with the other values it
/// reads (indices into `shapes`), or `None` when the draw does not fit.
fn random_op(rng: &mut ChaCha8Rng, x: &Shape, shapes: &[Shape]) -> Option<(Op, Vec<usize>)> {
    let image = x.len() == 3;
    let pick = |rng: &mut ChaCha8Rng, ok: &dyn Fn(&Shape) -> bool| -> Option<usize> {
        let c: Vec<usize> = (0..shapes.len()).filter(|&v| ok(&shapes[v])).collect();
        c.choose(rng).copied()
    };
    let window = |rng: &mut ChaCha8Rng| {
        let kernel = rng.gen_range(1..=3);
        (kernel, rng.gen_range(1..=3), rng.gen_range(0..kernel))
    };
    let op = match rng.gen_range(0..18) {
        0 => Op::Dense {
            units: rng.gen_range(1..=6),
        },
        1 if image => {
            let divisors: Vec<u64> = (1..=x[0]).filter(|g| x[0].is_multiple_of(*g)).collect();
            let groups = *divisors.choose(rng)?;
            let kernel = rng.gen_range(1..=3);
            Op::Conv {
                out_channels: groups * rng.gen_range(1..=2),
                kernel,
                stride: rng.gen_range(1..=2),
                padding: rng.gen_range(0..kernel),
                groups,
            }
        }
        2 if image => {
            let (kernel, stride, padding) = window(rng);
            Op::MaxPool {
                kernel,
                stride,
                padding,
            }
        }
        3 if image => {
            let (kernel, stride, padding) = window(rng);
            Op::AvgPool {
                kernel,
                stride,
                padding,
            }
        }
        4 if image => Op::GlobalAvgPool,
        5 => Op::BatchNorm,
        6 => Op::LayerNorm,
        7 => Op::Relu,
        8 => Op::Gelu,
        9 => Op::Tanh,
        10 => Op::Sigmoid,
        11 => Op::Softmax,
        12 => {
            let y = pick(rng, &|s| s == x)?;
            return Some((Op::Add, vec![y]));
        }
        13 => {
            let axis = rng.gen_range(0..x.len());
            let y = pick(rng, &|s| {
                s.len() == x.len() && (0..x.len()).all(|a| a == axis || s[a] == x[a])
            })?;
            return Some((Op::Concat { axis: axis as u32 }, vec![y]));
        }
        14 => Op::Flatten,
        15 => {
            let rank = rng.gen_range(1..=3);
            let mut left = numel(x);
            let mut shape = Vec::new();
            for _ in 1..rank {
                let d: Vec<u64> = (1..=left).filter(|d| left.is_multiple_of(*d)).collect();
                let d = *d.choose(rng)?;
                shape.push(d);
                left /= d;
            }
            shape.push(left);
            Op::Reshape { shape }
        }
        16 => {
            let mut perm: Vec<u32> = (0..x.len() as u32).collect();
            perm.shuffle(rng);
            Op::Transpose { perm }
        }
        17 if x.len() >= 2 => {
            let r = x.len();
            let y = pick(rng, &|s| {
                s.len() == r && s[..r - 2] == x[..r - 2] && s[r - 2] == x[r - 1]
            })?;
            return Some((Op::MatMul, vec![y]));
        }
        _ => return None,
    };
    Some((op, Vec::new()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn abstract_equals_concrete_on_small_networks(seed in any::<u64>(), n_ops in 1usize..=3) {
        let f = random_fragment(seed, n_ops);
        let a = abstract_props(&f).unwrap();
        let c = concrete_props(&f, seed ^ 0x5eed).unwrap();
        prop_assert_eq!(&a, &c, "abstract {} vs concrete {} on {:?}", a, c, f);
    }
}

#[test]
fn abstract_equals_concrete_on_the_seed_blocks() {
    let nets = [
        seeds::cifarnet_small(&[1, 8, 8], 10, 8),
        seeds::resnet_small(&[1, 12, 12], 10, 4, 1),
    ];
    let mut n_blocks = 0;
    for net in &nets {
        for name in net.block_names() {
            let f = net.extract(&net.block(&name).unwrap()).unwrap();
            let a = abstract_props(&f).unwrap();
            let c = concrete_props(&f, 2).unwrap();
            assert_eq!(
                a, c,
                "{} block {name}: abstract {a} vs concrete {c}",
                net.name
            );
            n_blocks += 1;
        }
    }
    assert_eq!(n_blocks, 5 + 4);
}

#[test]
fn the_generator_reaches_every_op() {
    let mut seen = std::collections::BTreeMap::new();
    for seed in 0..1500 {
        for n in random_fragment(seed, 3).nodes {
            *seen.entry(n.op.name()).or_insert(0u32) += 1;
        }
    }
    assert_eq!(seen.len(), 18, "{seen:?}");
    assert!(seen.values().all(|&c| c >= 20), "{seen:?}");
}

#[test]
fn windows_that_together_cover_an_axis_are_all_to_one() {
    // CifarNet's second block on a 4×4 map: the 5×5 conv's windows are
    // partial at the borders, but each 2×2 pool window's union is whole.
    let pool = Op::MaxPool {
        kernel: 2,
        stride: 2,
        padding: 0,
    };
    let f = chain(&[2, 4, 4], &[conv(3, 5, 2), pool.clone()]);
    assert_eq!(abstract_props(&f).unwrap().mixing[0][0], mx("AAA/AAA/AAA"));
    // On 8×8 they are not.
    let f = chain(&[2, 8, 8], &[conv(3, 5, 2), pool]);
    assert_eq!(abstract_props(&f).unwrap().mixing[0][0], mx("AAA/-m-/--m"));
    agree(&f);
}

#[test]
fn a_strided_one_by_one_conv_then_a_global_pool_does_not_see_everything() {
    let f = chain(
        &[2, 6, 6],
        &[
            Op::Conv {
                out_channels: 3,
                kernel: 1,
                stride: 2,
                padding: 0,
                groups: 1,
            },
            Op::GlobalAvgPool,
        ],
    );
    // Rows and columns 1, 3, 5 are skipped: S_h is {0, 2, 4} everywhere.
    assert_eq!(abstract_props(&f).unwrap().mixing[0][0], mx("A/-/-"));
    agree(&f);
}

#[test]
fn flatten_then_reshape_back_is_the_identity() {
    let f = chain(
        &[3, 4, 5],
        &[
            Op::Flatten,
            Op::Reshape {
                shape: vec![3, 4, 5],
            },
        ],
    );
    assert_eq!(abstract_props(&f).unwrap().mixing[0][0], mx("1--/-1-/--1"));
    agree(&f);
}

/// A target near `p` with random tolerances, from `seed`.
fn random_target(p: &Props, seed: u64) -> Target {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut t = mutate_target(p, &mut rng);
    for row in &mut t.depth {
        for d in row.iter_mut() {
            if let Some((want, _)) = d {
                *d = Some((*want, rng.gen_range(0..=2)));
            }
        }
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn distance_is_zero_exactly_when_satisfied(a in any::<u64>(), b in any::<u64>(), n in 1usize..=3) {
        let p = abstract_props(&random_fragment(a, n)).unwrap();
        // Targets from the same fragment (often satisfied) and from another
        // (rarely, and often of another shape).
        for q in [p.clone(), abstract_props(&random_fragment(b, n)).unwrap()] {
            let t = random_target(&q, b);
            let d = distance(&p, &t);
            prop_assert!(d >= 0.0);
            prop_assert_eq!(d == 0.0, satisfies(&p, &t), "distance {} to {:?} from {}", d, t, p);
        }
        prop_assert_eq!(distance(&p, &Target::exactly(&p)), 0.0);
    }

    #[test]
    fn mutated_targets_keep_shapes_and_move_little(a in any::<u64>(), n in 1usize..=3) {
        let p = abstract_props(&random_fragment(a, n)).unwrap();
        let t = mutate_target(&p, &mut ChaCha8Rng::seed_from_u64(a));
        prop_assert_eq!(&t.shapes, &p.shapes);
        for (pr, tr) in p.depth.iter().zip(&t.depth) {
            for (d, w) in pr.iter().zip(tr) {
                match (d, w) {
                    (None, None) => {}
                    (Some(d), Some((w, tol))) => {
                        prop_assert_eq!(*tol, 0);
                        prop_assert!(*w >= 1 && w.abs_diff(*d) <= 2, "{} → {}", d, w);
                    }
                    _ => prop_assert!(false, "a path appeared or vanished: {:?} → {:?}", d, w),
                }
            }
        }
        for (x, y) in p.mixing.iter().flatten().flatten().flatten()
            .zip(t.mixing.iter().flatten().flatten().flatten())
        {
            prop_assert!(x == y || (x.level() == y.level() + 1), "{:?} → {:?}", x, y);
        }
    }
}

/// An Inception-style join: a branch concatenated with its input along the
/// channels, then a conv over both.
fn concat_join(input: &[u64]) -> Fragment {
    let node = |op: Op, inputs: &[u32]| Node {
        name: op.name().into(),
        block: String::new(),
        op,
        inputs: inputs.iter().map(|&v| ValueId(v)).collect(),
    };
    Fragment {
        inputs: vec![input.to_vec()],
        nodes: vec![
            node(conv(input[0] / 2, 3, 1), &[0]),
            node(Op::Relu, &[1]),
            node(Op::Concat { axis: 0 }, &[2, 0]),
            node(conv(input[0], 3, 1), &[3]),
            node(
                Op::MaxPool {
                    kernel: 2,
                    stride: 2,
                    padding: 0,
                },
                &[4],
            ),
        ],
        outputs: vec![ValueId(5), ValueId(3)],
    }
}

#[test]
fn a_concatenation_of_differently_mixed_operands_stays_compact() {
    agree(&concat_join(&[4, 8, 8]));
    // At CIFAR size, following it element by element would read 56 M
    // elements and be refused; slab by slab it is cheap.
    let p = abstract_props(&concat_join(&[64, 32, 32])).unwrap();
    assert_eq!(p.mixing[0][0], mx("AAA/-m-/--m"));
    // Below the seam the channels mix fully and rows come through 3-wide
    // windows; above it both are copied, so crossing the seam along the
    // channels changes what every input axis contributes.
    assert_eq!(p.mixing[0][1], mx("m--/mm-/m-m"));
}
