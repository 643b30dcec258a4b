//! Pooling: MaxPool and AveragePool (1-D and 2-D, with `ceil_mode`) as an IR
//! `pool`, and GlobalAveragePool as a `global_avg_pool`.

use sim::graph::{OpKind, PoolFunc};

use super::window::{two, window_attrs, window_outputs};
use super::{Node, Op};
use crate::import::Importer;
use crate::proto::tensor_proto::DataType;
use crate::shape;
use crate::value::{R, State, Value, a, count, fmt_shape, invalid, limit, unsupported};

pub const OPS: &[Op] = &[
    Op::many("MaxPool", |imp, node| pool(imp, node, true)),
    Op::many("AveragePool", |imp, node| pool(imp, node, false)),
    Op::one("GlobalAveragePool", global_average_pool),
];

/// MaxPool or AveragePool (`max`): the pooled output, and an Indices output
/// tessera does not model, which must be unused.
fn pool(imp: &mut Importer<'_>, node: &Node<'_>, max: bool) -> R<Vec<Value>> {
    let mut outs = vec![pooled(imp, node, max, node.input(0)?)?];
    // AveragePool has no second output in ONNX; one that a file gives it
    // anyway is treated as MaxPool's (unmodelled, so it must be unused).
    outs.push(Value {
        shape: outs[0].shape.clone(),
        elem: DataType::Int64 as i32,
        state: State::Unmodelled("MaxPool's Indices output"),
    });
    Ok(outs)
}

/// The pooled output of MaxPool (`max`) or AveragePool.
fn pooled(imp: &mut Importer<'_>, node: &Node<'_>, max: bool, x: &Value) -> R<Value> {
    let rank = x.shape.len();
    if !(rank == 3 || rank == 4) {
        return Err(unsupported(format!(
            "input {}: tessera imports 1-D and 2-D pooling (rank 3 or 4)",
            fmt_shape(&x.shape)
        )));
    }
    let spatial = rank - 2;
    let kernel: Vec<u64> = match a(node.attrs.ints("kernel_shape"))? {
        Some(k) if k.len() == spatial && k.iter().all(|&d| d >= 1) => {
            k.iter().map(|&d| d as u64).collect()
        }
        Some(k) => {
            return Err(invalid(format!(
                "kernel_shape {k:?} must be {spatial} positive values"
            )));
        }
        None => return Err(invalid("kernel_shape is missing")),
    };
    let ceil = a(node.attrs.int("ceil_mode"))?.unwrap_or(0) != 0;
    let window = window_attrs(&node.attrs, spatial, &kernel)?;
    let (out, used_pads): (Vec<u64>, Vec<(u64, u64)>) =
        window_outputs(&x.shape, &window, ceil)?.into_iter().unzip();
    let (eff, strides, _, _) = window;
    let mut shape = x.shape[..2].to_vec();
    shape.extend(&out);
    if !x.is_act() {
        return Ok(Value {
            shape,
            elem: x.elem,
            state: State::Static {
                vals: None,
                inits: x.inits().to_vec(),
            },
        });
    }
    let in_hw = two(&x.shape[2..], 1);
    let (kernel2, stride2, out_hw) = (two(&eff, 1), two(&strides, 1), two(&out, 1));
    let pads2 = two(
        &used_pads.iter().map(|p| p.0.max(p.1)).collect::<Vec<_>>(),
        0,
    );
    let mut padding = [0; 2];
    for d in 0..2 {
        // The IR does not check pooling sizes; keep the symmetric equivalent
        // when there is one, else the larger of the two pads.
        padding[d] =
            shape::symmetric_pad(in_hw[d], kernel2[d], stride2[d], out_hw[d]).unwrap_or(pads2[d]);
    }
    let area = kernel
        .iter()
        .try_fold(1u64, |a, &k| a.checked_mul(k))
        .ok_or_else(|| limit("the pooling window's area overflows"))?;
    let work = count(&shape)?
        .checked_mul(area)
        .ok_or_else(|| limit("pooling work overflows"))?;
    let kind = OpKind::Pool {
        func: if max { PoolFunc::Max } else { PoolFunc::Avg },
        kernel: kernel2,
        stride: stride2,
        padding,
    };
    let s = imp.emit(&node.at.name, kind, &[x], shape.clone(), work, 0)?;
    Ok(imp.act(s, shape, x.elem))
}

fn global_average_pool(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    if x.shape.len() < 3 {
        return Err(invalid(format!(
            "input shape {:?} is not [N, C, spatial…]",
            x.shape
        )));
    }
    let mut shape = x.shape[..2].to_vec();
    shape.extend(std::iter::repeat_n(1, x.shape.len() - 2));
    if !x.is_act() {
        return Ok(Value {
            shape,
            elem: x.elem,
            state: node.statics(None),
        });
    }
    let n = count(&x.shape)?;
    let s = imp.emit(
        &node.at.name,
        OpKind::GlobalAvgPool,
        &[x],
        x.shape[..2].to_vec(),
        n,
        0,
    )?;
    Ok(imp.act(s, shape, x.elem))
}
