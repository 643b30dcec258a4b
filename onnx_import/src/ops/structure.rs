//! Structural ops common exports use that the IR has no kind of its own
//! for, each lowered to existing kinds with the work it does:
//!
//! - Pad, Tile and Resize write every output element once from the input
//!   (Resize from `2^d` or `4^d` taps): IR `gather` ops, which move data
//!   through the vector unit, over a free output shape;
//! - ConvTranspose is a matrix product then a scatter-add, as GPU libraries
//!   compute it (`gemm` then `col2im`): an IR `matmul` of the input's pixels
//!   by the weight, whose MACs are exactly the transposed convolution's,
//!   then a `gather` adding each of its products into the output;
//! - Einsum with two operands that is a (batched) matrix product, the form
//!   exporters emit for attention and projections: an IR `matmul` whose
//!   operand and output layouts are views, as for fused transposes;
//! - TopK with a constant `k`: a `gather` of the k largest (or smallest)
//!   along the axis, costing a heap's `⌈log2(k + 1)⌉` compare-swaps per
//!   input element.
//!
//! What none of these cover is refused with the node and the reason, e.g.
//! an Einsum that is not a product of two operands.

use sim::graph::OpKind;

use super::window::two;
use super::{Node, Op};
use crate::MAX_RANK;
use crate::import::Importer;
use crate::proto::tensor_proto::DataType;
use crate::value::{R, Value, a, count, fmt_shape, ints, invalid, limit, unsupported};

pub const OPS: &[Op] = &[
    Op::one("Pad", pad),
    Op::one("Tile", tile),
    Op::one("Resize", resize),
    Op::one("ConvTranspose", conv_transpose),
    Op::one("Einsum", einsum),
    Op::many("TopK", top_k),
];

/// `x` read whole into a new tensor of `shape` by an IR `gather` along
/// `axis`, costing `vector_ops`; a static `x` folds.
fn regather(
    imp: &mut Importer<'_>,
    node: &Node<'_>,
    x: &Value,
    shape: Vec<u64>,
    axis: usize,
    vector_ops: u64,
) -> R<Value> {
    if !x.is_act() {
        return Ok(Value {
            shape,
            elem: x.elem,
            state: node.statics(None),
        });
    }
    let s = imp.emit(
        &node.at.name,
        OpKind::Gather { axis: axis as u32 },
        &[x],
        shape.clone(),
        vector_ops,
        0,
    )?;
    Ok(imp.act(s, shape, x.elem))
}

fn pad(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    let rank = x.shape.len();
    let mode = a(node.attrs.string("mode"))?.unwrap_or_else(|| "constant".into());
    if !["constant", "reflect", "edge", "wrap"].contains(&mode.as_str()) {
        return Err(unsupported(format!(
            "mode {mode:?} is not an ONNX Pad mode"
        )));
    }
    if node.opt(2).is_some_and(|v| v.is_act()) {
        return Err(unsupported(
            "the constant value is computed from a graph input",
        ));
    }
    let pads = ints(node.input(1)?, "pads")?;
    let axes: Vec<usize> = match node.opt(3) {
        None => (0..rank).collect(),
        Some(v) => ints(v, "axes")?
            .iter()
            .map(|&ax| {
                crate::shape::norm_axis(ax, rank)
                    .ok_or_else(|| invalid(format!("axis {ax} is out of range for rank {rank}")))
            })
            .collect::<R<_>>()?,
    };
    if pads.len() != 2 * axes.len() {
        return Err(invalid(format!(
            "{} pads for {} axes; Pad takes a begin and an end per axis",
            pads.len(),
            axes.len()
        )));
    }
    let mut shape = x.shape.clone();
    let mut first = None;
    for (i, &ax) in axes.iter().enumerate() {
        let (begin, end) = (pads[i], pads[i + axes.len()]);
        let size = i128::from(x.shape[ax] as i64) + i128::from(begin) + i128::from(end);
        if size < 1 || size > i128::from(crate::MAX_ELEMENTS as i64) {
            return Err(invalid(format!(
                "pads {begin} and {end} leave axis {ax} of {} with {size} elements",
                x.shape[ax]
            )));
        }
        shape[ax] = size as u64;
        if (begin, end) != (0, 0) {
            first.get_or_insert(ax);
        }
    }
    let Some(axis) = first else {
        // No padding: the input itself.
        return Ok(x.clone());
    };
    let n = count(&shape)?;
    regather(imp, node, x, shape, axis, n)
}

fn tile(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    let repeats = ints(node.input(1)?, "repeats")?;
    if repeats.len() != x.shape.len() {
        return Err(invalid(format!(
            "{} repeats for input {}; Tile takes one per dim",
            repeats.len(),
            fmt_shape(&x.shape)
        )));
    }
    let mut shape = Vec::with_capacity(x.shape.len());
    for (&d, &r) in x.shape.iter().zip(repeats) {
        let r = u64::try_from(r)
            .ok()
            .filter(|&r| r >= 1)
            .ok_or_else(|| invalid(format!("repeat {r} must be positive")))?;
        shape.push(
            d.checked_mul(r)
                .ok_or_else(|| limit("the output is too large"))?,
        );
    }
    let Some(axis) = repeats.iter().position(|&r| r != 1) else {
        return Ok(x.clone());
    };
    let n = count(&shape)?;
    regather(imp, node, x, shape, axis, n)
}

fn resize(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    let rank = x.shape.len();
    let mode = a(node.attrs.string("mode"))?.unwrap_or_else(|| "nearest".into());
    let taps_per_axis: u64 = match mode.as_str() {
        "nearest" => 1,
        "linear" => 2,
        "cubic" => 4,
        other => {
            return Err(unsupported(format!(
                "mode {other:?} is not an ONNX Resize mode"
            )));
        }
    };
    if a(node.attrs.ints("axes"))?.is_some() {
        return Err(unsupported(
            "the axes attribute (opset 18) is not imported; give scales or sizes for every dim",
        ));
    }
    if node.opt(1).is_some_and(|v| v.is_act()) {
        return Err(unsupported("roi is computed from a graph input"));
    }
    let shape: Vec<u64> = match (
        node.opt(2).filter(|v| count(&v.shape).ok() != Some(0)),
        node.opt(3),
    ) {
        (_, Some(sizes)) => ints(sizes, "sizes")?
            .iter()
            .map(|&s| u64::try_from(s).map_err(|_| invalid(format!("size {s} is negative"))))
            .collect::<R<_>>()?,
        (Some(scales), None) => {
            // Float scales have no propagated values: the output size is the
            // node's recorded shape, if the graph's value_info has it.
            if scales.is_act() {
                return Err(unsupported("scales are computed from a graph input"));
            }
            let recorded = node
                .proto
                .output
                .first()
                .and_then(|o| imp.info.get(o))
                .and_then(|dims| dims.iter().copied().collect::<Option<Vec<u64>>>());
            recorded.ok_or_else(|| {
                unsupported(
                    "scales are floats, whose values tessera does not read, and the graph's value_info does not record the output shape; export the Resize with sizes (e.g. F.interpolate(size=...))",
                )
            })?
        }
        (None, None) => return Err(invalid("has neither scales nor sizes")),
    };
    if shape.len() != rank || shape.contains(&0) {
        return Err(invalid(format!(
            "sizes {} do not give a non-empty output for input {}",
            fmt_shape(&shape),
            fmt_shape(&x.shape)
        )));
    }
    let resized: Vec<usize> = (0..rank).filter(|&d| shape[d] != x.shape[d]).collect();
    let Some(&axis) = resized.first() else {
        return Ok(x.clone());
    };
    let taps = taps_per_axis.pow(resized.len() as u32);
    let n = count(&shape)?
        .checked_mul(taps)
        .ok_or_else(|| limit("the op's vector operations overflow"))?;
    regather(imp, node, x, shape, axis, n)
}

/// ConvTranspose, 1-D or 2-D: `[N, C, H, W]` by a weight `[C, M/g, kh, kw]`.
fn conv_transpose(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let (x, w, b) = (node.input(0)?, node.input(1)?, node.opt(2));
    let rank = x.shape.len();
    if !(rank == 3 || rank == 4) || w.shape.len() != rank {
        return Err(unsupported(format!(
            "input {} and weight {}: tessera imports 1-D and 2-D transposed convolutions",
            fmt_shape(&x.shape),
            fmt_shape(&w.shape)
        )));
    }
    if w.is_act() || b.is_some_and(|b| b.is_act()) {
        return Err(unsupported(
            "weights or bias computed from a graph input; tessera's products have constant weights",
        ));
    }
    let spatial = rank - 2;
    let g = a(node.attrs.int("group"))?.unwrap_or(1);
    let g = u64::try_from(g)
        .ok()
        .filter(|&g| g >= 1 && x.shape[1].is_multiple_of(g))
        .ok_or_else(|| invalid(format!("group {g} does not divide the input channels")))?;
    let (n, c) = (x.shape[0], x.shape[1]);
    if w.shape[0] != c {
        return Err(invalid(format!(
            "weight {} does not start with the input's {c} channels",
            fmt_shape(&w.shape)
        )));
    }
    let m = w.shape[1] * g;
    let kernel = &w.shape[2..];
    let list = |name: &str, fill: i64, len: usize| -> R<Vec<i64>> {
        Ok(a(node.attrs.ints(name))?.map_or_else(|| vec![fill; len], <[i64]>::to_vec))
    };
    let strides = list("strides", 1, spatial)?;
    let dilations = list("dilations", 1, spatial)?;
    let pads = list("pads", 0, 2 * spatial)?;
    let out_pad = list("output_padding", 0, spatial)?;
    let auto_pad = a(node.attrs.string("auto_pad"))?.unwrap_or_else(|| "NOTSET".into());
    let given = a(node.attrs.ints("output_shape"))?;
    if strides.len() != spatial
        || dilations.len() != spatial
        || pads.len() != 2 * spatial
        || out_pad.len() != spatial
    {
        return Err(invalid(
            "strides, dilations, pads or output_padding have the wrong length",
        ));
    }
    if strides.iter().chain(&dilations).any(|&v| v < 1)
        || pads.iter().chain(&out_pad).any(|&v| v < 0)
    {
        return Err(invalid(
            "strides and dilations must be positive, pads and output_padding not negative",
        ));
    }
    let mut out = Vec::with_capacity(spatial);
    for d in 0..spatial {
        // i128: no attribute value can overflow these sums of products.
        let (i, st) = (i128::from(x.shape[2 + d]), i128::from(strides[d]));
        let size: i128 = if let Some(s) = given.filter(|s| s.len() == spatial) {
            i128::from(s[d])
        } else if auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER" {
            i * st
        } else {
            (i - 1) * st
                + i128::from(out_pad[d])
                + ((i128::from(kernel[d]) - 1) * i128::from(dilations[d]) + 1)
                - i128::from(pads[d])
                - i128::from(pads[d + spatial])
        };
        if size < 1 || size > i128::from(crate::MAX_ELEMENTS) {
            return Err(invalid(format!(
                "gives an output size of {size} along spatial dim {d}"
            )));
        }
        out.push(size as u64);
    }
    let mut shape = vec![n, m];
    shape.extend(&out);
    if !x.is_act() {
        return Ok(Value {
            shape,
            elem: x.elem,
            state: node.statics(None),
        });
    }
    // The product: every input pixel of each group by that group's weight
    // columns (output channels × kernel taps).
    let pixels = count(&x.shape[2..])?;
    let taps = count(kernel)?;
    let cols = (m / g)
        .checked_mul(taps)
        .ok_or_else(|| limit("the product is too large"))?;
    let rows = n
        .checked_mul(pixels)
        .ok_or_else(|| limit("the product is too large"))?;
    let params = imp.charge(Some(w)) + imp.charge(b);
    let kind = OpKind::MatMul {
        batch: g,
        m: rows,
        k: c / g,
        n: cols,
    };
    let col_shape = vec![g, rows, cols];
    let xin = Value {
        shape: vec![g, rows, c / g],
        ..x.clone()
    };
    let s = imp.emit(&node.at.name, kind, &[&xin], col_shape.clone(), 0, params)?;
    let cols_v = imp.act(s, col_shape, x.elem);
    // col2im: each product added into its output position.
    let adds = count(&cols_v.shape)?;
    let ir_shape = {
        let hw = two(&out, 1);
        vec![n, m, hw[0], hw[1]]
    };
    let s = imp.emit(
        &format!("{}/col2im", node.at.name),
        OpKind::Gather { axis: 0 },
        &[&cols_v],
        ir_shape,
        adds,
        0,
    )?;
    Ok(imp.act(s, shape, x.elem))
}

/// Einsum of two operands that is a matrix product: letters in both
/// operands and the output are batch dims, in both operands only the
/// contraction, in one operand and the output its rows or columns.
fn einsum(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let eq: String = a(node.attrs.string("equation"))?
        .ok_or_else(|| invalid("has no equation"))?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let refuse = |why: &str| {
        unsupported(format!(
            "equation {eq:?} {why}; tessera imports Einsum only as a (batched) matrix product of two operands"
        ))
    };
    let (lhs, out) = eq
        .split_once("->")
        .ok_or_else(|| refuse("has no explicit output"))?;
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != 2 || node.ins.len() != 2 {
        return Err(refuse("does not have two operands"));
    }
    let (x, y) = (node.input(0)?, node.input(1)?);
    // `...` stands for the dims no letter names, the same number in every
    // term (broadcasting between operands is not imported); they get
    // labels no equation letter is, digits.
    let named = |term: &str| term.replace("...", "").chars().count();
    let ellipsis = |term: &str, rank: usize| -> R<usize> {
        if term.contains("...") {
            rank.checked_sub(named(term))
                .filter(|&e| e <= MAX_RANK)
                .ok_or_else(|| refuse("names more dims than an operand has"))
        } else {
            Ok(0)
        }
    };
    let (ex, ey) = (
        ellipsis(terms[0], x.shape.len())?,
        ellipsis(terms[1], y.shape.len())?,
    );
    let e = ex.max(ey);
    if (terms[0].contains("...") && ex != e) || (terms[1].contains("...") && ey != e) {
        return Err(refuse("broadcasts its ellipsis dims"));
    }
    let expand = |term: &str| -> Vec<char> {
        match term.split_once("...") {
            Some((pre, post)) => pre
                .chars()
                .chain((0..e).map(|i| char::from(b'0' + i as u8)))
                .chain(post.chars())
                .collect(),
            None => term.chars().collect(),
        }
    };
    let (xs, ys, os) = (expand(terms[0]), expand(terms[1]), expand(out));
    if [&xs, &ys, &os]
        .iter()
        .any(|t| t.iter().any(|c| !(c.is_ascii_alphanumeric())))
    {
        return Err(refuse("has characters that are not letters"));
    }
    if xs.len() != x.shape.len() || ys.len() != y.shape.len() || os.len() > MAX_RANK {
        return Err(refuse("does not match the operands' ranks"));
    }
    let mut dim = std::collections::BTreeMap::new();
    for (c, &d) in xs.iter().zip(&x.shape).chain(ys.iter().zip(&y.shape)) {
        if *dim.entry(*c).or_insert(d) != d {
            return Err(refuse(
                "gives one letter two sizes (broadcasting is not imported)",
            ));
        }
    }
    let once = |s: &[char]| {
        let mut t = s.to_vec();
        t.sort_unstable();
        t.windows(2).all(|w| w[0] != w[1])
    };
    if !once(&xs) || !once(&ys) || !once(&os) {
        return Err(refuse("repeats a letter within a term (a diagonal)"));
    }
    let (mut batch, mut rows, mut inner, mut cols) = (1u64, 1u64, 1u64, 1u64);
    for (&c, &d) in &dim {
        let (in_x, in_y, in_o) = (xs.contains(&c), ys.contains(&c), os.contains(&c));
        let slot = match (in_x, in_y, in_o) {
            (true, true, true) => &mut batch,
            (true, true, false) => &mut inner,
            (true, false, true) => &mut rows,
            (false, true, true) => &mut cols,
            _ => return Err(refuse("sums a dim of one operand alone")),
        };
        *slot = slot
            .checked_mul(d)
            .ok_or_else(|| limit("the product is too large"))?;
    }
    if os.iter().any(|c| !dim.contains_key(c)) {
        return Err(refuse("has an output letter no operand has"));
    }
    let shape: Vec<u64> = os.iter().map(|c| dim[c]).collect();
    if !x.is_act() && !y.is_act() {
        return Ok(Value {
            shape,
            elem: x.elem,
            state: node.statics(None),
        });
    }
    let kind = OpKind::MatMul {
        batch,
        m: rows,
        k: inner,
        n: cols,
    };
    // The IR reads each operand as `[batch, m, k]` and `[batch, k, n]`
    // views; a constant operand is the weight (one input, as MatMul's).
    let lhs_v = Value {
        shape: vec![batch, rows, inner],
        ..x.clone()
    };
    let rhs_v = Value {
        shape: vec![batch, inner, cols],
        ..y.clone()
    };
    let (inputs, params): (Vec<&Value>, u64) = match (x.is_act(), y.is_act()) {
        (true, true) => (vec![&lhs_v, &rhs_v], 0),
        (true, false) => (vec![&lhs_v], imp.charge(Some(y))),
        _ => {
            // A constant left operand: the transposed product, weight first.
            let kind_t = OpKind::MatMul {
                batch,
                m: cols,
                k: inner,
                n: rows,
            };
            let params = imp.charge(Some(x));
            let rhs_t = Value {
                shape: vec![batch, cols, inner],
                ..y.clone()
            };
            let s = imp.emit(&node.at.name, kind_t, &[&rhs_t], shape.clone(), 0, params)?;
            return Ok(imp.act(s, shape, x.elem));
        }
    };
    let s = imp.emit(&node.at.name, kind, &inputs, shape.clone(), 0, params)?;
    Ok(imp.act(s, shape, x.elem))
}

/// TopK: values and indices, each the input with `k` entries along `axis`.
fn top_k(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Vec<Value>> {
    let x = node.input(0)?;
    let k = match ints(node.input(1)?, "k")? {
        [k] => *k,
        other => {
            return Err(invalid(format!(
                "k must hold one value, found {}",
                other.len()
            )));
        }
    };
    let rank = x.shape.len();
    let axis = a(node.attrs.int("axis"))?.unwrap_or(-1);
    let ax = crate::shape::norm_axis(axis, rank)
        .ok_or_else(|| invalid(format!("axis {axis} is out of range for rank {rank}")))?;
    let k = u64::try_from(k)
        .ok()
        .filter(|&k| k >= 1 && k <= x.shape[ax])
        .ok_or_else(|| invalid(format!("k {k} is not within 1..={}", x.shape[ax])))?;
    let mut shape = x.shape.clone();
    shape[ax] = k;
    let n = count(&x.shape)?;
    // A heap of k entries: ⌈log2(k + 1)⌉ compare-swaps per element read.
    let per_elem = u64::from(64 - k.leading_zeros());
    let values = regather(imp, node, x, shape.clone(), ax, n * per_elem)?;
    let indices = Value {
        shape,
        elem: DataType::Int64 as i32,
        state: values.state.clone(),
    };
    Ok(vec![values, indices])
}
