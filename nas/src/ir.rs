//! The architecture IR: a network is a DAG of operations on per-sample
//! tensors (the batch dimension is symbolic: it is not in any shape here and
//! is chosen when the network is lowered or trained), grouped into named
//! blocks.
//!
//! Values are numbered: value 0 is the network's input, value `i + 1` the
//! output of node `i`. Nodes are kept in topological order, so a node only
//! reads values defined before it. Image tensors are `[channels, height,
//! width]`; sequence tensors `[tokens, features]`.
//!
//! What can be done to a network: infer its shapes ([`Net::shapes`]), select
//! a region by its input and output values ([`Net::region`], [`Net::block`]),
//! replace a region with a [`Fragment`] of the same interface
//! ([`Net::replace`]), drop nodes that do not reach the output
//! ([`Net::without_dead_code`]), and fingerprint it ([`Net::fingerprint`]):
//! two networks that differ only in node names, block names or the order
//! independent nodes were written have the same fingerprint.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// A value: 0 is the network input, `i + 1` the output of node `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ValueId(pub u32);

impl ValueId {
    /// The network's input.
    pub const INPUT: ValueId = ValueId(0);

    /// The value node `i` writes.
    pub fn of_node(i: usize) -> ValueId {
        ValueId(i as u32 + 1)
    }

    /// The node that writes this value, or `None` for the network input.
    pub fn node(self) -> Option<usize> {
        (self.0 as usize).checked_sub(1)
    }
}

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node() {
            None => write!(f, "input"),
            Some(i) => write!(f, "%{i}"),
        }
    }
}

/// A per-sample shape (no batch dimension).
pub type Shape = Vec<u64>;

/// What an operation computes. Every learned operation has a bias.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Fully connected over the last axis: `[.., k] → [.., units]`.
    Dense {
        units: u64,
    },
    /// 2-D convolution of `[c, h, w]`, square kernel, zero padding on every
    /// side, `groups` channel groups (depthwise when `groups == c`).
    Conv {
        out_channels: u64,
        kernel: u64,
        stride: u64,
        padding: u64,
        groups: u64,
    },
    /// Max over square windows of `[c, h, w]` (padding never wins the max).
    MaxPool {
        kernel: u64,
        stride: u64,
        padding: u64,
    },
    /// Mean over square windows of `[c, h, w]` (padding counts as zero,
    /// divided by the full window).
    AvgPool {
        kernel: u64,
        stride: u64,
        padding: u64,
    },
    /// Mean over every spatial position: `[c, h, w] → [c]`.
    GlobalAvgPool,
    /// Inference-form batch normalisation: a learned scale and shift per
    /// channel (axis 0).
    BatchNorm,
    /// Normalisation over the last axis, with a learned scale and shift.
    LayerNorm,
    Relu,
    Gelu,
    Tanh,
    Sigmoid,
    /// Softmax over the last axis.
    Softmax,
    /// Element-wise sum of two or more same-shaped inputs.
    Add,
    /// Concatenation along a per-sample axis.
    Concat {
        axis: u32,
    },
    /// Everything into one axis.
    Flatten,
    /// The same elements in row-major order with another shape.
    Reshape {
        shape: Shape,
    },
    /// Axis permutation: output axis `i` is input axis `perm[i]`.
    Transpose {
        perm: Vec<u32>,
    },
    /// Product of two activations: `[.., m, k] × [.., k, n] → [.., m, n]`,
    /// leading axes equal (attention's scores and mixing).
    MatMul,
}

/// How an operation counts for the depth property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Linearity {
    /// Affine in its inputs.
    Linear,
    /// Not affine.
    NonLinear,
    /// Moves elements without computing (concat, flatten, reshape,
    /// transpose): transparent to depth.
    Structural,
}

impl Op {
    /// The name used in tables and files.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Dense { .. } => "dense",
            Op::Conv { .. } => "conv",
            Op::MaxPool { .. } => "max_pool",
            Op::AvgPool { .. } => "avg_pool",
            Op::GlobalAvgPool => "global_avg_pool",
            Op::BatchNorm => "batch_norm",
            Op::LayerNorm => "layer_norm",
            Op::Relu => "relu",
            Op::Gelu => "gelu",
            Op::Tanh => "tanh",
            Op::Sigmoid => "sigmoid",
            Op::Softmax => "softmax",
            Op::Add => "add",
            Op::Concat { .. } => "concat",
            Op::Flatten => "flatten",
            Op::Reshape { .. } => "reshape",
            Op::Transpose { .. } => "transpose",
            Op::MatMul => "matmul",
        }
    }

    /// Linear, non-linear or structural (see [`Linearity`]).
    pub fn linearity(&self) -> Linearity {
        match self {
            Op::Dense { .. }
            | Op::Conv { .. }
            | Op::AvgPool { .. }
            | Op::GlobalAvgPool
            | Op::BatchNorm
            | Op::Add => Linearity::Linear,
            Op::MaxPool { .. }
            | Op::LayerNorm
            | Op::Relu
            | Op::Gelu
            | Op::Tanh
            | Op::Sigmoid
            | Op::Softmax
            | Op::MatMul => Linearity::NonLinear,
            Op::Concat { .. } | Op::Flatten | Op::Reshape { .. } | Op::Transpose { .. } => {
                Linearity::Structural
            }
        }
    }

    /// How many inputs the op takes: `(min, max)`.
    pub fn arity(&self) -> (usize, usize) {
        match self {
            Op::Add | Op::Concat { .. } => (2, usize::MAX),
            Op::MatMul => (2, 2),
            _ => (1, 1),
        }
    }

    /// Learned parameters for inputs of these shapes (weights and biases;
    /// batch and layer norm's scale and shift).
    pub fn params(&self, inputs: &[&Shape]) -> u64 {
        let x = inputs[0];
        match *self {
            Op::Dense { units } => (x.last().copied().unwrap_or(1) + 1) * units,
            Op::Conv {
                out_channels,
                kernel,
                groups,
                ..
            } => (x[0] / groups * kernel * kernel + 1) * out_channels,
            Op::BatchNorm => 2 * x[0],
            Op::LayerNorm => 2 * x.last().copied().unwrap_or(1),
            _ => 0,
        }
    }

    /// Multiply-accumulates per sample for inputs of these shapes (dense,
    /// conv and matmul; other ops count none).
    pub fn macs(&self, inputs: &[&Shape], output: &Shape) -> u64 {
        let x = inputs[0];
        match *self {
            Op::Dense { .. } => numel(output) * x.last().copied().unwrap_or(1),
            Op::Conv { kernel, groups, .. } => numel(output) * (x[0] / groups) * kernel * kernel,
            Op::MatMul => numel(output) * x[x.len() - 1],
            _ => 0,
        }
    }

    /// The output shape for inputs of these shapes, or what is wrong.
    pub fn infer(&self, inputs: &[&Shape]) -> Result<Shape, IrError> {
        self.infer_shape(inputs).map_err(IrError)
    }

    fn infer_shape(&self, inputs: &[&Shape]) -> Result<Shape, String> {
        let (lo, hi) = self.arity();
        if inputs.len() < lo || inputs.len() > hi {
            return Err(format!(
                "{} takes {} input(s), got {}",
                self.name(),
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo} or more")
                },
                inputs.len()
            ));
        }
        let x = inputs[0];
        if x.is_empty() || x.contains(&0) {
            return Err(format!("input shape {x:?} is empty or has a zero axis"));
        }
        let image = |what: &str| -> Result<(), String> {
            if x.len() == 3 {
                Ok(())
            } else {
                Err(format!("{what} needs a [c, h, w] input, got {x:?}"))
            }
        };
        let window = |k: u64, s: u64, p: u64, n: u64| -> Result<u64, String> {
            if k == 0 || s == 0 {
                return Err("kernel and stride must be at least 1".into());
            }
            if p >= k {
                return Err(format!("padding {p} must be less than the kernel {k}"));
            }
            let padded = n + 2 * p;
            if padded < k {
                return Err(format!(
                    "kernel {k} is larger than the padded input ({padded})"
                ));
            }
            Ok((padded - k) / s + 1)
        };
        match self {
            Op::Dense { units } => {
                if *units == 0 {
                    return Err("dense needs at least one unit".into());
                }
                let mut y = x.clone();
                *y.last_mut().expect("non-empty") = *units;
                Ok(y)
            }
            Op::Conv {
                out_channels,
                kernel,
                stride,
                padding,
                groups,
            } => {
                image("conv")?;
                if *groups == 0
                    || !x[0].is_multiple_of(*groups)
                    || !out_channels.is_multiple_of(*groups)
                {
                    return Err(format!(
                        "{groups} group(s) must divide the input channels ({}) and the output channels ({out_channels})",
                        x[0]
                    ));
                }
                if *out_channels == 0 {
                    return Err("conv needs at least one output channel".into());
                }
                let h = window(*kernel, *stride, *padding, x[1])?;
                let w = window(*kernel, *stride, *padding, x[2])?;
                Ok(vec![*out_channels, h, w])
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
                image(self.name())?;
                let h = window(*kernel, *stride, *padding, x[1])?;
                let w = window(*kernel, *stride, *padding, x[2])?;
                Ok(vec![x[0], h, w])
            }
            Op::GlobalAvgPool => {
                image("global_avg_pool")?;
                Ok(vec![x[0]])
            }
            Op::BatchNorm
            | Op::LayerNorm
            | Op::Relu
            | Op::Gelu
            | Op::Tanh
            | Op::Sigmoid
            | Op::Softmax => Ok(x.clone()),
            Op::Add => {
                if let Some(other) = inputs.iter().find(|s| **s != x) {
                    return Err(format!("add needs equal shapes, got {x:?} and {other:?}"));
                }
                Ok(x.clone())
            }
            Op::Concat { axis } => {
                let a = *axis as usize;
                if a >= x.len() {
                    return Err(format!("concat axis {a} is outside rank {}", x.len()));
                }
                let mut y = x.clone();
                y[a] = 0;
                for s in inputs {
                    let same_rest = s.len() == x.len()
                        && s.iter()
                            .zip(x.iter())
                            .enumerate()
                            .all(|(i, (p, q))| i == a || p == q);
                    if !same_rest {
                        return Err(format!(
                            "concat along axis {a} needs equal other axes, got {x:?} and {s:?}"
                        ));
                    }
                    y[a] += s[a];
                }
                Ok(y)
            }
            Op::Flatten => Ok(vec![numel(x)]),
            Op::Reshape { shape } => {
                if shape.is_empty() || shape.contains(&0) || numel(shape) != numel(x) {
                    return Err(format!("cannot reshape {x:?} to {shape:?}"));
                }
                Ok(shape.clone())
            }
            Op::Transpose { perm } => {
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if sorted != (0..x.len() as u32).collect::<Vec<_>>() {
                    return Err(format!("{perm:?} is not a permutation of {} axes", x.len()));
                }
                Ok(perm.iter().map(|&p| x[p as usize]).collect())
            }
            Op::MatMul => {
                let b = inputs[1];
                let r = x.len();
                if r < 2 || b.len() != r || x[..r - 2] != b[..r - 2] || x[r - 1] != b[r - 2] {
                    return Err(format!("matmul cannot multiply {x:?} by {b:?}"));
                }
                let mut y = x.clone();
                y[r - 1] = b[r - 1];
                Ok(y)
            }
        }
    }
}

/// Number of elements of a shape.
pub fn numel(shape: &[u64]) -> u64 {
    shape.iter().product()
}

/// One operation of a network. (Unknown fields cannot be refused here:
/// serde does not support `deny_unknown_fields` with a flattened field; the
/// op's own tag refuses unknown attributes.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// A name for people; it never affects the search.
    pub name: String,
    /// The block the node belongs to.
    pub block: String,
    #[serde(flatten)]
    pub op: Op,
    pub inputs: Vec<ValueId>,
}

/// A network: one input, nodes in topological order, one output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Net {
    pub name: String,
    /// Per-sample input shape.
    pub input: Shape,
    pub nodes: Vec<Node>,
    pub output: ValueId,
}

/// Why a network or a rewrite of it is not well formed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrError(pub String);

impl fmt::Display for IrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IrError {}

fn err<T>(msg: impl Into<String>) -> Result<T, IrError> {
    Err(IrError(msg.into()))
}

/// A connected region of a network, given by the values that enter it and
/// the values that leave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// Values defined outside the region that its nodes read, in the order
    /// given.
    pub inputs: Vec<ValueId>,
    /// Values defined inside the region read outside it (or the network
    /// output), in the order given.
    pub outputs: Vec<ValueId>,
    /// The region's nodes, ascending.
    pub nodes: Vec<usize>,
}

/// A subgraph standing alone: `inputs.len()` inputs (fragment values
/// `0 .. k`), nodes whose value is `k + i`, and the values it returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fragment {
    pub inputs: Vec<Shape>,
    pub nodes: Vec<Node>,
    pub outputs: Vec<ValueId>,
}

impl Fragment {
    /// The shape of every fragment value (inputs first), or the first node
    /// whose inputs are wrong.
    pub fn shapes(&self) -> Result<Vec<Shape>, IrError> {
        let mut shapes = self.inputs.clone();
        for (i, n) in self.nodes.iter().enumerate() {
            let here = self.inputs.len() + i;
            let ins = read(&shapes, &n.inputs, here, &n.name)?;
            let y =
                n.op.infer(&ins)
                    .map_err(|e| IrError(format!("node {i} ({}): {e}", n.name)))?;
            shapes.push(y);
        }
        for o in &self.outputs {
            if o.0 as usize >= shapes.len() {
                return err(format!("output {} is not a value of the fragment", o.0));
            }
        }
        Ok(shapes)
    }

    /// The output shapes.
    pub fn output_shapes(&self) -> Result<Vec<Shape>, IrError> {
        let s = self.shapes()?;
        Ok(self
            .outputs
            .iter()
            .map(|o| s[o.0 as usize].clone())
            .collect())
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// The shapes of `ids` among the values defined before value `here`.
fn read<'a>(
    shapes: &'a [Shape],
    ids: &[ValueId],
    here: usize,
    name: &str,
) -> Result<Vec<&'a Shape>, IrError> {
    ids.iter()
        .map(|v| {
            if (v.0 as usize) < here {
                Ok(&shapes[v.0 as usize])
            } else {
                err(format!("{name} reads value {} before it is defined", v.0))
            }
        })
        .collect()
}

impl Net {
    /// The shape of every value (input first), or the first node that is
    /// wrong.
    pub fn shapes(&self) -> Result<Vec<Shape>, IrError> {
        let mut shapes = vec![self.input.clone()];
        for (i, n) in self.nodes.iter().enumerate() {
            let ins = read(&shapes, &n.inputs, i + 1, &n.name)?;
            let y =
                n.op.infer(&ins)
                    .map_err(|e| IrError(format!("node {i} ({}): {e}", n.name)))?;
            shapes.push(y);
        }
        if self.output.0 as usize >= shapes.len() {
            return err(format!("output {} is not a value", self.output.0));
        }
        Ok(shapes)
    }

    /// Checks the network is well formed (every node's inputs exist and
    /// have shapes it accepts).
    pub fn validate(&self) -> Result<(), IrError> {
        self.shapes().map(|_| ())
    }

    /// The output's per-sample shape.
    pub fn output_shape(&self) -> Result<Shape, IrError> {
        Ok(self.shapes()?.swap_remove(self.output.0 as usize))
    }

    /// Learned parameters.
    pub fn params(&self) -> Result<u64, IrError> {
        let shapes = self.shapes()?;
        Ok(self
            .nodes
            .iter()
            .map(|n| {
                let ins: Vec<&Shape> = n.inputs.iter().map(|v| &shapes[v.0 as usize]).collect();
                n.op.params(&ins)
            })
            .sum())
    }

    /// Multiply-accumulates per sample.
    pub fn macs(&self) -> Result<u64, IrError> {
        let shapes = self.shapes()?;
        Ok(self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let ins: Vec<&Shape> = n.inputs.iter().map(|v| &shapes[v.0 as usize]).collect();
                n.op.macs(&ins, &shapes[i + 1])
            })
            .sum())
    }

    /// For each value, the nodes that read it (ascending).
    pub fn readers(&self) -> Vec<Vec<usize>> {
        let mut r = vec![Vec::new(); self.nodes.len() + 1];
        for (i, n) in self.nodes.iter().enumerate() {
            for v in &n.inputs {
                if !r[v.0 as usize].contains(&i) {
                    r[v.0 as usize].push(i);
                }
            }
        }
        r
    }

    /// Block names in order of first appearance.
    pub fn block_names(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for n in &self.nodes {
            if seen.insert(n.block.clone()) {
                out.push(n.block.clone());
            }
        }
        out
    }

    /// The region made of block `name`'s nodes: its inputs are the values
    /// its nodes read from outside it (in order of first read), its outputs
    /// the values it defines that are read outside it or are the network
    /// output (ascending).
    pub fn block(&self, name: &str) -> Result<Region, IrError> {
        let nodes: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].block == name)
            .collect();
        if nodes.is_empty() {
            return err(format!("no block named {name:?}"));
        }
        self.region_of_nodes(&nodes)
    }

    /// The region of a set of nodes, with inputs and outputs worked out as
    /// for [`Net::block`].
    pub fn region_of_nodes(&self, nodes: &[usize]) -> Result<Region, IrError> {
        let set: BTreeSet<usize> = nodes.iter().copied().collect();
        let mut inputs = Vec::new();
        for &i in &set {
            for v in &self.nodes[i].inputs {
                let inside = v.node().is_some_and(|d| set.contains(&d));
                if !inside && !inputs.contains(v) {
                    inputs.push(*v);
                }
            }
        }
        let readers = self.readers();
        let mut outputs = Vec::new();
        for &i in &set {
            let v = ValueId::of_node(i);
            let read_outside = readers[v.0 as usize].iter().any(|r| !set.contains(r));
            if read_outside || v == self.output {
                outputs.push(v);
            }
        }
        if outputs.is_empty() {
            return err("the region's values are never used".to_string());
        }
        Ok(Region {
            inputs,
            outputs,
            nodes: set.into_iter().collect(),
        })
    }

    /// The region between `inputs` and `outputs`: every node on a path from
    /// an input to an output. Refused when a node of it reads a value from
    /// outside that is not among `inputs`, or when a value it defines other
    /// than `outputs` is read outside it.
    pub fn region(&self, inputs: &[ValueId], outputs: &[ValueId]) -> Result<Region, IrError> {
        let n_values = self.nodes.len() + 1;
        for v in inputs.iter().chain(outputs) {
            if v.0 as usize >= n_values {
                return err(format!("value {} does not exist", v.0));
            }
        }
        let is_input: BTreeSet<ValueId> = inputs.iter().copied().collect();
        // Walk back from the outputs, stopping at the inputs.
        let mut set = BTreeSet::new();
        let mut stack: Vec<ValueId> = outputs.to_vec();
        while let Some(v) = stack.pop() {
            if is_input.contains(&v) {
                continue;
            }
            let Some(i) = v.node() else {
                return err(format!(
                    "the region reaches the network input, which is not among its inputs (from {})",
                    outputs[0]
                ));
            };
            if set.insert(i) {
                stack.extend(self.nodes[i].inputs.iter().copied());
            }
        }
        if set.is_empty() {
            return err("the region has no nodes".to_string());
        }
        let readers = self.readers();
        for &i in &set {
            let v = ValueId::of_node(i);
            if outputs.contains(&v) {
                continue;
            }
            if readers[v.0 as usize].iter().any(|r| !set.contains(r)) || v == self.output {
                return err(format!(
                    "value {v} of the region is read outside it but is not one of its outputs"
                ));
            }
        }
        Ok(Region {
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
            nodes: set.into_iter().collect(),
        })
    }

    /// The region as a fragment standing alone (values renumbered).
    pub fn extract(&self, region: &Region) -> Result<Fragment, IrError> {
        let shapes = self.shapes()?;
        let mut map = BTreeMap::new();
        for (k, v) in region.inputs.iter().enumerate() {
            map.insert(*v, ValueId(k as u32));
        }
        let mut nodes = Vec::new();
        for &i in &region.nodes {
            let mut n = self.nodes[i].clone();
            for v in &mut n.inputs {
                *v = *map.get(v).ok_or_else(|| {
                    IrError(format!(
                        "node {i} ({}) reads {v}, which is outside the region and not an input",
                        n.name
                    ))
                })?;
            }
            map.insert(
                ValueId::of_node(i),
                ValueId((region.inputs.len() + nodes.len()) as u32),
            );
            nodes.push(n);
        }
        Ok(Fragment {
            inputs: region
                .inputs
                .iter()
                .map(|v| shapes[v.0 as usize].clone())
                .collect(),
            nodes,
            outputs: region.outputs.iter().map(|v| map[v]).collect(),
        })
    }

    /// The network with `region` replaced by `fragment`, which must take
    /// inputs of the region's input shapes and give outputs of the region's
    /// output shapes. Readers of the region's outputs read the fragment's
    /// outputs instead; the fragment's nodes join `block`. The result is in
    /// topological order, nodes kept in their old relative order.
    pub fn replace(
        &self,
        region: &Region,
        fragment: &Fragment,
        block: &str,
    ) -> Result<Net, IrError> {
        let shapes = self.shapes()?;
        let want_in: Vec<&Shape> = region
            .inputs
            .iter()
            .map(|v| &shapes[v.0 as usize])
            .collect();
        if fragment.inputs.iter().collect::<Vec<_>>() != want_in {
            return err(format!(
                "the replacement takes {:?} but the region's inputs are {want_in:?}",
                fragment.inputs
            ));
        }
        let got_out = fragment.output_shapes()?;
        let want_out: Vec<Shape> = region
            .outputs
            .iter()
            .map(|v| shapes[v.0 as usize].clone())
            .collect();
        if got_out != want_out {
            return err(format!(
                "the replacement gives {got_out:?} but the region's outputs are {want_out:?}"
            ));
        }
        let in_region: BTreeSet<usize> = region.nodes.iter().copied().collect();
        // Items to place: kept old nodes and fragment nodes, each with its
        // reads expressed as item references; then a stable topological sort.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        enum Src {
            Input,
            Old(usize),
            New(usize),
        }
        let anchor = *region.nodes.last().expect("a region has nodes");
        let out_map: BTreeMap<ValueId, usize> = region
            .outputs
            .iter()
            .zip(&fragment.outputs)
            .map(|(o, f)| (*o, f.0 as usize))
            .collect();
        let k = fragment.inputs.len();
        // Fragment value → source.
        let frag_src = |v: ValueId| -> Src {
            let i = v.0 as usize;
            if i < k {
                match region.inputs[i].node() {
                    None => Src::Input,
                    Some(n) => Src::Old(n),
                }
            } else {
                Src::New(i - k)
            }
        };
        // An old value → source, redirecting region outputs.
        let old_src = |v: ValueId| -> Src {
            match out_map.get(&v) {
                Some(&f) => frag_src(ValueId(f as u32)),
                None => match v.node() {
                    None => Src::Input,
                    Some(n) => Src::Old(n),
                },
            }
        };
        // (sort key, item, node, reads)
        type Item = ((usize, usize), Src, Node, Vec<Src>);
        let mut items: Vec<Item> = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if in_region.contains(&i) {
                continue;
            }
            let reads = n.inputs.iter().map(|v| old_src(*v)).collect();
            items.push(((i, 0), Src::Old(i), n.clone(), reads));
        }
        for (j, n) in fragment.nodes.iter().enumerate() {
            let reads = n.inputs.iter().map(|v| frag_src(*v)).collect();
            let mut n = n.clone();
            n.block = block.to_string();
            items.push(((anchor, j + 1), Src::New(j), n, reads));
        }
        items.sort_by_key(|it| it.0);
        let mut placed: BTreeMap<Src, ValueId> = BTreeMap::new();
        placed.insert(Src::Input, ValueId::INPUT);
        let mut nodes = Vec::new();
        let mut remaining: Vec<bool> = vec![true; items.len()];
        while nodes.len() < items.len() {
            let next = (0..items.len())
                .find(|&t| remaining[t] && items[t].3.iter().all(|s| placed.contains_key(s)));
            let Some(t) = next else {
                return err("the replacement makes a cycle".to_string());
            };
            remaining[t] = false;
            let (_, src, node, reads) = &items[t];
            let mut node = node.clone();
            node.inputs = reads.iter().map(|s| placed[s]).collect();
            placed.insert(*src, ValueId::of_node(nodes.len()));
            nodes.push(node);
        }
        let output = placed[&old_src(self.output)];
        let net = Net {
            name: self.name.clone(),
            input: self.input.clone(),
            nodes,
            output,
        }
        .without_dead_code();
        net.validate()?;
        Ok(net)
    }

    /// The network without nodes that do not reach the output.
    pub fn without_dead_code(&self) -> Net {
        let mut live = vec![false; self.nodes.len()];
        let mut stack = vec![self.output];
        while let Some(v) = stack.pop() {
            if let Some(i) = v.node()
                && !live[i]
            {
                live[i] = true;
                stack.extend(self.nodes[i].inputs.iter().copied());
            }
        }
        let mut map = vec![ValueId::INPUT; self.nodes.len() + 1];
        let mut nodes = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if !live[i] {
                continue;
            }
            let mut n = n.clone();
            for v in &mut n.inputs {
                *v = map[v.0 as usize];
            }
            map[i + 1] = ValueId::of_node(nodes.len());
            nodes.push(n);
        }
        Net {
            name: self.name.clone(),
            input: self.input.clone(),
            nodes,
            output: map[self.output.0 as usize],
        }
    }

    /// A canonical fingerprint: a hash of the output's expression tree
    /// (each value hashed from its op, attributes and the hashes of its
    /// inputs, which are sorted for `add`, whose order does not matter) and
    /// the input shape. Names, blocks, dead nodes and the order independent
    /// nodes were written in do not change it. 32 hex digits.
    pub fn fingerprint(&self) -> String {
        let mut h: Vec<u128> = Vec::with_capacity(self.nodes.len() + 1);
        let mut input = Fnv::new();
        input.write(b"input");
        for d in &self.input {
            input.write(&d.to_le_bytes());
        }
        h.push(input.finish());
        for n in &self.nodes {
            let mut f = Fnv::new();
            f.write(
                serde_json::to_string(&n.op)
                    .expect("ops serialise")
                    .as_bytes(),
            );
            let mut ins: Vec<u128> = n.inputs.iter().map(|v| h[v.0 as usize]).collect();
            if matches!(n.op, Op::Add) {
                ins.sort_unstable();
            }
            for x in ins {
                f.write(&x.to_le_bytes());
            }
            h.push(f.finish());
        }
        format!("{:032x}", h[self.output.0 as usize])
    }
}

/// 128-bit FNV-1a: a stable hash (the standard library's is not promised
/// stable across releases).
struct Fnv(u128);

impl Fnv {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;

    fn new() -> Fnv {
        Fnv(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u128;
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
        // Separates successive writes.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(Self::PRIME);
    }

    fn finish(&self) -> u128 {
        self.0
    }
}

/// Builds networks node by node: `let x = b.push("conv1", "stem", op, &[x])?`.
#[derive(Clone, Debug)]
pub struct NetBuilder {
    net: Net,
    shapes: Vec<Shape>,
}

impl NetBuilder {
    /// A network named `name` with per-sample input shape `input`.
    pub fn new(name: &str, input: &[u64]) -> NetBuilder {
        NetBuilder {
            net: Net {
                name: name.to_string(),
                input: input.to_vec(),
                nodes: Vec::new(),
                output: ValueId::INPUT,
            },
            shapes: vec![input.to_vec()],
        }
    }

    /// Appends a node; its value, or why its inputs do not fit it.
    pub fn push(
        &mut self,
        name: &str,
        block: &str,
        op: Op,
        inputs: &[ValueId],
    ) -> Result<ValueId, IrError> {
        let here = self.shapes.len();
        let ins = read(&self.shapes, inputs, here, name)?;
        let y = op
            .infer(&ins)
            .map_err(|e| IrError(format!("{name}: {e}")))?;
        self.shapes.push(y);
        self.net.nodes.push(Node {
            name: name.to_string(),
            block: block.to_string(),
            op,
            inputs: inputs.to_vec(),
        });
        Ok(ValueId(here as u32))
    }

    /// The shape of a value pushed so far.
    pub fn shape(&self, v: ValueId) -> &Shape {
        &self.shapes[v.0 as usize]
    }

    /// The network, with `output` as its output.
    pub fn finish(mut self, output: ValueId) -> Net {
        self.net.output = output;
        self.net
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(c: u64, k: u64) -> Op {
        Op::Conv {
            out_channels: c,
            kernel: k,
            stride: 1,
            padding: k / 2,
            groups: 1,
        }
    }

    fn small() -> Net {
        let mut b = NetBuilder::new("t", &[1, 8, 8]);
        let x = b.push("c1", "a", conv(4, 3), &[ValueId::INPUT]).unwrap();
        let x = b.push("r1", "a", Op::Relu, &[x]).unwrap();
        let y = b.push("c2", "b", conv(4, 3), &[x]).unwrap();
        let y = b.push("r2", "b", Op::Relu, &[y]).unwrap();
        let z = b.push("add", "b", Op::Add, &[x, y]).unwrap();
        let z = b.push("gap", "head", Op::GlobalAvgPool, &[z]).unwrap();
        let z = b.push("fc", "head", Op::Dense { units: 10 }, &[z]).unwrap();
        b.finish(z)
    }

    #[test]
    fn shapes_params_and_macs() {
        let n = small();
        assert_eq!(n.output_shape().unwrap(), vec![10]);
        // conv 1→4 3×3: 4·(9+1); conv 4→4: 4·(36+1); fc 4→10: 10·5.
        assert_eq!(n.params().unwrap(), 40 + 148 + 50);
        assert_eq!(n.macs().unwrap(), 4 * 64 * 9 + 4 * 64 * 36 + 40);
    }

    #[test]
    fn blocks_have_their_interfaces() {
        let n = small();
        let b = n.block("b").unwrap();
        assert_eq!(b.inputs, vec![ValueId(2)]);
        assert_eq!(b.outputs, vec![ValueId(5)]);
        assert_eq!(b.nodes, vec![2, 3, 4]);
        assert_eq!(n.region(&[ValueId(2)], &[ValueId(5)]).unwrap(), b);
        // Value 2 is read by the add, outside {c2, r2}: refused.
        assert!(n.region(&[ValueId(1)], &[ValueId(4)]).is_err());
    }

    #[test]
    fn replacing_a_region_with_itself_keeps_the_network() {
        let n = small();
        let r = n.block("b").unwrap();
        let f = n.extract(&r).unwrap();
        let m = n.replace(&r, &f, "b").unwrap();
        assert_eq!(m, n);
    }

    #[test]
    fn replacement_rewires_readers_and_drops_dead_code() {
        let n = small();
        let r = n.block("b").unwrap();
        // Replace the residual block by a single relu.
        let f = Fragment {
            inputs: vec![vec![4, 8, 8]],
            nodes: vec![Node {
                name: "id".into(),
                block: String::new(),
                op: Op::Relu,
                inputs: vec![ValueId(0)],
            }],
            outputs: vec![ValueId(1)],
        };
        let m = n.replace(&r, &f, "b2").unwrap();
        assert_eq!(m.nodes.len(), 5);
        assert_eq!(m.nodes[2].block, "b2");
        assert_eq!(m.output_shape().unwrap(), vec![10]);
        // A fragment of the wrong output shape is refused.
        let mut bad = f.clone();
        bad.nodes[0].op = Op::GlobalAvgPool;
        assert!(n.replace(&r, &bad, "b2").is_err());
    }

    #[test]
    fn fingerprint_ignores_names_order_and_dead_code() {
        let n = small();
        let mut renamed = n.clone();
        for (i, node) in renamed.nodes.iter_mut().enumerate() {
            node.name = format!("x{i}");
            node.block = "z".into();
        }
        assert_eq!(n.fingerprint(), renamed.fingerprint());
        // Add's operands swapped.
        let mut swapped = n.clone();
        swapped.nodes[4].inputs.reverse();
        assert_eq!(n.fingerprint(), swapped.fingerprint());
        // A dead node.
        let mut dead = n.clone();
        dead.nodes.push(Node {
            name: "dead".into(),
            block: "a".into(),
            op: Op::Relu,
            inputs: vec![ValueId(1)],
        });
        assert_eq!(n.fingerprint(), dead.fingerprint());
        assert_eq!(dead.without_dead_code().nodes.len(), n.nodes.len());
        // A real change.
        let mut other = n.clone();
        other.nodes[1].op = Op::Tanh;
        assert_ne!(n.fingerprint(), other.fingerprint());
    }

    #[test]
    fn fingerprint_ignores_the_order_of_independent_nodes() {
        // Two branches written in either order.
        let build = |flip: bool| {
            let mut b = NetBuilder::new("t", &[8]);
            let (p, q) = if flip {
                let q = b.push("q", "", Op::Tanh, &[ValueId::INPUT]).unwrap();
                let p = b.push("p", "", Op::Relu, &[ValueId::INPUT]).unwrap();
                (p, q)
            } else {
                let p = b.push("p", "", Op::Relu, &[ValueId::INPUT]).unwrap();
                let q = b.push("q", "", Op::Tanh, &[ValueId::INPUT]).unwrap();
                (p, q)
            };
            let c = b.push("c", "", Op::Concat { axis: 0 }, &[p, q]).unwrap();
            b.finish(c)
        };
        assert_eq!(build(false).fingerprint(), build(true).fingerprint());
    }

    #[test]
    fn networks_round_trip_through_json() {
        let n = small();
        let text = serde_json::to_string(&n).unwrap();
        let back: Net = serde_json::from_str(&text).unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn bad_shapes_are_named() {
        let mut b = NetBuilder::new("t", &[3, 8, 8]);
        let e = b
            .push(
                "c",
                "",
                Op::Conv {
                    out_channels: 4,
                    kernel: 3,
                    stride: 1,
                    padding: 0,
                    groups: 2,
                },
                &[ValueId::INPUT],
            )
            .unwrap_err();
        assert!(e.0.contains("c: 2 group(s)"), "{e}");
    }
}
