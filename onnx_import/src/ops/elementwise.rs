//! Element-wise ops: activations (Relu, Gelu, Erf, Tanh, Sigmoid, Exp, Neg,
//! Sqrt), arithmetic with numpy broadcasting (Add, Sub, Mul, Div, Pow) and
//! Where, each an IR `elementwise` op on activations and folded on constants.
//! The one- and two-input handlers here also serve `vector.rs` (comparisons,
//! logic and the ops the IR has no function of its own for).

use sim::graph::EltFunc;

use super::{Node, Op};
use crate::import::Importer;
use crate::proto::tensor_proto::DataType;
use crate::shape;
use crate::value::{R, Value, binary_vals, count, invalid, small, unsupported};

pub const OPS: &[Op] = &[
    Op::one("Relu", |imp, node| {
        unary(imp, node, Some(EltFunc::Relu), Some(|e| e.max(0)))
    }),
    Op::one("Gelu", |imp, node| {
        unary(imp, node, Some(EltFunc::Gelu), None)
    }),
    Op::one("Erf", |imp, node| {
        unary(imp, node, Some(EltFunc::Erf), None)
    }),
    Op::one("Tanh", |imp, node| {
        unary(imp, node, Some(EltFunc::Tanh), None)
    }),
    Op::one("Sigmoid", |imp, node| {
        unary(imp, node, Some(EltFunc::Sigmoid), None)
    }),
    Op::one("Exp", |imp, node| {
        unary(imp, node, Some(EltFunc::Exp), None)
    }),
    Op::one("Neg", |imp, node| {
        unary(imp, node, Some(EltFunc::Neg), Some(i64::wrapping_neg))
    }),
    Op::one("Add", |imp, node| {
        binary(imp, node, Some(EltFunc::Add), i64::checked_add)
    }),
    Op::one("Sub", |imp, node| {
        binary(imp, node, Some(EltFunc::Sub), i64::checked_sub)
    }),
    Op::one("Mul", |imp, node| {
        binary(imp, node, Some(EltFunc::Mul), i64::checked_mul)
    }),
    Op::one("Div", |imp, node| {
        binary(imp, node, Some(EltFunc::Div), i64::checked_div)
    }),
    Op::one("Pow", |imp, node| {
        binary(imp, node, Some(EltFunc::Pow), |p, q| {
            u32::try_from(q).ok().and_then(|q| p.checked_pow(q))
        })
    }),
    Op::one("Sqrt", |imp, node| {
        unary(imp, node, Some(EltFunc::Sqrt), None)
    }),
    Op::one("Where", select),
];

/// A one-input element-wise op: `func` on an activation (refused if there is
/// none), `fold` on the values of a static integer tensor (if it has one;
/// else the result has no values).
pub fn unary(
    imp: &mut Importer<'_>,
    node: &Node<'_>,
    func: Option<EltFunc>,
    fold: Option<fn(i64) -> i64>,
) -> R<Value> {
    let x = node.input(0)?;
    if x.is_act() {
        let Some(func) = func else {
            return Err(unsupported(
                "on a tensor computed from graph inputs (tessera folds it only on constants)",
            ));
        };
        return imp.eltwise(node.at, func, &[x], x.shape.clone(), x.elem);
    }
    unary_fold(node, x.elem, fold)
}

/// A one-input op of `per_elem` vector operations per element on an
/// activation, costed as `func`; `fold` on static integer values. The output
/// has element type `elem`, or the input's.
pub fn unary_n(
    imp: &mut Importer<'_>,
    node: &Node<'_>,
    (func, per_elem): (EltFunc, u64),
    elem: Option<i32>,
    fold: Option<fn(i64) -> i64>,
) -> R<Value> {
    let x = node.input(0)?;
    let elem = elem.unwrap_or(x.elem);
    if node.any_act() {
        let ins: Vec<&Value> = node.ins.iter().flatten().collect();
        return imp.eltwise_n(node.at, func, per_elem, &ins, x.shape.clone(), elem);
    }
    unary_fold(node, elem, fold)
}

fn unary_fold(node: &Node<'_>, elem: i32, fold: Option<fn(i64) -> i64>) -> R<Value> {
    let x = node.input(0)?;
    let vals = fold.and_then(|f| x.vals().map(|v| v.iter().map(|&e| f(e)).collect()));
    Ok(Value {
        shape: x.shape.clone(),
        elem,
        state: node.statics(vals),
    })
}

/// A two-input element-wise arithmetic op with numpy broadcasting: `func` on
/// activations, `fold` on the values of static integer tensors.
pub fn binary(
    imp: &mut Importer<'_>,
    node: &Node<'_>,
    func: Option<EltFunc>,
    fold: fn(i64, i64) -> Option<i64>,
) -> R<Value> {
    let Some(func) = func else {
        return binary_n(imp, node, (EltFunc::Sub, 1), true, fold);
    };
    binary_n(imp, node, (func, 1), false, fold)
}

/// A two-input element-wise op of `per_elem` vector operations per output
/// element on activations, costed as `func`, with a boolean output if
/// `boolean` (comparisons, logic); `fold` on static integer values.
pub fn binary_n(
    imp: &mut Importer<'_>,
    node: &Node<'_>,
    (func, per_elem): (EltFunc, u64),
    boolean: bool,
    fold: fn(i64, i64) -> Option<i64>,
) -> R<Value> {
    let (x, y) = (node.input(0)?, node.input(1)?);
    let shape = shape::broadcast(&x.shape, &y.shape).ok_or_else(|| {
        invalid(format!(
            "inputs have shapes {:?} and {:?}, which do not broadcast",
            x.shape, y.shape
        ))
    })?;
    let elem = if boolean {
        DataType::Bool as i32
    } else {
        x.elem
    };
    if node.any_act() {
        return imp.eltwise_n(node.at, func, per_elem, &[x, y], shape, elem);
    }
    let vals = binary_vals(x, y, &shape, fold);
    Ok(Value {
        shape,
        elem,
        state: node.statics(vals),
    })
}

/// Where: an `elementwise select` of activations, folded on constants.
fn select(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let (c, x, y) = (node.input(0)?, node.input(1)?, node.input(2)?);
    let shape = shape::broadcast(&c.shape, &x.shape)
        .and_then(|s| shape::broadcast(&s, &y.shape))
        .ok_or_else(|| {
            invalid(format!(
                "inputs have shapes {:?}, {:?} and {:?}, which do not broadcast",
                c.shape, x.shape, y.shape
            ))
        })?;
    if node.any_act() {
        return imp.eltwise(node.at, EltFunc::Select, &[c, x, y], shape, x.elem);
    }
    let vals = match (c.vals(), x.vals(), y.vals()) {
        (Some(cv), Some(xv), Some(yv)) if small(&shape) => Some(
            (0..count(&shape)? as usize)
                .map(|i| {
                    let ci = cv[shape::broadcast_source(i, &shape, &c.shape)];
                    if ci != 0 {
                        xv[shape::broadcast_source(i, &shape, &x.shape)]
                    } else {
                        yv[shape::broadcast_source(i, &shape, &y.shape)]
                    }
                })
                .collect(),
        ),
        _ => None,
    };
    Ok(Value {
        shape,
        elem: x.elem,
        state: node.statics(vals),
    })
}
