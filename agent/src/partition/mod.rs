//! Partitioning: the loop the learned policy will live in, and every
//! non-learned method beside it. A method proposes a placement (one chiplet per
//! op), `repair` turns it into the nearest valid one under the package's
//! constraints (`sim::constraints`), and the simulator scores it.
//!
//! - `repair.rs`: exact repair (fewest changed ops, or least total cost).
//! - `search.rs`: the [`search::Search`] trait every method implements, the
//!   evaluation budget, and the history of best throughput.
//! - `methods/`: random, simulated annealing, greedy, balance, dp;
//!   `exact.rs`: the exact bottleneck method.
//! - `sram_fit.rs`: when no valid placement exists, the smallest SRAM per
//!   chiplet that admits one (bisection over repair's feasibility check).
//! - `registry.rs`: every method's name, summary, typed options and
//!   constructor — the one list the command, scenarios, docs and tests read.

pub mod exact;
pub mod interrupt;
pub mod methods;
pub mod registry;
pub mod repair;
pub mod search;
pub mod sram_fit;

/// A seed for purpose `index` of a run seeded with `seed` (SplitMix64 of the
/// pair), so that each method of a scenario draws from its own stream.
pub fn derive_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod model_views;
