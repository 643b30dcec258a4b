//! The evolution loop, after αNAS (Jin, Phothilimthana and Roy, OOPSLA
//! 2022, §5): a population seeded with one network, grown a generation at a
//! time by mutating parents, training the children and scoring them, and
//! cut back to the Pareto front of (validation accuracy ↑, cost ↓) plus the
//! most accurate others. Made hardware-aware by the cost: any
//! [`Objective`] — parameters, MACs, or the simulated package's latency,
//! throughput or energy.
//!
//! # One trial
//! Trial 0 is the seed network, trained and scored; if it cannot be, the
//! search stops with an error (there is nothing to evolve from). Trial
//! `t ≥ 1`:
//! 1. A generator is seeded from `(seed, t)` ([`derive_seed`]), so each trial's
//!    draws depend on nothing but the seed, the trial index and the state the
//!    earlier trials left.
//! 2. A parent is chosen: with probability [`EvolveConfig::front_bias`] a
//!    member of the current Pareto front, else any member of the population,
//!    uniformly (members taken in trial order).
//! 3. The runner mutates it ([`TrialRunner::mutate`]). A failure is recorded
//!    as `mutation_failed`.
//! 4. The child's [`Net::fingerprint`] is looked up among every network seen
//!    so far; a repeat is recorded as `duplicate` and not trained. It still
//!    counts as a trial: the budget is of trials, not of trainings. After
//!    [`EvolveConfig::max_consecutive_duplicates`] duplicates in a row the
//!    search stops early ([`Stop::Exhausted`]): the mutations keep finding
//!    the same networks.
//! 5. The runner trains and scores the child ([`TrialRunner::evaluate`]).
//!    Failing to train is `training_failed`; a child whose objective cost is
//!    unknown (e.g. the partitioner found no valid placement) is `unscored`.
//!    Neither joins the population.
//! 6. A scored child joins the population, which is then cut back
//!    ([`select`]).
//!
//! # Generations
//! Trials run in generations of [`EvolveConfig::generation_size`] `k`,
//! aligned to trial numbers: trial 0 (the seed) is alone, and generation
//! `g ≥ 0` holds trials `1 + g·k .. 1 + (g + 1)·k` (the last one cut at the
//! budget). Steps 1–4 run for every trial of a generation in trial order
//! before any child is evaluated, every parent drawn from the population as
//! it was when the generation began (a duplicate is one of anything seen
//! before, an earlier child of the same generation included; the
//! duplicates cap ends the generation early). Then the children that need
//! it are evaluated together ([`TrialRunner::evaluate_batch`], in any order
//! or in parallel: each evaluation depends on its trial alone), their
//! results applied in trial order, and the population is cut back once,
//! with every scored child of the generation added in trial order. So the
//! search does not depend on how many workers evaluate a generation; with
//! `k = 1` it is the one-trial-at-a-time loop above.
//!
//! A run may end inside a generation (its trial budget). The scored
//! children of that unfinished generation are then *pending*: kept in the
//! state and the checkpoint apart from the population, which stays the
//! generation's start population (the parents of its remaining trials, if
//! the run is continued for more trials), and cut back together with them
//! when the generation completes. What callers see
//! ([`Evolution::population`], [`Evolution::front`],
//! [`Evolution::seed_member`]) is the population as the cut would leave it
//! with the pending members in: `select(population ++ pending)`.
//!
//! # Selection
//! The population keeps every member of the Pareto front (no member has at
//! least its accuracy and at most its cost with one of the two strictly
//! better; of members with equal accuracy and cost, the earliest trial), the
//! seed always (it anchors the comparison the summary makes), and then the
//! most accurate others (ties: lower cost, then earlier trial) until it has
//! `population` members. A front larger than `population` is kept whole, so
//! the population may then exceed it.
//!
//! # Determinism and resuming
//! Nothing that decides reads the clock: wall-clock seconds are kept apart
//! ([`Timing`]), never in a record or the checkpoint. The checkpoint
//! ([`Evolution::checkpoint_json`]) holds the configuration digest, every
//! trial record, the population with its networks, the pending members
//! (if any) and the fingerprints seen; floats are written as their shortest exact decimal text, so they
//! read back bit for bit. A run resumed from any checkpoint continues with
//! the same trials as one that never stopped, and writes the same bytes.
//!
//! # Hypervolume
//! [`hypervolume`] measures a front in the plane (accuracy ↑, cost ↓)
//! against the reference point (accuracy 0, cost `reference_cost`): the area
//! of the region every point of which some front member beats, divided by
//! the area of the box `[0, 1] × [0, reference_cost]`, so it is a fraction in
//! `[0, 1]`. [`reference_cost`] is the seed's cost × [`HV_COST_FACTOR`] (2):
//! a member up to twice as costly as the seed still counts.

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The generator every trial draws from, re-exported so a runner can name it.
pub use rand_chacha::ChaCha8Rng;

use agent::partition::derive_seed;

use crate::cost::{Costs, Objective};
use crate::ir::Net;
use crate::mutate::Child;

/// The checkpoint format's name and version.
pub const CHECKPOINT_FORMAT: &str = "tessera-nas";
pub const CHECKPOINT_VERSION: u32 = 1;

/// The hypervolume's reference cost is the seed's cost times this.
pub const HV_COST_FACTOR: f64 = 2.0;

/// What the search is asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct EvolveConfig {
    /// Trials in all, the seed's (trial 0) included; a resumed run counts
    /// the checkpoint's.
    pub trials: u64,
    /// Members kept besides the front and the seed (see [`select`]).
    pub population: usize,
    pub seed: u64,
    pub objective: Objective,
    /// Chance of drawing the parent from the Pareto front rather than from
    /// the whole population.
    pub front_bias: f64,
    /// Duplicates in a row after which the search stops.
    pub max_consecutive_duplicates: u64,
    /// Trials per generation (at least 1): their parents and mutations are
    /// fixed before any of them is evaluated (see the module's
    /// "Generations").
    pub generation_size: usize,
    /// A digest of everything else that decides the outcome (the seed
    /// network, the data, training, mutation and cost settings), made by
    /// the caller; a checkpoint of another digest is refused.
    pub digest: String,
}

impl EvolveConfig {
    /// The settings this module defines the meaning of, with the caller's
    /// trials, population, seed, objective and digest.
    pub fn new(
        trials: u64,
        population: usize,
        seed: u64,
        objective: Objective,
        digest: String,
    ) -> EvolveConfig {
        EvolveConfig {
            trials,
            population,
            seed,
            objective,
            front_bias: 0.8,
            max_consecutive_duplicates: 50,
            generation_size: 1,
            digest,
        }
    }

    /// What must agree between a checkpoint and the run resuming it
    /// (everything but the number of trials, which may grow). A generation
    /// size of 1 is left out, so checkpoints written before generations
    /// existed still read.
    fn fingerprint(&self) -> String {
        let mut f = format!(
            "population={} seed={} objective={} front_bias={} max_consecutive_duplicates={} digest={}",
            self.population,
            self.seed,
            self.objective.name(),
            self.front_bias,
            self.max_consecutive_duplicates,
            self.digest
        );
        if self.generation_size != 1 {
            f.push_str(&format!(" generation_size={}", self.generation_size));
        }
        f
    }

    /// The trial that ends (exclusive) the generation holding trial `t ≥ 1`,
    /// the budget aside.
    fn generation_end(&self, t: u64) -> u64 {
        let k = self.generation_size.max(1) as u64;
        1 + ((t - 1) / k + 1) * k
    }

    /// The first trial of the generation holding trial `t ≥ 1`.
    fn generation_start(&self, t: u64) -> u64 {
        let k = self.generation_size.max(1) as u64;
        1 + (t - 1) / k * k
    }
}

/// What a trained and scored network measured (serialisable, for trials
/// evaluated on other machines).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub val_accuracy: f64,
    pub costs: Costs,
    /// Wall-clock seconds of training and of scoring (for the record only).
    pub train_wall_s: f64,
    pub score_wall_s: f64,
}

/// Why a network could not be evaluated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EvaluateError {
    /// Training failed (e.g. the network's output is not one score per class).
    Training(String),
    /// Costing failed (e.g. the lowered graph exceeds the simulator's limits).
    Costing(String),
}

/// What evolution needs from the outside: mutations, and training with
/// scoring. The command implements it with [`crate::mutate::mutate`],
/// [`crate::train::train`] and [`crate::cost::costs`]; tests with fakes.
pub trait TrialRunner {
    /// One child of `parent`, drawing only from `rng`.
    fn mutate(&mut self, parent: &Net, rng: &mut ChaCha8Rng) -> Result<Child, String>;
    /// Trains and scores `net`, the network of trial `trial` (training is
    /// seeded from it, so evaluating the same trial again gives the same
    /// result).
    fn evaluate(&mut self, net: &Net, trial: u64) -> Result<Evaluation, EvaluateError>;
    /// Evaluates a generation's children, `(trial, network)` each, and
    /// returns one result per job in job order. Each result must be what
    /// [`TrialRunner::evaluate`] gives for that job alone, so a runner may
    /// evaluate the jobs in any order, in parallel or elsewhere; by default
    /// they are evaluated one after the other. A runner that cannot finish
    /// the batch (its workers were interrupted, say) returns fewer results:
    /// the generation is then an error and leaves the search as it was
    /// before it.
    fn evaluate_batch(&mut self, jobs: &[(u64, &Net)]) -> Vec<Result<Evaluation, EvaluateError>> {
        jobs.iter()
            .map(|&(trial, net)| self.evaluate(net, trial))
            .collect()
    }
}

/// How a trial ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Trained and scored; it joined the population (perhaps to be cut).
    Trained,
    /// Its network had been seen before; not trained.
    Duplicate,
    MutationFailed,
    TrainingFailed,
    /// Trained, but its objective cost is unknown (no valid placement, or
    /// costing failed).
    Unscored,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Trained => "trained",
            Outcome::Duplicate => "duplicate",
            Outcome::MutationFailed => "mutation_failed",
            Outcome::TrainingFailed => "training_failed",
            Outcome::Unscored => "unscored",
        }
    }
}

/// One trial, as `trials.csv` and the checkpoint hold it. Measurements are
/// `None` where the trial did not get that far (or there is no hardware).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    pub trial: u64,
    /// `None` for the seed.
    pub parent: Option<u64>,
    /// `seed`, or the mutation's kind (`rewrite`, `duplicate`, `delete`);
    /// empty when mutation failed.
    pub kind: String,
    pub block: String,
    pub props_before: String,
    pub props_after: String,
    pub synth_steps: u64,
    /// Empty when mutation failed.
    pub fingerprint: String,
    pub outcome: Outcome,
    /// Why the trial failed, empty otherwise.
    pub message: String,
    pub params: Option<u64>,
    pub macs: Option<u64>,
    /// Whether the partitioner found a valid placement (`None`: no hardware).
    pub placement_valid: Option<bool>,
    pub latency_cycles: Option<u64>,
    #[serde(with = "opt_f64_text")]
    pub latency_us: Option<f64>,
    #[serde(with = "opt_f64_text")]
    pub throughput_per_s: Option<f64>,
    #[serde(with = "opt_f64_text")]
    pub energy_mj_per_inference: Option<f64>,
    #[serde(with = "opt_f64_text")]
    pub val_accuracy: Option<f64>,
    /// The objective's value.
    #[serde(with = "opt_f64_text")]
    pub cost: Option<f64>,
}

impl TrialRecord {
    fn new(trial: u64, parent: Option<u64>) -> TrialRecord {
        TrialRecord {
            trial,
            parent,
            kind: String::new(),
            block: String::new(),
            props_before: String::new(),
            props_after: String::new(),
            synth_steps: 0,
            fingerprint: String::new(),
            outcome: Outcome::MutationFailed,
            message: String::new(),
            params: None,
            macs: None,
            placement_valid: None,
            latency_cycles: None,
            latency_us: None,
            throughput_per_s: None,
            energy_mj_per_inference: None,
            val_accuracy: None,
            cost: None,
        }
    }

    fn set_costs(&mut self, c: &Costs) {
        self.params = Some(c.params);
        self.macs = Some(c.macs);
        if let Some(s) = &c.sim {
            self.placement_valid = Some(s.valid);
            if s.valid {
                self.latency_cycles = Some(s.latency_cycles);
                self.latency_us = Some(s.latency_us);
                self.throughput_per_s = Some(s.throughput_per_s);
                self.energy_mj_per_inference = Some(s.energy_mj_per_inference);
            }
        }
    }
}

/// Wall-clock seconds of one trial's training and scoring: reported, never
/// decided on, and not in the checkpoint (a resumed run times only its own
/// trials).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    pub trial: u64,
    pub train_wall_s: f64,
    pub score_wall_s: f64,
}

/// A network in the population.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub trial: u64,
    pub net: Net,
    #[serde(with = "f64_text")]
    pub val_accuracy: f64,
    /// The objective's value.
    #[serde(with = "f64_text")]
    pub cost: f64,
}

/// Why the search stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Every trial ran.
    Budget,
    /// Too many duplicates in a row.
    Exhausted,
    /// The caller asked it to stop (Ctrl-C).
    Interrupted,
}

/// Why the search cannot go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvolveError(pub String);

impl std::fmt::Display for EvolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EvolveError {}

/// Everything a checkpoint holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    format: String,
    version: u32,
    /// [`EvolveConfig::fingerprint`] of the run that wrote it.
    config: String,
    seed_net: Net,
    records: Vec<TrialRecord>,
    /// In trial order; as it was when the generation under way began.
    population: Vec<Member>,
    /// The scored children of a generation the run ended inside of (its
    /// trial budget), in trial order: not cut back yet (see the module's
    /// "Generations"). Absent from the file when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pending: Vec<Member>,
    /// Every fingerprint seen, ascending.
    seen: BTreeSet<String>,
    consecutive_duplicates: u64,
    /// Set once the duplicates cap stopped the search.
    exhausted: bool,
}

/// A search under way.
pub struct Evolution {
    config: EvolveConfig,
    state: State,
    /// `select(population ++ pending)`: what [`Evolution::population`]
    /// shows; the population itself while nothing is pending.
    view: Vec<Member>,
    timings: Vec<Timing>,
    resumed_at: Option<u64>,
}

impl Evolution {
    /// A search from `seed_net` (trial 0 not run yet).
    pub fn new(config: EvolveConfig, seed_net: Net) -> Evolution {
        let state = State {
            format: CHECKPOINT_FORMAT.to_string(),
            version: CHECKPOINT_VERSION,
            config: config.fingerprint(),
            seed_net,
            records: Vec::new(),
            population: Vec::new(),
            pending: Vec::new(),
            seen: BTreeSet::new(),
            consecutive_duplicates: 0,
            exhausted: false,
        };
        Evolution {
            config,
            state,
            view: Vec::new(),
            timings: Vec::new(),
            resumed_at: None,
        }
    }

    /// A search continued from a checkpoint's text, which must be of this
    /// configuration (all but `trials`), of `seed_net`, and not past
    /// `trials`.
    pub fn resume(
        config: EvolveConfig,
        seed_net: &Net,
        text: &str,
    ) -> Result<Evolution, EvolveError> {
        let state: State = serde_json::from_str(text)
            .map_err(|e| EvolveError(format!("not a search checkpoint: {e}")))?;
        if state.format != CHECKPOINT_FORMAT || state.version != CHECKPOINT_VERSION {
            return Err(EvolveError(format!(
                "a checkpoint of format {:?} version {}, expected {CHECKPOINT_FORMAT:?} version {CHECKPOINT_VERSION}",
                state.format, state.version
            )));
        }
        let want = config.fingerprint();
        if state.config != want {
            return Err(EvolveError(format!(
                "the checkpoint is of another search: {}",
                first_difference(&state.config, &want)
            )));
        }
        if state.seed_net.fingerprint() != seed_net.fingerprint() {
            return Err(EvolveError(
                "the checkpoint starts from another seed network".to_string(),
            ));
        }
        let done = state.records.len() as u64;
        if done > config.trials {
            return Err(EvolveError(format!(
                "the checkpoint is at trial {done}, past the {} trials of this run",
                config.trials
            )));
        }
        if config.generation_size == 0 {
            return Err(EvolveError(
                "the generation size must be at least 1".to_string(),
            ));
        }
        check_consistent(&state, &config)?;
        let mut e = Evolution {
            config,
            state,
            view: Vec::new(),
            timings: Vec::new(),
            resumed_at: Some(done),
        };
        e.refresh_view();
        Ok(e)
    }

    /// The checkpoint: every trial so far and what the next one needs.
    pub fn checkpoint_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.state).expect("state serialises");
        text.push('\n');
        text
    }

    pub fn config(&self) -> &EvolveConfig {
        &self.config
    }

    /// Trials done (the checkpoint's included).
    pub fn trials_done(&self) -> u64 {
        self.state.records.len() as u64
    }

    /// The trial count at which this run resumed a checkpoint.
    pub fn resumed_at(&self) -> Option<u64> {
        self.resumed_at
    }

    /// Whether no trial is left to run (budget spent or duplicates cap hit).
    pub fn finished(&self) -> bool {
        self.state.exhausted || self.trials_done() >= self.config.trials
    }

    /// Why the search is finished, when it is.
    pub fn stop_reason(&self) -> Option<Stop> {
        if self.state.exhausted {
            Some(Stop::Exhausted)
        } else if self.trials_done() >= self.config.trials {
            Some(Stop::Budget)
        } else {
            None
        }
    }

    pub fn records(&self) -> &[TrialRecord] {
        &self.state.records
    }

    /// Wall-clock times of the trials this run evaluated.
    pub fn timings(&self) -> &[Timing] {
        &self.timings
    }

    /// The population, in trial order, as the cut would leave it now: with
    /// the pending members of an unfinished generation (if any) added and
    /// cut back, `select(population ++ pending)`. That is what the search
    /// found so far; the parents of the unfinished generation's remaining
    /// trials still come from the population without them.
    pub fn population(&self) -> &[Member] {
        &self.view
    }

    /// The scored children of the unfinished generation the run ended
    /// inside of, in trial order (empty at a generation's end).
    pub fn pending(&self) -> &[Member] {
        &self.state.pending
    }

    /// The seed's member, once trial 0 ran.
    pub fn seed_member(&self) -> Option<&Member> {
        self.view.iter().find(|m| m.trial == 0)
    }

    pub fn seed_net(&self) -> &Net {
        &self.state.seed_net
    }

    /// The Pareto front of the population ([`Evolution::population`], so
    /// pending members included), in trial order.
    pub fn front(&self) -> Vec<&Member> {
        let pop = &self.view;
        front_indices(pop).into_iter().map(|i| &pop[i]).collect()
    }

    /// Runs generations until the budget is spent, the duplicates cap is
    /// hit, or `stop` says so (asked before each generation: one under way
    /// always finishes); `after_generation` is told after each one (trial 0
    /// is a generation of its own, and so is the rest of a generation a
    /// resumed run finishes).
    pub fn run(
        &mut self,
        runner: &mut impl TrialRunner,
        mut stop: impl FnMut() -> bool,
        mut after_generation: impl FnMut(&Evolution),
    ) -> Result<Stop, EvolveError> {
        loop {
            if let Some(reason) = self.stop_reason() {
                return Ok(reason);
            }
            if stop() {
                return Ok(Stop::Interrupted);
            }
            self.step_generation(runner)?;
            after_generation(self);
        }
    }

    /// Runs the next generation (or the rest of the one a run ended inside
    /// of), up to the budget.
    pub fn step_generation(&mut self, runner: &mut impl TrialRunner) -> Result<(), EvolveError> {
        if self.config.generation_size == 0 {
            return Err(EvolveError(
                "the generation size must be at least 1".to_string(),
            ));
        }
        let first = self.trials_done();
        if first == 0 {
            self.run_seed(runner)?;
            self.refresh_view();
            return Ok(());
        }
        let end = self.config.generation_end(first);
        let last = end.min(self.config.trials);
        // Steps 1–4 for every trial, parents from the generation's start
        // population (cut back only at its end).
        let (seen_before, duplicates_before, exhausted_before) = (
            self.state.seen.clone(),
            self.state.consecutive_duplicates,
            self.state.exhausted,
        );
        let mut records: Vec<TrialRecord> = Vec::new();
        // (index into `records`, the child's network) of the children to
        // evaluate.
        let mut children: Vec<(usize, Net)> = Vec::new();
        for t in first..last {
            let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.config.seed, t));
            let parent = self.choose_parent(&mut rng);
            let mut rec = TrialRecord::new(t, Some(parent.trial));
            let child = match runner.mutate(&parent.net, &mut rng) {
                Ok(c) => c,
                Err(e) => {
                    rec.outcome = Outcome::MutationFailed;
                    rec.message = e;
                    self.state.consecutive_duplicates = 0;
                    records.push(rec);
                    continue;
                }
            };
            rec.kind = child.kind.to_string();
            rec.block = child.block.clone();
            rec.props_before = child.props_before.clone();
            rec.props_after = child.props_after.clone();
            rec.synth_steps = child.synth_steps;
            rec.fingerprint = child.net.fingerprint();
            if !self.state.seen.insert(rec.fingerprint.clone()) {
                rec.outcome = Outcome::Duplicate;
                records.push(rec);
                self.state.consecutive_duplicates += 1;
                if self.state.consecutive_duplicates >= self.config.max_consecutive_duplicates {
                    self.state.exhausted = true;
                    break;
                }
                continue;
            }
            self.state.consecutive_duplicates = 0;
            children.push((records.len(), child.net));
            records.push(rec);
        }
        // Step 5 for every child at once.
        let jobs: Vec<(u64, &Net)> = children
            .iter()
            .map(|(i, net)| (records[*i].trial, net))
            .collect();
        let results = match evaluate_batch(runner, &jobs) {
            Ok(r) => r,
            Err(e) => {
                // Nothing of the generation is kept: the search stands as
                // it was before it (what its mutations changed restored),
                // so it can be taken again.
                self.state.seen = seen_before;
                self.state.consecutive_duplicates = duplicates_before;
                self.state.exhausted = exhausted_before;
                return Err(e);
            }
        };
        // Step 6 in trial order.
        for ((i, net), result) in children.into_iter().zip(results) {
            let rec = &mut records[i];
            if let Some(member) = self.apply(rec, net, result) {
                self.state.pending.push(member);
            }
        }
        self.state.records.extend(records);
        let complete = self.trials_done() == end || self.state.exhausted;
        if complete && !self.state.pending.is_empty() {
            let mut pop = std::mem::take(&mut self.state.population);
            pop.append(&mut self.state.pending);
            self.state.population = select(pop, self.config.population);
        }
        self.refresh_view();
        Ok(())
    }

    /// A child's evaluation written into its record (and its time into the
    /// timings); the member it makes if it was scored.
    fn apply(
        &mut self,
        rec: &mut TrialRecord,
        net: Net,
        result: Result<Evaluation, EvaluateError>,
    ) -> Option<Member> {
        match result {
            Ok(ev) => {
                self.timings.push(Timing {
                    trial: rec.trial,
                    train_wall_s: ev.train_wall_s,
                    score_wall_s: ev.score_wall_s,
                });
                rec.val_accuracy = Some(ev.val_accuracy);
                rec.set_costs(&ev.costs);
                match self.config.objective.value(&ev.costs) {
                    Some(cost) if cost.is_finite() && ev.val_accuracy.is_finite() => {
                        rec.cost = Some(cost);
                        rec.outcome = Outcome::Trained;
                        return Some(Member {
                            trial: rec.trial,
                            net,
                            val_accuracy: ev.val_accuracy,
                            cost,
                        });
                    }
                    _ => {
                        rec.outcome = Outcome::Unscored;
                        rec.message = format!(
                            "its {} is unknown (no valid placement)",
                            self.config.objective.name()
                        );
                    }
                }
            }
            Err(EvaluateError::Training(e)) => {
                rec.outcome = Outcome::TrainingFailed;
                rec.message = e;
            }
            Err(EvaluateError::Costing(e)) => {
                rec.outcome = Outcome::Unscored;
                rec.message = e;
            }
        }
        None
    }

    /// Recomputes what [`Evolution::population`] shows.
    fn refresh_view(&mut self) {
        self.view = if self.state.pending.is_empty() {
            self.state.population.clone()
        } else {
            let mut pop = self.state.population.clone();
            pop.extend(self.state.pending.iter().cloned());
            select(pop, self.config.population)
        };
    }

    /// Trial 0: the seed, which must train and score.
    fn run_seed(&mut self, runner: &mut impl TrialRunner) -> Result<(), EvolveError> {
        let net = self.state.seed_net.clone();
        let mut rec = TrialRecord::new(0, None);
        rec.kind = "seed".to_string();
        rec.fingerprint = net.fingerprint();
        let ev = evaluate_batch(runner, &[(0, &net)])?
            .pop()
            .expect("one result for one job");
        let ev = ev.map_err(|e| match e {
            EvaluateError::Training(m) => {
                EvolveError(format!("the seed network cannot be trained: {m}"))
            }
            EvaluateError::Costing(m) => {
                EvolveError(format!("the seed network cannot be costed: {m}"))
            }
        })?;
        rec.val_accuracy = Some(ev.val_accuracy);
        rec.set_costs(&ev.costs);
        let Some(cost) = self
            .config
            .objective
            .value(&ev.costs)
            .filter(|c| c.is_finite())
        else {
            return Err(EvolveError(format!(
                "the seed network's {} is unknown (the partitioner found no valid placement for it); \
                 a smaller seed or another package is needed",
                self.config.objective.name()
            )));
        };
        rec.cost = Some(cost);
        rec.outcome = Outcome::Trained;
        self.timings.push(Timing {
            trial: 0,
            train_wall_s: ev.train_wall_s,
            score_wall_s: ev.score_wall_s,
        });
        self.state.seen.insert(rec.fingerprint.clone());
        self.state.population = vec![Member {
            trial: 0,
            net,
            val_accuracy: ev.val_accuracy,
            cost,
        }];
        self.state.records.push(rec);
        Ok(())
    }

    /// A parent: from the front with probability `front_bias`, else from
    /// the whole population.
    fn choose_parent(&self, rng: &mut ChaCha8Rng) -> &Member {
        let pop = &self.state.population;
        let from_front = rng.gen_bool(self.config.front_bias.clamp(0.0, 1.0));
        if from_front {
            let front = front_indices(pop);
            &pop[front[rng.gen_range(0..front.len())]]
        } else {
            &pop[rng.gen_range(0..pop.len())]
        }
    }
}

/// The runner's results for `jobs`, which must be one per job.
fn evaluate_batch(
    runner: &mut impl TrialRunner,
    jobs: &[(u64, &Net)],
) -> Result<Vec<Result<Evaluation, EvaluateError>>, EvolveError> {
    let results = runner.evaluate_batch(jobs);
    if results.len() != jobs.len() {
        return Err(EvolveError(format!(
            "the trial runner gave {} results for {} networks",
            results.len(),
            jobs.len()
        )));
    }
    Ok(results)
}

/// A checkpoint's population, pending members and records must agree (a
/// hand-edited or damaged file is refused rather than continued from).
fn check_consistent(s: &State, config: &EvolveConfig) -> Result<(), EvolveError> {
    let bad = |why: &str| Err(EvolveError(format!("the checkpoint is damaged: {why}")));
    if s.records.is_empty() != s.population.is_empty() {
        return bad("its population does not match its trials");
    }
    if !s.records.is_empty() && !s.population.iter().any(|m| m.trial == 0) {
        return bad("its population lacks the seed");
    }
    for (i, r) in s.records.iter().enumerate() {
        if r.trial != i as u64 {
            return bad(&format!("record {i} is of trial {}", r.trial));
        }
    }
    // Inside a generation (the run ended at its budget) every scored child
    // of it so far is pending, and nothing else is; at a generation's end,
    // or once the duplicates cap ended the search, nothing is pending.
    let done = s.records.len() as u64;
    let unfinished = done >= 2 && !s.exhausted && config.generation_end(done - 1) != done;
    let expected: Vec<u64> = if unfinished {
        (config.generation_start(done - 1)..done)
            .filter(|&t| s.records[t as usize].outcome == Outcome::Trained)
            .collect()
    } else {
        Vec::new()
    };
    let pending: Vec<u64> = s.pending.iter().map(|m| m.trial).collect();
    if pending != expected {
        return bad(&format!(
            "its pending members are of trials {pending:?}, its records call for {expected:?}"
        ));
    }
    if unfinished
        && s.population
            .iter()
            .any(|m| m.trial >= config.generation_start(done - 1))
    {
        return bad("its population holds a member of the unfinished generation");
    }
    for m in s.population.iter().chain(&s.pending) {
        let Some(r) = s.records.get(m.trial as usize) else {
            return bad(&format!("member of trial {} has no record", m.trial));
        };
        let same = r.outcome == Outcome::Trained
            && r.fingerprint == m.net.fingerprint()
            && r.val_accuracy.map(f64::to_bits) == Some(m.val_accuracy.to_bits())
            && r.cost.map(f64::to_bits) == Some(m.cost.to_bits());
        if !same || m.net.validate().is_err() {
            return bad(&format!(
                "member of trial {} does not match its record",
                m.trial
            ));
        }
    }
    Ok(())
}

/// The first setting that differs between two fingerprints (`key=value`
/// pairs; a key one of them leaves out has its default there).
fn first_difference(had: &str, want: &str) -> String {
    let split = |f: &str| -> Vec<(String, String)> {
        f.split(' ')
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (p.to_string(), String::new()),
            })
            .collect()
    };
    let (had, want) = (split(had), split(want));
    let value = |pairs: &[(String, String)], key: &str| -> String {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| fingerprint_default(key).to_string())
    };
    let keys = want.iter().chain(&had).map(|(k, _)| k.as_str());
    for key in keys {
        let (a, b) = (value(&had, key), value(&want, key));
        if a != b {
            return format!("{key} was {a} there, is {b} here");
        }
    }
    "its settings differ".to_string()
}

/// The value a fingerprint key stands for when it is left out.
fn fingerprint_default(key: &str) -> &'static str {
    match key {
        "generation_size" => "1",
        _ => "absent",
    }
}

/// Whether `a` dominates `b`: at least as accurate and at most as costly,
/// one strictly; or equal in both and earlier.
fn dominates(a: &Member, b: &Member) -> bool {
    let ge = a.val_accuracy >= b.val_accuracy && a.cost <= b.cost;
    let strict = a.val_accuracy > b.val_accuracy || a.cost < b.cost;
    ge && (strict || a.trial < b.trial)
}

/// Indices of the non-dominated members, ascending.
fn front_indices(pop: &[Member]) -> Vec<usize> {
    (0..pop.len())
        .filter(|&i| !pop.iter().any(|o| dominates(o, &pop[i])))
        .collect()
}

/// The population cut back: the Pareto front, the seed (trial 0), then the
/// most accurate others (ties: lower cost, earlier trial) until it has
/// `size` members; returned in trial order.
pub fn select(pop: Vec<Member>, size: usize) -> Vec<Member> {
    let front: BTreeSet<usize> = front_indices(&pop).into_iter().collect();
    let mut keep: BTreeSet<usize> = front;
    if let Some(seed) = pop.iter().position(|m| m.trial == 0) {
        keep.insert(seed);
    }
    let mut others: Vec<usize> = (0..pop.len()).filter(|i| !keep.contains(i)).collect();
    others.sort_by(|&a, &b| {
        let (x, y) = (&pop[a], &pop[b]);
        y.val_accuracy
            .total_cmp(&x.val_accuracy)
            .then(x.cost.total_cmp(&y.cost))
            .then(x.trial.cmp(&y.trial))
    });
    for i in others {
        if keep.len() >= size {
            break;
        }
        keep.insert(i);
    }
    let mut out: Vec<Member> = pop
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, m)| m)
        .collect();
    out.sort_by_key(|m| m.trial);
    out
}

/// The hypervolume's reference cost for a seed of cost `seed_cost`.
pub fn reference_cost(seed_cost: f64) -> f64 {
    seed_cost * HV_COST_FACTOR
}

/// The fraction of the box `[0, 1] accuracy × [0, reference_cost] cost`
/// that the points (accuracy, cost) dominate: the union of the rectangles
/// from each point to the reference point (accuracy 0, cost
/// `reference_cost`). Points outside the box add nothing; dominated points
/// are allowed (they add nothing either). 0 for an empty set or a
/// reference cost that is not positive.
pub fn hypervolume(points: &[(f64, f64)], reference_cost: f64) -> f64 {
    if reference_cost.is_nan() || reference_cost <= 0.0 {
        return 0.0;
    }
    let mut pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|&(a, c)| a > 0.0 && c < reference_cost && a.is_finite() && c.is_finite())
        .map(|(a, c)| (a.min(1.0), c.max(0.0)))
        .collect();
    pts.sort_by(|x, y| x.1.total_cmp(&y.1).then(y.0.total_cmp(&x.0)));
    let mut area = 0.0;
    let mut best = 0.0f64;
    for (i, &(a, c)) in pts.iter().enumerate() {
        best = best.max(a);
        let next = pts.get(i + 1).map_or(reference_cost, |p| p.1);
        area += (next - c) * best;
    }
    area / reference_cost
}

/// Serde for `f64` as its shortest exact decimal text (JSON numbers are
/// not promised to read back bit for bit; Rust's float parsing is exact).
mod f64_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&x.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// [`f64_text`] for an optional value (`null` for `None`).
mod opt_f64_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(v) => s.serialize_some(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::SimCost;
    use crate::ir::{NetBuilder, Op, ValueId};

    /// A network of two dense layers of the given widths: the fake search
    /// space.
    fn net(w1: u64, w2: u64) -> Net {
        let mut b = NetBuilder::new("fake", &[4]);
        let x = b
            .push("d1", "b1", Op::Dense { units: w1 }, &[ValueId::INPUT])
            .unwrap();
        let x = b.push("r1", "b1", Op::Relu, &[x]).unwrap();
        let x = b.push("d2", "b2", Op::Dense { units: w2 }, &[x]).unwrap();
        let y = b.push("out", "head", Op::Dense { units: 3 }, &[x]).unwrap();
        b.finish(y)
    }

    fn widths(n: &Net) -> (u64, u64) {
        let w = |i: usize| match n.nodes[i].op {
            Op::Dense { units } => units,
            _ => unreachable!(),
        };
        (w(0), w(2))
    }

    /// Mutations double or halve one width (from 1 to 64); accuracy grows
    /// with the first width only; cost is parameters; latency is simulated
    /// as macs / 10 when `hardware`. Width 2 in the first layer fails to
    /// train; width 16 in the second fails to cost.
    struct Fake {
        hardware: bool,
        evaluated: Vec<u64>,
        /// How `evaluate_batch` runs a batch.
        batches: Batches,
        /// The size of every batch it was given.
        batch_sizes: Vec<usize>,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Batches {
        /// The trait's default: one job after the other.
        InOrder,
        /// The last job first.
        Reversed,
        /// Each job on a thread of its own.
        Threads,
        /// No result for the batch of this (0-based) call, as a runner
        /// whose workers were interrupted; in order otherwise.
        FailCall(usize),
    }

    impl Fake {
        fn new() -> Fake {
            Fake {
                hardware: false,
                evaluated: Vec::new(),
                batches: Batches::InOrder,
                batch_sizes: Vec::new(),
            }
        }

        fn batching(batches: Batches) -> Fake {
            Fake {
                batches,
                ..Fake::new()
            }
        }
    }

    /// The fake's training and scoring (see [`Fake`]).
    fn fake_evaluation(hardware: bool, n: &Net) -> Result<Evaluation, EvaluateError> {
        let (a, b) = widths(n);
        if a == 2 {
            return Err(EvaluateError::Training("width 2".into()));
        }
        if b == 16 {
            return Err(EvaluateError::Costing("width 16".into()));
        }
        let params = n.params().unwrap();
        let macs = n.macs().unwrap();
        // Wider first layers are more accurate; the second only costs.
        let acc = 1.0 - 1.0 / (1.0 + a as f64);
        Ok(Evaluation {
            val_accuracy: acc,
            costs: Costs {
                params,
                macs,
                sim: hardware.then(|| SimCost {
                    valid: true,
                    latency_cycles: macs / 10,
                    latency_us: macs as f64 / 10_000.0,
                    throughput_per_s: 1e6 / macs as f64,
                    energy_mj_per_inference: macs as f64 * 1e-6,
                    evaluations: 1,
                }),
            },
            train_wall_s: 0.5,
            score_wall_s: 0.25,
        })
    }

    impl TrialRunner for Fake {
        fn mutate(&mut self, parent: &Net, rng: &mut ChaCha8Rng) -> Result<Child, String> {
            let (mut a, mut b) = widths(parent);
            let which = rng.gen_range(0..4);
            let w = if which < 2 { &mut a } else { &mut b };
            *w = if which % 2 == 0 { *w * 2 } else { *w / 2 };
            if *w == 0 || *w > 64 {
                return Err(format!("width {w} is out of range"));
            }
            Ok(Child {
                net: net(a, b),
                kind: "rewrite",
                block: if which < 2 { "b1" } else { "b2" }.to_string(),
                props_before: String::new(),
                props_after: String::new(),
                synth_steps: 1,
            })
        }

        fn evaluate(&mut self, n: &Net, trial: u64) -> Result<Evaluation, EvaluateError> {
            self.evaluated.push(trial);
            fake_evaluation(self.hardware, n)
        }

        fn evaluate_batch(
            &mut self,
            jobs: &[(u64, &Net)],
        ) -> Vec<Result<Evaluation, EvaluateError>> {
            self.batch_sizes.push(jobs.len());
            match self.batches {
                Batches::InOrder => jobs.iter().map(|&(t, n)| self.evaluate(n, t)).collect(),
                Batches::FailCall(at) => {
                    if self.batch_sizes.len() == at + 1 {
                        return Vec::new();
                    }
                    jobs.iter().map(|&(t, n)| self.evaluate(n, t)).collect()
                }
                Batches::Reversed => {
                    let mut out: Vec<_> = jobs
                        .iter()
                        .rev()
                        .map(|&(t, n)| self.evaluate(n, t))
                        .collect();
                    out.reverse();
                    out
                }
                Batches::Threads => {
                    let hardware = self.hardware;
                    self.evaluated.extend(jobs.iter().map(|j| j.0));
                    std::thread::scope(|scope| {
                        let handles: Vec<_> = jobs
                            .iter()
                            .map(|&(_, n)| scope.spawn(move || fake_evaluation(hardware, n)))
                            .collect();
                        handles.into_iter().map(|h| h.join().unwrap()).collect()
                    })
                }
            }
        }
    }

    fn config(trials: u64) -> EvolveConfig {
        EvolveConfig::new(trials, 4, 7, Objective::Params, "fake".into())
    }

    /// [`config`] with generations of 4 trials.
    fn config4(trials: u64) -> EvolveConfig {
        EvolveConfig {
            generation_size: 4,
            ..config(trials)
        }
    }

    fn run_all(cfg: EvolveConfig) -> Evolution {
        let mut e = Evolution::new(cfg, net(8, 8));
        e.run(&mut Fake::new(), || false, |_| {}).unwrap();
        e
    }

    fn member(trial: u64, acc: f64, cost: f64) -> Member {
        Member {
            trial,
            net: net(1, 1),
            val_accuracy: acc,
            cost,
        }
    }

    #[test]
    fn the_front_is_exactly_the_non_dominated_members() {
        let pop = vec![
            member(0, 0.5, 10.0),
            member(1, 0.6, 12.0), // front: more accurate, costlier
            member(2, 0.4, 12.0), // dominated by 0 and 1
            member(3, 0.5, 8.0),  // dominates 0
            member(4, 0.5, 8.0),  // equal to 3, later: dominated
            member(5, 0.9, 30.0), // front
            member(6, 0.6, 12.0), // equal to 1, later: dominated
        ];
        assert_eq!(front_indices(&pop), vec![1, 3, 5]);
        // A brute-force restatement: a front member is beaten by nobody in
        // both coordinates, and every other member is.
        for (i, m) in pop.iter().enumerate() {
            let beaten = pop.iter().enumerate().any(|(j, o)| {
                j != i
                    && o.val_accuracy >= m.val_accuracy
                    && o.cost <= m.cost
                    && (o.val_accuracy > m.val_accuracy || o.cost < m.cost || j < i)
            });
            assert_eq!(front_indices(&pop).contains(&i), !beaten, "member {i}");
        }
    }

    #[test]
    fn selection_keeps_the_front_and_the_seed_then_the_most_accurate() {
        let pop = vec![
            member(0, 0.3, 10.0), // the seed, dominated by 3
            member(1, 0.7, 50.0),
            member(2, 0.6, 60.0),
            member(3, 0.4, 5.0),
            member(4, 0.65, 70.0),
            member(5, 0.2, 90.0),
        ];
        let kept: Vec<u64> = select(pop.clone(), 4).iter().map(|m| m.trial).collect();
        // Front {1, 3}, seed 0, then the most accurate other: 4 (0.65).
        assert_eq!(kept, vec![0, 1, 3, 4]);
        // Size smaller than front + seed: nothing of those is dropped.
        let kept: Vec<u64> = select(pop, 1).iter().map(|m| m.trial).collect();
        assert_eq!(kept, vec![0, 1, 3]);
    }

    #[test]
    fn the_seed_stays_in_the_population_however_it_is_beaten() {
        let e = run_all(config(40));
        assert!(e.population().iter().any(|m| m.trial == 0));
        assert!(e.population().len() >= 4);
        // And the seed was beaten: some member is at least as accurate and
        // cheaper, or more accurate.
        let seed = e.seed_member().unwrap().clone();
        assert!(
            e.front()
                .iter()
                .any(|m| m.trial != 0 && dominates(m, &seed))
        );
    }

    #[test]
    fn duplicates_are_recorded_and_never_trained() {
        let mut fake = Fake::new();
        let mut e = Evolution::new(config(60), net(8, 8));
        e.run(&mut fake, || false, |_| {}).unwrap();
        let recs = e.records();
        let dups: Vec<&TrialRecord> = recs
            .iter()
            .filter(|r| r.outcome == Outcome::Duplicate)
            .collect();
        assert!(!dups.is_empty(), "the fake space is small: repeats happen");
        for d in &dups {
            assert!(!fake.evaluated.contains(&d.trial), "trial {}", d.trial);
            assert!(d.val_accuracy.is_none());
            // An earlier trial had that network.
            assert!(
                recs[..d.trial as usize]
                    .iter()
                    .any(|r| r.fingerprint == d.fingerprint)
            );
        }
        // Every evaluated child is new.
        assert_eq!(distinct_evaluated(recs, &fake), fake.evaluated.len());
    }

    #[test]
    fn failures_are_recorded_with_their_outcome() {
        let e = run_all(config(120));
        let has = |o: Outcome| e.records().iter().any(|r| r.outcome == o);
        assert!(has(Outcome::MutationFailed));
        assert!(has(Outcome::TrainingFailed));
        assert!(has(Outcome::Unscored));
        for r in e.records() {
            let in_pop = e.population().iter().any(|m| m.trial == r.trial);
            if in_pop {
                assert_eq!(r.outcome, Outcome::Trained);
            }
            if r.outcome != Outcome::Trained {
                assert!(r.cost.is_none());
            }
            if matches!(
                r.outcome,
                Outcome::MutationFailed | Outcome::TrainingFailed | Outcome::Unscored
            ) {
                assert!(!r.message.is_empty());
            }
        }
    }

    #[test]
    fn too_many_duplicates_in_a_row_stop_the_search() {
        let mut cfg = config(500);
        cfg.max_consecutive_duplicates = 3;
        let mut e = Evolution::new(cfg, net(8, 8));
        let stop = e.run(&mut Fake::new(), || false, |_| {}).unwrap();
        assert_eq!(stop, Stop::Exhausted);
        let recs = e.records();
        assert!(recs.len() < 500);
        assert!(
            recs[recs.len() - 3..]
                .iter()
                .all(|r| r.outcome == Outcome::Duplicate)
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_search_and_another_seed_another() {
        let a = run_all(config(40));
        let b = run_all(config(40));
        assert_eq!(a.checkpoint_json(), b.checkpoint_json());
        let mut other = config(40);
        other.seed = 8;
        let c = run_all(other);
        assert_ne!(a.records(), c.records());
    }

    #[test]
    fn a_resumed_search_equals_an_uninterrupted_one() {
        let whole = run_all(config(40));
        for stop_at in [1u64, 2, 17, 39, 40] {
            let mut part = Evolution::new(config(40), net(8, 8));
            let mut n = 0;
            let reason = part
                .run(
                    &mut Fake::new(),
                    || {
                        n += 1;
                        n > stop_at as usize
                    },
                    |_| {},
                )
                .unwrap();
            assert_eq!(part.trials_done(), stop_at);
            if stop_at < 40 {
                assert_eq!(reason, Stop::Interrupted);
            }
            let text = part.checkpoint_json();
            let mut resumed = Evolution::resume(config(40), &net(8, 8), &text).unwrap();
            assert_eq!(resumed.resumed_at(), Some(stop_at));
            // The checkpoint reads back to the same state, bit for bit.
            assert_eq!(resumed.checkpoint_json(), text);
            resumed.run(&mut Fake::new(), || false, |_| {}).unwrap();
            assert_eq!(
                resumed.checkpoint_json(),
                whole.checkpoint_json(),
                "stopped at {stop_at}"
            );
        }
    }

    #[test]
    fn a_finished_search_continues_for_more_trials() {
        let whole = run_all(config(30));
        let part = run_all(config(20));
        let mut more = Evolution::resume(config(30), &net(8, 8), &part.checkpoint_json()).unwrap();
        more.run(&mut Fake::new(), || false, |_| {}).unwrap();
        assert_eq!(more.checkpoint_json(), whole.checkpoint_json());
    }

    #[test]
    fn a_foreign_or_damaged_checkpoint_is_refused() {
        let text = run_all(config(10)).checkpoint_json();
        let mut other = config(10);
        other.population = 5;
        let e = Evolution::resume(other, &net(8, 8), &text).err().unwrap();
        assert!(e.0.contains("population was 4 there, is 5 here"), "{e}");
        let mut other = config(10);
        other.digest = "else".into();
        let e = Evolution::resume(other, &net(8, 8), &text).err().unwrap();
        assert!(e.0.contains("digest was fake there, is else here"), "{e}");
        let e = Evolution::resume(config(10), &net(8, 16), &text)
            .err()
            .unwrap();
        assert!(e.0.contains("another seed network"), "{e}");
        let e = Evolution::resume(config(5), &net(8, 8), &text)
            .err()
            .unwrap();
        assert!(e.0.contains("past the 5 trials"), "{e}");
        assert!(Evolution::resume(config(10), &net(8, 8), "{").is_err());
        // A member's accuracy changed by hand.
        let seed_acc = run_all(config(10)).seed_member().unwrap().val_accuracy;
        let damaged = text.replacen(
            &format!("\"val_accuracy\": \"{seed_acc}\""),
            "\"val_accuracy\": \"0.99\"",
            1,
        );
        assert_ne!(damaged, text);
        let e = Evolution::resume(config(10), &net(8, 8), &damaged)
            .err()
            .unwrap();
        assert!(e.0.contains("damaged"), "{e}");
    }

    #[test]
    fn hardware_costs_are_recorded_and_can_be_the_objective() {
        let mut cfg = config(20);
        cfg.objective = Objective::Latency;
        let mut e = Evolution::new(cfg, net(8, 8));
        let mut fake = Fake::new();
        fake.hardware = true;
        e.run(&mut fake, || false, |_| {}).unwrap();
        let seed = &e.records()[0];
        assert_eq!(seed.placement_valid, Some(true));
        assert_eq!(seed.latency_cycles, Some(seed.macs.unwrap() / 10));
        assert_eq!(seed.cost, Some(seed.latency_cycles.unwrap() as f64));
        // Latency needs the hardware: without it the seed cannot be scored.
        let mut cfg = config(5);
        cfg.objective = Objective::Latency;
        let mut e = Evolution::new(cfg, net(8, 8));
        let err = e.run(&mut Fake::new(), || false, |_| {}).unwrap_err();
        assert!(err.0.contains("latency is unknown"), "{err}");
    }

    #[test]
    fn timings_are_kept_apart_from_the_checkpoint() {
        let e = run_all(config(10));
        assert_eq!(e.timings()[0].trial, 0);
        assert!(!e.checkpoint_json().contains("wall"));
    }

    #[test]
    fn hypervolume_of_hand_worked_fronts() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // One point (0.5, 2) against reference cost 4: a 0.5 × 2 rectangle
        // of the 1 × 4 box.
        assert!(close(hypervolume(&[(0.5, 2.0)], 4.0), 0.25));
        // Two points (0.5, 1) and (0.8, 3), reference 4: staircase
        // 0.5·(3 − 1) + 0.8·(4 − 3) = 1.8, over 4.
        assert!(close(hypervolume(&[(0.8, 3.0), (0.5, 1.0)], 4.0), 0.45));
        // A dominated point adds nothing.
        assert!(close(
            hypervolume(&[(0.8, 3.0), (0.5, 1.0), (0.4, 2.0)], 4.0),
            0.45
        ));
        // Points beyond the reference cost add nothing; no points, nothing.
        assert!(close(hypervolume(&[(0.9, 5.0)], 4.0), 0.0));
        assert!(close(hypervolume(&[], 4.0), 0.0));
        // A perfect free network fills the box.
        assert!(close(hypervolume(&[(1.0, 0.0)], 4.0), 1.0));
        assert!(close(reference_cost(3.0), 6.0));
        // A better front has a larger hypervolume.
        assert!(hypervolume(&[(0.6, 1.0), (0.8, 3.0)], 4.0) > 0.45);
    }

    #[test]
    fn networks_round_trip_through_the_checkpoint() {
        let n = crate::seeds::resnet_small(&[1, 8, 8], 10, 8, 1);
        let text = serde_json::to_string(&n).unwrap();
        let back: Net = serde_json::from_str(&text).unwrap();
        assert_eq!(back, n);
    }

    /// A search of `cfg` stopped after `generations` generations (or at its
    /// end), its checkpoint resumed and run to the end.
    fn stopped_and_resumed(cfg: &EvolveConfig, generations: usize) -> (Evolution, Stop) {
        let mut part = Evolution::new(cfg.clone(), net(8, 8));
        let mut n = 0;
        let reason = part
            .run(
                &mut Fake::new(),
                || {
                    n += 1;
                    n > generations
                },
                |_| {},
            )
            .unwrap();
        let text = part.checkpoint_json();
        let mut resumed = Evolution::resume(cfg.clone(), &net(8, 8), &text).unwrap();
        assert_eq!(resumed.checkpoint_json(), text);
        assert_eq!(resumed.population(), part.population());
        resumed.run(&mut Fake::new(), || false, |_| {}).unwrap();
        (resumed, reason)
    }

    #[test]
    fn a_generation_is_evaluated_as_one_batch_of_its_new_children() {
        let mut fake = Fake::new();
        let mut e = Evolution::new(config4(41), net(8, 8));
        let mut sizes = Vec::new();
        e.run(&mut fake, || false, |e| sizes.push(e.trials_done()))
            .unwrap();
        // The seed alone, then 4 trials a generation.
        assert_eq!(sizes, vec![1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41]);
        assert_eq!(fake.batch_sizes[0], 1);
        assert!(fake.batch_sizes.iter().all(|&n| n <= 4));
        assert!(fake.batch_sizes.iter().any(|&n| n > 1));
        // Every batch held exactly the generation's children that were new.
        let recs = e.records();
        for (g, &n) in fake.batch_sizes.iter().enumerate().skip(1) {
            let trials = 1 + (g as u64 - 1) * 4..1 + g as u64 * 4;
            let new = recs[trials.start as usize..trials.end as usize]
                .iter()
                .filter(|r| !matches!(r.outcome, Outcome::Duplicate | Outcome::MutationFailed))
                .count();
            assert_eq!(n, new, "generation {g}");
        }
        // Every parent is of an earlier generation: the population at the
        // generation's start.
        for r in &recs[1..] {
            let start = 1 + (r.trial - 1) / 4 * 4;
            assert!(r.parent.unwrap() < start, "trial {}", r.trial);
        }
        // Dedup runs in trial order within a generation too: nothing
        // evaluated twice.
        distinct_evaluated(recs, &fake);
    }

    /// Asserts that no two evaluated trials of `recs` share a network
    /// (fingerprint); returns how many were evaluated.
    fn distinct_evaluated(recs: &[TrialRecord], fake: &Fake) -> usize {
        let mut fps: Vec<&str> = recs
            .iter()
            .filter(|r| fake.evaluated.contains(&r.trial))
            .map(|r| r.fingerprint.as_str())
            .collect();
        let n = fps.len();
        fps.sort_unstable();
        fps.dedup();
        assert_eq!(fps.len(), n, "a network was evaluated twice");
        n
    }

    #[test]
    fn the_order_a_batch_is_evaluated_in_changes_nothing() {
        for cfg in [config4(40), config4(37)] {
            let mut runs = Vec::new();
            for batches in [Batches::InOrder, Batches::Reversed, Batches::Threads] {
                let mut fake = Fake::batching(batches);
                fake.hardware = true;
                let mut e = Evolution::new(cfg.clone(), net(8, 8));
                e.run(&mut fake, || false, |_| {}).unwrap();
                let mut evaluated = fake.evaluated.clone();
                evaluated.sort_unstable();
                runs.push((e.checkpoint_json(), e.timings().to_vec(), evaluated));
            }
            assert_eq!(runs[0], runs[1], "reversed");
            assert_eq!(runs[0], runs[2], "threads");
        }
    }

    #[test]
    fn a_search_of_generations_resumed_anywhere_equals_an_uninterrupted_one() {
        let cfg = config4(40);
        let whole = run_all(cfg.clone());
        // 1 + ⌈39 / 4⌉ = 11 generations.
        for generations in 0..=11 {
            let (resumed, reason) = stopped_and_resumed(&cfg, generations);
            assert_eq!(reason == Stop::Interrupted, generations < 11);
            assert_eq!(
                resumed.checkpoint_json(),
                whole.checkpoint_json(),
                "stopped after {generations} generations"
            );
        }
    }

    #[test]
    fn a_search_ended_inside_a_generation_continues_as_if_it_had_not() {
        let whole = run_all(config4(30));
        // 20 trials end inside the generation of trials 17–20 (none of
        // them scored), 23 inside that of 21–24 (two of them scored: they
        // are pending).
        for (budget, pending, from) in [(20, 0, 17), (23, 2, 21)] {
            let part = run_all(config4(budget));
            assert_eq!(part.pending().len(), pending, "{budget} trials");
            assert!(
                part.pending()
                    .iter()
                    .all(|m| (from..budget).contains(&m.trial))
            );
            let mut more =
                Evolution::resume(config4(30), &net(8, 8), &part.checkpoint_json()).unwrap();
            more.run(&mut Fake::new(), || false, |_| {}).unwrap();
            assert_eq!(
                more.checkpoint_json(),
                whole.checkpoint_json(),
                "{budget} trials continued to 30"
            );
        }
        // Callers see the pending members as cut into the population.
        let part = run_all(config4(23));
        assert!(part.checkpoint_json().contains("\"pending\""));
        let mut all = part.state.population.clone();
        all.extend(part.pending().iter().cloned());
        assert_eq!(part.population(), select(all, 4).as_slice());
        assert!(
            part.front()
                .iter()
                .any(|m| part.pending().iter().any(|p| p.trial == m.trial)),
            "a pending member is on the front"
        );
        // At a generation's end nothing is pending, and the file says so by
        // leaving the list out (as checkpoints of one-trial generations do).
        let done = run_all(config4(25));
        assert!(done.pending().is_empty());
        assert!(!done.checkpoint_json().contains("\"pending\""));
    }

    #[test]
    fn the_generation_size_decides_the_search() {
        let one = run_all(config(40));
        let four = run_all(config4(40));
        assert_ne!(one.records(), four.records());
        // The seed's trial is the same: it is alone in both.
        assert_eq!(one.records()[0], four.records()[0]);
        // And a checkpoint of one size does not continue with another.
        let text = run_all(config4(10)).checkpoint_json();
        let e = Evolution::resume(config(10), &net(8, 8), &text)
            .err()
            .unwrap();
        assert!(
            e.0.contains("generation_size was 4 there, is 1 here"),
            "{e}"
        );
        let text = run_all(config(10)).checkpoint_json();
        let e = Evolution::resume(config4(10), &net(8, 8), &text)
            .err()
            .unwrap();
        assert!(
            e.0.contains("generation_size was 1 there, is 4 here"),
            "{e}"
        );
        let zero = EvolveConfig {
            generation_size: 0,
            ..config(10)
        };
        let e = Evolution::new(zero, net(8, 8))
            .run(&mut Fake::new(), || false, |_| {})
            .unwrap_err();
        assert!(e.0.contains("at least 1"), "{e}");
    }

    #[test]
    fn a_damaged_pending_list_is_refused() {
        let part = run_all(config4(23));
        assert!(!part.pending().is_empty());
        let text = part.checkpoint_json();
        let refused = |damaged: &str| {
            assert_ne!(damaged, text);
            let e = Evolution::resume(config4(30), &net(8, 8), damaged)
                .err()
                .unwrap();
            assert!(e.0.contains("damaged"), "{e}");
            e.0
        };
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = value.clone();
            f(&mut v);
            serde_json::to_string_pretty(&v).unwrap()
        };
        // The list left out.
        let e = refused(&edit(&|v| {
            v.as_object_mut().unwrap().remove("pending");
        }));
        assert!(e.contains("pending members are of trials []"), "{e}");
        // A pending member's accuracy changed.
        refused(&edit(&|v| {
            v["pending"][0]["val_accuracy"] = "0.99".into();
        }));
        // A pending member moved into the population.
        let e = refused(&edit(&|v| {
            let m = v["pending"].as_array_mut().unwrap().remove(0);
            v["population"].as_array_mut().unwrap().push(m);
        }));
        assert!(e.contains("pending"), "{e}");
        // Pending members at a generation's end.
        let done = run_all(config4(21));
        let mut v: serde_json::Value = serde_json::from_str(&done.checkpoint_json()).unwrap();
        v["pending"] = value["pending"].clone();
        let e = Evolution::resume(config4(30), &net(8, 8), &serde_json::to_string(&v).unwrap())
            .err()
            .unwrap();
        assert!(e.0.contains("damaged"), "{e}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// For any generation size, budget and stop point, a resumed search
        /// (and one continued from a smaller budget) equals an uninterrupted
        /// one, and the batch order does not matter.
        #[test]
        fn generations_resume_exactly(
            k in 1usize..6,
            trials in 1u64..40,
            generations in 0usize..12,
            shorter in 1u64..40,
        ) {
            let cfg = EvolveConfig { generation_size: k, ..config(trials) };
            let whole = run_all(cfg.clone());
            let (resumed, _) = stopped_and_resumed(&cfg, generations);
            proptest::prop_assert_eq!(resumed.checkpoint_json(), whole.checkpoint_json());
            let mut fake = Fake::batching(Batches::Reversed);
            let mut e = Evolution::new(cfg.clone(), net(8, 8));
            e.run(&mut fake, || false, |_| {}).unwrap();
            proptest::prop_assert_eq!(e.checkpoint_json(), whole.checkpoint_json());
            let shorter = shorter.min(trials);
            let part = run_all(EvolveConfig { trials: shorter, ..cfg.clone() });
            let mut more = Evolution::resume(cfg, &net(8, 8), &part.checkpoint_json()).unwrap();
            more.run(&mut Fake::new(), || false, |_| {}).unwrap();
            proptest::prop_assert_eq!(more.checkpoint_json(), whole.checkpoint_json());
        }
    }

    #[test]
    fn a_batch_the_runner_cannot_finish_leaves_the_search_as_it_was() {
        let cfg = EvolveConfig {
            generation_size: 4,
            ..config(30)
        };
        let whole = run_all(cfg.clone());
        for at in [0usize, 1, 3] {
            let mut e = Evolution::new(cfg.clone(), net(8, 8));
            let mut failing = Fake::batching(Batches::FailCall(at));
            let mut before = String::new();
            let err = e
                .run(&mut failing, || false, |e| before = e.checkpoint_json())
                .unwrap_err();
            assert!(err.0.contains("results for"), "{}", err.0);
            if at > 0 {
                // As after the last generation that finished.
                assert_eq!(e.checkpoint_json(), before, "failed at call {at}");
            }
            e.run(&mut Fake::new(), || false, |_| {}).unwrap();
            assert_eq!(
                e.checkpoint_json(),
                whole.checkpoint_json(),
                "failed at call {at}"
            );
        }
    }
}
