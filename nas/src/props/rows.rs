//! The abstract domain for mixing, one row per input axis.
//!
//! The mixing definition only looks at `S_a(y)`, the coordinates along
//! input axis `a` of what output element `y` depends on, and these compose
//! exactly: through an op, `S_a(y)` is the union of `S_a(z)` over the
//! elements `z` the op reads for `y` (projection commutes with union). A
//! lattice value per axis pair forgets too much to follow that union (two
//! windows that together cover an axis; a strided 1×1 conv, which skips
//! coordinates, then a global pool; a concatenation of a layer norm and a
//! tanh of the same input), so each row keeps the cheapest of five exact
//! forms that fits:
//! - [`Row::Full`]: `S_a(y)` is the whole axis for every depending `y`;
//! - [`Row::Const`]: `S_a(y)` is the same set for every depending `y`;
//! - [`Row::Band`]: `S_a(y)` is a function of `y`'s coordinate along one
//!   axis of the value, kept as one set per coordinate;
//! - [`Row::Split`]: one of the above per slab of a concatenation's axis
//!   (what a concatenation of differently mixed operands gives, as long as
//!   later windows do not straddle a seam);
//! - [`Row::Elements`]: `S_a(y)` for every element (empty where `y` does
//!   not depend), the fallback when a reshape scatters a band axis over
//!   several axes, when two paths join with bands on different axes, or when
//!   a path reaches only part of a value.
//!
//! The first three cost a set per coordinate of one axis and cover every
//! op on its own and the usual chains (windows after windows, element-wise
//! ops, transposes, flatten, dense and pooling heads); the fallback costs a
//! set per element and is turned back into a compact form whenever one
//! fits.

use crate::ir::{Op, Shape};

use super::Mix;
use super::abstract_sem::windows;
use super::interp::{Params, Reads, Tensor, eval};

/// A set of coordinates along one axis, sorted and without repeats (sparse:
/// the sets met in practice are single coordinates, windows or whole axes).
pub(crate) type Bits = Vec<u32>;

fn bits_of(coords: impl IntoIterator<Item = usize>) -> Bits {
    let mut b: Bits = coords.into_iter().map(|c| c as u32).collect();
    b.sort_unstable();
    b.dedup();
    b
}

fn count(b: &Bits) -> usize {
    b.len()
}

fn union(a: &Bits, b: &Bits) -> Bits {
    let mut u = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x == y => {
                i += 1;
                j += 1;
                x
            }
            (Some(&x), Some(&y)) if x < y => {
                i += 1;
                x
            }
            (Some(_), Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, Some(&y)) => {
                j += 1;
                y
            }
            (None, None) => unreachable!("loop condition"),
        };
        u.push(next);
    }
    u
}

fn or_into(a: &mut Bits, b: &Bits) {
    if b.is_empty() {
        return;
    }
    if a.is_empty() {
        a.clone_from(b);
        return;
    }
    *a = union(a, b);
}

fn is_empty(b: &Bits) -> bool {
    b.is_empty()
}

/// What the depending elements of a value draw along one fragment-input
/// axis (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Row {
    Full,
    Const(Bits),
    Band {
        axis: usize,
        sets: Vec<Bits>,
    },
    /// Different rows on either side of the seams of a concatenation:
    /// `rows[piece_of[t]]` holds where the coordinate along `axis` is `t`.
    Split {
        axis: usize,
        piece_of: Vec<usize>,
        rows: Vec<Row>,
    },
    Elements(Vec<Bits>),
}

/// How an op's output reads one axis `c` of one of its inputs.
#[derive(Clone, Debug)]
pub(crate) enum Action {
    /// The coordinates read along `c` depend only on the output coordinate
    /// along `axis`: `reads[t]` for coordinate `t`.
    Same { axis: usize, reads: Vec<Vec<usize>> },
    /// Every output element reads the whole axis.
    All,
    /// The coordinate along `c` depends on several output axes (a reshape).
    Tangled,
}

fn same(n: usize, axis: usize) -> Action {
    Action::Same {
        axis,
        reads: (0..n).map(|t| vec![t]).collect(),
    }
}

fn windowed(n_in: u64, kernel: u64, stride: u64, padding: u64, axis: usize) -> Action {
    Action::Same {
        axis,
        reads: windows(n_in, kernel, stride, padding)
            .into_iter()
            .map(|(lo, hi)| (lo as usize..hi as usize).collect())
            .collect(),
    }
}

/// How `op`'s output reads each axis of its input `slot`.
pub(crate) fn actions(op: &Op, inputs: &[&Shape], output: &Shape, slot: usize) -> Vec<Action> {
    let x = inputs[slot];
    let r = x.len();
    let n = |a: usize| output[a] as usize;
    match op {
        Op::BatchNorm | Op::Relu | Op::Gelu | Op::Tanh | Op::Sigmoid | Op::Add => {
            (0..r).map(|c| same(n(c), c)).collect()
        }
        Op::Dense { .. } | Op::Softmax | Op::LayerNorm => (0..r)
            .map(|c| {
                if c == r - 1 {
                    Action::All
                } else {
                    same(n(c), c)
                }
            })
            .collect(),
        Op::MatMul => {
            let contracted = if slot == 0 { r - 1 } else { r - 2 };
            (0..r)
                .map(|c| {
                    if c == contracted {
                        Action::All
                    } else {
                        same(n(c), c)
                    }
                })
                .collect()
        }
        Op::Transpose { perm } => (0..r)
            .map(|c| {
                let b = perm
                    .iter()
                    .position(|&p| p as usize == c)
                    .expect("a permutation");
                same(n(b), b)
            })
            .collect(),
        Op::Concat { axis } => {
            let k = *axis as usize;
            let offset: usize = inputs[..slot].iter().map(|s| s[k] as usize).sum();
            (0..r)
                .map(|c| {
                    if c != k {
                        return same(n(c), c);
                    }
                    Action::Same {
                        axis: k,
                        reads: (0..n(k))
                            .map(|t| {
                                if t >= offset && t < offset + x[k] as usize {
                                    vec![t - offset]
                                } else {
                                    Vec::new()
                                }
                            })
                            .collect(),
                    }
                })
                .collect()
        }
        Op::Flatten | Op::Reshape { .. } => reshape_actions(x, output),
        Op::GlobalAvgPool => vec![same(n(0), 0), Action::All, Action::All],
        Op::Conv {
            kernel,
            stride,
            padding,
            groups,
            ..
        } => {
            let channels = if *groups == 1 {
                Action::All
            } else {
                let (per_in, per_out) = (x[0] / groups, output[0] / groups);
                Action::Same {
                    axis: 0,
                    reads: (0..output[0])
                        .map(|o| {
                            let g = o / per_out;
                            ((g * per_in) as usize..((g + 1) * per_in) as usize).collect()
                        })
                        .collect(),
                }
            };
            vec![
                channels,
                windowed(x[1], *kernel, *stride, *padding, 1),
                windowed(x[2], *kernel, *stride, *padding, 2),
            ]
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
        } => vec![
            same(n(0), 0),
            windowed(x[1], *kernel, *stride, *padding, 1),
            windowed(x[2], *kernel, *stride, *padding, 2),
        ],
    }
}

/// A row-major reshape: an input axis whose coordinate only one output axis
/// changes is read as a function of that axis; one that several change is
/// tangled; one of size 1 is read whole.
fn reshape_actions(from: &[u64], to: &[u64]) -> Vec<Action> {
    let stride = |s: &[u64], k: usize| -> u64 { s[k + 1..].iter().product() };
    (0..from.len())
        .map(|c| {
            if from[c] == 1 {
                return Action::All;
            }
            let coord = |l: u64| ((l / stride(from, c)) % from[c]) as usize;
            let movers: Vec<usize> = (0..to.len())
                .filter(|&b| super::abstract_sem::reshape_moves(from, to, c, b))
                .collect();
            match movers[..] {
                [b] => Action::Same {
                    axis: b,
                    reads: (0..to[b]).map(|t| vec![coord(t * stride(to, b))]).collect(),
                },
                _ => Action::Tangled,
            }
        })
        .collect()
}

/// Per output element, what it reads of each operand: the reference
/// interpreter's reads (they depend on shapes and attributes only, so any
/// weights and inputs do).
pub(crate) fn op_reads(op: &Op, ins: &[&Shape], out: &Shape) -> Reads {
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let p = Params::random(op, ins, &mut rng);
    let xs: Vec<Tensor> = ins
        .iter()
        .map(|s| Tensor {
            shape: s.iter().map(|&d| d as usize).collect(),
            data: vec![0.0; s.iter().product::<u64>() as usize],
        })
        .collect();
    let refs: Vec<&Tensor> = xs.iter().collect();
    eval(op, &p, &refs, out).1
}

/// Coordinate of flat index `y` along axis `b` of `shape`.
fn coord(y: usize, shape: &[u64], b: usize) -> usize {
    let stride: u64 = shape[b + 1..].iter().product();
    ((y as u64 / stride) % shape[b]) as usize
}

impl Row {
    /// The row of the input itself along axis `a` of size `m`.
    pub fn identity(m: u64, a: usize) -> Row {
        if m == 1 {
            Row::Full
        } else {
            Row::Band {
                axis: a,
                sets: (0..m as usize).map(|t| bits_of([t])).collect(),
            }
        }
    }

    /// `S_a(y)` for every element of a value of shape `shape` whose
    /// depending elements are `mask` (`None`: all).
    pub fn expand(&self, m: u64, shape: &[u64], mask: Option<&[bool]>) -> Vec<Bits> {
        let n: usize = shape.iter().product::<u64>() as usize;
        let live = |y: usize| mask.is_none_or(|k| k[y]);
        let empty = Bits::new();
        (0..n)
            .map(|y| {
                if !live(y) {
                    return empty.clone();
                }
                self.set_at(y, m, shape)
            })
            .collect()
    }

    /// `S_a(y)` for element `y` of a value of shape `shape`, which depends.
    fn set_at(&self, y: usize, m: u64, shape: &[u64]) -> Bits {
        match self {
            Row::Full => bits_of(0..m as usize),
            Row::Const(u) => u.clone(),
            Row::Band { axis, sets } => sets[coord(y, shape, *axis)].clone(),
            Row::Split {
                axis,
                piece_of,
                rows,
            } => rows[piece_of[coord(y, shape, *axis)]].set_at(y, m, shape),
            Row::Elements(e) => e[y].clone(),
        }
    }

    /// The most compact exact form of per-element sets `e` on a value of
    /// shape `shape` (empty sets: elements that do not depend).
    pub fn compact(e: Vec<Bits>, m: u64, shape: &[u64]) -> Row {
        let live: Vec<usize> = (0..e.len()).filter(|&y| !is_empty(&e[y])).collect();
        let Some(&first) = live.first() else {
            return Row::Elements(e);
        };
        if live.iter().all(|&y| e[y] == e[first]) {
            return Row::Const(e[first].clone()).normalized(m);
        }
        for b in 0..shape.len() {
            let mut sets: Vec<Option<&Bits>> = vec![None; shape[b] as usize];
            let fits = live.iter().all(|&y| {
                let t = coord(y, shape, b);
                match sets[t] {
                    None => {
                        sets[t] = Some(&e[y]);
                        true
                    }
                    Some(s) => *s == e[y],
                }
            });
            if fits {
                let sets = sets
                    .into_iter()
                    .map(|s| s.cloned().unwrap_or_default())
                    .collect();
                return Row::Band { axis: b, sets }.normalized(m);
            }
        }
        Row::Elements(e)
    }

    /// The lattice values of this row towards the axes of a value of shape
    /// `out`, for an input axis of size `m`, by the mixing definition.
    /// The row must be normalised (as every stored row is).
    pub fn mix(&self, m: u64, out: &[u64]) -> Vec<Mix> {
        match self {
            Row::Full => vec![Mix::AllToOne; out.len()],
            Row::Const(_) => vec![Mix::None; out.len()],
            Row::Band { axis, sets } => {
                let single = sets.iter().all(|s| count(s) <= 1);
                (0..out.len())
                    .map(|b| match (b == *axis, single) {
                        (false, _) => Mix::None,
                        (true, true) => Mix::OneToOne,
                        (true, false) => Mix::ManyToOne,
                    })
                    .collect()
            }
            Row::Split { .. } => elements_mix(&self.expand(m, out, None), m, out),
            Row::Elements(e) => elements_mix(e, m, out),
        }
    }

    /// The simplest exact form: a band whose non-empty sets are all whole
    /// is full; one whose non-empty sets are all equal is constant.
    pub fn normalized(self, m: u64) -> Row {
        let full = |s: &Bits| count(s) == m as usize;
        match self {
            Row::Const(u) if full(&u) => Row::Full,
            Row::Band { axis, sets } => {
                let live: Vec<&Bits> = sets.iter().filter(|s| !is_empty(s)).collect();
                if live.iter().all(|s| full(s)) {
                    Row::Full
                } else if live.iter().all(|s| *s == live[0]) {
                    Row::Const(live[0].clone())
                } else {
                    Row::Band { axis, sets }
                }
            }
            Row::Split {
                axis,
                piece_of,
                rows,
            } => {
                let rows: Vec<Row> = rows.into_iter().map(|r| r.normalized(m)).collect();
                if rows.iter().all(|r| *r == rows[0]) {
                    rows[0].clone()
                } else {
                    Row::Split {
                        axis,
                        piece_of,
                        rows,
                    }
                }
            }
            other => other,
        }
    }

    /// Through an op reading this row's value (every element of it
    /// depending) with `acts`; `None` when the compact forms cannot follow
    /// (a tangled axis, or per-element sets), and the caller goes element
    /// by element. Not normalised.
    pub fn through(&self, acts: &[Action]) -> Option<Row> {
        match self {
            Row::Full => Some(Row::Full),
            Row::Const(u) => Some(Row::Const(u.clone())),
            Row::Band { axis: c, sets } => match &acts[*c] {
                Action::All => {
                    let mut u: Bits = sets.concat();
                    u.sort_unstable();
                    u.dedup();
                    Some(Row::Const(u))
                }
                Action::Same { axis, reads } => Some(Row::Band {
                    axis: *axis,
                    sets: reads
                        .iter()
                        .map(|rs| match rs[..] {
                            [r] => sets[r].clone(),
                            _ => {
                                let mut u = Bits::new();
                                for &r in rs {
                                    or_into(&mut u, &sets[r]);
                                }
                                u
                            }
                        })
                        .collect(),
                }),
                Action::Tangled => None,
            },
            Row::Split {
                axis: k,
                piece_of,
                rows,
            } => {
                let rows: Vec<Row> = rows
                    .iter()
                    .map(|r| r.through(acts))
                    .collect::<Option<_>>()?;
                match &acts[*k] {
                    // Every output element reads every slab.
                    Action::All => rows
                        .iter()
                        .skip(1)
                        .try_fold(rows[0].clone(), |acc, r| acc.join(r)),
                    // Each output coordinate must read a single slab.
                    Action::Same { axis, reads } => {
                        let piece_of = reads
                            .iter()
                            .map(|rs| {
                                let p = piece_of[*rs.first()?];
                                rs.iter().all(|&r| piece_of[r] == p).then_some(p)
                            })
                            .collect::<Option<Vec<usize>>>()?;
                        Some(Row::Split {
                            axis: *axis,
                            piece_of,
                            rows,
                        })
                    }
                    Action::Tangled => None,
                }
            }
            Row::Elements(_) => None,
        }
    }

    /// The row of elements reached by both paths, each reaching every
    /// element of the value; `None` when the compact forms cannot say it.
    pub fn join(&self, other: &Row) -> Option<Row> {
        use Row::*;
        Some(match (self, other) {
            (Full, _) | (_, Full) => Full,
            (Const(u), Const(v)) => Const(union(u, v)),
            (Const(u), Band { axis, sets }) | (Band { axis, sets }, Const(u)) => Band {
                axis: *axis,
                sets: sets.iter().map(|s| union(s, u)).collect(),
            },
            (Band { axis: a, sets: s }, Band { axis: b, sets: t }) if a == b => Band {
                axis: *a,
                sets: s.iter().zip(t).map(|(x, y)| union(x, y)).collect(),
            },
            _ => return None,
        })
    }
}

/// Classifies one input axis (size `m`) against every axis of a value of
/// shape `out` from per-element sets (empty: the element does not depend).
fn elements_mix(e: &[Bits], m: u64, out: &[u64]) -> Vec<Mix> {
    let live = |y: usize| !is_empty(&e[y]);
    let n = e.len();
    if !(0..n).any(live) {
        return vec![Mix::None; out.len()];
    }
    if (0..n)
        .filter(|&y| live(y))
        .all(|y| count(&e[y]) == m as usize)
    {
        return vec![Mix::AllToOne; out.len()];
    }
    let single = (0..n).filter(|&y| live(y)).all(|y| count(&e[y]) <= 1);
    (0..out.len())
        .map(|b| {
            let stride: usize = out[b + 1..].iter().product::<u64>() as usize;
            let moves = (0..n).filter(|&y| coord(y, out, b) == 0).any(|start| {
                let mut prev: Option<&Bits> = None;
                (0..out[b] as usize).any(|t| {
                    let y = start + t * stride;
                    if !live(y) {
                        return false;
                    }
                    let changed = prev.is_some_and(|p| *p != e[y]);
                    prev = Some(&e[y]);
                    changed
                })
            });
            match (moves, single) {
                (false, _) => Mix::None,
                (true, true) => Mix::OneToOne,
                (true, false) => Mix::ManyToOne,
            }
        })
        .collect()
}
