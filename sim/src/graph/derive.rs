//! Graph JSON as people write it: the fields of an op that follow from the
//! others (`output_shape` where the kind fixes it, `macs`, `params` where
//! the kind fixes it, `weight_bytes`, `output_bytes`) may be left out. They
//! are computed here before validation; a field that is given is kept as
//! written, so validation checks it against the same rules (a stated
//! `macs` must equal what the attributes imply, and so on).
//!
//! What is derived, and from what (see `docs/graph_json.md`):
//! - `output_shape`: a matmul's first input with its last dimension `k`
//!   replaced by `n` (or `[m, n]`, `[batch, m, n]` when batched, when that
//!   input is read in another layout); a convolution's `[batch, out_channels, out_h, out_w]`; the
//!   broadcast of an element-wise op's inputs; the input's shape for layer
//!   and batch norm and softmax; the ids' shape plus `dim` for an embedding;
//!   pooling's windows (`(in + 2·pad − kernel) / stride + 1`); `[N, C]` for
//!   global average pooling; the inputs joined along a concatenation's axis;
//!   the input with `len` along a slice's axis; the permuted input of a
//!   transpose; a reduction's kept dimensions; a gather's data with the
//!   indices' shape in place of `axis`. A reshape's and a broadcast's target
//!   shape is their whole point, so they must state it.
//! - `params`: `vocab × dim` for an embedding, `2 × features` for layer norm
//!   (γ, β over the last dimension) and batch norm (over dimension 1), 0 for
//!   the kinds that hold no weights (matmul of two activations, softmax,
//!   pooling, slice, reshape, transpose, reduce, broadcast, gather). A matmul
//!   with weights, a convolution (a bias is optional), an element-wise op and
//!   a concatenation (either may hold a learned tensor) must state it.
//! - `macs` from the kind (`OpKind::checked_macs`), `weight_bytes` as
//!   `params ×` the element size, `output_bytes` as the output's elements ×
//!   the element size.
//!
//! Every product is checked: one that overflows is an issue naming the op
//! and field, as in validation.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{DType, GraphFile, GraphInput, GraphIssue, Op, OpId, OpInput, OpKind, checked_numel};

/// An op as graph JSON may write it: the derived fields optional.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OpEntry {
    id: OpId,
    name: String,
    kind: OpKind,
    inputs: Vec<OpInput>,
    output_shape: Option<Vec<u64>>,
    dtype: DType,
    macs: Option<u64>,
    vector_ops: u64,
    params: Option<u64>,
    weight_bytes: Option<u64>,
    output_bytes: Option<u64>,
}

/// A graph JSON file as read, before its derived fields are filled in.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GraphEntry {
    pub format_version: u32,
    name: String,
    model: String,
    params: BTreeMap<String, String>,
    inputs: Vec<GraphInput>,
    ops: Vec<OpEntry>,
}

impl GraphEntry {
    /// The file with every derived field filled in, or every field that
    /// could not be (each naming its op).
    pub(super) fn complete(self) -> Result<GraphFile, Vec<GraphIssue>> {
        let mut issues = Vec::new();
        let mut ops = Vec::with_capacity(self.ops.len());
        for (i, entry) in self.ops.into_iter().enumerate() {
            let mut issue = |message: String| {
                issues.push(GraphIssue {
                    op: Some(i),
                    op_name: Some(entry.name.clone()),
                    message,
                })
            };
            let output_shape = match entry.output_shape.clone() {
                Some(s) => Some(s),
                None => match output_shape(&entry.kind, &entry.inputs) {
                    Ok(s) => Some(s),
                    Err(why) => {
                        issue(format!("output_shape is missing and {why}"));
                        None
                    }
                },
            };
            let params = match entry.params {
                Some(p) => Some(p),
                None => match params(&entry.kind, &entry.inputs, output_shape.as_deref()) {
                    Ok(p) => Some(p),
                    Err(why) => {
                        issue(format!("params is missing and {why}"));
                        None
                    }
                },
            };
            let macs = match entry.macs {
                Some(m) => Some(m),
                None => match entry.kind.checked_macs() {
                    Ok(m) => Some(m),
                    Err(overflow) => {
                        issue(format!("macs: {overflow}"));
                        None
                    }
                },
            };
            let bytes = entry.dtype.bytes();
            let weight_bytes = match (entry.weight_bytes, params) {
                (Some(w), _) => Some(w),
                (None, Some(p)) => p.checked_mul(bytes).or_else(|| {
                    issue(format!(
                        "weight_bytes: {p} params × {bytes} bytes overflows u64"
                    ));
                    None
                }),
                (None, None) => None,
            };
            let output_bytes = match (entry.output_bytes, &output_shape) {
                (Some(b), _) => Some(b),
                (None, Some(s)) => {
                    checked_numel(s)
                        .and_then(|n| n.checked_mul(bytes))
                        .or_else(|| {
                            issue(format!(
                                "output_bytes: output_shape {s:?} × {bytes} bytes overflows u64"
                            ));
                            None
                        })
                }
                (None, None) => None,
            };
            if let (
                Some(output_shape),
                Some(macs),
                Some(params),
                Some(weight_bytes),
                Some(output_bytes),
            ) = (output_shape, macs, params, weight_bytes, output_bytes)
            {
                ops.push(Op {
                    id: entry.id,
                    name: entry.name,
                    kind: entry.kind,
                    inputs: entry.inputs,
                    output_shape,
                    dtype: entry.dtype,
                    macs,
                    vector_ops: entry.vector_ops,
                    params,
                    weight_bytes,
                    output_bytes,
                });
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(GraphFile {
            format_version: self.format_version,
            name: self.name,
            model: self.model,
            params: self.params,
            inputs: self.inputs,
            ops,
        })
    }
}

/// The shape of `inputs[j]`, or why there is none.
fn input(inputs: &[OpInput], j: usize, kind: &OpKind) -> Result<Vec<u64>, String> {
    inputs
        .get(j)
        .map(|i| i.shape.clone())
        .ok_or_else(|| format!("a {} needs inputs[{j}] to derive it from", kind.name()))
}

/// The output shape `kind` gives `inputs`, or why it cannot be derived.
fn output_shape(kind: &OpKind, inputs: &[OpInput]) -> Result<Vec<u64>, String> {
    let first = || input(inputs, 0, kind);
    match kind {
        OpKind::MatMul { batch, m, k, n } => {
            // The first operand as read, `[.., k]` over `batch × m` rows,
            // gives its leading dimensions to the output; an operand read
            // in another layout (flattened, or attention heads folded into
            // `batch`) gives `[m, n]`, or `[batch, m, n]` when batched.
            let s = first()?;
            let rows = batch.checked_mul(*m);
            match s.split_last() {
                Some((last, lead)) if *last == *k && checked_numel(lead) == rows => {
                    let mut out = lead.to_vec();
                    out.push(*n);
                    Ok(out)
                }
                _ if *batch == 1 => Ok(vec![*m, *n]),
                _ => Ok(vec![*batch, *m, *n]),
            }
        }
        OpKind::Conv2d {
            batch,
            out_channels,
            out_hw,
            ..
        } => Ok(vec![*batch, *out_channels, out_hw[0], out_hw[1]]),
        OpKind::Elementwise { .. } => {
            if inputs.is_empty() {
                return Err("an elementwise op needs inputs to derive it from".to_string());
            }
            let rank = inputs.iter().map(|i| i.shape.len()).max().unwrap_or(0);
            let mut out = vec![1u64; rank];
            for (j, i) in inputs.iter().enumerate() {
                let offset = rank - i.shape.len();
                for (d, &size) in i.shape.iter().enumerate() {
                    let o = &mut out[offset + d];
                    if *o == 1 {
                        *o = size;
                    } else if size != 1 && size != *o {
                        return Err(format!(
                            "inputs[{j}] shape {:?} does not broadcast with the others",
                            i.shape
                        ));
                    }
                }
            }
            Ok(out)
        }
        OpKind::LayerNorm | OpKind::BatchNorm | OpKind::Softmax => first(),
        OpKind::Embedding { dim, .. } => {
            let mut s = first()?;
            s.push(*dim);
            Ok(s)
        }
        OpKind::Pool {
            kernel,
            stride,
            padding,
            ..
        } => {
            let s = first()?;
            if s.len() != 4 {
                return Err(format!(
                    "pooling derives it only from NCHW input, not {s:?}"
                ));
            }
            let mut out = vec![s[0], s[1]];
            for d in 0..2 {
                let padded = padding[d]
                    .checked_mul(2)
                    .and_then(|p| p.checked_add(s[2 + d]))
                    .ok_or_else(|| format!("padding[{d}] overflows u64"))?;
                if stride[d] == 0 || kernel[d] == 0 || kernel[d] > padded {
                    return Err(format!(
                        "the window (kernel {kernel:?}, stride {stride:?}) does not fit input {s:?}"
                    ));
                }
                out.push((padded - kernel[d]) / stride[d] + 1);
            }
            Ok(out)
        }
        OpKind::GlobalAvgPool => {
            let s = first()?;
            if s.len() < 2 {
                return Err(format!("global pooling needs [N, C, ..] input, not {s:?}"));
            }
            Ok(vec![s[0], s[1]])
        }
        OpKind::Concat { axis } => {
            let mut s = first()?;
            let a = *axis as usize;
            if a >= s.len() {
                return Err(format!("axis {axis} is out of range for inputs[0] {s:?}"));
            }
            let mut total = 0u64;
            for i in inputs {
                let len = i.shape.get(a).copied().unwrap_or(0);
                total = total
                    .checked_add(len)
                    .ok_or_else(|| "the inputs' sizes along the axis overflow u64".to_string())?;
            }
            s[a] = total;
            Ok(s)
        }
        OpKind::Slice { axis, len, .. } => {
            let mut s = first()?;
            match s.get_mut(*axis as usize) {
                Some(d) => *d = *len,
                None => return Err(format!("axis {axis} is out of range for inputs[0] {s:?}")),
            }
            Ok(s)
        }
        OpKind::Transpose { perm } => {
            let s = first()?;
            perm.iter()
                .map(|&p| s.get(p as usize).copied())
                .collect::<Option<Vec<u64>>>()
                .filter(|o| o.len() == s.len())
                .ok_or_else(|| format!("perm {perm:?} does not fit inputs[0] {s:?}"))
        }
        OpKind::Reduce {
            axes, keep_dims, ..
        } => {
            let s = first()?;
            let mut out: Vec<u64> = s
                .iter()
                .enumerate()
                .filter_map(|(d, &size)| {
                    if !axes.contains(&(d as u32)) {
                        Some(size)
                    } else if *keep_dims {
                        Some(1)
                    } else {
                        None
                    }
                })
                .collect();
            if out.is_empty() {
                out.push(1);
            }
            Ok(out)
        }
        OpKind::Gather { axis } => {
            let data = first()?;
            let indices = input(inputs, 1, kind)?;
            let a = *axis as usize;
            if a >= data.len() {
                return Err(format!("axis {axis} is out of range for the data {data:?}"));
            }
            let mut out = data[..a].to_vec();
            out.extend_from_slice(&indices);
            out.extend_from_slice(&data[a + 1..]);
            Ok(out)
        }
        OpKind::Reshape => Err("a reshape's target shape must be stated".to_string()),
        OpKind::Broadcast => Err("a broadcast's target shape must be stated".to_string()),
    }
}

/// The parameters `kind` holds when the kind fixes them, or why it does not.
fn params(kind: &OpKind, inputs: &[OpInput], output: Option<&[u64]>) -> Result<u64, String> {
    let features = |shape: Option<&[u64]>, d: Option<usize>, what: &str| {
        let shape = shape.ok_or_else(|| format!("the output shape is needed to count {what}"))?;
        d.and_then(|d| shape.get(d))
            .and_then(|f| f.checked_mul(2))
            .ok_or_else(|| format!("{what} cannot be counted for output shape {shape:?}"))
    };
    match kind {
        OpKind::Embedding { vocab, dim } => vocab
            .checked_mul(*dim)
            .ok_or_else(|| format!("vocab {vocab} × dim {dim} overflows u64")),
        OpKind::LayerNorm => features(
            output,
            output.map(|s| s.len().wrapping_sub(1)),
            "γ and β over the last dimension",
        ),
        OpKind::BatchNorm => features(output, Some(1), "γ and β per channel"),
        OpKind::MatMul { .. } if inputs.len() == 2 => Ok(0),
        OpKind::MatMul { .. } => {
            Err("a matmul with weights must state it (k × n, plus n with a bias)".to_string())
        }
        OpKind::Conv2d { .. } => Err(
            "a convolution must state it (its kernels, plus out_channels with a bias)".to_string(),
        ),
        OpKind::Elementwise { .. } => {
            Err("an elementwise op must state it (it may hold a learned tensor)".to_string())
        }
        OpKind::Concat { .. } => {
            Err("a concatenation must state it (it may join a learned tensor)".to_string())
        }
        OpKind::Softmax
        | OpKind::Pool { .. }
        | OpKind::GlobalAvgPool
        | OpKind::Slice { .. }
        | OpKind::Reshape
        | OpKind::Transpose { .. }
        | OpKind::Reduce { .. }
        | OpKind::Broadcast
        | OpKind::Gather { .. } => Ok(0),
    }
}
