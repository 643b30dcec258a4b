//! Proximal policy optimisation of the [`PolicyNet`] on [`PartitionEnv`]s.
//!
//! An episode is one step (every op gets a chip at once), so an episode's
//! return is its reward and its advantage `reward − value`. A batch samples
//! `episodes_per_batch` actions from the current policy on one problem (one
//! forward pass: the observation does not change within a problem), scores
//! them, normalises the advantages over the batch, and then takes `epochs`
//! passes of Adam over minibatches of the batch with PPO's clipped objective:
//!
//! `loss = −mean_{op, episode} min(r A, clip(r, 1 − ε, 1 + ε) A)
//!         + c_v (V − R)² − c_e H`,
//!
//! where `r` is each op's probability ratio under the new and the sampling
//! policy (the ops of one episode share its advantage, as the tokens of one
//! sequence do in per-token PPO; a ratio of the joint probability over
//! hundreds of ops would clip almost every step), `H` the mean entropy of the
//! ops' chip distributions, and the gradient is clipped to a global norm.
//!
//! Everything is deterministic given the seed and the thread count: sampling
//! draws from one ChaCha generator in op order, the network's initial
//! weights from a seeded device, and Adam runs here in `f32` in a fixed
//! parameter order.

use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use sim::Placement;
use sim::report::SimReport;

use super::env::{Action, EnvError, PartitionEnv, Step};
use super::policy::{ParamVisitor, PolicyNet, Prepared};

/// Takes one episode's step: `Ok(None)` when no simulator call is left.
type StepFn<'a> = dyn FnMut(&mut PartitionEnv, &Action) -> Result<Option<Step>, EnvError> + 'a;

/// How a batch's episodes reach the environment.
enum Episodes<'a, 'b> {
    /// All drawn first, then scored together.
    Scored(&'a mut dyn EpisodeScorer),
    /// Drawn and stepped one at a time, until the step function has no
    /// simulator call left.
    OneByOne(&'a mut StepFn<'b>),
}

/// What PPO keeps of a scored episode (serialisable, for episodes scored
/// on other machines).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpisodeScore {
    pub reward: f64,
    /// The repaired placement's chip ids, when repair found one.
    pub repaired: Option<Vec<u32>>,
    /// Of the repaired placement; 0 when there is none or it is invalid.
    pub throughput_inferences_per_s: f64,
}

impl EpisodeScore {
    pub fn of(step: &Step) -> EpisodeScore {
        EpisodeScore {
            reward: step.reward,
            repaired: step.info.placement.as_ref().map(Placement::chip_ids),
            throughput_inferences_per_s: step.info.throughput_inferences_per_s,
        }
    }
}

/// Scores a batch's episodes: each action from a fresh episode of the
/// environment (`reset`, then `step`), the scores in the actions' order.
/// An episode's score depends on the problem and its action only, so a
/// scorer may take them in any order, on any number of threads or
/// machines, and the batch is the same.
pub trait EpisodeScorer {
    fn score(
        &mut self,
        env: &mut PartitionEnv,
        actions: &[Action],
    ) -> Result<Vec<EpisodeScore>, EnvError>;
}

/// Steps the environment itself, one episode after another.
pub struct StepEach;

impl EpisodeScorer for StepEach {
    fn score(
        &mut self,
        env: &mut PartitionEnv,
        actions: &[Action],
    ) -> Result<Vec<EpisodeScore>, EnvError> {
        actions
            .iter()
            .map(|a| {
                env.reset(None);
                env.step(a).map(|s| EpisodeScore::of(&s))
            })
            .collect()
    }
}

/// Scores a batch's episodes on up to `threads` threads: the actions cut
/// into contiguous runs, the first stepped on the environment itself, each
/// other on an environment of its own built from the same problem and
/// baseline (kept for the next batch on that problem).
pub struct ThreadScorer {
    threads: usize,
    /// Per problem (keyed by its observation's address, which lives as long
    /// as its environment; it only finds the copies, it decides nothing).
    copies: Vec<(usize, Vec<PartitionEnv>)>,
}

impl ThreadScorer {
    pub fn new(threads: usize) -> ThreadScorer {
        ThreadScorer {
            threads: threads.max(1),
            copies: Vec::new(),
        }
    }
}

impl EpisodeScorer for ThreadScorer {
    fn score(
        &mut self,
        env: &mut PartitionEnv,
        actions: &[Action],
    ) -> Result<Vec<EpisodeScore>, EnvError> {
        let n = self.threads.min(actions.len());
        if n <= 1 {
            return StepEach.score(env, actions);
        }
        let key = std::sync::Arc::as_ptr(env.observation()) as usize;
        let at = match self.copies.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.copies.push((key, Vec::new()));
                self.copies.len() - 1
            }
        };
        let copies = &mut self.copies[at].1;
        while copies.len() < n - 1 {
            copies.push(PartitionEnv::with_baseline(
                env.problem().clone(),
                *env.options(),
                env.baseline().clone(),
            )?);
        }
        let per = actions.len().div_ceil(n);
        let mut chunks = actions.chunks(per);
        let first = chunks.next().unwrap_or_default();
        std::thread::scope(|s| {
            let others: Vec<_> = chunks
                .zip(copies.iter_mut())
                .map(|(chunk, copy)| s.spawn(move || StepEach.score(copy, chunk)))
                .collect();
            let mut out = StepEach.score(env, first)?;
            for h in others {
                out.extend(h.join().expect("an episode-scoring thread panicked")?);
            }
            Ok(out)
        })
    }
}

/// The largest log probability ratio `update` exponentiates (see there).
const MAX_LOG_RATIO: f32 = 20.0;

/// Which action's log-probability PPO raises or lowers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogProbOf {
    /// The chips the policy sampled (on-policy).
    Proposal,
    /// The repaired placement the reward was measured on.
    Repaired,
}

/// PPO's hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PpoConfig {
    pub episodes_per_batch: usize,
    pub epochs: usize,
    pub minibatch: usize,
    /// ε of the clipped ratio.
    pub clip: f32,
    pub value_coef: f32,
    pub entropy_coef: f32,
    pub learning_rate: f32,
    /// Global gradient-norm limit.
    pub max_grad_norm: f32,
    pub log_prob_of: LogProbOf,
    /// Repair minimises the policy's `−log p` of the chosen chips instead of
    /// the number of ops it moves.
    pub repair_by_log_prob: bool,
}

impl Default for PpoConfig {
    fn default() -> Self {
        PpoConfig {
            episodes_per_batch: 16,
            epochs: 4,
            minibatch: 8,
            clip: 0.2,
            value_coef: 0.5,
            entropy_coef: 0.01,
            learning_rate: 3e-3,
            max_grad_norm: 1.0,
            // docs/rl.md: learns faster than the proposal's on both problems tried.
            log_prob_of: LogProbOf::Repaired,
            repair_by_log_prob: false,
        }
    }
}

/// The dual clip's bound on a negative advantage's objective, in
/// advantages (the paper's c = 3).
pub const DUAL_CLIP: f32 = 3.0;

/// Adam with its state in plain vectors (so a checkpoint can hold it).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamState {
    pub step: u64,
    pub m: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
}

/// What one batch did.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchStats {
    pub mean_reward: f64,
    /// The best valid episode's reward, if any episode was valid.
    pub best_reward: Option<f64>,
    /// The best episode's repaired placement (chip ids), if any was valid.
    pub best_chips: Option<Vec<u32>>,
    pub policy_loss: f32,
    pub value_loss: f32,
    pub entropy: f32,
    /// Environment steps (simulator calls) taken.
    pub evaluations: u64,
}

/// A policy and its optimiser.
pub struct Trainer {
    pub config: PpoConfig,
    pub net: PolicyNet,
    pub adam: AdamState,
    pub rng: ChaCha8Rng,
    dev: Cpu,
}

/// Reads every parameter's values (or gradient) into flat vectors.
struct Collect<'a> {
    grads: Option<&'a mut Gradients<f32, Cpu>>,
    out: Vec<Vec<f32>>,
}

impl ParamVisitor for Collect<'_> {
    fn visit<S: Shape>(&mut self, _name: &str, t: &mut Tensor<S, f32, Cpu>) {
        match &mut self.grads {
            Some(g) => {
                g.try_alloc_for(t).expect("gradient buffer");
                self.out.push(g.get(t).as_vec());
            }
            None => self.out.push(t.as_vec()),
        }
    }
}

/// Writes flat vectors back into the parameters, in visiting order.
struct Assign<'a> {
    values: &'a [Vec<f32>],
    at: usize,
}

impl ParamVisitor for Assign<'_> {
    fn visit<S: Shape>(&mut self, _name: &str, t: &mut Tensor<S, f32, Cpu>) {
        t.copy_from(&self.values[self.at]);
        self.at += 1;
    }
}

impl PolicyNet {
    /// Every parameter as a flat vector, in visiting order.
    pub fn parameters(&mut self) -> Vec<Vec<f32>> {
        let mut c = Collect {
            grads: None,
            out: Vec::new(),
        };
        self.visit(&mut c);
        c.out
    }

    /// Sets every parameter from flat vectors in visiting order.
    pub fn set_parameters(&mut self, values: &[Vec<f32>]) {
        self.visit(&mut Assign { values, at: 0 });
    }
}

/// Per-op log-probabilities (`n_ops × n_chips`, row-major) from logits.
fn log_softmax_rows(logits: &[f32], k: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks(k) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
        let log_z = max + sum.ln();
        out.extend(row.iter().map(|&x| x as f64 - log_z));
    }
    out
}

impl Trainer {
    /// A fresh policy: weights from `seed`, sampling from a generator seeded
    /// from it too.
    pub fn new(seed: u64, config: PpoConfig) -> Trainer {
        let dev = Cpu::seed_from_u64(seed);
        let mut net = PolicyNet::new(&dev);
        let zeros: Vec<Vec<f32>> = net
            .parameters()
            .iter()
            .map(|p| vec![0.0; p.len()])
            .collect();
        Trainer {
            config,
            net,
            adam: AdamState {
                step: 0,
                m: zeros.clone(),
                v: zeros,
            },
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0005_eed0_fa11),
            dev,
        }
    }

    /// Fine-tuning's start: keeps the weights, takes `config`, forgets
    /// Adam's moments and draws from a generator seeded from `seed` (as
    /// [`Trainer::new`] does), so a fine-tuning run depends on the
    /// checkpoint's weights and its own seed only.
    pub fn restart(&mut self, seed: u64, config: PpoConfig) {
        self.config = config;
        self.adam.step = 0;
        for m in self.adam.m.iter_mut().chain(self.adam.v.iter_mut()) {
            m.iter_mut().for_each(|x| *x = 0.0);
        }
        self.rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0005_eed0_fa11);
    }

    pub fn device(&self) -> &Cpu {
        &self.dev
    }

    /// The observation of `env` as the network's constant tensors.
    pub fn prepare(&self, env: &PartitionEnv) -> Prepared {
        Prepared::new(&self.dev, env.observation())
    }

    /// Per-op log-probabilities (`n_ops × n_chips`) and the value.
    pub fn policy(&self, p: &Prepared) -> (Vec<f64>, f32) {
        let (logits, value) = self.net.forward(p, Gradients::leaky());
        (
            log_softmax_rows(&logits.as_vec(), p.n_chips()),
            value.as_vec()[0],
        )
    }

    /// Samples a chip for every op from per-op log-probabilities.
    pub fn sample(&mut self, log_p: &[f64], k: usize) -> Vec<u32> {
        log_p
            .chunks(k)
            .map(|row| {
                let u: f64 = self.rng.r#gen();
                let mut acc = 0.0;
                for (c, lp) in row.iter().enumerate() {
                    acc += lp.exp();
                    if u < acc {
                        return c as u32;
                    }
                }
                // Rounding left `u` above the total: the last likely chip.
                row.iter().rposition(|lp| lp.exp() > 0.0).unwrap_or(0) as u32
            })
            .collect()
    }

    /// Collects one batch of episodes on `env` and updates the policy.
    pub fn train_batch(
        &mut self,
        env: &mut PartitionEnv,
        p: &Prepared,
    ) -> Result<BatchStats, EnvError> {
        self.train_batch_scored(env, p, &mut StepEach)
    }

    /// [`Trainer::train_batch`] with the batch's episodes scored by
    /// `scorer` (on other threads or machines, say). The actions are drawn
    /// first, all of them, in episode order; the scores come back in the
    /// same order; so the update is the same whoever scores them. When the
    /// scorer fails, the trainer is left as it was before the batch (its
    /// generator rewound), so the batch can be taken again.
    pub fn train_batch_scored(
        &mut self,
        env: &mut PartitionEnv,
        p: &Prepared,
        scorer: &mut dyn EpisodeScorer,
    ) -> Result<BatchStats, EnvError> {
        self.batch(env, p, Episodes::Scored(scorer))?
            .ok_or_else(|| EnvError::Simulator("no episode was scored".into()))
    }

    /// [`Trainer::train_batch`] with the repaired placements scored by
    /// `simulate` (a search's budgeted evaluator). When `simulate` runs out
    /// mid-batch, the policy learns from the episodes scored so far (if
    /// there are at least two); `None` when fewer were. Episodes are drawn
    /// one at a time, so a budget that ends the batch early leaves the
    /// generator where the last scored episode left it.
    pub fn train_batch_with(
        &mut self,
        env: &mut PartitionEnv,
        p: &Prepared,
        simulate: &mut dyn FnMut(&Placement) -> Option<SimReport>,
    ) -> Result<Option<BatchStats>, EnvError> {
        self.batch(
            env,
            p,
            Episodes::OneByOne(&mut |env, action| env.step_with(action, simulate)),
        )
    }

    fn batch(
        &mut self,
        env: &mut PartitionEnv,
        p: &Prepared,
        episodes: Episodes<'_, '_>,
    ) -> Result<Option<BatchStats>, EnvError> {
        let cfg = self.config;
        let (n, k) = (p.n_ops(), p.n_chips());
        let (log_p, value) = self.policy(p);
        let repair_costs: Option<Vec<f64>> = cfg
            .repair_by_log_prob
            .then(|| log_p.iter().map(|lp| -lp).collect());
        let mut actions = Vec::with_capacity(cfg.episodes_per_batch);
        let mut rewards = Vec::with_capacity(cfg.episodes_per_batch);
        let mut best: Option<(f64, Vec<u32>)> = None;
        let mut keep = |chips: Vec<u32>, score: EpisodeScore| {
            if score.throughput_inferences_per_s > 0.0
                && best.as_ref().is_none_or(|(r, _)| score.reward > *r)
            {
                best = Some((score.reward, score.repaired.clone().unwrap_or_default()));
            }
            let taken = match (cfg.log_prob_of, score.repaired) {
                (LogProbOf::Repaired, Some(r)) => r,
                _ => chips,
            };
            actions.push(taken);
            rewards.push(score.reward);
        };
        match episodes {
            Episodes::Scored(scorer) => {
                let before = self.rng.clone();
                let drawn: Vec<Action> = (0..cfg.episodes_per_batch)
                    .map(|_| Action {
                        chips: self.sample(&log_p, k),
                        repair_costs: repair_costs.clone(),
                    })
                    .collect();
                let scores = match scorer.score(env, &drawn) {
                    Ok(s) if s.len() == drawn.len() => s,
                    Ok(s) => {
                        self.rng = before;
                        return Err(EnvError::Scoring(format!(
                            "{} episodes sent, {} scores came back",
                            drawn.len(),
                            s.len()
                        )));
                    }
                    Err(e) => {
                        self.rng = before;
                        return Err(e);
                    }
                };
                for (action, score) in drawn.into_iter().zip(scores) {
                    keep(action.chips, score);
                }
            }
            Episodes::OneByOne(step) => {
                for _ in 0..cfg.episodes_per_batch {
                    let chips = self.sample(&log_p, k);
                    env.reset(None);
                    let Some(step) = step(
                        env,
                        &Action {
                            chips: chips.clone(),
                            repair_costs: repair_costs.clone(),
                        },
                    )?
                    else {
                        break;
                    };
                    keep(chips, EpisodeScore::of(&step));
                }
            }
        }

        if rewards.len() < 2 {
            return Ok(None);
        }
        // Advantages, normalised over the batch. An episode that only
        // repeats the reference placement (see `Prepared::set_reference`)
        // teaches nothing about edits: it gets advantage 0 and stays out of
        // the normalisation. Otherwise, when the reference is the best
        // placement known, copying it always looks best and the policy
        // collapses onto it (measured: docs/rl.md).
        let informative: Vec<bool> = actions
            .iter()
            .map(|a| p.reference() != Some(a.as_slice()))
            .collect();
        let adv: Vec<f64> = rewards.iter().map(|r| r - value as f64).collect();
        let used: Vec<f64> = (0..adv.len())
            .filter(|&e| informative[e])
            .map(|e| adv[e])
            .collect();
        let count = used.len().max(1) as f64;
        let mean = used.iter().sum::<f64>() / count;
        let std = (used.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / count).sqrt();
        let adv: Vec<f32> = adv
            .iter()
            .zip(&informative)
            .map(|(a, &keep)| {
                if keep && std > 1e-8 {
                    ((a - mean) / std) as f32
                } else {
                    0.0
                }
            })
            .collect();

        let mut stats = (0.0f32, 0.0f32, 0.0f32, 0usize);
        let b = actions.len();
        for _ in 0..cfg.epochs {
            // Episodes in a drawn order, cut into minibatches.
            let mut order: Vec<usize> = (0..b).collect();
            for i in (1..b).rev() {
                let j = self.rng.gen_range(0..=i);
                order.swap(i, j);
            }
            for chunk in order.chunks(cfg.minibatch.max(1)) {
                let m = chunk.len();
                // (op, episode) layout: row op, column episode.
                let mut idx = vec![0usize; n * m];
                let mut old = vec![0f32; n * m];
                let mut a = vec![0f32; n * m];
                let mut ret = vec![0f32; m];
                for (j, &e) in chunk.iter().enumerate() {
                    for v in 0..n {
                        let c = actions[e][v] as usize;
                        idx[v * m + j] = c;
                        old[v * m + j] = log_p[v * k + c] as f32;
                        a[v * m + j] = adv[e];
                    }
                    ret[j] = rewards[e] as f32;
                }
                let (pl, vl, en) = self.update(p, (n, m), idx, old, a, ret);
                stats.0 += pl;
                stats.1 += vl;
                stats.2 += en;
                stats.3 += 1;
            }
        }
        let batches = stats.3.max(1) as f32;
        Ok(Some(BatchStats {
            mean_reward: rewards.iter().sum::<f64>() / rewards.len().max(1) as f64,
            best_reward: best.as_ref().map(|(r, _)| *r),
            best_chips: best.map(|(_, c)| c),
            policy_loss: stats.0 / batches,
            value_loss: stats.1 / batches,
            entropy: stats.2 / batches,
            evaluations: b as u64,
        }))
    }

    /// One Adam step on one minibatch; returns (policy loss, value loss,
    /// entropy per op).
    fn update(
        &mut self,
        p: &Prepared,
        (n, m): (usize, usize),
        idx: Vec<usize>,
        old: Vec<f32>,
        adv: Vec<f32>,
        ret: Vec<f32>,
    ) -> (f32, f32, f32) {
        let cfg = self.config;
        let dev = self.dev.clone();
        let (logits, value) = self.net.forward(p, Gradients::leaky());
        let log_probs = logits.log_softmax::<Axis<1>>();
        // The joint action's entropy: the ops' entropies summed.
        let entropy = -(log_probs.with_empty_tape().exp() * log_probs.with_empty_tape()).sum();
        let idx = dev.tensor_from_vec(idx, (n, m));
        let taken = log_probs.gather(idx);
        let old = dev.tensor_from_vec(old, (n, m));
        let adv_values = adv.clone();
        let adv = dev.tensor_from_vec(adv, (n, m));
        // Dual clip (Ye et al., "Mastering complex control in MOBA games
        // with deep RL", AAAI 2020): for a negative advantage the objective
        // is bounded below by DUAL_CLIP × advantage. Without it, an op that
        // repair moved onto a chip the old policy thought unlikely has an
        // unbounded ratio, and one such op blew the loss up to 1e10.
        let floor: Vec<f32> = adv_values.iter().map(|a| DUAL_CLIP * a.min(0.0)).collect();
        let floor = dev.tensor_from_vec(floor, (n, m));
        // The log-ratio is clamped before `exp` too: such an op may sit on
        // a chip the sampling policy found hundreds of nats unlikely, and
        // `exp` of a log-ratio above 88 overflows f32 to +inf, whose
        // backward pass (0 · inf from the clips) fills every gradient with
        // NaN. Ratios beyond e^±20 are far outside the clip range, whose
        // gradient is zero there anyway, so the clamp changes no gradient.
        let ratio = (taken - old).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO).exp();
        let unclipped = ratio.with_empty_tape() * adv.clone();
        let clipped = ratio.clamp(1.0 - cfg.clip, 1.0 + cfg.clip) * adv;
        // Summed over ops (the joint action's log-probability is their sum),
        // averaged over episodes.
        let policy_loss = -unclipped
            .minimum(clipped)
            .maximum(floor)
            .sum::<(usize,), Axis<0>>()
            .mean();
        let ret = dev.tensor_from_vec(ret, (m,));
        let value_loss = (value.broadcast_like(&(m,)) - ret).square().mean();
        let (pl, vl, en) = (
            policy_loss.as_vec()[0],
            value_loss.as_vec()[0],
            entropy.as_vec()[0] / n.max(1) as f32,
        );
        let loss = policy_loss + value_loss * cfg.value_coef - entropy * cfg.entropy_coef;
        let mut grads = loss.backward();
        self.adam_step(&mut grads);
        (pl, vl, en)
    }

    /// Adam (β = 0.9, 0.999; ε = 1e-8) after clipping the gradient's global
    /// norm.
    fn adam_step(&mut self, grads: &mut Gradients<f32, Cpu>) {
        let cfg = self.config;
        let mut c = Collect {
            grads: Some(grads),
            out: Vec::new(),
        };
        self.net.visit(&mut c);
        let mut g = c.out;
        let norm = g
            .iter()
            .flatten()
            .map(|x| (*x as f64) * (*x as f64))
            .sum::<f64>()
            .sqrt();
        if norm > cfg.max_grad_norm as f64 {
            let scale = (cfg.max_grad_norm as f64 / norm) as f32;
            g.iter_mut().flatten().for_each(|x| *x *= scale);
        }
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        self.adam.step += 1;
        let t = self.adam.step as i32;
        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        let mut params = self.net.parameters();
        for (i, param) in params.iter_mut().enumerate() {
            let (m, v) = (&mut self.adam.m[i], &mut self.adam.v[i]);
            for j in 0..param.len() {
                let gj = g[i][j];
                m[j] = b1 * m[j] + (1.0 - b1) * gj;
                v[j] = b2 * v[j] + (1.0 - b2) * gj * gj;
                let step = cfg.learning_rate * (m[j] / c1) / ((v[j] / c2).sqrt() + eps);
                param[j] -= step;
            }
        }
        self.net.set_parameters(&params);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Problem;
    use crate::rl::EnvOptions;
    use sim::testkit::{DagSpace, PackageSpace, random_dag, random_package};

    /// A taken action the sampling policy thought e^-200 unlikely (as a
    /// repaired placement can be) once gave an infinite ratio and NaN
    /// weights from then on; the update stays finite.
    #[test]
    fn an_action_the_policy_found_impossible_leaves_the_weights_finite() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let env = loop {
            let g = random_dag(&DagSpace::broad(), &mut rng).unwrap();
            let s = random_package(&PackageSpace::broad(), &mut rng).unwrap();
            if s.n_chiplets() < 2 {
                continue;
            }
            if let Ok(env) = PartitionEnv::new(Problem::new(s, g), EnvOptions::default()) {
                break env;
            }
        };
        let mut t = Trainer::new(1, PpoConfig::default());
        let p = t.prepare(&env);
        let (n, m) = (p.n_ops(), 2);
        let idx = vec![0; n * m];
        let (old, adv) = (vec![-200.0; n * m], vec![-1.0; n * m]);
        let (pl, _, _) = t.update(&p, (n, m), idx, old, adv, vec![1.0; m]);
        assert!(pl.is_finite(), "{pl}");
        assert!(t.net.parameters().iter().flatten().all(|x| x.is_finite()));
    }

    fn small_env(seed: u64) -> PartitionEnv {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        loop {
            let g = random_dag(&DagSpace::broad(), &mut rng).unwrap();
            let s = random_package(&PackageSpace::broad(), &mut rng).unwrap();
            if s.n_chiplets() < 2 || g.ops().len() > 24 {
                continue;
            }
            if let Ok(env) = PartitionEnv::new(Problem::new(s, g), EnvOptions::default()) {
                break env;
            }
        }
    }

    /// Scores the episodes last first, each on an environment of its own
    /// built from the same problem and baseline, as a scorer on other
    /// machines does.
    struct Backwards;

    impl EpisodeScorer for Backwards {
        fn score(
            &mut self,
            env: &mut PartitionEnv,
            actions: &[Action],
        ) -> Result<Vec<EpisodeScore>, EnvError> {
            let mut out: Vec<EpisodeScore> = actions
                .iter()
                .rev()
                .map(|a| {
                    let mut e = PartitionEnv::with_baseline(
                        env.problem().clone(),
                        *env.options(),
                        env.baseline().clone(),
                    )?;
                    e.reset(None);
                    e.step(a).map(|s| EpisodeScore::of(&s))
                })
                .collect::<Result<_, _>>()?;
            out.reverse();
            Ok(out)
        }
    }

    /// Fails the first `left` calls, then steps as [`StepEach`] does.
    struct FailsFirst {
        left: usize,
    }

    impl EpisodeScorer for FailsFirst {
        fn score(
            &mut self,
            env: &mut PartitionEnv,
            actions: &[Action],
        ) -> Result<Vec<EpisodeScore>, EnvError> {
            if self.left > 0 {
                self.left -= 1;
                return Err(EnvError::Interrupted);
            }
            StepEach.score(env, actions)
        }
    }

    fn weights_after(batches: usize, scorer: &mut dyn EpisodeScorer) -> (Vec<Vec<f32>>, Vec<f64>) {
        let mut env = small_env(11);
        let config = PpoConfig {
            episodes_per_batch: 6,
            repair_by_log_prob: true,
            ..PpoConfig::default()
        };
        let mut t = Trainer::new(3, config);
        let p = t.prepare(&env);
        let mut rewards = Vec::new();
        let mut done = 0;
        while done < batches {
            match t.train_batch_scored(&mut env, &p, scorer) {
                Ok(stats) => {
                    rewards.push(stats.mean_reward);
                    done += 1;
                }
                Err(EnvError::Interrupted) => {}
                Err(e) => panic!("{e}"),
            }
        }
        (t.net.parameters(), rewards)
    }

    #[test]
    fn a_batch_is_the_same_whoever_scores_its_episodes() {
        let here = weights_after(3, &mut StepEach);
        assert_eq!(weights_after(3, &mut Backwards), here);
        for threads in [2, 4, 9] {
            assert_eq!(weights_after(3, &mut ThreadScorer::new(threads)), here);
        }
        // Scoring that fails leaves the trainer as it was: taking the batch
        // again gives what an unbroken run gives.
        assert_eq!(weights_after(3, &mut FailsFirst { left: 2 }), here);
        // And the weights did move (the comparison can fail).
        let start = Trainer::new(3, PpoConfig::default()).net.parameters();
        assert_ne!(here.0, start);
    }
}
