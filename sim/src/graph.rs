//! Workload graph IR: operations in topological order, with shapes, element type,
//! MACs, weight bytes and output bytes, and the edges (tensors) between them.
//!
//! A [`Graph`] can only be built through validation ([`Graph::new`] or
//! deserialisation), so every graph in the program is acyclic, has no dangling
//! inputs, and agrees on tensor shapes along every edge.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

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
                rows: batch * out_hw[0] * out_hw[1],
                cols: out_channels / groups,
                reduction: kernel[0] * kernel[1] * (in_channels / groups),
            }),
            _ => None,
        }
    }

    /// Multiply-accumulates implied by the attributes (zero for non-GEMM ops).
    pub fn macs(&self) -> u64 {
        self.gemm().map_or(0, |g| g.macs())
    }
}

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
    /// Multiply-accumulates of all repeats.
    pub fn macs(&self) -> u64 {
        self.repeats * self.rows * self.cols * self.reduction
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

/// Why graph JSON could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphJsonError {
    /// The text is not graph JSON (syntax, a missing or unknown field); the
    /// parser's message, with line and column.
    Json { message: String },
    /// The file's `format_version` is not [`GRAPH_FORMAT_VERSION`].
    Version { found: u32 },
    /// The graph was read but is not valid.
    Invalid(GraphError),
}

impl fmt::Display for GraphJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphJsonError::Json { message } => f.write_str(message),
            GraphJsonError::Version { found } => write!(
                f,
                "format_version: this build reads version {GRAPH_FORMAT_VERSION}, found {found}"
            ),
            GraphJsonError::Invalid(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for GraphJsonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GraphJsonError::Invalid(e) => Some(e),
            _ => None,
        }
    }
}

/// Number of elements of a shape.
pub fn numel(shape: &[u64]) -> u64 {
    shape.iter().product()
}

impl Graph {
    /// Validates a graph and builds its edge lists.
    pub fn new(file: GraphFile) -> Result<Graph, GraphError> {
        let issues = validate(&file);
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

    /// Parses and validates tessera graph JSON.
    pub fn from_json(text: &str) -> Result<Graph, GraphJsonError> {
        let file: GraphFile = serde_json::from_str(text).map_err(|e| GraphJsonError::Json {
            message: e.to_string(),
        })?;
        if file.format_version != GRAPH_FORMAT_VERSION {
            return Err(GraphJsonError::Version {
                found: file.format_version,
            });
        }
        Graph::new(file).map_err(GraphJsonError::Invalid)
    }

    /// Serialises to pretty tessera graph JSON (stable field order).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.file).expect("graph serialises");
        text.push('\n');
        text
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

fn validate(file: &GraphFile) -> Vec<GraphIssue> {
    let mut issues = Vec::new();
    let graph_issue = |message: String| GraphIssue {
        op: None,
        op_name: None,
        message,
    };
    if file.ops.is_empty() {
        issues.push(graph_issue("graph has no ops".to_string()));
    }
    let mut input_names = BTreeMap::new();
    for (i, input) in file.inputs.iter().enumerate() {
        if input_names.insert(input.name.as_str(), i).is_some() {
            issues.push(graph_issue(format!(
                "inputs[{i}]: duplicate graph input name {:?}",
                input.name
            )));
        }
        if input.shape.is_empty() || input.shape.contains(&0) {
            issues.push(graph_issue(format!(
                "inputs[{i}] ({:?}): shape {:?} must have at least one dimension and no zero dimension",
                input.name, input.shape
            )));
        }
    }
    let mut names = BTreeMap::new();
    let mut forward_refs = false;
    for (i, op) in file.ops.iter().enumerate() {
        let mut issue = |message: String| {
            issues.push(GraphIssue {
                op: Some(i),
                op_name: Some(op.name.clone()),
                message,
            })
        };
        if op.id.idx() != i {
            issue(format!(
                "id is {}, but ops must be listed in id order (expected id {i})",
                op.id
            ));
        }
        if let Some(first) = names.insert(op.name.as_str(), i) {
            issue(format!("name is already used by ops[{first}]"));
        }
        if op.output_shape.is_empty() || op.output_shape.contains(&0) {
            issue(format!(
                "output_shape {:?} must have at least one dimension and no zero dimension",
                op.output_shape
            ));
        }
        if op.inputs.is_empty() {
            issue("has no inputs".to_string());
        }
        for (j, input) in op.inputs.iter().enumerate() {
            match &input.source {
                Source::Op(from) => {
                    if from.idx() >= i {
                        if from.idx() < file.ops.len() {
                            forward_refs = true;
                            issue(format!(
                                "inputs[{j}] reads ops[{from}], which is not earlier in topological order"
                            ));
                        } else {
                            issue(format!(
                                "inputs[{j}] reads op {from}, which does not exist (dangling input)"
                            ));
                        }
                    } else {
                        // An input may view its producer's tensor with another
                        // shape of the same size (a reshape folded into the edge).
                        let producer = &file.ops[from.idx()];
                        if numel(&producer.output_shape) != numel(&input.shape) {
                            issue(format!(
                                "inputs[{j}] has shape {:?} but ops[{from}] ({:?}) produces {:?}, a different number of elements",
                                input.shape, producer.name, producer.output_shape
                            ));
                        }
                    }
                }
                Source::GraphInput(name) => match input_names.get(name.as_str()) {
                    None => issue(format!(
                        "inputs[{j}] reads graph input {name:?}, which is not declared (dangling input)"
                    )),
                    Some(&k) => {
                        if numel(&file.inputs[k].shape) != numel(&input.shape) {
                            issue(format!(
                                "inputs[{j}] has shape {:?} but graph input {name:?} is {:?}, a different number of elements",
                                input.shape, file.inputs[k].shape
                            ));
                        }
                    }
                },
            }
        }
        let expected_output = numel(&op.output_shape) * op.dtype.bytes();
        if op.output_bytes != expected_output {
            issue(format!(
                "output_bytes is {} but output_shape {:?} of {} is {expected_output} bytes",
                op.output_bytes,
                op.output_shape,
                op.dtype.name()
            ));
        }
        if op.weight_bytes != op.params * op.dtype.bytes() {
            issue(format!(
                "weight_bytes is {} but {} params of {} are {} bytes",
                op.weight_bytes,
                op.params,
                op.dtype.name(),
                op.params * op.dtype.bytes()
            ));
        }
        for message in check_kind(op) {
            issue(message);
        }
    }
    if forward_refs && has_cycle(file) {
        issues.push(graph_issue(
            "the graph has a cycle; a workload graph must be acyclic".to_string(),
        ));
    }
    issues
}

/// Kind-specific consistency of attributes, shapes and costs.
fn check_kind(op: &Op) -> Vec<String> {
    let mut out = Vec::new();
    let out_numel = numel(&op.output_shape);
    match &op.kind {
        OpKind::MatMul { batch, m, k, n } => {
            if [*batch, *m, *k, *n].contains(&0) {
                out.push("matmul dimensions must be positive".to_string());
            } else if op.inputs.len() > 2 {
                out.push(format!(
                    "matmul takes 1 or 2 inputs, found {}",
                    op.inputs.len()
                ));
            } else if let Some((j, input)) = op.inputs.iter().enumerate().find(|(j, i)| {
                numel(&i.shape)
                    != if *j == 0 {
                        batch * m * k
                    } else {
                        batch * k * n
                    }
            }) {
                out.push(format!(
                    "inputs[{j}] shape {:?} has {} elements, but the matmul reads {}",
                    input.shape,
                    numel(&input.shape),
                    if j == 0 { batch * m * k } else { batch * k * n }
                ));
            } else if out_numel != batch * m * n {
                out.push(format!(
                    "output_shape {:?} has {out_numel} elements but batch·m·n = {}",
                    op.output_shape,
                    batch * m * n
                ));
            }
        }
        OpKind::Conv2d {
            batch,
            in_channels,
            out_channels,
            in_hw,
            out_hw,
            kernel,
            stride,
            padding,
            groups,
        } => {
            let positive = [*batch, *in_channels, *out_channels, *groups]
                .iter()
                .chain(kernel)
                .chain(stride)
                .chain(in_hw)
                .all(|&d| d > 0);
            if !positive {
                out.push("conv2d sizes, kernel, stride and groups must be positive".to_string());
            } else {
                if in_channels % groups != 0 || out_channels % groups != 0 {
                    out.push(format!(
                        "groups {groups} must divide in_channels {in_channels} and out_channels {out_channels}"
                    ));
                }
                for d in 0..2 {
                    let padded = in_hw[d] + 2 * padding[d];
                    let expect = if padded >= kernel[d] {
                        (padded - kernel[d]) / stride[d] + 1
                    } else {
                        0
                    };
                    if out_hw[d] != expect {
                        out.push(format!(
                            "out_hw[{d}] is {} but (in {} + 2·pad {} − kernel {}) / stride {} + 1 = {expect}",
                            out_hw[d], in_hw[d], padding[d], kernel[d], stride[d]
                        ));
                    }
                }
                if op.output_shape != [*batch, *out_channels, out_hw[0], out_hw[1]] {
                    out.push(format!(
                        "output_shape {:?} is not [batch, out_channels, out_h, out_w] = {:?}",
                        op.output_shape,
                        [*batch, *out_channels, out_hw[0], out_hw[1]]
                    ));
                }
            }
        }
        OpKind::Elementwise { .. } => {
            for (j, input) in op.inputs.iter().enumerate() {
                if !broadcasts_to(&input.shape, &op.output_shape) {
                    out.push(format!(
                        "inputs[{j}] shape {:?} does not broadcast to output_shape {:?}",
                        input.shape, op.output_shape
                    ));
                }
            }
        }
        OpKind::Broadcast => match op.inputs.as_slice() {
            [input] if broadcasts_to(&input.shape, &op.output_shape) => {}
            [input] => out.push(format!(
                "inputs[0] shape {:?} does not broadcast to output_shape {:?}",
                input.shape, op.output_shape
            )),
            _ => out.push(format!(
                "broadcast takes 1 input, found {}",
                op.inputs.len()
            )),
        },
        OpKind::Reshape => match op.inputs.as_slice() {
            [input] if numel(&input.shape) == out_numel => {}
            [input] => out.push(format!(
                "reshape of {:?} ({} elements) cannot give output_shape {:?} ({out_numel} elements)",
                input.shape,
                numel(&input.shape),
                op.output_shape
            )),
            _ => out.push(format!("reshape takes 1 input, found {}", op.inputs.len())),
        },
        OpKind::Transpose { perm } => match op.inputs.as_slice() {
            [input] => {
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                let is_perm = perm.len() == input.shape.len()
                    && sorted.iter().enumerate().all(|(i, &p)| p as usize == i);
                if !is_perm {
                    out.push(format!(
                        "perm {perm:?} is not a permutation of the {} input dimensions",
                        input.shape.len()
                    ));
                } else {
                    let expect: Vec<u64> = perm.iter().map(|&p| input.shape[p as usize]).collect();
                    if op.output_shape != expect {
                        out.push(format!(
                            "transposing {:?} by {perm:?} gives {expect:?}, not output_shape {:?}",
                            input.shape, op.output_shape
                        ));
                    }
                }
            }
            _ => out.push(format!("transpose takes 1 input, found {}", op.inputs.len())),
        },
        OpKind::Reduce {
            axes, keep_dims, ..
        } => match op.inputs.as_slice() {
            [input] => {
                let rank = input.shape.len();
                let mut sorted = axes.clone();
                sorted.sort_unstable();
                sorted.dedup();
                if axes.is_empty()
                    || sorted.len() != axes.len()
                    || sorted.last().is_some_and(|&a| a as usize >= rank)
                {
                    out.push(format!(
                        "reduce axes {axes:?} must be distinct and below the input rank {rank}"
                    ));
                } else {
                    let mut expect = Vec::with_capacity(rank);
                    for (d, &size) in input.shape.iter().enumerate() {
                        if !sorted.contains(&(d as u32)) {
                            expect.push(size);
                        } else if *keep_dims {
                            expect.push(1);
                        }
                    }
                    if expect.is_empty() {
                        expect.push(1);
                    }
                    if op.output_shape != expect {
                        out.push(format!(
                            "reducing {:?} over {axes:?} gives {expect:?}, not output_shape {:?}",
                            input.shape, op.output_shape
                        ));
                    }
                }
            }
            _ => out.push(format!("reduce takes 1 input, found {}", op.inputs.len())),
        },
        OpKind::Gather { axis } => match op.inputs.first() {
            Some(data) if (*axis as usize) < data.shape.len() && op.inputs.len() <= 2 => {}
            Some(data) if op.inputs.len() <= 2 => out.push(format!(
                "gather axis {axis} is out of range for data of rank {}",
                data.shape.len()
            )),
            _ => out.push(format!(
                "gather takes the data and optionally the indices, found {} inputs",
                op.inputs.len()
            )),
        },
        OpKind::LayerNorm | OpKind::BatchNorm | OpKind::Softmax => {
            for (j, input) in op.inputs.iter().enumerate() {
                if input.shape != op.output_shape {
                    out.push(format!(
                        "inputs[{j}] shape {:?} differs from output_shape {:?}; {} ops keep shapes",
                        input.shape,
                        op.output_shape,
                        op.kind.name()
                    ));
                }
            }
        }
        OpKind::Embedding { vocab, dim } => {
            if *vocab == 0 || *dim == 0 {
                out.push("embedding vocab and dim must be positive".to_string());
            } else if op.output_shape.last() != Some(dim) {
                out.push(format!(
                    "output_shape {:?} must end in dim {dim}",
                    op.output_shape
                ));
            }
        }
        OpKind::Pool { kernel, stride, .. } => {
            if kernel.contains(&0) || stride.contains(&0) {
                out.push("pool kernel and stride must be positive".to_string());
            }
        }
        OpKind::GlobalAvgPool | OpKind::Slice { .. } => {}
        OpKind::Concat { axis } => {
            if *axis as usize >= op.output_shape.len() {
                out.push(format!(
                    "concat axis {axis} is out of range for output rank {}",
                    op.output_shape.len()
                ));
            } else {
                let total: u64 = op
                    .inputs
                    .iter()
                    .map(|i| i.shape.get(*axis as usize).copied().unwrap_or(0))
                    .sum();
                // A learned tensor joined in (ViT's class token) is a parameter,
                // not an input edge, so it may make up the difference.
                let out_len = op.output_shape[*axis as usize];
                if total > out_len || (total < out_len && op.params == 0) {
                    out.push(format!(
                        "inputs sum to {total} along axis {axis}, output has {}",
                        op.output_shape[*axis as usize]
                    ));
                }
            }
        }
    }
    if let OpKind::Slice { axis, start, len } = op.kind {
        let a = axis as usize;
        match op.inputs.first() {
            Some(input) if a < input.shape.len() && a < op.output_shape.len() => {
                let mut expect = input.shape.clone();
                expect[a] = len;
                if len == 0 || start + len > input.shape[a] || op.output_shape != expect {
                    out.push(format!(
                        "slice {start}..{} on axis {axis} of {:?} does not give output_shape {:?}",
                        start + len,
                        input.shape,
                        op.output_shape
                    ));
                }
            }
            _ => out.push(format!("slice axis {axis} is out of range")),
        }
    }
    let expected_macs = op.kind.macs();
    if op.macs != expected_macs {
        out.push(format!(
            "macs is {} but the {} attributes imply {expected_macs}",
            op.macs,
            op.kind.name()
        ));
    }
    out
}

/// Whether `shape` broadcasts to `target` by numpy rules: aligned from the
/// last dimension, each dimension equals the target's or is 1.
pub fn broadcasts_to(shape: &[u64], target: &[u64]) -> bool {
    shape.len() <= target.len()
        && shape
            .iter()
            .rev()
            .zip(target.iter().rev())
            .all(|(&s, &t)| s == t || s == 1)
}

/// Kahn's algorithm over op-to-op references, ignoring the listed order.
fn has_cycle(file: &GraphFile) -> bool {
    let n = file.ops.len();
    let mut indegree = vec![0usize; n];
    let mut succ = vec![Vec::new(); n];
    for (i, op) in file.ops.iter().enumerate() {
        for input in &op.inputs {
            if let Source::Op(from) = input.source
                && from.idx() < n
            {
                indegree[i] += 1;
                succ[from.idx()].push(i);
            }
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = ready.pop() {
        seen += 1;
        for &j in &succ[i] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(j);
            }
        }
    }
    seen < n
}
