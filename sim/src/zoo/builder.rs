//! A builder that grows a [`Graph`] one operation at a time, computing shapes,
//! MACs, parameter counts and byte counts from layer attributes.
//!
//! Cost conventions (what `vector_ops` counts), stated once here:
//! - element-wise: one operation per output element;
//! - layer norm: four per element (mean, variance, normalise, affine);
//! - batch norm: one per element (inference form folds to a fused multiply-add);
//! - softmax: three per element (max, exponent and sum, divide);
//! - pooling: one per input element read by each window (kernel area per output);
//! - global average pooling: one per input element;
//! - embedding and concat: none (they move data; their cost is bytes).
//!
//! Views (reshape, transpose, split of heads) are free and create no op: a
//! consumer reads its producer's tensor with the producer's shape, and its own
//! attributes (e.g. a matmul's batch, m, k, n) say how it interprets the data.

use std::collections::BTreeMap;

use crate::graph::{
    DType, EltFunc, GRAPH_FORMAT_VERSION, Graph, GraphError, GraphFile, GraphInput, Op, OpId,
    OpInput, OpKind, PoolFunc, ReduceFunc, Source, numel,
};

/// A tensor produced while building: where it comes from and its shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    pub source: Source,
    pub shape: Vec<u64>,
}

impl Tensor {
    fn input(&self) -> OpInput {
        OpInput {
            source: self.source.clone(),
            shape: self.shape.clone(),
        }
    }

    /// The last dimension.
    pub fn last_dim(&self) -> u64 {
        *self.shape.last().expect("tensors have rank ≥ 1")
    }

    /// The same tensor seen with another shape of the same size (a reshape
    /// folded into the edge that reads it).
    pub fn view(&self, shape: &[u64]) -> Tensor {
        assert_eq!(numel(shape), numel(&self.shape), "a view keeps the size");
        Tensor {
            source: self.source.clone(),
            shape: shape.to_vec(),
        }
    }
}

/// Grows a graph in topological order.
#[derive(Clone, Debug)]
pub struct GraphBuilder {
    name: String,
    model: String,
    params: BTreeMap<String, String>,
    dtype: DType,
    inputs: Vec<GraphInput>,
    ops: Vec<Op>,
}

impl GraphBuilder {
    /// Starts an empty graph whose tensors and weights are all of `dtype`.
    pub fn new(name: impl Into<String>, model: impl Into<String>, dtype: DType) -> Self {
        GraphBuilder {
            name: name.into(),
            model: model.into(),
            params: BTreeMap::new(),
            dtype,
            inputs: Vec::new(),
            ops: Vec::new(),
        }
    }

    /// Records a model parameter (for the graph's provenance).
    pub fn record_param(&mut self, key: &str, value: impl ToString) {
        self.params.insert(key.to_string(), value.to_string());
    }

    /// Declares a graph input. Index inputs (token ids) use the graph's dtype for
    /// their byte count too; they never cross chips after the embedding.
    pub fn input(&mut self, name: &str, shape: &[u64]) -> Tensor {
        self.inputs.push(GraphInput {
            name: name.to_string(),
            shape: shape.to_vec(),
            dtype: self.dtype,
        });
        Tensor {
            source: Source::GraphInput(name.to_string()),
            shape: shape.to_vec(),
        }
    }

    /// Appends an op with the given attributes and returns its output tensor;
    /// MACs and byte counts follow from the kind, shape and dtype. Importers
    /// use it for ops the named helpers below do not cover.
    pub fn push(
        &mut self,
        name: &str,
        kind: OpKind,
        inputs: &[&Tensor],
        output_shape: Vec<u64>,
        vector_ops: u64,
        params: u64,
    ) -> Tensor {
        let id = OpId(self.ops.len() as u32);
        let macs = kind.macs();
        let output_bytes = numel(&output_shape) * self.dtype.bytes();
        self.ops.push(Op {
            id,
            name: name.to_string(),
            kind,
            inputs: inputs.iter().map(|t| t.input()).collect(),
            output_shape: output_shape.clone(),
            dtype: self.dtype,
            macs,
            vector_ops,
            params,
            weight_bytes: params * self.dtype.bytes(),
            output_bytes,
        });
        Tensor {
            source: Source::Op(id),
            shape: output_shape,
        }
    }

    /// Fully connected layer over the last dimension: `[.., k] → [.., n]`, with
    /// a `k × n` weight and optionally an `n` bias (added in the accumulators).
    pub fn linear(&mut self, name: &str, x: &Tensor, n: u64, bias: bool) -> Tensor {
        let k = x.last_dim();
        let m = numel(&x.shape) / k;
        let mut shape = x.shape.clone();
        *shape.last_mut().expect("rank ≥ 1") = n;
        let params = k * n + if bias { n } else { 0 };
        self.push(
            name,
            OpKind::MatMul { batch: 1, m, k, n },
            &[x],
            shape,
            0,
            params,
        )
    }

    /// Fully connected layer over everything but the first dimension:
    /// `[batch, ..] → [batch, n]`. The flatten is a view: the matmul reads the
    /// producer's tensor as `batch × (product of the other dimensions)`, so a
    /// classifier can read an NCHW feature map directly (TF-slim's `flatten`
    /// before `fully_connected`).
    pub fn flatten_linear(&mut self, name: &str, x: &Tensor, n: u64, bias: bool) -> Tensor {
        let m = x.shape[0];
        let k = numel(&x.shape) / m;
        let params = k * n + if bias { n } else { 0 };
        self.push(
            name,
            OpKind::MatMul { batch: 1, m, k, n },
            &[x],
            vec![m, n],
            0,
            params,
        )
    }

    /// Product of two activations: `batch` products of `m × k` by `k × n`,
    /// reading `a` and `b` as those views. Output shape `[batch, m, n]`;
    /// [`GraphBuilder::matmul_as`] gives the output another view.
    pub fn matmul(
        &mut self,
        name: &str,
        a: &Tensor,
        b: &Tensor,
        dims: (u64, u64, u64, u64),
    ) -> Tensor {
        let (batch, m, _, n) = dims;
        self.matmul_as(name, a, b, dims, &[batch, m, n])
    }

    /// Like [`GraphBuilder::matmul`], but the output is written as `out_shape`,
    /// another view of the same `batch·m·n` elements. Attention uses it to hand
    /// `[batch·heads, seq, head_dim]` on as `[batch, seq, hidden]` (heads merged),
    /// which is what the output projection reads.
    pub fn matmul_as(
        &mut self,
        name: &str,
        a: &Tensor,
        b: &Tensor,
        (batch, m, k, n): (u64, u64, u64, u64),
        out_shape: &[u64],
    ) -> Tensor {
        assert_eq!(numel(&a.shape), batch * m * k, "{name}: lhs view");
        assert_eq!(numel(&b.shape), batch * k * n, "{name}: rhs view");
        assert_eq!(numel(out_shape), batch * m * n, "{name}: output view");
        self.push(
            name,
            OpKind::MatMul { batch, m, k, n },
            &[a, b],
            out_shape.to_vec(),
            0,
            0,
        )
    }

    /// The first token of each sequence: `[batch, seq, dim] → [batch, 1, dim]`
    /// (BERT's pooler and ViT's head read only the class token). A slice op
    /// moves only the kept rows, so when the consumer sits on another chip only
    /// `batch × dim` elements cross the package.
    pub fn first_token(&mut self, name: &str, x: &Tensor) -> Tensor {
        assert_eq!(
            x.shape.len(),
            3,
            "{name}: expected [batch, seq, dim], got {:?}",
            x.shape
        );
        self.slice(name, x, 1, 0, 1)
    }

    /// 2-D convolution of NCHW `x` with square `kernel`, `stride`, `padding`.
    pub fn conv2d(
        &mut self,
        name: &str,
        x: &Tensor,
        out_channels: u64,
        kernel: u64,
        stride: u64,
        padding: u64,
        groups: u64,
        bias: bool,
    ) -> Tensor {
        let [batch, in_channels, h, w] = nchw(x, name);
        let out = |d: u64| (d + 2 * padding - kernel) / stride + 1;
        let out_hw = [out(h), out(w)];
        let params = out_channels * (in_channels / groups) * kernel * kernel
            + if bias { out_channels } else { 0 };
        self.push(
            name,
            OpKind::Conv2d {
                batch,
                in_channels,
                out_channels,
                in_hw: [h, w],
                out_hw,
                kernel: [kernel, kernel],
                stride: [stride, stride],
                padding: [padding, padding],
                groups,
            },
            &[x],
            vec![batch, out_channels, out_hw[0], out_hw[1]],
            0,
            params,
        )
    }

    /// Batch normalisation of NCHW `x` (γ and β per channel are the parameters;
    /// running statistics are buffers, not parameters, as in PyTorch).
    pub fn batch_norm(&mut self, name: &str, x: &Tensor) -> Tensor {
        let channels = x.shape[1];
        let n = numel(&x.shape);
        self.push(
            name,
            OpKind::BatchNorm,
            &[x],
            x.shape.clone(),
            n,
            2 * channels,
        )
    }

    /// Layer normalisation over the last dimension (γ and β parameters).
    pub fn layer_norm(&mut self, name: &str, x: &Tensor) -> Tensor {
        let d = x.last_dim();
        let n = numel(&x.shape);
        self.push(name, OpKind::LayerNorm, &[x], x.shape.clone(), 4 * n, 2 * d)
    }

    /// Softmax over the last dimension.
    pub fn softmax(&mut self, name: &str, x: &Tensor) -> Tensor {
        let n = numel(&x.shape);
        self.push(name, OpKind::Softmax, &[x], x.shape.clone(), 3 * n, 0)
    }

    /// Element-wise function of same-shaped inputs. `params` counts any
    /// parameter tensor the op adds in (e.g. a learned position embedding).
    pub fn eltwise(&mut self, name: &str, func: EltFunc, xs: &[&Tensor], params: u64) -> Tensor {
        let shape = xs[0].shape.clone();
        let n = numel(&shape);
        self.push(name, OpKind::Elementwise { func }, xs, shape, n, params)
    }

    /// Embedding lookup: ids of shape `s` give `s ++ [dim]`.
    pub fn embedding(&mut self, name: &str, ids: &Tensor, vocab: u64, dim: u64) -> Tensor {
        let mut shape = ids.shape.clone();
        shape.push(dim);
        self.push(
            name,
            OpKind::Embedding { vocab, dim },
            &[ids],
            shape,
            0,
            vocab * dim,
        )
    }

    /// Windowed pooling of NCHW `x` with square kernel.
    pub fn pool(
        &mut self,
        name: &str,
        func: PoolFunc,
        x: &Tensor,
        kernel: u64,
        stride: u64,
        padding: u64,
    ) -> Tensor {
        let [batch, channels, h, w] = nchw(x, name);
        let out = |d: u64| (d + 2 * padding - kernel) / stride + 1;
        let shape = vec![batch, channels, out(h), out(w)];
        let work = numel(&shape) * kernel * kernel;
        self.push(
            name,
            OpKind::Pool {
                func,
                kernel: [kernel, kernel],
                stride: [stride, stride],
                padding: [padding, padding],
            },
            &[x],
            shape,
            work,
            0,
        )
    }

    /// Average over all spatial positions: `[N, C, H, W] → [N, C]`.
    pub fn global_avg_pool(&mut self, name: &str, x: &Tensor) -> Tensor {
        let [batch, channels, _, _] = nchw(x, name);
        let work = numel(&x.shape);
        self.push(
            name,
            OpKind::GlobalAvgPool,
            &[x],
            vec![batch, channels],
            work,
            0,
        )
    }

    /// Concatenation along `axis`. `params` counts a learned tensor joined in
    /// (e.g. ViT's class token), which is not an input edge.
    pub fn concat(
        &mut self,
        name: &str,
        xs: &[&Tensor],
        axis: usize,
        output_shape: Vec<u64>,
        params: u64,
    ) -> Tensor {
        self.push(
            name,
            OpKind::Concat { axis: axis as u32 },
            xs,
            output_shape,
            0,
            params,
        )
    }

    /// Slice `start .. start + len` along `axis` (e.g. the class token).
    pub fn slice(&mut self, name: &str, x: &Tensor, axis: usize, start: u64, len: u64) -> Tensor {
        let mut shape = x.shape.clone();
        shape[axis] = len;
        self.push(
            name,
            OpKind::Slice {
                axis: axis as u32,
                start,
                len,
            },
            &[x],
            shape,
            0,
            0,
        )
    }

    /// A free reshape (also flatten, squeeze, unsqueeze, identity, cast).
    pub fn reshape(&mut self, name: &str, x: &Tensor, shape: &[u64]) -> Tensor {
        self.push(name, OpKind::Reshape, &[x], shape.to_vec(), 0, 0)
    }

    /// Dimension permutation: output dimension `i` is input dimension `perm[i]`.
    pub fn transpose(&mut self, name: &str, x: &Tensor, perm: &[u32]) -> Tensor {
        let shape = perm.iter().map(|&p| x.shape[p as usize]).collect();
        let n = numel(&x.shape);
        let kind = OpKind::Transpose {
            perm: perm.to_vec(),
        };
        self.push(name, kind, &[x], shape, n, 0)
    }

    /// Reduction over `axes`; one vector operation per input element.
    pub fn reduce(
        &mut self,
        name: &str,
        x: &Tensor,
        func: ReduceFunc,
        axes: &[u32],
        keep_dims: bool,
    ) -> Tensor {
        let mut shape = Vec::new();
        for (d, &size) in x.shape.iter().enumerate() {
            if !axes.contains(&(d as u32)) {
                shape.push(size);
            } else if keep_dims {
                shape.push(1);
            }
        }
        if shape.is_empty() {
            shape.push(1);
        }
        let kind = OpKind::Reduce {
            func,
            axes: axes.to_vec(),
            keep_dims,
        };
        let n = numel(&x.shape);
        self.push(name, kind, &[x], shape, n, 0)
    }

    /// Numpy-style broadcast of `x` to `shape`; one vector operation per output
    /// element.
    pub fn broadcast(&mut self, name: &str, x: &Tensor, shape: &[u64]) -> Tensor {
        let n = numel(shape);
        self.push(name, OpKind::Broadcast, &[x], shape.to_vec(), n, 0)
    }

    /// Validates and returns the graph. A builder bug is the only way this can
    /// fail, so zoo models call `expect` on it and tests cover every model.
    pub fn finish(self) -> Result<Graph, GraphError> {
        Graph::new(GraphFile {
            format_version: GRAPH_FORMAT_VERSION,
            name: self.name,
            model: self.model,
            params: self.params,
            inputs: self.inputs,
            ops: self.ops,
        })
    }
}

fn nchw(x: &Tensor, name: &str) -> [u64; 4] {
    match x.shape[..] {
        [n, c, h, w] => [n, c, h, w],
        _ => panic!("{name}: expected an NCHW tensor, got shape {:?}", x.shape),
    }
}
