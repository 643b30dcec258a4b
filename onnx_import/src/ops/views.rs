//! Views: ops that change only how a tensor is seen (Reshape, Flatten,
//! Squeeze, Unsqueeze, Identity, Dropout, Cast), folded into their readers or
//! kept as zero-cost `reshape` ops, and Transpose, a `transpose` op unless the
//! fusion plan makes it a view too.

use sim::graph::OpKind;

use super::{Node, Op, View};
use crate::MAX_RANK;
use crate::fuse;
use crate::import::Importer;
use crate::proto::tensor_proto::DataType;
use crate::reader::is_int;
use crate::shape;
use crate::value::{R, State, Value, a, count, ints, invalid, limit, unsupported};

pub const OPS: &[Op] = &[
    Op::one("Reshape", reshape).viewing(View::Reshape),
    Op::one("Transpose", transpose).viewing(View::Permute),
    Op::one("Flatten", flatten).viewing(View::Reshape),
    Op::one("Squeeze", squeeze).viewing(View::Reshape),
    Op::one("Unsqueeze", unsqueeze).viewing(View::Reshape),
    Op::one("Identity", |imp, node| {
        let x = node.input(0)?;
        pass(imp, node, x, x.elem)
    })
    .viewing(View::Reshape),
    Op::many("Dropout", dropout).viewing(View::Reshape),
    Op::one("Cast", cast).viewing(View::Reshape),
];

/// `x` seen with `shape`: a view of an activation, or a static value that
/// keeps `x`'s values.
fn reshaped(imp: &mut Importer<'_>, node: &Node<'_>, x: &Value, shape: Vec<u64>) -> R<Value> {
    if x.is_act() {
        return imp.view(node.at, x, shape, x.elem);
    }
    Ok(Value {
        shape,
        elem: x.elem,
        state: node.statics(x.vals().map(<[i64]>::to_vec)),
    })
}

/// Reshape to a constant target (0 copies a dim, -1 infers one).
fn reshape(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    let target = ints(node.input(1)?, "the target shape")?;
    if target.len() > MAX_RANK {
        return Err(limit(format!(
            "target shape has rank {}; tessera imports at most rank {MAX_RANK}",
            target.len()
        )));
    }
    let allowzero = a(node.attrs.int("allowzero"))?.unwrap_or(0) != 0;
    let shape = shape::reshape(&x.shape, target, allowzero).map_err(invalid)?;
    reshaped(imp, node, x, shape)
}

/// Flatten to two dims, split before `axis`.
fn flatten(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    let axis = a(node.attrs.int("axis"))?.unwrap_or(1);
    let r = x.shape.len() as i64;
    let ax = if axis < 0 { axis + r } else { axis };
    if !(0..=r).contains(&ax) {
        return Err(invalid(format!("axis {axis} is out of range for rank {r}")));
    }
    let (l, rr) = x.shape.split_at(ax as usize);
    reshaped(imp, node, x, vec![count(l)?, count(rr)?])
}

/// Squeeze the given axes (from input 1 or the attribute), or every dim of size 1.
fn squeeze(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    let axes = match (node.opt(1), a(node.attrs.ints("axes"))?) {
        (Some(v), _) => Some(ints(v, "axes")?.to_vec()),
        (None, Some(ax)) => Some(ax.to_vec()),
        (None, None) => None,
    };
    let rank = x.shape.len();
    let shape = match axes {
        None => x.shape.iter().copied().filter(|&d| d != 1).collect(),
        Some(axes) => {
            let mut drop = vec![false; rank];
            for &ax in &axes {
                let d = shape::norm_axis(ax, rank)
                    .ok_or_else(|| invalid(format!("axis {ax} is out of range for rank {rank}")))?;
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
    };
    reshaped(imp, node, x, shape)
}

/// Unsqueeze: insert dims of size 1 at the given axes of the output.
fn unsqueeze(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    let axes = match (node.opt(1), a(node.attrs.ints("axes"))?) {
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
        let d = shape::norm_axis(ax, rank)
            .ok_or_else(|| invalid(format!("axis {ax} is out of range for output rank {rank}")))?;
        if ones[d] {
            return Err(invalid(format!("axis {ax} is repeated")));
        }
        ones[d] = true;
    }
    let mut it = x.shape.iter();
    let shape = ones
        .iter()
        .map(|&o| if o { 1 } else { *it.next().expect("counted") })
        .collect();
    reshaped(imp, node, x, shape)
}

/// Transpose: folded on constants, a view where the fusion plan makes it one
/// (or it moves no data), else a `transpose` op.
fn transpose(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    let rank = x.shape.len();
    let perm: Vec<usize> = match a(node.attrs.ints("perm"))? {
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
        return Ok(Value {
            shape,
            elem: x.elem,
            state: node.statics(vals),
        });
    }
    let fold = match imp.plan.transpose.get(&node.index) {
        Some(fuse::FoldTranspose::IntoMatMul) => true,
        Some(fuse::FoldTranspose::FromProducer { via_bias_add }) => {
            via_bias_add.is_none_or(|add| imp.absorbed.contains(&add))
        }
        None => false,
    };
    if rank <= 1 || fold {
        return imp.view(node.at, x, shape, x.elem);
    }
    let n = count(&x.shape)?;
    let kind = OpKind::Transpose {
        perm: perm.iter().map(|&d| d as u32).collect(),
    };
    let s = imp.emit(&node.at.name, kind, &[x], shape.clone(), n, 0)?;
    Ok(imp.act(s, shape, x.elem))
}

/// `x` as an output of element type `elem` (Identity, Dropout, Cast): a view
/// of an activation, or a static value that keeps integer values.
fn pass(imp: &mut Importer<'_>, node: &Node<'_>, x: &Value, elem: i32) -> R<Value> {
    if x.is_act() {
        return imp.view(node.at, x, x.shape.clone(), elem);
    }
    let vals = if is_int(elem) {
        x.vals().map(<[i64]>::to_vec)
    } else {
        None
    };
    Ok(Value {
        shape: x.shape.clone(),
        elem,
        state: node.statics(vals),
    })
}

/// Dropout, at inference the identity; its mask output is not modelled.
fn dropout(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Vec<Value>> {
    let x = node.input(0)?;
    if node.opt(2).is_some_and(|t| t.is_act()) {
        return Err(unsupported("training_mode computed from a graph input"));
    }
    let out = pass(imp, node, x, x.elem)?;
    let mask = Value {
        shape: x.shape.clone(),
        elem: DataType::Bool as i32,
        state: State::Unmodelled("Dropout's mask"),
    };
    Ok(vec![out, mask])
}

fn cast(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    let elem =
        a(node.attrs.int("to"))?.ok_or_else(|| invalid("attribute \"to\" is missing"))? as i32;
    pass(imp, node, x, elem)
}
