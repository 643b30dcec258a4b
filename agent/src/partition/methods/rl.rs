//! The learned partitioner as a search method (`rl`): a policy
//! ([`crate::rl::policy`]) trained with PPO ([`crate::rl::ppo`]) on the
//! problem itself, every episode's repaired placement scored by the search's
//! evaluator, so its simulator calls count against the budget like any other
//! method's and its best placement is the best it scored. The baseline the
//! rewards are relative to (greedy's placement, else dp's) is scored first
//! and counts as one call.
//!
//! The policy starts fresh (weights from the seed) or from a checkpoint's
//! weights (fine-tuning: Adam's moments are reset and sampling is seeded from
//! the search's seed, [`Trainer::restart`]). With [`RlMode::Sample`] it is
//! never updated: every call of the budget is one sample of the same policy
//! (zero-shot use of a pre-trained one).

use std::path::Path;
use std::sync::Arc;

use crate::Problem;
use crate::error::SearchError;
use crate::partition::search::{Evaluator, Search, SearchProblem};
use crate::rl::ppo::{PpoConfig, Trainer};
use crate::rl::{Action, EnvError, EnvOptions, PartitionEnv};

/// Whether the policy learns, and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub enum RlMode {
    /// PPO on the problem, from `init`'s weights or a fresh policy.
    Train { init: Option<Arc<Path>> },
    /// Samples only, from `init`'s weights or a fresh policy.
    Sample { init: Option<Arc<Path>> },
}

/// The `rl` method.
#[derive(Clone, Debug)]
pub struct Rl {
    pub mode: RlMode,
    pub config: PpoConfig,
    /// What the last run did (batches, last mean reward and entropy).
    notes: Vec<(String, String)>,
}

impl Rl {
    pub fn new(mode: RlMode, config: PpoConfig) -> Rl {
        Rl {
            mode,
            config,
            notes: Vec::new(),
        }
    }

    /// The trainer the run starts from.
    fn trainer(&self, seed: u64) -> Result<Trainer, SearchError> {
        let init = match &self.mode {
            RlMode::Train { init } | RlMode::Sample { init } => init,
        };
        match init {
            None => Ok(Trainer::new(seed, self.config)),
            Some(path) => {
                let (mut t, _) = Trainer::load(path).map_err(|e| SearchError::BadOption {
                    method: "rl".into(),
                    option: "init".into(),
                    message: e.to_string(),
                })?;
                t.restart(seed, self.config);
                Ok(t)
            }
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
        let mut trainer = self.trainer(problem.seed)?;
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
        let p = trainer.prepare(&env);
        if matches!(self.mode, RlMode::Sample { .. }) {
            let (log_p, _) = trainer.policy(&p);
            let k = p.n_chips();
            let mut samples = 0u64;
            while eval.remaining() > 0 && !eval.interrupted() {
                let chips = trainer.sample(&log_p, k);
                env.reset(None);
                let mut simulate = |placement: &sim::Placement| {
                    eval.evaluate_report(placement).map(|(_, report)| report)
                };
                let action = Action {
                    chips,
                    repair_costs: None,
                };
                if env
                    .step_with(&action, &mut simulate)
                    .map_err(env_error)?
                    .is_none()
                {
                    break;
                }
                samples += 1;
            }
            self.notes.push(("samples".into(), samples.to_string()));
            self.notes
                .push(("baseline".into(), env.baseline().method.to_string()));
            return Ok(());
        }
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
