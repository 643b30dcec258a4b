//! [`GraphBuilder`]: grows a [`Graph`] one operation at a time, computing
//! shapes, MACs, parameter counts and byte counts from layer attributes. The
//! zoo builds every model with it, importers add ops through it, and αNAS
//! builds its seed networks with it.
//!
//! Cost conventions (what `vector_ops` counts), stated once here:
//! - element-wise: one operation per output element;
//! - layer norm: four per element (mean, variance, normalise, affine);
//! - batch norm: one per element (inference form folds to a fused multiply-add);
//! - softmax: three per element (max, exponent and sum, divide);
//! - pooling: one per input element read by each window (kernel area per output);
//! - global average pooling and reductions: one per input element;
//! - transpose: one per element (it moves every element once);
//! - broadcast: one per output element;
//! - embedding, concat, slice and reshape: none (they move data or nothing;
//!   their cost is bytes).
//!
//! Views (reshape, transpose, split of heads) folded into an edge are free and
//! create no op: a consumer reads its producer's tensor with another shape of
//! the same size ([`Tensor::view`]), and its own attributes (e.g. a matmul's
//! batch, m, k, n) say how it interprets the data.
//!
//! Misuse is refused, never panicked on: every named method checks its
//! inputs (made by this builder, each shape non-empty with no zero dimension,
//! a view the size of what it views), its attributes and the ranks it needs
//! before it adds anything, and returns a [`BuildError`] naming the graph, the
//! op and the problem; counts that would overflow `u64` are refused too. A
//! refused op leaves the builder as it was. [`GraphBuilder::push`], the raw
//! form importers use, adds without checking: its mistakes are reported by
//! [`GraphBuilder::finish`], which validates the whole graph as
//! [`Graph::new`] does.

use std::collections::BTreeMap;
use std::fmt;

use super::{
    DType, EltFunc, GRAPH_FORMAT_VERSION, Graph, GraphError, GraphFile, GraphInput, MAX_OP_MACS,
    MAX_OP_VECTOR_OPS, MAX_TENSOR_BYTES, Op, OpId, OpInput, OpKind, PoolFunc, ReduceFunc, Source,
    broadcasts_to,
};

/// A tensor produced while building: where it comes from and the shape it is
/// read with.
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

    /// The same tensor seen with another shape (a reshape folded into the
    /// edge that reads it). A view must keep the number of elements; the op
    /// that reads a view of another size is refused with
    /// [`BuildProblem::ViewSize`].
    pub fn view(&self, shape: &[u64]) -> Tensor {
        Tensor {
            source: self.source.clone(),
            shape: shape.to_vec(),
        }
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

/// A square 2-D convolution's attributes, for [`GraphBuilder::conv2d`]:
/// `Conv::new(64, 3).stride(2).padding(1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv {
    pub out_channels: u64,
    /// Height and width of each filter.
    pub kernel: u64,
    pub stride: u64,
    /// Zero padding on each side, in both dimensions.
    pub padding: u64,
    /// Channel groups (`groups == in_channels` is a depthwise convolution).
    pub groups: u64,
    /// Whether each output channel adds a learned bias.
    pub bias: bool,
}

impl Conv {
    /// `out_channels` filters of `kernel × kernel`: stride 1, no padding, one
    /// group, no bias.
    pub fn new(out_channels: u64, kernel: u64) -> Conv {
        Conv {
            out_channels,
            kernel,
            stride: 1,
            padding: 0,
            groups: 1,
            bias: false,
        }
    }

    pub fn stride(self, stride: u64) -> Conv {
        Conv { stride, ..self }
    }

    pub fn padding(self, padding: u64) -> Conv {
        Conv { padding, ..self }
    }

    pub fn groups(self, groups: u64) -> Conv {
        Conv { groups, ..self }
    }

    pub fn bias(self, bias: bool) -> Conv {
        Conv { bias, ..self }
    }
}

/// A square pooling window, for [`GraphBuilder::pool`]:
/// `Window::new(3).stride(2).padding(1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub kernel: u64,
    pub stride: u64,
    pub padding: u64,
}

impl Window {
    /// A `kernel × kernel` window moved by its own size (stride = kernel), no padding.
    pub fn new(kernel: u64) -> Window {
        Window {
            kernel,
            stride: kernel,
            padding: 0,
        }
    }

    pub fn stride(self, stride: u64) -> Window {
        Window { stride, ..self }
    }

    pub fn padding(self, padding: u64) -> Window {
        Window { padding, ..self }
    }
}

/// Why the builder refused an op: the graph, the op's name and the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    /// The name of the graph being built.
    pub graph: String,
    /// The name of the op that was refused.
    pub op: String,
    pub problem: BuildProblem,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "graph {:?}, op {:?}: {}",
            self.graph, self.op, self.problem
        )
    }
}

impl std::error::Error for BuildError {}

/// What was wrong with an op. Inputs are numbered from 0 in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildProblem {
    /// An earlier op already has this name.
    DuplicateName { first: OpId },
    /// The op was given no input.
    NoInputs,
    /// The input reads an op this builder has not made, or an undeclared
    /// graph input (a tensor from another builder, say).
    UnknownSource { input: usize, source: Source },
    /// The input's shape is empty, has a zero dimension, or has 2^64 elements
    /// or more.
    BadShape { input: usize, shape: Vec<u64> },
    /// The input views a tensor of `source_shape` with a shape of another size.
    ViewSize {
        input: usize,
        shape: Vec<u64>,
        source_shape: Vec<u64>,
    },
    /// The input does not have the rank the op needs; `expected` says which.
    Rank {
        input: usize,
        shape: Vec<u64>,
        expected: &'static str,
    },
    /// The input does not have the number of elements the op reads it as.
    Elements {
        input: usize,
        shape: Vec<u64>,
        expected: u64,
    },
    /// The input's shape does not broadcast (numpy rules) against `target`.
    Broadcast {
        input: usize,
        shape: Vec<u64>,
        target: Vec<u64>,
    },
    /// A concat input differs from the output shape outside the concat axis.
    ConcatShape {
        input: usize,
        shape: Vec<u64>,
        axis: usize,
        output_shape: Vec<u64>,
    },
    /// An attribute is out of range.
    Attribute {
        name: &'static str,
        value: String,
        expected: String,
    },
    /// The output shape given (or implied) is not possible.
    OutputShape { shape: Vec<u64>, expected: String },
    /// A count (`what`: elements, parameters, MACs, bytes) exceeds `u64`.
    Overflow { what: &'static str },
    /// A count (`what`) fits in `u64` but exceeds the graph limit `limit`
    /// (one of the `MAX_*` constants of `sim::graph`).
    Limit {
        what: &'static str,
        value: u64,
        limit: &'static str,
    },
}

/// The number of elements of `shape`, or "more than 2^64".
fn show_numel(shape: &[u64]) -> String {
    product(shape).map_or("more than 2^64".to_string(), |n| n.to_string())
}

impl fmt::Display for BuildProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildProblem::DuplicateName { first } => {
                write!(f, "the name is already used by ops[{first}]")
            }
            BuildProblem::NoInputs => f.write_str("an op needs at least one input"),
            BuildProblem::UnknownSource {
                input,
                source: Source::Op(id),
            } => write!(
                f,
                "input {input} reads ops[{id}], which this builder has not made"
            ),
            BuildProblem::UnknownSource {
                input,
                source: Source::GraphInput(name),
            } => write!(
                f,
                "input {input} reads graph input {name:?}, which is not declared"
            ),
            BuildProblem::BadShape { input, shape } => write!(
                f,
                "input {input} has shape {shape:?}; a tensor needs at least one dimension, no zero dimension and fewer than 2^64 elements"
            ),
            BuildProblem::ViewSize {
                input,
                shape,
                source_shape,
            } => write!(
                f,
                "input {input} views a tensor of shape {source_shape:?} ({} elements) as {shape:?} ({} elements); a view keeps the number of elements",
                show_numel(source_shape),
                show_numel(shape)
            ),
            BuildProblem::Rank {
                input,
                shape,
                expected,
            } => write!(
                f,
                "input {input} has shape {shape:?}, but the op needs {expected}"
            ),
            BuildProblem::Elements {
                input,
                shape,
                expected,
            } => write!(
                f,
                "input {input} has shape {shape:?} ({} elements), but the op reads it as {expected} elements",
                show_numel(shape)
            ),
            BuildProblem::Broadcast {
                input,
                shape,
                target,
            } => write!(
                f,
                "input {input} has shape {shape:?}, which does not broadcast against {target:?}"
            ),
            BuildProblem::ConcatShape {
                input,
                shape,
                axis,
                output_shape,
            } => write!(
                f,
                "input {input} has shape {shape:?}, which differs from the output shape {output_shape:?} outside axis {axis}"
            ),
            BuildProblem::Attribute {
                name,
                value,
                expected,
            } => write!(f, "{name} = {value} is invalid: expected {expected}"),
            BuildProblem::OutputShape { shape, expected } => {
                write!(f, "output shape {shape:?} is invalid: expected {expected}")
            }
            BuildProblem::Overflow { what } => write!(f, "its {what} exceed 2^64"),
            BuildProblem::Limit { what, value, limit } => {
                write!(f, "its {what} are {value}, more than the limit of {limit}")
            }
        }
    }
}

/// The product of `dims`, if it fits in `u64`.
fn product(dims: &[u64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

/// The product of `dims`, or an overflow of `what`.
fn count(what: &'static str, dims: &[u64]) -> Result<u64, BuildProblem> {
    product(dims).ok_or(BuildProblem::Overflow { what })
}

/// `value` must be at least 1.
fn positive(name: &'static str, value: u64) -> Result<(), BuildProblem> {
    if value == 0 {
        return Err(BuildProblem::Attribute {
            name,
            value: "0".to_string(),
            expected: "at least 1".to_string(),
        });
    }
    Ok(())
}

/// The shape must have rank `rank`, described as `expected`.
fn rank_is(
    input: usize,
    x: &Tensor,
    rank: usize,
    expected: &'static str,
) -> Result<(), BuildProblem> {
    if x.rank() != rank {
        return Err(BuildProblem::Rank {
            input,
            shape: x.shape.clone(),
            expected,
        });
    }
    Ok(())
}

/// The output size of a window of `kernel` moved by `stride` over `size`
/// padded by `padding` on both sides.
fn window_out(size: u64, kernel: u64, stride: u64, padding: u64) -> Result<u64, BuildProblem> {
    let padded = padding
        .checked_mul(2)
        .and_then(|p| p.checked_add(size))
        .ok_or(BuildProblem::Overflow {
            what: "padded input size",
        })?;
    if kernel > padded {
        return Err(BuildProblem::Attribute {
            name: "kernel",
            value: kernel.to_string(),
            expected: format!("at most the padded input size {padded}"),
        });
    }
    Ok((padded - kernel) / stride + 1)
}

/// The numpy broadcast of `a` and `b`, if they broadcast.
fn broadcast(a: &[u64], b: &[u64]) -> Option<Vec<u64>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[u64], i: usize| {
        let lead = rank - s.len();
        if i < lead { 1 } else { s[i - lead] }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// What a named method decided about an op once its inputs were checked.
struct Planned {
    kind: OpKind,
    output_shape: Vec<u64>,
    vector_ops: u64,
    params: u64,
}

/// A fully connected layer: `m` rows of `k` by a `k × n` weight (plus an `n`
/// bias), written as `output_shape`.
fn dense(
    m: u64,
    k: u64,
    n: u64,
    bias: bool,
    output_shape: Vec<u64>,
) -> Result<Planned, BuildProblem> {
    positive("n", n)?;
    count("MACs", &[m, k, n])?;
    let params = count("parameters", &[k, n])?
        .checked_add(if bias { n } else { 0 })
        .ok_or(BuildProblem::Overflow { what: "parameters" })?;
    Ok(Planned {
        kind: OpKind::MatMul { batch: 1, m, k, n },
        output_shape,
        vector_ops: 0,
        params,
    })
}

/// Grows a graph in topological order. Every tensor and weight has the
/// builder's element type.
///
/// ```
/// use sim::graph::{Conv, DType, EltFunc, GraphBuilder, PoolFunc, Window};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut b = GraphBuilder::new("tiny-cnn", "example", DType::Int8);
/// let x = b.input("image", &[1, 3, 32, 32]);
/// let h = b.conv2d("conv1", &x, Conv::new(16, 3).padding(1).bias(true))?;
/// let h = b.eltwise("relu1", EltFunc::Relu, &[&h], 0)?;
/// let h = b.pool("pool1", &h, PoolFunc::Max, Window::new(2))?;
/// let h = b.global_avg_pool("gap", &h)?;
/// b.linear("fc", &h, 10, true)?;
/// // A mistake is an error naming the op, not a panic.
/// let e = b.conv2d("oops", &h, Conv::new(8, 3)).unwrap_err();
/// assert_eq!(e.op, "oops");
/// let graph = b.finish()?;
/// assert_eq!(graph.ops().len(), 5);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct GraphBuilder {
    name: String,
    model: String,
    params: BTreeMap<String, String>,
    dtype: DType,
    inputs: Vec<GraphInput>,
    /// Index of each graph input by name (the first, if a name repeats).
    input_index: BTreeMap<String, usize>,
    ops: Vec<Op>,
    /// Id of each op by name (the first, if a name repeats).
    op_index: BTreeMap<String, OpId>,
}

impl GraphBuilder {
    /// Starts an empty graph named `name`, recording `model` as where it came
    /// from (a zoo model's name, `onnx:FILE`, ...). Its tensors and weights are
    /// all of `dtype`.
    pub fn new(name: impl Into<String>, model: impl Into<String>, dtype: DType) -> Self {
        GraphBuilder {
            name: name.into(),
            model: model.into(),
            params: BTreeMap::new(),
            dtype,
            inputs: Vec::new(),
            input_index: BTreeMap::new(),
            ops: Vec::new(),
            op_index: BTreeMap::new(),
        }
    }

    /// The element type of every tensor and weight.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Ops added so far.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Records a model parameter (for the graph's provenance).
    pub fn record_param(&mut self, key: &str, value: impl ToString) {
        self.params.insert(key.to_string(), value.to_string());
    }

    /// Declares a graph input. Index inputs (token ids) use the graph's dtype
    /// for their byte count too; they never cross chips after the embedding.
    /// A bad shape (empty, or with a zero dimension) is refused by the first
    /// op that reads the input; a repeated name by [`GraphBuilder::finish`].
    pub fn input(&mut self, name: &str, shape: &[u64]) -> Tensor {
        self.input_index
            .entry(name.to_string())
            .or_insert(self.inputs.len());
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

    /// Appends an op with the given attributes, unchecked, and returns its
    /// output tensor; MACs and byte counts follow from the kind, shape and
    /// dtype. Importers use it for ops the named methods do not cover; its
    /// mistakes are reported by [`GraphBuilder::finish`].
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
        // Saturating, never wrapping: a count beyond `u64` (or beyond the
        // limits in `graph/mod.rs`) is refused by `finish`'s validation.
        let macs = kind.macs();
        let output_bytes = super::numel(&output_shape).saturating_mul(self.dtype.bytes());
        self.op_index.entry(name.to_string()).or_insert(id);
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
            weight_bytes: params.saturating_mul(self.dtype.bytes()),
            output_bytes,
        });
        Tensor {
            source: Source::Op(id),
            shape: output_shape,
        }
    }

    fn error(&self, op: &str, problem: BuildProblem) -> BuildError {
        BuildError {
            graph: self.name.clone(),
            op: op.to_string(),
            problem,
        }
    }

    /// The shape of the tensor `source` names, if this builder made it.
    fn source_shape(&self, source: &Source) -> Option<&[u64]> {
        match source {
            Source::Op(id) => self.ops.get(id.idx()).map(|op| op.output_shape.as_slice()),
            Source::GraphInput(name) => self
                .input_index
                .get(name)
                .map(|&k| self.inputs[k].shape.as_slice()),
        }
    }

    /// Checks the name and the inputs of an op about to be added.
    fn check_inputs(&self, name: &str, inputs: &[&Tensor]) -> Result<(), BuildProblem> {
        if let Some(&first) = self.op_index.get(name) {
            return Err(BuildProblem::DuplicateName { first });
        }
        if inputs.is_empty() {
            return Err(BuildProblem::NoInputs);
        }
        for (input, t) in inputs.iter().enumerate() {
            let numel = product(&t.shape);
            if t.shape.is_empty() || t.shape.contains(&0) || numel.is_none() {
                return Err(BuildProblem::BadShape {
                    input,
                    shape: t.shape.clone(),
                });
            }
            let Some(source_shape) = self.source_shape(&t.source) else {
                return Err(BuildProblem::UnknownSource {
                    input,
                    source: t.source.clone(),
                });
            };
            if product(source_shape) != numel {
                return Err(BuildProblem::ViewSize {
                    input,
                    shape: t.shape.clone(),
                    source_shape: source_shape.to_vec(),
                });
            }
        }
        Ok(())
    }

    /// Checks an op's output shape and byte counts, so that `push` cannot
    /// overflow. (The plans of matmuls and convolutions check their MACs.)
    fn check_output(&self, p: &Planned) -> Result<(), BuildProblem> {
        let shape = &p.output_shape;
        let numel = product(shape);
        if shape.is_empty() || shape.contains(&0) || numel.is_none() {
            return Err(BuildProblem::OutputShape {
                shape: shape.clone(),
                expected: "at least one dimension, no zero dimension and fewer than 2^64 elements"
                    .to_string(),
            });
        }
        let bytes = self.dtype.bytes();
        let output_bytes = count("output bytes", &[numel.unwrap_or(0), bytes])?;
        let weight_bytes = count("weight bytes", &[p.params, bytes])?;
        let macs = p
            .kind
            .checked_macs()
            .map_err(|_| BuildProblem::Overflow { what: "MACs" })?;
        for (what, value, max, limit) in [
            (
                "output bytes",
                output_bytes,
                MAX_TENSOR_BYTES,
                "2^56 (MAX_TENSOR_BYTES)",
            ),
            (
                "weight bytes",
                weight_bytes,
                MAX_TENSOR_BYTES,
                "2^56 (MAX_TENSOR_BYTES)",
            ),
            ("MACs", macs, MAX_OP_MACS, "2^56 (MAX_OP_MACS)"),
            (
                "vector operations",
                p.vector_ops,
                MAX_OP_VECTOR_OPS,
                "2^56 (MAX_OP_VECTOR_OPS)",
            ),
        ] {
            if value > max {
                return Err(BuildProblem::Limit { what, value, limit });
            }
        }
        Ok(())
    }

    /// Adds the op `plan` describes, after checking its name, inputs and
    /// output; `plan` runs only on checked inputs.
    fn add(
        &mut self,
        name: &str,
        inputs: &[&Tensor],
        plan: impl FnOnce() -> Result<Planned, BuildProblem>,
    ) -> Result<Tensor, BuildError> {
        let planned = self
            .check_inputs(name, inputs)
            .and_then(|()| plan())
            .and_then(|p| self.check_output(&p).map(|()| p))
            .map_err(|problem| self.error(name, problem))?;
        Ok(self.push(
            name,
            planned.kind,
            inputs,
            planned.output_shape,
            planned.vector_ops,
            planned.params,
        ))
    }

    /// Fully connected layer over the last dimension: `[.., k] → [.., n]`, with
    /// a `k × n` weight and optionally an `n` bias (added in the accumulators).
    pub fn linear(
        &mut self,
        name: &str,
        x: &Tensor,
        n: u64,
        bias: bool,
    ) -> Result<Tensor, BuildError> {
        self.add(name, &[x], || {
            let k = *x.shape.last().expect("checked: rank ≥ 1");
            let m = count("elements", &x.shape)? / k;
            let mut shape = x.shape.clone();
            *shape.last_mut().expect("rank ≥ 1") = n;
            dense(m, k, n, bias, shape)
        })
    }

    /// Fully connected layer over everything but the first dimension:
    /// `[batch, ..] → [batch, n]`. The flatten is a view: the matmul reads the
    /// producer's tensor as `batch × (product of the other dimensions)`, so a
    /// classifier can read an NCHW feature map directly (TF-slim's `flatten`
    /// before `fully_connected`).
    pub fn flatten_linear(
        &mut self,
        name: &str,
        x: &Tensor,
        n: u64,
        bias: bool,
    ) -> Result<Tensor, BuildError> {
        self.add(name, &[x], || {
            if x.rank() < 2 {
                return Err(BuildProblem::Rank {
                    input: 0,
                    shape: x.shape.clone(),
                    expected: "rank 2 or more ([batch, ..])",
                });
            }
            let m = x.shape[0];
            let k = count("elements", &x.shape)? / m;
            dense(m, k, n, bias, vec![m, n])
        })
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
    ) -> Result<Tensor, BuildError> {
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
    ) -> Result<Tensor, BuildError> {
        self.add(name, &[a, b], || {
            for (attr, v) in [("batch", batch), ("m", m), ("k", k), ("n", n)] {
                positive(attr, v)?;
            }
            for (input, t, dims) in [(0, a, [batch, m, k]), (1, b, [batch, k, n])] {
                let expected = count("elements", &dims)?;
                if product(&t.shape) != Some(expected) {
                    return Err(BuildProblem::Elements {
                        input,
                        shape: t.shape.clone(),
                        expected,
                    });
                }
            }
            count("MACs", &[batch, m, k, n])?;
            let out = count("elements", &[batch, m, n])?;
            if product(out_shape) != Some(out) {
                return Err(BuildProblem::OutputShape {
                    shape: out_shape.to_vec(),
                    expected: format!("batch·m·n = {out} elements"),
                });
            }
            Ok(Planned {
                kind: OpKind::MatMul { batch, m, k, n },
                output_shape: out_shape.to_vec(),
                vector_ops: 0,
                params: 0,
            })
        })
    }

    /// The first token of each sequence: `[batch, seq, dim] → [batch, 1, dim]`
    /// (BERT's pooler and ViT's head read only the class token). A slice op
    /// moves only the kept rows, so when the consumer sits on another chip only
    /// `batch × dim` elements cross the package.
    pub fn first_token(&mut self, name: &str, x: &Tensor) -> Result<Tensor, BuildError> {
        rank_is(0, x, 3, "[batch, seq, dim]").map_err(|p| self.error(name, p))?;
        self.slice(name, x, 1, 0, 1)
    }

    /// 2-D convolution of NCHW `x`.
    pub fn conv2d(&mut self, name: &str, x: &Tensor, conv: Conv) -> Result<Tensor, BuildError> {
        self.add(name, &[x], || {
            rank_is(0, x, 4, "an NCHW tensor [batch, channels, height, width]")?;
            let [batch, in_channels, h, w] = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
            let Conv {
                out_channels,
                kernel,
                stride,
                padding,
                groups,
                bias,
            } = conv;
            positive("out_channels", out_channels)?;
            positive("kernel", kernel)?;
            positive("stride", stride)?;
            positive("groups", groups)?;
            if in_channels % groups != 0 || out_channels % groups != 0 {
                return Err(BuildProblem::Attribute {
                    name: "groups",
                    value: groups.to_string(),
                    expected: format!(
                        "a divisor of in_channels {in_channels} and out_channels {out_channels}"
                    ),
                });
            }
            let out_hw = [
                window_out(h, kernel, stride, padding)?,
                window_out(w, kernel, stride, padding)?,
            ];
            let weights = count(
                "parameters",
                &[out_channels, in_channels / groups, kernel, kernel],
            )?;
            // Each weight meets every output pixel once: the MACs are
            // `OpKind::macs`, whose partial products (of factors ≥ 1) are
            // then below this one.
            count("MACs", &[weights, batch, out_hw[0], out_hw[1]])?;
            let params = weights
                .checked_add(if bias { out_channels } else { 0 })
                .ok_or(BuildProblem::Overflow { what: "parameters" })?;
            Ok(Planned {
                kind: OpKind::Conv2d {
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
                output_shape: vec![batch, out_channels, out_hw[0], out_hw[1]],
                vector_ops: 0,
                params,
            })
        })
    }

    /// Batch normalisation over dimension 1 (`[batch, channels, ..]`): γ and β
    /// per channel are the parameters; running statistics are buffers, not
    /// parameters, as in PyTorch.
    pub fn batch_norm(&mut self, name: &str, x: &Tensor) -> Result<Tensor, BuildError> {
        self.add(name, &[x], || {
            if x.rank() < 2 {
                return Err(BuildProblem::Rank {
                    input: 0,
                    shape: x.shape.clone(),
                    expected: "rank 2 or more ([batch, channels, ..])",
                });
            }
            Ok(Planned {
                kind: OpKind::BatchNorm,
                output_shape: x.shape.clone(),
                vector_ops: count("elements", &x.shape)?,
                params: count("parameters", &[2, x.shape[1]])?,
            })
        })
    }

    /// Layer normalisation over the last dimension (γ and β parameters).
    pub fn layer_norm(&mut self, name: &str, x: &Tensor) -> Result<Tensor, BuildError> {
        self.add(name, &[x], || {
            let d = *x.shape.last().expect("checked: rank ≥ 1");
            Ok(Planned {
                kind: OpKind::LayerNorm,
                output_shape: x.shape.clone(),
                vector_ops: count("vector operations", &[4, count("elements", &x.shape)?])?,
                params: count("parameters", &[2, d])?,
            })
        })
    }

    /// Softmax over the last dimension.
    pub fn softmax(&mut self, name: &str, x: &Tensor) -> Result<Tensor, BuildError> {
        self.add(name, &[x], || {
            Ok(Planned {
                kind: OpKind::Softmax,
                output_shape: x.shape.clone(),
                vector_ops: count("vector operations", &[3, count("elements", &x.shape)?])?,
                params: 0,
            })
        })
    }

    /// Element-wise function of inputs whose shapes broadcast together (numpy
    /// rules); the output has the broadcast shape. `params` counts any
    /// parameter tensor the op adds in (e.g. a learned position embedding).
    pub fn eltwise(
        &mut self,
        name: &str,
        func: EltFunc,
        xs: &[&Tensor],
        params: u64,
    ) -> Result<Tensor, BuildError> {
        self.add(name, xs, || {
            let mut shape = xs[0].shape.clone();
            for (input, x) in xs.iter().enumerate().skip(1) {
                shape = broadcast(&shape, &x.shape).ok_or_else(|| BuildProblem::Broadcast {
                    input,
                    shape: x.shape.clone(),
                    target: shape.clone(),
                })?;
            }
            Ok(Planned {
                kind: OpKind::Elementwise { func },
                vector_ops: count("elements", &shape)?,
                output_shape: shape,
                params,
            })
        })
    }

    /// Embedding lookup in a `vocab × dim` table: ids of shape `s` give
    /// `s ++ [dim]`.
    pub fn embedding(
        &mut self,
        name: &str,
        ids: &Tensor,
        vocab: u64,
        dim: u64,
    ) -> Result<Tensor, BuildError> {
        self.add(name, &[ids], || {
            positive("vocab", vocab)?;
            positive("dim", dim)?;
            let mut shape = ids.shape.clone();
            shape.push(dim);
            Ok(Planned {
                kind: OpKind::Embedding { vocab, dim },
                output_shape: shape,
                vector_ops: 0,
                params: count("parameters", &[vocab, dim])?,
            })
        })
    }

    /// Windowed pooling of NCHW `x`.
    pub fn pool(
        &mut self,
        name: &str,
        x: &Tensor,
        func: PoolFunc,
        window: Window,
    ) -> Result<Tensor, BuildError> {
        self.add(name, &[x], || {
            rank_is(0, x, 4, "an NCHW tensor [batch, channels, height, width]")?;
            let Window {
                kernel,
                stride,
                padding,
            } = window;
            positive("kernel", kernel)?;
            positive("stride", stride)?;
            let shape = vec![
                x.shape[0],
                x.shape[1],
                window_out(x.shape[2], kernel, stride, padding)?,
                window_out(x.shape[3], kernel, stride, padding)?,
            ];
            let work = count(
                "vector operations",
                &[count("elements", &shape)?, kernel, kernel],
            )?;
            Ok(Planned {
                kind: OpKind::Pool {
                    func,
                    kernel: [kernel, kernel],
                    stride: [stride, stride],
                    padding: [padding, padding],
                },
                output_shape: shape,
                vector_ops: work,
                params: 0,
            })
        })
    }

    /// Average over all spatial positions: `[N, C, H, W] → [N, C]`.
    pub fn global_avg_pool(&mut self, name: &str, x: &Tensor) -> Result<Tensor, BuildError> {
        self.add(name, &[x], || {
            rank_is(0, x, 4, "an NCHW tensor [batch, channels, height, width]")?;
            Ok(Planned {
                kind: OpKind::GlobalAvgPool,
                output_shape: vec![x.shape[0], x.shape[1]],
                vector_ops: count("elements", &x.shape)?,
                params: 0,
            })
        })
    }

    /// Concatenation along `axis` into `output_shape`: every input has the
    /// output's rank and its sizes outside `axis`. `params` counts a learned
    /// tensor joined in (e.g. ViT's class token), which is not an input edge
    /// and makes up the rest of the axis; without one the inputs fill it.
    pub fn concat(
        &mut self,
        name: &str,
        xs: &[&Tensor],
        axis: usize,
        output_shape: Vec<u64>,
        params: u64,
    ) -> Result<Tensor, BuildError> {
        self.add(name, xs, || {
            let rank = output_shape.len();
            if axis >= rank {
                return Err(BuildProblem::Attribute {
                    name: "axis",
                    value: axis.to_string(),
                    expected: format!("below the output rank {rank}"),
                });
            }
            let mut total = 0u64;
            for (input, x) in xs.iter().enumerate() {
                let same_outside = x.rank() == rank
                    && (0..rank).all(|d| d == axis || x.shape[d] == output_shape[d]);
                if !same_outside {
                    return Err(BuildProblem::ConcatShape {
                        input,
                        shape: x.shape.clone(),
                        axis,
                        output_shape: output_shape.clone(),
                    });
                }
                total = total.saturating_add(x.shape[axis]);
            }
            let out_len = output_shape[axis];
            if total > out_len || (total < out_len && params == 0) {
                return Err(BuildProblem::OutputShape {
                    shape: output_shape.clone(),
                    expected: format!(
                        "{total} along axis {axis}, the inputs' sum (more only with a learned tensor, params > 0)"
                    ),
                });
            }
            Ok(Planned {
                kind: OpKind::Concat { axis: axis as u32 },
                output_shape: output_shape.clone(),
                vector_ops: 0,
                params,
            })
        })
    }

    /// Slice `start .. start + len` along `axis` (e.g. the class token).
    pub fn slice(
        &mut self,
        name: &str,
        x: &Tensor,
        axis: usize,
        start: u64,
        len: u64,
    ) -> Result<Tensor, BuildError> {
        self.add(name, &[x], || {
            if axis >= x.rank() {
                return Err(BuildProblem::Attribute {
                    name: "axis",
                    value: axis.to_string(),
                    expected: format!("below the input rank {}", x.rank()),
                });
            }
            positive("len", len)?;
            if start.checked_add(len).is_none_or(|end| end > x.shape[axis]) {
                return Err(BuildProblem::Attribute {
                    name: "start",
                    value: start.to_string(),
                    expected: format!(
                        "start + len {len} at most {}, the size of axis {axis}",
                        x.shape[axis]
                    ),
                });
            }
            let mut shape = x.shape.clone();
            shape[axis] = len;
            Ok(Planned {
                kind: OpKind::Slice {
                    axis: axis as u32,
                    start,
                    len,
                },
                output_shape: shape,
                vector_ops: 0,
                params: 0,
            })
        })
    }

    /// A free reshape op (also flatten, squeeze, unsqueeze, identity, cast) to
    /// `shape`, of the same number of elements. (A reshape folded into the
    /// edge that reads it needs no op: see [`Tensor::view`].)
    pub fn reshape(&mut self, name: &str, x: &Tensor, shape: &[u64]) -> Result<Tensor, BuildError> {
        self.add(name, &[x], || {
            let n = count("elements", &x.shape)?;
            if product(shape) != Some(n) {
                return Err(BuildProblem::OutputShape {
                    shape: shape.to_vec(),
                    expected: format!("{n} elements, as the input has"),
                });
            }
            Ok(Planned {
                kind: OpKind::Reshape,
                output_shape: shape.to_vec(),
                vector_ops: 0,
                params: 0,
            })
        })
    }

    /// Dimension permutation: output dimension `i` is input dimension `perm[i]`.
    pub fn transpose(
        &mut self,
        name: &str,
        x: &Tensor,
        perm: &[u32],
    ) -> Result<Tensor, BuildError> {
        self.add(name, &[x], || {
            let mut sorted = perm.to_vec();
            sorted.sort_unstable();
            let is_perm =
                perm.len() == x.rank() && sorted.iter().enumerate().all(|(i, &p)| p as usize == i);
            if !is_perm {
                return Err(BuildProblem::Attribute {
                    name: "perm",
                    value: format!("{perm:?}"),
                    expected: format!("a permutation of 0..{}", x.rank()),
                });
            }
            Ok(Planned {
                kind: OpKind::Transpose {
                    perm: perm.to_vec(),
                },
                output_shape: perm.iter().map(|&p| x.shape[p as usize]).collect(),
                vector_ops: count("elements", &x.shape)?,
                params: 0,
            })
        })
    }

    /// Reduction over `axes`; reduced axes are kept with size 1 when
    /// `keep_dims`, else removed (a full reduction without `keep_dims` gives
    /// `[1]`).
    pub fn reduce(
        &mut self,
        name: &str,
        x: &Tensor,
        func: ReduceFunc,
        axes: &[u32],
        keep_dims: bool,
    ) -> Result<Tensor, BuildError> {
        self.add(name, &[x], || {
            let mut sorted = axes.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            if axes.is_empty()
                || sorted.len() != axes.len()
                || sorted.last().is_some_and(|&a| a as usize >= x.rank())
            {
                return Err(BuildProblem::Attribute {
                    name: "axes",
                    value: format!("{axes:?}"),
                    expected: format!("distinct axes below the input rank {}", x.rank()),
                });
            }
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
            Ok(Planned {
                kind: OpKind::Reduce {
                    func,
                    axes: axes.to_vec(),
                    keep_dims,
                },
                output_shape: shape,
                vector_ops: count("elements", &x.shape)?,
                params: 0,
            })
        })
    }

    /// Numpy-style broadcast of `x` to `shape`; one vector operation per output
    /// element.
    pub fn broadcast(
        &mut self,
        name: &str,
        x: &Tensor,
        shape: &[u64],
    ) -> Result<Tensor, BuildError> {
        self.add(name, &[x], || {
            if !broadcasts_to(&x.shape, shape) {
                return Err(BuildProblem::Broadcast {
                    input: 0,
                    shape: x.shape.clone(),
                    target: shape.to_vec(),
                });
            }
            Ok(Planned {
                kind: OpKind::Broadcast,
                output_shape: shape.to_vec(),
                vector_ops: count("elements", shape)?,
                params: 0,
            })
        })
    }

    /// Validates and returns the graph, or every problem found. For a graph
    /// built with the named methods alone only three remain possible: no op
    /// at all, a repeated input name, or a bad shape of an input no op reads.
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

#[cfg(test)]
mod tests;
