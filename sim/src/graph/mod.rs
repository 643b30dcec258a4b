//! Workload graph IR: operations in topological order, with shapes, element type,
//! MACs, weight bytes and output bytes, and the edges (tensors) between them.
//!
//! A [`Graph`] can only be built through validation ([`Graph::new`],
//! [`Graph::from_json`] or deserialisation), so every graph in the program is
//! acyclic, has no dangling inputs, and agrees on tensor shapes along every
//! edge. The parts: `validate.rs` (what a valid graph is), `json.rs` (tessera
//! graph JSON), `builder.rs` ([`GraphBuilder`], which computes shapes and costs
//! layer by layer and states the cost conventions).

mod builder;
mod derive;
mod json;
mod validate;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use builder::{BuildError, BuildProblem, Conv, GraphBuilder, Tensor, Window};
pub use json::GraphJsonError;
pub use validate::broadcasts_to;

/// Stable id of an operation: its index in topological order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpId(pub u32);

impl OpId {
    /// The id as an index into [`Graph::ops`].
    pub fn idx(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Element type of tensors and weights; it sets every byte count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DType {
    Int8,
    Fp16,
    Bf16,
    Fp32,
}

impl DType {
    /// Every element type, in the order the CLI lists them.
    pub const ALL: [DType; 4] = [DType::Int8, DType::Fp16, DType::Bf16, DType::Fp32];

    /// Bytes per element.
    pub fn bytes(self) -> u64 {
        match self {
            DType::Int8 => 1,
            DType::Fp16 | DType::Bf16 => 2,
            DType::Fp32 => 4,
        }
    }

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DType::Int8 => "int8",
            DType::Fp16 => "fp16",
            DType::Bf16 => "bf16",
            DType::Fp32 => "fp32",
        }
    }

    /// Parses a name as written in files and on the command line.
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// Element-wise functions run on a chiplet's vector unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EltFunc {
    Add,
    Mul,
    /// Multiplication by a constant (e.g. attention's 1/sqrt(d)).
    Scale,
    Relu,
    Relu6,
    Gelu,
    Tanh,
    Sigmoid,
    /// x·sigmoid(x), also called SiLU.
    Swish,
    Sub,
    Div,
    Pow,
    Sqrt,
    /// The Gauss error function (GELU's exact form is built from it).
    Erf,
    Exp,
    Neg,
    /// `cond ? a : b` (ONNX `Where`).
    Select,
}

impl EltFunc {
    /// The name used in files and tables.
    pub fn name(self) -> &'static str {
        match self {
            EltFunc::Add => "add",
            EltFunc::Mul => "mul",
            EltFunc::Scale => "scale",
            EltFunc::Relu => "relu",
            EltFunc::Relu6 => "relu6",
            EltFunc::Gelu => "gelu",
            EltFunc::Tanh => "tanh",
            EltFunc::Sigmoid => "sigmoid",
            EltFunc::Swish => "swish",
            EltFunc::Sub => "sub",
            EltFunc::Div => "div",
            EltFunc::Pow => "pow",
            EltFunc::Sqrt => "sqrt",
            EltFunc::Erf => "erf",
            EltFunc::Exp => "exp",
            EltFunc::Neg => "neg",
            EltFunc::Select => "select",
        }
    }
}

/// Pooling functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolFunc {
    Max,
    Avg,
}

/// Reductions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReduceFunc {
    Mean,
    Sum,
    Max,
    Min,
}

/// What an operation computes, with the attributes its cost model needs.
///
/// Shapes are row-major; image tensors are NCHW, sequence tensors are
/// `[batch, sequence, features]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OpKind {
    /// `batch` independent products of an `m × k` matrix by a `k × n` matrix. With
    /// weights, the `k × n` matrix (plus an optional bias of `n`) is a parameter
    /// shared by every batch entry; without, both operands are activations.
    MatMul { batch: u64, m: u64, k: u64, n: u64 },
    /// 2-D convolution over NCHW input, optionally grouped (depthwise when
    /// `groups == in_channels`).
    Conv2d {
        batch: u64,
        in_channels: u64,
        out_channels: u64,
        in_hw: [u64; 2],
        out_hw: [u64; 2],
        kernel: [u64; 2],
        stride: [u64; 2],
        padding: [u64; 2],
        groups: u64,
    },
    /// Row lookup in a `vocab × dim` table (a gather; no MACs).
    Embedding { vocab: u64, dim: u64 },
    /// Element-wise function of one or more same-shaped inputs.
    Elementwise { func: EltFunc },
    /// Layer normalisation over the last dimension.
    LayerNorm,
    /// Batch normalisation (inference form: per-channel scale and shift).
    BatchNorm,
    /// Softmax over the last dimension.
    Softmax,
    /// Windowed pooling over NCHW input.
    Pool {
        func: PoolFunc,
        kernel: [u64; 2],
        stride: [u64; 2],
        padding: [u64; 2],
    },
    /// Average over all spatial positions: NCHW → NC.
    GlobalAvgPool,
    /// Concatenation of inputs along `axis`.
    Concat { axis: u32 },
    /// Contiguous slice `start .. start + len` along `axis` (e.g. the class
    /// token that a pooler or classifier head reads). Moves data only.
    Slice { axis: u32, start: u64, len: u64 },
    /// The input seen with another shape of the same size (reshape, flatten,
    /// squeeze, unsqueeze, identity, cast): no data moves and it costs nothing.
    Reshape,
    /// Dimension permutation: output dimension `i` is input dimension
    /// `perm[i]`. Moves every element once through the vector unit.
    Transpose { perm: Vec<u32> },
    /// Reduction over `axes` of the input; reduced axes are kept with size 1
    /// when `keep_dims`, else removed.
    Reduce {
        func: ReduceFunc,
        axes: Vec<u32>,
        keep_dims: bool,
    },
    /// Repeats the input along size-1 (or missing leading) dimensions up to
    /// `output_shape`, by numpy broadcasting rules (ONNX `Expand`).
    Broadcast,
    /// Entries selected along `axis` by an index tensor (a gather over
    /// activations; a lookup in a weight table is [`OpKind::Embedding`]).
    Gather { axis: u32 },
}

impl OpKind {
    /// Short name used in tables.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::MatMul { .. } => "matmul",
            OpKind::Conv2d { .. } => "conv2d",
            OpKind::Embedding { .. } => "embedding",
            OpKind::Elementwise { .. } => "elementwise",
            OpKind::LayerNorm => "layer_norm",
            OpKind::BatchNorm => "batch_norm",
            OpKind::Softmax => "softmax",
            OpKind::Pool { .. } => "pool",
            OpKind::GlobalAvgPool => "global_avg_pool",
            OpKind::Concat { .. } => "concat",
            OpKind::Slice { .. } => "slice",
            OpKind::Reshape => "reshape",
            OpKind::Transpose { .. } => "transpose",
            OpKind::Reduce { .. } => "reduce",
            OpKind::Broadcast => "broadcast",
            OpKind::Gather { .. } => "gather",
        }
    }

    /// The GEMM this op maps onto a systolic array, if it is a matmul or conv.
    pub fn gemm(&self) -> Option<Gemm> {
        match *self {
            OpKind::MatMul { batch, m, k, n } => Some(Gemm {
                repeats: batch,
                rows: m,
                cols: n,
                reduction: k,
            }),
            OpKind::Conv2d {
                batch,
                in_channels,
                out_channels,
                out_hw,
                kernel,
                groups,
                ..
            } => Some(Gemm {
                repeats: groups,
                // Saturating: exact on a validated graph, whose MACs are at
                // most `MAX_OP_MACS` ([`OpKind::checked_macs`] refuses more).
                rows: batch.saturating_mul(out_hw[0]).saturating_mul(out_hw[1]),
                cols: out_channels.checked_div(groups).unwrap_or(0),
                reduction: kernel[0]
                    .saturating_mul(kernel[1])
                    .saturating_mul(in_channels.checked_div(groups).unwrap_or(0)),
            }),
            _ => None,
        }
    }

    /// Multiply-accumulates implied by the attributes (zero for non-GEMM
    /// ops), saturating at `u64::MAX`: exact on every validated graph.
    pub fn macs(&self) -> u64 {
        self.gemm().map_or(0, |g| g.macs())
    }

    /// Multiply-accumulates implied by the attributes, computed with checked
    /// arithmetic; the error names the product that does not fit in `u64`,
    /// with its factors.
    pub fn checked_macs(&self) -> Result<u64, CountOverflow> {
        let product = |what: &'static str, factors: &[u64]| {
            factors
                .iter()
                .try_fold(1u64, |acc, &f| acc.checked_mul(f))
                .ok_or_else(|| CountOverflow {
                    what,
                    factors: factors.to_vec(),
                })
        };
        match *self {
            OpKind::MatMul { batch, m, k, n } => product("batch × m × k × n", &[batch, m, k, n]),
            OpKind::Conv2d {
                batch,
                in_channels,
                out_channels,
                out_hw,
                kernel,
                groups,
                ..
            } => {
                let per_group = |c: u64| c.checked_div(groups).unwrap_or(0);
                product(
                    "batch × out_h × out_w × out_channels × kernel_h × kernel_w × in_channels/groups",
                    &[
                        batch,
                        out_hw[0],
                        out_hw[1],
                        groups.saturating_mul(per_group(out_channels)),
                        kernel[0],
                        kernel[1],
                        per_group(in_channels),
                    ],
                )
            }
            _ => Ok(0),
        }
    }
}

/// A product of counts that does not fit in `u64`: `what` names the
/// factors (e.g. `batch × m × k × n`), `factors` are their values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountOverflow {
    pub what: &'static str,
    pub factors: Vec<u64>,
}

impl fmt::Display for CountOverflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.factors.iter().map(u64::to_string).collect();
        write!(f, "{} = {} overflows u64", self.what, shown.join(" × "))
    }
}

impl std::error::Error for CountOverflow {}

/// A (possibly repeated) matrix product `rows × reduction` by `reduction × cols`,
/// the form in which a matmul or convolution meets a systolic array. For a conv,
/// `rows` are output pixels, `cols` output channels per group and `reduction` the
/// receptive field (kernel area × input channels per group), as in SCALE-Sim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gemm {
    pub repeats: u64,
    pub rows: u64,
    pub cols: u64,
    pub reduction: u64,
}

impl Gemm {
    /// Multiply-accumulates of all repeats, saturating at `u64::MAX` (exact
    /// for every op of a validated graph: at most [`MAX_OP_MACS`]).
    pub fn macs(&self) -> u64 {
        self.repeats
            .saturating_mul(self.rows)
            .saturating_mul(self.cols)
            .saturating_mul(self.reduction)
    }
}

/// Where an operation input comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The output of an earlier operation.
    Op(OpId),
    /// A named graph input (e.g. token ids or the image).
    GraphInput(String),
}

/// One input of an operation: its source and the shape it is read with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpInput {
    pub source: Source,
    pub shape: Vec<u64>,
}

/// One operation of the workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Op {
    pub id: OpId,
    pub name: String,
    pub kind: OpKind,
    pub inputs: Vec<OpInput>,
    pub output_shape: Vec<u64>,
    pub dtype: DType,
    /// Multiply-accumulates (matmul and conv only).
    pub macs: u64,
    /// Element operations on the vector unit (element-wise, norm, softmax, pooling).
    pub vector_ops: u64,
    /// Trainable parameters held by this op (weights and biases).
    pub params: u64,
    /// `params` × element bytes.
    pub weight_bytes: u64,
    /// Bytes of the output tensor.
    pub output_bytes: u64,
}

/// A graph input tensor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphInput {
    pub name: String,
    pub shape: Vec<u64>,
    pub dtype: DType,
}

/// A tensor flowing from one operation to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: OpId,
    pub to: OpId,
    pub bytes: u64,
}

/// The on-disk form of a graph (tessera graph JSON), before validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphFile {
    /// Format version; this build reads and writes version [`GRAPH_FORMAT_VERSION`].
    pub format_version: u32,
    pub name: String,
    /// The zoo model (or import) this graph came from, and the parameters used.
    pub model: String,
    pub params: BTreeMap<String, String>,
    pub inputs: Vec<GraphInput>,
    pub ops: Vec<Op>,
}

/// The graph JSON format version this build reads and writes.
pub const GRAPH_FORMAT_VERSION: u32 = 1;

/// A validated workload graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "GraphFile", into = "GraphFile")]
pub struct Graph {
    file: GraphFile,
    edges: Vec<Edge>,
    consumers: Vec<Vec<OpId>>,
}

/// One problem found while validating a graph, naming the op it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphIssue {
    /// Index of the op (or `None` for a graph-level problem).
    pub op: Option<usize>,
    /// The op's name, when the op exists.
    pub op_name: Option<String>,
    pub message: String,
}

impl fmt::Display for GraphIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.op, &self.op_name) {
            (Some(i), Some(name)) => write!(f, "ops[{i}] ({name:?}): {}", self.message),
            (Some(i), None) => write!(f, "ops[{i}]: {}", self.message),
            _ => write!(f, "{}", self.message),
        }
    }
}

/// Every problem found in a graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    pub issues: Vec<GraphIssue>,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphError {}

/// Number of elements of a shape, saturating at `u64::MAX`: exact for every
/// shape of a validated graph (whose tensors hold at most
/// [`MAX_TENSOR_BYTES`]); [`checked_numel`] says when it does not fit.
pub fn numel(shape: &[u64]) -> u64 {
    checked_numel(shape).unwrap_or(u64::MAX)
}

/// Number of elements of a shape, or `None` when it does not fit in `u64`.
pub fn checked_numel(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

// Limits on what a graph may hold. Validation refuses more, so that no
// count, byte size or sum over a graph's ops is ever computed past `u64`
// (the sums stay below 2^63). They are set just above what the zoo builds
// with every parameter at its own maximum at once (BERT at batch 1024,
// sequence 8192, hidden 16384, 16384 heads, FFN 65536, fp32: a 2^52-byte
// attention tensor, 2^53-MAC FFN matmuls, 2^62.7 MACs in all), so that every
// accepted zoo request still builds; real models are far below (GPT-3's
// 175 B fp16 parameters are 2^38.3 bytes). What the simulator adds up over
// links and micro-batches is bounded where graph meets package, by
// `spec::MAX_OP_CYCLES` and `spec::MAX_RUN_CYCLES`.

/// Largest tensor (a graph input, an op input as the op reads it, an output)
/// and largest weight of one op, in bytes (64 PiB).
pub const MAX_TENSOR_BYTES: u64 = 1 << 56;
/// Largest MAC count of one op (`macs`).
pub const MAX_OP_MACS: u64 = 1 << 56;
/// Largest vector-unit element operations of one op (`vector_ops`).
pub const MAX_OP_VECTOR_OPS: u64 = 1 << 56;
/// Largest sum over a graph's ops of the bytes each moves through SRAM
/// (weights, inputs and output: `cost::sram_bytes`). It bounds every byte
/// sum over a set of ops (SRAM needs, activation peaks).
pub const MAX_GRAPH_BYTES: u64 = 1 << 63;
/// Largest sum over a graph's ops of `macs`, and of `vector_ops`.
pub const MAX_GRAPH_WORK: u64 = 1 << 63;

impl Graph {
    /// Validates a graph and builds its edge lists.
    pub fn new(file: GraphFile) -> Result<Graph, GraphError> {
        let issues = validate::validate(&file);
        if !issues.is_empty() {
            return Err(GraphError { issues });
        }
        let mut edges = Vec::new();
        let mut consumers = vec![Vec::new(); file.ops.len()];
        for op in &file.ops {
            for input in &op.inputs {
                if let Source::Op(from) = input.source {
                    edges.push(Edge {
                        from,
                        to: op.id,
                        bytes: numel(&input.shape) * file.ops[from.idx()].dtype.bytes(),
                    });
                    if consumers[from.idx()].last() != Some(&op.id) {
                        consumers[from.idx()].push(op.id);
                    }
                }
            }
        }
        edges.sort();
        Ok(Graph {
            file,
            edges,
            consumers,
        })
    }

    pub fn name(&self) -> &str {
        &self.file.name
    }

    pub fn model(&self) -> &str {
        &self.file.model
    }

    /// The zoo parameters this graph was built with.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.file.params
    }

    pub fn inputs(&self) -> &[GraphInput] {
        &self.file.inputs
    }

    /// Operations in topological order; `ops()[i].id == OpId(i)`.
    pub fn ops(&self) -> &[Op] {
        &self.file.ops
    }

    pub fn op(&self, id: OpId) -> &Op {
        &self.file.ops[id.idx()]
    }

    /// Every tensor between operations, sorted by (from, to).
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// Distinct consumers of each op's output, in topological order.
    pub fn consumers(&self, id: OpId) -> &[OpId] {
        &self.consumers[id.idx()]
    }

    /// The on-disk form.
    pub fn file(&self) -> &GraphFile {
        &self.file
    }

    /// Totals over the graph.
    pub fn totals(&self) -> GraphTotals {
        let mut t = GraphTotals::default();
        for op in self.ops() {
            t.ops += 1;
            t.macs += op.macs;
            t.vector_ops += op.vector_ops;
            t.params += op.params;
            t.weight_bytes += op.weight_bytes;
            t.activation_bytes += op.output_bytes;
        }
        t
    }
}

/// Sums over a graph's operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GraphTotals {
    pub ops: u64,
    pub macs: u64,
    pub vector_ops: u64,
    pub params: u64,
    pub weight_bytes: u64,
    pub activation_bytes: u64,
}

impl TryFrom<GraphFile> for Graph {
    type Error = GraphError;
    fn try_from(file: GraphFile) -> Result<Graph, GraphError> {
        Graph::new(file)
    }
}

impl From<Graph> for GraphFile {
    fn from(g: Graph) -> GraphFile {
        g.file
    }
}
