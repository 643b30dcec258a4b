//! Random workload graphs: DAGs of GEMMs (linear layers), joins (adds) and
//! unary vector ops (ReLU, GELU, layer norm, softmax) over tensors that keep
//! the input's leading dimensions, so that every op is valid by
//! construction. A [`DagSpace`] says what may be drawn; a draw is a
//! [`DagRecipe`], which builds one graph through [`GraphBuilder`].
//!
//! Structure: with [`Structure::Any`] every op reads any earlier tensor, so
//! long skip edges, joins of distant branches and fan-out are common; with
//! [`Structure::Layered`] ops come in layers that read the layer before, and
//! a join's second input is a residual from any earlier layer.

use std::ops::RangeInclusive;

use rand_chacha::ChaCha8Rng;

use super::draw::Draw;
use super::{TestkitError, nonempty};
use crate::graph::{DType, EltFunc, Graph, GraphBuilder, Tensor};

/// A unary op on the vector unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unary {
    Relu,
    Gelu,
    LayerNorm,
    Softmax,
}

impl Unary {
    /// Every unary op.
    pub const ALL: [Unary; 4] = [Unary::Relu, Unary::Gelu, Unary::LayerNorm, Unary::Softmax];
}

/// Which earlier tensors an op may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Structure {
    /// Any earlier tensor.
    Any,
    /// Ops in layers of `width` (the input op is layer 0): an op reads the
    /// layer before its own; a join's second input any earlier layer.
    Layered { width: usize },
}

/// One op of a recipe. Inputs are indices into the tensors made so far
/// (`0` is the input op's), reduced modulo what the structure lets the op
/// read, so every index is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A linear layer to `width` features, with a bias or not.
    Gemm { from: usize, width: u64, bias: bool },
    /// An add of two tensors; when their shapes differ, a ReLU of `from`.
    Join { from: usize, other: usize },
    /// A unary op.
    Unary { from: usize, op: Unary },
}

/// A graph to build: an input of `input_shape`, a ReLU of it named `in`,
/// then one op per step, named `op0`, `op1`, ...
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DagRecipe {
    pub dtype: DType,
    pub input_shape: Vec<u64>,
    pub structure: Structure,
    pub steps: Vec<Step>,
}

/// The tensors op `step` may read, as a range of indices into those made so
/// far (`made` of them): its main input's, and a join's second input's.
fn windows(structure: Structure, step: usize, made: usize) -> (RangeInclusive<usize>, usize) {
    match structure {
        Structure::Any => (0..=made - 1, made),
        Structure::Layered { width } => {
            // Layer L ≥ 1 holds tensors 1 + (L − 1)·width .. 1 + L·width.
            let layer = step / width + 1;
            let start = |l: usize| if l == 0 { 0 } else { 1 + (l - 1) * width };
            (start(layer - 1)..=start(layer) - 1, start(layer))
        }
    }
}

/// Index `pick` reduced into `window`.
fn within(pick: usize, window: &RangeInclusive<usize>) -> usize {
    window.start() + pick % (window.end() - window.start() + 1)
}

impl DagRecipe {
    /// Number of ops the graph will have.
    pub fn n_ops(&self) -> usize {
        self.steps.len() + 1
    }

    /// Builds the graph. Only a bad `input_shape` (empty, a zero dimension)
    /// or a zero GEMM width can make it fail.
    pub fn build(&self) -> Result<Graph, TestkitError> {
        let mut b = GraphBuilder::new("testkit-dag", "sim::testkit", self.dtype);
        let x = b.input("x", &self.input_shape);
        let mut ts: Vec<Tensor> = vec![b.eltwise("in", EltFunc::Relu, &[&x], 0)?];
        for (i, step) in self.steps.iter().enumerate() {
            let name = format!("op{i}");
            let (main, residual) = windows(self.structure, i, ts.len());
            let read = |from: usize| &ts[within(from, &main)];
            let t = match *step {
                Step::Gemm { from, width, bias } => b.linear(&name, read(from), width, bias)?,
                Step::Join { from, other } => {
                    let (l, r) = (read(from), &ts[other % residual]);
                    if l.shape == r.shape {
                        b.eltwise(&name, EltFunc::Add, &[l, r], 0)?
                    } else {
                        b.eltwise(&name, EltFunc::Relu, &[l], 0)?
                    }
                }
                Step::Unary { from, op } => {
                    let x = read(from);
                    match op {
                        Unary::Relu => b.eltwise(&name, EltFunc::Relu, &[x], 0)?,
                        Unary::Gelu => b.eltwise(&name, EltFunc::Gelu, &[x], 0)?,
                        Unary::LayerNorm => b.layer_norm(&name, x)?,
                        Unary::Softmax => b.softmax(&name, x)?,
                    }
                }
            };
            ts.push(t);
        }
        Ok(b.finish()?)
    }
}

/// What random graphs may be drawn: every list is a set of choices (repeat a
/// value to weight it).
#[derive(Clone, Debug, PartialEq)]
pub struct DagSpace {
    pub dtypes: Vec<DType>,
    /// One list of choices per dimension of the input.
    pub input_dims: Vec<Vec<u64>>,
    /// How many ops follow the input op (uniform over the range).
    pub steps: RangeInclusive<usize>,
    /// Widths a GEMM may produce; empty for graphs without GEMMs (vector
    /// ops only).
    pub gemm_widths: Vec<u64>,
    /// Unary ops that may appear; empty for none.
    pub unary: Vec<Unary>,
    pub structures: Vec<Structure>,
}

impl DagSpace {
    /// Every kind of graph the kit draws: every element type and unary op,
    /// vectors, sequences and images, GEMMs of 1 to 64 columns, free,
    /// chain-like and 3-wide layered structures, 1 to 31 ops.
    pub fn broad() -> DagSpace {
        DagSpace {
            dtypes: DType::ALL.to_vec(),
            input_dims: vec![vec![1, 2], vec![1, 3, 8], vec![1, 16, 64]],
            steps: 0..=30,
            gemm_widths: vec![1, 8, 64],
            unary: Unary::ALL.to_vec(),
            structures: vec![
                Structure::Any,
                Structure::Layered { width: 1 },
                Structure::Layered { width: 3 },
            ],
        }
    }

    /// Small graphs over `[1, rows, width]` tensors, int8, any structure,
    /// every unary op, GEMMs to `gemm_widths` (empty for none), and 1 to
    /// `max_steps` ops after the input op.
    pub fn small(rows: u64, width: u64, gemm_widths: &[u64], max_steps: usize) -> DagSpace {
        DagSpace {
            dtypes: vec![DType::Int8],
            input_dims: vec![vec![1], vec![rows], vec![width]],
            steps: 1..=max_steps,
            gemm_widths: gemm_widths.to_vec(),
            unary: Unary::ALL.to_vec(),
            structures: vec![Structure::Any],
        }
    }

    /// Checks that every list can be drawn from.
    pub fn check(&self) -> Result<(), TestkitError> {
        nonempty("dtypes", &self.dtypes)?;
        nonempty("input_dims", &self.input_dims)?;
        for dims in &self.input_dims {
            nonempty("input_dims", dims)?;
        }
        nonempty("structures", &self.structures)?;
        if self.steps.is_empty() {
            return Err(TestkitError::Space {
                field: "steps",
                problem: "is an empty range",
            });
        }
        if self.structures.contains(&Structure::Layered { width: 0 }) {
            return Err(TestkitError::Space {
                field: "structures",
                problem: "a layered structure needs a width of at least 1",
            });
        }
        Ok(())
    }

    /// Draws a recipe with a seeded generator.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Result<DagRecipe, TestkitError> {
        self.check()?;
        Ok(self.draw(rng))
    }

    /// At most how many choices one draw takes.
    #[cfg_attr(not(feature = "proptest"), allow(dead_code))]
    pub(crate) fn max_draws(&self) -> usize {
        3 + self.input_dims.len() + 4 * self.steps.end()
    }

    /// Draws a recipe from a checked space.
    pub(crate) fn draw(&self, d: &mut impl Draw) -> DagRecipe {
        let dtype = *d.choose(&self.dtypes);
        let input_shape = self.input_dims.iter().map(|c| *d.choose(c)).collect();
        let structure = *d.choose(&self.structures);
        let n = self.steps.start() + d.below(self.steps.end() - self.steps.start() + 1);
        let (gemms, unary) = (!self.gemm_widths.is_empty(), !self.unary.is_empty());
        let kinds = 1 + usize::from(gemms) + usize::from(unary);
        let steps = (0..n)
            .map(|_| {
                let mut kind = d.below(kinds);
                let from = d.any();
                if gemms {
                    if kind == 0 {
                        let width = *d.choose(&self.gemm_widths);
                        return Step::Gemm {
                            from,
                            width,
                            bias: d.flag(),
                        };
                    }
                    kind -= 1;
                }
                if kind == 0 {
                    Step::Join {
                        from,
                        other: d.any(),
                    }
                } else {
                    Step::Unary {
                        from,
                        op: *d.choose(&self.unary),
                    }
                }
            })
            .collect();
        DagRecipe {
            dtype,
            input_shape,
            structure,
            steps,
        }
    }
}

/// A random graph from `space`, drawn with `rng`.
pub fn random_dag(space: &DagSpace, rng: &mut ChaCha8Rng) -> Result<Graph, TestkitError> {
    space.sample(rng)?.build()
}

/// A chain of `n_ops` ReLUs (`op0`, `op1`, ...) over an input of `input_shape`.
pub fn chain(n_ops: usize, input_shape: &[u64]) -> Result<Graph, TestkitError> {
    let mut b = GraphBuilder::new("testkit-chain", "sim::testkit", DType::Int8);
    let mut t = b.input("x", input_shape);
    for i in 0..n_ops {
        t = b.eltwise(&format!("op{i}"), EltFunc::Relu, &[&t], 0)?;
    }
    Ok(b.finish()?)
}
