//! The learned partitioner as a search method (`rl`): a fresh policy
//! ([`crate::rl::policy`]) trained with PPO ([`crate::rl::ppo`]) on the
//! problem itself, every episode's repaired placement scored by the search's
//! evaluator, so its simulator calls count against the budget like any other
//! method's and its best placement is the best it scored. The baseline the
//! rewards are relative to (greedy's placement, else dp's) is scored first
//! and counts as one call.

use crate::Problem;
use crate::error::SearchError;
use crate::partition::search::{Evaluator, Search, SearchProblem};
use crate::rl::ppo::{PpoConfig, Trainer};
use crate::rl::{EnvError, EnvOptions, PartitionEnv};

/// The `rl` method.
#[derive(Clone, Debug)]
pub struct Rl {
    pub config: PpoConfig,
    /// What the last run did (batches, last mean reward and entropy).
    notes: Vec<(String, String)>,
}

impl Rl {
    pub fn new(config: PpoConfig) -> Rl {
        Rl {
            config,
            notes: Vec::new(),
        }
    }
}

fn env_error(e: EnvError) -> SearchError {
    match e {
        EnvError::NoBaseline(reason) => SearchError::NoValidPlacement { reason },
        other => SearchError::NoStart {
            near: format!("learned policy's proposals ({other})"),
        },
    }
}

impl Search for Rl {
    fn name(&self) -> &'static str {
        "rl"
    }

    fn run(
        &mut self,
        problem: &SearchProblem<'_>,
        eval: &mut Evaluator,
    ) -> Result<(), SearchError> {
        self.notes.clear();
        if problem.graph.ops().is_empty() {
            return Ok(());
        }
        let owned = Problem {
            spec: problem.spec.clone(),
            graph: problem.graph.clone(),
            constraints: problem.constraints,
            options: problem.options.clone(),
        };
        let mut env = PartitionEnv::new(owned, EnvOptions::default()).map_err(env_error)?;
        if eval.evaluate(&env.baseline().placement).is_none() {
            return Ok(());
        }
        let mut trainer = Trainer::new(problem.seed, self.config);
        let p = trainer.prepare(&env);
        let mut batches = 0u64;
        let mut last = None;
        while eval.remaining() > 0 && !eval.interrupted() {
            let mut simulate = |placement: &sim::Placement| {
                eval.evaluate_report(placement).map(|(_, report)| report)
            };
            match trainer
                .train_batch_with(&mut env, &p, &mut simulate)
                .map_err(env_error)?
            {
                Some(stats) => {
                    batches += 1;
                    last = Some(stats);
                }
                None => break,
            }
        }
        self.notes.push(("batches".into(), batches.to_string()));
        self.notes
            .push(("baseline".into(), env.baseline().method.to_string()));
        if let Some(s) = last {
            self.notes
                .push(("last_mean_reward".into(), format!("{:.4}", s.mean_reward)));
            self.notes
                .push(("last_entropy_per_op".into(), format!("{:.4}", s.entropy)));
        }
        Ok(())
    }

    fn notes(&self) -> Vec<(String, String)> {
        self.notes.clone()
    }
}
