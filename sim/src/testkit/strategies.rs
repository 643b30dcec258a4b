//! Proptest strategies over the test kit's spaces (feature `proptest`). A
//! strategy draws a list of numbers and maps it through the same draw
//! function as the seeded generators; proptest shrinks the numbers toward 0,
//! the first choice of every list, so a failing case shrinks toward the
//! simplest recipe the space allows (few ops reading the input op, small
//! packages, ascending orders), and proptest reports the recipe itself.

use proptest::prelude::*;

use super::draw::Picks;
use super::{DagRecipe, DagSpace, PackageRecipe, PackageSpace, TestkitError};

/// Numbers for `n` choices. Each is below 2^16: far more than any list has
/// options, and quick to shrink.
fn picks(n: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..1 << 16, n)
}

/// Recipes drawn from `space`, or why it cannot be drawn from.
pub fn dag(space: &DagSpace) -> Result<BoxedStrategy<DagRecipe>, TestkitError> {
    space.check()?;
    let space = space.clone();
    Ok(picks(space.max_draws())
        .prop_map(move |p| space.draw(&mut Picks::new(p)))
        .boxed())
}

/// Recipes drawn from `space`, or why it cannot be drawn from.
pub fn package(space: &PackageSpace) -> Result<BoxedStrategy<PackageRecipe>, TestkitError> {
    space.check()?;
    let space = space.clone();
    Ok(picks(space.max_draws())
        .prop_map(move |p| space.draw(&mut Picks::new(p)))
        .boxed())
}

/// The suite's proptest configuration: `cases` cases from a fixed seed, so a
/// test run explores the same cases every time and CI is reproducible. Set
/// `PROPTEST_RNG_SEED` (a `u64`) to explore others; a failure found that way
/// is saved next to the test (`*.proptest-regressions`, replayed first on
/// every later run) and belongs in the commit that fixes it.
pub fn config(cases: u32) -> ProptestConfig {
    let rng_seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(SUITE_SEED);
    ProptestConfig {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(rng_seed),
        ..ProptestConfig::default()
    }
}

/// The seed the suite explores from when `PROPTEST_RNG_SEED` is not set.
pub const SUITE_SEED: u64 = 0x7E55_E2A0_5EED;
