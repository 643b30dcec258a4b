//! Ops that join, cut, pick from or repeat tensors: Concat, Split, Slice,
//! Gather, GatherElements and Expand. On activations they move data (`concat`,
//! `slice`, `gather`, `embedding`, `broadcast`); on small static integer
//! tensors they compute values (shape arithmetic). The slices they emit from a
//! projection's output are recorded as column blocks (see `cols.rs`).

use sim::graph::OpKind;

use super::{Node, Op};
use crate::MAX_RANK;
use crate::import::Importer;
use crate::reader::{elem_name, is_float};
use crate::shape::{self, numel};
use crate::value::{
    R, State, Value, a, count, fmt_shape, ints, invalid, limit, small, to_i64, union, unsupported,
};

pub const OPS: &[Op] = &[
    Op::one("Concat", concat),
    Op::many("Split", split),
    Op::one("Slice", slice),
    Op::one("Gather", gather),
    Op::one("GatherElements", gather_elements),
    Op::one("Expand", expand),
];

fn concat(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let parts: Vec<&Value> = node.ins.iter().flatten().collect();
    let first = parts.first().ok_or_else(|| invalid("has no inputs"))?;
    let rank = first.shape.len();
    let axis = node
        .attrs
        .int("axis")
        .map_err(invalid)?
        .ok_or_else(|| invalid("attribute \"axis\" is missing"))?;
    let ax = shape::norm_axis(axis, rank)
        .ok_or_else(|| invalid(format!("axis {axis} is out of range for rank {rank}")))?;
    let mut shape = first.shape.clone();
    shape[ax] = 0;
    for p in &parts {
        let same = p.shape.len() == rank
            && p.shape
                .iter()
                .zip(&first.shape)
                .enumerate()
                .all(|(d, (x, y))| d == ax || x == y);
        if !same {
            let shapes: Vec<String> = parts.iter().map(|p| fmt_shape(&p.shape)).collect();
            return Err(invalid(format!(
                "inputs have shapes {} that differ outside axis {axis}",
                shapes.join(", ")
            )));
        }
        shape[ax] = shape[ax]
            .checked_add(p.shape[ax])
            .ok_or_else(|| limit("concatenated size overflows"))?;
    }
    let elem = first.elem;
    if !parts.iter().any(|p| p.is_act()) {
        let inits = parts
            .iter()
            .fold(Vec::new(), |acc, v| union(&acc, v.inits()));
        let vals = if rank == 1 && parts.iter().all(|p| p.vals().is_some()) && small(&shape) {
            Some(
                parts
                    .iter()
                    .flat_map(|p| p.vals().expect("checked").iter().copied())
                    .collect(),
            )
        } else {
            None
        };
        return Ok(Value {
            shape,
            elem,
            state: State::Static { vals, inits },
        });
    }
    let acts: Vec<&Value> = parts.iter().copied().filter(|p| p.is_act()).collect();
    let mut params = 0;
    for p in parts.iter().filter(|p| !p.is_act()) {
        let charged = imp.charge_other(Some(p));
        if charged == 0 && p.shape[ax] > 0 {
            return Err(unsupported(format!(
                "a constant input of shape {} that holds no parameters is joined to activations; tessera's concat adds only parameters",
                fmt_shape(&p.shape)
            )));
        }
        params += charged;
    }
    let s = imp.emit(
        &node.at.name,
        OpKind::Concat { axis: ax as u32 },
        &acts,
        shape.clone(),
        0,
        params,
    )?;
    Ok(imp.act(s, shape, elem))
}

fn split(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Vec<Value>> {
    let x = node.input(0)?;
    let rank = x.shape.len();
    let axis = a(node.attrs.int("axis"))?.unwrap_or(0);
    let ax = shape::norm_axis(axis, rank)
        .ok_or_else(|| invalid(format!("axis {axis} is out of range for rank {rank}")))?;
    let dim = x.shape[ax];
    let sizes = split_sizes(node, axis, dim)?;
    let mut outs = Vec::with_capacity(sizes.len());
    let mut start = 0;
    for (j, &len) in sizes.iter().enumerate() {
        let mut shape = x.shape.clone();
        shape[ax] = len;
        if !x.is_act() {
            let vals = match x.vals() {
                Some(v) if rank == 1 => Some(v[start as usize..(start + len) as usize].to_vec()),
                _ => None,
            };
            outs.push(Value {
                shape,
                elem: x.elem,
                state: State::Static {
                    vals,
                    inits: x.inits().to_vec(),
                },
            });
        } else if node.proto.output[j].is_empty() {
            outs.push(Value {
                shape,
                elem: x.elem,
                state: State::Unmodelled("an unnamed Split output"),
            });
        } else if len == dim {
            outs.push(imp.view(node.at, x, shape, x.elem)?);
        } else {
            let kind = OpKind::Slice {
                axis: ax as u32,
                start,
                len,
            };
            let id = imp.next_op();
            let s = imp.emit(
                &format!("{}/{j}", node.at.name),
                kind,
                &[x],
                shape.clone(),
                0,
                0,
            )?;
            imp.note_piece(id, ax, start, len);
            outs.push(imp.act(s, shape, x.elem));
        }
        start += len;
    }
    Ok(outs)
}

/// The sizes of a Split's outputs along an axis (`axis` as written) of size
/// `dim`: from input 1, the `split` attribute, `num_outputs` (the last part
/// smaller) or an even split, checked against the node's outputs and `dim`.
fn split_sizes(node: &Node<'_>, axis: i64, dim: u64) -> R<Vec<u64>> {
    let n_out = node.proto.output.len() as u64;
    let sizes: Vec<u64> = match (
        node.opt(1),
        a(node.attrs.ints("split"))?,
        a(node.attrs.int("num_outputs"))?,
    ) {
        (Some(v), _, _) => ints(v, "split")?
            .iter()
            .map(|&s| u64::try_from(s).map_err(|_| invalid("split sizes must be non-negative")))
            .collect::<R<_>>()?,
        (None, Some(s), _) => s
            .iter()
            .map(|&s| u64::try_from(s).map_err(|_| invalid("split sizes must be non-negative")))
            .collect::<R<_>>()?,
        (None, None, num) => {
            let parts = match num {
                Some(k) if k >= 1 && k as u64 == n_out => n_out,
                Some(k) => {
                    return Err(invalid(format!(
                        "num_outputs is {k} but the node has {n_out} outputs"
                    )));
                }
                None => n_out.max(1),
            };
            let chunk = if num.is_some() {
                dim.div_ceil(parts)
            } else if dim.is_multiple_of(parts) {
                dim / parts
            } else {
                return Err(invalid(format!(
                    "axis {axis} of size {dim} does not split evenly into {parts} outputs"
                )));
            };
            (0..parts)
                .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
                .collect()
        }
    };
    if sizes.len() as u64 != n_out {
        return Err(invalid(format!(
            "has {} outputs but {} split sizes",
            n_out,
            sizes.len()
        )));
    }
    if sizes.iter().try_fold(0u64, |acc, &s| acc.checked_add(s)) != Some(dim) {
        return Err(invalid(format!(
            "split sizes {sizes:?} do not add up to axis {axis} of size {dim}"
        )));
    }
    Ok(sizes)
}

fn slice(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    let starts = ints(
        node.opt(1).ok_or_else(|| invalid("starts are missing"))?,
        "starts",
    )?;
    let ends = ints(
        node.opt(2).ok_or_else(|| invalid("ends are missing"))?,
        "ends",
    )?;
    let rank = x.shape.len();
    let axes: Vec<i64> = match node.opt(3) {
        Some(v) => ints(v, "axes")?.to_vec(),
        None => (0..starts.len() as i64).collect(),
    };
    let steps: Vec<i64> = match node.opt(4) {
        Some(v) => ints(v, "steps")?.to_vec(),
        None => vec![1; starts.len()],
    };
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(invalid(format!(
            "starts, ends, axes and steps have {}, {}, {} and {} values; they must agree",
            starts.len(),
            ends.len(),
            axes.len(),
            steps.len()
        )));
    }
    let mut shape = x.shape.clone();
    let mut ranges = vec![None; rank];
    for i in 0..starts.len() {
        let ax = shape::norm_axis(axes[i], rank)
            .ok_or_else(|| invalid(format!("axis {} is out of range for rank {rank}", axes[i])))?;
        if ranges[ax].is_some() {
            return Err(invalid(format!("axis {} is repeated", axes[i])));
        }
        if steps[i] == 0 {
            return Err(invalid("a step is 0"));
        }
        let (s, len) = shape::slice_range(x.shape[ax], starts[i], ends[i], steps[i]);
        shape[ax] = len;
        ranges[ax] = Some((s, len, steps[i]));
    }
    if !x.is_act() {
        let vals = match x.vals() {
            Some(v) if small(&shape) => Some(slice_vals(v, &x.shape, &ranges, &shape)),
            _ => None,
        };
        return Ok(Value {
            shape,
            elem: x.elem,
            state: State::Static {
                vals,
                inits: x.inits().to_vec(),
            },
        });
    }
    let changed: Vec<(usize, i64, u64, i64)> = ranges
        .iter()
        .enumerate()
        .filter_map(|(d, r)| r.map(|(s, len, step)| (d, s, len, step)))
        .filter(|&(d, _, len, step)| len != x.shape[d] || (step != 1 && len > 1))
        .collect();
    if changed.is_empty() {
        return imp.view(node.at, x, shape, x.elem);
    }
    let mut cur = x.clone();
    let many = changed.len() > 1;
    for (d, s, len, step) in changed {
        if step != 1 && len > 1 {
            return Err(unsupported(format!(
                "step {step} on axis {d}; tessera's slice is contiguous (step 1)"
            )));
        }
        if len == 0 {
            return Err(invalid(format!(
                "produces an empty tensor (axis {d} has length 0); tessera graphs have no empty tensors"
            )));
        }
        let mut out = cur.shape.clone();
        out[d] = len;
        let name = if many {
            format!("{}/axis{d}", node.at.name)
        } else {
            node.at.name.clone()
        };
        let kind = OpKind::Slice {
            axis: d as u32,
            start: s as u64,
            len,
        };
        let id = imp.next_op();
        let src = imp.emit(&name, kind, &[&cur], out.clone(), 0, 0)?;
        if !many {
            imp.note_piece(id, d, s as u64, len);
        }
        cur = imp.act(src, out, x.elem);
    }
    Ok(cur)
}

/// Gather: an `embedding` from a constant float table, a `slice` for a run
/// of consecutive static indices (fused), else a `gather`; folded on
/// constants.
fn gather(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let (data, idx) = (node.input(0)?, node.input(1)?);
    let rank = data.shape.len();
    let axis = node.attrs.int("axis").map_err(invalid)?.unwrap_or(0);
    let ax = shape::norm_axis(axis, rank).ok_or_else(|| {
        invalid(format!(
            "axis {axis} is out of range for data of rank {rank}"
        ))
    })?;
    let dim = data.shape[ax];
    let mut shape = data.shape[..ax].to_vec();
    shape.extend(&idx.shape);
    shape.extend(&data.shape[ax + 1..]);
    if shape.len() > MAX_RANK {
        return Err(limit(format!(
            "output rank {} is over the limit {MAX_RANK}",
            shape.len()
        )));
    }
    if let Some(iv) = idx.vals()
        && let Some(&bad) = iv.iter().find(|&&i| i < -to_i64(dim) || i >= to_i64(dim))
    {
        return Err(invalid(format!(
            "index {bad} is out of range for axis {axis} of size {dim} in data {}",
            fmt_shape(&data.shape)
        )));
    }
    if !data.is_act() && !idx.is_act() {
        let vals = match (data.vals(), idx.vals()) {
            (Some(dv), Some(iv)) if small(&shape) => Some(take(dv, &data.shape, ax, iv)?),
            _ => None,
        };
        return Ok(gathered(data, idx, shape, vals));
    }
    if !data.is_act() {
        // A lookup in a constant table: an embedding.
        if ax != 0 || !is_float(data.elem) || rank < 1 {
            return Err(unsupported(format!(
                "gathers from a constant {} tensor {} along axis {axis} by indices computed from graph inputs; tessera models a lookup in a float table along axis 0 (an embedding)",
                elem_name(data.elem),
                fmt_shape(&data.shape)
            )));
        }
        let vocab = dim;
        let width = count(&data.shape[1..])?;
        let mut ir = idx.shape.clone();
        ir.push(width);
        let params = imp.charge(Some(data));
        let s = imp.emit(
            &node.at.name,
            OpKind::Embedding { vocab, dim: width },
            &[idx],
            ir,
            0,
            params,
        )?;
        return Ok(imp.act(s, shape, data.elem));
    }
    if imp.fuse
        && let Some(iv) = idx.vals()
        && let Some(first) = consecutive(iv, dim)
    {
        // A static run of consecutive indices is a slice.
        let len = iv.len() as u64;
        let mut ir = data.shape.clone();
        ir[ax] = len;
        let kind = OpKind::Slice {
            axis: ax as u32,
            start: first as u64,
            len,
        };
        let id = imp.next_op();
        let s = imp.emit(&node.at.name, kind, &[data], ir, 0, 0)?;
        imp.note_piece(id, ax, first as u64, len);
        return Ok(imp.act(s, shape, data.elem));
    }
    gather_op(imp, node, data, idx, ax, shape)
}

/// The values of a Gather of the small tensor `dv` of shape `data` by the
/// indices `iv` (each in range) along `ax`.
fn take(dv: &[i64], data: &[u64], ax: usize, iv: &[i64]) -> R<Vec<i64>> {
    let outer = count(&data[..ax])? as usize;
    let inner = count(&data[ax + 1..])? as usize;
    let d = data[ax] as usize;
    let mut out = Vec::with_capacity(outer * iv.len() * inner);
    for o in 0..outer {
        for &i in iv {
            let i = if i < 0 { i + d as i64 } else { i } as usize;
            out.extend_from_slice(&dv[(o * d + i) * inner..(o * d + i + 1) * inner]);
        }
    }
    Ok(out)
}

/// The first of the indices `iv` into an axis of size `dim` (negative ones
/// count from its end) if they are consecutive.
fn consecutive(iv: &[i64], dim: u64) -> Option<i64> {
    let norm = |v: i64| if v < 0 { v + to_i64(dim) } else { v };
    let first = norm(*iv.first()?);
    iv.iter()
        .enumerate()
        .all(|(i, &v)| norm(v) == first + i as i64)
        .then_some(first)
}

/// The static result of a gather from `data` by `idx`, with `vals` if they
/// were computed: it carries both operands' float initializers.
fn gathered(data: &Value, idx: &Value, shape: Vec<u64>, vals: Option<Vec<i64>>) -> Value {
    Value {
        shape,
        elem: data.elem,
        state: State::Static {
            vals,
            inits: union(data.inits(), idx.inits()),
        },
    }
}

/// A `gather` along `ax` from the activation `data`, whose indices are an
/// input too if they are an activation: one vector op per output element.
fn gather_op(
    imp: &mut Importer<'_>,
    node: &Node<'_>,
    data: &Value,
    idx: &Value,
    ax: usize,
    shape: Vec<u64>,
) -> R<Value> {
    let mut inputs = vec![data];
    if idx.is_act() {
        inputs.push(idx);
    }
    let n = count(&shape)?;
    let s = imp.emit(
        &node.at.name,
        OpKind::Gather { axis: ax as u32 },
        &inputs,
        shape.clone(),
        n,
        0,
    )?;
    Ok(imp.act(s, shape, data.elem))
}

/// GatherElements: `out[i…] = data[i… with axis coordinate idx[i…]]`, the
/// output shaped as the indices. On constants (BERT's token-type buffer
/// gathered by position ids, in dynamo exports) it folds; from an
/// activation it is a `gather` (one vector op per output element).
fn gather_elements(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let (data, idx) = (node.input(0)?, node.input(1)?);
    let rank = data.shape.len();
    let axis = node.attrs.int("axis").map_err(invalid)?.unwrap_or(0);
    let ax = shape::norm_axis(axis, rank).ok_or_else(|| {
        invalid(format!(
            "axis {axis} is out of range for data of rank {rank}"
        ))
    })?;
    let fits =
        idx.shape.len() == rank && (0..rank).all(|d| d == ax || idx.shape[d] <= data.shape[d]);
    if !fits {
        return Err(invalid(format!(
            "indices of shape {} do not fit data of shape {} (same rank, no larger outside axis {axis})",
            fmt_shape(&idx.shape),
            fmt_shape(&data.shape)
        )));
    }
    let dim = to_i64(data.shape[ax]);
    if let Some(iv) = idx.vals()
        && let Some(&bad) = iv.iter().find(|&&i| i < -dim || i >= dim)
    {
        return Err(invalid(format!(
            "index {bad} is out of range for axis {axis} of size {dim} in data {}",
            fmt_shape(&data.shape)
        )));
    }
    let shape = idx.shape.clone();
    if !data.is_act() && !idx.is_act() {
        let vals = match (data.vals(), idx.vals()) {
            (Some(dv), Some(iv)) if small(&shape) => {
                let mut out = Vec::with_capacity(iv.len());
                for (flat, &i) in iv.iter().enumerate() {
                    // The output coordinates, with the axis one replaced.
                    let (mut rest, mut src, mut stride) = (flat as u64, 0u64, 1u64);
                    for d in (0..rank).rev() {
                        let c = rest % shape[d];
                        rest /= shape[d];
                        let c = if d == ax {
                            (if i < 0 { i + dim } else { i }) as u64
                        } else {
                            c
                        };
                        src += c * stride;
                        stride *= data.shape[d];
                    }
                    out.push(dv[src as usize]);
                }
                Some(out)
            }
            _ => None,
        };
        return Ok(gathered(data, idx, shape, vals));
    }
    if !data.is_act() {
        return Err(unsupported(format!(
            "gathers elements of a constant {} tensor {} by indices computed from graph inputs",
            elem_name(data.elem),
            fmt_shape(&data.shape)
        )));
    }
    gather_op(imp, node, data, idx, ax, shape)
}

/// Expand: a `broadcast` op, or a view where it adds no elements.
fn expand(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let x = node.input(0)?;
    let target = ints(node.input(1)?, "the target shape")?;
    if target.len() > MAX_RANK {
        return Err(limit(format!(
            "target shape has rank {}; tessera imports at most rank {MAX_RANK}",
            target.len()
        )));
    }
    let target: Vec<u64> = target
        .iter()
        .map(|&d| {
            u64::try_from(d)
                .map_err(|_| invalid(format!("target shape {target:?} has a negative dim")))
        })
        .collect::<R<_>>()?;
    let shape = shape::broadcast(&x.shape, &target).ok_or_else(|| {
        invalid(format!(
            "input shape {:?} does not broadcast with {target:?}",
            x.shape
        ))
    })?;
    if x.is_act() {
        if count(&shape)? == count(&x.shape)? {
            return imp.view(node.at, x, shape, x.elem);
        }
        let n = count(&shape)?;
        let s = imp.emit(&node.at.name, OpKind::Broadcast, &[x], shape.clone(), n, 0)?;
        return Ok(imp.act(s, shape, x.elem));
    }
    let vals = match x.vals() {
        Some(v) if small(&shape) => Some(
            (0..count(&shape)? as usize)
                .map(|i| v[shape::broadcast_source(i, &shape, &x.shape)])
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

/// Values of a slice of a small tensor (`ranges[d]` = start, length, step).
fn slice_vals(
    v: &[i64],
    in_shape: &[u64],
    ranges: &[Option<(i64, u64, i64)>],
    out_shape: &[u64],
) -> Vec<i64> {
    let n = numel(out_shape).unwrap_or(0) as usize;
    let mut out = Vec::with_capacity(n);
    for flat in 0..n {
        let mut rem = flat;
        let mut src = 0usize;
        let mut stride = 1usize;
        for d in (0..in_shape.len()).rev() {
            let od = out_shape[d] as usize;
            let pos = rem % od.max(1);
            rem /= od.max(1);
            let (s, _, step) = ranges[d].unwrap_or((0, in_shape[d], 1));
            let i = (s + pos as i64 * step) as usize;
            src += i * stride;
            stride *= in_shape[d] as usize;
        }
        out.push(v[src]);
    }
    out
}
