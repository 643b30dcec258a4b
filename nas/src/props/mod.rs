//! Program properties of a subgraph ([`Fragment`]), after αNAS: shape, depth
//! and mixing, each with an abstract semantics computed on the IR
//! ([`abstract_props`]: no weights, no arithmetic on data) and a concrete one
//! measured on an instantiated fragment with random weights and inputs
//! ([`concrete_props`]). A [`Target`] asks for properties near a fragment's
//! ([`mutate_target`]), and [`distance`] says how far a fragment's properties
//! are from a target (0 exactly when [`satisfies`] holds).
//!
//! # Depth
//! Every op is linear (affine in its inputs: dense, conv, average pools,
//! batch norm, add), non-linear (relu, gelu, tanh, sigmoid, softmax, layer
//! norm, max pool, matmul of two activations) or structural (concat,
//! flatten, reshape, transpose: they only move elements). Along a path from
//! an input to an output, drop the structural ops and count the maximal runs
//! of consecutive ops of the same kind: that is the path's depth (so
//! conv→relu→conv→relu is 4, conv→batch norm→relu is 2, an empty path 0).
//! The depth of an (input, output) pair is the largest over all paths;
//! `None` when the output does not depend on the input.
//!
//! Both semantics count with the same dynamic programme (`depth.rs`: per
//! value, the deepest path whose ops so far are all structural, the deepest
//! ending in a linear run, the deepest ending in a non-linear run). They
//! differ in how an op is classified. The abstract side takes
//! [`crate::ir::Op::linearity`], refined where the shapes make an op
//! degenerate: a pool whose every window holds one element and a global
//! average pool over a 1×1 plane only copy (structural), a softmax or layer
//! norm over an axis of size 1 is constant (linear). The concrete side
//! evaluates each executed op on random inputs `x₁`, `x₂` and their midpoint
//! (and on the pair `x`, `−x`, which catches ReLU and max whatever the
//! sizes): affine when `f(mid) = (f(x₁)+f(x₂))/2` to a relative 1e-9,
//! structural when affine and every output value is exactly one of the
//! input values, non-linear otherwise.
//!
//! # Mixing
//! For an input tensor `X` and output tensor `Y`, let `D(y)` be the input
//! elements output element `y` depends on (the non-zero pattern of the
//! Jacobian's row for `y`, taken structurally: a max depends on its whole
//! window, a ReLU on its input, whatever the point), and for an input axis
//! `a`, `S_a(y)` the coordinates along `a` of the elements of `D(y)`. The
//! mixing of the pair (input axis `a`, output axis `b`) is:
//! - NONE if no output element depends on `X` at all;
//! - ALL-TO-ONE if `S_a(y)` is the whole axis for every `y` with non-empty `D(y)`;
//! - else NONE if `S_a(y)` does not change when `y` moves along `b`
//!   (between elements that both depend on `X`): the axis `b` does not pick
//!   anything along `a`;
//! - else ONE-TO-ONE if every `S_a(y)` has at most one coordinate;
//! - else MANY-TO-ONE.
//!
//! Values are ordered NONE < ONE-TO-ONE < MANY-TO-ONE < ALL-TO-ONE. Two
//! consequences of the definition: an input axis of size 1 is ALL-TO-ONE
//! towards every output axis wherever there is dependence, and towards an
//! output axis of size 1 only NONE or ALL-TO-ONE can occur.
//!
//! The concrete side (`concrete.rs`, `interp.rs`) runs the fragment in a
//! reference interpreter whose every element carries the set of input
//! elements it was computed from, and applies the definition to those sets;
//! a test checks the sets against a finite-difference Jacobian on a network
//! without ReLU or max.
//!
//! The abstract side (`abstract_sem.rs`, `rows.rs`) does not compose
//! per-op lattice matrices: that loses what the definition needs (two 3×3
//! windows after a 5×5 conv together cover a 4-wide axis, which CifarNet's
//! second block does; a strided 1×1 conv skips coordinates that a global pool
//! would otherwise make ALL-TO-ONE; a layer norm and a tanh of the same input
//! concatenated draw differently on either side of the seam). Instead it
//! uses that `S_a(y)` composes exactly, as a union over what each op reads,
//! and keeps per input axis the cheapest exact description of `S_a`: the
//! whole axis, one set for every element, one set per coordinate of a
//! single output axis (windows, element-wise ops, transposes, flatten), one
//! of those per slab of a concatenation's axis, or, as a fallback, one set
//! per element (a reshape that scatters an axis, two paths banded on
//! different axes, a window straddling a concatenation's seam, a path that
//! reaches only part of a value). The result is therefore equal to the
//! concrete one wherever the interpreter's dependence sets are the
//! structural ones, which the agreement tests check on every generated 1-,
//! 2- and 3-op network (all ops, branching, two inputs, several outputs) and
//! on every block of the seed networks, without restricting the generator
//! (and, checked once by hand, on 4000 random 6-op networks). Costs
//! (measured on a loaded 2-core machine): 5 to 90 µs per ResNet block at
//! 32×32 and width 16, for CifarNet's conv blocks at width 64, and for an
//! Inception-style concatenation at 64×32×32; the per-coordinate sets grow
//! with the axis, so CifarNet's fc3 (a flatten of 4096 elements) takes about
//! a millisecond. The fallback refuses, with an error, an op that would read
//! more than 2^24 (element, read) pairs.
//!
//! The concrete depth can differ from the abstract one only where the
//! numeric test is fooled: an op evaluated on random inputs that happen to
//! make it look affine (a ReLU cannot, thanks to the `x`, `−x` pair; a
//! tanh on random inputs essentially cannot).
//!
//! # Targets
//! [`distance`] adds [`SHAPE_MISMATCH`] per output whose shape differs (or
//! is missing or extra) plus a graded part (rank difference, and per
//! differing aligned axis 1 plus its size ratio in octaves over 8, capped),
//! so shapes growing toward the target see the distance fall; then per
//! (input, output) pair the depth units outside the tolerance (a missing
//! path counts the wanted depth, at least 1); then the lattice levels of
//! mixing missing, for pairs whose matrices have the same dimensions (when
//! the output's shape matches but the dimensions do not, everything wanted
//! counts, plus 1). [`mutate_target`] shifts each depth by a uniform −2..=2
//! (at least 1, tolerance 0), relaxes each mixing entry one level with
//! probability ½ and keeps shapes.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::ir::{Fragment, IrError, Shape};

mod abstract_sem;
#[cfg(test)]
mod agreement;
mod concrete;
mod depth;
mod interp;
mod rows;
mod target;
#[cfg(test)]
mod tests;

pub use target::{SHAPE_MISMATCH, satisfies};

/// How output elements along one axis draw on input elements along another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mix {
    None,
    OneToOne,
    ManyToOne,
    AllToOne,
}

impl Mix {
    /// Level in the lattice, 0 (NONE) to 3 (ALL-TO-ONE).
    pub fn level(self) -> u32 {
        self as u32
    }

    /// One letter for tables: `-`, `1`, `m`, `A`.
    pub fn letter(self) -> char {
        match self {
            Mix::None => '-',
            Mix::OneToOne => '1',
            Mix::ManyToOne => 'm',
            Mix::AllToOne => 'A',
        }
    }
}

/// Mixing of one (input, output) pair: `m[a][b]` for input axis `a` and
/// output axis `b`.
pub type MixMatrix = Vec<Vec<Mix>>;

/// The properties of a fragment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Props {
    /// Each output's shape.
    pub shapes: Vec<Shape>,
    /// `depth[i][o]` for input `i`, output `o`; `None` when output `o` does
    /// not depend on input `i`.
    pub depth: Vec<Vec<Option<u32>>>,
    /// `mixing[i][o]` for input `i`, output `o`.
    pub mixing: Vec<Vec<MixMatrix>>,
}

impl fmt::Display for Props {
    /// Compact form for tables: `depth=4 mix=A-/-m` per pair, pairs
    /// separated by `;`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (i, row) in self.depth.iter().enumerate() {
            for (o, d) in row.iter().enumerate() {
                if !first {
                    f.write_str(";")?;
                }
                first = false;
                match d {
                    Some(d) => write!(f, "depth={d}")?,
                    None => write!(f, "depth=none")?,
                }
                f.write_str(" mix=")?;
                let m = &self.mixing[i][o];
                for (a, r) in m.iter().enumerate() {
                    if a > 0 {
                        f.write_str("/")?;
                    }
                    for x in r {
                        write!(f, "{}", x.letter())?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// What a replacement must satisfy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Output shapes, exactly (never mutated).
    pub shapes: Vec<Shape>,
    /// `depth[i][o]`: the wanted depth and the tolerance either side; `None`
    /// asks nothing of the pair.
    pub depth: Vec<Vec<Option<(u32, u32)>>>,
    /// `mixing[i][o][a][b]`: at least this much mixing.
    pub mixing: Vec<Vec<MixMatrix>>,
}

impl Target {
    /// Exactly the given properties (depth tolerance 0, mixing at least as
    /// much).
    pub fn exactly(p: &Props) -> Target {
        Target {
            shapes: p.shapes.clone(),
            depth: p
                .depth
                .iter()
                .map(|r| r.iter().map(|d| d.map(|d| (d, 0))).collect())
                .collect(),
            mixing: p.mixing.clone(),
        }
    }
}

/// The abstract properties of `fragment`, computed on the IR.
pub fn abstract_props(fragment: &Fragment) -> Result<Props, IrError> {
    abstract_sem::abstract_props(fragment)
}

/// The concrete properties of `fragment`, measured by running it with random
/// weights and inputs drawn from `seed`.
pub fn concrete_props(fragment: &Fragment, seed: u64) -> Result<Props, IrError> {
    concrete::concrete_props(fragment, seed)
}

/// How far `have` is from satisfying `want`: 0 exactly when it does. Shape
/// mismatches count most (so a search fixes the interface first), then each
/// unit of depth outside the tolerance, then each lattice level of missing
/// mixing. Works on partial fragments: `have` may have a different rank.
pub fn distance(have: &Props, want: &Target) -> f64 {
    target::distance(have, want)
}

/// A target near `p`: each depth moved by up to ±2 (never below 1 where a
/// path exists), each mixing entry kept or relaxed one level with
/// probability ½, shapes kept.
pub fn mutate_target(p: &Props, rng: &mut impl Rng) -> Target {
    target::mutate_target(p, rng)
}
