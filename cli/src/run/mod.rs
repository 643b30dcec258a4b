//! `tessera run`: the single front door. Reads a scenario, checks and builds
//! everything before writing anything, runs the task, and writes the outputs
//! atomically: `report.json`, `scenario.resolved.toml`, `summary.txt`, and per
//! task `placement.json`, `trace.json`, `sweep.csv`, `checkpoint.json`,
//! `learning_curve.csv`, `trials.csv`, `pareto.csv` and plots.
//!
//! This module holds the run's arguments, the dispatch to one module per task
//! (`simulate`, `traffic`, `partition`, `sweep`, `train`, `nas`) and Ctrl-C
//! handling; what a run writes and how is in `outputs` and `resolved`.

mod fit;
mod jobs;
mod nas;
mod outputs;
mod partition;
mod resolved;
mod simulate;
mod sweep;
mod traffic;
mod train;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::UserError;
use crate::plots::Format;
use crate::scenario::{self, Resolved, Scenario, Task, Workload};

pub use outputs::RUN_REPORT_SCHEMA_VERSION;
pub use sweep::{SIMULATE_METRICS, TRAFFIC_METRICS};

use outputs::Outputs;

/// Set by the Ctrl-C handler; long tasks check it between units of work.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// A progress bar of `len` steps at `done` in `template`'s style (the
/// runners' shared bar); hidden with `--quiet` or when standard output is
/// not a terminal.
fn progress_bar(len: u64, done: u64, quiet: bool, template: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if quiet || !std::io::stdout().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
    bar.set_position(done);
    bar
}

/// Installs the Ctrl-C handler once per process.
pub fn install_interrupt_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // If another handler is installed (e.g. by an embedding program), runs
        // simply cannot be interrupted cleanly; that is not an error.
        let _ = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, Ordering::SeqCst);
            agent::partition::interrupt::request();
        });
    });
}

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Options of `tessera run`.
#[derive(Clone, Debug, Default)]
pub struct RunArgs {
    pub scenario: PathBuf,
    pub out: Option<PathBuf>,
    pub seed: Option<u64>,
    pub quiet: bool,
    pub json: bool,
    /// Worker threads for sweeps and a nas generation's evaluations
    /// (default: available cores).
    pub threads: Option<usize>,
    /// Test hook: behave as if Ctrl-C came after this many sweep points.
    pub interrupt_after_points: Option<usize>,
    /// Test hook: behave as if Ctrl-C came after this many simulator calls
    /// of a partition method (interrupting that method).
    pub interrupt_after_evaluations: Option<u64>,
    /// Caps every search budget (quick runs, tests); also TESSERA_MAX_BUDGET.
    pub max_budget: Option<u64>,
    /// Replace the output directory even when it is not an earlier run's.
    pub force: bool,
    /// A train task's checkpoint to continue from.
    pub resume: Option<PathBuf>,
    /// Test hook: behave as if Ctrl-C came after this many PPO batches of
    /// a train task (counted in this run, not the checkpoint's).
    pub interrupt_after_batches: Option<u64>,
    /// Test hook: a train task stops after this many PPO batches of this
    /// run as if the process died (an error; only periodic checkpoints are
    /// left).
    pub crash_after_batches: Option<u64>,
    /// Refuse a scenario whose task is not `train` (`tessera train`).
    pub train_only: bool,
    /// Test hook: behave as if Ctrl-C came after this many trials of a nas
    /// task (counted in this run, not the checkpoint's).
    pub interrupt_after_trials: Option<u64>,
    /// Run inside another program (the Python package): no Ctrl-C handler
    /// is installed, since SIGINT belongs to the embedding program.
    pub embedded: bool,
    /// A sweep's point results computed elsewhere (the Python package's Ray
    /// runner: [`run_point_job`] on each of [`sweep_point_jobs`]), one per
    /// grid point in grid order, `None` for a point that did not run; the
    /// sweep then runs no point itself and merges these as its own.
    pub point_outcomes: Option<Vec<Option<String>>>,
    /// Where a train task's episodes are scored, when not here (the Python
    /// package's Ray runner): the run is the same, byte for byte.
    pub pool: Option<JobPool>,
}

/// The environment variables a run reads, each standing in for a flag.
pub const ENV_MAX_BUDGET: &str = "TESSERA_MAX_BUDGET";
pub const ENV_THREADS: &str = "TESSERA_THREADS";

impl RunArgs {
    /// The arguments with `TESSERA_MAX_BUDGET` and `TESSERA_THREADS` (read
    /// through `lookup`) filling `max_budget` and `threads` where no flag set
    /// them. A value that is not a whole number from 1 up, in a variable or
    /// a flag, is refused: a cap or thread count silently ignored would make
    /// a run far longer, or different, than the user asked.
    pub fn with_env(
        mut self,
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<RunArgs, UserError> {
        check_positive("--max-budget", self.max_budget)?;
        check_positive("--threads", self.threads.map(|t| t as u64))?;
        if self.max_budget.is_none() {
            self.max_budget = env_positive(ENV_MAX_BUDGET, &lookup)?;
        }
        if self.threads.is_none() {
            self.threads = env_positive(ENV_THREADS, &lookup)?
                .map(|t| usize::try_from(t).unwrap_or(usize::MAX));
        }
        Ok(self)
    }
}

/// Refuses a flag's value of 0.
fn check_positive(flag: &str, value: Option<u64>) -> Result<(), UserError> {
    match value {
        Some(0) => Err(UserError::new(format!(
            "{flag}: must be at least 1, found 0"
        ))),
        _ => Ok(()),
    }
}

/// An environment variable holding a whole number from 1 up, or absent
/// (unset or empty).
fn env_positive(
    name: &str,
    lookup: &impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Option<u64>, UserError> {
    let Some(raw) = lookup(name) else {
        return Ok(None);
    };
    let text = raw.to_string_lossy();
    if text.trim().is_empty() {
        return Ok(None);
    }
    match text.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(Some(n)),
        _ => Err(UserError::new(format!(
            "environment variable {name}={text:?}: must be a whole number from 1 up \
             (unset it to use the default)"
        ))),
    }
}

/// What a run printed, and whether it was interrupted (exit code 130).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    pub stdout: String,
    pub interrupted: bool,
    /// One line each, printed on stderr as `warning: ...` (e.g. a trace
    /// that reached its cap).
    pub warnings: Vec<String>,
}

/// Reads and resolves a scenario (every grid point of a sweep) without
/// running it: what `tessera check` does. Returns it and its number of runs.
pub fn check_scenario(path: &Path) -> Result<(Scenario, usize), UserError> {
    let s = scenario::load(path)?;
    if let Task::Train(t) = &s.task {
        // Every problem built and given its baseline, as a run does first.
        train::prepare(&s, t, &RunArgs::default())?;
        return Ok((s, 1));
    }
    if let Task::Nas(t) = &s.task {
        // The data set read, the seed network built, the spec resolved.
        nas::prepare(&s, t, &RunArgs::default())?;
        return Ok((s, 1));
    }
    scenario::resolve(&s)?;
    let points = match &s.task {
        Task::Sweep(sweep) => sweep::grid(&s, sweep)?.len(),
        _ => 1,
    };
    Ok((s, points))
}

/// Runs a scenario file.
pub fn run(args: &RunArgs) -> Result<RunOutcome, UserError> {
    let s = scenario::load(&args.scenario)?;
    if args.train_only && !matches!(s.task, Task::Train(_)) {
        return Err(UserError::new(format!(
            "{}: `tessera train` runs scenarios of kind \"train\"; this one's task is {:?} \
             (run it with `tessera run`)",
            args.scenario.display(),
            s.task.kind()
        )));
    }
    run_scenario(s, args)
}

/// Runs a scenario already read (e.g. built from command-line flags).
pub fn run_scenario(mut s: Scenario, args: &RunArgs) -> Result<RunOutcome, UserError> {
    let args = &args.clone().with_env(|name| std::env::var_os(name))?;
    if let Some(seed) = args.seed {
        s.seed = seed;
    }
    if let Task::Train(t) = &s.task {
        return run_train_scenario(&s, t, args);
    }
    if let Task::Nas(t) = &s.task {
        return run_nas_scenario(&s, t, args);
    }
    if let Some(path) = &args.resume {
        return Err(UserError::new(format!(
            "--resume {}: only a train or nas task continues from a checkpoint; {}'s task is {:?}",
            path.display(),
            s.file.display(),
            s.task.kind()
        )));
    }
    let resolved = scenario::resolve(&s)?;
    run_resolved(resolved, args)
}

/// Runs a scenario whose hardware and workload are built (a simulate,
/// traffic, sweep or partition task) and writes its outputs.
pub fn run_resolved(resolved: Resolved, args: &RunArgs) -> Result<RunOutcome, UserError> {
    let args = &args.clone().with_env(|name| std::env::var_os(name))?;
    let s = &resolved.scenario;
    let points = sweep_points(s)?;
    let out_dir = output_dir(s, args);
    // Refused before the run, not after it: the directory is replaced as a
    // whole, so one that is not an earlier run's output needs --force, and
    // one holding the run's own inputs is refused even then.
    guard_inputs(s, args, &out_dir)?;
    crate::files::check_replaceable(&out_dir, args.force)?;
    if !args.embedded {
        install_interrupt_handler();
    }
    let (summary, mut files, complete, warnings) =
        run_task(&resolved, points, args, &out_dir, plot_format(s))?;
    if let (Some(Workload::GraphFile(_)), Some(g)) = (&s.workload, &resolved.graph) {
        files.push(("graph.json".to_string(), g.to_json().into_bytes()));
    }
    let resolved_text = resolved::resolved_toml(&resolved, &out_dir)?;
    finish(
        args,
        &out_dir,
        summary,
        files,
        resolved_text,
        complete,
        warnings,
    )
}

/// What [`run_resolved`] would write as `report.json`, and its warnings,
/// computed without writing anything or drawing plots (the Python package's
/// `partition` without an output directory). No Ctrl-C handler is installed.
pub fn report_of_resolved(
    resolved: &Resolved,
    args: &RunArgs,
) -> Result<(String, Vec<String>), UserError> {
    let args = &args.clone().with_env(|name| std::env::var_os(name))?;
    let s = &resolved.scenario;
    let points = sweep_points(s)?;
    let out_dir = output_dir(s, args);
    let (_, files, _, warnings) = run_task(resolved, points, args, &out_dir, None)?;
    let report = files
        .into_iter()
        .find(|(n, _)| n == "report.json")
        .expect("every task writes a report")
        .1;
    Ok((String::from_utf8_lossy(&report).into_owned(), warnings))
}

/// A sweep scenario's points as self-contained jobs, in grid order (first
/// axis slowest), for running elsewhere with [`run_point_job`]; their
/// outcomes, given back as [`RunArgs::point_outcomes`] to [`run`], make
/// the same outputs as running the sweep here. Refuses a scenario that is
/// not a sweep, and reports a bad grid value before any job is made.
pub fn sweep_point_jobs(args: &RunArgs) -> Result<Vec<String>, UserError> {
    let mut s = scenario::load(&args.scenario)?;
    if let Some(seed) = args.seed {
        s.seed = seed;
    }
    let Task::Sweep(sweep) = &s.task else {
        return Err(UserError::new(format!(
            "{}: only a sweep splits into point jobs; this scenario's task is {:?} \
             (run it with `tessera run`)",
            s.file.display(),
            s.task.kind()
        )));
    };
    Ok(sweep::grid(&s, sweep)?
        .iter()
        .map(sweep::point_job)
        .collect())
}

pub use jobs::{JobPool, PoolError, run_job};
pub use sweep::run_point_job;

/// A sweep's grid, every point resolved before anything runs, so a bad
/// value anywhere in the grid is reported with nothing written.
fn sweep_points(s: &Scenario) -> Result<Option<Vec<sweep::Point>>, UserError> {
    match &s.task {
        Task::Sweep(sweep) => Ok(Some(sweep::grid(s, sweep)?)),
        _ => Ok(None),
    }
}

/// A train task: its problems are built (and a `--resume` checkpoint
/// checked) before anything is written, then it trains.
fn run_train_scenario(
    s: &Scenario,
    t: &scenario::TrainTask,
    args: &RunArgs,
) -> Result<RunOutcome, UserError> {
    let prepared = train::prepare(s, t, args)?;
    let (corpus, holdout) = prepared.graphs();
    let resolved_text = resolved::train_resolved_toml(s, t, &corpus, &holdout)?;
    let out_dir = output_dir(s, args);
    guard_inputs(s, args, &out_dir)?;
    crate::files::check_replaceable(&out_dir, args.force)?;
    if !args.embedded {
        install_interrupt_handler();
    }
    let (summary, files, complete, warnings) =
        train::run_train(s, t, prepared, args, &out_dir, plot_format(s))?;
    finish(
        args,
        &out_dir,
        summary,
        files,
        resolved_text,
        complete,
        warnings,
    )
}

/// A nas task: its data set, seed network and hardware are built (and a
/// `--resume` checkpoint checked) before anything is written, then it
/// searches.
fn run_nas_scenario(
    s: &Scenario,
    t: &scenario::NasTask,
    args: &RunArgs,
) -> Result<RunOutcome, UserError> {
    let prepared = nas::prepare(s, t, args)?;
    let resolved_text = resolved::nas_resolved_toml(s, t, prepared.spec())?;
    let out_dir = output_dir(s, args);
    guard_inputs(s, args, &out_dir)?;
    crate::files::check_replaceable(&out_dir, args.force)?;
    if !args.embedded {
        install_interrupt_handler();
    }
    let (summary, files, complete, warnings) = nas::run_nas(
        s,
        t,
        prepared,
        args,
        &out_dir,
        plot_format(s),
        &resolved_text,
    )?;
    finish(
        args,
        &out_dir,
        summary,
        files,
        resolved_text,
        complete,
        warnings,
    )
}

/// Adds `scenario.resolved.toml` and `summary.txt` to a task's files,
/// writes them all, and says what the command prints.
fn finish(
    args: &RunArgs,
    out_dir: &Path,
    summary: String,
    mut files: Outputs,
    resolved_text: String,
    complete: bool,
    warnings: Vec<String>,
) -> Result<RunOutcome, UserError> {
    files.push((
        "scenario.resolved.toml".to_string(),
        resolved_text.into_bytes(),
    ));
    files.push(("summary.txt".to_string(), summary.clone().into_bytes()));
    outputs::write_outputs(out_dir, &files, args.force)?;
    Ok(RunOutcome {
        stdout: stdout(args, summary, &files, out_dir, complete),
        interrupted: !complete,
        warnings,
    })
}

/// The files a run reads: the scenario, its hardware, workload, placement
/// and data files, and a train task's problems. Not a `--resume`
/// checkpoint: resuming into the directory that holds it is how an
/// interrupted train or nas run continues, and the run has read it (and
/// writes its successor) before the directory is replaced.
fn input_files(s: &Scenario) -> Vec<PathBuf> {
    let mut files = vec![s.file.clone()];
    if let Some(scenario::HardwareSource::File(p)) = &s.hardware {
        files.push(p.clone());
    }
    let workload_file = |w: &Workload| match w {
        Workload::GraphFile(p) | Workload::Onnx { path: p, .. } => Some(p.clone()),
        Workload::Zoo { .. } => None,
    };
    files.extend(s.workload.as_ref().and_then(workload_file));
    match &s.task {
        Task::Simulate {
            placement: scenario::PlacementChoice::File(p),
        } => files.push(p.clone()),
        Task::Train(t) => {
            for e in t.corpus.iter().chain(&t.holdout) {
                files.push(e.spec.clone());
                files.extend(workload_file(&e.workload));
            }
        }
        Task::Nas(t) => {
            if let scenario::SeedNetwork::File(p) = &t.network {
                files.push(p.clone());
            }
            if let scenario::DataChoice::FashionMnist { dir, .. } = &t.data {
                files.push(dir.clone());
            }
        }
        _ => {}
    }
    files
}

/// Refuses an output directory that is, or holds, one of the run's inputs:
/// the directory is replaced as a whole, so the input would be lost (even
/// with `--force`, which only vouches for files that are not inputs).
fn guard_inputs(s: &Scenario, args: &RunArgs, out_dir: &Path) -> Result<(), UserError> {
    // A directory that does not exist yet holds nothing.
    let Ok(out) = std::fs::canonicalize(out_dir) else {
        return Ok(());
    };
    for input in input_files(s) {
        let Ok(real) = std::fs::canonicalize(&input) else {
            continue;
        };
        if real.starts_with(&out) {
            let origin = match (&args.out, &s.output_dir) {
                (Some(_), _) => "--out",
                (None, Some(_)) => "[output] dir",
                (None, None) => "the default output directory",
            };
            return Err(UserError::new(format!(
                "{origin} {}: holds the input {}, and a run replaces its output directory as a \
                 whole; choose an output directory that holds none of the run's inputs",
                out_dir.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

/// `--out`, else the scenario's `[output] dir`, else `out/NAME`.
fn output_dir(s: &Scenario, args: &RunArgs) -> PathBuf {
    match (&args.out, &s.output_dir) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => PathBuf::from("out").join(&s.name),
    }
}

/// The plots' file format, or `None` for no plots.
fn plot_format(s: &Scenario) -> Option<Format> {
    match s.plots.as_str() {
        "png" => Some(Format::Png),
        "none" => None,
        _ => Some(Format::Svg),
    }
}

/// Runs the scenario's task: its summary, its files, whether it finished
/// (false after Ctrl-C) and its warnings. `points` is a sweep's resolved grid.
fn run_task(
    r: &Resolved,
    points: Option<Vec<sweep::Point>>,
    args: &RunArgs,
    out_dir: &Path,
    format: Option<Format>,
) -> Result<(String, Outputs, bool, Vec<String>), UserError> {
    let s = &r.scenario;
    let no_warnings = |(summary, files, complete)| (summary, files, complete, Vec::new());
    match (&s.task, points) {
        (Task::Simulate { placement }, _) => {
            let (summary, files, warnings) = simulate::run_simulate(r, placement, out_dir, format)?;
            Ok((summary, files, true, warnings))
        }
        (Task::Traffic(t), _) => {
            let (summary, files) = traffic::run_traffic_task(r, t)?;
            Ok((summary, files, true, Vec::new()))
        }
        (Task::Sweep(sweep), Some(points)) => {
            sweep::run_sweep(s, sweep, points, args, out_dir, format).map(no_warnings)
        }
        (Task::Sweep(_), None) => unreachable!("sweeps always have a grid"),
        (Task::Partition(p), _) => partition::run_partition(r, p, args, out_dir, format),
        (Task::Train(_), _) => unreachable!("train tasks run in run_train_scenario"),
        (Task::Nas(_), _) => unreachable!("nas tasks run in run_nas_scenario"),
    }
}

/// What the command prints: the summary (or `report.json` with `--json`),
/// which files went where and whether the run was cut short; with `--quiet`
/// nothing but what `--json` asks for (the summary is still in
/// `summary.txt`; warnings and errors still go to stderr, and the exit code
/// still says whether the run was cut short).
fn stdout(
    args: &RunArgs,
    summary: String,
    files: &Outputs,
    out_dir: &Path,
    complete: bool,
) -> String {
    if args.json {
        let report = &files
            .iter()
            .find(|(n, _)| n == "report.json")
            .expect("every task writes a report")
            .1;
        return String::from_utf8_lossy(report).into_owned();
    }
    if args.quiet {
        return String::new();
    }
    let mut stdout = summary;
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    stdout.push_str(&format!(
        "\nwrote {} to {}\n",
        names.join(", "),
        out_dir.display()
    ));
    if !complete {
        stdout.push_str("interrupted: the report is marked \"complete\": false\n");
    }
    stdout
}
