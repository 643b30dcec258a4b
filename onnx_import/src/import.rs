//! The import walk: every node in file order gets its outputs' shapes, element
//! types and (for small static integer tensors) values; a node that reads at
//! least one activation is lowered to IR ops, a node that reads only
//! initializers, constants and shapes is folded away. How each op does either
//! is its handler's business, found in the op table (`ops/`); the walk owns
//! what is common to every node: its inputs, the fusions planned across nodes,
//! and the checks on its outputs.
//!
//! Parameters: each float initializer is charged once, to the first IR op that
//! consumes it directly or through static ops (Transpose, Unsqueeze, Cast…),
//! except BatchNormalization's running mean and variance (buffers, not
//! parameters). So imported totals equal `sum(p.numel() for p in
//! model.parameters())` of the exporting framework. A float ConstantOfShape
//! of a literal shape (Caffe2's stand-in for a weight) counts too, but only
//! where an op reads it as a weight (see `Importer::charge`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sim::graph::GraphBuilder;
use sim::graph::{DType, EltFunc, Graph, OpId, Source};

use crate::cols::ColView;
use crate::external::{self, InfoDim, Missing, Outcome};
use crate::fuse;
use crate::ops::{self, Node, SUPPORTED_OPS};
use crate::proto::{
    GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto, tensor_proto::DataType,
    tensor_shape_proto::dimension, type_proto,
};
use crate::reader::{self, Attrs, elem_name, error, is_float};
use crate::shape;
use crate::value::{R, State, Value, count, invalid, ir_shape, limit, tensor_value, unsupported};
use crate::{
    ErrorKind, ImportError, ImportOptions, MAX_NODES, MAX_RANK, MAX_TOTAL_VALUE_ELEMENTS, NodeRef,
};

/// Imports `model`, named `file` in messages; `dir` is the folder it was
/// read from (where its external data files are), `None` for a model held
/// in memory.
pub fn import(
    model: ModelProto,
    file: &str,
    opts: &ImportOptions,
    dir: Option<&Path>,
) -> Result<Graph, ImportError> {
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
    let mut imp = Importer::new(file, opts, plan, builder);
    imp.info = value_infos(graph, &opts.dims);
    imp.elem_info = graph
        .value_info
        .iter()
        .chain(&graph.output)
        .filter_map(|v| match v.r#type.as_ref()?.value.as_ref()? {
            type_proto::Value::TensorType(t) => Some((v.name.clone(), t.elem_type)),
            _ => None,
        })
        .collect();
    imp.initializers(&graph.initializer, dir)?;
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

/// The recorded shapes of the graph's values (`value_info` and the graph
/// outputs), each dim known if written or bound by `dims`.
fn value_infos(graph: &GraphProto, dims: &BTreeMap<String, u64>) -> BTreeMap<String, Vec<InfoDim>> {
    let shape_of = |v: &ValueInfoProto| {
        let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref()?.value.as_ref() else {
            return None;
        };
        let shape = t.shape.as_ref()?;
        if shape.dim.len() > MAX_RANK {
            return None;
        }
        Some(
            shape
                .dim
                .iter()
                .map(|d| match &d.value {
                    Some(dimension::Value::DimValue(v)) => u64::try_from(*v).ok(),
                    Some(dimension::Value::DimParam(p)) => dims.get(p).copied(),
                    None => None,
                })
                .collect(),
        )
    };
    graph
        .value_info
        .iter()
        .chain(&graph.output)
        .filter_map(|v| Some((v.name.clone(), shape_of(v)?)))
        .collect()
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

/// The walk's state: what is known of every value so far, the graph being
/// built, and the totals checked against the limits.
pub struct Importer<'a> {
    pub file: &'a str,
    pub opts: &'a ImportOptions,
    /// Whether to fuse (`ImportOptions::fuse`), and what (see `fuse.rs`).
    pub fuse: bool,
    pub plan: fuse::Plan,
    /// Bias Add nodes whose bias a MatMul, Gemm or Conv took as parameters.
    pub absorbed: BTreeSet<usize>,
    /// Values that view a projection's output columns, by name.
    pub cols: BTreeMap<String, ColView>,
    /// The column view of the current node's input 0.
    pub cur_cols: Option<ColView>,
    /// The column view of the current node's output, set by a projection.
    pub pending_cols: Option<ColView>,
    pub pieces: Vec<fuse::Piece>,
    pub values: BTreeMap<String, Value>,
    /// Elements of every small integer tensor the walk has computed so far.
    pub value_elements: u64,
    /// Element count of each float initializer (and of each float
    /// ConstantOfShape of a literal shape), by id.
    pub init_numel: Vec<u64>,
    /// Names of the initializers and of the Constant nodes' outputs: tensors
    /// whose values are written in the file.
    pub literals: BTreeSet<String>,
    /// Per id: a ConstantOfShape's, charged only when read as a weight.
    pub weight_only: Vec<bool>,
    pub charged: Vec<bool>,
    pub builder: GraphBuilder,
    pub names: BTreeSet<String>,
    pub n_ops: u64,
    pub macs: u64,
    pub vector_ops: u64,
    pub params: u64,
    pub output_elements: u64,
    /// Recorded output shapes by value name (see [`value_infos`]).
    pub info: BTreeMap<String, Vec<InfoDim>>,
    /// Recorded element types by value name.
    pub elem_info: BTreeMap<String, i32>,
    /// Small external integer initializers whose data file is absent, and
    /// the constants computed from them without values.
    pub missing: BTreeMap<String, Missing>,
}

impl<'a> Importer<'a> {
    /// The state before the first initializer: nothing known, nothing built.
    fn new(
        file: &'a str,
        opts: &'a ImportOptions,
        plan: fuse::Plan,
        builder: GraphBuilder,
    ) -> Importer<'a> {
        Importer {
            file,
            opts,
            fuse: opts.fuse,
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
            info: BTreeMap::new(),
            elem_info: BTreeMap::new(),
            missing: BTreeMap::new(),
        }
    }
}

impl Importer<'_> {
    fn initializers(
        &mut self,
        inits: &[TensorProto],
        dir: Option<&Path>,
    ) -> Result<(), ImportError> {
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
            external::check_location(t).map_err(fail)?;
            match external::read_ints(t, n, dir).map_err(fail)? {
                Outcome::Skipped => {}
                Outcome::Read(vals) => {
                    v.state = State::Static {
                        vals: Some(vals),
                        inits: vec![],
                    };
                }
                Outcome::Missing(m) => {
                    self.missing.insert(t.name.clone(), m);
                }
            }
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

    fn graph_inputs(&mut self, graph: &GraphProto) -> Result<(), ImportError> {
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

    /// Imports node `index`: skipped inside a fused pattern, the pattern's
    /// op at its last node, else its inputs gathered and its handler run,
    /// and its outputs checked against the limits and recorded.
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
        let unknown = self.fill_missing(node, &mut ins)?;
        self.cur_cols = node.input.first().and_then(|n| self.cols.get(n)).cloned();
        self.pending_cols = None;
        let outs = if self.absorbed.contains(&index) {
            self.bias_alias(&ins)?
        } else {
            match (self.op(index, at, node, &ins), &unknown) {
                (Ok(outs), _) => outs,
                (Err(f), None) => return Err(f),
                (Err(_), Some((j, name))) => match self.recorded_statics(node, &ins) {
                    Some(outs) => outs,
                    None => return Err(self.missing_error(*j, name)),
                },
            }
        };
        if let Some((_, name)) = &unknown {
            // Values computed from a missing tensor are missing too, so a
            // later node that needs them names the file.
            let m = self.missing[name].clone();
            for (o, v) in node.output.iter().zip(&outs) {
                if !v.is_act() && v.vals().is_none() {
                    self.missing.insert(o.clone(), m.clone());
                }
            }
        }
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

    /// Gives each input of `node` that is a small external integer tensor
    /// whose data file is absent the values its output's recorded shape
    /// determines (see `external::infer`). Returns the first such input
    /// left undetermined, for the error should the op need it.
    fn fill_missing(
        &self,
        node: &NodeProto,
        ins: &mut [Option<Value>],
    ) -> R<Option<(usize, String)>> {
        let mut unknown = None;
        for (j, name) in node.input.iter().enumerate() {
            if !self.missing.contains_key(name) {
                continue;
            }
            let x_shape = ins
                .first()
                .and_then(|v| v.as_ref())
                .map(|v| v.shape.clone());
            let out = node.output.first().and_then(|o| self.info.get(o));
            let keepdims = Attrs::new(node)
                .int("keepdims")
                .map_err(invalid)?
                .unwrap_or(1)
                != 0;
            let Some(Some(v)) = ins.get_mut(j) else {
                continue;
            };
            let n = count(&v.shape)?;
            let vals = match (x_shape, out) {
                (Some(x), Some(out)) => external::infer(&node.op_type, j, &x, out, keepdims, n),
                _ => None,
            };
            match vals {
                Some(vals) => {
                    v.state = State::Static {
                        vals: Some(vals),
                        inits: vec![],
                    }
                }
                None => {
                    unknown.get_or_insert((j, name.clone()));
                }
            }
        }
        Ok(unknown)
    }

    /// The outputs of a node of constant inputs that failed for want of a
    /// missing external tensor's values, as their recorded shapes: such a
    /// node produces no op, so its outputs' shapes are all that later nodes
    /// need of it (unless they need values, and then name the file).
    fn recorded_statics(&self, node: &NodeProto, ins: &[Option<Value>]) -> Option<Vec<Value>> {
        if ins.iter().flatten().any(|v| v.is_act()) {
            return None;
        }
        let inits = ins
            .iter()
            .flatten()
            .fold(Vec::new(), |acc, v| crate::value::union(&acc, v.inits()));
        node.output
            .iter()
            .map(|o| {
                let shape = self
                    .info
                    .get(o)?
                    .iter()
                    .copied()
                    .collect::<Option<Vec<u64>>>()?;
                Some(Value {
                    shape,
                    elem: self.elem_info.get(o).copied()?,
                    state: State::Static {
                        vals: None,
                        inits: inits.clone(),
                    },
                })
            })
            .collect()
    }

    /// Why a node that needs the values of external input `j` fails.
    fn missing_error(&self, j: usize, name: &str) -> crate::value::Fail {
        let m = &self.missing[name];
        let place = if m.dir.as_os_str().is_empty() {
            "the model was read from memory, so no data file can be read".to_string()
        } else {
            format!("the file is not in the model's folder {}", m.dir.display())
        };
        unsupported(format!(
            "input {j} {name:?} is stored in the external data file {:?} and {place}, and the graph's value_info does not determine it; put {:?} beside the model",
            m.location, m.location
        ))
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

    /// Ops whose result is read by no op and only for its shape (by Shape or
    /// Size nodes): the fusion's rewrite drops them.
    fn shape_only_ops(&self, graph: &GraphProto) -> BTreeSet<OpId> {
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

    /// Lowers (or folds) one node by its op's handler in the table.
    fn op(
        &mut self,
        index: usize,
        at: &NodeRef,
        node: &NodeProto,
        ins: &[Option<Value>],
    ) -> R<Vec<Value>> {
        let Some(op) = ops::find(&node.op_type) else {
            return Err(unsupported(format!(
                "unsupported op; tessera imports: {}",
                SUPPORTED_OPS.join(", ")
            )));
        };
        let node = Node {
            index,
            at,
            proto: node,
            ins,
            attrs: Attrs::new(node),
        };
        ops::lower(op, self, &node)
    }
}
