//! The test kit: random workload graphs and packages, and a builder of
//! hardware specs in code, for property tests and for corpora (the RL
//! pre-training corpus draws its graphs and packages here).
//!
//! Everything random is described twice over, once: a *space* says what may
//! be drawn ([`DagSpace`], [`PackageSpace`]: lists of choices, where repeating
//! a value weights it), and a draw from it is a *recipe*, plain data that
//! builds deterministically ([`DagRecipe::build`], [`PackageRecipe::build`]).
//! A space is drawn from either by a seeded ChaCha generator
//! ([`DagSpace::sample`], [`random_dag`], [`PackageSpace::sample`],
//! [`random_package`]) or, with the `proptest` feature, by a proptest
//! strategy (`strategies`) whose draws shrink toward the first choice of every
//! list. Both go through one function per space, so they describe the same
//! distribution.
//!
//! [`PackageBuilder`] writes a spec from parts and reads it back through the
//! same validation as a spec file, so a package built in code is exactly as
//! valid as one on disk. It lives here rather than in `spec` on purpose:
//! hardware numbers belong in `hw_specs/` files; packages in code are for
//! tests and synthetic corpora.

mod builder;
mod dag;
mod draw;
mod package;
#[cfg(feature = "proptest")]
pub mod strategies;

use std::fmt;

use crate::config::Diagnostics;
use crate::graph::{BuildError, GraphError};

pub use builder::{LinkProps, PackageBuilder, PipelineOrder, Topology};
pub use dag::{DagRecipe, DagSpace, Step, Structure, Unary, chain, random_dag};
pub use package::{
    LinkSpace, MemoryReach, MemorySpace, PackageRecipe, PackageSpace, TopologyKind, TypeSpace,
    random_package,
};

/// Why the test kit could not make a graph or a package.
#[derive(Clone, Debug, PartialEq)]
pub enum TestkitError {
    /// A space cannot be drawn from: `field` is empty or out of range.
    Space {
        field: &'static str,
        problem: &'static str,
    },
    /// A number cannot be written in a spec: TOML integers end at 2^63 − 1.
    NumberTooLarge { field: String, value: u64 },
    /// The graph builder refused an op.
    Build(BuildError),
    /// A graph failed validation.
    Graph(GraphError),
    /// The package is not a valid spec: every diagnostic, with lines and
    /// columns in `toml`, the text it was read from.
    Spec {
        toml: String,
        diagnostics: Diagnostics,
    },
}

impl fmt::Display for TestkitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestkitError::Space { field, problem } => write!(f, "{field}: {problem}"),
            TestkitError::NumberTooLarge { field, value } => write!(
                f,
                "{field}: {value} is beyond the largest TOML integer, 2^63 − 1"
            ),
            TestkitError::Build(e) => e.fmt(f),
            TestkitError::Graph(e) => e.fmt(f),
            TestkitError::Spec { diagnostics, .. } => {
                write!(f, "the package is not a valid spec:\n{diagnostics}")
            }
        }
    }
}

impl std::error::Error for TestkitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TestkitError::Build(e) => Some(e),
            TestkitError::Graph(e) => Some(e),
            TestkitError::Spec { diagnostics, .. } => Some(diagnostics),
            _ => None,
        }
    }
}

impl From<BuildError> for TestkitError {
    fn from(e: BuildError) -> TestkitError {
        TestkitError::Build(e)
    }
}

impl From<GraphError> for TestkitError {
    fn from(e: GraphError) -> TestkitError {
        TestkitError::Graph(e)
    }
}

/// A choice list must not be empty.
fn nonempty<T>(field: &'static str, items: &[T]) -> Result<(), TestkitError> {
    if items.is_empty() {
        return Err(TestkitError::Space {
            field,
            problem: "has no choices",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
