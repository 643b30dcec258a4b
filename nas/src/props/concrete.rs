//! The concrete semantics: properties measured by running a fragment in the
//! reference interpreter ([`super::interp`]) with random weights and inputs.
//!
//! Mixing comes from the structural Jacobian sparsity: every element of
//! every value carries, as a bitset, the elements of one fragment input it
//! was computed from, and each (input axis, output axis) pair is classified
//! from those sets exactly as the definition says. Depth comes from the
//! executed trace, each op classified numerically (affine or not, and
//! whether it only copies values) rather than from [`crate::ir::Op::linearity`],
//! then counted with the same run-counting programme as the abstract side.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::ir::{Fragment, IrError, Linearity, Op, Shape, numel};

use super::depth::{Step, depth_table};
use super::interp::{Params, Reads, Tensor, eval, strides, unravel};
use super::{Mix, MixMatrix, Props};

/// Most 64-bit words of dependence bitsets one measurement may hold (1 GiB
/// would be too much for a test machine; 16 Mi words is 128 MiB).
pub(crate) const MAX_DEPENDENCE_WORDS: u64 = 16 << 20;

/// Relative tolerance of the affinity test.
const AFFINE_TOL: f64 = 1e-9;

/// A fragment instantiated with random weights and run on random inputs.
pub(crate) struct Run {
    pub params: Vec<Params>,
    pub values: Vec<Tensor>,
    /// Per node, what each of its output elements read.
    pub reads: Vec<Reads>,
}

impl Run {
    /// Draws weights, then inputs, from `rng` and runs the fragment.
    pub fn new(fragment: &Fragment, rng: &mut ChaCha8Rng) -> Result<Run, IrError> {
        let shapes = fragment.shapes()?;
        let params: Vec<Params> = fragment
            .nodes
            .iter()
            .map(|n| {
                let ins: Vec<&Shape> = n.inputs.iter().map(|v| &shapes[v.0 as usize]).collect();
                Params::random(&n.op, &ins, rng)
            })
            .collect();
        let inputs: Vec<Tensor> = fragment
            .inputs
            .iter()
            .map(|s| Tensor::random(s, rng))
            .collect();
        Ok(Run::with(fragment, shapes, params, inputs))
    }

    /// Runs the fragment with these parameters on these inputs.
    pub fn with(
        fragment: &Fragment,
        shapes: Vec<Shape>,
        params: Vec<Params>,
        inputs: Vec<Tensor>,
    ) -> Run {
        let k = fragment.inputs.len();
        let mut values = inputs;
        let mut reads = Vec::with_capacity(fragment.nodes.len());
        for (j, n) in fragment.nodes.iter().enumerate() {
            let ins: Vec<&Tensor> = n.inputs.iter().map(|v| &values[v.0 as usize]).collect();
            let (y, r) = eval(&n.op, &params[j], &ins, &shapes[k + j]);
            values.push(y);
            reads.push(r);
        }
        Run {
            params,
            values,
            reads,
        }
    }
}

/// Dependence of every element of a value on the elements of one fragment
/// input: `words` 64-bit words per element.
#[derive(Clone, Debug)]
pub(crate) struct Dependence {
    pub words: usize,
    pub bits: Vec<u64>,
}

impl Dependence {
    pub fn element(&self, e: usize) -> &[u64] {
        &self.bits[e * self.words..(e + 1) * self.words]
    }
}

/// For fragment input `i`, the dependence of every value on it (`None` for
/// values no path from it reaches).
pub(crate) fn dependence(fragment: &Fragment, run: &Run, i: usize) -> Vec<Option<Dependence>> {
    let k = fragment.inputs.len();
    let n_in = run.values[i].data.len();
    let words = n_in.div_ceil(64);
    let mut deps: Vec<Option<Dependence>> = vec![None; run.values.len()];
    let mut own = vec![0u64; n_in * words];
    for e in 0..n_in {
        own[e * words + e / 64] |= 1 << (e % 64);
    }
    deps[i] = Some(Dependence { words, bits: own });
    for (j, n) in fragment.nodes.iter().enumerate() {
        let srcs: Vec<Option<&Dependence>> = n
            .inputs
            .iter()
            .map(|v| deps[v.0 as usize].as_ref())
            .collect();
        if srcs.iter().all(Option::is_none) {
            continue;
        }
        let n_out = run.values[k + j].data.len();
        let mut bits = vec![0u64; n_out * words];
        for (e, rs) in run.reads[j].iter().enumerate() {
            let dst = &mut bits[e * words..(e + 1) * words];
            for &(slot, idx) in rs {
                if let Some(d) = srcs[slot as usize] {
                    for (x, y) in dst.iter_mut().zip(d.element(idx as usize)) {
                        *x |= y;
                    }
                }
            }
        }
        deps[k + j] = Some(Dependence { words, bits });
    }
    deps
}

/// Classifies every (input axis, output axis) pair from the dependence of
/// an output of shape `output` on an input of shape `input`, by the
/// definition in the module doc of [`crate::props`].
pub(crate) fn classify_mixing(dep: &Dependence, input: &[u64], output: &[u64]) -> MixMatrix {
    let ins: Vec<usize> = input.iter().map(|&d| d as usize).collect();
    let outs: Vec<usize> = output.iter().map(|&d| d as usize).collect();
    let n_out: usize = outs.iter().product();
    let (ra, rb) = (ins.len(), outs.len());
    let axis_words: Vec<usize> = ins.iter().map(|m| m.div_ceil(64)).collect();
    // S_a(y) for every output element, `None` when y depends on nothing.
    let sets: Vec<Option<Vec<Vec<u64>>>> = (0..n_out)
        .map(|y| {
            let d = dep.element(y);
            if d.iter().all(|&w| w == 0) {
                return None;
            }
            let mut s: Vec<Vec<u64>> = axis_words.iter().map(|&w| vec![0u64; w]).collect();
            for (wi, &word) in d.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let e = wi * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    for (a, c) in unravel(e, &ins).into_iter().enumerate() {
                        s[a][c / 64] |= 1 << (c % 64);
                    }
                }
            }
            Some(s)
        })
        .collect();
    if sets.iter().all(Option::is_none) {
        return vec![vec![Mix::None; rb]; ra];
    }
    let count = |s: &[u64]| s.iter().map(|w| w.count_ones() as usize).sum::<usize>();
    let out_strides = strides(&outs);
    (0..ra)
        .map(|a| {
            let depending = || sets.iter().flatten();
            if depending().all(|s| count(&s[a]) == ins[a]) {
                return vec![Mix::AllToOne; rb];
            }
            let single = depending().all(|s| count(&s[a]) <= 1);
            (0..rb)
                .map(|b| {
                    // Consecutive depending elements along each line of b.
                    let moves = (0..n_out)
                        .filter(|&y| unravel(y, &outs)[b] == 0)
                        .any(|start| {
                            let mut prev: Option<&Vec<u64>> = None;
                            (0..outs[b]).any(|t| {
                                let Some(s) = &sets[start + t * out_strides[b]] else {
                                    return false;
                                };
                                let changed = prev.is_some_and(|p| *p != s[a]);
                                prev = Some(&s[a]);
                                changed
                            })
                        });
                    if !moves {
                        Mix::None
                    } else if single {
                        Mix::OneToOne
                    } else {
                        Mix::ManyToOne
                    }
                })
                .collect()
        })
        .collect()
}

/// Whether `got` is the midpoint of `a` and `b`, element by element, within
/// the relative tolerance.
fn is_midpoint(got: &[f64], a: &[f64], b: &[f64]) -> bool {
    got.iter()
        .zip(a.iter().zip(b))
        .all(|(&m, (&x, &y))| (m - 0.5 * (x + y)).abs() <= AFFINE_TOL * (1.0 + x.abs() + y.abs()))
}

/// The key of a value for exact membership (both zeros alike).
fn key(v: f64) -> u64 {
    if v == 0.0 { 0 } else { v.to_bits() }
}

/// Whether every output value is exactly one of the input values.
fn only_copies(out: &Tensor, ins: &[Tensor]) -> bool {
    let mut pool: Vec<u64> = ins
        .iter()
        .flat_map(|t| t.data.iter().map(|&v| key(v)))
        .collect();
    pool.sort_unstable();
    out.data
        .iter()
        .all(|&v| pool.binary_search(&key(v)).is_ok())
}

/// How many random input pairs the affinity test tries, besides the pair
/// `(x, −x)` (which catches ReLU and max exactly, whatever the sizes).
const RANDOM_PAIRS: usize = 3;

/// Classifies `op` (with parameters `p`, on inputs of these shapes) by
/// evaluating it: non-linear unless `f((x₁+x₂)/2) = (f(x₁)+f(x₂))/2` on every
/// pair tried; structural if, moreover, every output value of the first
/// random pair's three evaluations is one of that evaluation's input values.
pub(crate) fn numeric_linearity(
    op: &Op,
    p: &Params,
    inputs: &[&Shape],
    output: &Shape,
    rng: &mut ChaCha8Rng,
) -> Linearity {
    let f = |xs: &[Tensor]| -> Tensor {
        let refs: Vec<&Tensor> = xs.iter().collect();
        eval(op, p, &refs, output).0
    };
    let mut copies = true;
    for trial in 0..=RANDOM_PAIRS {
        let x1: Vec<Tensor> = inputs.iter().map(|s| Tensor::random(s, rng)).collect();
        let x2: Vec<Tensor> = if trial == 0 {
            x1.iter()
                .map(|t| Tensor {
                    shape: t.shape.clone(),
                    data: t.data.iter().map(|v| -v).collect(),
                })
                .collect()
        } else {
            inputs.iter().map(|s| Tensor::random(s, rng)).collect()
        };
        let mid: Vec<Tensor> = x1
            .iter()
            .zip(&x2)
            .map(|(a, b)| Tensor {
                shape: a.shape.clone(),
                data: a
                    .data
                    .iter()
                    .zip(&b.data)
                    .map(|(u, v)| 0.5 * (u + v))
                    .collect(),
            })
            .collect();
        let (f1, f2, fm) = (f(&x1), f(&x2), f(&mid));
        if !is_midpoint(&fm.data, &f1.data, &f2.data) {
            return Linearity::NonLinear;
        }
        if trial == 1 {
            copies = only_copies(&f1, &x1) && only_copies(&f2, &x2) && only_copies(&fm, &mid);
        }
    }
    if copies {
        Linearity::Structural
    } else {
        Linearity::Linear
    }
}

/// See [`crate::props::concrete_props`]. Draws from one ChaCha8 stream
/// seeded with `seed`: weights, inputs, then the per-op affinity tests.
pub(crate) fn concrete_props(fragment: &Fragment, seed: u64) -> Result<Props, IrError> {
    let shapes = fragment.shapes()?;
    let k = fragment.inputs.len();
    let words: u64 = fragment
        .inputs
        .iter()
        .map(|s| numel(s).div_ceil(64) * shapes.iter().map(|v| numel(v)).sum::<u64>())
        .max()
        .unwrap_or(0);
    if words > MAX_DEPENDENCE_WORDS {
        return Err(IrError(format!(
            "measuring this fragment needs {words} words of dependence sets, more than the {MAX_DEPENDENCE_WORDS} allowed"
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let run = Run::new(fragment, &mut rng)?;
    let steps: Vec<Step> = fragment
        .nodes
        .iter()
        .enumerate()
        .map(|(j, n)| {
            let ins: Vec<&Shape> = n.inputs.iter().map(|v| &shapes[v.0 as usize]).collect();
            Step {
                inputs: n.inputs.iter().map(|v| v.0 as usize).collect(),
                kind: numeric_linearity(&n.op, &run.params[j], &ins, &shapes[k + j], &mut rng),
            }
        })
        .collect();
    let outputs: Vec<usize> = fragment.outputs.iter().map(|o| o.0 as usize).collect();
    let mut depth = depth_table(k, &steps, &outputs);
    let mut mixing = Vec::with_capacity(k);
    for (i, depth_row) in depth.iter_mut().enumerate() {
        let deps = dependence(fragment, &run, i);
        let row: Vec<MixMatrix> = outputs
            .iter()
            .zip(depth_row.iter_mut())
            .map(|(&o, d)| {
                let m = match &deps[o] {
                    Some(dep) => classify_mixing(dep, &shapes[i], &shapes[o]),
                    None => vec![vec![Mix::None; shapes[o].len()]; shapes[i].len()],
                };
                // Depth is about dependence: no element depending, no depth.
                let depends = deps[o]
                    .as_ref()
                    .is_some_and(|dep| dep.bits.iter().any(|&w| w != 0));
                if !depends {
                    *d = None;
                }
                m
            })
            .collect();
        mixing.push(row);
    }
    Ok(Props {
        shapes: outputs.iter().map(|&o| shapes[o].clone()).collect(),
        depth,
        mixing,
    })
}
