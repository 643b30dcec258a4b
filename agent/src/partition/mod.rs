//! Partitioning: the loop the learned policy will live in, and every
//! non-learned method beside it. A method proposes a placement (one chiplet per
//! op), `repair` turns it into the nearest valid one under the package's
//! constraints (`sim::constraints`), and the simulator scores it.
//!
//! - `repair.rs`: exact repair (fewest changed ops, or least total cost).
//! - `search.rs`: the [`search::Search`] trait every method implements, the
//!   evaluation budget, and the history of best throughput.
//! - `methods/`: random, simulated annealing, greedy, balance, dp, exact.

pub mod repair;
pub mod search;
