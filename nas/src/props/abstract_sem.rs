//! The abstract semantics: depth and mixing computed on the IR alone (see
//! the module doc of [`crate::props`] for what is computed and why it is
//! exact; the mixing domain is in `rows.rs`).

use crate::ir::{Fragment, IrError, Linearity, Node, Op, Shape, numel};

use super::depth::{Step, depth_table};
use super::rows::{Action, Bits, Row, actions, op_reads};
use super::{Mix, MixMatrix, Props};

/// How `op` counts for depth on inputs of these shapes. This is
/// [`Op::linearity`] refined where the shapes make the op degenerate, so that
/// the abstract depth says what evaluating the op would show: a pool whose
/// every window holds one element, and a global average pool over a 1×1
/// plane, only copy elements (structural); a softmax or layer norm over an
/// axis of size 1 is a constant (affine, so linear).
pub(crate) fn abstract_linearity(op: &Op, inputs: &[&Shape]) -> Linearity {
    let x = inputs[0];
    match *op {
        Op::AvgPool { kernel: 1, .. } => Linearity::Structural,
        Op::MaxPool {
            kernel,
            stride,
            padding,
        } if x.len() == 3 => {
            let single = |n: u64| {
                windows(n, kernel, stride, padding)
                    .iter()
                    .all(|&(lo, hi)| hi - lo == 1)
            };
            if single(x[1]) && single(x[2]) {
                Linearity::Structural
            } else {
                Linearity::NonLinear
            }
        }
        Op::GlobalAvgPool if x.len() == 3 && x[1] * x[2] == 1 => Linearity::Structural,
        Op::Softmax | Op::LayerNorm if x.last() == Some(&1) => Linearity::Linear,
        _ => op.linearity(),
    }
}

/// The in-bounds input range `[lo, hi)` of each output position of a 1-D
/// window of `kernel` elements, `stride` apart, on `n` elements padded by
/// `padding` on each side.
pub(crate) fn windows(n: u64, kernel: u64, stride: u64, padding: u64) -> Vec<(u64, u64)> {
    let padded = n + 2 * padding;
    if kernel == 0 || stride == 0 || padded < kernel {
        return Vec::new();
    }
    let n_out = (padded - kernel) / stride + 1;
    (0..n_out)
        .map(|i| {
            let start = (i * stride) as i64 - padding as i64;
            let lo = start.max(0) as u64;
            let hi = ((start + kernel as i64).max(0) as u64).min(n);
            (lo, hi)
        })
        .collect()
}

fn none_matrix(rows: usize, cols: usize) -> MixMatrix {
    vec![vec![Mix::None; cols]; rows]
}

/// Whether moving along output axis `b` of a row-major reshape from `from`
/// to `to` ever changes the coordinate along input axis `a`.
pub(crate) fn reshape_moves(from: &[u64], to: &[u64], a: usize, b: usize) -> bool {
    let stride = |s: &[u64], k: usize| -> u64 { s[k + 1..].iter().product() };
    let (st_a, n_a) = (stride(from, a), from[a]);
    let (st_b, n_b) = (stride(to, b), to[b]);
    if n_b < 2 {
        return false;
    }
    let total: u64 = to.iter().product();
    let coord = |l: u64| (l / st_a) % n_a;
    // Only indices whose coordinate along `b` can still grow by one.
    (0..total)
        .filter(|l| (l / st_b) % n_b + 1 < n_b)
        .any(|l| coord(l) != coord(l + st_b))
}

/// How a value depends on one fragment input: which of its elements
/// depend (`None`: all of them) and a row per input axis.
#[derive(Clone, Debug)]
struct Dep {
    mask: Option<Vec<bool>>,
    rows: Vec<Row>,
}

/// Most (output element, read) pairs the element-by-element path may
/// materialise for one op (2^24 pairs, 128 MiB).
const MAX_READS: u64 = 1 << 24;

/// An upper bound on the reads `op` makes for one output element.
fn reads_per_element(op: &Op, ins: &[&Shape]) -> u64 {
    let x = ins[0];
    match *op {
        Op::Conv { kernel, groups, .. } => x[0] / groups * kernel * kernel,
        Op::MaxPool { kernel, .. } | Op::AvgPool { kernel, .. } => kernel * kernel,
        Op::Dense { .. } | Op::Softmax | Op::LayerNorm => x[x.len() - 1],
        Op::GlobalAvgPool => x[1] * x[2],
        Op::MatMul => 2 * x[x.len() - 1],
        _ => ins.len() as u64,
    }
}

/// The dependence of node `n`'s output (value `v`) on a fragment input of
/// shape `input`, from its operands' (`None` where an operand does not
/// depend).
fn node_dep(
    n: &Node,
    shapes: &[Shape],
    v: usize,
    deps: &[Option<Dep>],
    input: &Shape,
) -> Result<Option<Dep>, IrError> {
    let ins: Vec<&Shape> = n.inputs.iter().map(|u| &shapes[u.0 as usize]).collect();
    let out = &shapes[v];
    let operands: Vec<(usize, &Dep)> = n
        .inputs
        .iter()
        .enumerate()
        .filter_map(|(slot, u)| deps[u.0 as usize].as_ref().map(|d| (slot, d)))
        .collect();
    if operands.is_empty() {
        return Ok(None);
    }
    // Compact path: every operand depends everywhere and is read for every
    // output element (true of every op but a concatenation).
    if !matches!(n.op, Op::Concat { .. }) && operands.iter().all(|(_, d)| d.mask.is_none()) {
        let acts: Vec<Vec<Action>> = operands
            .iter()
            .map(|(slot, _)| actions(&n.op, &ins, out, *slot))
            .collect();
        let rows: Option<Vec<Row>> = input
            .iter()
            .enumerate()
            .map(|(a, &m)| {
                let mut acc: Option<Row> = None;
                for ((_, d), act) in operands.iter().zip(&acts) {
                    let r = d.rows[a].through(act)?;
                    acc = Some(match acc {
                        None => r,
                        Some(prev) => prev.join(&r)?,
                    });
                }
                acc.map(|r| r.normalized(m))
            })
            .collect();
        if let Some(rows) = rows {
            return Ok(Some(Dep { mask: None, rows }));
        }
    }
    // A concatenation of operands that depend everywhere: one slab each.
    if let Op::Concat { axis } = n.op
        && operands.len() == n.inputs.len()
        && operands.iter().all(|(_, d)| d.mask.is_none())
    {
        let k = axis as usize;
        let piece_of: Vec<usize> = ins
            .iter()
            .enumerate()
            .flat_map(|(slot, s)| std::iter::repeat_n(slot, s[k] as usize))
            .collect();
        let rows: Option<Vec<Row>> = input
            .iter()
            .enumerate()
            .map(|(a, &m)| {
                let rows = operands
                    .iter()
                    .map(|(slot, d)| d.rows[a].through(&actions(&n.op, &ins, out, *slot)))
                    .collect::<Option<Vec<Row>>>()?;
                Some(
                    Row::Split {
                        axis: k,
                        piece_of: piece_of.clone(),
                        rows,
                    }
                    .normalized(m),
                )
            })
            .collect();
        if let Some(rows) = rows {
            return Ok(Some(Dep { mask: None, rows }));
        }
    }
    // Element by element, through the op's reads.
    let n_out = numel(out);
    if n_out * reads_per_element(&n.op, &ins) > MAX_READS {
        return Err(IrError(format!(
            "{} ({}): following its mixing element by element would read more than {MAX_READS} elements",
            n.name,
            n.op.name()
        )));
    }
    let reads = op_reads(&n.op, &ins, out);
    let mut rows = Vec::with_capacity(input.len());
    let mut mask: Vec<bool> = vec![false; n_out as usize];
    for (a, &m) in input.iter().enumerate() {
        let expanded: Vec<Option<Vec<Bits>>> = (0..n.inputs.len())
            .map(|slot| {
                operands
                    .iter()
                    .find(|(s, _)| *s == slot)
                    .map(|(_, d)| d.rows[a].expand(m, ins[slot], d.mask.as_deref()))
            })
            .collect();
        let sets: Vec<Bits> = reads
            .iter()
            .map(|rs| {
                let mut acc: Bits = Vec::new();
                for &(slot, z) in rs {
                    if let Some(e) = &expanded[slot as usize] {
                        acc.extend_from_slice(&e[z as usize]);
                    }
                }
                acc.sort_unstable();
                acc.dedup();
                acc
            })
            .collect();
        if a == 0 {
            for (k, s) in mask.iter_mut().zip(&sets) {
                *k = !s.is_empty();
            }
        }
        rows.push(Row::compact(sets, m, out));
    }
    let mask = if mask.iter().all(|&k| k) {
        None
    } else {
        Some(mask)
    };
    Ok(Some(Dep { mask, rows }))
}

/// The abstract properties of `fragment` (see [`crate::props::abstract_props`]).
pub(crate) fn abstract_props(fragment: &Fragment) -> Result<Props, IrError> {
    let shapes = fragment.shapes()?;
    let k = fragment.inputs.len();
    let outputs: Vec<usize> = fragment.outputs.iter().map(|o| o.0 as usize).collect();
    let steps: Vec<Step> = fragment
        .nodes
        .iter()
        .map(|n| {
            let ins: Vec<&Shape> = n.inputs.iter().map(|v| &shapes[v.0 as usize]).collect();
            Step {
                inputs: n.inputs.iter().map(|v| v.0 as usize).collect(),
                kind: abstract_linearity(&n.op, &ins),
            }
        })
        .collect();
    let depth = depth_table(k, &steps, &outputs);
    let mut mixing = Vec::with_capacity(k);
    for i in 0..k {
        let input = &shapes[i];
        let mut deps: Vec<Option<Dep>> = vec![None; shapes.len()];
        deps[i] = Some(Dep {
            mask: None,
            rows: input
                .iter()
                .enumerate()
                .map(|(a, &m)| Row::identity(m, a))
                .collect(),
        });
        for (j, n) in fragment.nodes.iter().enumerate() {
            deps[k + j] = node_dep(n, &shapes, k + j, &deps, input)?;
        }
        mixing.push(
            outputs
                .iter()
                .map(|&o| match &deps[o] {
                    Some(d) => d
                        .rows
                        .iter()
                        .zip(input)
                        .map(|(r, &m)| r.mix(m, &shapes[o]))
                        .collect(),
                    None => none_matrix(input.len(), shapes[o].len()),
                })
                .collect(),
        );
    }
    Ok(Props {
        shapes: outputs.iter().map(|&o| shapes[o].clone()).collect(),
        depth,
        mixing,
    })
}
