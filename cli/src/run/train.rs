//! The train task: pre-training of the learned partitioner over a corpus of
//! problems (the scenario's `[[task.corpus]]`, then `random_problems` drawn
//! from the test kit), one PPO batch at a time on a problem the trainer's
//! generator draws, then a zero-shot evaluation on the `[[task.holdout]]`
//! problems beside `dp`'s reward there.
//!
//! Everything is built and checked before the first batch ([`prepare`]):
//! every spec and workload loads, every problem has a baseline (`greedy`'s
//! placement, else `dp`'s), the random draws succeed, and a `--resume`
//! checkpoint is of this setup (its fingerprint: problem names, seed,
//! simulation and environment options, the problems' contents and the PPO
//! configuration). A mistake there is exit 2 with nothing written.
//!
//! Checkpoints. Every `checkpoint_every` batches `checkpoint.json` is
//! written into the output directory at once (atomically), so a crash
//! loses at most that many batches; a directory holding only it is
//! recognised as a run's (`files::CHECKPOINT`). When the run ends, or
//! stops on Ctrl-C (checked between batches: the batch under way
//! finishes first), the outputs replace the directory as a whole, the
//! final `checkpoint.json` among them. Every checkpoint is written by
//! [`Trainer::to_json`], the same bytes `Trainer::save` writes, and holds
//! the learning curve so far, so a run resumed from any of them writes the
//! same `learning_curve.csv` and final `checkpoint.json` as one that never
//! stopped (`tests/tests/rl_train.rs`).
//!
//! Nothing written depends on the clock; the weights depend on the seed and
//! on rayon's thread count (dfdx's matrix products), see ARCHITECTURE.md.

use std::path::Path;

use serde::Serialize;

use agent::partition::derive_seed;
use agent::rl::checkpoint::Progress;
use agent::rl::corpus::random_envs;
use agent::rl::ppo::{PpoConfig, ThreadScorer, Trainer};
use agent::rl::pretrain::{
    Corpus, CurveRow, RunRecord, Setup, fingerprint as setup_fingerprint, method_reward,
};
use agent::rl::{EnvError, EnvOptions, PartitionEnv};
use sim::graph::Graph;

use super::jobs::PoolScorer;
use super::outputs::{Outputs, PlotScratch, report_file};
use super::partition::capped_budget;
use super::{RunArgs, interrupted};
use crate::error::UserError;
use crate::files::CHECKPOINT;
use crate::plots::{self, Format, LinePlot, Series};
use crate::scenario::{ProblemEntry, Scenario, TrainTask, Workload, resolve_problem};
use crate::table::{Align, Table as TextTable};

/// Seed streams derived from the scenario's seed (`derive_seed`): the
/// trainer's (initial weights, sampling, problem draws) and the random
/// problems'.
const TRAINER_STREAM: u64 = 0;
const RANDOM_PROBLEMS_STREAM: u64 = 1;

/// Batches the summary's first and last mean rewards average, and the
/// learning curve plot's moving average spans.
const WINDOW: usize = 10;

/// A train task with everything built: what [`run_train`] runs.
pub(super) struct Prepared {
    config: PpoConfig,
    setup: Setup,
    /// PPO batches in all, after `--max-budget`.
    batches: u64,
    corpus: Vec<(String, PartitionEnv)>,
    /// How many of the corpus's problems the scenario names (the rest are
    /// random).
    named: usize,
    holdout: Vec<(String, PartitionEnv)>,
    /// The checkpoint's trainer and record, with `--resume`.
    resume: Option<(Trainer, RunRecord)>,
}

impl Prepared {
    /// The graphs of the scenario's own problems, corpus then holdout, in
    /// order (what `scenario.resolved.toml` writes the parameters of).
    pub(super) fn graphs(&self) -> (Vec<&Graph>, Vec<&Graph>) {
        fn graphs(v: &[(String, PartitionEnv)]) -> Vec<&Graph> {
            v.iter().map(|(_, e)| &e.problem().graph).collect()
        }
        (graphs(&self.corpus[..self.named]), graphs(&self.holdout))
    }
}

/// The PPO configuration the task asks for (defaults for the rest).
fn ppo_config(t: &TrainTask) -> PpoConfig {
    PpoConfig {
        episodes_per_batch: t.episodes_per_batch as usize,
        learning_rate: t.learning_rate as f32,
        entropy_coef: t.entropy_coef as f32,
        ..PpoConfig::default()
    }
}

/// Builds and checks everything the task needs, reporting every problem
/// at once; loads the `--resume` checkpoint and checks it is this run's.
pub(super) fn prepare(s: &Scenario, t: &TrainTask, args: &RunArgs) -> Result<Prepared, UserError> {
    let env_options = EnvOptions::default();
    let mut errors = Vec::new();
    let mut corpus = build_envs(s, &t.corpus, env_options, &mut errors);
    let holdout = build_envs(s, &t.holdout, env_options, &mut errors);
    let named = corpus.len();
    if t.random_problems > 0 {
        let options = sim::SimOptions {
            trace: false,
            ..s.simulation.clone()
        };
        let seed = derive_seed(s.seed, RANDOM_PROBLEMS_STREAM);
        match random_envs(seed, t.random_problems as usize, &options, env_options) {
            Ok(envs) => corpus.extend(envs),
            Err(e) => errors.push(format!(
                "{}:{}:{}: task.random_problems: {e}",
                s.file.display(),
                t.random_pos.line,
                t.random_pos.column
            )),
        }
    }
    if !errors.is_empty() {
        return Err(UserError::new(errors.join("\n")));
    }
    let config = ppo_config(t);
    let setup = Setup {
        seed: s.seed,
        problems: corpus.iter().map(|(n, _)| n.clone()).collect(),
        conditions: conditions(s, env_options, &corpus),
    };
    let budget = t.batches.saturating_mul(t.episodes_per_batch);
    let batches = (capped_budget(budget, args.max_budget) / t.episodes_per_batch).max(1);
    let resume = match &args.resume {
        Some(path) => {
            let (trainer, record) = Trainer::resume(path, &setup, &config)
                .map_err(|e| UserError::new(format!("--resume {e}")))?;
            let done = record.curve.len() as u64;
            if done > batches {
                return Err(UserError::new(format!(
                    "--resume {}: the checkpoint is at batch {done}, past the {batches} batches \
                     this run trains in all (task.batches in {})",
                    path.display(),
                    s.file.display()
                )));
            }
            Some((trainer, record))
        }
        None => None,
    };
    Ok(Prepared {
        config,
        setup,
        batches,
        corpus,
        named,
        holdout,
        resume,
    })
}

/// Each entry's problem and environment (its baseline found); a problem
/// that cannot be built or has no baseline is reported at its entry.
fn build_envs(
    s: &Scenario,
    entries: &[ProblemEntry],
    options: EnvOptions,
    errors: &mut Vec<String>,
) -> Vec<(String, PartitionEnv)> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let problem = match resolve_problem(s, e) {
            Ok(p) => p,
            Err(err) => {
                errors.push(err.message);
                continue;
            }
        };
        let name = problem_name(e, &problem.graph);
        match PartitionEnv::new(problem, options) {
            Ok(env) => out.push((name, env)),
            Err(err) => errors.push(format!(
                "{}:{}:{}: {}: {name}: {err}",
                s.file.display(),
                e.pos.line,
                e.pos.column,
                e.field
            )),
        }
    }
    out
}

/// A problem's name: the model with its parameters that are not the
/// defaults (an ONNX file with the ones given) on the spec, e.g.
/// `bert-base layers=2 seq=64 on edgetpu_ring4`. A default written out
/// changes nothing, so `scenario.resolved.toml` names its problems alike.
fn problem_name(e: &ProblemEntry, graph: &Graph) -> String {
    let file = |p: &Path| {
        p.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    };
    let with_params = |name: String, params: &std::collections::BTreeMap<String, String>| {
        let mut words = vec![name];
        words.extend(params.iter().map(|(k, v)| format!("{k}={v}")));
        words.join(" ")
    };
    let workload = match &e.workload {
        Workload::Zoo { model, .. } => {
            let info = sim::zoo::models().iter().find(|m| m.name == model);
            let is_default = |k: &str, v: &str| {
                info.is_some_and(|i| i.params.iter().any(|p| p.key == k && p.default == v))
            };
            let given = graph
                .params()
                .iter()
                .filter(|(k, v)| !is_default(k, v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            with_params(model.clone(), &given)
        }
        Workload::GraphFile(p) => file(p),
        Workload::Onnx { path, params, .. } => with_params(file(path), params),
    };
    let spec = e
        .spec
        .file_stem()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    format!("{workload} on {spec}")
}

/// What decides the rewards besides the problems' names: the simulation
/// and environment options, and a digest of every problem's spec and graph
/// (so an edited spec file is not taken for the one trained on).
fn conditions(s: &Scenario, env: EnvOptions, corpus: &[(String, PartitionEnv)]) -> Vec<String> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (_, e) in corpus {
        let spec = sim::spec_write::spec_to_toml(&e.problem().spec);
        eat(toml::to_string(&spec).unwrap_or_default().as_bytes());
        eat(e.problem().graph.to_json().as_bytes());
    }
    let o = &s.simulation;
    vec![
        format!(
            "simulation: microbatches={} packet_bytes={} steady_state={:?} switching={:?}",
            o.microbatches, o.packet_bytes, o.steady_state, o.switching
        ),
        format!(
            "environment: repair_nodes={} invalid_reward={}",
            env.repair_nodes, env.invalid_reward
        ),
        format!("problem specs and graphs: digest {h:016x}"),
    ]
}

/// Runs the task: its summary, its files, whether it ran every batch (false
/// after Ctrl-C) and its warnings.
pub(super) fn run_train(
    s: &Scenario,
    t: &TrainTask,
    p: Prepared,
    args: &RunArgs,
    out_dir: &Path,
    format: Option<Format>,
) -> Result<(String, Outputs, bool, Vec<String>), UserError> {
    let Prepared {
        config,
        setup,
        batches,
        corpus,
        named,
        holdout,
        resume,
    } = p;
    let resumed_at = resume.as_ref().map(|(_, r)| r.curve.len() as u64);
    let (mut trainer, curve) = match resume {
        Some((trainer, record)) => (trainer, record.curve),
        None => (
            Trainer::new(derive_seed(s.seed, TRAINER_STREAM), config),
            Vec::new(),
        ),
    };
    let mut corpus = Corpus::from_envs(&trainer, corpus);
    let mut record = RunRecord { setup, curve };
    let (mut complete, warnings) = train_batches(
        &mut trainer,
        &mut corpus,
        &mut record,
        batches,
        t.checkpoint_every,
        args,
        out_dir,
    )
    .map_err(|e| UserError::new(format!("{}: {}", s.file.display(), e.message)))?;
    let curve = &record.curve;
    let checkpoint = trainer.to_json(progress(curve), Some(&record));
    // The zero-shot evaluation draws from the trainer's generator, after
    // the checkpoint was taken: a resumed run continues from the trainer
    // as it was after its last batch.
    let mut holdout_scores = match complete {
        true => Some(evaluate_holdout(&mut trainer, holdout, t.samples as usize)?),
        false => None,
    };
    if interrupted() {
        // Ctrl-C during the evaluation may have cut `dp` short.
        complete = false;
        holdout_scores = None;
    }
    let corpus_rows = corpus_rows(&corpus, named, curve);
    let result = TrainResult::new(
        t,
        &config,
        batches,
        resumed_at,
        &record,
        corpus_rows,
        holdout_scores,
    );
    let summary = summary(s, &result, complete);
    let mut files: Outputs = vec![
        report_file(s, complete, &result),
        (CHECKPOINT.to_string(), checkpoint.into_bytes()),
        (
            "learning_curve.csv".to_string(),
            curve_csv(curve, corpus.names()).into_bytes(),
        ),
    ];
    if let Some(format) = format {
        let scratch = PlotScratch::new(out_dir, format)?;
        files.push(curve_plot(s, curve, &scratch)?);
    }
    Ok((summary, files, complete, warnings))
}

/// Trains batches until the run has `batches` (the record's curve grows by
/// one row each), writing a checkpoint into `out_dir` every
/// `checkpoint_every`; stops early on Ctrl-C (or the test hooks). Whether
/// every batch ran, and the warnings.
fn train_batches(
    trainer: &mut Trainer,
    corpus: &mut Corpus,
    record: &mut RunRecord,
    batches: u64,
    checkpoint_every: u64,
    args: &RunArgs,
    out_dir: &Path,
) -> Result<(bool, Vec<String>), UserError> {
    let mut warnings = Vec::new();
    let bar = progress_bar(batches, record.curve.len() as u64, args.quiet);
    let mut trained = 0u64;
    // The batch's episodes on `--threads` threads (the same batch on any
    // number).
    let mut threads = ThreadScorer::new(super::sweep::worker_threads(args));
    let mut pooled = args.pool.as_ref().map(PoolScorer::new);
    while (record.curve.len() as u64) < batches {
        let hook = args.interrupt_after_batches.is_some_and(|n| trained >= n);
        if interrupted() || hook {
            bar.finish_and_clear();
            return Ok((false, warnings));
        }
        let b = match &mut pooled {
            None => trainer.train_corpus_batch_scored(corpus, &mut threads),
            Some(pooled) => trainer.train_corpus_batch_scored(corpus, pooled),
        };
        let b = match b {
            Ok(b) => b,
            // The batch under way is dropped whole (the trainer is as it
            // was before it), as Ctrl-C between batches leaves it.
            Err(EnvError::Interrupted) => {
                bar.finish_and_clear();
                return Ok((false, warnings));
            }
            Err(e) => return Err(UserError::new(format!("training: {e}"))),
        };
        let done = record.curve.len() as u64 + 1;
        record.curve.push(CurveRow::new(done, &b));
        trained += 1;
        bar.set_position(done);
        bar.set_message(bar_message(&record.curve));
        if done.is_multiple_of(checkpoint_every) && done < batches {
            let text = trainer.to_json(progress(&record.curve), Some(record));
            if let Err(e) = crate::files::write_checkpoint(out_dir, &text)
                && warnings.is_empty()
            {
                warnings.push(format!(
                    "the run goes on without its periodic checkpoints: {}",
                    e.message
                ));
            }
        }
        if args.crash_after_batches.is_some_and(|n| trained >= n) {
            return Err(UserError::new(format!(
                "testing aid: stopped after {trained} batches as if the process had died, \
                 writing nothing but the periodic checkpoints"
            )));
        }
    }
    bar.finish_and_clear();
    Ok((true, warnings))
}

/// The counters a checkpoint holds, from the curve.
fn progress(curve: &[CurveRow]) -> Progress {
    Progress {
        batches: curve.len() as u64,
        evaluations: curve.iter().map(|r| r.evaluations).sum(),
    }
}

/// The run's progress on the terminal: batches done of all, the last
/// batch's mean reward, the best episode's so far, the time left; hidden
/// with `--quiet` or when standard output is not a terminal.
fn progress_bar(batches: u64, done: u64, quiet: bool) -> indicatif::ProgressBar {
    super::progress_bar(
        batches,
        done,
        quiet,
        "train {bar:30} {pos}/{len} batches  {msg}  eta {eta}",
    )
}

fn bar_message(curve: &[CurveRow]) -> String {
    let last = curve.last().map_or(0.0, |r| r.mean_reward);
    let best = curve
        .iter()
        .filter_map(|r| r.best_reward)
        .fold(f64::NEG_INFINITY, f64::max);
    format!("mean {last:.3}  best {best:.3}")
}

/// One holdout problem's zero-shot result.
#[derive(Serialize)]
struct HoldoutRow {
    name: String,
    n_ops: usize,
    n_chips: usize,
    baseline_method: &'static str,
    baseline_throughput_inferences_per_s: f64,
    /// Mean and best reward of the samples.
    mean_reward: f64,
    best_reward: f64,
    /// `dp`'s placement's reward, for comparison; `null` when dp finds none.
    dp_reward: Option<f64>,
}

/// Samples the trained policy on every holdout problem without training,
/// and `dp`'s reward on each.
fn evaluate_holdout(
    trainer: &mut Trainer,
    envs: Vec<(String, PartitionEnv)>,
    samples: usize,
) -> Result<Vec<HoldoutRow>, UserError> {
    if envs.is_empty() {
        return Ok(Vec::new());
    }
    let mut corpus = Corpus::from_envs(trainer, envs);
    let scores = trainer
        .evaluate(&mut corpus, samples)
        .map_err(|e| UserError::new(format!("holdout evaluation: {e}")))?;
    let mut rows = Vec::with_capacity(scores.len());
    for (i, (mean_reward, best_reward)) in scores.into_iter().enumerate() {
        let env = corpus.env(i);
        let dp_reward = method_reward(env, "dp")
            .map_err(|e| UserError::new(format!("holdout {}: dp: {e}", corpus.name(i))))?;
        rows.push(HoldoutRow {
            name: corpus.name(i).to_string(),
            n_ops: env.n_ops(),
            n_chips: env.n_chips(),
            baseline_method: env.baseline().method,
            baseline_throughput_inferences_per_s: env.baseline().throughput_inferences_per_s,
            mean_reward,
            best_reward,
            dp_reward,
        });
    }
    Ok(rows)
}

/// One corpus problem in the report.
#[derive(Serialize)]
struct CorpusRow {
    name: String,
    /// `scenario` or `random`.
    source: &'static str,
    n_ops: usize,
    n_chips: usize,
    baseline_method: &'static str,
    baseline_throughput_inferences_per_s: f64,
    /// Batches trained on it.
    batches: u64,
}

fn corpus_rows(corpus: &Corpus, named: usize, curve: &[CurveRow]) -> Vec<CorpusRow> {
    let mut drawn = vec![0u64; corpus.len()];
    for r in curve {
        drawn[r.problem] += 1;
    }
    (0..corpus.len())
        .map(|i| {
            let env = corpus.env(i);
            CorpusRow {
                name: corpus.name(i).to_string(),
                source: if i < named { "scenario" } else { "random" },
                n_ops: env.n_ops(),
                n_chips: env.n_chips(),
                baseline_method: env.baseline().method,
                baseline_throughput_inferences_per_s: env.baseline().throughput_inferences_per_s,
                batches: drawn[i],
            }
        })
        .collect()
}

/// The PPO configuration in the report.
#[derive(Serialize)]
struct ConfigOut {
    episodes_per_batch: usize,
    epochs: usize,
    minibatch: usize,
    clip: f32,
    value_coef: f32,
    entropy_coef: f32,
    learning_rate: f32,
    max_grad_norm: f32,
    log_prob_of: &'static str,
    repair_by_log_prob: bool,
}

/// The result in `report.json`.
#[derive(Serialize)]
struct TrainResult {
    /// Batches the run trains in all (after `--max-budget`).
    batches: u64,
    /// Batches done, a resumed checkpoint's included.
    batches_done: u64,
    /// Simulator calls of the training batches.
    evaluations: u64,
    /// The checkpoint's batch count when the run was resumed.
    resumed_at_batch: Option<u64>,
    checkpoint_every: u64,
    config: ConfigOut,
    /// Of the setup and configuration (see `agent::rl::pretrain`).
    fingerprint: String,
    corpus: Vec<CorpusRow>,
    mean_reward_first_10: Option<f64>,
    mean_reward_last_10: Option<f64>,
    best_reward: Option<f64>,
    /// Zero-shot samples per holdout problem.
    holdout_samples: u64,
    /// `null` when the run was interrupted (not evaluated).
    holdout: Option<Vec<HoldoutRow>>,
}

impl TrainResult {
    fn new(
        t: &TrainTask,
        c: &PpoConfig,
        batches: u64,
        resumed_at: Option<u64>,
        record: &RunRecord,
        corpus: Vec<CorpusRow>,
        holdout: Option<Vec<HoldoutRow>>,
    ) -> TrainResult {
        let curve = &record.curve;
        let mean = |rows: &[CurveRow]| {
            (!rows.is_empty())
                .then(|| rows.iter().map(|r| r.mean_reward).sum::<f64>() / rows.len() as f64)
        };
        let n = curve.len();
        TrainResult {
            batches,
            batches_done: n as u64,
            evaluations: progress(curve).evaluations,
            resumed_at_batch: resumed_at,
            checkpoint_every: t.checkpoint_every,
            config: ConfigOut {
                episodes_per_batch: c.episodes_per_batch,
                epochs: c.epochs,
                minibatch: c.minibatch,
                clip: c.clip,
                value_coef: c.value_coef,
                entropy_coef: c.entropy_coef,
                learning_rate: c.learning_rate,
                max_grad_norm: c.max_grad_norm,
                log_prob_of: match c.log_prob_of {
                    agent::rl::ppo::LogProbOf::Proposal => "proposal",
                    agent::rl::ppo::LogProbOf::Repaired => "repaired",
                },
                repair_by_log_prob: c.repair_by_log_prob,
            },
            fingerprint: setup_fingerprint(&record.setup, c),
            corpus,
            mean_reward_first_10: mean(&curve[..n.min(WINDOW)]),
            mean_reward_last_10: mean(&curve[n.saturating_sub(WINDOW)..]),
            best_reward: curve.iter().filter_map(|r| r.best_reward).reduce(f64::max),
            holdout_samples: t.samples,
            holdout,
        }
    }
}

/// The text printed and written as `summary.txt`: the corpus, the batches,
/// the first and last mean rewards, the holdout table.
fn summary(s: &Scenario, r: &TrainResult, complete: bool) -> String {
    let named = r.corpus.iter().filter(|c| c.source == "scenario").count();
    let mut text = format!(
        "{}: train the partition policy on {} problems ({} from the scenario, {} random), \
         PPO batches: {} of {} episodes (learning rate {}, entropy coefficient {})\n",
        s.name,
        r.corpus.len(),
        named,
        r.corpus.len() - named,
        r.batches,
        r.config.episodes_per_batch,
        r.config.learning_rate,
        r.config.entropy_coef
    );
    if let Some(k) = r.resumed_at_batch {
        text.push_str(&format!("resumed from a checkpoint at batch {k}\n"));
    }
    text.push('\n');
    let mut corpus = TextTable::new(&[
        ("corpus problem", Align::Left),
        ("ops", Align::Right),
        ("chips", Align::Right),
        ("baseline", Align::Left),
        ("batches", Align::Right),
    ]);
    for c in &r.corpus {
        corpus.row(vec![
            c.name.clone(),
            c.n_ops.to_string(),
            c.n_chips.to_string(),
            c.baseline_method.to_string(),
            c.batches.to_string(),
        ]);
    }
    text.push_str(&corpus.render());
    let shown = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.3}"));
    text.push_str(&format!(
        "\n{} of {} batches, {} simulator calls; rewards are throughput over the baseline's\n\
         mean reward, first {WINDOW} batches: {}\n\
         mean reward, last {WINDOW} batches:  {}\n\
         best episode:                  {}\n",
        r.batches_done,
        r.batches,
        r.evaluations,
        shown(r.mean_reward_first_10),
        shown(r.mean_reward_last_10),
        shown(r.best_reward)
    ));
    match &r.holdout {
        Some(rows) if !rows.is_empty() => {
            text.push_str(&format!(
                "\nholdout, zero-shot ({} samples each; dp's reward for comparison)\n",
                r.holdout_samples
            ));
            let mut table = TextTable::new(&[
                ("holdout problem", Align::Left),
                ("ops", Align::Right),
                ("chips", Align::Right),
                ("mean", Align::Right),
                ("best", Align::Right),
                ("dp", Align::Right),
            ]);
            for h in rows {
                table.row(vec![
                    h.name.clone(),
                    h.n_ops.to_string(),
                    h.n_chips.to_string(),
                    format!("{:.3}", h.mean_reward),
                    format!("{:.3}", h.best_reward),
                    shown(h.dp_reward),
                ]);
            }
            text.push_str(&table.render());
        }
        Some(_) => {}
        None => text.push_str("\nholdout: not evaluated (interrupted)\n"),
    }
    if !complete {
        text.push_str(&format!(
            "\ninterrupted after batch {}: checkpoint.json holds the trainer there; \
             continue with --resume\n",
            r.batches_done
        ));
    }
    text
}

/// `learning_curve.csv`: one row per batch.
fn curve_csv(curve: &[CurveRow], names: &[String]) -> String {
    let mut csv = String::from(
        "batch,problem,mean_reward,best_reward,entropy,policy_loss,value_loss,evaluations\n",
    );
    for r in curve {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            r.batch,
            csv_field(&names[r.problem]),
            r.mean_reward,
            r.best_reward.map_or_else(String::new, |b| b.to_string()),
            r.entropy,
            r.policy_loss,
            r.value_loss,
            r.evaluations
        ));
    }
    csv
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Mean reward per batch and its trailing moving average.
fn curve_plot(
    s: &Scenario,
    curve: &[CurveRow],
    scratch: &PlotScratch,
) -> Result<(String, Vec<u8>), UserError> {
    let points: Vec<(f64, f64)> = curve
        .iter()
        .map(|r| (r.batch as f64, r.mean_reward))
        .collect();
    let average: Vec<(f64, f64)> = (0..points.len())
        .map(|i| {
            let from = (i + 1).saturating_sub(WINDOW);
            let window = &points[from..=i];
            (
                points[i].0,
                window.iter().map(|p| p.1).sum::<f64>() / window.len() as f64,
            )
        })
        .collect();
    let series = [
        Series {
            name: "mean reward".to_string(),
            points,
            invalid: Vec::new(),
        },
        Series {
            name: format!("moving average of {WINDOW} batches"),
            points: average,
            invalid: Vec::new(),
        },
    ];
    let path = scratch.path("learning_curve");
    let title = format!("{}: learning curve", s.name);
    plots::line_plot(
        &series,
        &LinePlot {
            title: &title,
            x_label: "PPO batch",
            y_label: "mean reward (throughput / baseline)",
            log_x: false,
            log_y: false,
            markers: false,
        },
        &path,
        scratch.format(),
    )?;
    scratch.take(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_commas_or_quotes_are_quoted() {
        assert_eq!(csv_field("bert-base on ring4"), "bert-base on ring4");
        assert_eq!(
            csv_field("random-3 (41 ops, 6 chiplets)"),
            "\"random-3 (41 ops, 6 chiplets)\""
        );
        assert_eq!(csv_field("a \"b\""), "\"a \"\"b\"\"\"");
    }
}
