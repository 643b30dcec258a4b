//! A [`Net`] as a trainable dfdx network with runtime shapes.
//!
//! Every activation is a `(batch, n)` dfdx tensor, `n` the per-sample
//! element count, laid out row-major in the IR's per-sample shape: flatten
//! and reshape are free, and each op reshapes its input to the runtime-sized
//! view it needs. Parameters are flat `(len,)` tensors reshaped on use, so
//! gradients and Adam work on flat vectors. Ops:
//!
//! - dense: `(batch · rows, k) × (k, units)` plus the bias, any rank;
//! - conv: im2col as one gather ([`Model::gather`]) of patch indices ([`super::index`])
//!   from the flattened batch with a zero appended, which padding taps read;
//!   then a batched matmul with the `(groups, c/g · k · k, out/g)` weight,
//!   one batch entry per group; then a permute into `[out, oh, ow]`. The
//!   gather's and matmul's backward passes give the input's and the
//!   weights' gradients;
//! - max and average pool: the same gather (padding reads a very negative
//!   value for max, the zero for mean), then max or mean over the window
//!   axis; the mean divides by the full window, as the IR says;
//! - batch norm: in training, each channel (per-sample axis 0) is
//!   normalised by the batch's mean and (biased) variance over the batch and
//!   every other axis, and running averages (momentum 0.1, unbiased
//!   variance) are kept; evaluation normalises by the running averages. Then
//!   a learned scale and shift per channel;
//! - gelu: the tanh approximation (see the note in `apply`);
//! - layer norm, softmax: over the last axis; transpose: a gather of a
//!   precomputed permutation; matmul: a batched matmul over the leading
//!   axes; concat: a concatenation of `(batch · outer, inner)` views.
//!
//! Gather indices depend on the batch size, so they are built once per batch
//! size seen and kept.

use std::collections::BTreeMap;
use std::sync::Arc;

use dfdx::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::index::{self, Window};
use crate::ir::{Net, Op, numel};

/// A traced tensor: operations on it are recorded for backpropagation.
pub(crate) type Traced<S> = Tensor<S, f32, Cpu, OwnedTape<f32, Cpu>>;
/// An activation: `(batch, elements per sample)`.
pub(crate) type Act = Traced<(usize, usize)>;
type Flat = Tensor<(usize,), f32, Cpu>;
/// Gather indices into a flattened batch (see [`Model::gather`]), as
/// `u32` to halve the memory of large im2col index lists.
type Indices = Arc<Vec<u32>>;

/// What padding reads below everything real in a max pool.
const NEG_PAD: f32 = -1.0e30;
/// ε of batch and layer normalisation.
const NORM_EPS: f64 = 1e-5;
/// Weight of the newest batch in batch norm's running averages.
const BN_MOMENTUM: f32 = 0.1;

/// One node, resolved to runtime sizes and parameter slots.
#[derive(Clone, Debug)]
enum Kernel {
    Dense {
        w: usize,
        b: usize,
        k: usize,
        units: usize,
    },
    Conv {
        w: usize,
        b: usize,
        win: Window,
        groups: usize,
        out: usize,
    },
    Pool {
        win: Window,
        max: bool,
    },
    GlobalAvgPool {
        c: usize,
        hw: usize,
    },
    BatchNorm {
        gamma: usize,
        beta: usize,
        /// Slot in the running statistics.
        stats: usize,
        c: usize,
        rest: usize,
    },
    LayerNorm {
        gamma: usize,
        beta: usize,
        f: usize,
    },
    Relu,
    Gelu,
    Tanh,
    Sigmoid,
    Softmax {
        f: usize,
    },
    Add,
    Concat {
        outer: usize,
        inners: Vec<usize>,
    },
    Reshape,
    Transpose {
        shape: Vec<usize>,
        perm: Vec<usize>,
    },
    MatMul {
        lead: usize,
        m: usize,
        k: usize,
        n: usize,
    },
}

/// Batch norm's running mean and variance for one node.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RunningStats {
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
}

/// A network ready to train: its layers, parameters, batch-norm statistics
/// and cached gather indices.
pub(crate) struct Model {
    dev: Cpu,
    layers: Vec<Kernel>,
    inputs: Vec<Vec<usize>>,
    output: usize,
    /// Readers of each value among live nodes (the output counts as one).
    readers: Vec<usize>,
    /// Whether each node reaches the output. Dead nodes are not run; their
    /// parameters get zero gradients and keep their initial values.
    live: Vec<bool>,
    sizes: Vec<usize>,
    params: Vec<Flat>,
    pub stats: Vec<RunningStats>,
    /// Per batch size, per node: the node's gather indices, if it has any.
    indices: BTreeMap<usize, Vec<Option<Indices>>>,
}

fn us(x: u64) -> usize {
    x as usize
}

impl Model {
    /// Layers for `net` (which must be valid) with freshly initialised
    /// parameters: weights He-uniform, `U(±√(6 / fan_in))`, biases and
    /// shifts 0, scales 1, drawn from `rng` in node order.
    pub(crate) fn new(net: &Net, rng: &mut ChaCha8Rng) -> Result<Model, String> {
        let shapes = net.shapes().map_err(|e| e.to_string())?;
        let mut model = Model {
            dev: Cpu::default(),
            layers: Vec::with_capacity(net.nodes.len()),
            inputs: Vec::with_capacity(net.nodes.len()),
            output: net.output.0 as usize,
            readers: vec![0; shapes.len()],
            live: vec![false; net.nodes.len()],
            sizes: shapes.iter().map(|s| us(numel(s))).collect(),
            params: Vec::new(),
            stats: Vec::new(),
            indices: BTreeMap::new(),
        };
        model.readers[model.output] += 1;
        let mut stack = vec![net.output];
        while let Some(v) = stack.pop() {
            if let Some(i) = v.node()
                && !model.live[i]
            {
                model.live[i] = true;
                stack.extend(net.nodes[i].inputs.iter().copied());
            }
        }
        let mut values: Vec<Vec<f32>> = Vec::new();
        let mut he = |values: &mut Vec<Vec<f32>>, len: usize, fan_in: usize| {
            let bound = (6.0 / fan_in.max(1) as f64).sqrt() as f32;
            values.push((0..len).map(|_| rng.gen_range(-bound..=bound)).collect());
            values.len() - 1
        };
        let constant = |values: &mut Vec<Vec<f32>>, len: usize, v: f32| {
            values.push(vec![v; len]);
            values.len() - 1
        };
        for (node_idx, node) in net.nodes.iter().enumerate() {
            let ins: Vec<usize> = node.inputs.iter().map(|v| v.0 as usize).collect();
            if model.live[node_idx] {
                for &i in &ins {
                    model.readers[i] += 1;
                }
            }
            let x: Vec<usize> = shapes[ins[0]].iter().map(|&d| us(d)).collect();
            let n = x.iter().product::<usize>();
            let last = *x.last().expect("shapes are non-empty");
            let kernel = match &node.op {
                Op::Dense { units } => {
                    let units = us(*units);
                    Kernel::Dense {
                        w: he(&mut values, last * units, last),
                        b: constant(&mut values, units, 0.0),
                        k: last,
                        units,
                    }
                }
                Op::Conv {
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    groups,
                } => {
                    let win = Window {
                        c: x[0],
                        h: x[1],
                        w: x[2],
                        kernel: us(*kernel),
                        stride: us(*stride),
                        padding: us(*padding),
                    };
                    let (out, groups) = (us(*out_channels), us(*groups));
                    let fan_in = win.c / groups * win.kernel * win.kernel;
                    Kernel::Conv {
                        w: he(&mut values, fan_in * out, fan_in),
                        b: constant(&mut values, out, 0.0),
                        win,
                        groups,
                        out,
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
                } => Kernel::Pool {
                    win: Window {
                        c: x[0],
                        h: x[1],
                        w: x[2],
                        kernel: us(*kernel),
                        stride: us(*stride),
                        padding: us(*padding),
                    },
                    max: matches!(node.op, Op::MaxPool { .. }),
                },
                Op::GlobalAvgPool => Kernel::GlobalAvgPool {
                    c: x[0],
                    hw: n / x[0],
                },
                Op::BatchNorm => {
                    model.stats.push(RunningStats {
                        mean: vec![0.0; x[0]],
                        var: vec![1.0; x[0]],
                    });
                    Kernel::BatchNorm {
                        gamma: constant(&mut values, x[0], 1.0),
                        beta: constant(&mut values, x[0], 0.0),
                        stats: model.stats.len() - 1,
                        c: x[0],
                        rest: n / x[0],
                    }
                }
                Op::LayerNorm => Kernel::LayerNorm {
                    gamma: constant(&mut values, last, 1.0),
                    beta: constant(&mut values, last, 0.0),
                    f: last,
                },
                Op::Relu => Kernel::Relu,
                Op::Gelu => Kernel::Gelu,
                Op::Tanh => Kernel::Tanh,
                Op::Sigmoid => Kernel::Sigmoid,
                Op::Softmax => Kernel::Softmax { f: last },
                Op::Add => Kernel::Add,
                Op::Concat { axis } => {
                    let a = *axis as usize;
                    Kernel::Concat {
                        outer: x[..a].iter().product(),
                        inners: ins
                            .iter()
                            .map(|&v| shapes[v][a..].iter().map(|&d| us(d)).product())
                            .collect(),
                    }
                }
                Op::Flatten | Op::Reshape { .. } => Kernel::Reshape,
                Op::Transpose { perm } => Kernel::Transpose {
                    shape: x.clone(),
                    perm: perm.iter().map(|&p| p as usize).collect(),
                },
                Op::MatMul => {
                    let r = x.len();
                    let nn = us(shapes[ins[1]][r - 1]);
                    Kernel::MatMul {
                        lead: x[..r - 2].iter().product(),
                        m: x[r - 2],
                        k: x[r - 1],
                        n: nn,
                    }
                }
            };
            model.layers.push(kernel);
            model.inputs.push(ins);
        }
        model.set_parameters(&values);
        Ok(model)
    }

    /// The parameters' values, in node order (weight before bias, scale
    /// before shift).
    pub fn parameters(&self) -> Vec<Vec<f32>> {
        self.params.iter().map(|p| p.as_vec()).collect()
    }

    /// Parameter lengths in order.
    pub fn parameter_lens(&self) -> Vec<usize> {
        self.params.iter().map(|p| p.shape().0).collect()
    }

    /// Replaces every parameter (same lengths as [`Model::parameters`]).
    pub fn set_parameters(&mut self, values: &[Vec<f32>]) {
        self.params = values
            .iter()
            .map(|v| self.dev.tensor_from_vec(v.clone(), (v.len(),)))
            .collect();
    }

    /// The gradient of every parameter from `grads`, in parameter order
    /// (zeros for the parameters of dead nodes).
    pub fn gradients(&self, grads: &mut Gradients<f32, Cpu>) -> Vec<Vec<f32>> {
        self.params
            .iter()
            .map(|p| {
                grads
                    .get_or_alloc_mut(p)
                    .expect("the CPU allocates a gradient")
                    .to_vec()
            })
            .collect()
    }

    /// A constant batch as a dfdx tensor.
    pub fn batch(&self, images: Vec<f32>, batch: usize) -> Tensor<(usize, usize), f32, Cpu> {
        let n = images.len() / batch.max(1);
        self.dev.tensor_from_vec(images, (batch, n))
    }

    /// A constant tensor.
    pub fn constant<S: Shape>(&self, values: Vec<f32>, shape: S) -> Tensor<S, f32, Cpu> {
        self.dev.tensor_from_vec(values, shape)
    }

    fn param(&self, i: usize) -> Flat {
        self.params[i].clone()
    }

    /// The largest batch whose gather indices fit in `u32` (the largest
    /// activation's values plus the two appended constants).
    pub fn max_batch(&self) -> usize {
        let largest = self.sizes.iter().copied().max().unwrap_or(1).max(1);
        (u32::MAX as usize - 2) / largest
    }

    /// Builds (once per batch size) every node's gather indices.
    fn indices_for(&mut self, batch: usize) -> Vec<Option<Indices>> {
        if let Some(found) = self.indices.get(&batch) {
            return found.clone();
        }
        let built: Vec<Option<Indices>> = self
            .layers
            .iter()
            .map(|layer| {
                let idx = match layer {
                    Kernel::Conv { win, groups, .. } => index::conv_patches(win, *groups, batch),
                    Kernel::Pool { win, max } => index::pool_windows(win, batch, *max),
                    Kernel::Transpose { shape, perm } => index::transpose(shape, perm, batch),
                    _ => return None,
                };
                // `max_batch` keeps every index below 2³².
                Some(Arc::new(idx.into_iter().map(|i| i as u32).collect()))
            })
            .collect();
        self.indices.insert(batch, built.clone());
        built
    }

    /// The network's output for a batch, `(batch, classes)`, recorded on a
    /// tape. `training` selects batch statistics (and updates the running
    /// averages) in batch norm.
    pub fn forward(&mut self, x: Tensor<(usize, usize), f32, Cpu>, training: bool) -> Act {
        let batch = x.shape().0;
        let indices = self.indices_for(batch);
        let mut left = self.readers.clone();
        let mut values: Vec<Option<Act>> = (0..self.sizes.len()).map(|_| None).collect();
        values[0] = Some(x.leaky_traced());
        for i in 0..self.layers.len() {
            if !self.live[i] {
                continue;
            }
            let ins: Vec<Act> = self.inputs[i]
                .iter()
                .map(|&v| {
                    left[v] -= 1;
                    if left[v] == 0 {
                        values[v]
                            .take()
                            .expect("values are read after they are made")
                    } else {
                        values[v]
                            .as_ref()
                            .expect("values are read after they are made")
                            .with_empty_tape()
                    }
                })
                .collect();
            let y = self.apply(i, ins, batch, indices[i].as_ref(), training);
            values[i + 1] = Some(y);
        }
        values[self.output].take().expect("the output is computed")
    }

    /// One node's output.
    fn apply(
        &mut self,
        node: usize,
        mut ins: Vec<Act>,
        batch: usize,
        idx: Option<&Indices>,
        training: bool,
    ) -> Act {
        let n_out = self.sizes[node + 1];
        let x = ins.remove(0);
        let n_in = x.shape().1;
        match self.layers[node].clone() {
            Kernel::Dense { w, b, k, units } => {
                let rows = batch * n_in / k;
                let y = x
                    .reshape_like(&(rows, k))
                    .matmul(self.param(w).reshape_like(&(k, units)));
                (y + self.param(b).broadcast_like::<_, Axis<0>>(&(rows, units)))
                    .reshape_like(&(batch, n_out))
            }
            Kernel::Conv {
                w,
                b,
                win,
                groups,
                out,
            } => {
                let p = win.positions();
                let cgkk = win.c / groups * win.kernel * win.kernel;
                let og = out / groups;
                let patches = self
                    .gather(
                        self.with_constants(x, batch, n_in),
                        idx.expect("conv has indices"),
                    )
                    .reshape_like(&(groups, batch * p, cgkk));
                let y = patches.matmul(self.param(w).reshape_like(&(groups, cgkk, og)));
                let y = y
                    .reshape_like(&(groups, batch, p, og))
                    .permute::<_, Axes4<1, 0, 3, 2>>()
                    .reshape_like(&(batch, out, p));
                (y + self
                    .param(b)
                    .broadcast_like::<_, Axes2<0, 2>>(&(batch, out, p)))
                .reshape_like(&(batch, n_out))
            }
            Kernel::Pool { win, max } => {
                let k2 = win.kernel * win.kernel;
                let windows = self
                    .gather(
                        self.with_constants(x, batch, n_in),
                        idx.expect("pooling has indices"),
                    )
                    .reshape_like(&(batch * n_out, k2));
                let y = if max {
                    windows.max::<(usize,), Axis<1>>()
                } else {
                    windows.mean::<(usize,), Axis<1>>()
                };
                y.reshape_like(&(batch, n_out))
            }
            Kernel::GlobalAvgPool { c, hw } => x
                .reshape_like(&(batch, c, hw))
                .mean::<(usize, usize), Axis<2>>(),
            Kernel::BatchNorm {
                gamma,
                beta,
                stats,
                c,
                rest,
            } => self.batch_norm(x, (batch, c, rest), (gamma, beta, stats), training),
            Kernel::LayerNorm { gamma, beta, f } => {
                let rows = batch * n_in / f;
                let y = x.reshape_like(&(rows, f)).normalize::<Axis<1>>(NORM_EPS);
                let y = y * self.param(gamma).broadcast_like::<_, Axis<0>>(&(rows, f))
                    + self.param(beta).broadcast_like::<_, Axis<0>>(&(rows, f));
                y.reshape_like(&(batch, n_out))
            }
            Kernel::Relu => x.relu(),
            // The tanh form: dfdx 0.13's `accurate_gelu` (erf form) has a
            // wrong derivative (its erf term misses a factor 1/√2), which the
            // gradient check caught; the two forms differ by under 1e-3.
            Kernel::Gelu => x.fast_gelu(),
            Kernel::Tanh => x.tanh(),
            Kernel::Sigmoid => x.sigmoid(),
            Kernel::Softmax { f } => x
                .reshape_like(&(batch * n_in / f, f))
                .softmax::<Axis<1>>()
                .reshape_like(&(batch, n_out)),
            Kernel::Add => ins.into_iter().fold(x, |acc, y| acc + y),
            Kernel::Concat { outer, inners } => {
                let rows = batch * outer;
                let first = x.reshape_like(&(rows, inners[0]));
                let joined = ins
                    .into_iter()
                    .zip(&inners[1..])
                    .fold(first, |acc, (y, &inner)| {
                        (acc, y.reshape_like(&(rows, inner))).concat_along(Axis::<1>)
                    });
                joined.reshape_like(&(batch, n_out))
            }
            Kernel::Reshape => x,
            Kernel::Transpose { .. } => self
                .gather(
                    x.reshape_like(&(batch * n_in,)),
                    idx.expect("transpose has indices"),
                )
                .reshape_like(&(batch, n_out)),
            Kernel::MatMul { lead, m, k, n } => {
                let other = ins.pop().expect("matmul has two inputs");
                let a = x.reshape_like(&(batch * lead, m, k));
                let b = other.reshape_like(&(batch * lead, k, n));
                a.matmul(b).reshape_like(&(batch, n_out))
            }
        }
    }

    /// `out[i] = x[idx[i]]`, recorded on the tape; the backward pass adds
    /// each output's gradient to the input it read. This is what dfdx's
    /// `gather` computes on rank-1 tensors, as a plain loop: dfdx's walks a
    /// generic multi-index per element and took a quarter of the training
    /// time of the CifarNet seed (measured with `perf`).
    fn gather(&self, x: Traced<(usize,)>, idx: &Indices) -> Traced<(usize,)> {
        let (x, mut tape) = x.split_tape();
        let values = x.as_vec();
        let out: Vec<f32> = idx.iter().map(|&i| values[i as usize]).collect();
        let out = self.dev.tensor_from_vec(out, (idx.len(),));
        let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
        let idx = Arc::clone(idx);
        tape.add_backward_op(move |grads| {
            let grad_out = grads.get_or_alloc_mut(&out_ghost)?.to_vec();
            let grad_in = grads.get_or_alloc_mut(&x_ghost)?;
            for (&i, g) in idx.iter().zip(&grad_out) {
                grad_in[i as usize] += g;
            }
            Ok(())
        });
        out.put_tape(tape)
    }

    /// The flattened batch with the constants gathers read for padding
    /// appended (see [`index`]).
    fn with_constants(&self, x: Act, batch: usize, n: usize) -> Traced<(usize,)> {
        let pads = self.dev.tensor_from_vec(vec![0.0, NEG_PAD], (2,));
        (x.reshape_like(&(batch * n,)), pads).concat_along(Axis::<0>)
    }

    fn batch_norm(
        &mut self,
        x: Act,
        (batch, c, rest): (usize, usize, usize),
        (gamma, beta, stats): (usize, usize, usize),
        training: bool,
    ) -> Act {
        let shape = (batch, c, rest);
        let x = x.reshape_like(&shape);
        let normalised = if training {
            let mean = x.with_empty_tape().mean::<(usize,), Axes2<0, 2>>();
            let mean_values = mean.as_vec();
            let centred = x - mean.broadcast_like::<_, Axes2<0, 2>>(&shape);
            let var = centred
                .with_empty_tape()
                .square()
                .mean::<(usize,), Axes2<0, 2>>();
            self.update_running(stats, &mean_values, &var.as_vec(), batch * rest);
            let inv_std = (var + NORM_EPS as f32).sqrt().recip();
            centred * inv_std.broadcast_like::<_, Axes2<0, 2>>(&shape)
        } else {
            let s = &self.stats[stats];
            let inv_std: Vec<f32> = s
                .var
                .iter()
                .map(|v| 1.0 / (v + NORM_EPS as f32).sqrt())
                .collect();
            let mean = self.constant(s.mean.clone(), (c,));
            let inv_std = self.constant(inv_std, (c,));
            (x - mean.broadcast_like::<_, Axes2<0, 2>>(&shape))
                * inv_std.broadcast_like::<_, Axes2<0, 2>>(&shape)
        };
        let y = normalised * self.param(gamma).broadcast_like::<_, Axes2<0, 2>>(&shape)
            + self.param(beta).broadcast_like::<_, Axes2<0, 2>>(&shape);
        y.reshape_like(&(batch, c * rest))
    }

    fn update_running(&mut self, stats: usize, mean: &[f32], var: &[f32], count: usize) {
        let unbias = if count > 1 {
            count as f32 / (count - 1) as f32
        } else {
            1.0
        };
        let s = &mut self.stats[stats];
        for (r, m) in s.mean.iter_mut().zip(mean) {
            *r = (1.0 - BN_MOMENTUM) * *r + BN_MOMENTUM * m;
        }
        for (r, v) in s.var.iter_mut().zip(var) {
            *r = (1.0 - BN_MOMENTUM) * *r + BN_MOMENTUM * v * unbias;
        }
    }
}
