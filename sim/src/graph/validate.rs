//! What a valid graph is: the checks [`Graph::new`](super::Graph::new) runs on a [`GraphFile`]
//! (ids in topological order, unique names, declared inputs, element counts
//! along every edge, costs consistent with the attributes, kind-specific
//! shape rules, no cycle), each reported as a [`GraphIssue`] naming the op.

use std::collections::BTreeMap;

use super::{GraphFile, GraphIssue, Op, OpKind, Source, numel};

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
