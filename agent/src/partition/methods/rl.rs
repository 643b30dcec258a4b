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
use crate::partition::registry;
use crate::partition::search::{Evaluator, Search, SearchProblem};
use crate::rl::policy::Prepared;
use crate::rl::ppo::{PpoConfig, Trainer};
use crate::rl::{Action, EnvError, EnvOptions, PartitionEnv};

/// The reference placement the policy sees (its `is_reference` and
/// `reference_gap` features): what its proposals are edits of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// None: the policy proposes placements from the problem alone.
    None,
    /// The environment's baseline (greedy's placement, else dp's), fixed.
    Baseline,
    /// The best placement the search has scored so far (the baseline, the
    /// teacher's, or an episode's), updated after every batch.
    Best,
}

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
    /// The method whose placement is scored first (the first reference
    /// with [`Reference::Best`]).
    pub warm_start: Option<&'static str>,
    /// Which placement the policy's proposals are edits of.
    pub reference: Reference,
    /// What the last run did (batches, last mean reward and entropy).
    notes: Vec<(String, String)>,
}

impl Rl {
    pub fn new(mode: RlMode, config: PpoConfig) -> Rl {
        Rl {
            mode,
            config,
            warm_start: None,
            reference: Reference::Best,
            notes: Vec::new(),
        }
    }

    pub fn with_reference(mut self, reference: Reference) -> Rl {
        self.reference = reference;
        self
    }

    /// Scores `method`'s placement first.
    pub fn warm_started(mut self, method: Option<&'static str>) -> Rl {
        self.warm_start = method;
        self
    }

    /// Scores the warm-start method's placement once with `eval` (so it
    /// counts as a call and can be the search's best; the baseline already
    /// is when it is the baseline's method). False when that method found
    /// no valid placement or the budget is spent.
    fn teacher_placement(
        teacher: &str,
        problem: &SearchProblem<'_>,
        env: &PartitionEnv,
        eval: &mut Evaluator,
    ) -> bool {
        let scored = |problem: &SearchProblem<'_>, eval: &mut Evaluator| -> Option<()> {
            let info = registry::lookup(teacher).ok()?;
            let one = SearchProblem {
                spec: problem.spec,
                graph: problem.graph,
                constraints: problem.constraints,
                options: problem.options.clone(),
                budget: 1,
                seed: problem.seed,
            };
            let mut own = Evaluator::new(&one).ok()?;
            // The teacher's own limits (exact's nodes) come from the search's
            // budget; its simulator calls do not: it may score one placement.
            let mut m = info.build(&info.defaults(), problem.budget);
            m.run(&one, &mut own).ok()?;
            let (placement, _) = own.finish(teacher, Vec::new(), None).best?;
            eval.evaluate(&placement)?;
            Some(())
        };
        env.baseline().method == teacher || scored(problem, eval).is_some()
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
        if let RlMode::Train { init: Some(path) } | RlMode::Sample { init: Some(path) } = &self.mode
        {
            let name = path.file_name().unwrap_or(path.as_os_str());
            self.notes
                .push(("init".into(), name.to_string_lossy().into_owned()));
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
        let mut p = trainer.prepare(&env);
        let obs = env.observation().clone();
        if self.reference == Reference::Baseline {
            let chips = env.baseline().placement.chip_ids();
            p.set_reference(trainer.device(), &obs, Some(&chips));
        }
        if let Some(teacher) = self.warm_start {
            let found = Self::teacher_placement(teacher, problem, &env, eval);
            self.notes.push((
                "warm_start".into(),
                if found {
                    teacher.to_string()
                } else {
                    format!("none ({teacher} found no valid placement)")
                },
            ));
        }
        let reference = self.reference;
        // Points the policy at the search's best placement when that is not
        // already its reference; true when it moved.
        let follow_best = |p: &mut Prepared, eval: &Evaluator, trainer: &Trainer| {
            if reference != Reference::Best {
                return false;
            }
            match eval.best_placement().map(sim::Placement::chip_ids) {
                Some(best) if p.reference() != Some(best.as_slice()) => {
                    p.set_reference(trainer.device(), &obs, Some(&best));
                    true
                }
                _ => false,
            }
        };
        follow_best(&mut p, eval, &trainer);
        if matches!(self.mode, RlMode::Sample { .. }) {
            let (mut log_p, _) = trainer.policy(&p);
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
                if follow_best(&mut p, eval, &trainer) {
                    log_p = trainer.policy(&p).0;
                }
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
                    follow_best(&mut p, eval, &trainer);
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
