//! The abstract semantics: depth and mixing computed on the IR alone.
//!
//! Each op has, per input slot, a transfer matrix from that input's axes to
//! its output's axes, worked out from shapes and attributes by applying the
//! mixing definition (see the module doc of [`crate::props`]) to the op on
//! its own; those per-op matrices are exact. A fragment's matrices are then
//! composed along paths and joined over parallel paths in the lattice, and
//! the size-1 rules of the definition are applied to every value's matrix
//! (an input axis of size 1 is ALL-TO-ONE wherever there is dependence; an
//! output axis of size 1 admits only NONE or ALL-TO-ONE).

use crate::ir::{Fragment, IrError, Linearity, Op, Shape};

use super::depth::{Step, depth_table};
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

/// Mixing of a windowed axis with itself: `(whole, diagonal)`, where `whole`
/// says every window covers the whole axis (then the input axis is
/// ALL-TO-ONE towards every output axis).
fn window_mix(n: u64, wins: &[(u64, u64)]) -> (bool, Mix) {
    if wins.iter().all(|&w| w == (0, n)) {
        return (true, Mix::AllToOne);
    }
    let diag = if wins.iter().all(|&w| w == wins[0]) {
        Mix::None
    } else if wins.iter().all(|&(lo, hi)| hi - lo <= 1) {
        Mix::OneToOne
    } else {
        Mix::ManyToOne
    };
    (false, diag)
}

/// The matrix of an element-wise map on `shape`: each axis to itself.
pub(crate) fn identity(shape: &[u64]) -> MixMatrix {
    (0..shape.len())
        .map(|a| {
            (0..shape.len())
                .map(|b| {
                    if shape[a] == 1 {
                        Mix::AllToOne
                    } else if a == b {
                        Mix::OneToOne
                    } else {
                        Mix::None
                    }
                })
                .collect()
        })
        .collect()
}

fn none_matrix(rows: usize, cols: usize) -> MixMatrix {
    vec![vec![Mix::None; cols]; rows]
}

/// Composition in the lattice: NONE annihilates, otherwise the larger wins.
fn compose(x: Mix, y: Mix) -> Mix {
    if x == Mix::None || y == Mix::None {
        Mix::None
    } else {
        x.max(y)
    }
}

/// `m` then `t`, joining over the intermediate axis.
fn compose_matrix(m: &MixMatrix, t: &MixMatrix) -> MixMatrix {
    let cols = t.first().map_or(0, Vec::len);
    m.iter()
        .map(|row| {
            (0..cols)
                .map(|b| {
                    row.iter()
                        .zip(t)
                        .map(|(&x, trow)| compose(x, trow[b]))
                        .max()
                        .unwrap_or(Mix::None)
                })
                .collect()
        })
        .collect()
}

fn join_matrix(a: &mut MixMatrix, b: &MixMatrix) {
    for (ra, rb) in a.iter_mut().zip(b) {
        for (x, y) in ra.iter_mut().zip(rb) {
            *x = (*x).max(*y);
        }
    }
}

/// Applies the size-1 rules to the matrix of a pair that depends: a row of
/// an input axis of size 1 is all ALL-TO-ONE; in a column of an output axis
/// of size 1 only NONE and ALL-TO-ONE can occur.
fn size_one_rules(m: &mut MixMatrix, input: &[u64], output: &[u64]) {
    for (a, row) in m.iter_mut().enumerate() {
        for (b, x) in row.iter_mut().enumerate() {
            if input[a] == 1 {
                *x = Mix::AllToOne;
            } else if output[b] == 1 && *x != Mix::AllToOne {
                *x = Mix::None;
            }
        }
    }
}

/// Whether moving along output axis `b` of a row-major reshape from `from`
/// to `to` ever changes the coordinate along input axis `a`.
fn reshape_moves(from: &[u64], to: &[u64], a: usize, b: usize) -> bool {
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

/// The transfer matrix of `op` from input slot `slot` (of shapes `inputs`)
/// to its output of shape `output`, exactly as the mixing definition gives
/// it for the op alone.
pub(crate) fn transfer(op: &Op, inputs: &[&Shape], output: &Shape, slot: usize) -> MixMatrix {
    let x = inputs[slot];
    let r = x.len();
    let all_row = |m: &mut MixMatrix, a: usize| {
        for v in m[a].iter_mut() {
            *v = Mix::AllToOne;
        }
    };
    match op {
        Op::BatchNorm
        | Op::Relu
        | Op::Gelu
        | Op::Tanh
        | Op::Sigmoid
        | Op::Add
        | Op::Concat { .. } => identity(x),
        Op::Dense { .. } | Op::Softmax | Op::LayerNorm => {
            let mut m = identity(x);
            all_row(&mut m, r - 1);
            m
        }
        Op::MatMul => {
            let mut m = identity(x);
            // A's last axis and B's second-to-last are contracted.
            all_row(&mut m, if slot == 0 { r - 1 } else { r - 2 });
            m
        }
        Op::Transpose { perm } => (0..r)
            .map(|a| {
                perm.iter()
                    .map(|&p| {
                        if x[a] == 1 {
                            Mix::AllToOne
                        } else if p as usize == a {
                            Mix::OneToOne
                        } else {
                            Mix::None
                        }
                    })
                    .collect()
            })
            .collect(),
        Op::Flatten | Op::Reshape { .. } => (0..r)
            .map(|a| {
                (0..output.len())
                    .map(|b| {
                        if x[a] == 1 {
                            Mix::AllToOne
                        } else if reshape_moves(x, output, a, b) {
                            Mix::OneToOne
                        } else {
                            Mix::None
                        }
                    })
                    .collect()
            })
            .collect(),
        Op::GlobalAvgPool => {
            let c = if x[0] == 1 {
                Mix::AllToOne
            } else {
                Mix::OneToOne
            };
            vec![vec![c], vec![Mix::AllToOne], vec![Mix::AllToOne]]
        }
        Op::Conv {
            kernel,
            stride,
            padding,
            groups,
            ..
        } => {
            let mut m = spatial(x, *kernel, *stride, *padding);
            let per_group = x[0] / groups;
            if *groups == 1 {
                all_row(&mut m, 0);
            } else {
                // Output channel o reads its group's channels only; groups
                // differ, so the set moves along the output channels.
                m[0] = vec![
                    if per_group == 1 {
                        Mix::OneToOne
                    } else {
                        Mix::ManyToOne
                    },
                    Mix::None,
                    Mix::None,
                ];
            }
            m
        }
        Op::MaxPool {
            kernel,
            stride,
            padding,
        }
        | Op::AvgPool {
            kernel,
            stride,
            padding,
        } => {
            let mut m = spatial(x, *kernel, *stride, *padding);
            m[0] = identity(x)[0].clone();
            m
        }
    }
}

/// The spatial rows (1 and 2) of a windowed op on `[c, h, w]`; row 0 is
/// left NONE for the caller.
fn spatial(x: &[u64], kernel: u64, stride: u64, padding: u64) -> MixMatrix {
    let mut m = none_matrix(3, 3);
    for a in 1..3 {
        let (whole, diag) = window_mix(x[a], &windows(x[a], kernel, stride, padding));
        if whole {
            m[a] = vec![Mix::AllToOne; 3];
        } else {
            m[a][a] = diag;
        }
    }
    m
}

/// The abstract properties of `fragment` (see [`crate::props::abstract_props`]).
pub(crate) fn abstract_props(fragment: &Fragment) -> Result<Props, IrError> {
    let shapes = fragment.shapes()?;
    let k = fragment.inputs.len();
    let outputs: Vec<usize> = fragment.outputs.iter().map(|o| o.0 as usize).collect();
    let ins_of = |n: &crate::ir::Node| -> Vec<&Shape> {
        n.inputs.iter().map(|v| &shapes[v.0 as usize]).collect()
    };
    let steps: Vec<Step> = fragment
        .nodes
        .iter()
        .map(|n| Step {
            inputs: n.inputs.iter().map(|v| v.0 as usize).collect(),
            kind: abstract_linearity(&n.op, &ins_of(n)),
        })
        .collect();
    let depth = depth_table(k, &steps, &outputs);
    let mut mixing = Vec::with_capacity(k);
    for i in 0..k {
        let mut per_value: Vec<Option<MixMatrix>> = vec![None; shapes.len()];
        let mut own = identity(&shapes[i]);
        size_one_rules(&mut own, &shapes[i], &shapes[i]);
        per_value[i] = Some(own);
        for (j, n) in fragment.nodes.iter().enumerate() {
            let v = k + j;
            let ins = ins_of(n);
            let mut acc: Option<MixMatrix> = None;
            for (slot, u) in n.inputs.iter().enumerate() {
                let Some(m) = &per_value[u.0 as usize] else {
                    continue;
                };
                let t = transfer(&n.op, &ins, &shapes[v], slot);
                let c = compose_matrix(m, &t);
                match &mut acc {
                    None => acc = Some(c),
                    Some(a) => join_matrix(a, &c),
                }
            }
            if let Some(a) = &mut acc {
                size_one_rules(a, &shapes[i], &shapes[v]);
            }
            per_value[v] = acc;
        }
        mixing.push(
            outputs
                .iter()
                .map(|&o| {
                    per_value[o]
                        .clone()
                        .unwrap_or_else(|| none_matrix(shapes[i].len(), shapes[o].len()))
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
