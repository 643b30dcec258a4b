//! Pre-training over a corpus of problems: each PPO batch is drawn on one
//! problem of the corpus, chosen by the trainer's generator, so a saved
//! trainer (whose checkpoint holds that generator's position) resumes the
//! same sequence of problems. Fine-tuning is the same loop on the target
//! alone, starting from a loaded checkpoint ([`super::ppo::Trainer::load`]).

use rand::Rng;

use super::env::{EnvError, EnvOptions, PartitionEnv};
use super::policy::Prepared;
use super::ppo::{BatchStats, Trainer};
use crate::Problem;

/// Problems to train on, with their environments and prepared observations.
pub struct Corpus {
    names: Vec<String>,
    envs: Vec<PartitionEnv>,
    prepared: Vec<Prepared>,
}

/// What one pre-training batch did, and on which problem.
#[derive(Clone, Debug, PartialEq)]
pub struct CorpusBatch {
    pub problem: usize,
    pub stats: BatchStats,
}

impl Corpus {
    /// Builds every problem's environment (and baseline) for `trainer`'s
    /// device. A problem without a baseline (no valid placement greedy or dp
    /// can find) is an error naming it.
    pub fn new(
        trainer: &Trainer,
        problems: Vec<(String, Problem)>,
        options: EnvOptions,
    ) -> Result<Corpus, (String, EnvError)> {
        let mut corpus = Corpus {
            names: Vec::new(),
            envs: Vec::new(),
            prepared: Vec::new(),
        };
        for (name, problem) in problems {
            let env = PartitionEnv::new(problem, options).map_err(|e| (name.clone(), e))?;
            corpus.prepared.push(trainer.prepare(&env));
            corpus.envs.push(env);
            corpus.names.push(name);
        }
        Ok(corpus)
    }

    pub fn len(&self) -> usize {
        self.envs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    pub fn env(&self, i: usize) -> &PartitionEnv {
        &self.envs[i]
    }
}

impl Trainer {
    /// One PPO batch on a problem of `corpus` drawn by the trainer's
    /// generator.
    pub fn train_corpus_batch(&mut self, corpus: &mut Corpus) -> Result<CorpusBatch, EnvError> {
        if corpus.is_empty() {
            return Err(EnvError::NoBaseline("the corpus is empty".into()));
        }
        let problem = self.rng.gen_range(0..corpus.len());
        let stats = self.train_batch(&mut corpus.envs[problem], &corpus.prepared[problem])?;
        Ok(CorpusBatch { problem, stats })
    }

    /// The mean reward of `samples` episodes on each problem of `corpus`
    /// sampled from the current policy without training (zero-shot), and
    /// the best reward among them. Draws from the trainer's generator.
    pub fn evaluate(
        &mut self,
        corpus: &mut Corpus,
        samples: usize,
    ) -> Result<Vec<(f64, f64)>, EnvError> {
        let mut out = Vec::with_capacity(corpus.len());
        for i in 0..corpus.len() {
            let k = corpus.prepared[i].n_chips();
            let (log_p, _) = self.policy(&corpus.prepared[i]);
            let (mut sum, mut best) = (0.0, f64::NEG_INFINITY);
            for _ in 0..samples {
                let chips = self.sample(&log_p, k);
                let env = &mut corpus.envs[i];
                env.reset(None);
                let step = env.step(&super::env::Action {
                    chips,
                    repair_costs: None,
                })?;
                sum += step.reward;
                best = best.max(step.reward);
            }
            out.push((sum / samples.max(1) as f64, best));
        }
        Ok(out)
    }
}
