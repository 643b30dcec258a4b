//! Work a run hands to other machines while it goes on (the Python
//! package's Ray runner): the run stays here and keeps every decision (what
//! to sample, what to keep, in which order); a [`JobPool`] only computes
//! self-contained jobs and returns their results in job order. So a run
//! with a pool writes what the same run without one writes, byte for byte.
//!
//! Two kinds of job. [`Job::Episodes`]: PPO episodes of a train task to
//! score (repair, then simulate), each a pure function of the problem and
//! the action. A job carries the problem as text (the hardware as its
//! explicit TOML, the graph as graph JSON, the constraints, the simulator
//! and environment options, the baseline it is scored against), so the
//! worker needs the tessera library and none of the scenario's files.
//! [`Job::NasTrial`]: one trial of a nas task's generation to train and
//! score, a pure function of the network and the trial number given the
//! run's settings; the job carries the network and the run's resolved
//! scenario (hardware inline, data files by absolute path: a worker needs
//! the data where the driver has it, e.g. Debian's Fashion-MNIST package),
//! and the worker's rebuild must give the run's digest.
//! Sweep points travel as their own jobs (`sweep::point_job`), merged by
//! the sweep after the fact.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use agent::Problem;
use agent::rl::ppo::{EpisodeScore, EpisodeScorer, StepEach};
use agent::rl::{Action, Baseline, EnvError, EnvOptions, PartitionEnv};
use sim::constraints::Constraints;
use sim::graph::Graph;
use sim::spec::ChipletId;
use sim::spec::HwSpec;
use sim::{Placement, SimOptions};

use nas::evolve::{EvaluateError, Evaluation};
use nas::ir::Net;

use super::nas::TrialSetup;
use crate::error::UserError;

/// Why a pool returned no results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// The program driving the pool was interrupted (Ctrl-C); the run stops
    /// as after Ctrl-C, keeping what finished before the pool was asked.
    Interrupted,
    /// A job or the pool itself failed; the message says how.
    Failed(String),
}

type RunJobs = dyn Fn(Vec<String>) -> Result<Vec<String>, PoolError> + Send + Sync;

/// Runs job texts elsewhere and returns their results (the texts
/// [`run_job`] returns), one per job, in job order.
#[derive(Clone)]
pub struct JobPool {
    run: Arc<RunJobs>,
    workers: usize,
}

impl JobPool {
    /// A pool of about `workers` parallel workers (how many jobs a batch of
    /// work is cut into; it never changes a result) running jobs with `run`.
    pub fn new(
        workers: usize,
        run: impl Fn(Vec<String>) -> Result<Vec<String>, PoolError> + Send + Sync + 'static,
    ) -> JobPool {
        JobPool {
            run: Arc::new(run),
            workers: workers.max(1),
        }
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Runs `jobs`; a pool that returns another number of results than it
    /// was given jobs is a failure.
    pub fn run(&self, jobs: Vec<String>) -> Result<Vec<String>, PoolError> {
        let sent = jobs.len();
        let results = (self.run)(jobs)?;
        if results.len() != sent {
            return Err(PoolError::Failed(format!(
                "{sent} jobs sent, {} results came back",
                results.len()
            )));
        }
        Ok(results)
    }
}

impl std::fmt::Debug for JobPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JobPool({} workers)", self.workers)
    }
}

/// Version of the job and result texts; a job made by another build of
/// tessera is refused, not misread.
const JOB_FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case", deny_unknown_fields)]
enum Job {
    Episodes(EpisodesJob),
    NasTrial(NasTrialJob),
}

/// One trial of a nas task: its network to train and score, and the run's
/// resolved scenario (data, training and scoring settings), which the
/// worker rebuilds and checks against the run's digest.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NasTrialJob {
    format_version: u32,
    scenario_toml: String,
    digest: String,
    trial: u64,
    net: Net,
}

/// The problem an episode is scored on, as text.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct ProblemText {
    spec_toml: String,
    graph_json: String,
    constraints: Constraints,
    options: SimOptions,
    repair_nodes: u64,
    invalid_reward: f64,
    baseline_method: String,
    baseline_chips: Vec<u32>,
    baseline_throughput_inferences_per_s: f64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EpisodesJob {
    format_version: u32,
    problem: ProblemText,
    /// The costs repair minimises, shared by every action of the job
    /// (non-finite values as the strings "inf", "-inf", "nan").
    repair_costs: Option<Vec<Json>>,
    /// One proposal (a chip per op) per episode.
    chips: Vec<Vec<u32>>,
}

impl ProblemText {
    fn of(env: &PartitionEnv) -> ProblemText {
        let p = env.problem();
        let o = env.options();
        let b = env.baseline();
        ProblemText {
            spec_toml: sim::spec_write::spec_to_toml_string(&p.spec),
            graph_json: p.graph.to_json(),
            constraints: p.constraints,
            options: p.options.clone(),
            repair_nodes: o.repair_nodes,
            invalid_reward: o.invalid_reward,
            baseline_method: b.method.to_string(),
            baseline_chips: b.placement.chip_ids(),
            baseline_throughput_inferences_per_s: b.throughput_inferences_per_s,
        }
    }

    fn env(&self) -> Result<PartitionEnv, String> {
        let spec =
            HwSpec::from_toml_str(&self.spec_toml, "<episodes job>").map_err(|e| e.to_string())?;
        let graph = Graph::from_json(&self.graph_json).map_err(|e| e.to_string())?;
        let placement = Placement {
            chiplet_of_op: self.baseline_chips.iter().map(|&c| ChipletId(c)).collect(),
        };
        placement
            .validate(&spec, &graph)
            .map_err(|e| format!("baseline placement: {e}"))?;
        let method = agent::partition::registry::lookup(&self.baseline_method)
            .map_err(|e| e.to_string())?
            .name;
        let problem = Problem::new(spec, graph)
            .with_constraints(self.constraints)
            .with_options(self.options.clone());
        PartitionEnv::with_baseline(
            problem,
            EnvOptions {
                repair_nodes: self.repair_nodes,
                invalid_reward: self.invalid_reward,
            },
            Baseline {
                method,
                placement,
                throughput_inferences_per_s: self.baseline_throughput_inferences_per_s,
            },
        )
        .map_err(|e| e.to_string())
    }
}

fn cost_to_json(c: f64) -> Json {
    if c.is_finite() {
        Json::from(c)
    } else if c.is_nan() {
        Json::from("nan")
    } else if c > 0.0 {
        Json::from("inf")
    } else {
        Json::from("-inf")
    }
}

fn cost_from_json(v: &Json) -> Result<f64, String> {
    match v {
        Json::Number(n) => n.as_f64().ok_or_else(|| format!("cost {n}")),
        Json::String(s) if s == "inf" => Ok(f64::INFINITY),
        Json::String(s) if s == "-inf" => Ok(f64::NEG_INFINITY),
        Json::String(s) if s == "nan" => Ok(f64::NAN),
        other => Err(format!(
            "cost {other}: expected a number, \"inf\", \"-inf\" or \"nan\""
        )),
    }
}

/// A job text that is not one this build wrote (a damaged or foreign
/// message): a programming or deployment error, said in one line.
fn bad_job(what: impl std::fmt::Display) -> UserError {
    UserError::new(format!("job: {what}"))
}

/// Environments the worker process built, most recent last, so the jobs
/// of one problem (every batch of a train run on it) build it once.
static ENVS: Mutex<Vec<(String, PartitionEnv)>> = Mutex::new(Vec::new());
const ENVS_KEPT: usize = 8;

/// Runs a job text; returns its result text: the job's `Result` as serde
/// writes it (`{"Ok": ...}` or `{"Err": ...}`).
pub fn run_job(text: &str) -> Result<String, UserError> {
    let job: Job = serde_json::from_str(text).map_err(bad_job)?;
    let version = match &job {
        Job::Episodes(j) => j.format_version,
        Job::NasTrial(j) => j.format_version,
    };
    if version != JOB_FORMAT_VERSION {
        return Err(bad_job(format_args!(
            "format_version {version}; this build of tessera reads {JOB_FORMAT_VERSION}"
        )));
    }
    match job {
        Job::Episodes(job) => run_episodes(job),
        Job::NasTrial(job) => run_nas_trial(job),
    }
}

/// Scenarios the worker process rebuilt for nas trials, most recent last.
static NAS_SETUPS: Mutex<Vec<(String, Arc<TrialSetup>)>> = Mutex::new(Vec::new());
const NAS_SETUPS_KEPT: usize = 2;

fn run_nas_trial(job: NasTrialJob) -> Result<String, UserError> {
    let key = format!("{}\n{}", job.digest, job.scenario_toml);
    let kept = {
        let setups = NAS_SETUPS.lock().unwrap_or_else(|e| e.into_inner());
        setups
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, s)| Arc::clone(s))
    };
    let setup = match kept {
        Some(s) => s,
        None => {
            let s = Arc::new(
                TrialSetup::from_resolved(&job.scenario_toml, &job.digest).map_err(bad_job)?,
            );
            let mut setups = NAS_SETUPS.lock().unwrap_or_else(|e| e.into_inner());
            setups.push((key, Arc::clone(&s)));
            if setups.len() > NAS_SETUPS_KEPT {
                setups.remove(0);
            }
            s
        }
    };
    let outcome: Result<Evaluation, EvaluateError> = setup.evaluate(&job.net, job.trial);
    serde_json::to_string(&outcome).map_err(|e| UserError::new(format!("job: the result: {e}")))
}

/// The job text of trial `trial` of a nas run.
pub(super) fn nas_trial_job(scenario_toml: &str, digest: &str, trial: u64, net: &Net) -> String {
    serde_json::to_string(&Job::NasTrial(NasTrialJob {
        format_version: JOB_FORMAT_VERSION,
        scenario_toml: scenario_toml.to_string(),
        digest: digest.to_string(),
        trial,
        net: net.clone(),
    }))
    .expect("a job serialises")
}

/// A nas trial's result text, read back.
pub(super) fn decode_nas_trial(text: &str) -> Result<Result<Evaluation, EvaluateError>, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

fn run_episodes(job: EpisodesJob) -> Result<String, UserError> {
    let costs = job
        .repair_costs
        .as_ref()
        .map(|v| v.iter().map(cost_from_json).collect::<Result<Vec<_>, _>>())
        .transpose()
        .map_err(bad_job)?;
    let key = serde_json::to_string(&job.problem).expect("a problem serialises");
    let mut env = {
        let mut kept = ENVS.lock().unwrap_or_else(|e| e.into_inner());
        match kept.iter().position(|(k, _)| *k == key) {
            Some(i) => kept.remove(i).1,
            None => job.problem.env().map_err(bad_job)?,
        }
    };
    let actions: Vec<Action> = job
        .chips
        .into_iter()
        .map(|chips| Action {
            chips,
            repair_costs: costs.clone(),
        })
        .collect();
    let scored = StepEach.score(&mut env, &actions);
    {
        let mut kept = ENVS.lock().unwrap_or_else(|e| e.into_inner());
        kept.push((key, env));
        if kept.len() > ENVS_KEPT {
            kept.remove(0);
        }
    }
    let outcome: Result<Vec<EpisodeScore>, String> = scored.map_err(|e| e.to_string());
    Ok(serde_json::to_string(&outcome).expect("a result serialises"))
}

/// Scores a PPO batch's episodes on a [`JobPool`]: the actions cut into
/// one contiguous job per worker, the scores read back in order.
pub(crate) struct PoolScorer<'a> {
    pool: &'a JobPool,
    /// Each problem's text, made on its first batch (keyed by its
    /// observation's address, as `ThreadScorer` keys its copies: it finds
    /// the text, it decides nothing).
    problems: Vec<(usize, ProblemText)>,
}

impl PoolScorer<'_> {
    pub(crate) fn new(pool: &JobPool) -> PoolScorer<'_> {
        PoolScorer {
            pool,
            problems: Vec::new(),
        }
    }
}

impl EpisodeScorer for PoolScorer<'_> {
    fn score(
        &mut self,
        env: &mut PartitionEnv,
        actions: &[Action],
    ) -> Result<Vec<EpisodeScore>, EnvError> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        let key = Arc::as_ptr(env.observation()) as usize;
        let at = match self.problems.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.problems.push((key, ProblemText::of(env)));
                self.problems.len() - 1
            }
        };
        let problem = &self.problems[at].1;
        let per_job = actions.len().div_ceil(self.pool.workers());
        let mut groups: Vec<&[Action]> = Vec::new();
        for chunk in actions.chunks(per_job) {
            // A job shares its repair costs; actions with others go alone.
            if chunk
                .iter()
                .all(|a| a.repair_costs == chunk[0].repair_costs)
            {
                groups.push(chunk);
            } else {
                groups.extend(chunk.chunks(1));
            }
        }
        let jobs: Vec<String> = groups
            .iter()
            .map(|g| {
                let job = Job::Episodes(EpisodesJob {
                    format_version: JOB_FORMAT_VERSION,
                    problem: problem.clone(),
                    repair_costs: g[0]
                        .repair_costs
                        .as_ref()
                        .map(|c| c.iter().map(|&x| cost_to_json(x)).collect()),
                    chips: g.iter().map(|a| a.chips.clone()).collect(),
                });
                serde_json::to_string(&job).expect("a job serialises")
            })
            .collect();
        let results = self.pool.run(jobs).map_err(|e| match e {
            PoolError::Interrupted => EnvError::Interrupted,
            PoolError::Failed(m) => EnvError::Scoring(m),
        })?;
        let mut out = Vec::with_capacity(actions.len());
        for (i, (text, group)) in results.iter().zip(&groups).enumerate() {
            let scores =
                decode_scores(text).map_err(|m| EnvError::Scoring(format!("job {i}: {m}")))?;
            if scores.len() != group.len() {
                return Err(EnvError::Scoring(format!(
                    "job {i}: {} episodes sent, {} scores came back",
                    group.len(),
                    scores.len()
                )));
            }
            out.extend(scores);
        }
        Ok(out)
    }
}

/// A result text of an episodes job, read back.
fn decode_scores(text: &str) -> Result<Vec<EpisodeScore>, String> {
    serde_json::from_str::<Result<Vec<EpisodeScore>, String>>(text).map_err(|e| e.to_string())?
}
