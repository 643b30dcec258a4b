//! Fusion: lowering an exporter's fine-grained ONNX nodes to the coarse ops the
//! zoo builds, as ML compilers do (XLA and TVM fuse epilogues and element-wise
//! chains, and fold transposes into dot operands).
//!
//! It runs in two places, each where the information it needs is visible:
//! - [`plan`], before the import walk, on the ONNX graph, where constants and
//!   every value's consumers are known: bias epilogues, the two GELU forms,
//!   Swish (`x · sigmoid(x)`),
//!   transposes that can be views, values read only for their shape;
//! - [`rewrite`], after the walk, on the lowered op list: a projection whose
//!   output is only read in disjoint column blocks (GPT-2's `c_attn` split,
//!   ViT's `qkv` gathers) becomes one projection per block, as the zoo writes
//!   q, k and v, and ops whose result is only read for its shape are dropped.
//!
//! The walk (`import.rs`, the op handlers in `ops/` and the lowering helpers
//! in `lower.rs`) checks what the plan proposes against shapes before it
//! fuses: a bias must broadcast along the output's last dim (channel dim for
//! a convolution), and a transpose is only folded when its input is an
//! activation. Every fusion keeps MACs and parameters exactly; see the Fusion
//! section of `docs/onnx.md` for what each one does to vector operations.

use std::collections::{BTreeMap, BTreeSet};

use sim::graph::{GRAPH_FORMAT_VERSION, Graph, GraphFile, Op, OpId, OpKind, Source};

use crate::ops;
use crate::proto::{GraphProto, NodeProto, TensorProto, tensor_proto::DataType};
use crate::reader::Attrs;

/// Relative tolerance for the constants of a GELU pattern (exporters write
/// them as fp32, or as fp16 in half-precision models).
const TOLERANCE: f64 = 1e-3;

/// Why a Transpose may be lowered as a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FoldTranspose {
    /// Every consumer (through free views) is a MatMul operand, which reads
    /// the permuted layout directly.
    IntoMatMul,
    /// The input comes (through free views and, if given, that bias Add once
    /// it is fused) from a MatMul, Gemm or Conv that only feeds this
    /// transpose, so it writes its result in the permuted layout.
    FromProducer { via_bias_add: Option<usize> },
}

/// What the walk fuses, by node index.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// MatMul, Gemm or Conv node → the Add node that adds its bias and the
    /// bias operand's name.
    pub bias: BTreeMap<usize, (usize, String)>,
    /// Last node of a GELU pattern → the name of the pattern's input.
    pub gelu: BTreeMap<usize, String>,
    /// The Mul of a Swish (SiLU) pattern `x · sigmoid(x)` → the name of `x`.
    pub swish: BTreeMap<usize, String>,
    /// Nodes inside a fused GELU or Swish: lowered to nothing.
    pub skip: BTreeSet<usize>,
    /// Transposes that may be views.
    pub transpose: BTreeMap<usize, FoldTranspose>,
    /// Values read only by Shape or Size nodes (and not graph outputs).
    pub shape_only: BTreeSet<String>,
}

/// A scalar constant (an initializer or a Constant node's output).
#[derive(Clone, Copy, Debug)]
struct Scalar(Option<f64>);

struct Net<'g> {
    nodes: &'g [NodeProto],
    producer: BTreeMap<&'g str, usize>,
    /// Each value's consuming nodes, once per input slot.
    consumers: BTreeMap<&'g str, Vec<usize>>,
    outputs: BTreeSet<&'g str>,
    /// Constants: initializers and Constant outputs, with the value of a
    /// one-element numeric tensor.
    consts: BTreeMap<&'g str, Scalar>,
    float_consts: BTreeSet<&'g str>,
}

impl<'g> Net<'g> {
    fn new(graph: &'g GraphProto) -> Self {
        let mut net = Net {
            nodes: &graph.node,
            producer: BTreeMap::new(),
            consumers: BTreeMap::new(),
            outputs: graph.output.iter().map(|o| o.name.as_str()).collect(),
            consts: BTreeMap::new(),
            float_consts: BTreeSet::new(),
        };
        for t in &graph.initializer {
            net.add_const(&t.name, Scalar(scalar(t)), t.data_type);
        }
        for (i, node) in graph.node.iter().enumerate() {
            for name in node.input.iter().filter(|n| !n.is_empty()) {
                net.consumers.entry(name).or_default().push(i);
            }
            for name in node.output.iter().filter(|n| !n.is_empty()) {
                net.producer.entry(name).or_insert(i);
            }
            if node.op_type == "Constant"
                && let Some(out) = node.output.first()
            {
                let attrs = Attrs::new(node);
                if let Ok(Some(t)) = attrs.tensor("value") {
                    net.add_const(out, Scalar(scalar(t)), t.data_type);
                } else if let Ok(Some(f)) = attrs.float("value_float") {
                    net.add_const(out, Scalar(Some(f64::from(f))), DataType::Float as i32);
                } else if let Ok(Some(i)) = attrs.int("value_int") {
                    net.add_const(out, Scalar(Some(i as f64)), DataType::Int64 as i32);
                }
            }
        }
        net
    }

    fn add_const(&mut self, name: &'g str, s: Scalar, elem: i32) {
        self.consts.insert(name, s);
        if crate::reader::is_float(elem) {
            self.float_consts.insert(name);
        }
    }

    /// The one node reading `name`, if exactly one does and it is not a graph
    /// output.
    fn sole_consumer(&self, name: &str) -> Option<usize> {
        match self.consumers.get(name).map(Vec::as_slice) {
            Some(&[c]) if !self.outputs.contains(name) => Some(c),
            _ => None,
        }
    }

    fn node(&self, i: usize) -> &'g NodeProto {
        &self.nodes[i]
    }

    fn out(&self, i: usize) -> &'g str {
        self.nodes[i].output.first().map_or("", String::as_str)
    }

    /// The value of a scalar constant.
    fn value(&self, name: &str) -> Option<f64> {
        self.consts.get(name).and_then(|s| s.0)
    }

    fn is_const(&self, name: &str) -> bool {
        self.consts.contains_key(name)
    }

    /// For a binary node with one constant operand near `want`, the other
    /// operand's name.
    fn with_const(&self, i: usize, op: &str, want: f64) -> Option<&'g str> {
        let n = self.node(i);
        if n.op_type != op || n.input.len() != 2 {
            return None;
        }
        let (a, b) = (n.input[0].as_str(), n.input[1].as_str());
        let near = |name: &str| self.value(name).is_some_and(|v| close(v, want));
        // Div is not commutative: only `x / c` matches.
        if near(b) && !self.is_const(a) {
            Some(a)
        } else if op != "Div" && near(a) && !self.is_const(b) {
            Some(b)
        } else {
            None
        }
    }

    /// The node producing `name` if `name` has no other consumer.
    fn private_producer(&self, name: &str) -> Option<usize> {
        self.sole_consumer(name)?;
        self.producer.get(name).copied()
    }
}

fn close(v: f64, want: f64) -> bool {
    (v - want).abs() <= TOLERANCE * want.abs().max(1.0)
}

/// The value of a one-element numeric tensor stored inline.
fn scalar(t: &TensorProto) -> Option<f64> {
    use DataType as D;
    // Dims are not yet validated here (the plan is made before the walk), so
    // a hostile file's dims must not overflow the product.
    let one = t.dims.iter().try_fold(1i64, |a, &d| a.checked_mul(d)) == Some(1);
    if !one || crate::reader::is_external(t) {
        return None;
    }
    let raw = &t.raw_data;
    match D::try_from(t.data_type).ok()? {
        D::Float => match t.float_data.first() {
            Some(&f) => Some(f64::from(f)),
            None => Some(f64::from(f32::from_le_bytes(
                raw.get(..4)?.try_into().ok()?,
            ))),
        },
        D::Double => match t.double_data.first() {
            Some(&f) => Some(f),
            None => Some(f64::from_le_bytes(raw.get(..8)?.try_into().ok()?)),
        },
        D::Float16 => {
            let bits = match t.int32_data.first() {
                Some(&b) => b as u16,
                None => u16::from_le_bytes(raw.get(..2)?.try_into().ok()?),
            };
            Some(f16_to_f64(bits))
        }
        D::Int64 | D::Int32 => crate::reader::int_values(t, 1)
            .ok()
            .flatten()
            .map(|v| v[0] as f64),
        _ => None,
    }
}

fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 => f64::INFINITY,
        _ => (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// Plans the fusions of `graph` (see the module comment).
pub fn plan(graph: &GraphProto) -> Plan {
    let net = Net::new(graph);
    let mut plan = Plan::default();
    for (i, node) in graph.node.iter().enumerate() {
        match node.op_type.as_str() {
            "MatMul" | "Gemm" | "Conv" => {
                if let Some(b) = bias_add(&net, i) {
                    plan.bias.insert(i, b);
                }
            }
            "Erf" => {
                if let Some((x, inner, end)) = gelu_erf(&net, i) {
                    plan.skip.extend(inner);
                    plan.gelu.insert(end, x.to_string());
                }
            }
            "Tanh" => {
                if let Some((x, inner, end)) = gelu_tanh(&net, i) {
                    plan.skip.extend(inner);
                    plan.gelu.insert(end, x.to_string());
                }
            }
            "Sigmoid" => {
                if let Some((x, end)) = swish(&net, i) {
                    plan.skip.insert(i);
                    plan.swish.insert(end, x.to_string());
                }
            }
            _ => {}
        }
    }
    let bias_adds: BTreeMap<usize, usize> =
        plan.bias.iter().map(|(&mm, &(add, _))| (add, mm)).collect();
    for (i, node) in graph.node.iter().enumerate() {
        if node.op_type == "Transpose"
            && let Some(f) = fold_transpose(&net, i, &bias_adds)
        {
            plan.transpose.insert(i, f);
        }
    }
    for (name, cs) in &net.consumers {
        let shape_reads = |&c: &usize| matches!(net.node(c).op_type.as_str(), "Shape" | "Size");
        if !net.outputs.contains(name) && cs.iter().all(shape_reads) {
            plan.shape_only.insert((*name).to_string());
        }
    }
    plan
}

/// A MatMul, Gemm (without C) or Conv (without bias) whose only consumer is
/// an Add of a float constant: that Add and the constant's name.
fn bias_add(net: &Net<'_>, i: usize) -> Option<(usize, String)> {
    let node = net.node(i);
    let has_bias = node.input.get(2).is_some_and(|n| !n.is_empty());
    if has_bias {
        return None;
    }
    let add = net.sole_consumer(net.out(i))?;
    let a = net.node(add);
    if a.op_type != "Add" || a.input.len() != 2 {
        return None;
    }
    let other = if a.input[0] == net.out(i) {
        &a.input[1]
    } else {
        &a.input[0]
    };
    (net.float_consts.contains(other.as_str()) && other != net.out(i)).then(|| (add, other.clone()))
}

/// The tail shared by both GELU forms: from `a` (the `1 + f(x)` value), the
/// products with `x` and 0.5 in any order. Returns the inner nodes and the
/// last node.
fn gelu_tail(net: &Net<'_>, x: &str, a: &str) -> Option<(Vec<usize>, usize)> {
    let m = net.sole_consumer(a)?;
    let mn = net.node(m);
    if mn.op_type != "Mul" || mn.input.len() != 2 {
        return None;
    }
    let y = if mn.input[0] == a {
        &mn.input[1]
    } else {
        &mn.input[0]
    };
    if y == x {
        // (x · a) · 0.5
        let end = net.sole_consumer(net.out(m))?;
        net.with_const(end, "Mul", 0.5)
            .filter(|&v| v == net.out(m))?;
        Some((vec![m], end))
    } else if net.value(y).is_some_and(|v| close(v, 0.5)) {
        // (a · 0.5) · x
        let end = net.sole_consumer(net.out(m))?;
        let en = net.node(end);
        let ok = en.op_type == "Mul"
            && en.input.len() == 2
            && ((en.input[0] == net.out(m) && en.input[1] == x)
                || (en.input[1] == net.out(m) && en.input[0] == x));
        ok.then(|| (vec![m], end))
    } else {
        // (x · 0.5) · a
        let h = net.private_producer(y)?;
        (net.with_const(h, "Mul", 0.5)? == x).then(|| (vec![h], m))
    }
}

/// `x / √2 → Erf → + 1 → · x → · 0.5` (or `· 1/√2`), from the Erf node `e`:
/// the input `x`, the inner nodes and the last node.
fn gelu_erf<'g>(net: &Net<'g>, e: usize) -> Option<(&'g str, Vec<usize>, usize)> {
    let en = net.node(e);
    let d = net.private_producer(en.input.first()?)?;
    let x = net
        .with_const(d, "Div", std::f64::consts::SQRT_2)
        .or_else(|| net.with_const(d, "Mul", std::f64::consts::FRAC_1_SQRT_2))?;
    let add = net.sole_consumer(net.out(e))?;
    (net.with_const(add, "Add", 1.0)? == net.out(e)).then_some(())?;
    let (tail, end) = gelu_tail(net, x, net.out(add))?;
    let mut inner = vec![d, e, add];
    inner.extend(tail);
    Some((x, inner, end))
}

/// `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))`, from the Tanh node
/// `t`: the input `x`, the inner nodes and the last node.
fn gelu_tanh<'g>(net: &Net<'g>, t: usize) -> Option<(&'g str, Vec<usize>, usize)> {
    let tn = net.node(t);
    let u = net.private_producer(tn.input.first()?)?;
    let s_name = net.with_const(u, "Mul", (2.0 / std::f64::consts::PI).sqrt())?;
    let s = net.private_producer(s_name)?;
    let sn = net.node(s);
    if sn.op_type != "Add" || sn.input.len() != 2 {
        return None;
    }
    // One operand of the sum is x, the other 0.044715 · x³.
    let (x, q) = [(0, 1), (1, 0)].into_iter().find_map(|(xi, qi)| {
        let q = net.private_producer(&sn.input[qi])?;
        let p_name = net.with_const(q, "Mul", 0.044715)?;
        let p = net.private_producer(p_name)?;
        let pn = net.node(p);
        let cube = pn.op_type == "Pow"
            && pn.input.len() == 2
            && pn.input[0] == sn.input[xi]
            && net.value(&pn.input[1]).is_some_and(|v| close(v, 3.0));
        cube.then_some((sn.input[xi].as_str(), [q, p]))
    })?;
    let add = net.sole_consumer(net.out(t))?;
    (net.with_const(add, "Add", 1.0)? == net.out(t)).then_some(())?;
    let (tail, end) = gelu_tail(net, x, net.out(add))?;
    let mut inner = vec![q[1], q[0], s, u, t, add];
    inner.extend(tail);
    Some((x, inner, end))
}

/// `x · sigmoid(x)` (SiLU), from the Sigmoid node `s`: the input `x` and the
/// Mul node, when the Mul is the sigmoid's only reader and its other operand
/// is the sigmoid's own input (an SE block's `x · sigmoid(s)` is not a Swish).
fn swish<'g>(net: &Net<'g>, s: usize) -> Option<(&'g str, usize)> {
    let x = net.node(s).input.first()?.as_str();
    let y = net.out(s);
    if x.is_empty() || y.is_empty() || x == y {
        return None;
    }
    let m = net.sole_consumer(y)?;
    let mn = net.node(m);
    let ok = mn.op_type == "Mul"
        && mn.input.len() == 2
        && ((mn.input[0] == x && mn.input[1] == y) || (mn.input[0] == y && mn.input[1] == x));
    ok.then_some((x, m))
}

/// Whether Transpose node `t` may be a view, and why.
fn fold_transpose(
    net: &Net<'_>,
    t: usize,
    bias_adds: &BTreeMap<usize, usize>,
) -> Option<FoldTranspose> {
    if into_matmuls(net, net.out(t), 0) {
        return Some(FoldTranspose::IntoMatMul);
    }
    // Walk back through free views, each the only reader of its input.
    let mut name = net.node(t).input.first()?.as_str();
    let mut via_bias_add = None;
    for _ in 0..16 {
        net.sole_consumer(name)?;
        let p = *net.producer.get(name)?;
        let pn = net.node(p);
        match pn.op_type.as_str() {
            "MatMul" | "Gemm" | "Conv" => {
                return Some(FoldTranspose::FromProducer { via_bias_add });
            }
            op if ops::is_view(op) => name = pn.input.first()?,
            "Add" if bias_adds.contains_key(&p) && via_bias_add.is_none() => {
                via_bias_add = Some(p);
                name = net.out(bias_adds[&p]);
            }
            _ => return None,
        }
    }
    None
}

/// Whether every reader of `name`, through free views, is a MatMul operand.
fn into_matmuls(net: &Net<'_>, name: &str, depth: usize) -> bool {
    let Some(cs) = net.consumers.get(name) else {
        return false;
    };
    if net.outputs.contains(name) || depth > 16 {
        return false;
    }
    cs.iter().all(|&c| {
        let n = net.node(c);
        match n.op_type.as_str() {
            "MatMul" => true,
            op if ops::is_view(op) => {
                n.input.first().is_some_and(|i| i == name)
                    && n.output.len() == 1
                    && into_matmuls(net, net.out(c), depth + 1)
            }
            _ => false,
        }
    })
}

/// A column block of a projection's output, read by a slice op.
#[derive(Clone, Debug)]
pub struct Piece {
    /// The slice op reading the block.
    pub op: OpId,
    /// The projection (a one-input matmul) whose output it reads.
    pub of: OpId,
    /// First column and width of the block.
    pub start: u64,
    pub width: u64,
}

/// The lowered-op-list stage: splits projections read only in column blocks
/// (`pieces`) into one projection per block, and drops `dead` ops (read only
/// for their shape, by no op). Returns `graph` unchanged when nothing applies.
pub fn rewrite(graph: Graph, pieces: &[Piece], dead: &BTreeSet<OpId>) -> Result<Graph, String> {
    let ops = graph.ops();
    let mut readers: Vec<Vec<OpId>> = vec![Vec::new(); ops.len()];
    for op in ops {
        for i in &op.inputs {
            if let Source::Op(p) = i.source {
                readers[p.idx()].push(op.id);
            }
        }
    }
    // Projections whose every reader is one of its pieces, tiling its columns.
    let mut by_proj: BTreeMap<OpId, Vec<&Piece>> = BTreeMap::new();
    for p in pieces {
        by_proj.entry(p.of).or_default().push(p);
    }
    let mut replace: BTreeMap<OpId, (OpId, u32, u64, u64)> = BTreeMap::new();
    let mut drop: BTreeSet<OpId> = BTreeSet::new();
    for (proj, mut ps) in by_proj {
        let op = &ops[proj.idx()];
        let OpKind::MatMul { batch: 1, n, .. } = op.kind else {
            continue;
        };
        if op.inputs.len() != 1 || n == 0 || !op.params.is_multiple_of(n) {
            continue;
        }
        ps.sort_by_key(|p| p.start);
        let mut next = 0;
        let tiles = ps.iter().all(|p| {
            let ok = p.start == next && p.width > 0;
            next = p.start + p.width;
            ok
        }) && next == n;
        let mut read_by: Vec<OpId> = ps.iter().map(|p| p.op).collect();
        read_by.sort();
        read_by.dedup();
        let mut actual = readers[proj.idx()].clone();
        actual.sort();
        actual.dedup();
        if !tiles || read_by != actual || read_by.len() != ps.len() {
            continue;
        }
        for (j, p) in ps.iter().enumerate() {
            replace.insert(p.op, (proj, j as u32, p.start, p.width));
        }
        drop.insert(proj);
    }
    for &d in dead {
        if readers[d.idx()].is_empty() {
            drop.insert(d);
        }
    }
    if drop.is_empty() {
        return Ok(graph);
    }
    let names: BTreeSet<&str> = ops.iter().map(|o| o.name.as_str()).collect();
    let mut new_id: Vec<Option<OpId>> = vec![None; ops.len()];
    let mut out: Vec<Op> = Vec::with_capacity(ops.len());
    for op in ops {
        if drop.contains(&op.id) {
            continue;
        }
        let mut op = op.clone();
        if let Some(&(proj, j, _, width)) = replace.get(&op.id) {
            let p = &ops[proj.idx()];
            let OpKind::MatMul { m, k, n, .. } = p.kind else {
                unreachable!("checked above")
            };
            let name = format!("{}/{j}", p.name);
            if !names.contains(name.as_str()) {
                op.name = name;
            }
            op.kind = OpKind::MatMul {
                batch: 1,
                m,
                k,
                n: width,
            };
            op.inputs = p.inputs.clone();
            op.macs = m * k * width;
            op.vector_ops = 0;
            op.params = p.params / n * width;
            op.weight_bytes = op.params * op.dtype.bytes();
        }
        let id = OpId(out.len() as u32);
        new_id[op.id.idx()] = Some(id);
        op.id = id;
        for i in &mut op.inputs {
            if let Source::Op(p) = i.source {
                i.source = Source::Op(new_id[p.idx()].ok_or("an op reads a dropped op")?);
            }
        }
        out.push(op);
    }
    Graph::new(GraphFile {
        format_version: GRAPH_FORMAT_VERSION,
        name: graph.name().to_string(),
        model: graph.model().to_string(),
        params: graph.params().clone(),
        inputs: graph.inputs().to_vec(),
        ops: out,
    })
    .map_err(|e| {
        let issues: Vec<String> = e.issues.iter().map(|i| i.to_string()).collect();
        issues.join("; ")
    })
}
