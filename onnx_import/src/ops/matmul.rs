//! Matrix products: MatMul and Gemm, each an IR `matmul` whose constant
//! operand is the weight (and whose fused bias epilogue, if any, is taken into
//! its parameters).

use sim::graph::OpKind;

use super::{Node, Op};
use crate::cols::ColView;
use crate::import::Importer;
use crate::shape;
use crate::value::{R, State, Value, a, count, fmt_shape, invalid, union, unsupported};

pub const OPS: &[Op] = &[Op::one("MatMul", matmul), Op::one("Gemm", gemm)];

fn matmul(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let (x, y) = (node.input(0)?, node.input(1)?);
    let Product {
        m,
        k,
        n,
        a_batch,
        b_batch,
        batch_shape,
        out: shape,
    } = product(x, y)?;
    let (ab, bb) = (&a_batch[..], &b_batch[..]);
    if !x.is_act() && !y.is_act() {
        return Ok(Value {
            shape,
            elem: x.elem,
            state: State::Static {
                vals: None,
                inits: union(x.inits(), y.inits()),
            },
        });
    }
    let batch = count(&batch_shape)?;
    let kind;
    let inputs: Vec<&Value>;
    let params;
    if !y.is_act() {
        // x · W: a weight shared by every row of x.
        if count(bb)? != 1 {
            return Err(unsupported(format!(
                "the constant right operand {} has batch dims; tessera's matmul weight is one k × n matrix",
                fmt_shape(&y.shape)
            )));
        }
        let rows = count(&x.shape)? / k;
        kind = OpKind::MatMul {
            batch: 1,
            m: rows,
            k,
            n,
        };
        inputs = vec![x];
        params = imp.charge(Some(y)) + imp.take_bias(node.index, &shape, shape.len() - 1);
        if imp.fuse && shape.len() >= 2 {
            imp.pending_cols = Some(ColView {
                op: imp.next_op(),
                n,
                rows,
                roles: (0..shape.len())
                    .map(|d| (d + 1 == shape.len()).then_some(0))
                    .collect(),
                factors: vec![n],
            });
        }
    } else if !x.is_act() {
        // W · y: computed as (yᵀ · Wᵀ), the weight shared by every batch entry.
        if count(ab)? != 1 {
            return Err(unsupported(format!(
                "the constant left operand {} has batch dims; tessera's matmul weight is one k × n matrix",
                fmt_shape(&x.shape)
            )));
        }
        kind = OpKind::MatMul {
            batch: 1,
            m: count(&y.shape)? / k,
            k,
            n: m,
        };
        inputs = vec![y];
        params = imp.charge(Some(x)) + imp.take_bias(node.index, &shape, shape.len() - 1);
    } else {
        if count(ab)? != batch || count(bb)? != batch {
            return Err(unsupported(format!(
                "inputs have shapes {} and {}; tessera's matmul of two activations cannot broadcast batch dims",
                fmt_shape(&x.shape),
                fmt_shape(&y.shape)
            )));
        }
        kind = OpKind::MatMul { batch, m, k, n };
        inputs = vec![x, y];
        params = imp.take_bias(node.index, &shape, shape.len() - 1);
    }
    let s = imp.emit(&node.at.name, kind, &inputs, shape.clone(), 0, params)?;
    Ok(imp.act(s, shape, x.elem))
}

/// The dims of a MatMul by numpy's rules (a 1-D left operand is a row
/// vector, a 1-D right one a column vector): `[a_batch…, m, k]` times
/// `[b_batch…, k, n]`.
struct Product {
    m: u64,
    k: u64,
    n: u64,
    a_batch: Vec<u64>,
    b_batch: Vec<u64>,
    /// The two operands' batch dims broadcast together.
    batch_shape: Vec<u64>,
    /// The output shape: the batch dims, then `m` and `n` unless the operand
    /// they come from is 1-D.
    out: Vec<u64>,
}

/// The dims of the MatMul of `x` and `y`, checked.
fn product(x: &Value, y: &Value) -> R<Product> {
    let (ar, br) = (x.shape.len(), y.shape.len());
    if ar == 0 || br == 0 {
        return Err(invalid(format!(
            "inputs have shapes {:?} and {:?}; MatMul needs rank ≥ 1",
            x.shape, y.shape
        )));
    }
    let a2: Vec<u64> = if ar == 1 {
        vec![1, x.shape[0]]
    } else {
        x.shape.clone()
    };
    let b2: Vec<u64> = if br == 1 {
        vec![y.shape[0], 1]
    } else {
        y.shape.clone()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        return Err(invalid(format!(
            "inputs have shapes {} and {}; inner dimensions {k} and {k2} differ",
            fmt_shape(&x.shape),
            fmt_shape(&y.shape)
        )));
    }
    if k == 0 {
        return Err(invalid(format!(
            "inputs have shapes {} and {}; the inner dimension is empty",
            fmt_shape(&x.shape),
            fmt_shape(&y.shape)
        )));
    }
    let (ab, bb) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
    let batch_shape = shape::broadcast(ab, bb).ok_or_else(|| {
        invalid(format!(
            "inputs have shapes {} and {}; batch dims {ab:?} and {bb:?} do not broadcast",
            fmt_shape(&x.shape),
            fmt_shape(&y.shape)
        ))
    })?;
    let mut out = batch_shape.clone();
    if ar > 1 {
        out.push(m);
    }
    if br > 1 {
        out.push(n);
    }
    Ok(Product {
        m,
        k,
        n,
        a_batch: ab.to_vec(),
        b_batch: bb.to_vec(),
        batch_shape,
        out,
    })
}

fn gemm(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let (x, y, c) = (node.input(0)?, node.input(1)?, node.opt(2));
    let ta = a(node.attrs.int("transA"))?.unwrap_or(0) != 0;
    let tb = a(node.attrs.int("transB"))?.unwrap_or(0) != 0;
    if x.shape.len() != 2 || y.shape.len() != 2 {
        return Err(invalid(format!(
            "inputs have shapes {} and {}; Gemm needs two matrices",
            fmt_shape(&x.shape),
            fmt_shape(&y.shape)
        )));
    }
    let (m, k) = if ta {
        (x.shape[1], x.shape[0])
    } else {
        (x.shape[0], x.shape[1])
    };
    let (k2, n) = if tb {
        (y.shape[1], y.shape[0])
    } else {
        (y.shape[0], y.shape[1])
    };
    if k != k2 {
        return Err(invalid(format!(
            "inputs have shapes {} and {} (transA {}, transB {}); inner dimensions {k} and {k2} differ",
            fmt_shape(&x.shape),
            fmt_shape(&y.shape),
            u8::from(ta),
            u8::from(tb)
        )));
    }
    let shape = vec![m, n];
    if let Some(c) = c
        && shape::broadcast(&c.shape, &shape).as_deref() != Some(&shape[..])
    {
        return Err(invalid(format!(
            "C has shape {:?}, which does not broadcast to [{m}, {n}]",
            c.shape
        )));
    }
    if !x.is_act() && !y.is_act() && !c.is_some_and(|c| c.is_act()) {
        let inits = union(
            &union(x.inits(), y.inits()),
            c.map_or(&[][..], |c| c.inits()),
        );
        return Ok(Value {
            shape,
            elem: x.elem,
            state: State::Static { vals: None, inits },
        });
    }
    if c.is_some_and(|c| c.is_act()) {
        return Err(unsupported(
            "C is computed from a graph input; tessera's matmul adds only a constant bias",
        ));
    }
    let (inputs, params): (Vec<&Value>, u64) = match (x.is_act(), y.is_act()) {
        (true, false) => {
            if imp.fuse {
                imp.pending_cols = Some(ColView {
                    op: imp.next_op(),
                    n,
                    rows: m,
                    roles: vec![None, Some(0)],
                    factors: vec![n],
                });
            }
            (vec![x], imp.charge(Some(y)))
        }
        (false, true) => return gemm_const_a(imp, node, [x, y], c, [m, k, n]),
        _ => (vec![x, y], 0),
    };
    let params = params + imp.charge(c) + imp.take_bias(node.index, &shape, 1);
    let s = imp.emit(
        &node.at.name,
        OpKind::MatMul { batch: 1, m, k, n },
        &inputs,
        shape.clone(),
        0,
        params,
    )?;
    Ok(imp.act(s, shape, x.elem))
}

/// Gemm with a constant A (`x`, `m × k`) and an activation B (`y`, `k × n`):
/// `(Bᵀ · Aᵀ)ᵀ`, with A as the weight.
fn gemm_const_a(
    imp: &mut Importer<'_>,
    node: &Node<'_>,
    [x, y]: [&Value; 2],
    c: Option<&Value>,
    [m, k, n]: [u64; 3],
) -> R<Value> {
    let params = imp.charge(Some(x)) + imp.charge(c);
    let s = imp.emit(
        &node.at.name,
        OpKind::MatMul {
            batch: 1,
            m: n,
            k,
            n: m,
        },
        &[y],
        vec![m, n],
        0,
        params,
    )?;
    Ok(imp.act(s, vec![m, n], x.elem))
}
