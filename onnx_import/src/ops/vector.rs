//! Element-wise ops the IR has no function of its own for: comparisons,
//! IsNaN and IsInf, logic, Max and Min, Mod, rounding, Abs, Sign, Clip, Reciprocal, Log and
//! the activations exporters write as one node (LeakyRelu, PRelu, Elu, Celu,
//! Selu, HardSigmoid, HardSwish, Softplus, Softsign). On constants each folds
//! (integer values are propagated where the op has an integer meaning, as
//! shape arithmetic and masks built from shapes need); on a tensor computed
//! from graph inputs each is one IR `elementwise` op on the vector unit,
//! named by the nearest IR function and costing the vector instructions it
//! takes per output element. The table of functions and costs, and why, is
//! in `docs/onnx.md` ("Vector-unit costs").

use sim::graph::EltFunc;

use super::elementwise::{binary_n, unary_n};
use super::{Node, Op};
use crate::import::Importer;
use crate::proto::tensor_proto::DataType;
use crate::shape;
use crate::value::{R, Value, binary_vals, invalid};

/// A compare is a subtraction whose sign is kept: one instruction.
const COMPARE: (EltFunc, u64) = (EltFunc::Sub, 1);
/// And, Or and Xor of booleans are each one select (`a ? b : 0`,
/// `a ? 1 : b`, `a ? !b : b`).
const LOGIC: (EltFunc, u64) = (EltFunc::Select, 1);

pub const OPS: &[Op] = &[
    Op::one("Equal", |imp, node| {
        binary_n(imp, node, COMPARE, true, |p, q| Some(i64::from(p == q)))
    }),
    Op::one("Less", |imp, node| {
        binary_n(imp, node, COMPARE, true, |p, q| Some(i64::from(p < q)))
    }),
    Op::one("Greater", |imp, node| {
        binary_n(imp, node, COMPARE, true, |p, q| Some(i64::from(p > q)))
    }),
    Op::one("LessOrEqual", |imp, node| {
        binary_n(imp, node, COMPARE, true, |p, q| Some(i64::from(p <= q)))
    }),
    Op::one("GreaterOrEqual", |imp, node| {
        binary_n(imp, node, COMPARE, true, |p, q| Some(i64::from(p >= q)))
    }),
    Op::one("And", |imp, node| {
        binary_n(imp, node, LOGIC, true, |p, q| {
            Some(i64::from(p != 0 && q != 0))
        })
    }),
    Op::one("Or", |imp, node| {
        binary_n(imp, node, LOGIC, true, |p, q| {
            Some(i64::from(p != 0 || q != 0))
        })
    }),
    Op::one("Xor", |imp, node| {
        binary_n(imp, node, LOGIC, true, |p, q| {
            Some(i64::from((p != 0) != (q != 0)))
        })
    }),
    Op::one("Not", |imp, node| {
        unary_n(
            imp,
            node,
            (EltFunc::Sub, 1),
            Some(DataType::Bool as i32),
            Some(|e| i64::from(e == 0)),
        )
    }),
    Op::one("IsNaN", |imp, node| {
        // `x != x`: one compare (integers are never NaN).
        unary_n(imp, node, COMPARE, Some(DataType::Bool as i32), Some(|_| 0))
    }),
    Op::one("IsInf", |imp, node| {
        // `|x| == inf`: a sign-bit clear and a compare.
        unary_n(
            imp,
            node,
            (EltFunc::Sub, 2),
            Some(DataType::Bool as i32),
            Some(|_| 0),
        )
    }),
    Op::one("Max", |imp, node| extremum(imp, node, i64::max)),
    Op::one("Min", |imp, node| extremum(imp, node, i64::min)),
    Op::one("Mod", |imp, node| {
        // x − y·trunc(x/y): a divide, a truncation, a multiply and a
        // subtraction. Integer values fold with ONNX's rule for `fmod = 0`,
        // the sign of the divisor (Python's %).
        binary_n(imp, node, (EltFunc::Div, 4), false, |p, q| {
            (q != 0).then(|| p.wrapping_rem(q)).map(|r| {
                if r != 0 && (r < 0) != (q < 0) {
                    r + q
                } else {
                    r
                }
            })
        })
    }),
    Op::one("Abs", |imp, node| {
        unary_n(imp, node, (EltFunc::Neg, 1), None, Some(i64::wrapping_abs))
    }),
    Op::one("Sign", |imp, node| {
        unary_n(imp, node, (EltFunc::Select, 2), None, Some(i64::signum))
    }),
    Op::one("Floor", |imp, node| {
        unary_n(imp, node, (EltFunc::Sub, 1), None, Some(|e| e))
    }),
    Op::one("Ceil", |imp, node| {
        unary_n(imp, node, (EltFunc::Sub, 1), None, Some(|e| e))
    }),
    Op::one("Round", |imp, node| {
        unary_n(imp, node, (EltFunc::Sub, 1), None, Some(|e| e))
    }),
    Op::one("Reciprocal", |imp, node| {
        unary_n(imp, node, (EltFunc::Div, 1), None, None)
    }),
    Op::one("Log", |imp, node| {
        unary_n(imp, node, (EltFunc::Exp, 1), None, None)
    }),
    Op::one("Clip", clip),
    Op::one("LeakyRelu", |imp, node| {
        unary_n(imp, node, (EltFunc::Relu, 2), None, None)
    }),
    Op::one("PRelu", |imp, node| {
        binary_n(imp, node, (EltFunc::Relu, 2), false, |_, _| None)
    }),
    Op::one("Elu", |imp, node| {
        unary_n(imp, node, (EltFunc::Exp, 3), None, None)
    }),
    Op::one("Celu", |imp, node| {
        unary_n(imp, node, (EltFunc::Exp, 3), None, None)
    }),
    Op::one("Selu", |imp, node| {
        unary_n(imp, node, (EltFunc::Exp, 4), None, None)
    }),
    Op::one("HardSigmoid", |imp, node| {
        unary_n(imp, node, (EltFunc::Relu6, 2), None, None)
    }),
    Op::one("HardSwish", |imp, node| {
        unary_n(imp, node, (EltFunc::Swish, 3), None, None)
    }),
    Op::one("Softplus", |imp, node| {
        unary_n(imp, node, (EltFunc::Exp, 3), None, None)
    }),
    Op::one("Softsign", |imp, node| {
        unary_n(imp, node, (EltFunc::Div, 3), None, None)
    }),
];

/// Max or Min (`pick`) of any number of broadcast inputs: on activations one
/// `select` of two vector operations (a compare and a select) per output
/// element and extra input; on constants folded, as in GPT-2's mask in
/// dynamo exports.
fn extremum(imp: &mut Importer<'_>, node: &Node<'_>, pick: fn(i64, i64) -> i64) -> R<Value> {
    let mut shape = node.input(0)?.shape.clone();
    for j in 1..node.ins.len() {
        let y = node.input(j)?;
        shape = shape::broadcast(&shape, &y.shape).ok_or_else(|| {
            invalid(format!(
                "inputs have shapes {:?} and {:?}, which do not broadcast",
                shape, y.shape
            ))
        })?;
    }
    if node.any_act() {
        let ins: Vec<&Value> = node.ins.iter().flatten().collect();
        let per_elem = 2 * (ins.len() as u64).saturating_sub(1).max(1);
        return imp.eltwise_n(
            node.at,
            EltFunc::Select,
            per_elem,
            &ins,
            shape,
            node.input(0)?.elem,
        );
    }
    let mut acc = node.input(0)?.clone();
    for j in 1..node.ins.len() {
        let y = node.input(j)?;
        let shape = shape::broadcast(&acc.shape, &y.shape)
            .ok_or_else(|| invalid("inputs do not broadcast"))?;
        let vals = binary_vals(&acc, y, &shape, |p, q| Some(pick(p, q)));
        acc = Value {
            shape,
            elem: acc.elem,
            state: node.statics(vals),
        };
    }
    Ok(acc)
}

/// Clip: a clamp between optional bounds (inputs from opset 11), one
/// `relu6` (the IR's clamp) of two vector operations per element, a max and
/// a min; integer values fold when the bounds are known.
fn clip(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    for j in 1..node.ins.len() {
        if let Some(b) = node.opt(j)
            && b.shape.iter().product::<u64>() != 1
        {
            return Err(invalid(format!(
                "bound {j} has shape {:?}; Clip's bounds are scalars",
                b.shape
            )));
        }
    }
    if node.any_act() {
        let ins: Vec<&Value> = node.ins.iter().flatten().collect();
        return imp.eltwise_n(node.at, EltFunc::Relu6, 2, &ins, x.shape.clone(), x.elem);
    }
    let bound = |j: usize| {
        node.opt(j)
            .map(|b| b.vals().and_then(|v| v.first().copied()))
    };
    let (lo, hi) = (bound(1), bound(2));
    // A bound given without known values leaves the result unknown.
    let vals = match (x.vals(), lo, hi) {
        (_, Some(None), _) | (_, _, Some(None)) => None,
        (Some(v), lo, hi) => {
            let (lo, hi) = (lo.flatten(), hi.flatten());
            Some(
                v.iter()
                    .map(|&e| {
                        let e = lo.map_or(e, |l| e.max(l));
                        hi.map_or(e, |h| e.min(h))
                    })
                    .collect(),
            )
        }
        _ => None,
    };
    Ok(Value {
        shape: x.shape.clone(),
        elem: x.elem,
        state: node.statics(vals),
    })
}
