//! Ops tessera folds on constants only: shape arithmetic (Shape, Size,
//! Constant, ConstantOfShape, Range), and CumSum and GatherND, with which
//! exporters build masks from shapes (the dynamo export of the stock GPT-2
//! builds its causal mask so). On a tensor computed from graph inputs
//! CumSum is refused and GatherND is an IR `gather`.

use super::{Node, Op};
use crate::import::Importer;
use crate::proto::tensor_proto::DataType;
use crate::reader::{is_float, is_int};
use crate::shape;
use crate::value::{
    R, State, Value, a, count, fmt_shape, ints, invalid, limit, small, tensor_value, to_i64,
    unsupported,
};
use crate::{MAX_RANK, MAX_VALUE_ELEMENTS};

pub const OPS: &[Op] = &[
    Op::one("Shape", |_, node| shape_of(node)),
    Op::one("Size", |_, node| size(node)),
    Op::one("Constant", constant),
    Op::one("ConstantOfShape", constant_of_shape),
    Op::one("Range", |_, node| range(node)),
    Op::one("CumSum", |_, node| cum_sum(node)),
    Op::one("GatherND", gather_nd),
];

/// A static tensor whose values are written in the file or computed from
/// shapes alone: it holds no parameters.
fn literal(shape: Vec<u64>, elem: i32, vals: Option<Vec<i64>>) -> Value {
    Value {
        shape,
        elem,
        state: State::Static {
            vals,
            inits: vec![],
        },
    }
}

/// Shape: the input's dims from `start` to `end`, clamped as ONNX says.
fn shape_of(node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    let r = x.shape.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clamp(a(node.attrs.int("start"))?.unwrap_or(0));
    let end = clamp(a(node.attrs.int("end"))?.unwrap_or(r));
    let dims: Vec<i64> = x.shape[start..end.max(start)]
        .iter()
        .map(|&d| to_i64(d))
        .collect();
    Ok(literal(
        vec![dims.len() as u64],
        DataType::Int64 as i32,
        Some(dims),
    ))
}

/// Size: the input's element count, a scalar.
fn size(node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    let n = to_i64(count(&x.shape)?);
    Ok(literal(vec![], DataType::Int64 as i32, Some(vec![n])))
}

/// Constant: its output is a literal, whose shape, if it is read as one,
/// makes a ConstantOfShape a weight (see [`constant_of_shape`]).
fn constant(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    if let Some(name) = node.proto.output.first() {
        imp.literals.insert(name.clone());
    }
    if let Some(t) = a(node.attrs.tensor("value"))? {
        return tensor_value(t);
    }
    if let Some(i) = a(node.attrs.int("value_int"))? {
        return Ok(literal(vec![], DataType::Int64 as i32, Some(vec![i])));
    }
    if let Some(v) = a(node.attrs.ints("value_ints"))? {
        let vals = (v.len() as u64 <= MAX_VALUE_ELEMENTS).then(|| v.to_vec());
        return Ok(literal(vec![v.len() as u64], DataType::Int64 as i32, vals));
    }
    if a(node.attrs.float("value_float"))?.is_some() {
        return Ok(literal(vec![], DataType::Float as i32, None));
    }
    if let Some(v) = a(node.attrs.floats("value_floats"))? {
        return Ok(literal(vec![v.len() as u64], DataType::Float as i32, None));
    }
    if node.attrs.has("sparse_value")
        || node.attrs.has("value_string")
        || node.attrs.has("value_strings")
    {
        return Err(unsupported("sparse and string constants are not imported"));
    }
    Err(invalid("has no value attribute"))
}

fn constant_of_shape(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let dims = ints(node.input(0)?, "the shape")?;
    if dims.len() > MAX_RANK {
        return Err(limit(format!(
            "shape has rank {}; tessera imports at most rank {MAX_RANK}",
            dims.len()
        )));
    }
    let shape: Vec<u64> = dims
        .iter()
        .map(|&d| {
            u64::try_from(d).map_err(|_| invalid(format!("shape {dims:?} has a negative dim")))
        })
        .collect::<R<_>>()?;
    let n = count(&shape)?;
    let (elem, fill) = match a(node.attrs.tensor("value"))? {
        None => (DataType::Float as i32, None),
        Some(t) => {
            let v = tensor_value(t)?;
            (t.data_type, v.vals().and_then(|v| v.first().copied()))
        }
    };
    let vals = fill
        .filter(|_| n <= MAX_VALUE_ELEMENTS)
        .map(|f| vec![f; n as usize]);
    // A float tensor whose shape is written in the file (an initializer or a
    // Constant) is what constant folding would make an initializer, and
    // stands for a weight whose values the file leaves out (Caffe2's
    // conversions write every weight so): its elements are parameters, like
    // an initializer's. One shaped like a computed shape (`zeros_like` of an
    // activation, as in the ViT export) is not.
    let literal_shape = node
        .proto
        .input
        .first()
        .is_some_and(|s| imp.literals.contains(s));
    let inits = if is_float(elem) && literal_shape {
        vec![imp.new_param(n, true)]
    } else {
        vec![]
    };
    Ok(Value {
        shape,
        elem,
        state: State::Static { vals, inits },
    })
}

fn range(node: &Node<'_>) -> R<Value> {
    let scalar = |j: usize, what: &str| -> R<i64> {
        let v = node.input(j)?;
        match ints(v, what)? {
            [x] => Ok(*x),
            other => Err(invalid(format!(
                "{what} must be a scalar, found {} values",
                other.len()
            ))),
        }
    };
    let (start, lim, delta) = (
        scalar(0, "start")?,
        scalar(1, "limit")?,
        scalar(2, "delta")?,
    );
    if delta == 0 {
        return Err(invalid("delta is 0"));
    }
    let span = i128::from(lim) - i128::from(start);
    let d = i128::from(delta);
    let len = if (span > 0) == (d > 0) && span != 0 {
        ((span.abs() + d.abs() - 1) / d.abs()) as u64
    } else {
        0
    };
    let shape = vec![len];
    count(&shape)?;
    let vals = (len <= MAX_VALUE_ELEMENTS).then(|| {
        (0..len as i64)
            .map(|i| start.wrapping_add(i.wrapping_mul(delta)))
            .collect()
    });
    Ok(literal(shape, node.input(0)?.elem, vals))
}

fn cum_sum(node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    if node.any_act() {
        return Err(unsupported(
            "on a tensor computed from graph inputs (tessera folds CumSum only on constants)",
        ));
    }
    let rank = x.shape.len();
    let axis = match ints(node.input(1)?, "the axis")? {
        [a] => *a,
        other => {
            return Err(invalid(format!(
                "the axis must be a scalar, found {} values",
                other.len()
            )));
        }
    };
    let ax = shape::norm_axis(axis, rank)
        .ok_or_else(|| invalid(format!("axis {axis} is out of range for rank {rank}")))?;
    let exclusive = a(node.attrs.int("exclusive"))?.unwrap_or(0) != 0;
    let reverse = a(node.attrs.int("reverse"))?.unwrap_or(0) != 0;
    let vals = x.vals().filter(|_| is_int(x.elem)).map(|v| {
        let n = x.shape[ax] as usize;
        let inner = x.shape[ax + 1..].iter().product::<u64>() as usize;
        let mut out = v.to_vec();
        if n > 0 && inner > 0 {
            for o in 0..v.len() / (n * inner) {
                for i in 0..inner {
                    let mut sum = 0i64;
                    for k in 0..n {
                        let k = if reverse { n - 1 - k } else { k };
                        let at = (o * n + k) * inner + i;
                        let cur = v[at];
                        if !exclusive {
                            sum = sum.wrapping_add(cur);
                        }
                        out[at] = sum;
                        if exclusive {
                            sum = sum.wrapping_add(cur);
                        }
                    }
                }
            }
        }
        out
    });
    Ok(Value {
        shape: x.shape.clone(),
        elem: x.elem,
        state: node.statics(vals),
    })
}

/// GatherND: folded on constants; on activations an IR `gather` along the
/// batch dims reading the data and the indices that are activations, one
/// vector operation per output element, a constant float table's elements
/// being parameters (as an embedding's).
fn gather_nd(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let (data, idx) = (node.input(0)?, node.input(1)?);
    let b = usize::try_from(a(node.attrs.int("batch_dims"))?.unwrap_or(0))
        .map_err(|_| invalid("batch_dims is negative"))?;
    let (r, q) = (data.shape.len(), idx.shape.len());
    let k = idx.shape.last().copied().unwrap_or(0) as usize;
    if q < 1 || b >= q || b >= r || k < 1 || b + k > r || idx.shape[..b] != data.shape[..b] {
        return Err(invalid(format!(
            "indices of shape {} do not index data of shape {} with batch_dims {b}",
            fmt_shape(&idx.shape),
            fmt_shape(&data.shape)
        )));
    }
    let mut shape = idx.shape[..q - 1].to_vec();
    shape.extend(&data.shape[b + k..]);
    if shape.len() > MAX_RANK {
        return Err(limit(format!(
            "output rank {} is over the limit {MAX_RANK}",
            shape.len()
        )));
    }
    if node.any_act() {
        let acts: Vec<&Value> = [data, idx].into_iter().filter(|v| v.is_act()).collect();
        let params = if data.is_act() {
            0
        } else {
            imp.charge(Some(data))
        };
        let n = count(&shape)?;
        let s = imp.emit(
            &node.at.name,
            sim::graph::OpKind::Gather { axis: b as u32 },
            &acts,
            shape.clone(),
            n,
            params,
        )?;
        return Ok(imp.act(s, shape, data.elem));
    }
    let vals = match (data.vals(), idx.vals()) {
        (Some(dv), Some(iv)) if small(&shape) => {
            let batch = count(&data.shape[..b])? as usize;
            let per_batch = count(&data.shape[b..])? as usize;
            let slice = count(&data.shape[b + k..])? as usize;
            let tuples = iv.len() / k;
            let per_batch_tuples = (tuples / batch.max(1)).max(1);
            let mut out = Vec::with_capacity(tuples * slice);
            for (t, tuple) in iv.chunks(k).enumerate() {
                let mut off = 0usize;
                for (j, &i) in tuple.iter().enumerate() {
                    let d = to_i64(data.shape[b + j]);
                    if i < -d || i >= d {
                        return Err(invalid(format!(
                            "index {i} is out of range for axis {} of size {d} in data {}",
                            b + j,
                            fmt_shape(&data.shape)
                        )));
                    }
                    let i = if i < 0 { i + d } else { i } as usize;
                    off = off * data.shape[b + j] as usize + i;
                }
                let base = (t / per_batch_tuples) * per_batch + off * slice;
                out.extend_from_slice(&dv[base..base + slice]);
            }
            Some(out)
        }
        _ => None,
    };
    Ok(Value {
        shape,
        elem: data.elem,
        state: node.statics(vals),
    })
}
