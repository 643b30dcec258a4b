//! The nas task: architecture search after αNAS, made hardware-aware. The
//! evolution is `nas::evolve`; this module builds what it needs from the
//! scenario, implements its `TrialRunner` with the real mutation
//! (`nas::mutate`), training (`nas::train`) and costing (`nas::cost`), and
//! writes what it found.
//!
//! Everything is built and checked before the first trial ([`prepare`]):
//! the data set is read (a missing Fashion-MNIST is refused with its
//! install message), the seed network is built or read and must fit the
//! data set, the frozen blocks must be blocks of it, the hardware spec is
//! resolved, and a `--resume` checkpoint must be of this search. A mistake
//! there is exit 2 with nothing written.
//!
//! Seeds: the evolution's stream (parents, mutations) is stream 0 of
//! `derive_seed` from the scenario's seed; candidates' training stream 1
//! (trial `t` trains with `derive_seed(stream 1, t)`, so retraining a trial
//! gives the same weights); the partitioner's stream 2.
//!
//! Generations. Trials run in generations of `task.generation_size` (see
//! `nas::evolve`): a generation's children are fixed first, then trained and
//! scored together, each on a thread of its own (at most `--threads` at
//! once, the sweep's default: the available cores), and their results
//! applied in trial order; so the outputs do not depend on the thread
//! count. Every evaluation is exactly the one-at-a-time `evaluate`.
//!
//! Checkpoints. After every generation (every trial when a generation is
//! one trial) `checkpoint.json` is written into the output directory at
//! once (atomically), so a run that dies loses at most the generation under
//! way. Ctrl-C is checked between generations: the generation under way
//! finishes, then the outputs are written (test accuracies left out) and
//! the command exits 130; `--resume` continues, and the outputs equal an
//! uninterrupted run's byte for byte, except `timing.csv`, the one file
//! with wall-clock seconds (of the trials this invocation ran).
//!
//! Outputs: `trials.csv` (every trial), `pareto.csv` and `front_<trial>.json`
//! / `front_<trial>.graph.json` (the final front, as nas IR and as the
//! lowered workload graph `tessera run` can simulate), `pareto_<cost>.svg`
//! (accuracy against parameters, MACs and, with hardware, latency),
//! `timing.csv`, `report.json`, `summary.txt`, `checkpoint.json`. Test
//! accuracy is measured only for the final front, by retraining each member
//! with its trial's seed (the same weights as in the search) and evaluating
//! it on the test split.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;

use agent::partition::derive_seed;
use nas::cost::HardwareCost;
use nas::data::Dataset;
use nas::evolve::{
    ChaCha8Rng, EvaluateError, Evaluation, Evolution, EvolveConfig, Member, Stop, TrialRecord,
    TrialRunner, hypervolume, reference_cost,
};
use nas::ir::Net;
use nas::mutate::{Child, Guidance, MutationWeights};
use nas::synth::SynthConfig;
use nas::train::TrainConfig;
use sim::config::Pos;

use super::jobs::{JobPool, PoolError};
use super::outputs::{Outputs, PlotScratch, report_file};
use super::partition::capped_budget;
use super::{RunArgs, interrupted};
use crate::error::UserError;
use crate::files::{CHECKPOINT, read_text};
use crate::plots::{self, Format, LinePlot, Series};
use crate::scenario::{DataChoice, NasTask, Scenario, SeedNetwork, Task, resolve_spec};
use crate::table::{Align, Table as TextTable};

/// Seed streams derived from the scenario's seed.
const EVOLVE_STREAM: u64 = 0;
const TRAIN_STREAM: u64 = 1;
const COST_STREAM: u64 = 2;

/// The summary's pick: the cheapest front member whose validation accuracy
/// is at most this many percentage points below the seed's.
const ACCURACY_SLACK_PP: f64 = 0.5;

/// A nas task with everything built: what [`run_nas`] runs.
pub(super) struct Prepared {
    data: Dataset,
    frozen: Vec<String>,
    hardware: Option<HardwareCost>,
    train: TrainConfig,
    synth: SynthConfig,
    guidance: Guidance,
    /// The search, new or resumed.
    evolution: Evolution,
}

impl Prepared {
    /// The hardware spec candidates are scored on, if any.
    pub(super) fn spec(&self) -> Option<&sim::spec::HwSpec> {
        self.hardware.as_ref().map(|h| &h.spec)
    }
}

/// `file:line:col: field: message` for a place in the scenario.
fn at(s: &Scenario, pos: Pos, field: &str, message: impl std::fmt::Display) -> String {
    format!(
        "{}:{}:{}: {field}: {message}",
        s.file.display(),
        pos.line,
        pos.column
    )
}

/// Builds and checks everything the task needs, reporting every problem
/// at once; loads a `--resume` checkpoint and checks it is this search's.
pub(super) fn prepare(s: &Scenario, t: &NasTask, args: &RunArgs) -> Result<Prepared, UserError> {
    let mut errors = Vec::new();
    let data = match load_data(&t.data) {
        Ok(d) => Some(d),
        Err(e) => {
            errors.push(at(s, t.data_pos, "task.data", e));
            None
        }
    };
    let seed_net = data
        .as_ref()
        .and_then(|d| match seed_network(&t.network, d) {
            Ok(n) => Some(n),
            Err(e) => {
                errors.push(at(s, t.network_pos, "task.network", e));
                None
            }
        });
    let frozen =
        seed_net
            .as_ref()
            .and_then(|n| match frozen_blocks(n, t.frozen_blocks.as_deref()) {
                Ok(f) => Some(f),
                Err(e) => {
                    errors.push(at(s, t.frozen_pos, "task.frozen_blocks", e));
                    None
                }
            });
    let hardware = match &s.hardware {
        None => None,
        Some(_) => match resolve_spec(s) {
            Ok(spec) => Some(hardware_cost(s, t, spec)),
            Err(e) => {
                errors.push(e.message);
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(UserError::new(errors.join("\n")));
    }
    let (data, seed_net, frozen) = (
        data.expect("no error"),
        seed_net.expect("no error"),
        frozen.expect("no error"),
    );
    let train = TrainConfig {
        epochs: t.epochs as u32,
        batch_size: t.batch_size as usize,
        learning_rate: t.learning_rate as f32,
        seed: 0,
    };
    let synth = SynthConfig {
        max_steps: t.synth_max_steps,
        ..SynthConfig::default()
    };
    let digest = digest(s, t, &data, &seed_net, &frozen, hardware.as_ref());
    let config = EvolveConfig {
        generation_size: t.generation_size as usize,
        ..EvolveConfig::new(
            capped_budget(t.trials, args.max_budget),
            t.population as usize,
            derive_seed(s.seed, EVOLVE_STREAM),
            t.objective,
            digest,
        )
    };
    let evolution = match &args.resume {
        None => Evolution::new(config, seed_net),
        Some(path) => {
            let text = read_text(path)?;
            Evolution::resume(config, &seed_net, &text)
                .map_err(|e| UserError::new(format!("--resume {}: {e}", path.display())))?
        }
    };
    Ok(Prepared {
        data,
        frozen,
        hardware,
        train,
        synth,
        guidance: t.guidance,
        evolution,
    })
}

/// The data set, read (Fashion-MNIST's files must be there).
fn load_data(d: &DataChoice) -> Result<Dataset, String> {
    match d {
        DataChoice::Digits => Ok(nas::data::digits()),
        DataChoice::FashionMnist {
            dir,
            train_limit,
            test_limit,
        } => {
            let limit = match (train_limit, test_limit) {
                (None, None) => None,
                (a, b) => Some((a.unwrap_or(60_000) as usize, b.unwrap_or(10_000) as usize)),
            };
            nas::data::fashion_mnist(dir, limit).map_err(|e| e.0)
        }
    }
}

/// The seed network for the data set: a named seed sized for its images
/// and classes, or a network file that must take its images and give one
/// score per class.
fn seed_network(n: &SeedNetwork, data: &Dataset) -> Result<Net, String> {
    match n {
        SeedNetwork::Named {
            name,
            width,
            blocks,
        } => nas::seeds::by_name(name, &data.shape, data.classes, *width, *blocks)
            .ok_or_else(|| format!("unknown seed network {name:?}")),
        SeedNetwork::File(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
            let net: Net = serde_json::from_str(&text).map_err(|e| {
                format!(
                    "{}: not a network in the architecture IR: {e}",
                    path.display()
                )
            })?;
            let out = net
                .output_shape()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if net.input != data.shape {
                return Err(format!(
                    "{}: the network takes {:?} but {}'s images are {:?}",
                    path.display(),
                    net.input,
                    data.name,
                    data.shape
                ));
            }
            if out != [data.classes] {
                return Err(format!(
                    "{}: the network gives {out:?} but {} has {} classes (expected [{}])",
                    path.display(),
                    data.name,
                    data.classes,
                    data.classes
                ));
            }
            Ok(net)
        }
    }
}

/// The blocks never mutated: the ones given, each a block of the seed, or
/// else the block of the node that gives the output (the classifier head:
/// `logits` for cifarnet, `head` for resnet).
fn frozen_blocks(net: &Net, given: Option<&[String]>) -> Result<Vec<String>, String> {
    let blocks = net.block_names();
    match given {
        Some(list) => {
            for b in list {
                if !blocks.contains(b) {
                    return Err(format!(
                        "the seed network has no block {b:?}; its blocks are: {}",
                        blocks.join(", ")
                    ));
                }
            }
            Ok(list.to_vec())
        }
        None => Ok(net
            .output
            .node()
            .map(|i| vec![net.nodes[i].block.clone()])
            .unwrap_or_default()),
    }
}

fn hardware_cost(s: &Scenario, t: &NasTask, spec: sim::spec::HwSpec) -> HardwareCost {
    HardwareCost {
        spec,
        method: t.scoring.method.clone(),
        options: t.scoring.options.clone(),
        budget: t.scoring.budget,
        batch: t.scoring.batch,
        dtype: t.scoring.dtype,
        sim: sim::SimOptions {
            trace: false,
            ..s.simulation.clone()
        },
        seed: derive_seed(s.seed, COST_STREAM),
    }
}

/// A digest of everything besides the evolution's own settings that decides
/// the search: the seed network, the data set, training, mutation and the
/// hardware cost (spec contents included). A checkpoint of another digest
/// is refused.
fn digest(
    s: &Scenario,
    t: &NasTask,
    data: &Dataset,
    seed_net: &Net,
    frozen: &[String],
    hw: Option<&HardwareCost>,
) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(seed_net.fingerprint().as_bytes());
    eat(format!(
        "data {} {:?} {} {}/{}/{}",
        data.name,
        data.shape,
        data.classes,
        data.train.len(),
        data.val.len(),
        data.test.len()
    )
    .as_bytes());
    eat(format!(
        "training {} {} {} guidance {:?} synth {} frozen {:?}",
        t.epochs, t.batch_size, t.learning_rate, t.guidance, t.synth_max_steps, frozen
    )
    .as_bytes());
    if let Some(hw) = hw {
        let spec = sim::spec_write::spec_to_toml(&hw.spec);
        eat(toml::to_string(&spec).unwrap_or_default().as_bytes());
        let o = &s.simulation;
        eat(format!(
            "scoring {} {:?} {} {} {} sim {} {} {:?} {:?}",
            hw.method,
            hw.options,
            hw.budget,
            hw.batch,
            hw.dtype.name(),
            o.microbatches,
            o.packet_bytes,
            o.steady_state,
            o.switching
        )
        .as_bytes());
    }
    format!("{h:016x}")
}

/// The evolution's runner: the real mutation, training and costing.
struct Runner<'a> {
    data: &'a Dataset,
    train: TrainConfig,
    train_seed: u64,
    hardware: Option<&'a HardwareCost>,
    guidance: Guidance,
    weights: MutationWeights,
    synth: SynthConfig,
    frozen: &'a [String],
    /// Evaluations run at once here: `--threads` (the sweep's count).
    threads: usize,
    /// Where a generation's evaluations go instead, when the run has a pool.
    remote: Option<Remote<'a>>,
}

/// A pool and what its trial jobs carry besides the network.
struct Remote<'a> {
    pool: &'a JobPool,
    /// `scenario.resolved.toml` of the run: a worker rebuilds the data,
    /// training and scoring settings from it.
    scenario_toml: &'a str,
    /// The search's digest, which the worker's rebuild must match.
    digest: String,
    /// Why the pool gave no results, once it has failed.
    failed: Option<PoolError>,
}

impl Runner<'_> {
    /// The training configuration of trial `trial`.
    fn train_config(&self, trial: u64) -> TrainConfig {
        TrainConfig {
            seed: derive_seed(self.train_seed, trial),
            ..self.train
        }
    }

    /// Trains and scores the network of trial `trial`: a function of the
    /// two alone, so evaluations may run on any thread in any order.
    fn evaluate_one(&self, net: &Net, trial: u64) -> Result<Evaluation, EvaluateError> {
        // The clock is read for the record (timing.csv) only.
        let started = Instant::now();
        let trained = nas::train::train(net, self.data, &self.train_config(trial))
            .map_err(|e| EvaluateError::Training(e.0))?;
        let train_wall_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let costs =
            nas::cost::costs(net, self.hardware).map_err(|e| EvaluateError::Costing(e.0))?;
        Ok(Evaluation {
            val_accuracy: trained.val_accuracy,
            costs,
            train_wall_s,
            score_wall_s: started.elapsed().as_secs_f64(),
        })
    }
}

impl TrialRunner for Runner<'_> {
    fn mutate(&mut self, parent: &Net, rng: &mut ChaCha8Rng) -> Result<Child, String> {
        nas::mutate::mutate(
            parent,
            self.guidance,
            &self.weights,
            &self.synth,
            self.frozen,
            rng,
        )
        .map_err(|e| e.0)
    }

    fn evaluate(&mut self, net: &Net, trial: u64) -> Result<Evaluation, EvaluateError> {
        self.evaluate_one(net, trial)
    }

    /// The jobs on the pool, when the run has one (no results when it
    /// fails: the generation is then dropped whole), else on up to
    /// `threads` scoped threads, each taking the next job not yet taken;
    /// every result lands in its job's slot.
    fn evaluate_batch(&mut self, jobs: &[(u64, &Net)]) -> Vec<Result<Evaluation, EvaluateError>> {
        if let Some(remote) = &mut self.remote {
            let texts = jobs
                .iter()
                .map(|&(trial, net)| {
                    super::jobs::nas_trial_job(remote.scenario_toml, &remote.digest, trial, net)
                })
                .collect();
            let results = remote.pool.run(texts).and_then(|texts| {
                texts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        super::jobs::decode_nas_trial(t)
                            .map_err(|m| PoolError::Failed(format!("trial {}: {m}", jobs[i].0)))
                    })
                    .collect::<Result<Vec<_>, _>>()
            });
            return match results {
                Ok(r) => r,
                Err(e) => {
                    remote.failed = Some(e);
                    Vec::new()
                }
            };
        }
        let workers = self.threads.min(jobs.len());
        if workers <= 1 {
            return jobs
                .iter()
                .map(|&(trial, net)| self.evaluate_one(net, trial))
                .collect();
        }
        let slots: Vec<Mutex<Option<Result<Evaluation, EvaluateError>>>> =
            jobs.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let this = &*self;
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(&(trial, net)) = jobs.get(i) else {
                            return;
                        };
                        let result = this.evaluate_one(net, trial);
                        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                    }
                });
            }
        });
        slots
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .unwrap_or_else(|e| e.into_inner())
                    .expect("every job ran")
            })
            .collect()
    }
}

/// Runs the task: its summary, its files, whether it finished (false after
/// Ctrl-C) and its warnings.
pub(super) fn run_nas(
    s: &Scenario,
    t: &NasTask,
    p: Prepared,
    args: &RunArgs,
    out_dir: &Path,
    format: Option<Format>,
    resolved_text: &str,
) -> Result<(String, Outputs, bool, Vec<String>), UserError> {
    let Prepared {
        data,
        frozen,
        hardware,
        train,
        synth,
        guidance,
        mut evolution,
    } = p;
    let mut runner = Runner {
        data: &data,
        train,
        train_seed: derive_seed(s.seed, TRAIN_STREAM),
        hardware: hardware.as_ref(),
        guidance,
        weights: MutationWeights::default(),
        synth,
        frozen: &frozen,
        threads: super::sweep::worker_threads(args),
        remote: args.pool.as_ref().map(|pool| Remote {
            pool,
            scenario_toml: resolved_text,
            digest: evolution.config().digest.clone(),
            failed: None,
        }),
    };
    let mut warnings = Vec::new();
    let bar = progress_bar(
        evolution.config().trials,
        evolution.trials_done(),
        args.quiet,
    );
    // Trials this invocation ran, for the test hook (which, like Ctrl-C,
    // is heeded between generations).
    let started_at = evolution.trials_done();
    let ran = std::cell::Cell::new(0u64);
    let stop = evolution.run(
        &mut runner,
        || {
            let hook = args.interrupt_after_trials.is_some_and(|n| ran.get() >= n);
            interrupted() || hook
        },
        |e| {
            ran.set(e.trials_done() - started_at);
            bar.set_position(e.trials_done());
            bar.set_message(format!("front {}", e.front().len()));
            if let Err(err) = crate::files::write_checkpoint(out_dir, &e.checkpoint_json())
                && warnings.is_empty()
            {
                warnings.push(format!(
                    "the run goes on without its periodic checkpoints: {}",
                    err.message
                ));
            }
        },
    );
    let failed = runner.remote.as_mut().and_then(|r| r.failed.take());
    let stop = match (stop, failed) {
        // The pool was interrupted (Ctrl-C in the program driving it): the
        // generation under way is dropped, as Ctrl-C between generations
        // leaves it.
        (Err(_), Some(PoolError::Interrupted)) => Stop::Interrupted,
        (Err(_), Some(PoolError::Failed(m))) => {
            return Err(UserError::new(format!(
                "{}: evaluating trials elsewhere: {m}",
                s.file.display()
            )));
        }
        (stop, _) => stop.map_err(|e| UserError::new(format!("{}: {e}", s.file.display())))?,
    };
    bar.finish_and_clear();
    let mut complete = stop != Stop::Interrupted;
    let checkpoint = evolution.checkpoint_json();
    // Test accuracy of the final front: each member retrained with its
    // trial's seed (the weights the search measured), then tested.
    let front: Vec<Member> = evolution.front().into_iter().cloned().collect();
    let mut tests = Vec::with_capacity(front.len());
    if complete {
        for m in &front {
            if interrupted() {
                complete = false;
                break;
            }
            tests.push(Some(test_accuracy(&runner, &data, m)?));
        }
    }
    tests.resize(front.len(), None);
    let result = NasResult::new(
        t,
        &frozen,
        &data,
        &evolution,
        &front,
        &tests,
        hardware.as_ref(),
        stop,
    );
    let summary = summary(s, &result, complete);
    let mut files: Outputs = vec![
        report_file(s, complete, &result),
        (CHECKPOINT.to_string(), checkpoint.into_bytes()),
        (
            "trials.csv".to_string(),
            trials_csv(evolution.records()).into_bytes(),
        ),
        (
            "pareto.csv".to_string(),
            pareto_csv(&result.front).into_bytes(),
        ),
        (
            "timing.csv".to_string(),
            timing_csv(&evolution).into_bytes(),
        ),
    ];
    let (batch, dtype) = hardware
        .as_ref()
        .map_or((1, sim::graph::DType::Int8), |h| (h.batch, h.dtype));
    for m in &front {
        let mut json = serde_json::to_string_pretty(&m.net).expect("networks serialise");
        json.push('\n');
        files.push((format!("front_{}.json", m.trial), json.into_bytes()));
        let graph = nas::lower::to_graph(&m.net, batch, dtype)
            .map_err(|e| UserError::new(format!("front network of trial {}: {e}", m.trial)))?;
        files.push((
            format!("front_{}.graph.json", m.trial),
            graph.to_json().into_bytes(),
        ));
    }
    if let Some(format) = format {
        let scratch = PlotScratch::new(out_dir, format)?;
        files.extend(pareto_plots(s, &result, &scratch)?);
    }
    Ok((summary, files, complete, warnings))
}

/// A front member's accuracy on the test split, retrained as in its trial.
fn test_accuracy(runner: &Runner<'_>, data: &Dataset, m: &Member) -> Result<f64, UserError> {
    let trained = nas::train::train(&m.net, data, &runner.train_config(m.trial))
        .map_err(|e| UserError::new(format!("retraining trial {}: {e}", m.trial)))?;
    trained
        .accuracy(&m.net, data, &data.test)
        .map_err(|e| UserError::new(format!("testing trial {}: {e}", m.trial)))
}

/// Trials done of all and the current front's size, the time left; hidden
/// with `--quiet` or when standard output is not a terminal.
fn progress_bar(trials: u64, done: u64, quiet: bool) -> indicatif::ProgressBar {
    super::progress_bar(
        trials,
        done,
        quiet,
        "nas {bar:30} {pos}/{len} trials  {msg}  eta {eta}",
    )
}

/// A network's costs in the report and pareto.csv.
#[derive(Clone, Debug, Serialize)]
struct FrontRow {
    trial: u64,
    fingerprint: String,
    params: Option<u64>,
    macs: Option<u64>,
    latency_cycles: Option<u64>,
    throughput_per_s: Option<f64>,
    energy_mj_per_inference: Option<f64>,
    val_accuracy: f64,
    /// `null` when the run was interrupted before testing.
    test_accuracy: Option<f64>,
    /// The objective's value.
    cost: f64,
}

impl FrontRow {
    fn new(m: &Member, r: &TrialRecord, test: Option<f64>) -> FrontRow {
        FrontRow {
            trial: m.trial,
            fingerprint: r.fingerprint.clone(),
            params: r.params,
            macs: r.macs,
            latency_cycles: r.latency_cycles,
            throughput_per_s: r.throughput_per_s,
            energy_mj_per_inference: r.energy_mj_per_inference,
            val_accuracy: m.val_accuracy,
            test_accuracy: test,
            cost: m.cost,
        }
    }
}

/// How many trials ended each way.
#[derive(Serialize, Default)]
struct Outcomes {
    trained: u64,
    duplicate: u64,
    mutation_failed: u64,
    training_failed: u64,
    unscored: u64,
}

/// The summary's comparison of the seed with its pick of the front.
#[derive(Serialize)]
struct Best {
    trial: u64,
    /// Percent fewer parameters (negative: more) than the seed.
    params_reduction_pct: Option<f64>,
    macs_reduction_pct: Option<f64>,
    latency_reduction_pct: Option<f64>,
    val_accuracy_change_pp: f64,
}

/// The result in `report.json`.
#[derive(Serialize)]
struct NasResult {
    trials: u64,
    trials_done: u64,
    resumed_at_trial: Option<u64>,
    stop: Stop,
    objective: &'static str,
    guidance: Guidance,
    population: u64,
    /// Left out when 1 (one trial at a time).
    #[serde(skip_serializing_if = "is_one")]
    generation_size: u64,
    data_set: String,
    data_sizes: [usize; 3],
    seed_network: String,
    frozen_blocks: Vec<String>,
    epochs: u64,
    batch_size: u64,
    learning_rate: f64,
    synth_max_steps: u64,
    /// The hardware candidates are scored on, `null` without hardware.
    hardware: Option<HardwareOut>,
    outcomes: Outcomes,
    seed: FrontRow,
    front: Vec<FrontRow>,
    /// Of the front's (validation accuracy, cost), against accuracy 0 and
    /// the seed's cost × 2 (see `nas::evolve`).
    hypervolume: f64,
    hypervolume_reference_cost: f64,
    /// The cheapest front member within 0.5 pp of the seed's validation
    /// accuracy.
    best: Option<Best>,
}

#[derive(Serialize)]
struct HardwareOut {
    spec: String,
    method: String,
    budget: u64,
    batch: u64,
    dtype: &'static str,
}

impl NasResult {
    fn new(
        t: &NasTask,
        frozen: &[String],
        data: &Dataset,
        e: &Evolution,
        front: &[Member],
        tests: &[Option<f64>],
        hw: Option<&HardwareCost>,
        stop: Stop,
    ) -> NasResult {
        let records = e.records();
        let mut outcomes = Outcomes::default();
        for r in records {
            let n = match r.outcome {
                nas::evolve::Outcome::Trained => &mut outcomes.trained,
                nas::evolve::Outcome::Duplicate => &mut outcomes.duplicate,
                nas::evolve::Outcome::MutationFailed => &mut outcomes.mutation_failed,
                nas::evolve::Outcome::TrainingFailed => &mut outcomes.training_failed,
                nas::evolve::Outcome::Unscored => &mut outcomes.unscored,
            };
            *n += 1;
        }
        let seed_member = e.seed_member().expect("trial 0 ran");
        let seed_test = front
            .iter()
            .zip(tests)
            .find(|(m, _)| m.trial == 0)
            .and_then(|(_, t)| *t);
        let seed = FrontRow::new(seed_member, &records[0], seed_test);
        let rows: Vec<FrontRow> = front
            .iter()
            .zip(tests)
            .map(|(m, t)| FrontRow::new(m, &records[m.trial as usize], *t))
            .collect();
        let reference = reference_cost(seed.cost);
        let points: Vec<(f64, f64)> = rows.iter().map(|r| (r.val_accuracy, r.cost)).collect();
        let best = best_pick(&seed, &rows);
        let seed_network = match &t.network {
            SeedNetwork::Named {
                name,
                width,
                blocks,
            } => format!("{name} width={width} blocks={blocks}"),
            SeedNetwork::File(p) => p.display().to_string(),
        };
        NasResult {
            trials: e.config().trials,
            trials_done: e.trials_done(),
            resumed_at_trial: e.resumed_at(),
            stop,
            objective: t.objective.name(),
            guidance: t.guidance,
            population: t.population,
            generation_size: t.generation_size,
            data_set: data.name.clone(),
            data_sizes: [data.train.len(), data.val.len(), data.test.len()],
            seed_network,
            frozen_blocks: frozen.to_vec(),
            epochs: t.epochs,
            batch_size: t.batch_size,
            learning_rate: t.learning_rate,
            synth_max_steps: t.synth_max_steps,
            hardware: hw.map(|h| HardwareOut {
                spec: h.spec.name.clone(),
                method: h.method.clone(),
                budget: h.budget,
                batch: h.batch,
                dtype: h.dtype.name(),
            }),
            outcomes,
            seed,
            front: rows,
            hypervolume: hypervolume(&points, reference),
            hypervolume_reference_cost: reference,
            best,
        }
    }
}

/// Whether a count is 1 (serde's `skip_serializing_if`).
fn is_one(n: &u64) -> bool {
    *n == 1
}

/// The cheapest (by the objective; ties: earlier trial) front member other
/// than the seed whose validation accuracy is at least the seed's − 0.5 pp.
fn best_pick(seed: &FrontRow, front: &[FrontRow]) -> Option<Best> {
    let floor = seed.val_accuracy - ACCURACY_SLACK_PP / 100.0;
    let pick = front
        .iter()
        .filter(|r| r.trial != 0 && r.val_accuracy >= floor)
        .min_by(|a, b| a.cost.total_cmp(&b.cost).then(a.trial.cmp(&b.trial)))?;
    let reduction = |was: Option<u64>, is: Option<u64>| match (was, is) {
        (Some(w), Some(i)) if w > 0 => Some(100.0 * (w as f64 - i as f64) / w as f64),
        _ => None,
    };
    Some(Best {
        trial: pick.trial,
        params_reduction_pct: reduction(seed.params, pick.params),
        macs_reduction_pct: reduction(seed.macs, pick.macs),
        latency_reduction_pct: reduction(seed.latency_cycles, pick.latency_cycles),
        val_accuracy_change_pp: 100.0 * (pick.val_accuracy - seed.val_accuracy),
    })
}

fn shown_u64(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| x.to_string())
}

fn shown_pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{:.2} %", 100.0 * x))
}

/// The text printed and written as `summary.txt`: the search, the outcomes,
/// the front, and the seed against the summary's pick.
fn summary(s: &Scenario, r: &NasResult, complete: bool) -> String {
    let mut text = format!(
        "{}: architecture search from {} on {} ({} train / {} validation / {} test), \
         objective {}, {} mutations, population {}\n",
        s.name,
        r.seed_network,
        r.data_set,
        r.data_sizes[0],
        r.data_sizes[1],
        r.data_sizes[2],
        r.objective,
        match r.guidance {
            Guidance::Guided => "guided",
            Guidance::Unguided => "unguided",
        },
        r.population
    );
    if r.generation_size != 1 {
        text.push_str(&format!(
            "generations of {} trials, each trained together\n",
            r.generation_size
        ));
    }
    if let Some(h) = &r.hardware {
        text.push_str(&format!(
            "scored on {} (partitioned by {}, budget {}, batch {}, {})\n",
            h.spec, h.method, h.budget, h.batch, h.dtype
        ));
    }
    if let Some(k) = r.resumed_at_trial {
        text.push_str(&format!("resumed from a checkpoint at trial {k}\n"));
    }
    let o = &r.outcomes;
    text.push_str(&format!(
        "\n{} of {} trials: {} trained, {} duplicates, {} mutations failed, {} trainings failed, {} unscored{}\n\n",
        r.trials_done,
        r.trials,
        o.trained,
        o.duplicate,
        o.mutation_failed,
        o.training_failed,
        o.unscored,
        match r.stop {
            Stop::Exhausted => " (stopped: the mutations kept finding networks already seen)",
            _ => "",
        }
    ));
    let mut table = TextTable::new(&[
        ("front trial", Align::Right),
        ("params", Align::Right),
        ("MACs", Align::Right),
        ("latency cycles", Align::Right),
        ("val acc", Align::Right),
        ("test acc", Align::Right),
    ]);
    for f in &r.front {
        table.row(vec![
            if f.trial == 0 {
                "0 (seed)".to_string()
            } else {
                f.trial.to_string()
            },
            shown_u64(f.params),
            shown_u64(f.macs),
            shown_u64(f.latency_cycles),
            shown_pct(Some(f.val_accuracy)),
            shown_pct(f.test_accuracy),
        ]);
    }
    text.push_str(&table.render());
    text.push_str(&format!(
        "\nhypervolume {:.4} (accuracy × {}, reference: accuracy 0, {} {})\n",
        r.hypervolume, r.objective, r.objective, r.hypervolume_reference_cost
    ));
    let seed = &r.seed;
    text.push_str(&format!(
        "seed: params {}, MACs {}, latency cycles {}, validation accuracy {}\n",
        shown_u64(seed.params),
        shown_u64(seed.macs),
        shown_u64(seed.latency_cycles),
        shown_pct(Some(seed.val_accuracy))
    ));
    match &r.best {
        Some(b) => {
            // A reduction as a change: "−30.1 %" fewer, "+4.0 %" more.
            let pct = |v: Option<f64>| match v {
                None => "-".to_string(),
                Some(r) if r >= 0.0 => format!("−{r:.1} %"),
                Some(r) => format!("+{:.1} %", -r),
            };
            text.push_str(&format!(
                "best within {ACCURACY_SLACK_PP} pp of the seed's accuracy: trial {} \
                 (validation accuracy {:+.2} pp): params {}, MACs {}, latency {}\n",
                b.trial,
                b.val_accuracy_change_pp,
                pct(b.params_reduction_pct),
                pct(b.macs_reduction_pct),
                pct(b.latency_reduction_pct)
            ));
        }
        None => text.push_str(&format!(
            "no network of the front other than the seed is within {ACCURACY_SLACK_PP} pp of its accuracy\n"
        )),
    }
    if !complete {
        text.push_str(&format!(
            "\ninterrupted after trial {}: checkpoint.json holds the search there; \
             continue with --resume (test accuracies are measured when the search ends)\n",
            r.trials_done.saturating_sub(1)
        ));
    }
    text
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(String::new, |x| x.to_string())
}

/// `trials.csv`: one row per trial, the seed's first.
fn trials_csv(records: &[TrialRecord]) -> String {
    let mut csv = String::from(
        "trial,parent,kind,block,props_before,props_after,synth_steps,fingerprint,outcome,\
         params,macs,placement_valid,latency_cycles,latency_us,throughput_per_s,\
         energy_mj_per_inference,val_accuracy,cost,message\n",
    );
    for r in records {
        let fields = [
            r.trial.to_string(),
            opt(r.parent),
            csv_field(&r.kind),
            csv_field(&r.block),
            csv_field(&r.props_before),
            csv_field(&r.props_after),
            r.synth_steps.to_string(),
            r.fingerprint.clone(),
            r.outcome.name().to_string(),
            opt(r.params),
            opt(r.macs),
            opt(r.placement_valid),
            opt(r.latency_cycles),
            opt(r.latency_us),
            opt(r.throughput_per_s),
            opt(r.energy_mj_per_inference),
            opt(r.val_accuracy),
            opt(r.cost),
            csv_field(&r.message),
        ];
        csv.push_str(&fields.join(","));
        csv.push('\n');
    }
    csv
}

/// `pareto.csv`: the final front.
fn pareto_csv(front: &[FrontRow]) -> String {
    let mut csv = String::from(
        "trial,fingerprint,params,macs,latency_cycles,val_accuracy,test_accuracy,cost\n",
    );
    for f in front {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            f.trial,
            f.fingerprint,
            opt(f.params),
            opt(f.macs),
            opt(f.latency_cycles),
            f.val_accuracy,
            opt(f.test_accuracy),
            f.cost
        ));
    }
    csv
}

/// `timing.csv`: wall-clock seconds of the trials this invocation trained.
fn timing_csv(e: &Evolution) -> String {
    let mut csv = String::from("trial,train_wall_s,score_wall_s\n");
    for t in e.timings() {
        csv.push_str(&format!(
            "{},{:.3},{:.3}\n",
            t.trial, t.train_wall_s, t.score_wall_s
        ));
    }
    csv
}

/// Validation accuracy against each cost of the front: parameters, MACs
/// and, with hardware, simulated latency; the seed marked apart.
fn pareto_plots(
    s: &Scenario,
    r: &NasResult,
    scratch: &PlotScratch,
) -> Result<Vec<(String, Vec<u8>)>, UserError> {
    type Cost = fn(&FrontRow) -> Option<u64>;
    let costs: [(&str, &str, Cost); 3] = [
        ("params", "parameters", |f| f.params),
        ("macs", "MACs per sample", |f| f.macs),
        ("latency", "simulated latency (cycles)", |f| {
            f.latency_cycles
        }),
    ];
    let mut out = Vec::new();
    for (stem, label, cost) in costs {
        let mut points: Vec<(f64, f64)> = r
            .front
            .iter()
            .filter_map(|f| cost(f).map(|c| (c as f64, 100.0 * f.val_accuracy)))
            .collect();
        let Some(seed_x) = cost(&r.seed) else {
            continue;
        };
        points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let series = [
            Series {
                name: "Pareto front".to_string(),
                points: points.clone(),
                invalid: Vec::new(),
            },
            Series {
                name: "seed".to_string(),
                points: vec![(seed_x as f64, 100.0 * r.seed.val_accuracy)],
                invalid: Vec::new(),
            },
        ];
        let log_x = points.iter().all(|p| p.0 > 0.0) && seed_x > 0;
        let path = scratch.path(&format!("pareto_{stem}"));
        let title = format!("{}: validation accuracy against {label}", s.name);
        plots::line_plot(
            &series,
            &LinePlot {
                title: &title,
                x_label: label,
                y_label: "validation accuracy (%)",
                log_x,
                log_y: false,
                markers: true,
            },
            &path,
            scratch.format(),
        )?;
        out.push(scratch.take(&path)?);
    }
    Ok(out)
}

/// What a worker keeps of a nas scenario it evaluates trials of.
pub(super) struct TrialSetup {
    prepared: Prepared,
    train_seed: u64,
}

impl TrialSetup {
    /// Rebuilds a run's data, training and scoring settings from its
    /// `scenario.resolved.toml` (`text`) as the run built them, and checks
    /// that they make the run's `digest`.
    pub(super) fn from_resolved(text: &str, digest: &str) -> Result<TrialSetup, String> {
        let path = Path::new("scenario.resolved.toml");
        let s = crate::scenario::parse(text, path).map_err(|d| d.to_string())?;
        let Task::Nas(t) = &s.task else {
            return Err(format!("the job's scenario is a {} task", s.task.kind()));
        };
        let prepared = prepare(&s, t, &RunArgs::default()).map_err(|e| e.message)?;
        let here = &prepared.evolution.config().digest;
        if here != digest {
            return Err(format!(
                "the worker's rebuild of the scenario has digest {here}, the run's is {digest} \
                 (another tessera build, or other data on this machine)"
            ));
        }
        Ok(TrialSetup {
            prepared,
            train_seed: derive_seed(s.seed, TRAIN_STREAM),
        })
    }

    /// Trains and scores trial `trial`'s network as the run would.
    pub(super) fn evaluate(&self, net: &Net, trial: u64) -> Result<Evaluation, EvaluateError> {
        let p = &self.prepared;
        Runner {
            data: &p.data,
            train: p.train,
            train_seed: self.train_seed,
            hardware: p.hardware.as_ref(),
            guidance: p.guidance,
            weights: MutationWeights::default(),
            synth: p.synth,
            frozen: &p.frozen,
            threads: 1,
            remote: None,
        }
        .evaluate_one(net, trial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(trial: u64, acc: f64, cost: f64, params: u64) -> FrontRow {
        FrontRow {
            trial,
            fingerprint: String::new(),
            params: Some(params),
            macs: Some(params * 10),
            latency_cycles: None,
            throughput_per_s: None,
            energy_mj_per_inference: None,
            val_accuracy: acc,
            test_accuracy: None,
            cost,
        }
    }

    #[test]
    fn the_pick_is_the_cheapest_within_half_a_point_of_the_seed() {
        let seed = row(0, 0.900, 100.0, 1000);
        let front = [
            row(0, 0.900, 100.0, 1000),
            row(3, 0.80, 10.0, 100),  // too inaccurate
            row(5, 0.896, 40.0, 400), // within 0.5 pp
            row(7, 0.899, 60.0, 600), // within, but costlier
            row(9, 0.950, 200.0, 2000),
        ];
        let b = best_pick(&seed, &front).unwrap();
        assert_eq!(b.trial, 5);
        assert!((b.params_reduction_pct.unwrap() - 60.0).abs() < 1e-9);
        assert!(b.latency_reduction_pct.is_none());
        assert!((b.val_accuracy_change_pp + 0.4).abs() < 1e-9);
        assert!(best_pick(&seed, &front[..2]).is_none());
    }

    #[test]
    fn csv_fields_with_commas_or_quotes_are_quoted() {
        assert_eq!(csv_field("depth=4 mix=A-"), "depth=4 mix=A-");
        assert_eq!(csv_field("a;b,c"), "\"a;b,c\"");
    }
}
