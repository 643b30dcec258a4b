//! Random problems for a pre-training corpus: (graph, package) pairs drawn
//! from the test kit's broad spaces ([`DagSpace::broad`],
//! [`PackageSpace::broad`]: up to 31 ops, 1 to 12 chiplets, SRAM from 1 KiB,
//! every connected topology), so a policy sees shapes no zoo model has.
//!
//! The draws are deterministic: one ChaCha8 generator seeded by the caller's
//! seed draws a graph and then a package, again and again. A draw the kit
//! cannot build, or on which neither `greedy` nor `dp` finds a valid
//! placement (no baseline to score against: [`PartitionEnv::new`] refuses
//! it), is skipped and the generator draws on; so is a package of one
//! chiplet, which has one placement and nothing to learn. After `20 · n`
//! draws without `n` usable problems the call is an error. With the broad
//! spaces about a quarter of draws have no baseline (140 of 600 over seeds
//! 1 to 3; none failed to build) and one in twelve has one chiplet, so the
//! bound is far from binding.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sim::SimOptions;
use sim::testkit::{DagSpace, PackageSpace, random_dag, random_package};

use super::env::{EnvOptions, PartitionEnv};
use crate::Problem;

/// Draws allowed per problem asked for.
const DRAWS_PER_PROBLEM: usize = 20;

/// Too few usable problems in the draws allowed.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomProblemsError {
    pub wanted: usize,
    pub found: usize,
    pub draws: usize,
    /// Why the last skipped draw was skipped.
    pub last_skip: String,
}

impl std::fmt::Display for RandomProblemsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "only {} of {} random problems were usable in {} draws (the last one skipped: {})",
            self.found, self.wanted, self.draws, self.last_skip
        )
    }
}

impl std::error::Error for RandomProblemsError {}

/// `n` random problems drawn with `seed`, under the simulator's default
/// options, named `random-I (N ops, K chiplets)` with `I` from 0.
pub fn random_problems(seed: u64, n: usize) -> Result<Vec<(String, Problem)>, RandomProblemsError> {
    Ok(
        random_envs(seed, n, &SimOptions::default(), EnvOptions::default())?
            .into_iter()
            .map(|(name, env)| (name, env.problem().clone()))
            .collect(),
    )
}

/// [`random_problems`] under `options`, as environments (their baselines
/// already found, so a corpus need not find them again).
pub fn random_envs(
    seed: u64,
    n: usize,
    options: &SimOptions,
    env_options: EnvOptions,
) -> Result<Vec<(String, PartitionEnv)>, RandomProblemsError> {
    let (dags, packages) = (DagSpace::broad(), PackageSpace::broad());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    let mut last_skip = String::new();
    let max_draws = n.saturating_mul(DRAWS_PER_PROBLEM);
    let mut draws = 0;
    while out.len() < n {
        if draws == max_draws {
            return Err(RandomProblemsError {
                wanted: n,
                found: out.len(),
                draws,
                last_skip,
            });
        }
        draws += 1;
        // Both are drawn whatever happens to the first, so one draw always
        // moves the generator by one graph and one package.
        let (graph, spec) = (
            random_dag(&dags, &mut rng),
            random_package(&packages, &mut rng),
        );
        let (graph, spec) = match (graph, spec) {
            (Ok(g), Ok(s)) => (g, s),
            (Err(e), _) | (_, Err(e)) => {
                last_skip = e.to_string();
                continue;
            }
        };
        let (n_ops, n_chips) = (graph.ops().len(), spec.n_chiplets());
        if n_chips < 2 {
            last_skip = "one chiplet: a single placement, nothing to learn".to_string();
            continue;
        }
        let problem = Problem::new(spec, graph).with_options(options.clone());
        match PartitionEnv::new(problem, env_options) {
            Ok(env) => {
                let name = format!("random-{} ({n_ops} ops, {n_chips} chiplets)", out.len());
                out.push((name, env));
            }
            Err(e) => last_skip = e.to_string(),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_problems_and_another_seed_others() {
        let a = random_problems(5, 4).unwrap();
        let b = random_problems(5, 4).unwrap();
        let c = random_problems(6, 4).unwrap();
        let names = |v: &[(String, Problem)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&a), names(&b));
        for ((_, x), (_, y)) in a.iter().zip(&b) {
            assert_eq!(x.graph.to_json(), y.graph.to_json());
            assert_eq!(x.spec, y.spec);
        }
        assert_ne!(
            a.iter().map(|(_, p)| p.graph.to_json()).collect::<Vec<_>>(),
            c.iter().map(|(_, p)| p.graph.to_json()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_problem_is_named_by_its_size_has_chips_to_choose_and_a_baseline() {
        let problems = random_problems(1, 12).unwrap();
        assert_eq!(problems.len(), 12);
        for (i, (name, p)) in problems.iter().enumerate() {
            assert!(p.spec.n_chiplets() >= 2, "{name}");
            assert_eq!(
                *name,
                format!(
                    "random-{i} ({} ops, {} chiplets)",
                    p.graph.ops().len(),
                    p.spec.n_chiplets()
                )
            );
            assert!(PartitionEnv::new(p.clone(), EnvOptions::default()).is_ok());
        }
        // A longer list begins with the shorter one.
        let fewer = random_problems(1, 3).unwrap();
        for ((a, _), (b, _)) in fewer.iter().zip(&problems) {
            assert_eq!(a, b);
        }
    }

    #[test]
    fn none_asked_is_none_given() {
        assert!(random_problems(1, 0).unwrap().is_empty());
    }
}
