//! Program properties of a subgraph ([`Fragment`]), after αNAS: shape, depth
//! and mixing, each with an abstract semantics computed on the IR
//! ([`abstract_props`]: no training, microseconds) and a concrete one measured
//! on an instantiated network with random weights and inputs
//! ([`concrete_props`]). A [`Target`] asks for properties near a fragment's
//! ([`mutate_target`]), and [`distance`] says how far a fragment's properties
//! are from a target (0 when they satisfy it).
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
//! # Mixing
//! For an input tensor `X` and output tensor `Y`, let `D(y)` be the input
//! elements output element `y` depends on (the non-zero pattern of the
//! Jacobian's row for `y`), and for an input axis `a`, `S_a(y)` the
//! coordinates along `a` of the elements of `D(y)`. The mixing of the pair
//! (input axis `a`, output axis `b`) is:
//! - NONE if no output element depends on `X` at all;
//! - ALL-TO-ONE if `S_a(y)` is the whole axis for every `y` with non-empty `D(y)`;
//! - else NONE if `S_a(y)` does not change when `y` moves along `b`
//!   (between elements that both depend on `X`): the axis `b` does not pick
//!   anything along `a`;
//! - else ONE-TO-ONE if every `S_a(y)` has at most one coordinate;
//! - else MANY-TO-ONE.
//!
//! Values are ordered NONE < ONE-TO-ONE < MANY-TO-ONE < ALL-TO-ONE. The
//! abstract semantics composes op-by-op matrices along paths (NONE annihilates,
//! otherwise the larger wins, so ALL-TO-ONE absorbs) and joins parallel paths
//! with the maximum.

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
