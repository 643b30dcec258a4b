//! Normalisations: Softmax, LayerNormalization and BatchNormalization (the
//! inference form), each an IR op of the same name whose scale and bias are
//! parameters; their statistics outputs are not modelled. Instance and
//! group normalisation compute a layer norm's statistics over other groups
//! of elements (each channel's, each group of channels') for the same
//! vector work per element: they are IR `layer_norm` ops.

use sim::graph::OpKind;

use super::{Node, Op};
use crate::import::Importer;
use crate::shape;
use crate::value::{R, State, Value, a, count, invalid, unsupported};

pub const OPS: &[Op] = &[
    Op::one("Softmax", softmax),
    Op::many("LayerNormalization", layer_norm),
    Op::many("BatchNormalization", batch_norm),
    Op::one("InstanceNormalization", |imp, node| {
        channel_norm(imp, node, None)
    }),
    Op::one("GroupNormalization", |imp, node| {
        let groups = a(node.attrs.int("num_groups"))?
            .ok_or_else(|| invalid("has no num_groups attribute"))?;
        channel_norm(imp, node, Some(groups))
    }),
];

/// InstanceNormalization (`groups` None: per channel) or GroupNormalization
/// over NC… input: an IR `layer_norm` of the same cost per element as
/// LayerNormalization, whose scale and bias are parameters (one per channel,
/// or, for GroupNormalization before opset 21, one per group).
fn channel_norm(imp: &mut Importer<'_>, node: &Node<'_>, groups: Option<i64>) -> R<Value> {
    let x = node.input(0)?;
    if x.shape.len() < 2 {
        return Err(invalid(format!(
            "input shape {:?} has no channel dim",
            x.shape
        )));
    }
    let c = x.shape[1];
    if let Some(g) = groups
        && (g < 1 || !c.is_multiple_of(g as u64))
    {
        return Err(invalid(format!(
            "num_groups {g} does not divide the {c} channels"
        )));
    }
    let affine = [node.input(1)?, node.input(2)?];
    for v in affine {
        let per_group = groups.is_some_and(|g| v.shape == [g as u64]);
        if v.shape != [c] && !per_group {
            return Err(invalid(format!(
                "scale or bias has shape {:?}, expected [{c}] (one per channel)",
                v.shape
            )));
        }
        if v.is_act() {
            return Err(unsupported("scale or bias computed from a graph input"));
        }
    }
    if !x.is_act() {
        return Ok(folded(node, x));
    }
    let params = imp.charge(Some(affine[0])) + imp.charge(Some(affine[1]));
    normalised(imp, node, x, OpKind::LayerNorm, 4, params)
}

fn softmax(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    let axis = a(node.attrs.int("axis"))?.unwrap_or(-1);
    if shape::norm_axis(axis, x.shape.len().max(1)).is_none() {
        return Err(invalid(format!(
            "axis {axis} is out of range for rank {}",
            x.shape.len()
        )));
    }
    if !x.is_act() {
        return Ok(folded(node, x));
    }
    // The IR's softmax is over the last dim; another axis costs the same.
    normalised(imp, node, x, OpKind::Softmax, 3, 0)
}

fn layer_norm(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Vec<Value>> {
    let x = node.input(0)?;
    let axis = a(node.attrs.int("axis"))?.unwrap_or(-1);
    let axis = shape::norm_axis(axis, x.shape.len()).ok_or_else(|| {
        invalid(format!(
            "axis {axis} is out of range for rank {}",
            x.shape.len()
        ))
    })?;
    let norm_shape = &x.shape[axis..];
    let stat_shape: Vec<u64> = x.shape[..axis]
        .iter()
        .copied()
        .chain(std::iter::repeat_n(1, x.shape.len() - axis))
        .collect();
    let affine: Vec<Option<&Value>> = vec![Some(node.input(1)?), node.opt(2)];
    for v in affine.iter().flatten() {
        if shape::broadcast(&v.shape, norm_shape).as_deref() != Some(norm_shape) {
            return Err(invalid(format!(
                "scale or bias shape {:?} does not match the normalised shape {norm_shape:?}",
                v.shape
            )));
        }
    }
    let out = if x.is_act() {
        if affine.iter().flatten().any(|v| v.is_act()) {
            return Err(unsupported("scale or bias computed from a graph input"));
        }
        let params = imp.charge(affine[0]) + imp.charge(affine[1]);
        normalised(imp, node, x, OpKind::LayerNorm, 4, params)?
    } else {
        folded(node, x)
    };
    let stats = [
        "LayerNormalization's Mean output",
        "LayerNormalization's InvStdDev output",
    ];
    Ok(with_stats(out, stats, &stat_shape, x.elem))
}

fn batch_norm(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Vec<Value>> {
    let x = node.input(0)?;
    if a(node.attrs.int("training_mode"))?.unwrap_or(0) != 0 {
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
        let v = node.input(j)?;
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
    let out = if x.is_act() {
        // Running mean and variance (inputs 3 and 4) are buffers.
        let params = imp.charge(Some(node.input(1)?)) + imp.charge(Some(node.input(2)?));
        normalised(imp, node, x, OpKind::BatchNorm, 1, params)?
    } else {
        folded(node, x)
    };
    let stats = [
        "BatchNormalization's running mean output",
        "BatchNormalization's running variance output",
    ];
    Ok(with_stats(out, stats, &[c], x.elem))
}

/// The activation `x` normalised by the IR op `kind`, which keeps its shape
/// and costs `per_element` vector ops an element.
fn normalised(
    imp: &mut Importer<'_>,
    node: &Node<'_>,
    x: &Value,
    kind: OpKind,
    per_element: u64,
    params: u64,
) -> R<Value> {
    let n = count(&x.shape)?;
    let s = imp.emit(
        &node.at.name,
        kind,
        &[x],
        x.shape.clone(),
        per_element * n,
        params,
    )?;
    Ok(imp.act(s, x.shape.clone(), x.elem))
}

/// The static `x` normalised: its shape, no values.
fn folded(node: &Node<'_>, x: &Value) -> Value {
    Value {
        shape: x.shape.clone(),
        elem: x.elem,
        state: node.statics(None),
    }
}

/// A normalisation's output `out`, then its two statistics outputs (`stats`
/// names them) of `shape`, which tessera does not model.
fn with_stats(out: Value, stats: [&'static str; 2], shape: &[u64], elem: i32) -> Vec<Value> {
    let mut outs = vec![out];
    outs.extend(stats.map(|what| Value {
        shape: shape.to_vec(),
        elem,
        state: State::Unmodelled(what),
    }));
    outs
}
