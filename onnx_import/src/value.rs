//! What the import walk knows of each ONNX value (shape, element type, and
//! whether it is static or computed from a graph input), the failure of one
//! node before its name is attached, and the small helpers on both that the
//! walk and every op handler share.

use crate::proto::{TensorProto, tensor_proto::DataType};
use crate::reader;
use crate::shape::{self, numel};
use crate::{ErrorKind, MAX_RANK, MAX_VALUE_ELEMENTS};

use sim::graph::Source;

/// What a value is, beyond its shape.
#[derive(Clone, Debug)]
pub enum State {
    /// Computable from initializers, constants and (concrete) shapes only.
    /// `vals`: the values of a small integer tensor; `inits`: the float
    /// initializers it is computed from (parameters not yet charged).
    Static {
        vals: Option<Vec<i64>>,
        inits: Vec<u32>,
    },
    /// Depends on a graph input: read it from `source` with the value's shape.
    Act(Source),
    /// An optional output tessera does not model (e.g. MaxPool's indices).
    Unmodelled(&'static str),
}

#[derive(Clone, Debug)]
pub struct Value {
    pub shape: Vec<u64>,
    pub elem: i32,
    pub state: State,
}

impl Value {
    pub fn is_act(&self) -> bool {
        matches!(self.state, State::Act(_))
    }

    pub fn vals(&self) -> Option<&[i64]> {
        match &self.state {
            State::Static { vals: Some(v), .. } => Some(v),
            _ => None,
        }
    }

    pub fn inits(&self) -> &[u32] {
        match &self.state {
            State::Static { inits, .. } => inits,
            _ => &[],
        }
    }
}

/// A failure inside one node, before the node's name is attached.
pub struct Fail {
    pub kind: ErrorKind,
    pub message: String,
}

pub fn invalid(message: impl Into<String>) -> Fail {
    Fail {
        kind: ErrorKind::Invalid,
        message: message.into(),
    }
}

pub fn unsupported(message: impl Into<String>) -> Fail {
    Fail {
        kind: ErrorKind::Unsupported,
        message: message.into(),
    }
}

pub fn limit(message: impl Into<String>) -> Fail {
    Fail {
        kind: ErrorKind::Limit,
        message: message.into(),
    }
}

pub type R<T> = Result<T, Fail>;

/// An attribute read, with a malformed attribute as an invalid-model failure.
pub fn a<T>(r: Result<T, String>) -> R<T> {
    r.map_err(invalid)
}

/// The shape the IR sees: a scalar is a one-element vector.
pub fn ir_shape(shape: &[u64]) -> Vec<u64> {
    if shape.is_empty() {
        vec![1]
    } else {
        shape.to_vec()
    }
}

pub fn count(shape: &[u64]) -> R<u64> {
    numel(shape).ok_or_else(|| {
        limit(format!(
            "shape {shape:?} has more than 2^48 elements (the limit)"
        ))
    })
}

pub fn to_i64(d: u64) -> i64 {
    i64::try_from(d).unwrap_or(i64::MAX)
}

pub fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut v: Vec<u32> = a.iter().chain(b).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Whether a tensor of `shape` is small enough to have its values propagated.
pub fn small(shape: &[u64]) -> bool {
    numel(shape).is_some_and(|n| n <= MAX_VALUE_ELEMENTS)
}

pub fn fmt_shape(shape: &[u64]) -> String {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    format!("[{}]", dims.join(","))
}

/// The value of an initializer or a Constant's tensor: shape, type and, for
/// small inline integer tensors, the values.
pub fn tensor_value(t: &TensorProto) -> R<Value> {
    if t.dims.len() > MAX_RANK {
        return Err(limit(format!(
            "has rank {}; tessera imports at most rank {MAX_RANK}",
            t.dims.len()
        )));
    }
    let shape: Vec<u64> = t
        .dims
        .iter()
        .map(|&d| {
            u64::try_from(d)
                .map_err(|_| invalid(format!("dims {:?} have a negative value", t.dims)))
        })
        .collect::<R<_>>()?;
    let n = count(&shape)?;
    if t.data_type == DataType::String as i32 {
        return Err(unsupported("string tensors are not imported"));
    }
    let vals = reader::int_values(t, n).map_err(invalid)?;
    Ok(Value {
        shape,
        elem: t.data_type,
        state: State::Static {
            vals,
            inits: vec![],
        },
    })
}

/// The values of a static integer tensor, or why there are none.
pub fn ints<'v>(v: &'v Value, what: &str) -> R<&'v [i64]> {
    match &v.state {
        State::Static {
            vals: Some(vals), ..
        } => Ok(vals),
        State::Act(_) => Err(unsupported(format!(
            "{what} must be a constant (computable from initializers and shapes), but it depends on a graph input"
        ))),
        _ => Err(unsupported(format!(
            "{what} must be a small integer tensor whose values the file gives (at most {MAX_VALUE_ELEMENTS} elements, inline or in an external data file beside the model)"
        ))),
    }
}

/// The values of `f` applied element-wise to two small static integer
/// tensors broadcast to `shape`, if both have values and the result is small
/// (and `f` is defined on every pair).
pub fn binary_vals(
    x: &Value,
    y: &Value,
    shape: &[u64],
    f: impl Fn(i64, i64) -> Option<i64>,
) -> Option<Vec<i64>> {
    let (xv, yv) = (x.vals()?, y.vals()?);
    if !small(shape) {
        return None;
    }
    (0..numel(shape)? as usize)
        .map(|i| {
            f(
                xv[shape::broadcast_source(i, shape, &x.shape)],
                yv[shape::broadcast_source(i, shape, &y.shape)],
            )
        })
        .collect()
}
