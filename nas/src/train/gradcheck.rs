//! Gradient checks: for every op kind, a tiny network's dfdx gradients
//! (through gathers, reshapes, permutes, tape merges at fan-outs) match
//! central finite differences of the same forward pass. Each op sits between
//! learned layers, so the gradient it passes to its input is checked through
//! the weights before it.

use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::model::Model;
use crate::ir::{Net, NetBuilder, Op, ValueId, numel};

const BATCH: usize = 3;
/// Step of the central difference.
const STEP: f32 = 2e-3;

/// `Σ out · r` over a batch, in f64.
fn loss_of(model: &mut Model, x: &[f32], r: &[f32]) -> f64 {
    let y = model.forward(model.batch(x.to_vec(), BATCH), true).as_vec();
    y.iter().zip(r).map(|(a, b)| *a as f64 * *b as f64).sum()
}

/// Compares dfdx's gradient of every parameter (up to 12 entries each) of
/// `net` with finite differences, for a random batch and loss `Σ out · r`.
fn check(net: &Net) {
    net.validate().expect("a valid test network");
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut model = Model::new(net, &mut rng).unwrap();
    let n_in = numel(&net.input) as usize;
    let n_out = numel(&net.output_shape().unwrap()) as usize;
    let x: Vec<f32> = (0..BATCH * n_in)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let r: Vec<f32> = (0..BATCH * n_out)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();

    let y = model.forward(model.batch(x.clone(), BATCH), true);
    let loss = (y * model.constant(r.clone(), (BATCH, n_out))).sum();
    let analytic = model.gradients(&mut loss.backward());

    let params = model.parameters();
    let mut checked = 0;
    for (i, p) in params.iter().enumerate() {
        let picks: Vec<usize> = (0..12.min(p.len()))
            .map(|t| t * p.len() / 12.min(p.len()))
            .collect();
        for j in picks {
            let mut shifted = params.clone();
            shifted[i][j] = p[j] + STEP;
            model.set_parameters(&shifted);
            let up = loss_of(&mut model, &x, &r);
            shifted[i][j] = p[j] - STEP;
            model.set_parameters(&shifted);
            let down = loss_of(&mut model, &x, &r);
            let numeric = (up - down) / (2.0 * STEP as f64);
            let got = analytic[i][j] as f64;
            assert!(
                (got - numeric).abs() <= 1e-2 + 2e-2 * numeric.abs(),
                "{}: parameter {i}[{j}]: dfdx {got}, finite difference {numeric}",
                net.name
            );
            checked += 1;
        }
    }
    model.set_parameters(&params);
    assert!(checked > 0);
}

fn conv(out: u64, k: u64, s: u64, p: u64, g: u64) -> Op {
    Op::Conv {
        out_channels: out,
        kernel: k,
        stride: s,
        padding: p,
        groups: g,
    }
}

/// input `[c, h, w]` → conv 3×3 → `op` → flatten → dense 3.
fn around_image(name: &str, input: &[u64], op: Op) -> Net {
    let mut b = NetBuilder::new(name, input);
    let x = b
        .push("pre", "", conv(4, 3, 1, 1, 1), &[ValueId::INPUT])
        .unwrap();
    let x = b.push("op", "", op, &[x]).unwrap();
    let x = b.push("flat", "", Op::Flatten, &[x]).unwrap();
    let y = b.push("post", "", Op::Dense { units: 3 }, &[x]).unwrap();
    b.finish(y)
}

/// input `[3, 4]` → dense 5 → `op` → dense 2 (over the last axis).
fn around_sequence(name: &str, op: Op) -> Net {
    let mut b = NetBuilder::new(name, &[3, 4]);
    let x = b
        .push("pre", "", Op::Dense { units: 5 }, &[ValueId::INPUT])
        .unwrap();
    let x = b.push("op", "", op, &[x]).unwrap();
    let y = b.push("post", "", Op::Dense { units: 2 }, &[x]).unwrap();
    b.finish(y)
}

#[test]
fn dense_of_any_rank() {
    check(&around_sequence("dense", Op::Dense { units: 3 }));
}

#[test]
fn conv_strided_and_padded() {
    check(&around_image("conv", &[2, 5, 5], conv(3, 3, 2, 1, 1)));
}

#[test]
fn conv_grouped_and_depthwise() {
    check(&around_image("grouped", &[2, 4, 4], conv(6, 3, 1, 1, 2)));
    check(&around_image("depthwise", &[2, 4, 4], conv(4, 3, 1, 1, 4)));
}

#[test]
fn max_and_average_pool_with_padding() {
    let pool = |max: bool| {
        let (kernel, stride, padding) = (3, 2, 1);
        if max {
            Op::MaxPool {
                kernel,
                stride,
                padding,
            }
        } else {
            Op::AvgPool {
                kernel,
                stride,
                padding,
            }
        }
    };
    check(&around_image("max_pool", &[1, 5, 5], pool(true)));
    check(&around_image("avg_pool", &[1, 5, 5], pool(false)));
}

#[test]
fn global_average_pool_and_batch_norm() {
    check(&around_image("gap", &[1, 4, 4], Op::GlobalAvgPool));
    check(&around_image("batch_norm", &[1, 3, 3], Op::BatchNorm));
}

#[test]
fn layer_norm_and_softmax() {
    check(&around_sequence("layer_norm", Op::LayerNorm));
    check(&around_sequence("softmax", Op::Softmax));
}

#[test]
fn elementwise_nonlinearities() {
    for op in [Op::Relu, Op::Gelu, Op::Tanh, Op::Sigmoid] {
        check(&around_sequence(op.name(), op));
    }
}

#[test]
fn add_and_concat_of_a_fanned_out_value() {
    // x feeds a conv and the add directly, and both sides of the concat.
    let mut b = NetBuilder::new("fan_out", &[1, 4, 4]);
    let x = b
        .push("pre", "", conv(2, 3, 1, 1, 1), &[ValueId::INPUT])
        .unwrap();
    let y = b.push("mid", "", conv(2, 3, 1, 1, 1), &[x]).unwrap();
    let s = b.push("add", "", Op::Add, &[x, y, x]).unwrap();
    let c = b
        .push("cat", "", Op::Concat { axis: 1 }, &[s, y, x])
        .unwrap();
    let f = b.push("flat", "", Op::Flatten, &[c]).unwrap();
    let o = b.push("post", "", Op::Dense { units: 2 }, &[f]).unwrap();
    check(&b.finish(o));
}

#[test]
fn reshape_transpose_and_matmul() {
    // Attention-like: scores = (x Wq)ᵀ-ish products of two branches.
    let mut b = NetBuilder::new("attention", &[3, 4]);
    let a = b
        .push("a", "", Op::Dense { units: 5 }, &[ValueId::INPUT])
        .unwrap();
    let q = b
        .push("q", "", Op::Dense { units: 2 }, &[ValueId::INPUT])
        .unwrap();
    let qt = b
        .push("qt", "", Op::Transpose { perm: vec![1, 0] }, &[q])
        .unwrap();
    let m = b.push("mm", "", Op::MatMul, &[qt, a]).unwrap();
    let r = b
        .push("re", "", Op::Reshape { shape: vec![5, 2] }, &[m])
        .unwrap();
    let o = b.push("post", "", Op::Dense { units: 2 }, &[r]).unwrap();
    check(&b.finish(o));
    // A rank-3 transpose before a flatten.
    let mut b = NetBuilder::new("transpose3", &[2, 3, 4]);
    let x = b
        .push("pre", "", Op::Dense { units: 2 }, &[ValueId::INPUT])
        .unwrap();
    let t = b
        .push(
            "t",
            "",
            Op::Transpose {
                perm: vec![2, 0, 1],
            },
            &[x],
        )
        .unwrap();
    let f = b.push("flat", "", Op::Flatten, &[t]).unwrap();
    let o = b.push("post", "", Op::Dense { units: 3 }, &[f]).unwrap();
    check(&b.finish(o));
}

#[test]
fn finite_differences_detect_a_wrong_gradient() {
    // The checker itself can fail: a loss whose analytic gradient we scale
    // on purpose disagrees with the finite differences.
    let net = around_sequence("scaled", Op::Relu);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut model = Model::new(&net, &mut rng).unwrap();
    let x: Vec<f32> = (0..BATCH * 12).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let r: Vec<f32> = (0..BATCH * 6).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let y = model.forward(model.batch(x.clone(), BATCH), true);
    let loss = (y * model.constant(r.clone(), (BATCH, 6))).sum() * 1.5;
    let g = model.gradients(&mut loss.backward());
    let params = model.parameters();
    let mut shifted = params.clone();
    let last = params.len() - 1;
    shifted[last][0] += STEP;
    model.set_parameters(&shifted);
    let up = loss_of(&mut model, &x, &r);
    shifted[last][0] -= 2.0 * STEP;
    model.set_parameters(&shifted);
    let down = loss_of(&mut model, &x, &r);
    let numeric = (up - down) / (2.0 * STEP as f64);
    assert!((g[last][0] as f64 - 1.5 * numeric).abs() < 1e-3);
    assert!((g[last][0] as f64 - numeric).abs() > 1e-2 + 2e-2 * numeric.abs());
}
