//! Reductions: ReduceMean, ReduceSum, ReduceMax and ReduceMin (axes from the
//! attribute or from input 1, `keepdims`, `noop_with_empty_axes`), each an IR
//! `reduce`.

use sim::graph::{OpKind, ReduceFunc};

use super::{Node, Op};
use crate::import::Importer;
use crate::shape;
use crate::value::{R, Value, a, count, ints, invalid};

pub const OPS: &[Op] = &[
    Op::one("ReduceMean", |imp, node| {
        reduce(imp, node, ReduceFunc::Mean)
    }),
    Op::one("ReduceSum", |imp, node| reduce(imp, node, ReduceFunc::Sum)),
    Op::one("ReduceMax", |imp, node| reduce(imp, node, ReduceFunc::Max)),
    Op::one("ReduceMin", |imp, node| reduce(imp, node, ReduceFunc::Min)),
];

fn reduce(imp: &mut Importer<'_>, node: &Node<'_>, func: ReduceFunc) -> R<Value> {
    let x = node.input(0)?;
    let axes: Vec<i64> = match (a(node.attrs.ints("axes"))?, node.opt(1)) {
        (Some(ax), _) => ax.to_vec(),
        (None, Some(v)) => ints(v, "axes")?.to_vec(),
        (None, None) => vec![],
    };
    let keep = a(node.attrs.int("keepdims"))?.unwrap_or(1) != 0;
    let noop = a(node.attrs.int("noop_with_empty_axes"))?.unwrap_or(0) != 0;
    if axes.is_empty() && noop {
        return if x.is_act() {
            imp.view(node.at, x, x.shape.clone(), x.elem)
        } else {
            Ok(x.clone())
        };
    }
    let rank = x.shape.len();
    let mut axes: Vec<usize> = if axes.is_empty() {
        (0..rank).collect()
    } else {
        axes.iter()
            .map(|&ax| {
                shape::norm_axis(ax, rank)
                    .ok_or_else(|| invalid(format!("axis {ax} is out of range for rank {rank}")))
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
        return Ok(Value {
            shape,
            elem: x.elem,
            state: node.statics(None),
        });
    }
    if rank == 0 {
        return imp.view(node.at, x, shape, x.elem);
    }
    let kind = OpKind::Reduce {
        func,
        axes: axes.iter().map(|&d| d as u32).collect(),
        keep_dims: keep,
    };
    let n = count(&x.shape)?;
    let s = imp.emit(&node.at.name, kind, &[x], shape.clone(), n, 0)?;
    Ok(imp.act(s, shape, x.elem))
}
