//! What a valid graph is: the checks [`Graph::new`](super::Graph::new) runs on a [`GraphFile`]
//! (ids in topological order, unique names, declared inputs, element counts
//! along every edge, costs consistent with the attributes, kind-specific
//! shape rules, no cycle, every count within the limits of `graph/mod.rs`),
//! each reported as a [`GraphIssue`] naming the op.
//!
//! Every count is computed here with checked arithmetic: a product or sum
//! that does not fit in `u64`, or exceeds a limit ([`MAX_TENSOR_BYTES`],
//! [`MAX_OP_MACS`], [`MAX_OP_VECTOR_OPS`], [`MAX_GRAPH_BYTES`],
//! [`MAX_GRAPH_WORK`]), is an issue naming the op and the field, never a
//! wrapped number. An op whose shapes are out of range gets only those issues,
//! so the later checks only see sizes that fit.

use std::collections::BTreeMap;

use super::{
    DType, GraphFile, GraphIssue, MAX_GRAPH_BYTES, MAX_GRAPH_WORK, MAX_OP_MACS, MAX_OP_VECTOR_OPS,
    MAX_TENSOR_BYTES, Op, OpKind, Source, checked_numel, numel,
};

/// Bytes of a tensor of `shape` in `dtype`, if it is within
/// [`MAX_TENSOR_BYTES`]; otherwise what is wrong, for a message about `what`.
fn tensor_bytes(what: &str, shape: &[u64], dtype: DType) -> Result<u64, String> {
    let bytes = checked_numel(shape).and_then(|n| n.checked_mul(dtype.bytes()));
    match bytes {
        Some(b) if b <= MAX_TENSOR_BYTES => Ok(b),
        Some(b) => Err(format!(
            "{what} {shape:?} of {} is {b} bytes, more than the limit of 2^56 (MAX_TENSOR_BYTES)",
            dtype.name()
        )),
        None => Err(format!(
            "{what} {shape:?} of {}: elements × bytes per element overflows u64",
            dtype.name()
        )),
    }
}

/// Sums over the graph, checked against the graph limits at the end.
#[derive(Default)]
struct Totals {
    bytes: Option<u64>,
    macs: Option<u64>,
    vector_ops: Option<u64>,
}

fn add(total: &mut Option<u64>, x: u64) {
    *total = total.and_then(|t| t.checked_add(x));
}

pub(super) fn validate(file: &GraphFile) -> Vec<GraphIssue> {
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
        } else if let Err(message) = tensor_bytes("shape", &input.shape, input.dtype) {
            issues.push(graph_issue(format!(
                "inputs[{i}] ({:?}): {message}",
                input.name
            )));
        }
    }
    let mut totals = Totals {
        bytes: Some(0),
        macs: Some(0),
        vector_ops: Some(0),
    };
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
        let Some(op_bytes) = check_sizes(op, &mut issue) else {
            continue;
        };
        add(&mut totals.bytes, op_bytes);
        // A count beyond its per-op limit is reported for the op alone.
        add(&mut totals.macs, op.macs.min(MAX_OP_MACS));
        add(&mut totals.vector_ops, op.vector_ops.min(MAX_OP_VECTOR_OPS));
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
        for message in check_kind(op) {
            issue(message);
        }
    }
    for (field, total, limit, name) in [
        (
            "bytes moved through SRAM (weights + inputs + outputs)",
            totals.bytes,
            MAX_GRAPH_BYTES,
            "2^63 (MAX_GRAPH_BYTES)",
        ),
        ("macs", totals.macs, MAX_GRAPH_WORK, "2^63 (MAX_GRAPH_WORK)"),
        (
            "vector_ops",
            totals.vector_ops,
            MAX_GRAPH_WORK,
            "2^63 (MAX_GRAPH_WORK)",
        ),
    ] {
        match total {
            Some(t) if t <= limit => {}
            Some(t) => issues.push(graph_issue(format!(
                "the ops' {field} sum to {t}, more than the limit of {name}"
            ))),
            None => issues.push(graph_issue(format!(
                "the ops' {field} sum to more than 2^64, beyond the limit of {name}"
            ))),
        }
    }
    if forward_refs && has_cycle(file) {
        issues.push(graph_issue(
            "the graph has a cycle; a workload graph must be acyclic".to_string(),
        ));
    }
    issues
}

/// Sizes and declared counts of one op, with checked arithmetic: every
/// shape within [`MAX_TENSOR_BYTES`], `output_bytes` and `weight_bytes`
/// consistent with the shapes and `params`, `macs` equal to what the
/// attributes imply and at most [`MAX_OP_MACS`], `vector_ops` at most
/// [`MAX_OP_VECTOR_OPS`]. Returns the bytes the op moves through SRAM
/// (weights, inputs and output), or `None` when a shape is out of range (then
/// the op's other checks are skipped: they would compare sizes that do not
/// fit).
fn check_sizes(op: &Op, issue: &mut impl FnMut(String)) -> Option<u64> {
    let mut fits = true;
    let mut moved = Some(0);
    let mut bytes_of = |what: &str, shape: &[u64]| match tensor_bytes(what, shape, op.dtype) {
        Ok(b) => {
            add(&mut moved, b);
            b
        }
        Err(m) => {
            issue(m);
            fits = false;
            0
        }
    };
    let output = bytes_of("output_shape", &op.output_shape);
    for (j, input) in op.inputs.iter().enumerate() {
        bytes_of(&format!("inputs[{j}] shape"), &input.shape);
    }
    if fits && op.output_bytes != output {
        issue(format!(
            "output_bytes is {} but output_shape {:?} of {} is {output} bytes",
            op.output_bytes,
            op.output_shape,
            op.dtype.name()
        ));
    }
    match op.params.checked_mul(op.dtype.bytes()) {
        Some(w) if w == op.weight_bytes && w <= MAX_TENSOR_BYTES => add(&mut moved, w),
        Some(w) if w == op.weight_bytes => issue(format!(
            "weight_bytes is {w}, more than the limit of 2^56 (MAX_TENSOR_BYTES)"
        )),
        Some(w) => issue(format!(
            "weight_bytes is {} but {} params of {} are {w} bytes",
            op.weight_bytes,
            op.params,
            op.dtype.name()
        )),
        None => issue(format!(
            "params: {} params × {} bytes of {} overflows u64",
            op.params,
            op.dtype.bytes(),
            op.dtype.name()
        )),
    }
    match op.kind.checked_macs() {
        Err(overflow) => issue(format!("macs: {overflow}")),
        Ok(macs) if macs > MAX_OP_MACS => issue(format!(
            "macs: the {} attributes imply {macs}, more than the limit of 2^56 (MAX_OP_MACS)",
            op.kind.name()
        )),
        Ok(macs) if macs != op.macs => issue(format!(
            "macs is {} but the {} attributes imply {macs}",
            op.macs,
            op.kind.name()
        )),
        Ok(_) => {}
    }
    if op.vector_ops > MAX_OP_VECTOR_OPS {
        issue(format!(
            "vector_ops is {}, more than the limit of 2^56 (MAX_OP_VECTOR_OPS)",
            op.vector_ops
        ));
    }
    // A sum beyond u64 is beyond the graph limit too.
    fits.then(|| moved.unwrap_or(u64::MAX))
}

/// Kind-specific consistency of attributes, shapes and costs.
fn check_kind(op: &Op) -> Vec<String> {
    let mut out = Vec::new();
    let out_numel = numel(&op.output_shape);
    match &op.kind {
        OpKind::MatMul { batch, m, k, n } => {
            let product = |x: u64, y: u64| batch.checked_mul(x).and_then(|p| p.checked_mul(y));
            // The operands and the output are no larger than the MACs, so
            // when one of them overflows so do the MACs, which
            // `check_sizes` reports.
            let (Some(lhs), Some(rhs), Some(result)) =
                (product(*m, *k), product(*k, *n), product(*m, *n))
            else {
                return out;
            };
            if [*batch, *m, *k, *n].contains(&0) {
                out.push("matmul dimensions must be positive".to_string());
            } else if op.inputs.len() > 2 {
                out.push(format!(
                    "matmul takes 1 or 2 inputs, found {}",
                    op.inputs.len()
                ));
            } else if let Some((j, input)) = op
                .inputs
                .iter()
                .enumerate()
                .find(|(j, i)| numel(&i.shape) != if *j == 0 { lhs } else { rhs })
            {
                out.push(format!(
                    "inputs[{j}] shape {:?} has {} elements, but the matmul reads {}",
                    input.shape,
                    numel(&input.shape),
                    if j == 0 { lhs } else { rhs }
                ));
            } else if out_numel != result {
                out.push(format!(
                    "output_shape {:?} has {out_numel} elements but batch·m·n = {result}",
                    op.output_shape,
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
                    let Some(padded) = padding[d]
                        .checked_mul(2)
                        .and_then(|p| p.checked_add(in_hw[d]))
                    else {
                        out.push(format!(
                            "padding[{d}]: in {} + 2·pad {} overflows u64",
                            in_hw[d], padding[d]
                        ));
                        continue;
                    };
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
                // Saturating: a sum beyond u64 exceeds the output's size.
                let total = op
                    .inputs
                    .iter()
                    .map(|i| i.shape.get(*axis as usize).copied().unwrap_or(0))
                    .fold(0u64, u64::saturating_add);
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
                let end = start.checked_add(len);
                if len == 0 || end.is_none_or(|e| e > input.shape[a]) || op.output_shape != expect {
                    out.push(format!(
                        "slice {start}..{} on axis {axis} of {:?} does not give output_shape {:?}",
                        end.map_or("(beyond 2^64)".to_string(), |e| e.to_string()),
                        input.shape,
                        op.output_shape
                    ));
                }
            }
            _ => out.push(format!("slice axis {axis} is out of range")),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Graph, MAX_OP_VECTOR_OPS};

    /// A one-op int8 graph: `kind` (JSON) reading input `x` of `shape`, with
    /// the given output shape and declared costs.
    fn one_op(kind: &str, shape: &[u64], out: &[u64], costs: [u64; 5]) -> GraphFile {
        let [macs, vector_ops, params, weight_bytes, output_bytes] = costs;
        let text = format!(
            r#"{{"format_version": 1, "name": "t", "model": "t", "params": {{}},
            "inputs": [{{"name": "x", "shape": {shape:?}, "dtype": "int8"}}],
            "ops": [{{"id": 0, "name": "fc1", "kind": {kind},
              "inputs": [{{"source": {{"graph_input": "x"}}, "shape": {shape:?}}}],
              "output_shape": {out:?}, "dtype": "int8", "macs": {macs},
              "vector_ops": {vector_ops}, "params": {params},
              "weight_bytes": {weight_bytes}, "output_bytes": {output_bytes}}}]}}"#
        );
        serde_json::from_str(&text).expect("well-formed test graph")
    }

    fn messages(file: &GraphFile) -> Vec<String> {
        validate(file).iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn a_wrapping_matmul_is_refused_naming_op_and_field() {
        let big = 1u64 << 32;
        let f = one_op(
            &format!(r#"{{"type": "mat_mul", "batch": 1, "m": {big}, "k": {big}, "n": 1}}"#),
            &[big, big],
            &[big, 1],
            [0, 0, big, big, big],
        );
        let m = messages(&f);
        assert!(
            m.contains(&format!(
                "ops[0] (\"fc1\"): macs: batch × m × k × n = 1 × {big} × {big} × 1 overflows u64"
            )),
            "{m:#?}"
        );
        assert!(
            m.iter().any(|s| s.starts_with("inputs[0] (\"x\"): shape")
                && s.ends_with("elements × bytes per element overflows u64")),
            "{m:#?}"
        );
    }

    #[test]
    fn declared_macs_must_match_the_attributes() {
        let f = one_op(
            r#"{"type": "mat_mul", "batch": 1, "m": 4, "k": 8, "n": 2}"#,
            &[4, 8],
            &[4, 2],
            [0, 0, 16, 16, 8],
        );
        assert_eq!(
            messages(&f),
            ["ops[0] (\"fc1\"): macs is 0 but the matmul attributes imply 64"]
        );
    }

    #[test]
    fn macs_beyond_the_op_limit_are_refused() {
        // 2^60 MACs from tensors within the limits.
        let f = one_op(
            r#"{"type": "mat_mul", "batch": 1, "m": 1048576, "k": 1048576, "n": 1048576}"#,
            &[1 << 20, 1 << 20],
            &[1 << 20, 1 << 20],
            [1 << 60, 0, 0, 0, 1 << 40],
        );
        let m = messages(&f);
        assert!(
            m.iter().any(|s| s.contains("macs: the matmul attributes imply 1152921504606846976, more than the limit of 2^56 (MAX_OP_MACS)")),
            "{m:#?}"
        );
    }

    #[test]
    fn vector_ops_beyond_the_limit_are_refused() {
        let relu = r#"{"type": "elementwise", "func": "relu"}"#;
        let f = one_op(relu, &[1, 64], &[1, 64], [0, u64::MAX, 0, 0, 64]);
        assert_eq!(
            messages(&f),
            [
                "ops[0] (\"fc1\"): vector_ops is 18446744073709551615, more than the limit of 2^56 (MAX_OP_VECTOR_OPS)"
            ]
        );
        let f = one_op(relu, &[1, 64], &[1, 64], [0, MAX_OP_VECTOR_OPS, 0, 0, 64]);
        assert_eq!(messages(&f), Vec::<String>::new());
    }

    #[test]
    fn tensors_and_weights_beyond_the_byte_limit_are_refused() {
        let relu = r#"{"type": "elementwise", "func": "relu"}"#;
        let shape = [1u64 << 28, 1 << 29];
        let m = messages(&one_op(relu, &shape, &shape, [0, 1, 0, 0, 1 << 57]));
        assert!(
            m.iter()
                .any(|s| s.contains("more than the limit of 2^56 (MAX_TENSOR_BYTES)")),
            "{m:#?}"
        );
        // Weights beyond the limit, and weight bytes that disagree with params.
        let m = messages(&one_op(relu, &[4], &[4], [0, 4, 1 << 57, 1 << 57, 4]));
        assert!(
            m.iter()
                .any(|s| s.contains("weight_bytes is 144115188075855872, more than the limit")),
            "{m:#?}"
        );
        let m = messages(&one_op(relu, &[4], &[4], [0, 4, u64::MAX, 0, 4]));
        assert!(
            m.iter().any(|s| s.contains(
                "weight_bytes is 0 but 18446744073709551615 params of int8 are 18446744073709551615 bytes"
            )),
            "{m:#?}"
        );
    }

    #[test]
    fn overflowing_slice_and_padding_attributes_are_refused_without_panicking() {
        let f = one_op(
            &format!(
                r#"{{"type": "slice", "axis": 0, "start": {}, "len": 2}}"#,
                u64::MAX
            ),
            &[4],
            &[2],
            [0, 0, 0, 0, 2],
        );
        assert!(messages(&f)[0].contains("slice 18446744073709551615..(beyond 2^64)"));
        let f = one_op(
            &format!(
                r#"{{"type": "conv2d", "batch": 1, "in_channels": 1, "out_channels": 1,
                  "in_hw": [4, 4], "out_hw": [4, 4], "kernel": [1, 1], "stride": [1, 1],
                  "padding": [{}, 0], "groups": 1}}"#,
                u64::MAX
            ),
            &[1, 1, 4, 4],
            &[1, 1, 4, 4],
            [16, 0, 1, 1, 16],
        );
        assert!(
            messages(&f)
                .iter()
                .any(|s| s.contains("padding[0]: in 4 + 2·pad"))
        );
    }

    #[test]
    fn graph_totals_beyond_the_limit_are_refused() {
        // 129 ops of 2^56 vector operations each: 2^63 + 2^56 in all.
        let mut f = one_op(
            r#"{"type": "elementwise", "func": "relu"}"#,
            &[4],
            &[4],
            [0, MAX_OP_VECTOR_OPS, 0, 0, 4],
        );
        let op = f.ops[0].clone();
        for i in 1..129u32 {
            let mut next = op.clone();
            next.id = crate::graph::OpId(i);
            next.name = format!("r{i}");
            f.ops.push(next);
        }
        assert_eq!(
            Graph::new(f).unwrap_err().to_string(),
            "the ops' vector_ops sum to 9295429630892703744, more than the limit of 2^63 (MAX_GRAPH_WORK)"
        );
    }
}
