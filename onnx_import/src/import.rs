//! The import walk: every node in file order gets its outputs' shapes, element
//! types and (for small static integer tensors) values; a node that reads at
//! least one activation is lowered to IR ops, a node that reads only
//! initializers, constants and shapes is folded away.
//!
//! Parameters: each float initializer is charged once, to the first IR op that
//! consumes it directly or through static ops (Transpose, Unsqueeze, Cast…),
//! except BatchNormalization's running mean and variance (buffers, not
//! parameters). So imported totals equal `sum(p.numel() for p in
//! model.parameters())` of the exporting framework. A float ConstantOfShape
//! of a literal shape (Caffe2's stand-in for a weight) counts too, but only
//! where an op reads it as a weight (see `Importer::charge`).

use std::collections::{BTreeMap, BTreeSet};

use sim::graph::{DType, EltFunc, Graph, OpKind, PoolFunc, ReduceFunc, Source};
use sim::zoo::{GraphBuilder, Tensor};

use crate::fuse;
use crate::proto::{
    ModelProto, NodeProto, TensorProto, tensor_proto::DataType, tensor_shape_proto::dimension,
    type_proto,
};
use crate::reader::{self, Attrs, elem_name, error, is_float, is_int};
use crate::shape::{self, AutoPad, Window, numel};
use crate::{
    ErrorKind, ImportError, ImportOptions, MAX_NODES, MAX_RANK, MAX_TOTAL_VALUE_ELEMENTS,
    MAX_VALUE_ELEMENTS, NodeRef,
};

/// The ops the importer reads, in the order the docs list them.
pub const SUPPORTED_OPS: &[&str] = &[
    "MatMul",
    "Gemm",
    "Conv",
    "Relu",
    "Gelu",
    "Erf",
    "Tanh",
    "Sigmoid",
    "Exp",
    "Neg",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Sqrt",
    "Where",
    "Softmax",
    "LayerNormalization",
    "BatchNormalization",
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "ReduceMin",
    "Reshape",
    "Transpose",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Dropout",
    "Cast",
    "Concat",
    "Split",
    "Slice",
    "Gather",
    "GatherElements",
    "Expand",
    "Shape",
    "Size",
    "Constant",
    "ConstantOfShape",
    "Range",
    "Equal",
    "Less",
    "Greater",
    "LessOrEqual",
    "GreaterOrEqual",
    "And",
    "Or",
    "Xor",
    "Not",
    "Max",
    "Min",
    "CumSum",
    "GatherND",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
];

/// Sum limit for the graph's MACs and vector operations, far below `u64::MAX`
/// so that no total in the simulator can overflow.
const MAX_TOTAL: u64 = 1 << 60;

/// What a value is, beyond its shape.
#[derive(Clone, Debug)]
enum State {
    /// Computable from initializers, constants and (concrete) shapes only.
    /// `vals`: the values of a small integer tensor; `inits`: the float
    /// initializers it is computed from (parameters not yet charged).
    Static {
        vals: Option<Vec<i64>>,
        inits: Vec<u32>,
    },
    /// Depends on a graph input: read it from `source` with the value's shape.
    Act(Source),
    /// An optional output tessera does not model (e.g. MaxPool's indices).
    Unmodelled(&'static str),
}

#[derive(Clone, Debug)]
struct Value {
    shape: Vec<u64>,
    elem: i32,
    state: State,
}

impl Value {
    fn is_act(&self) -> bool {
        matches!(self.state, State::Act(_))
    }

    fn vals(&self) -> Option<&[i64]> {
        match &self.state {
            State::Static { vals: Some(v), .. } => Some(v),
            _ => None,
        }
    }

    fn inits(&self) -> &[u32] {
        match &self.state {
            State::Static { inits, .. } => inits,
            _ => &[],
        }
    }
}

/// A failure inside one node, before the node's name is attached.
struct Fail {
    kind: ErrorKind,
    message: String,
}

fn invalid(message: impl Into<String>) -> Fail {
    Fail {
        kind: ErrorKind::Invalid,
        message: message.into(),
    }
}

fn unsupported(message: impl Into<String>) -> Fail {
    Fail {
        kind: ErrorKind::Unsupported,
        message: message.into(),
    }
}

fn limit(message: impl Into<String>) -> Fail {
    Fail {
        kind: ErrorKind::Limit,
        message: message.into(),
    }
}

type R<T> = Result<T, Fail>;

/// A window op's effective (dilated) kernel, strides, pads (all begins, then
/// all ends) and `auto_pad`.
type WindowAttrs = (Vec<u64>, Vec<u64>, Vec<u64>, AutoPad);

/// The shape the IR sees: a scalar is a one-element vector.
fn ir_shape(shape: &[u64]) -> Vec<u64> {
    if shape.is_empty() {
        vec![1]
    } else {
        shape.to_vec()
    }
}

fn count(shape: &[u64]) -> R<u64> {
    numel(shape).ok_or_else(|| {
        limit(format!(
            "shape {shape:?} has more than 2^48 elements (the limit)"
        ))
    })
}

fn to_i64(d: u64) -> i64 {
    i64::try_from(d).unwrap_or(i64::MAX)
}

fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut v: Vec<u32> = a.iter().chain(b).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

pub fn import(model: ModelProto, file: &str, opts: &ImportOptions) -> Result<Graph, ImportError> {
    let opset = reader::default_opset(&model, file)?;
    let graph = model.graph.as_ref().expect("decode checks the graph");
    if graph.node.len() > MAX_NODES {
        return Err(error(
            file,
            ErrorKind::Limit,
            format!(
                "the graph has {} nodes; tessera imports at most {MAX_NODES}",
                graph.node.len()
            ),
        ));
    }
    let dtype = match opts.dtype {
        Some(d) => d,
        None => model_dtype(&model, file)?,
    };
    let stem = std::path::Path::new(file)
        .file_stem()
        .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned());
    let mut builder = GraphBuilder::new(stem, format!("onnx:{file}"), dtype);
    builder.record_param("opset", opset);
    builder.record_param("dtype", dtype.name());
    if !model.producer_name.is_empty() {
        builder.record_param("producer", &model.producer_name);
    }
    if !model.producer_version.is_empty() {
        builder.record_param("producer_version", &model.producer_version);
    }
    let fuse = opts.fuse;
    let plan = if fuse {
        fuse::plan(graph)
    } else {
        fuse::Plan::default()
    };
    let mut imp = Importer {
        file,
        opts,
        fuse,
        plan,
        absorbed: BTreeSet::new(),
        cols: BTreeMap::new(),
        cur_cols: None,
        pending_cols: None,
        pieces: Vec::new(),
        values: BTreeMap::new(),
        value_elements: 0,
        init_numel: Vec::new(),
        charged: Vec::new(),
        literals: BTreeSet::new(),
        weight_only: Vec::new(),
        builder,
        names: BTreeSet::new(),
        n_ops: 0,
        macs: 0,
        vector_ops: 0,
        params: 0,
        output_elements: 0,
    };
    imp.initializers(&graph.initializer)?;
    imp.graph_inputs(graph)?;
    for (index, node) in graph.node.iter().enumerate() {
        let name = if node.name.is_empty() {
            format!("{}_{index}", node.op_type)
        } else {
            node.name.clone()
        };
        let at = NodeRef {
            index,
            name,
            op_type: if node.domain.is_empty() || node.domain == "ai.onnx" {
                node.op_type.clone()
            } else {
                format!("{}.{}", node.domain, node.op_type)
            },
        };
        imp.node(index, &at, node).map_err(|f| ImportError {
            file: file.to_string(),
            kind: f.kind,
            node: Some(at.clone()),
            message: f.message,
        })?;
    }
    if imp.n_ops == 0 {
        return Err(error(
            file,
            ErrorKind::Invalid,
            "no node reads a graph input, so the model has no operations to simulate",
        ));
    }
    let dead = imp.shape_only_ops(graph);
    let internal = |issues: String| {
        error(
            file,
            ErrorKind::Invalid,
            format!("internal error, the imported graph is invalid: {issues}"),
        )
    };
    let g = imp.builder.finish().map_err(|e| {
        let issues: Vec<String> = e.issues.iter().map(|i| i.to_string()).collect();
        internal(issues.join("; "))
    })?;
    if !fuse {
        return Ok(g);
    }
    fuse::rewrite(g, &imp.pieces, &dead).map_err(internal)
}

/// How a projection's output columns are laid out in a value that views it:
/// each dim of the value is a row dim or one of the column factors (outer to
/// inner), so a slice along the outermost column factor is a column block.
#[derive(Clone, Debug)]
struct ColView {
    op: sim::graph::OpId,
    /// Output columns of the projection.
    n: u64,
    rows: u64,
    /// Per dim of the value: `None` for a row dim, `Some(j)` for factor `j`.
    roles: Vec<Option<usize>>,
    factors: Vec<u64>,
}

impl ColView {
    /// The column block selected by `start .. start + len` along `axis`, if
    /// that axis is the outermost column factor.
    fn block(&self, axis: usize, start: u64, len: u64) -> Option<(u64, u64)> {
        (self.roles.get(axis) == Some(&Some(0))).then(|| {
            let per = self.n / self.factors[0];
            (start * per, len * per)
        })
    }

    /// The view with `shape`, if the value is in row-major order (rows, then
    /// the column factors) and `shape` keeps rows and columns apart.
    fn reshape(&self, shape: &[u64]) -> Option<ColView> {
        let canonical = self
            .roles
            .iter()
            .skip_while(|r| r.is_none())
            .enumerate()
            .all(|(j, r)| *r == Some(j));
        if !canonical {
            return None;
        }
        let mut rows = 1u64;
        let mut split = 0;
        while split < shape.len() && rows < self.rows {
            rows = rows.checked_mul(shape[split])?;
            split += 1;
        }
        while split < shape.len() && shape[split] == 1 && rows == self.rows {
            split += 1;
        }
        let factors = shape[split..].to_vec();
        if rows != self.rows || factors.iter().product::<u64>() != self.n || factors.is_empty() {
            return None;
        }
        let mut roles = vec![None; split];
        roles.extend((0..factors.len()).map(Some));
        Some(ColView {
            roles,
            factors,
            ..self.clone()
        })
    }

    /// The view after a reshape from `from` to `to` that only drops or
    /// inserts dims of size 1 (a Squeeze or Unsqueeze, in any layout): the
    /// other dims keep their order, so they keep their roles, and the new
    /// dims of size 1 are row dims.
    fn drop_or_add_ones(&self, from: &[u64], to: &[u64]) -> Option<ColView> {
        if from.len() != self.roles.len() {
            return None;
        }
        let mut kept = from
            .iter()
            .zip(&self.roles)
            .filter(|(d, r)| !(**d == 1 && r.is_none()))
            .peekable();
        let mut roles = Vec::with_capacity(to.len());
        for &d in to {
            match kept.peek() {
                Some((k, r)) if **k == d => {
                    roles.push(**r);
                    kept.next();
                }
                _ if d == 1 => roles.push(None),
                _ => return None,
            }
        }
        (kept.next().is_none()).then(|| ColView {
            roles,
            ..self.clone()
        })
    }
}

/// The graph's element type when none is asked for: the float type of the
/// graph inputs, else of the initializers, else fp32.
fn model_dtype(model: &ModelProto, file: &str) -> Result<DType, ImportError> {
    let graph = model.graph.as_ref().expect("decode checks the graph");
    let input_types =
        graph
            .input
            .iter()
            .filter_map(|i| match i.r#type.as_ref()?.value.as_ref()? {
                type_proto::Value::TensorType(t) => Some(t.elem_type),
                _ => None,
            });
    let init_types = graph.initializer.iter().map(|t| t.data_type);
    let Some(elem) = input_types.chain(init_types).find(|&e| is_float(e)) else {
        return Ok(DType::Fp32);
    };
    match DataType::try_from(elem) {
        Ok(DataType::Float) => Ok(DType::Fp32),
        Ok(DataType::Float16) => Ok(DType::Fp16),
        Ok(DataType::Bfloat16) => Ok(DType::Bf16),
        _ => Err(error(
            file,
            ErrorKind::Unsupported,
            format!(
                "the model's float type is {}, which has no tessera dtype; choose one (fp32, fp16, bf16 or int8)",
                elem_name(elem)
            ),
        )),
    }
}

struct Importer<'a> {
    file: &'a str,
    opts: &'a ImportOptions,
    /// Whether to fuse (`ImportOptions::fuse`), and what (see `fuse.rs`).
    fuse: bool,
    plan: fuse::Plan,
    /// Bias Add nodes whose bias a MatMul, Gemm or Conv took as parameters.
    absorbed: BTreeSet<usize>,
    /// Values that view a projection's output columns, by name.
    cols: BTreeMap<String, ColView>,
    /// The column view of the current node's input 0.
    cur_cols: Option<ColView>,
    /// The column view of the current node's output, set by a projection.
    pending_cols: Option<ColView>,
    pieces: Vec<fuse::Piece>,
    values: BTreeMap<String, Value>,
    /// Elements of every small integer tensor the walk has computed so far.
    value_elements: u64,
    /// Element count of each float initializer (and of each float
    /// ConstantOfShape of a literal shape), by id.
    init_numel: Vec<u64>,
    /// Names of the initializers and of the Constant nodes' outputs: tensors
    /// whose values are written in the file.
    literals: BTreeSet<String>,
    /// Per id: a ConstantOfShape's, charged only when read as a weight.
    weight_only: Vec<bool>,
    charged: Vec<bool>,
    builder: GraphBuilder,
    names: BTreeSet<String>,
    n_ops: u64,
    macs: u64,
    vector_ops: u64,
    params: u64,
    output_elements: u64,
}

impl Importer<'_> {
    fn initializers(&mut self, inits: &[TensorProto]) -> Result<(), ImportError> {
        for t in inits {
            let fail = |m: String| {
                error(
                    self.file,
                    ErrorKind::Invalid,
                    format!("initializer {:?}: {m}", t.name),
                )
            };
            let v = tensor_value(t).map_err(|f| ImportError {
                kind: f.kind,
                ..fail(f.message)
            })?;
            let mut v = v;
            self.literals.insert(t.name.clone());
            let n = count(&v.shape).map_err(|f| fail(f.message))?;
            // A one-element float initializer is a literal (the attention
            // scale, a mask's fill value, GELU's constants), not a parameter:
            // the dynamo exporter writes these as initializers where the
            // TorchScript one writes Constant nodes, which hold none either.
            if is_float(t.data_type) && n != 1 {
                let id = self.new_param(n, false);
                v.state = State::Static {
                    vals: None,
                    inits: vec![id],
                };
            }
            self.values.insert(t.name.clone(), v);
        }
        Ok(())
    }

    fn graph_inputs(&mut self, graph: &crate::proto::GraphProto) -> Result<(), ImportError> {
        let mut used_dims = BTreeMap::new();
        for input in &graph.input {
            if self.values.contains_key(&input.name) {
                // An initializer listed as an input (IR < 4 style): a constant.
                continue;
            }
            let fail = |kind, m: String| {
                error(
                    self.file,
                    kind,
                    format!("graph input {:?}: {m}", input.name),
                )
            };
            let Some(type_proto::Value::TensorType(t)) =
                input.r#type.as_ref().and_then(|t| t.value.as_ref())
            else {
                return Err(fail(
                    ErrorKind::Unsupported,
                    "is not a tensor (sequences, maps and optionals are not imported)".into(),
                ));
            };
            let Some(shape) = &t.shape else {
                return Err(fail(ErrorKind::Invalid, "has no shape".into()));
            };
            if shape.dim.len() > MAX_RANK {
                return Err(fail(
                    ErrorKind::Limit,
                    format!(
                        "has rank {}; tessera imports at most rank {MAX_RANK}",
                        shape.dim.len()
                    ),
                ));
            }
            let mut dims = Vec::with_capacity(shape.dim.len());
            for (i, d) in shape.dim.iter().enumerate() {
                match &d.value {
                    Some(dimension::Value::DimValue(v)) if *v > 0 => dims.push(*v as u64),
                    Some(dimension::Value::DimValue(v)) => {
                        return Err(fail(
                            ErrorKind::Invalid,
                            format!("dim {i} is {v}; dims must be positive"),
                        ));
                    }
                    Some(dimension::Value::DimParam(p)) if !p.is_empty() => {
                        match self.opts.dims.get(p) {
                            Some(&v) if v > 0 => {
                                used_dims.insert(p.clone(), v);
                                dims.push(v);
                            }
                            Some(_) => {
                                return Err(fail(
                                    ErrorKind::Invalid,
                                    format!("dim {p:?} is bound to 0; dims must be positive"),
                                ));
                            }
                            None => {
                                return Err(fail(
                                    ErrorKind::UnboundDim,
                                    format!("dim {p:?} is symbolic; bind it with dims.{p}"),
                                ));
                            }
                        }
                    }
                    _ => {
                        return Err(fail(
                            ErrorKind::UnboundDim,
                            format!(
                                "dim {i} has neither a value nor a name, so it cannot be bound"
                            ),
                        ));
                    }
                }
            }
            count(&dims).map_err(|f| fail(f.kind, f.message))?;
            let tensor = self.builder.input(&input.name, &ir_shape(&dims));
            self.values.insert(
                input.name.clone(),
                Value {
                    shape: dims,
                    elem: t.elem_type,
                    state: State::Act(tensor.source),
                },
            );
        }
        for (k, v) in used_dims {
            self.builder.record_param(&format!("dims.{k}"), v);
        }
        Ok(())
    }

    fn node(&mut self, index: usize, at: &NodeRef, node: &NodeProto) -> R<()> {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(unsupported(format!(
                "ops of domain {:?} are not imported; tessera imports the default domain's {}",
                node.domain,
                SUPPORTED_OPS.join(", ")
            )));
        }
        if self.plan.skip.contains(&index) {
            // Inside a fused pattern: its outputs are read by the pattern only.
            return Ok(());
        }
        let fused = (self.plan.gelu.get(&index).map(|x| (EltFunc::Gelu, x)))
            .or_else(|| self.plan.swish.get(&index).map(|x| (EltFunc::Swish, x)));
        if let Some((func, x)) = fused {
            // The last node of a fused GELU or Swish reads the pattern's input.
            let x =
                self.values.get(x).cloned().ok_or_else(|| {
                    invalid(format!("{} input {x:?} is not defined", func.name()))
                })?;
            let out = self.fused_unary(at, func, &x)?;
            if let Some(name) = node.output.first() {
                self.values.insert(name.clone(), out);
            }
            return Ok(());
        }
        let mut ins = Vec::with_capacity(node.input.len());
        for (j, name) in node.input.iter().enumerate() {
            if name.is_empty() {
                ins.push(None);
                continue;
            }
            match self.values.get(name) {
                None => {
                    return Err(invalid(format!(
                        "input {j} {name:?} is not an initializer, a graph input or an output of an earlier node"
                    )));
                }
                Some(Value {
                    state: State::Unmodelled(what),
                    ..
                }) => {
                    return Err(unsupported(format!(
                        "input {j} {name:?} is {what}, which tessera does not model"
                    )));
                }
                Some(v) => ins.push(Some(v.clone())),
            }
        }
        self.cur_cols = node.input.first().and_then(|n| self.cols.get(n)).cloned();
        self.pending_cols = None;
        let outs = if self.absorbed.contains(&index) {
            self.bias_alias(&ins)?
        } else {
            self.op(index, at, node, &ins)?
        };
        self.track_cols(index, node, &outs);
        for (j, name) in node.output.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            let Some(v) = outs.get(j) else {
                return Err(unsupported(format!(
                    "output {j} {name:?} is not modelled by tessera"
                )));
            };
            if v.shape.len() > MAX_RANK {
                return Err(limit(format!(
                    "output {j} has rank {}; tessera imports at most rank {MAX_RANK}",
                    v.shape.len()
                )));
            }
            count(&v.shape)?;
            if let Some(vals) = v.vals() {
                // Each propagated tensor is small, but a hostile file could
                // chain a million of them: bound their total as well.
                self.value_elements += vals.len() as u64;
                if self.value_elements > MAX_TOTAL_VALUE_ELEMENTS {
                    return Err(limit(format!(
                        "the model's shape arithmetic computes more than {MAX_TOTAL_VALUE_ELEMENTS} constant elements in all; tessera propagates at most that many"
                    )));
                }
            }
            self.values.insert(name.clone(), v.clone());
        }
        Ok(())
    }

    /// A fused GELU or Swish of `x`: one element-wise op, as the zoo's
    /// `eltwise`.
    fn fused_unary(&mut self, at: &NodeRef, func: EltFunc, x: &Value) -> R<Value> {
        if x.is_act() {
            return self.eltwise(at, func, &[x], x.shape.clone(), x.elem);
        }
        Ok(Value {
            shape: x.shape.clone(),
            elem: x.elem,
            state: State::Static {
                vals: None,
                inits: x.inits().to_vec(),
            },
        })
    }

    /// A bias Add whose bias the producing MatMul, Gemm or Conv took: its
    /// output is the product's.
    fn bias_alias(&mut self, ins: &[Option<Value>]) -> R<Vec<Value>> {
        let (x, b) = match (&ins[0], &ins[1]) {
            (Some(x), Some(b)) if x.is_act() => (x, b),
            (Some(b), Some(x)) => (x, b),
            _ => return Err(invalid("a fused bias Add lost an input")),
        };
        let shape = shape::broadcast(&x.shape, &b.shape)
            .ok_or_else(|| invalid("a fused bias does not broadcast"))?;
        Ok(vec![Value { shape, ..x.clone() }])
    }

    /// The bias a fused epilogue adds to the output of node `index` of shape
    /// `out` along `axis` (the last dim, or the channel dim of a
    /// convolution), if the plan proposes one and its shape fits.
    fn epilogue_bias(&self, index: usize, out: &[u64], axis: usize) -> Option<(usize, Value)> {
        let (add, name) = self.plan.bias.get(&index)?;
        let b = self.values.get(name)?;
        if b.is_act() || !is_float(b.elem) || b.shape.len() > out.len() {
            return None;
        }
        let offset = out.len() - b.shape.len();
        let fits = b.shape.iter().enumerate().all(|(d, &size)| {
            if d + offset == axis {
                size == out[axis]
            } else {
                size == 1
            }
        });
        (fits && axis >= offset).then(|| (*add, b.clone()))
    }

    /// Takes the planned bias of node `index` into a product's parameters.
    fn take_bias(&mut self, index: usize, out: &[u64], axis: usize) -> u64 {
        match self.epilogue_bias(index, out, axis) {
            Some((add, b)) => {
                self.absorbed.insert(add);
                self.charge(Some(&b))
            }
            None => 0,
        }
    }

    /// Carries column views (see [`ColView`]) from node inputs to outputs.
    fn track_cols(&mut self, index: usize, node: &NodeProto, outs: &[Value]) {
        let Some(out_name) = node.output.first() else {
            return;
        };
        let view = if let Some(c) = self.pending_cols.take() {
            Some(c)
        } else if self.absorbed.contains(&index) {
            node.input
                .iter()
                .find_map(|n| self.cols.get(n))
                .cloned()
                .filter(|c| Some(c.roles.len()) == outs.first().map(|v| v.shape.len()))
        } else if let (Some(c), Some(out)) = (self.cur_cols.take(), outs.first()) {
            let same_source = |v: &Value| match (&v.state, self.values.get(&node.input[0])) {
                (
                    State::Act(a),
                    Some(Value {
                        state: State::Act(b),
                        ..
                    }),
                ) => a == b,
                _ => false,
            };
            match node.op_type.as_str() {
                "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Identity" | "Cast"
                | "Dropout"
                    if same_source(out) =>
                {
                    let from = self.values.get(&node.input[0]).map(|v| v.shape.clone());
                    c.reshape(&out.shape)
                        .or_else(|| c.drop_or_add_ones(from.as_deref()?, &out.shape))
                }
                "Transpose" if same_source(out) => {
                    let rank = c.roles.len();
                    let perm: Vec<usize> = match Attrs::new(node).ints("perm") {
                        Ok(Some(p)) => p.iter().map(|&d| d as usize).collect(),
                        _ => (0..rank).rev().collect(),
                    };
                    (perm.len() == rank).then(|| ColView {
                        roles: perm.iter().map(|&d| c.roles[d]).collect(),
                        ..c
                    })
                }
                _ => None,
            }
        } else {
            None
        };
        if let Some(v) = view {
            self.cols.insert(out_name.clone(), v);
        }
    }

    /// Ops whose result is read by no op and only for its shape (by Shape or
    /// Size nodes): the fusion's rewrite drops them.
    fn shape_only_ops(&self, graph: &crate::proto::GraphProto) -> BTreeSet<sim::graph::OpId> {
        let mut read: BTreeSet<String> = BTreeSet::new();
        for node in &graph.node {
            read.extend(node.input.iter().cloned());
        }
        read.extend(graph.output.iter().map(|o| o.name.clone()));
        let mut candidates = BTreeSet::new();
        let mut used = BTreeSet::new();
        for (name, v) in &self.values {
            let State::Act(Source::Op(id)) = v.state else {
                continue;
            };
            if self.plan.shape_only.contains(name) {
                candidates.insert(id);
            } else if read.contains(name) {
                used.insert(id);
            }
        }
        candidates.difference(&used).copied().collect()
    }

    /// Records slice op `id` (`start .. start + len` along `axis` of the current
    /// node's input) as a column block if the input views a projection.
    fn note_piece(&mut self, id: sim::graph::OpId, axis: usize, start: u64, len: u64) {
        if let Some(c) = &self.cur_cols
            && let Some((start, width)) = c.block(axis, start, len)
        {
            self.pieces.push(fuse::Piece {
                op: id,
                of: c.op,
                start,
                width,
            });
        }
    }

    /// Registers a tensor of `numel` parameters, not yet charged; a
    /// `weight_only` one is charged only by an op that reads it as a weight.
    fn new_param(&mut self, numel: u64, weight_only: bool) -> u32 {
        let id = self.init_numel.len() as u32;
        self.init_numel.push(numel);
        self.charged.push(false);
        self.weight_only.push(weight_only);
        id
    }

    /// Charges the not-yet-charged parameters behind `v`, read as a weight:
    /// a product's static operand, a Conv's weight or bias, a normalisation's
    /// scale or bias, an embedding table, an Add or Mul's static operand.
    fn charge(&mut self, v: Option<&Value>) -> u64 {
        self.charge_if(v, true)
    }

    /// Charges the not-yet-charged float initializers behind `v`, read other
    /// than as a weight (Concat, Where, Sub…): not the ConstantOfShape ones.
    fn charge_other(&mut self, v: Option<&Value>) -> u64 {
        self.charge_if(v, false)
    }

    fn charge_if(&mut self, v: Option<&Value>, as_weight: bool) -> u64 {
        let mut total = 0;
        if let Some(v) = v {
            for &id in v.inits() {
                if !self.charged[id as usize] && (as_weight || !self.weight_only[id as usize]) {
                    self.charged[id as usize] = true;
                    total = u64::saturating_add(total, self.init_numel[id as usize]);
                }
            }
        }
        total
    }

    fn unique_name(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 2;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// Appends one IR op reading `inputs` (activations, with their shapes).
    fn emit(
        &mut self,
        name: &str,
        kind: OpKind,
        inputs: &[&Value],
        out_shape: Vec<u64>,
        vector_ops: u64,
        params: u64,
    ) -> R<Source> {
        if out_shape.contains(&0) {
            return Err(invalid(format!(
                "produces an empty tensor {out_shape:?}; tessera graphs have no empty tensors"
            )));
        }
        let macs = checked_macs(&kind).ok_or_else(|| limit("the op's MAC count overflows"))?;
        self.macs = self
            .macs
            .checked_add(macs)
            .filter(|&m| m <= MAX_TOTAL)
            .ok_or_else(|| limit("the graph's total MACs exceed 2^60"))?;
        self.vector_ops = self
            .vector_ops
            .checked_add(vector_ops)
            .filter(|&m| m <= MAX_TOTAL)
            .ok_or_else(|| limit("the graph's total vector operations exceed 2^60"))?;
        let out_elements = count(&out_shape)?;
        for (sum, add, what) in [
            (&mut self.params, params, "parameters"),
            (&mut self.output_elements, out_elements, "output elements"),
        ] {
            *sum = sum
                .checked_add(add)
                .filter(|&m| m <= MAX_TOTAL)
                .ok_or_else(|| limit(format!("the graph's total {what} exceed 2^60")))?;
        }
        let tensors: Vec<Tensor> = inputs
            .iter()
            .map(|v| match &v.state {
                State::Act(source) => Tensor {
                    source: source.clone(),
                    shape: ir_shape(&v.shape),
                },
                _ => unreachable!("only activations are op inputs"),
            })
            .collect();
        let refs: Vec<&Tensor> = tensors.iter().collect();
        let name = self.unique_name(name);
        self.n_ops += 1;
        let t = self
            .builder
            .push(&name, kind, &refs, ir_shape(&out_shape), vector_ops, params);
        Ok(t.source)
    }

    fn act(&self, source: Source, shape: Vec<u64>, elem: i32) -> Value {
        Value {
            shape,
            elem,
            state: State::Act(source),
        }
    }

    /// A shape-only op on an activation: folded into its consumers, or kept as
    /// a zero-cost Reshape op.
    fn view(&mut self, at: &NodeRef, x: &Value, shape: Vec<u64>, elem: i32) -> R<Value> {
        let State::Act(source) = &x.state else {
            unreachable!("views are of activations")
        };
        if self.opts.keep_free_ops {
            let s = self.emit(&at.name, OpKind::Reshape, &[x], shape.clone(), 0, 0)?;
            Ok(self.act(s, shape, elem))
        } else {
            Ok(self.act(source.clone(), shape, elem))
        }
    }

    /// An element-wise op: activation operands are inputs, static float
    /// initializers behind the others are parameters.
    fn eltwise(
        &mut self,
        at: &NodeRef,
        func: EltFunc,
        ins: &[&Value],
        shape: Vec<u64>,
        elem: i32,
    ) -> R<Value> {
        let acts: Vec<&Value> = ins.iter().copied().filter(|v| v.is_act()).collect();
        // Fused: a product or quotient by a constant scalar is the zoo's `scale`.
        let scalar_const =
            |v: &&Value| !v.is_act() && v.inits().is_empty() && numel(&v.shape) == Some(1);
        let func = if self.fuse
            && matches!(func, EltFunc::Mul | EltFunc::Div)
            && acts.len() == 1
            && ins.len() == 2
            && match func {
                EltFunc::Mul => ins.iter().any(scalar_const),
                _ => ins.get(1).is_some_and(scalar_const),
            } {
            EltFunc::Scale
        } else {
            func
        };
        let mut params = 0;
        let as_weight = matches!(func, EltFunc::Add | EltFunc::Mul | EltFunc::Scale);
        for v in ins.iter().filter(|v| !v.is_act()) {
            params += self.charge_if(Some(v), as_weight);
        }
        let n = count(&shape)?;
        let s = self.emit(
            &at.name,
            OpKind::Elementwise { func },
            &acts,
            shape.clone(),
            n,
            params,
        )?;
        Ok(self.act(s, shape, elem))
    }

    fn op(
        &mut self,
        index: usize,
        at: &NodeRef,
        node: &NodeProto,
        ins: &[Option<Value>],
    ) -> R<Vec<Value>> {
        let attrs = Attrs::new(node);
        let input = |j: usize| -> R<&Value> {
            ins.get(j)
                .and_then(|v| v.as_ref())
                .ok_or_else(|| invalid(format!("input {j} is missing")))
        };
        let any_act = ins.iter().flatten().any(|v| v.is_act());
        let statics = |vals: Option<Vec<i64>>| State::Static {
            vals,
            inits: ins
                .iter()
                .flatten()
                .fold(Vec::new(), |acc, v| union(&acc, v.inits())),
        };
        let op = node.op_type.as_str();
        match op {
            "Identity" | "Dropout" | "Cast" => {
                let x = input(0)?;
                let elem = if op == "Cast" {
                    a(attrs.int("to"))?.ok_or_else(|| invalid("attribute \"to\" is missing"))?
                        as i32
                } else {
                    x.elem
                };
                if op == "Dropout" && ins.len() > 2 && ins[2].as_ref().is_some_and(|t| t.is_act()) {
                    return Err(unsupported("training_mode computed from a graph input"));
                }
                let mut outs = vec![if x.is_act() {
                    self.view(at, x, x.shape.clone(), elem)?
                } else {
                    let vals = if is_int(elem) {
                        x.vals().map(<[i64]>::to_vec)
                    } else {
                        None
                    };
                    Value {
                        shape: x.shape.clone(),
                        elem,
                        state: statics(vals),
                    }
                }];
                if op == "Dropout" {
                    outs.push(Value {
                        shape: x.shape.clone(),
                        elem: DataType::Bool as i32,
                        state: State::Unmodelled("Dropout's mask"),
                    });
                }
                Ok(outs)
            }
            "Relu" | "Gelu" | "Erf" | "Tanh" | "Sigmoid" | "Sqrt" | "Exp" | "Neg" | "Not" => {
                let x = input(0)?;
                if x.is_act() {
                    let func = match op {
                        "Relu" => EltFunc::Relu,
                        "Gelu" => EltFunc::Gelu,
                        "Erf" => EltFunc::Erf,
                        "Tanh" => EltFunc::Tanh,
                        "Sigmoid" => EltFunc::Sigmoid,
                        "Sqrt" => EltFunc::Sqrt,
                        "Exp" => EltFunc::Exp,
                        "Neg" => EltFunc::Neg,
                        _ => {
                            return Err(unsupported(
                                "on a tensor computed from graph inputs (tessera folds it only on constants)",
                            ));
                        }
                    };
                    return Ok(vec![self.eltwise(
                        at,
                        func,
                        &[x],
                        x.shape.clone(),
                        x.elem,
                    )?]);
                }
                let vals = match op {
                    "Neg" => x
                        .vals()
                        .map(|v| v.iter().map(|&e| e.wrapping_neg()).collect()),
                    "Not" => x
                        .vals()
                        .map(|v| v.iter().map(|&e| i64::from(e == 0)).collect()),
                    "Relu" => x.vals().map(|v| v.iter().map(|&e| e.max(0)).collect()),
                    _ => None,
                };
                Ok(vec![Value {
                    shape: x.shape.clone(),
                    elem: x.elem,
                    state: statics(vals),
                }])
            }
            "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Equal" | "Less" | "Greater"
            | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or" | "Xor" => {
                let (x, y) = (input(0)?, input(1)?);
                let shape = shape::broadcast(&x.shape, &y.shape).ok_or_else(|| {
                    invalid(format!(
                        "inputs have shapes {:?} and {:?}, which do not broadcast",
                        x.shape, y.shape
                    ))
                })?;
                let cmp = matches!(
                    op,
                    "Equal"
                        | "Less"
                        | "Greater"
                        | "LessOrEqual"
                        | "GreaterOrEqual"
                        | "And"
                        | "Or"
                        | "Xor"
                );
                let elem = if cmp { DataType::Bool as i32 } else { x.elem };
                if any_act {
                    let func = match op {
                        "Add" => EltFunc::Add,
                        "Sub" => EltFunc::Sub,
                        "Mul" => EltFunc::Mul,
                        "Div" => EltFunc::Div,
                        "Pow" => EltFunc::Pow,
                        _ => {
                            return Err(unsupported(
                                "on a tensor computed from graph inputs (tessera folds comparisons only on constants)",
                            ));
                        }
                    };
                    return Ok(vec![self.eltwise(at, func, &[x, y], shape, elem)?]);
                }
                let f = |p: i64, q: i64| -> Option<i64> {
                    match op {
                        "Add" => p.checked_add(q),
                        "Sub" => p.checked_sub(q),
                        "Mul" => p.checked_mul(q),
                        "Div" => p.checked_div(q),
                        "Pow" => u32::try_from(q).ok().and_then(|q| p.checked_pow(q)),
                        "Equal" => Some(i64::from(p == q)),
                        "Less" => Some(i64::from(p < q)),
                        "LessOrEqual" => Some(i64::from(p <= q)),
                        "GreaterOrEqual" => Some(i64::from(p >= q)),
                        "And" => Some(i64::from(p != 0 && q != 0)),
                        "Or" => Some(i64::from(p != 0 || q != 0)),
                        "Xor" => Some(i64::from((p != 0) != (q != 0))),
                        _ => Some(i64::from(p > q)),
                    }
                };
                let vals = binary_vals(x, y, &shape, f);
                Ok(vec![Value {
                    shape,
                    elem,
                    state: statics(vals),
                }])
            }
            "Max" | "Min" => {
                // Static only (shape arithmetic: GPT-2's mask in dynamo exports).
                if any_act {
                    return Err(unsupported(
                        "on a tensor computed from graph inputs (tessera folds Max and Min only on constants)",
                    ));
                }
                let mut acc = input(0)?.clone();
                for j in 1..ins.len() {
                    let y = input(j)?;
                    let shape = shape::broadcast(&acc.shape, &y.shape).ok_or_else(|| {
                        invalid(format!(
                            "inputs have shapes {:?} and {:?}, which do not broadcast",
                            acc.shape, y.shape
                        ))
                    })?;
                    let vals = binary_vals(&acc, y, &shape, |p, q| {
                        Some(if op == "Max" { p.max(q) } else { p.min(q) })
                    });
                    acc = Value {
                        shape,
                        elem: acc.elem,
                        state: statics(vals),
                    };
                }
                Ok(vec![acc])
            }
            "CumSum" => {
                let x = input(0)?;
                if any_act {
                    return Err(unsupported(
                        "on a tensor computed from graph inputs (tessera folds CumSum only on constants)",
                    ));
                }
                let rank = x.shape.len();
                let axis = match ints(input(1)?, "the axis")? {
                    [a] => *a,
                    other => {
                        return Err(invalid(format!(
                            "the axis must be a scalar, found {} values",
                            other.len()
                        )));
                    }
                };
                let ax = shape::norm_axis(axis, rank).ok_or_else(|| {
                    invalid(format!("axis {axis} is out of range for rank {rank}"))
                })?;
                let exclusive = a(attrs.int("exclusive"))?.unwrap_or(0) != 0;
                let reverse = a(attrs.int("reverse"))?.unwrap_or(0) != 0;
                let vals = x.vals().filter(|_| is_int(x.elem)).map(|v| {
                    let n = x.shape[ax] as usize;
                    let inner = x.shape[ax + 1..].iter().product::<u64>() as usize;
                    let mut out = v.to_vec();
                    if n > 0 && inner > 0 {
                        for o in 0..v.len() / (n * inner) {
                            for i in 0..inner {
                                let mut sum = 0i64;
                                for k in 0..n {
                                    let k = if reverse { n - 1 - k } else { k };
                                    let at = (o * n + k) * inner + i;
                                    let cur = v[at];
                                    if !exclusive {
                                        sum = sum.wrapping_add(cur);
                                    }
                                    out[at] = sum;
                                    if exclusive {
                                        sum = sum.wrapping_add(cur);
                                    }
                                }
                            }
                        }
                    }
                    out
                });
                Ok(vec![Value {
                    shape: x.shape.clone(),
                    elem: x.elem,
                    state: statics(vals),
                }])
            }
            "GatherND" => {
                let (data, idx) = (input(0)?, input(1)?);
                if any_act {
                    return Err(unsupported(
                        "on a tensor computed from graph inputs (tessera folds GatherND only on constants)",
                    ));
                }
                let b = usize::try_from(a(attrs.int("batch_dims"))?.unwrap_or(0))
                    .map_err(|_| invalid("batch_dims is negative"))?;
                let (r, q) = (data.shape.len(), idx.shape.len());
                let k = idx.shape.last().copied().unwrap_or(0) as usize;
                if q < 1
                    || b >= q
                    || b >= r
                    || k < 1
                    || b + k > r
                    || idx.shape[..b] != data.shape[..b]
                {
                    return Err(invalid(format!(
                        "indices of shape {} do not index data of shape {} with batch_dims {b}",
                        fmt_shape(&idx.shape),
                        fmt_shape(&data.shape)
                    )));
                }
                let mut shape = idx.shape[..q - 1].to_vec();
                shape.extend(&data.shape[b + k..]);
                if shape.len() > MAX_RANK {
                    return Err(limit(format!(
                        "output rank {} is over the limit {MAX_RANK}",
                        shape.len()
                    )));
                }
                let vals = match (data.vals(), idx.vals()) {
                    (Some(dv), Some(iv)) if small(&shape) => {
                        let batch = count(&data.shape[..b])? as usize;
                        let per_batch = count(&data.shape[b..])? as usize;
                        let slice = count(&data.shape[b + k..])? as usize;
                        let tuples = iv.len() / k;
                        let per_batch_tuples = (tuples / batch.max(1)).max(1);
                        let mut out = Vec::with_capacity(tuples * slice);
                        for (t, tuple) in iv.chunks(k).enumerate() {
                            let mut off = 0usize;
                            for (j, &i) in tuple.iter().enumerate() {
                                let d = to_i64(data.shape[b + j]);
                                if i < -d || i >= d {
                                    return Err(invalid(format!(
                                        "index {i} is out of range for axis {} of size {d} in data {}",
                                        b + j,
                                        fmt_shape(&data.shape)
                                    )));
                                }
                                let i = if i < 0 { i + d } else { i } as usize;
                                off = off * data.shape[b + j] as usize + i;
                            }
                            let base = (t / per_batch_tuples) * per_batch + off * slice;
                            out.extend_from_slice(&dv[base..base + slice]);
                        }
                        Some(out)
                    }
                    _ => None,
                };
                Ok(vec![Value {
                    shape,
                    elem: data.elem,
                    state: statics(vals),
                }])
            }
            "Where" => {
                let (c, x, y) = (input(0)?, input(1)?, input(2)?);
                let shape = shape::broadcast(&c.shape, &x.shape)
                    .and_then(|s| shape::broadcast(&s, &y.shape))
                    .ok_or_else(|| {
                        invalid(format!(
                            "inputs have shapes {:?}, {:?} and {:?}, which do not broadcast",
                            c.shape, x.shape, y.shape
                        ))
                    })?;
                if any_act {
                    return Ok(vec![self.eltwise(
                        at,
                        EltFunc::Select,
                        &[c, x, y],
                        shape,
                        x.elem,
                    )?]);
                }
                let vals = match (c.vals(), x.vals(), y.vals()) {
                    (Some(cv), Some(xv), Some(yv)) if small(&shape) => Some(
                        (0..count(&shape)? as usize)
                            .map(|i| {
                                let ci = cv[shape::broadcast_source(i, &shape, &c.shape)];
                                if ci != 0 {
                                    xv[shape::broadcast_source(i, &shape, &x.shape)]
                                } else {
                                    yv[shape::broadcast_source(i, &shape, &y.shape)]
                                }
                            })
                            .collect(),
                    ),
                    _ => None,
                };
                Ok(vec![Value {
                    shape,
                    elem: x.elem,
                    state: statics(vals),
                }])
            }
            "MatMul" => self
                .matmul(index, at, input(0)?, input(1)?)
                .map(|v| vec![v]),
            "Gemm" => self
                .gemm(
                    index,
                    at,
                    &attrs,
                    input(0)?,
                    input(1)?,
                    ins.get(2).and_then(|v| v.as_ref()),
                )
                .map(|v| vec![v]),
            "Conv" => self
                .conv(
                    index,
                    at,
                    &attrs,
                    input(0)?,
                    input(1)?,
                    ins.get(2).and_then(|v| v.as_ref()),
                )
                .map(|v| vec![v]),
            "MaxPool" | "AveragePool" => {
                let mut outs = vec![self.pool(at, &attrs, op == "MaxPool", input(0)?)?];
                outs.push(Value {
                    shape: outs[0].shape.clone(),
                    elem: DataType::Int64 as i32,
                    state: State::Unmodelled("MaxPool's Indices output"),
                });
                Ok(outs)
            }
            "GlobalAveragePool" => {
                let x = input(0)?;
                if x.shape.len() < 3 {
                    return Err(invalid(format!(
                        "input shape {:?} is not [N, C, spatial…]",
                        x.shape
                    )));
                }
                let mut shape = x.shape[..2].to_vec();
                shape.extend(std::iter::repeat_n(1, x.shape.len() - 2));
                if !x.is_act() {
                    return Ok(vec![Value {
                        shape,
                        elem: x.elem,
                        state: statics(None),
                    }]);
                }
                let n = count(&x.shape)?;
                let s = self.emit(
                    &at.name,
                    OpKind::GlobalAvgPool,
                    &[x],
                    x.shape[..2].to_vec(),
                    n,
                    0,
                )?;
                Ok(vec![self.act(s, shape, x.elem)])
            }
            "Softmax" => {
                let x = input(0)?;
                let axis = a(attrs.int("axis"))?.unwrap_or(-1);
                if shape::norm_axis(axis, x.shape.len().max(1)).is_none() {
                    return Err(invalid(format!(
                        "axis {axis} is out of range for rank {}",
                        x.shape.len()
                    )));
                }
                if !x.is_act() {
                    return Ok(vec![Value {
                        shape: x.shape.clone(),
                        elem: x.elem,
                        state: statics(None),
                    }]);
                }
                // The IR's softmax is over the last dim; another axis costs the same.
                let n = count(&x.shape)?;
                let s = self.emit(&at.name, OpKind::Softmax, &[x], x.shape.clone(), 3 * n, 0)?;
                Ok(vec![self.act(s, x.shape.clone(), x.elem)])
            }
            "LayerNormalization" => {
                let x = input(0)?;
                let axis = a(attrs.int("axis"))?.unwrap_or(-1);
                let axis = shape::norm_axis(axis, x.shape.len()).ok_or_else(|| {
                    invalid(format!(
                        "axis {axis} is out of range for rank {}",
                        x.shape.len()
                    ))
                })?;
                let norm_shape = &x.shape[axis..];
                let mut outs = vec![];
                let stat_shape: Vec<u64> = x.shape[..axis]
                    .iter()
                    .copied()
                    .chain(std::iter::repeat_n(1, x.shape.len() - axis))
                    .collect();
                let affine: Vec<Option<&Value>> =
                    vec![Some(input(1)?), ins.get(2).and_then(|v| v.as_ref())];
                for v in affine.iter().flatten() {
                    if shape::broadcast(&v.shape, norm_shape).as_deref() != Some(norm_shape) {
                        return Err(invalid(format!(
                            "scale or bias shape {:?} does not match the normalised shape {norm_shape:?}",
                            v.shape
                        )));
                    }
                }
                if x.is_act() {
                    if affine.iter().flatten().any(|v| v.is_act()) {
                        return Err(unsupported("scale or bias computed from a graph input"));
                    }
                    let params = self.charge(affine[0]) + self.charge(affine[1]);
                    let n = count(&x.shape)?;
                    let s = self.emit(
                        &at.name,
                        OpKind::LayerNorm,
                        &[x],
                        x.shape.clone(),
                        4 * n,
                        params,
                    )?;
                    outs.push(self.act(s, x.shape.clone(), x.elem));
                } else {
                    outs.push(Value {
                        shape: x.shape.clone(),
                        elem: x.elem,
                        state: statics(None),
                    });
                }
                for what in [
                    "LayerNormalization's Mean output",
                    "LayerNormalization's InvStdDev output",
                ] {
                    outs.push(Value {
                        shape: stat_shape.clone(),
                        elem: x.elem,
                        state: State::Unmodelled(what),
                    });
                }
                Ok(outs)
            }
            "BatchNormalization" => {
                let x = input(0)?;
                if a(attrs.int("training_mode"))?.unwrap_or(0) != 0 {
                    return Err(unsupported(
                        "training_mode = 1; tessera imports inference graphs",
                    ));
                }
                if x.shape.len() < 2 {
                    return Err(invalid(format!(
                        "input shape {:?} has no channel dim",
                        x.shape
                    )));
                }
                let c = x.shape[1];
                for j in 1..5 {
                    let v = input(j)?;
                    if v.shape != [c] {
                        return Err(invalid(format!(
                            "input {j} has shape {:?}, expected [{c}] (one per channel)",
                            v.shape
                        )));
                    }
                    if v.is_act() {
                        return Err(unsupported(format!(
                            "input {j} is computed from a graph input"
                        )));
                    }
                }
                let mut outs = vec![];
                if x.is_act() {
                    // Running mean and variance (inputs 3 and 4) are buffers.
                    let params = self.charge(Some(input(1)?)) + self.charge(Some(input(2)?));
                    let n = count(&x.shape)?;
                    let s = self.emit(
                        &at.name,
                        OpKind::BatchNorm,
                        &[x],
                        x.shape.clone(),
                        n,
                        params,
                    )?;
                    outs.push(self.act(s, x.shape.clone(), x.elem));
                } else {
                    outs.push(Value {
                        shape: x.shape.clone(),
                        elem: x.elem,
                        state: statics(None),
                    });
                }
                for what in [
                    "BatchNormalization's running mean output",
                    "BatchNormalization's running variance output",
                ] {
                    outs.push(Value {
                        shape: vec![c],
                        elem: x.elem,
                        state: State::Unmodelled(what),
                    });
                }
                Ok(outs)
            }
            "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" => {
                let x = input(0)?;
                let axes: Vec<i64> =
                    match (a(attrs.ints("axes"))?, ins.get(1).and_then(|v| v.as_ref())) {
                        (Some(ax), _) => ax.to_vec(),
                        (None, Some(v)) => ints(v, "axes")?.to_vec(),
                        (None, None) => vec![],
                    };
                let keep = a(attrs.int("keepdims"))?.unwrap_or(1) != 0;
                let noop = a(attrs.int("noop_with_empty_axes"))?.unwrap_or(0) != 0;
                if axes.is_empty() && noop {
                    return Ok(vec![if x.is_act() {
                        self.view(at, x, x.shape.clone(), x.elem)?
                    } else {
                        x.clone()
                    }]);
                }
                let rank = x.shape.len();
                let mut axes: Vec<usize> = if axes.is_empty() {
                    (0..rank).collect()
                } else {
                    axes.iter()
                        .map(|&ax| {
                            shape::norm_axis(ax, rank).ok_or_else(|| {
                                invalid(format!("axis {ax} is out of range for rank {rank}"))
                            })
                        })
                        .collect::<R<_>>()?
                };
                axes.sort_unstable();
                axes.dedup();
                let mut shape = Vec::new();
                for (d, &size) in x.shape.iter().enumerate() {
                    if !axes.contains(&d) {
                        shape.push(size);
                    } else if keep {
                        shape.push(1);
                    }
                }
                if !x.is_act() {
                    return Ok(vec![Value {
                        shape,
                        elem: x.elem,
                        state: statics(None),
                    }]);
                }
                if rank == 0 {
                    return Ok(vec![self.view(at, x, shape, x.elem)?]);
                }
                let func = match op {
                    "ReduceMean" => ReduceFunc::Mean,
                    "ReduceSum" => ReduceFunc::Sum,
                    "ReduceMax" => ReduceFunc::Max,
                    _ => ReduceFunc::Min,
                };
                let kind = OpKind::Reduce {
                    func,
                    axes: axes.iter().map(|&d| d as u32).collect(),
                    keep_dims: keep,
                };
                let n = count(&x.shape)?;
                let s = self.emit(&at.name, kind, &[x], shape.clone(), n, 0)?;
                Ok(vec![self.act(s, shape, x.elem)])
            }
            "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => {
                let x = input(0)?;
                let shape = match op {
                    "Reshape" => {
                        let target = ints(input(1)?, "the target shape")?;
                        if target.len() > MAX_RANK {
                            return Err(limit(format!(
                                "target shape has rank {}; tessera imports at most rank {MAX_RANK}",
                                target.len()
                            )));
                        }
                        let allowzero = a(attrs.int("allowzero"))?.unwrap_or(0) != 0;
                        shape::reshape(&x.shape, target, allowzero).map_err(invalid)?
                    }
                    "Flatten" => {
                        let axis = a(attrs.int("axis"))?.unwrap_or(1);
                        let r = x.shape.len() as i64;
                        let ax = if axis < 0 { axis + r } else { axis };
                        if !(0..=r).contains(&ax) {
                            return Err(invalid(format!(
                                "axis {axis} is out of range for rank {r}"
                            )));
                        }
                        let (l, rr) = x.shape.split_at(ax as usize);
                        vec![count(l)?, count(rr)?]
                    }
                    "Squeeze" => {
                        let axes =
                            match (ins.get(1).and_then(|v| v.as_ref()), a(attrs.ints("axes"))?) {
                                (Some(v), _) => Some(ints(v, "axes")?.to_vec()),
                                (None, Some(ax)) => Some(ax.to_vec()),
                                (None, None) => None,
                            };
                        let rank = x.shape.len();
                        match axes {
                            None => x.shape.iter().copied().filter(|&d| d != 1).collect(),
                            Some(axes) => {
                                let mut drop = vec![false; rank];
                                for &ax in &axes {
                                    let d = shape::norm_axis(ax, rank).ok_or_else(|| {
                                        invalid(format!(
                                            "axis {ax} is out of range for rank {rank}"
                                        ))
                                    })?;
                                    if x.shape[d] != 1 {
                                        return Err(invalid(format!(
                                            "cannot squeeze axis {ax} of shape {:?}: its size is {}, not 1",
                                            x.shape, x.shape[d]
                                        )));
                                    }
                                    drop[d] = true;
                                }
                                x.shape
                                    .iter()
                                    .zip(drop)
                                    .filter(|(_, dr)| !dr)
                                    .map(|(&d, _)| d)
                                    .collect()
                            }
                        }
                    }
                    _ => {
                        let axes =
                            match (ins.get(1).and_then(|v| v.as_ref()), a(attrs.ints("axes"))?) {
                                (Some(v), _) => ints(v, "axes")?.to_vec(),
                                (None, Some(ax)) => ax.to_vec(),
                                (None, None) => return Err(invalid("axes are missing")),
                            };
                        let rank = x.shape.len() + axes.len();
                        if rank > MAX_RANK {
                            return Err(limit(format!(
                                "output rank {rank} is over the limit {MAX_RANK}"
                            )));
                        }
                        let mut ones = vec![false; rank];
                        for &ax in &axes {
                            let d = shape::norm_axis(ax, rank).ok_or_else(|| {
                                invalid(format!("axis {ax} is out of range for output rank {rank}"))
                            })?;
                            if ones[d] {
                                return Err(invalid(format!("axis {ax} is repeated")));
                            }
                            ones[d] = true;
                        }
                        let mut it = x.shape.iter();
                        ones.iter()
                            .map(|&o| if o { 1 } else { *it.next().expect("counted") })
                            .collect()
                    }
                };
                if x.is_act() {
                    return Ok(vec![self.view(at, x, shape, x.elem)?]);
                }
                Ok(vec![Value {
                    shape,
                    elem: x.elem,
                    state: statics(x.vals().map(<[i64]>::to_vec)),
                }])
            }
            "Transpose" => {
                let x = input(0)?;
                let rank = x.shape.len();
                let perm: Vec<usize> = match a(attrs.ints("perm"))? {
                    None => (0..rank).rev().collect(),
                    Some(p) => p
                        .iter()
                        .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
                        .collect(),
                };
                let mut seen = vec![false; rank];
                if perm.len() != rank
                    || perm
                        .iter()
                        .any(|&d| d >= rank || std::mem::replace(&mut seen[d], true))
                {
                    return Err(invalid(format!(
                        "perm {perm:?} is not a permutation of the {rank} dims of {:?}",
                        x.shape
                    )));
                }
                let shape: Vec<u64> = perm.iter().map(|&d| x.shape[d]).collect();
                if !x.is_act() {
                    let vals = x.vals().filter(|_| rank <= 1).map(<[i64]>::to_vec);
                    return Ok(vec![Value {
                        shape,
                        elem: x.elem,
                        state: statics(vals),
                    }]);
                }
                let fold = match self.plan.transpose.get(&index) {
                    Some(fuse::FoldTranspose::IntoMatMul) => true,
                    Some(fuse::FoldTranspose::FromProducer { via_bias_add }) => {
                        via_bias_add.is_none_or(|add| self.absorbed.contains(&add))
                    }
                    None => false,
                };
                if rank <= 1 || fold {
                    return Ok(vec![self.view(at, x, shape, x.elem)?]);
                }
                let n = count(&x.shape)?;
                let kind = OpKind::Transpose {
                    perm: perm.iter().map(|&d| d as u32).collect(),
                };
                let s = self.emit(&at.name, kind, &[x], shape.clone(), n, 0)?;
                Ok(vec![self.act(s, shape, x.elem)])
            }
            "Concat" => self.concat(at, &attrs, ins).map(|v| vec![v]),
            "Split" => self.split(at, &attrs, node, ins),
            "Slice" => self.slice(at, ins).map(|v| vec![v]),
            "Gather" => self
                .gather(at, &attrs, input(0)?, input(1)?)
                .map(|v| vec![v]),
            "GatherElements" => self
                .gather_elements(at, &attrs, input(0)?, input(1)?)
                .map(|v| vec![v]),
            "Expand" => {
                let x = input(0)?;
                let target = ints(input(1)?, "the target shape")?;
                if target.len() > MAX_RANK {
                    return Err(limit(format!(
                        "target shape has rank {}; tessera imports at most rank {MAX_RANK}",
                        target.len()
                    )));
                }
                let target: Vec<u64> = target
                    .iter()
                    .map(|&d| {
                        u64::try_from(d).map_err(|_| {
                            invalid(format!("target shape {target:?} has a negative dim"))
                        })
                    })
                    .collect::<R<_>>()?;
                let shape = shape::broadcast(&x.shape, &target).ok_or_else(|| {
                    invalid(format!(
                        "input shape {:?} does not broadcast with {target:?}",
                        x.shape
                    ))
                })?;
                if x.is_act() {
                    if count(&shape)? == count(&x.shape)? {
                        return Ok(vec![self.view(at, x, shape, x.elem)?]);
                    }
                    let n = count(&shape)?;
                    let s = self.emit(&at.name, OpKind::Broadcast, &[x], shape.clone(), n, 0)?;
                    return Ok(vec![self.act(s, shape, x.elem)]);
                }
                let vals = match x.vals() {
                    Some(v) if small(&shape) => Some(
                        (0..count(&shape)? as usize)
                            .map(|i| v[shape::broadcast_source(i, &shape, &x.shape)])
                            .collect(),
                    ),
                    _ => None,
                };
                Ok(vec![Value {
                    shape,
                    elem: x.elem,
                    state: statics(vals),
                }])
            }
            "Shape" | "Size" => {
                let x = input(0)?;
                let (shape, vals) = if op == "Size" {
                    (vec![], vec![to_i64(count(&x.shape)?)])
                } else {
                    let r = x.shape.len() as i64;
                    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
                    let start = clamp(a(attrs.int("start"))?.unwrap_or(0));
                    let end = clamp(a(attrs.int("end"))?.unwrap_or(r));
                    let dims: Vec<i64> = x.shape[start..end.max(start)]
                        .iter()
                        .map(|&d| to_i64(d))
                        .collect();
                    (vec![dims.len() as u64], dims)
                };
                Ok(vec![Value {
                    shape,
                    elem: DataType::Int64 as i32,
                    state: State::Static {
                        vals: Some(vals),
                        inits: vec![],
                    },
                }])
            }
            "Constant" => {
                if let Some(name) = node.output.first() {
                    self.literals.insert(name.clone());
                }
                Ok(vec![self.constant(&attrs)?])
            }
            "ConstantOfShape" => {
                let dims = ints(input(0)?, "the shape")?;
                if dims.len() > MAX_RANK {
                    return Err(limit(format!(
                        "shape has rank {}; tessera imports at most rank {MAX_RANK}",
                        dims.len()
                    )));
                }
                let shape: Vec<u64> = dims
                    .iter()
                    .map(|&d| {
                        u64::try_from(d)
                            .map_err(|_| invalid(format!("shape {dims:?} has a negative dim")))
                    })
                    .collect::<R<_>>()?;
                let n = count(&shape)?;
                let (elem, fill) = match a(attrs.tensor("value"))? {
                    None => (DataType::Float as i32, None),
                    Some(t) => {
                        let v = tensor_value(t)?;
                        (t.data_type, v.vals().and_then(|v| v.first().copied()))
                    }
                };
                let vals = fill
                    .filter(|_| n <= MAX_VALUE_ELEMENTS)
                    .map(|f| vec![f; n as usize]);
                // A float tensor whose shape is written in the file (an
                // initializer or a Constant) is what constant folding would
                // make an initializer, and stands for a weight whose values
                // the file leaves out (Caffe2's conversions write every weight
                // so): its elements are parameters, like an initializer's.
                // One shaped like a computed shape (`zeros_like` of an
                // activation, as in the ViT export) is not.
                let literal_shape = node
                    .input
                    .first()
                    .is_some_and(|s| self.literals.contains(s));
                let inits = if is_float(elem) && literal_shape {
                    vec![self.new_param(n, true)]
                } else {
                    vec![]
                };
                Ok(vec![Value {
                    shape,
                    elem,
                    state: State::Static { vals, inits },
                }])
            }
            "Range" => {
                let scalar = |j: usize, what: &str| -> R<i64> {
                    let v = input(j)?;
                    match ints(v, what)? {
                        [x] => Ok(*x),
                        other => Err(invalid(format!(
                            "{what} must be a scalar, found {} values",
                            other.len()
                        ))),
                    }
                };
                let (start, lim, delta) = (
                    scalar(0, "start")?,
                    scalar(1, "limit")?,
                    scalar(2, "delta")?,
                );
                if delta == 0 {
                    return Err(invalid("delta is 0"));
                }
                let span = i128::from(lim) - i128::from(start);
                let d = i128::from(delta);
                let len = if (span > 0) == (d > 0) && span != 0 {
                    ((span.abs() + d.abs() - 1) / d.abs()) as u64
                } else {
                    0
                };
                let shape = vec![len];
                count(&shape)?;
                let vals = (len <= MAX_VALUE_ELEMENTS).then(|| {
                    (0..len as i64)
                        .map(|i| start.wrapping_add(i.wrapping_mul(delta)))
                        .collect()
                });
                Ok(vec![Value {
                    shape,
                    elem: input(0)?.elem,
                    state: State::Static {
                        vals,
                        inits: vec![],
                    },
                }])
            }
            _ => Err(unsupported(format!(
                "unsupported op; tessera imports: {}",
                SUPPORTED_OPS.join(", ")
            ))),
        }
    }

    fn constant(&self, attrs: &Attrs<'_>) -> R<Value> {
        if let Some(t) = a(attrs.tensor("value"))? {
            return tensor_value(t);
        }
        if let Some(i) = a(attrs.int("value_int"))? {
            return Ok(Value {
                shape: vec![],
                elem: DataType::Int64 as i32,
                state: State::Static {
                    vals: Some(vec![i]),
                    inits: vec![],
                },
            });
        }
        if let Some(v) = a(attrs.ints("value_ints"))? {
            let vals = (v.len() as u64 <= MAX_VALUE_ELEMENTS).then(|| v.to_vec());
            return Ok(Value {
                shape: vec![v.len() as u64],
                elem: DataType::Int64 as i32,
                state: State::Static {
                    vals,
                    inits: vec![],
                },
            });
        }
        if a(attrs.float("value_float"))?.is_some() {
            return Ok(Value {
                shape: vec![],
                elem: DataType::Float as i32,
                state: State::Static {
                    vals: None,
                    inits: vec![],
                },
            });
        }
        if let Some(v) = a(attrs.floats("value_floats"))? {
            return Ok(Value {
                shape: vec![v.len() as u64],
                elem: DataType::Float as i32,
                state: State::Static {
                    vals: None,
                    inits: vec![],
                },
            });
        }
        if attrs.has("sparse_value") || attrs.has("value_string") || attrs.has("value_strings") {
            return Err(unsupported("sparse and string constants are not imported"));
        }
        Err(invalid("has no value attribute"))
    }

    fn matmul(&mut self, index: usize, at: &NodeRef, x: &Value, y: &Value) -> R<Value> {
        let (ar, br) = (x.shape.len(), y.shape.len());
        if ar == 0 || br == 0 {
            return Err(invalid(format!(
                "inputs have shapes {:?} and {:?}; MatMul needs rank ≥ 1",
                x.shape, y.shape
            )));
        }
        let a2: Vec<u64> = if ar == 1 {
            vec![1, x.shape[0]]
        } else {
            x.shape.clone()
        };
        let b2: Vec<u64> = if br == 1 {
            vec![y.shape[0], 1]
        } else {
            y.shape.clone()
        };
        let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
        let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
        if k != k2 {
            return Err(invalid(format!(
                "inputs have shapes {} and {}; inner dimensions {k} and {k2} differ",
                fmt_shape(&x.shape),
                fmt_shape(&y.shape)
            )));
        }
        if k == 0 {
            return Err(invalid(format!(
                "inputs have shapes {} and {}; the inner dimension is empty",
                fmt_shape(&x.shape),
                fmt_shape(&y.shape)
            )));
        }
        let (ab, bb) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
        let batch_shape = shape::broadcast(ab, bb).ok_or_else(|| {
            invalid(format!(
                "inputs have shapes {} and {}; batch dims {ab:?} and {bb:?} do not broadcast",
                fmt_shape(&x.shape),
                fmt_shape(&y.shape)
            ))
        })?;
        let mut shape = batch_shape.clone();
        if ar > 1 {
            shape.push(m);
        }
        if br > 1 {
            shape.push(n);
        }
        if !x.is_act() && !y.is_act() {
            return Ok(Value {
                shape,
                elem: x.elem,
                state: State::Static {
                    vals: None,
                    inits: union(x.inits(), y.inits()),
                },
            });
        }
        let batch = count(&batch_shape)?;
        let kind;
        let inputs: Vec<&Value>;
        let params;
        if !y.is_act() {
            // x · W: a weight shared by every row of x.
            if count(bb)? != 1 {
                return Err(unsupported(format!(
                    "the constant right operand {} has batch dims; tessera's matmul weight is one k × n matrix",
                    fmt_shape(&y.shape)
                )));
            }
            let rows = count(&x.shape)? / k;
            kind = OpKind::MatMul {
                batch: 1,
                m: rows,
                k,
                n,
            };
            inputs = vec![x];
            params = self.charge(Some(y)) + self.take_bias(index, &shape, shape.len() - 1);
            if self.fuse && shape.len() >= 2 {
                self.pending_cols = Some(ColView {
                    op: sim::graph::OpId(self.n_ops as u32),
                    n,
                    rows,
                    roles: (0..shape.len())
                        .map(|d| (d + 1 == shape.len()).then_some(0))
                        .collect(),
                    factors: vec![n],
                });
            }
        } else if !x.is_act() {
            // W · y: computed as (yᵀ · Wᵀ), the weight shared by every batch entry.
            if count(ab)? != 1 {
                return Err(unsupported(format!(
                    "the constant left operand {} has batch dims; tessera's matmul weight is one k × n matrix",
                    fmt_shape(&x.shape)
                )));
            }
            kind = OpKind::MatMul {
                batch: 1,
                m: count(&y.shape)? / k,
                k,
                n: m,
            };
            inputs = vec![y];
            params = self.charge(Some(x)) + self.take_bias(index, &shape, shape.len() - 1);
        } else {
            if count(ab)? != batch || count(bb)? != batch {
                return Err(unsupported(format!(
                    "inputs have shapes {} and {}; tessera's matmul of two activations cannot broadcast batch dims",
                    fmt_shape(&x.shape),
                    fmt_shape(&y.shape)
                )));
            }
            kind = OpKind::MatMul { batch, m, k, n };
            inputs = vec![x, y];
            params = self.take_bias(index, &shape, shape.len() - 1);
        }
        let s = self.emit(&at.name, kind, &inputs, shape.clone(), 0, params)?;
        Ok(self.act(s, shape, x.elem))
    }

    fn gemm(
        &mut self,
        index: usize,
        at: &NodeRef,
        attrs: &Attrs<'_>,
        x: &Value,
        y: &Value,
        c: Option<&Value>,
    ) -> R<Value> {
        let ta = a(attrs.int("transA"))?.unwrap_or(0) != 0;
        let tb = a(attrs.int("transB"))?.unwrap_or(0) != 0;
        if x.shape.len() != 2 || y.shape.len() != 2 {
            return Err(invalid(format!(
                "inputs have shapes {} and {}; Gemm needs two matrices",
                fmt_shape(&x.shape),
                fmt_shape(&y.shape)
            )));
        }
        let (m, k) = if ta {
            (x.shape[1], x.shape[0])
        } else {
            (x.shape[0], x.shape[1])
        };
        let (k2, n) = if tb {
            (y.shape[1], y.shape[0])
        } else {
            (y.shape[0], y.shape[1])
        };
        if k != k2 {
            return Err(invalid(format!(
                "inputs have shapes {} and {} (transA {}, transB {}); inner dimensions {k} and {k2} differ",
                fmt_shape(&x.shape),
                fmt_shape(&y.shape),
                u8::from(ta),
                u8::from(tb)
            )));
        }
        let shape = vec![m, n];
        if let Some(c) = c
            && shape::broadcast(&c.shape, &shape).as_deref() != Some(&shape[..])
        {
            return Err(invalid(format!(
                "C has shape {:?}, which does not broadcast to [{m}, {n}]",
                c.shape
            )));
        }
        if !x.is_act() && !y.is_act() && !c.is_some_and(|c| c.is_act()) {
            let inits = union(
                &union(x.inits(), y.inits()),
                c.map_or(&[][..], |c| c.inits()),
            );
            return Ok(Value {
                shape,
                elem: x.elem,
                state: State::Static { vals: None, inits },
            });
        }
        if c.is_some_and(|c| c.is_act()) {
            return Err(unsupported(
                "C is computed from a graph input; tessera's matmul adds only a constant bias",
            ));
        }
        let (inputs, params): (Vec<&Value>, u64) = match (x.is_act(), y.is_act()) {
            (true, false) => {
                if self.fuse {
                    self.pending_cols = Some(ColView {
                        op: sim::graph::OpId(self.n_ops as u32),
                        n,
                        rows: m,
                        roles: vec![None, Some(0)],
                        factors: vec![n],
                    });
                }
                (vec![x], self.charge(Some(y)))
            }
            (false, true) => return self.gemm_const_a(at, x, y, c, m, k, n),
            _ => (vec![x, y], 0),
        };
        let params = params + self.charge(c) + self.take_bias(index, &shape, 1);
        let s = self.emit(
            &at.name,
            OpKind::MatMul { batch: 1, m, k, n },
            &inputs,
            shape.clone(),
            0,
            params,
        )?;
        Ok(self.act(s, shape, x.elem))
    }

    /// Gemm with a constant A and an activation B: `(Bᵀ · Aᵀ)ᵀ`, with A as the weight.
    #[allow(clippy::too_many_arguments)]
    fn gemm_const_a(
        &mut self,
        at: &NodeRef,
        x: &Value,
        y: &Value,
        c: Option<&Value>,
        m: u64,
        k: u64,
        n: u64,
    ) -> R<Value> {
        let params = self.charge(Some(x)) + self.charge(c);
        let s = self.emit(
            &at.name,
            OpKind::MatMul {
                batch: 1,
                m: n,
                k,
                n: m,
            },
            &[y],
            vec![m, n],
            0,
            params,
        )?;
        Ok(self.act(s, vec![m, n], x.elem))
    }

    fn window_attrs(&self, attrs: &Attrs<'_>, spatial: usize, kernel: &[u64]) -> R<WindowAttrs> {
        let positive = |name: &str, default: u64| -> R<Vec<u64>> {
            match a(attrs.ints(name))? {
                None => Ok(vec![default; spatial]),
                Some(v) if v.len() == spatial && v.iter().all(|&d| d >= 1) => {
                    Ok(v.iter().map(|&d| d as u64).collect())
                }
                Some(v) => Err(invalid(format!(
                    "{name} {v:?} must be {spatial} positive values"
                ))),
            }
        };
        let strides = positive("strides", 1)?;
        let dilations = positive("dilations", 1)?;
        let pads = match a(attrs.ints("pads"))? {
            None => vec![0; 2 * spatial],
            Some(v) if v.len() == 2 * spatial && v.iter().all(|&d| d >= 0) => {
                v.iter().map(|&d| d as u64).collect()
            }
            Some(v) => Err(invalid(format!(
                "pads {v:?} must be {} non-negative values",
                2 * spatial
            )))?,
        };
        let auto = a(attrs.string("auto_pad"))?.unwrap_or_default();
        let auto_pad = AutoPad::parse(&auto).ok_or_else(|| {
            invalid(format!(
                "auto_pad {auto:?} is not NOTSET, SAME_UPPER, SAME_LOWER or VALID"
            ))
        })?;
        let eff: Vec<u64> = kernel
            .iter()
            .zip(&dilations)
            .map(|(&k, &d)| {
                (k - 1)
                    .checked_mul(d)
                    .and_then(|v| v.checked_add(1))
                    .ok_or_else(|| limit("dilated kernel overflows"))
            })
            .collect::<R<_>>()?;
        Ok((eff, strides, pads, auto_pad))
    }

    fn conv(
        &mut self,
        index: usize,
        at: &NodeRef,
        attrs: &Attrs<'_>,
        x: &Value,
        w: &Value,
        b: Option<&Value>,
    ) -> R<Value> {
        let rank = x.shape.len();
        if !(rank == 3 || rank == 4) || w.shape.len() != rank {
            return Err(unsupported(format!(
                "input {} and weight {}: tessera imports 1-D and 2-D convolutions (rank 3 or 4)",
                fmt_shape(&x.shape),
                fmt_shape(&w.shape)
            )));
        }
        let spatial = rank - 2;
        let group = a(attrs.int("group"))?.unwrap_or(1);
        let group = u64::try_from(group)
            .ok()
            .filter(|&g| g >= 1)
            .ok_or_else(|| invalid(format!("group {group} must be positive")))?;
        let (n, cin) = (x.shape[0], x.shape[1]);
        let cout = w.shape[0];
        if w.shape[1].checked_mul(group) != Some(cin) || !cout.is_multiple_of(group) {
            return Err(invalid(format!(
                "input {} has {cin} channels but weight {} with group {group} expects {}",
                fmt_shape(&x.shape),
                fmt_shape(&w.shape),
                w.shape[1].saturating_mul(group)
            )));
        }
        let kernel: Vec<u64> = match a(attrs.ints("kernel_shape"))? {
            Some(k) if k.iter().map(|&d| d as u64).eq(w.shape[2..].iter().copied()) => {
                w.shape[2..].to_vec()
            }
            Some(k) => {
                return Err(invalid(format!(
                    "kernel_shape {k:?} differs from the weight's {:?}",
                    &w.shape[2..]
                )));
            }
            None => w.shape[2..].to_vec(),
        };
        if kernel.contains(&0) {
            return Err(invalid(format!("kernel {kernel:?} has a zero dim")));
        }
        if let Some(b) = b
            && b.shape != [cout]
        {
            return Err(invalid(format!(
                "bias has shape {:?}, expected [{cout}]",
                b.shape
            )));
        }
        let (eff, strides, pads, auto_pad) = self.window_attrs(attrs, spatial, &kernel)?;
        let mut out = Vec::with_capacity(spatial);
        for d in 0..spatial {
            let win = Window {
                input: x.shape[2 + d],
                kernel: eff[d],
                stride: strides[d],
                pads: (pads[d], pads[d + spatial]),
            };
            out.push(
                win.output(auto_pad, false)
                    .map_err(|m| invalid(format!("spatial dim {d}: {m}")))?
                    .0,
            );
        }
        let mut shape = vec![n, cout];
        shape.extend(&out);
        if !x.is_act() && !w.is_act() {
            let inits = union(
                &union(x.inits(), w.inits()),
                b.map_or(&[][..], |b| b.inits()),
            );
            return Ok(Value {
                shape,
                elem: x.elem,
                state: State::Static { vals: None, inits },
            });
        }
        if w.is_act() || b.is_some_and(|b| b.is_act()) {
            return Err(unsupported(
                "weights or bias computed from a graph input; tessera's convolution has constant weights",
            ));
        }
        // 1-D convolutions are 2-D ones over a height of 1.
        let two = |v: &[u64], fill: u64| -> [u64; 2] {
            if v.len() == 1 {
                [fill, v[0]]
            } else {
                [v[0], v[1]]
            }
        };
        let in_hw = two(&x.shape[2..], 1);
        let (kernel2, stride2, out_hw) = (two(&eff, 1), two(&strides, 1), two(&out, 1));
        let mut padding = [0u64; 2];
        for d in 0..2 {
            padding[d] = shape::symmetric_pad(in_hw[d], kernel2[d], stride2[d], out_hw[d]).ok_or_else(|| unsupported(format!(
                "pads {pads:?} (auto_pad {auto_pad:?}) give an output size no symmetric padding reproduces; tessera's convolution pads both sides equally"
            )))?;
        }
        let params = self.charge(Some(w)) + self.charge(b) + self.take_bias(index, &shape, 1);
        let kind = OpKind::Conv2d {
            batch: n,
            in_channels: cin,
            out_channels: cout,
            in_hw,
            out_hw,
            kernel: kernel2,
            stride: stride2,
            padding,
            groups: group,
        };
        let xin = Value {
            shape: vec![n, cin, in_hw[0], in_hw[1]],
            ..x.clone()
        };
        let s = self.emit(
            &at.name,
            kind,
            &[&xin],
            vec![n, cout, out_hw[0], out_hw[1]],
            0,
            params,
        )?;
        Ok(self.act(s, shape, x.elem))
    }

    fn pool(&mut self, at: &NodeRef, attrs: &Attrs<'_>, max: bool, x: &Value) -> R<Value> {
        let rank = x.shape.len();
        if !(rank == 3 || rank == 4) {
            return Err(unsupported(format!(
                "input {}: tessera imports 1-D and 2-D pooling (rank 3 or 4)",
                fmt_shape(&x.shape)
            )));
        }
        let spatial = rank - 2;
        let kernel: Vec<u64> = match a(attrs.ints("kernel_shape"))? {
            Some(k) if k.len() == spatial && k.iter().all(|&d| d >= 1) => {
                k.iter().map(|&d| d as u64).collect()
            }
            Some(k) => {
                return Err(invalid(format!(
                    "kernel_shape {k:?} must be {spatial} positive values"
                )));
            }
            None => return Err(invalid("kernel_shape is missing")),
        };
        let ceil = a(attrs.int("ceil_mode"))?.unwrap_or(0) != 0;
        let (eff, strides, pads, auto_pad) = self.window_attrs(attrs, spatial, &kernel)?;
        let mut out = Vec::with_capacity(spatial);
        let mut used_pads = Vec::with_capacity(spatial);
        for d in 0..spatial {
            let win = Window {
                input: x.shape[2 + d],
                kernel: eff[d],
                stride: strides[d],
                pads: (pads[d], pads[d + spatial]),
            };
            let (o, p) = win
                .output(auto_pad, ceil)
                .map_err(|m| invalid(format!("spatial dim {d}: {m}")))?;
            out.push(o);
            used_pads.push(p);
        }
        let mut shape = x.shape[..2].to_vec();
        shape.extend(&out);
        if !x.is_act() {
            return Ok(Value {
                shape,
                elem: x.elem,
                state: State::Static {
                    vals: None,
                    inits: x.inits().to_vec(),
                },
            });
        }
        let two = |v: &[u64], fill: u64| -> [u64; 2] {
            if v.len() == 1 {
                [fill, v[0]]
            } else {
                [v[0], v[1]]
            }
        };
        let in_hw = two(&x.shape[2..], 1);
        let (kernel2, stride2, out_hw) = (two(&eff, 1), two(&strides, 1), two(&out, 1));
        let pads2 = two(
            &used_pads.iter().map(|p| p.0.max(p.1)).collect::<Vec<_>>(),
            0,
        );
        let mut padding = [0; 2];
        for d in 0..2 {
            // The IR does not check pooling sizes; keep the symmetric equivalent
            // when there is one, else the larger of the two pads.
            padding[d] = shape::symmetric_pad(in_hw[d], kernel2[d], stride2[d], out_hw[d])
                .unwrap_or(pads2[d]);
        }
        let area = kernel
            .iter()
            .try_fold(1u64, |a, &k| a.checked_mul(k))
            .ok_or_else(|| limit("the pooling window's area overflows"))?;
        let work = count(&shape)?
            .checked_mul(area)
            .ok_or_else(|| limit("pooling work overflows"))?;
        let kind = OpKind::Pool {
            func: if max { PoolFunc::Max } else { PoolFunc::Avg },
            kernel: kernel2,
            stride: stride2,
            padding,
        };
        let s = self.emit(&at.name, kind, &[x], shape.clone(), work, 0)?;
        Ok(self.act(s, shape, x.elem))
    }

    fn concat(&mut self, at: &NodeRef, attrs: &Attrs<'_>, ins: &[Option<Value>]) -> R<Value> {
        let parts: Vec<&Value> = ins.iter().flatten().collect();
        let first = parts.first().ok_or_else(|| invalid("has no inputs"))?;
        let rank = first.shape.len();
        let axis = attrs
            .int("axis")
            .map_err(invalid)?
            .ok_or_else(|| invalid("attribute \"axis\" is missing"))?;
        let ax = shape::norm_axis(axis, rank)
            .ok_or_else(|| invalid(format!("axis {axis} is out of range for rank {rank}")))?;
        let mut shape = first.shape.clone();
        shape[ax] = 0;
        for p in &parts {
            let same = p.shape.len() == rank
                && p.shape
                    .iter()
                    .zip(&first.shape)
                    .enumerate()
                    .all(|(d, (x, y))| d == ax || x == y);
            if !same {
                let shapes: Vec<String> = parts.iter().map(|p| fmt_shape(&p.shape)).collect();
                return Err(invalid(format!(
                    "inputs have shapes {} that differ outside axis {axis}",
                    shapes.join(", ")
                )));
            }
            shape[ax] = shape[ax]
                .checked_add(p.shape[ax])
                .ok_or_else(|| limit("concatenated size overflows"))?;
        }
        let elem = first.elem;
        if !parts.iter().any(|p| p.is_act()) {
            let inits = parts
                .iter()
                .fold(Vec::new(), |acc, v| union(&acc, v.inits()));
            let vals = if rank == 1 && parts.iter().all(|p| p.vals().is_some()) && small(&shape) {
                Some(
                    parts
                        .iter()
                        .flat_map(|p| p.vals().expect("checked").iter().copied())
                        .collect(),
                )
            } else {
                None
            };
            return Ok(Value {
                shape,
                elem,
                state: State::Static { vals, inits },
            });
        }
        let acts: Vec<&Value> = parts.iter().copied().filter(|p| p.is_act()).collect();
        let mut params = 0;
        for p in parts.iter().filter(|p| !p.is_act()) {
            let charged = self.charge_other(Some(p));
            if charged == 0 && p.shape[ax] > 0 {
                return Err(unsupported(format!(
                    "a constant input of shape {} that holds no parameters is joined to activations; tessera's concat adds only parameters",
                    fmt_shape(&p.shape)
                )));
            }
            params += charged;
        }
        let s = self.emit(
            &at.name,
            OpKind::Concat { axis: ax as u32 },
            &acts,
            shape.clone(),
            0,
            params,
        )?;
        Ok(self.act(s, shape, elem))
    }

    fn split(
        &mut self,
        at: &NodeRef,
        attrs: &Attrs<'_>,
        node: &NodeProto,
        ins: &[Option<Value>],
    ) -> R<Vec<Value>> {
        let x = ins
            .first()
            .and_then(|v| v.as_ref())
            .ok_or_else(|| invalid("input 0 is missing"))?;
        let rank = x.shape.len();
        let axis = a(attrs.int("axis"))?.unwrap_or(0);
        let ax = shape::norm_axis(axis, rank)
            .ok_or_else(|| invalid(format!("axis {axis} is out of range for rank {rank}")))?;
        let dim = x.shape[ax];
        let n_out = node.output.len() as u64;
        let sizes: Vec<u64> = match (
            ins.get(1).and_then(|v| v.as_ref()),
            a(attrs.ints("split"))?,
            a(attrs.int("num_outputs"))?,
        ) {
            (Some(v), _, _) => ints(v, "split")?
                .iter()
                .map(|&s| u64::try_from(s).map_err(|_| invalid("split sizes must be non-negative")))
                .collect::<R<_>>()?,
            (None, Some(s), _) => s
                .iter()
                .map(|&s| u64::try_from(s).map_err(|_| invalid("split sizes must be non-negative")))
                .collect::<R<_>>()?,
            (None, None, num) => {
                let parts = match num {
                    Some(k) if k >= 1 && k as u64 == n_out => n_out,
                    Some(k) => {
                        return Err(invalid(format!(
                            "num_outputs is {k} but the node has {n_out} outputs"
                        )));
                    }
                    None => n_out.max(1),
                };
                let chunk = if num.is_some() {
                    dim.div_ceil(parts)
                } else if dim.is_multiple_of(parts) {
                    dim / parts
                } else {
                    return Err(invalid(format!(
                        "axis {axis} of size {dim} does not split evenly into {parts} outputs"
                    )));
                };
                (0..parts)
                    .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
                    .collect()
            }
        };
        if sizes.len() as u64 != n_out {
            return Err(invalid(format!(
                "has {} outputs but {} split sizes",
                n_out,
                sizes.len()
            )));
        }
        if sizes.iter().try_fold(0u64, |acc, &s| acc.checked_add(s)) != Some(dim) {
            return Err(invalid(format!(
                "split sizes {sizes:?} do not add up to axis {axis} of size {dim}"
            )));
        }
        let mut outs = Vec::with_capacity(sizes.len());
        let mut start = 0;
        for (j, &len) in sizes.iter().enumerate() {
            let mut shape = x.shape.clone();
            shape[ax] = len;
            if !x.is_act() {
                let vals = match x.vals() {
                    Some(v) if rank == 1 => {
                        Some(v[start as usize..(start + len) as usize].to_vec())
                    }
                    _ => None,
                };
                outs.push(Value {
                    shape,
                    elem: x.elem,
                    state: State::Static {
                        vals,
                        inits: x.inits().to_vec(),
                    },
                });
            } else if node.output[j].is_empty() {
                outs.push(Value {
                    shape,
                    elem: x.elem,
                    state: State::Unmodelled("an unnamed Split output"),
                });
            } else if len == dim {
                outs.push(self.view(at, x, shape, x.elem)?);
            } else {
                let kind = OpKind::Slice {
                    axis: ax as u32,
                    start,
                    len,
                };
                let id = sim::graph::OpId(self.n_ops as u32);
                let s = self.emit(&format!("{}/{j}", at.name), kind, &[x], shape.clone(), 0, 0)?;
                self.note_piece(id, ax, start, len);
                outs.push(self.act(s, shape, x.elem));
            }
            start += len;
        }
        Ok(outs)
    }

    fn slice(&mut self, at: &NodeRef, ins: &[Option<Value>]) -> R<Value> {
        let get = |j: usize| ins.get(j).and_then(|v| v.as_ref());
        let x = get(0).ok_or_else(|| invalid("input 0 is missing"))?;
        let starts = ints(
            get(1).ok_or_else(|| invalid("starts are missing"))?,
            "starts",
        )?;
        let ends = ints(get(2).ok_or_else(|| invalid("ends are missing"))?, "ends")?;
        let rank = x.shape.len();
        let axes: Vec<i64> = match get(3) {
            Some(v) => ints(v, "axes")?.to_vec(),
            None => (0..starts.len() as i64).collect(),
        };
        let steps: Vec<i64> = match get(4) {
            Some(v) => ints(v, "steps")?.to_vec(),
            None => vec![1; starts.len()],
        };
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(invalid(format!(
                "starts, ends, axes and steps have {}, {}, {} and {} values; they must agree",
                starts.len(),
                ends.len(),
                axes.len(),
                steps.len()
            )));
        }
        let mut shape = x.shape.clone();
        let mut ranges = vec![None; rank];
        for i in 0..starts.len() {
            let ax = shape::norm_axis(axes[i], rank).ok_or_else(|| {
                invalid(format!("axis {} is out of range for rank {rank}", axes[i]))
            })?;
            if ranges[ax].is_some() {
                return Err(invalid(format!("axis {} is repeated", axes[i])));
            }
            if steps[i] == 0 {
                return Err(invalid("a step is 0"));
            }
            let (s, len) = shape::slice_range(x.shape[ax], starts[i], ends[i], steps[i]);
            shape[ax] = len;
            ranges[ax] = Some((s, len, steps[i]));
        }
        if !x.is_act() {
            let vals = match x.vals() {
                Some(v) if small(&shape) => Some(slice_vals(v, &x.shape, &ranges, &shape)),
                _ => None,
            };
            return Ok(Value {
                shape,
                elem: x.elem,
                state: State::Static {
                    vals,
                    inits: x.inits().to_vec(),
                },
            });
        }
        let changed: Vec<(usize, i64, u64, i64)> = ranges
            .iter()
            .enumerate()
            .filter_map(|(d, r)| r.map(|(s, len, step)| (d, s, len, step)))
            .filter(|&(d, _, len, step)| len != x.shape[d] || (step != 1 && len > 1))
            .collect();
        if changed.is_empty() {
            return self.view(at, x, shape, x.elem);
        }
        let mut cur = x.clone();
        let many = changed.len() > 1;
        for (d, s, len, step) in changed {
            if step != 1 && len > 1 {
                return Err(unsupported(format!(
                    "step {step} on axis {d}; tessera's slice is contiguous (step 1)"
                )));
            }
            if len == 0 {
                return Err(invalid(format!(
                    "produces an empty tensor (axis {d} has length 0); tessera graphs have no empty tensors"
                )));
            }
            let mut out = cur.shape.clone();
            out[d] = len;
            let name = if many {
                format!("{}/axis{d}", at.name)
            } else {
                at.name.clone()
            };
            let kind = OpKind::Slice {
                axis: d as u32,
                start: s as u64,
                len,
            };
            let id = sim::graph::OpId(self.n_ops as u32);
            let src = self.emit(&name, kind, &[&cur], out.clone(), 0, 0)?;
            if !many {
                self.note_piece(id, d, s as u64, len);
            }
            cur = self.act(src, out, x.elem);
        }
        Ok(cur)
    }

    fn gather(&mut self, at: &NodeRef, attrs: &Attrs<'_>, data: &Value, idx: &Value) -> R<Value> {
        let rank = data.shape.len();
        let axis = attrs.int("axis").map_err(invalid)?.unwrap_or(0);
        let ax = shape::norm_axis(axis, rank).ok_or_else(|| {
            invalid(format!(
                "axis {axis} is out of range for data of rank {rank}"
            ))
        })?;
        let dim = data.shape[ax];
        let mut shape = data.shape[..ax].to_vec();
        shape.extend(&idx.shape);
        shape.extend(&data.shape[ax + 1..]);
        if shape.len() > MAX_RANK {
            return Err(limit(format!(
                "output rank {} is over the limit {MAX_RANK}",
                shape.len()
            )));
        }
        if let Some(iv) = idx.vals()
            && let Some(&bad) = iv.iter().find(|&&i| i < -to_i64(dim) || i >= to_i64(dim))
        {
            return Err(invalid(format!(
                "index {bad} is out of range for axis {axis} of size {dim} in data {}",
                fmt_shape(&data.shape)
            )));
        }
        if !data.is_act() && !idx.is_act() {
            let vals = match (data.vals(), idx.vals()) {
                (Some(dv), Some(iv)) if small(&shape) => {
                    let outer = count(&data.shape[..ax])? as usize;
                    let inner = count(&data.shape[ax + 1..])? as usize;
                    let d = dim as usize;
                    let mut out = Vec::with_capacity(outer * iv.len() * inner);
                    for o in 0..outer {
                        for &i in iv {
                            let i = if i < 0 { i + d as i64 } else { i } as usize;
                            out.extend_from_slice(
                                &dv[(o * d + i) * inner..(o * d + i + 1) * inner],
                            );
                        }
                    }
                    Some(out)
                }
                _ => None,
            };
            return Ok(Value {
                shape,
                elem: data.elem,
                state: State::Static {
                    vals,
                    inits: union(data.inits(), idx.inits()),
                },
            });
        }
        if !data.is_act() {
            // A lookup in a constant table: an embedding.
            if ax != 0 || !is_float(data.elem) || rank < 1 {
                return Err(unsupported(format!(
                    "gathers from a constant {} tensor {} along axis {axis} by indices computed from graph inputs; tessera models a lookup in a float table along axis 0 (an embedding)",
                    elem_name(data.elem),
                    fmt_shape(&data.shape)
                )));
            }
            let vocab = dim;
            let width = count(&data.shape[1..])?;
            let mut ir = idx.shape.clone();
            ir.push(width);
            let params = self.charge(Some(data));
            let s = self.emit(
                &at.name,
                OpKind::Embedding { vocab, dim: width },
                &[idx],
                ir,
                0,
                params,
            )?;
            return Ok(self.act(s, shape, data.elem));
        }
        if self.fuse
            && let Some(iv) = idx.vals()
            && let Some(&first) = iv.first()
        {
            // A static run of consecutive indices is a slice.
            let first = if first < 0 {
                first + to_i64(dim)
            } else {
                first
            };
            let run = iv.iter().enumerate().all(|(i, &v)| {
                let v = if v < 0 { v + to_i64(dim) } else { v };
                v == first + i as i64
            });
            if run {
                let len = iv.len() as u64;
                let mut ir = data.shape.clone();
                ir[ax] = len;
                let kind = OpKind::Slice {
                    axis: ax as u32,
                    start: first as u64,
                    len,
                };
                let id = sim::graph::OpId(self.n_ops as u32);
                let s = self.emit(&at.name, kind, &[data], ir, 0, 0)?;
                self.note_piece(id, ax, first as u64, len);
                return Ok(self.act(s, shape, data.elem));
            }
        }
        let mut inputs = vec![data];
        if idx.is_act() {
            inputs.push(idx);
        }
        let n = count(&shape)?;
        let s = self.emit(
            &at.name,
            OpKind::Gather { axis: ax as u32 },
            &inputs,
            shape.clone(),
            n,
            0,
        )?;
        Ok(self.act(s, shape, data.elem))
    }

    /// GatherElements: `out[i…] = data[i… with axis coordinate idx[i…]]`, the
    /// output shaped as the indices. On constants (BERT's token-type buffer
    /// gathered by position ids, in dynamo exports) it folds; from an
    /// activation it is a `gather` (one vector op per output element).
    fn gather_elements(
        &mut self,
        at: &NodeRef,
        attrs: &Attrs<'_>,
        data: &Value,
        idx: &Value,
    ) -> R<Value> {
        let rank = data.shape.len();
        let axis = attrs.int("axis").map_err(invalid)?.unwrap_or(0);
        let ax = shape::norm_axis(axis, rank).ok_or_else(|| {
            invalid(format!(
                "axis {axis} is out of range for data of rank {rank}"
            ))
        })?;
        let fits =
            idx.shape.len() == rank && (0..rank).all(|d| d == ax || idx.shape[d] <= data.shape[d]);
        if !fits {
            return Err(invalid(format!(
                "indices of shape {} do not fit data of shape {} (same rank, no larger outside axis {axis})",
                fmt_shape(&idx.shape),
                fmt_shape(&data.shape)
            )));
        }
        let dim = to_i64(data.shape[ax]);
        if let Some(iv) = idx.vals()
            && let Some(&bad) = iv.iter().find(|&&i| i < -dim || i >= dim)
        {
            return Err(invalid(format!(
                "index {bad} is out of range for axis {axis} of size {dim} in data {}",
                fmt_shape(&data.shape)
            )));
        }
        let shape = idx.shape.clone();
        if !data.is_act() && !idx.is_act() {
            let vals = match (data.vals(), idx.vals()) {
                (Some(dv), Some(iv)) if small(&shape) => {
                    let mut out = Vec::with_capacity(iv.len());
                    for (flat, &i) in iv.iter().enumerate() {
                        // The output coordinates, with the axis one replaced.
                        let (mut rest, mut src, mut stride) = (flat as u64, 0u64, 1u64);
                        for d in (0..rank).rev() {
                            let c = rest % shape[d];
                            rest /= shape[d];
                            let c = if d == ax {
                                (if i < 0 { i + dim } else { i }) as u64
                            } else {
                                c
                            };
                            src += c * stride;
                            stride *= data.shape[d];
                        }
                        out.push(dv[src as usize]);
                    }
                    Some(out)
                }
                _ => None,
            };
            return Ok(Value {
                shape,
                elem: data.elem,
                state: State::Static {
                    vals,
                    inits: union(data.inits(), idx.inits()),
                },
            });
        }
        if !data.is_act() {
            return Err(unsupported(format!(
                "gathers elements of a constant {} tensor {} by indices computed from graph inputs",
                elem_name(data.elem),
                fmt_shape(&data.shape)
            )));
        }
        let mut inputs = vec![data];
        if idx.is_act() {
            inputs.push(idx);
        }
        let n = count(&shape)?;
        let s = self.emit(
            &at.name,
            OpKind::Gather { axis: ax as u32 },
            &inputs,
            shape.clone(),
            n,
            0,
        )?;
        Ok(self.act(s, shape, data.elem))
    }
}

/// The value of an initializer or a Constant's tensor: shape, type and, for
/// small inline integer tensors, the values.
fn tensor_value(t: &TensorProto) -> R<Value> {
    if t.dims.len() > MAX_RANK {
        return Err(limit(format!(
            "has rank {}; tessera imports at most rank {MAX_RANK}",
            t.dims.len()
        )));
    }
    let shape: Vec<u64> = t
        .dims
        .iter()
        .map(|&d| {
            u64::try_from(d)
                .map_err(|_| invalid(format!("dims {:?} have a negative value", t.dims)))
        })
        .collect::<R<_>>()?;
    let n = count(&shape)?;
    if t.data_type == DataType::String as i32 {
        return Err(unsupported("string tensors are not imported"));
    }
    let vals = reader::int_values(t, n).map_err(invalid)?;
    Ok(Value {
        shape,
        elem: t.data_type,
        state: State::Static {
            vals,
            inits: vec![],
        },
    })
}

/// The values of a static integer tensor, or why there are none.
fn ints<'v>(v: &'v Value, what: &str) -> R<&'v [i64]> {
    match &v.state {
        State::Static {
            vals: Some(vals), ..
        } => Ok(vals),
        State::Act(_) => Err(unsupported(format!(
            "{what} must be a constant (computable from initializers and shapes), but it depends on a graph input"
        ))),
        _ => Err(unsupported(format!(
            "{what} must be a small inline integer tensor (at most {MAX_VALUE_ELEMENTS} elements, not external data)"
        ))),
    }
}

fn small(shape: &[u64]) -> bool {
    numel(shape).is_some_and(|n| n <= MAX_VALUE_ELEMENTS)
}

fn binary_vals(
    x: &Value,
    y: &Value,
    shape: &[u64],
    f: impl Fn(i64, i64) -> Option<i64>,
) -> Option<Vec<i64>> {
    let (xv, yv) = (x.vals()?, y.vals()?);
    if !small(shape) {
        return None;
    }
    (0..numel(shape)? as usize)
        .map(|i| {
            f(
                xv[shape::broadcast_source(i, shape, &x.shape)],
                yv[shape::broadcast_source(i, shape, &y.shape)],
            )
        })
        .collect()
}

/// Values of a slice of a small tensor (`ranges[d]` = start, length, step).
fn slice_vals(
    v: &[i64],
    in_shape: &[u64],
    ranges: &[Option<(i64, u64, i64)>],
    out_shape: &[u64],
) -> Vec<i64> {
    let n = numel(out_shape).unwrap_or(0) as usize;
    let mut out = Vec::with_capacity(n);
    for flat in 0..n {
        let mut rem = flat;
        let mut src = 0usize;
        let mut stride = 1usize;
        for d in (0..in_shape.len()).rev() {
            let od = out_shape[d] as usize;
            let pos = rem % od.max(1);
            rem /= od.max(1);
            let (s, _, step) = ranges[d].unwrap_or((0, in_shape[d], 1));
            let i = (s + pos as i64 * step) as usize;
            src += i * stride;
            stride *= in_shape[d] as usize;
        }
        out.push(v[src]);
    }
    out
}

/// MACs of an IR op kind with overflow checks (the IR multiplies unchecked).
fn checked_macs(kind: &OpKind) -> Option<u64> {
    match *kind {
        OpKind::MatMul { batch, m, k, n } => batch.checked_mul(m)?.checked_mul(k)?.checked_mul(n),
        OpKind::Conv2d {
            batch,
            in_channels,
            out_channels,
            out_hw,
            kernel,
            groups,
            ..
        } => batch
            .checked_mul(out_hw[0])?
            .checked_mul(out_hw[1])?
            .checked_mul(out_channels)?
            .checked_mul(kernel[0])?
            .checked_mul(kernel[1])?
            .checked_mul(in_channels / groups),
        _ => Some(0),
    }
}

fn fmt_shape(shape: &[u64]) -> String {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    format!("[{}]", dims.join(","))
}

/// An attribute read, with a malformed attribute as an invalid-model failure.
fn a<T>(r: Result<T, String>) -> R<T> {
    r.map_err(invalid)
}
