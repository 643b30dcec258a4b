//! Pre-training over a corpus of problems: each PPO batch is drawn on one
//! problem of the corpus, chosen by the trainer's generator, so a saved
//! trainer (whose checkpoint holds that generator's position) resumes the
//! same sequence of problems. Fine-tuning is the same loop on the target
//! alone, starting from a loaded checkpoint ([`super::ppo::Trainer::load`]).
//!
//! A run's record ([`RunRecord`]) travels in its checkpoints: the setup it
//! trains on ([`Setup`]: the seed, the problems' names and anything else
//! that decides the rewards, summarised with the PPO configuration in a
//! [`fingerprint`]) and one [`CurveRow`] per batch so far. So a run resumed
//! from a checkpoint writes the same learning curve as one that never
//! stopped, and a checkpoint of another setup is refused rather than
//! silently continued.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::env::{EnvError, EnvOptions, MethodOutcome, PartitionEnv, method_placement};
use super::policy::Prepared;
use super::ppo::{BatchStats, EpisodeScorer, LogProbOf, PpoConfig, StepEach, Trainer};
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
        let mut envs = Vec::with_capacity(problems.len());
        for (name, problem) in problems {
            let env = PartitionEnv::new(problem, options).map_err(|e| (name.clone(), e))?;
            envs.push((name, env));
        }
        Ok(Corpus::from_envs(trainer, envs))
    }

    /// A corpus of environments already built (and so with baselines).
    pub fn from_envs(trainer: &Trainer, envs: Vec<(String, PartitionEnv)>) -> Corpus {
        let mut corpus = Corpus {
            names: Vec::with_capacity(envs.len()),
            envs: Vec::with_capacity(envs.len()),
            prepared: Vec::with_capacity(envs.len()),
        };
        for (name, env) in envs {
            corpus.prepared.push(trainer.prepare(&env));
            corpus.envs.push(env);
            corpus.names.push(name);
        }
        corpus
    }

    /// The problems' names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
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
        self.train_corpus_batch_scored(corpus, &mut StepEach)
    }

    /// [`Trainer::train_corpus_batch`] with the episodes scored by `scorer`
    /// (see [`Trainer::train_batch_scored`]); the same batch whoever scores
    /// it. When the scorer fails, the trainer is left as it was (the draw
    /// of the problem included).
    pub fn train_corpus_batch_scored(
        &mut self,
        corpus: &mut Corpus,
        scorer: &mut dyn EpisodeScorer,
    ) -> Result<CorpusBatch, EnvError> {
        if corpus.is_empty() {
            return Err(EnvError::NoBaseline("the corpus is empty".into()));
        }
        let before = self.rng.clone();
        let problem = self.rng.gen_range(0..corpus.len());
        let stats = self
            .train_batch_scored(&mut corpus.envs[problem], &corpus.prepared[problem], scorer)
            .inspect_err(|_| self.rng = before)?;
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

/// The reward the registered method `method` (a constructive one: `greedy`
/// or `dp`) earns on `env`'s problem: its placement's throughput over the
/// baseline's; `None` when it finds no valid placement. For comparing a
/// policy's zero-shot rewards with a method's on the same scale.
pub fn method_reward(env: &PartitionEnv, method: &str) -> Result<Option<f64>, EnvError> {
    Ok(match method_placement(env.problem(), method)? {
        MethodOutcome::Found {
            throughput_inferences_per_s,
            ..
        } => Some(throughput_inferences_per_s / env.baseline().throughput_inferences_per_s),
        MethodOutcome::Missed(_) => None,
    })
}

/// What a training run trains on. Two runs with the same setup and PPO
/// configuration draw the same problems and the same episodes, so a
/// checkpoint of one may continue the other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    /// The seed the trainer was made with.
    pub seed: u64,
    /// The corpus's problem names, in corpus order.
    pub problems: Vec<String>,
    /// Anything else that decides the rewards, in the caller's words (e.g.
    /// the simulator's options), compared as text.
    pub conditions: Vec<String>,
}

impl Setup {
    /// The first way `self` (a checkpoint's) differs from `other` (this
    /// run's), in words; `None` when they agree.
    pub fn difference(&self, other: &Setup) -> Option<String> {
        if self.seed != other.seed {
            return Some(format!("seed {}, this run's {}", self.seed, other.seed));
        }
        if let Some(d) = list_difference("problem", &self.problems, &other.problems) {
            return Some(d);
        }
        list_difference("condition", &self.conditions, &other.conditions)
    }
}

/// The first difference of two lists named `what`.
fn list_difference(what: &str, file: &[String], run: &[String]) -> Option<String> {
    for (i, (a, b)) in file.iter().zip(run).enumerate() {
        if a != b {
            return Some(format!("{what} {i} is {a:?}, this run's is {b:?}"));
        }
    }
    (file.len() != run.len()).then(|| format!("{} {what}s, this run has {}", file.len(), run.len()))
}

/// The PPO configuration's fields by name, in a fixed order, each exactly
/// (a float in its shortest decimal form that reads back to the same bits):
/// what the fingerprint hashes and differences name.
fn config_fields(c: &PpoConfig) -> [(&'static str, String); 10] {
    [
        ("episodes_per_batch", c.episodes_per_batch.to_string()),
        ("epochs", c.epochs.to_string()),
        ("minibatch", c.minibatch.to_string()),
        ("clip", c.clip.to_string()),
        ("value_coef", c.value_coef.to_string()),
        ("entropy_coef", c.entropy_coef.to_string()),
        ("learning_rate", c.learning_rate.to_string()),
        ("max_grad_norm", c.max_grad_norm.to_string()),
        (
            "log_prob_of",
            match c.log_prob_of {
                LogProbOf::Proposal => "proposal",
                LogProbOf::Repaired => "repaired",
            }
            .to_string(),
        ),
        ("repair_by_log_prob", c.repair_by_log_prob.to_string()),
    ]
}

/// The first field in which two PPO configurations differ, in words.
pub fn config_difference(file: &PpoConfig, run: &PpoConfig) -> Option<String> {
    config_fields(file)
        .into_iter()
        .zip(config_fields(run))
        .find(|(a, b)| a.1 != b.1)
        .map(|((name, a), (_, b))| format!("PPO {name} {a}, this run's {b}"))
}

/// A digest of a setup and a PPO configuration (FNV-1a, 64 bits, as hex):
/// equal for equal setups and configurations, and (but for a collision)
/// different otherwise.
pub fn fingerprint(setup: &Setup, config: &PpoConfig) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        // Each item is length-prefixed, so ["ab", "c"] and ["a", "bc"] differ.
        for b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(&setup.seed.to_le_bytes());
    eat(&(setup.problems.len() as u64).to_le_bytes());
    for p in &setup.problems {
        eat(p.as_bytes());
    }
    eat(&(setup.conditions.len() as u64).to_le_bytes());
    for c in &setup.conditions {
        eat(c.as_bytes());
    }
    for (name, value) in config_fields(config) {
        eat(name.as_bytes());
        eat(value.as_bytes());
    }
    format!("{h:016x}")
}

/// One PPO batch of a run, as its learning curve records it.
#[derive(Clone, Debug, PartialEq)]
pub struct CurveRow {
    /// 1 for the run's first batch.
    pub batch: u64,
    /// The corpus index of the problem the batch trained on.
    pub problem: usize,
    pub mean_reward: f64,
    /// The best valid episode's reward; `None` when no episode was valid.
    pub best_reward: Option<f64>,
    pub entropy: f32,
    pub policy_loss: f32,
    pub value_loss: f32,
    /// Simulator calls the batch made.
    pub evaluations: u64,
}

impl CurveRow {
    /// The row of batch number `batch` (1-based), which did `b`.
    pub fn new(batch: u64, b: &CorpusBatch) -> CurveRow {
        CurveRow {
            batch,
            problem: b.problem,
            mean_reward: b.stats.mean_reward,
            best_reward: b.stats.best_reward,
            entropy: b.stats.entropy,
            policy_loss: b.stats.policy_loss,
            value_loss: b.stats.value_loss,
            evaluations: b.stats.evaluations,
        }
    }
}

/// A training run's record: what it trains on and its learning curve so
/// far. A checkpoint that carries one can resume the run exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub setup: Setup,
    pub curve: Vec<CurveRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> Setup {
        Setup {
            seed: 7,
            problems: vec!["a on x".into(), "b on y".into()],
            conditions: vec!["microbatches 4".into()],
        }
    }

    #[test]
    fn the_fingerprint_changes_with_every_part_of_the_setup_and_config() {
        let (s, c) = (setup(), PpoConfig::default());
        let base = fingerprint(&s, &c);
        assert_eq!(base, fingerprint(&setup(), &PpoConfig::default()));
        assert_eq!(base.len(), 16);
        let mut others = Vec::new();
        let mut t = setup();
        t.seed = 8;
        others.push(fingerprint(&t, &c));
        let mut t = setup();
        t.problems.swap(0, 1);
        others.push(fingerprint(&t, &c));
        let mut t = setup();
        t.problems = vec!["a on xb on y".into()];
        others.push(fingerprint(&t, &c));
        let mut t = setup();
        t.conditions[0] = "microbatches 8".into();
        others.push(fingerprint(&t, &c));
        for change in [
            PpoConfig {
                learning_rate: 1e-3,
                ..c
            },
            PpoConfig {
                episodes_per_batch: 8,
                ..c
            },
            PpoConfig {
                entropy_coef: 0.0,
                ..c
            },
            PpoConfig {
                log_prob_of: LogProbOf::Proposal,
                ..c
            },
        ] {
            others.push(fingerprint(&s, &change));
        }
        for o in &others {
            assert_ne!(*o, base);
        }
        let mut sorted = others.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), others.len(), "{others:?}");
    }

    #[test]
    fn differences_name_the_first_thing_that_differs() {
        let s = setup();
        assert_eq!(s.difference(&setup()), None);
        let mut t = setup();
        t.seed = 9;
        assert_eq!(s.difference(&t).unwrap(), "seed 7, this run's 9");
        let mut t = setup();
        t.problems[1] = "c on z".into();
        assert_eq!(
            s.difference(&t).unwrap(),
            "problem 1 is \"b on y\", this run's is \"c on z\""
        );
        let mut t = setup();
        t.problems.push("d".into());
        assert_eq!(s.difference(&t).unwrap(), "2 problems, this run has 3");
        let c = PpoConfig::default();
        assert_eq!(config_difference(&c, &c), None);
        let d = PpoConfig {
            learning_rate: 0.001,
            ..c
        };
        assert_eq!(
            config_difference(&c, &d).unwrap(),
            "PPO learning_rate 0.003, this run's 0.001"
        );
    }
}
