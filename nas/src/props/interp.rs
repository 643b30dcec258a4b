//! A small reference interpreter for fragments: plain loops in `f64`, every
//! op of [`crate::ir::Op`], weights drawn at random. Besides its value, each
//! op reports which input elements every output element was computed from
//! (its structural Jacobian sparsity: the elements it read with a non-zero
//! coefficient, a max reading its whole window, a ReLU its input). The
//! reads are recorded in the same loops that compute the values, so the two
//! cannot drift apart.
//!
//! It is meant for measuring properties of small fragments, not for
//! training: nothing here is fast.

// The loops index several tensors with the same position, as the formulas
// are written; iterators would hide that.
#![allow(clippy::needless_range_loop)]

use rand::Rng;

use crate::ir::{Op, Shape};

/// A dense row-major tensor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Tensor {
    pub fn random(shape: &[u64], rng: &mut impl Rng) -> Tensor {
        let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        let n = shape.iter().product();
        Tensor {
            data: (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect(),
            shape,
        }
    }

    fn zeros(shape: Vec<usize>) -> Tensor {
        let n = shape.iter().product();
        Tensor {
            shape,
            data: vec![0.0; n],
        }
    }
}

/// Strides of a row-major shape.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        s[a] = s[a + 1] * shape[a + 1];
    }
    s
}

/// The multi-index of flat index `i`.
pub(crate) fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for a in (0..shape.len()).rev() {
        idx[a] = i % shape[a];
        i /= shape[a];
    }
    idx
}

/// Learned parameters of one op instance (empty for ops without any).
#[derive(Clone, Debug, Default)]
pub(crate) struct Params {
    /// Dense: `[k, units]`; conv: `[out, in / groups, kernel, kernel]`;
    /// batch and layer norm: the scale.
    pub weight: Vec<f64>,
    /// The bias (norms: the shift).
    pub bias: Vec<f64>,
}

/// A non-zero random coefficient: magnitude in [0.25, 1), either sign, so
/// no read is silently multiplied by zero.
fn coef(rng: &mut impl Rng) -> f64 {
    let m: f64 = rng.gen_range(0.25..1.0);
    if rng.gen_bool(0.5) { m } else { -m }
}

impl Params {
    /// Random parameters of `op` for inputs of these shapes.
    pub fn random(op: &Op, inputs: &[&Shape], rng: &mut impl Rng) -> Params {
        let x = inputs[0];
        let (n_w, n_b) = match *op {
            Op::Dense { units } => (x[x.len() - 1] * units, units),
            Op::Conv {
                out_channels,
                kernel,
                groups,
                ..
            } => (
                out_channels * (x[0] / groups) * kernel * kernel,
                out_channels,
            ),
            Op::BatchNorm => (x[0], x[0]),
            Op::LayerNorm => (x[x.len() - 1], x[x.len() - 1]),
            _ => (0, 0),
        };
        Params {
            weight: (0..n_w).map(|_| coef(rng)).collect(),
            bias: (0..n_b).map(|_| rng.gen_range(-1.0..1.0)).collect(),
        }
    }
}

/// Per output element, the `(input slot, flat input index)` pairs it read.
pub(crate) type Reads = Vec<Vec<(u32, u32)>>;

const LAYER_NORM_EPS: f64 = 1e-5;

fn gelu(x: f64) -> f64 {
    // The tanh form.
    0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
}

/// Evaluates `op` on `inputs`; the output of shape `out` and its reads.
pub(crate) fn eval(op: &Op, p: &Params, inputs: &[&Tensor], out: &Shape) -> (Tensor, Reads) {
    let out: Vec<usize> = out.iter().map(|&d| d as usize).collect();
    let x = inputs[0];
    let mut y = Tensor::zeros(out.clone());
    let n = y.data.len();
    let mut reads: Reads = vec![Vec::new(); n];
    let last = |t: &Tensor| t.shape[t.shape.len() - 1];
    match op {
        Op::Relu | Op::Gelu | Op::Tanh | Op::Sigmoid => {
            let f: fn(f64) -> f64 = match op {
                Op::Relu => |v| v.max(0.0),
                Op::Gelu => gelu,
                Op::Tanh => f64::tanh,
                _ => |v| 1.0 / (1.0 + (-v).exp()),
            };
            for i in 0..n {
                y.data[i] = f(x.data[i]);
                reads[i].push((0, i as u32));
            }
        }
        Op::BatchNorm => {
            let per_channel = x.data.len() / x.shape[0];
            for i in 0..n {
                let c = i / per_channel;
                y.data[i] = p.weight[c] * x.data[i] + p.bias[c];
                reads[i].push((0, i as u32));
            }
        }
        Op::Add => {
            for i in 0..n {
                for (s, t) in inputs.iter().enumerate() {
                    y.data[i] += t.data[i];
                    reads[i].push((s as u32, i as u32));
                }
            }
        }
        Op::Dense { units } => {
            let (k, u) = (last(x), *units as usize);
            for r in 0..n / u {
                for j in 0..u {
                    let o = r * u + j;
                    let mut acc = p.bias[j];
                    for t in 0..k {
                        acc += x.data[r * k + t] * p.weight[t * u + j];
                        reads[o].push((0, (r * k + t) as u32));
                    }
                    y.data[o] = acc;
                }
            }
        }
        Op::Softmax | Op::LayerNorm => {
            let k = last(x);
            for r in 0..n / k {
                let row = &x.data[r * k..(r + 1) * k];
                let vals: Vec<f64> = if matches!(op, Op::Softmax) {
                    let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = row.iter().map(|v| (v - m).exp()).collect();
                    let s: f64 = e.iter().sum();
                    e.iter().map(|v| v / s).collect()
                } else {
                    let mean = row.iter().sum::<f64>() / k as f64;
                    let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / k as f64;
                    let inv = 1.0 / (var + LAYER_NORM_EPS).sqrt();
                    row.iter()
                        .enumerate()
                        .map(|(t, v)| (v - mean) * inv * p.weight[t] + p.bias[t])
                        .collect()
                };
                for t in 0..k {
                    let o = r * k + t;
                    y.data[o] = vals[t];
                    reads[o].extend((0..k).map(|q| (0, (r * k + q) as u32)));
                }
            }
        }
        Op::Conv {
            kernel,
            stride,
            padding,
            groups,
            ..
        } => {
            let (c_in, h, w) = (x.shape[0], x.shape[1], x.shape[2]);
            let (c_out, ho, wo) = (out[0], out[1], out[2]);
            let (k, s, pad, g) = (
                *kernel as usize,
                *stride as usize,
                *padding as isize,
                *groups as usize,
            );
            let (cin_g, cout_g) = (c_in / g, c_out / g);
            for o in 0..c_out {
                let grp = o / cout_g;
                for i in 0..ho {
                    for j in 0..wo {
                        let at = (o * ho + i) * wo + j;
                        let mut acc = p.bias[o];
                        for cl in 0..cin_g {
                            let c = grp * cin_g + cl;
                            for di in 0..k {
                                let r = (i * s + di) as isize - pad;
                                if r < 0 || r >= h as isize {
                                    continue;
                                }
                                for dj in 0..k {
                                    let q = (j * s + dj) as isize - pad;
                                    if q < 0 || q >= w as isize {
                                        continue;
                                    }
                                    let xi = (c * h + r as usize) * w + q as usize;
                                    acc +=
                                        x.data[xi] * p.weight[((o * cin_g + cl) * k + di) * k + dj];
                                    reads[at].push((0, xi as u32));
                                }
                            }
                        }
                        y.data[at] = acc;
                    }
                }
            }
        }
        Op::MaxPool {
            kernel,
            stride,
            padding,
        }
        | Op::AvgPool {
            kernel,
            stride,
            padding,
        } => {
            let is_max = matches!(op, Op::MaxPool { .. });
            let (c_n, h, w) = (x.shape[0], x.shape[1], x.shape[2]);
            let (ho, wo) = (out[1], out[2]);
            let (k, s, pad) = (*kernel as usize, *stride as usize, *padding as isize);
            for c in 0..c_n {
                for i in 0..ho {
                    for j in 0..wo {
                        let at = (c * ho + i) * wo + j;
                        let mut acc = if is_max { f64::NEG_INFINITY } else { 0.0 };
                        for di in 0..k {
                            let r = (i * s + di) as isize - pad;
                            if r < 0 || r >= h as isize {
                                continue;
                            }
                            for dj in 0..k {
                                let q = (j * s + dj) as isize - pad;
                                if q < 0 || q >= w as isize {
                                    continue;
                                }
                                let xi = (c * h + r as usize) * w + q as usize;
                                acc = if is_max {
                                    acc.max(x.data[xi])
                                } else {
                                    acc + x.data[xi]
                                };
                                reads[at].push((0, xi as u32));
                            }
                        }
                        y.data[at] = if is_max { acc } else { acc / (k * k) as f64 };
                    }
                }
            }
        }
        Op::GlobalAvgPool => {
            let plane = x.shape[1] * x.shape[2];
            for c in 0..n {
                let mut acc = 0.0;
                for q in 0..plane {
                    acc += x.data[c * plane + q];
                    reads[c].push((0, (c * plane + q) as u32));
                }
                y.data[c] = acc / plane as f64;
            }
        }
        Op::Flatten | Op::Reshape { .. } => {
            for i in 0..n {
                y.data[i] = x.data[i];
                reads[i].push((0, i as u32));
            }
        }
        Op::Transpose { perm } => {
            let xs = strides(&x.shape);
            for i in 0..n {
                let idx = unravel(i, &out);
                let xi: usize = perm
                    .iter()
                    .enumerate()
                    .map(|(b, &a)| idx[b] * xs[a as usize])
                    .sum();
                y.data[i] = x.data[xi];
                reads[i].push((0, xi as u32));
            }
        }
        Op::Concat { axis } => {
            let a = *axis as usize;
            let mut offset = 0;
            for (s, t) in inputs.iter().enumerate() {
                for (ti, &v) in t.data.iter().enumerate() {
                    let mut idx = unravel(ti, &t.shape);
                    idx[a] += offset;
                    let yi: usize = idx.iter().zip(strides(&out)).map(|(i, st)| i * st).sum();
                    y.data[yi] = v;
                    reads[yi].push((s as u32, ti as u32));
                }
                offset += t.shape[a];
            }
        }
        Op::MatMul => {
            let b = inputs[1];
            let r = x.shape.len();
            let (m, k, nn) = (x.shape[r - 2], x.shape[r - 1], b.shape[r - 1]);
            let lead = n / (m * nn);
            for l in 0..lead {
                for i in 0..m {
                    for j in 0..nn {
                        let at = (l * m + i) * nn + j;
                        let mut acc = 0.0;
                        for t in 0..k {
                            let ai = (l * m + i) * k + t;
                            let bi = (l * k + t) * nn + j;
                            acc += x.data[ai] * b.data[bi];
                            reads[at].push((0, ai as u32));
                            reads[at].push((1, bi as u32));
                        }
                        y.data[at] = acc;
                    }
                }
            }
        }
    }
    (y, reads)
}
