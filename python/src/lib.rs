//! `tessera._native`, the extension module under the Python package
//! `tessera` (`python/tessera/`). It is glue only: every result comes from
//! the code paths the `tessera` command runs (`tessera_cli`, `agent`, `sim`),
//! so a report returned to Python is the JSON text the command writes, byte
//! for byte; the Python layer parses it and checks argument types.
//!
//! Three rules hold at this boundary:
//! - a user's mistake becomes a `tessera.Error` subclass (defined in
//!   `tessera/_errors.py`) whose message is the command's one-line message;
//! - a panic is caught and raised as `tessera.InternalError`, so the
//!   interpreter never aborts;
//! - simulation, search, loading and runs happen with the GIL released.
//!
//! Long calls cannot be interrupted: no Ctrl-C handler is installed (SIGINT
//! belongs to the interpreter), so a KeyboardInterrupt arrives when the call
//! returns.

mod convert;
mod env;
mod errors;
mod objects;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use agent::partition::registry;
use agent::partition::repair::{Objective, RepairOptions, repair_with};
use sim::{SimOptions, SteadyState, Switching};
use tessera_cli::UserError;
use tessera_cli::run::{JobPool, PoolError, RunArgs};
use tessera_cli::scenario::{LoadedPartition, partition_of_loaded};

use crate::convert::{PlacementArg, method_options};
use crate::errors::{detached, raise};
use crate::objects::{Spec, Workload};

/// The simulator's options as `tessera simulate`'s flags set them.
pub(crate) fn sim_options(
    microbatches: u32,
    fixed_microbatches: bool,
    packet_bytes: u64,
    cut_through: bool,
    trace: bool,
) -> SimOptions {
    SimOptions {
        microbatches,
        steady_state: if fixed_microbatches {
            SteadyState::Fixed
        } else {
            SteadyState::DEFAULT
        },
        packet_bytes,
        switching: if cut_through {
            Switching::CutThrough
        } else {
            Switching::StoreAndForward
        },
        trace,
    }
}

/// One simulation: `tessera simulate --json`'s report text and the
/// warnings the command prints (a trace that reached its cap).
#[pyfunction]
#[pyo3(signature = (spec, workload, placement_kind, placement, microbatches, fixed_microbatches, packet_bytes, cut_through, trace))]
fn simulate(
    py: Python<'_>,
    spec: &Bound<'_, Spec>,
    workload: &Bound<'_, Workload>,
    placement_kind: &str,
    placement: &Bound<'_, PyAny>,
    microbatches: u32,
    fixed_microbatches: bool,
    packet_bytes: u64,
    cut_through: bool,
    trace: Option<PathBuf>,
) -> PyResult<(String, Vec<String>)> {
    let placement = PlacementArg::extract(py, placement_kind, placement)?;
    let spec = spec.get().hw();
    let graph = workload.get().graph();
    detached(py, move || {
        let placement = placement.resolve(&spec, &graph)?;
        let options = sim_options(
            microbatches,
            fixed_microbatches,
            packet_bytes,
            cut_through,
            trace.is_some(),
        );
        let out = sim::simulate(&spec, &graph, &placement, &options)
            .map_err(tessera_cli::simulate::flag_error)?;
        let warnings = out
            .trace
            .as_ref()
            .and_then(|t| t.truncation_note())
            .into_iter()
            .collect();
        if let (Some(path), Some(json)) = (&trace, out.trace_json(spec.clock_mhz)) {
            tessera_cli::files::write_atomic(path, json.as_bytes())?;
        }
        Ok((tessera_cli::simulate::report_json(&out.report), warnings))
    })
}

/// Repair of a proposed placement into the nearest valid one (fewest ops
/// moved) under the spec's constraints, and the simulation of the result:
/// a JSON object (see `tessera.repair`).
#[pyfunction]
#[pyo3(signature = (spec, workload, placement_kind, placement, max_nodes, microbatches, fixed_microbatches, packet_bytes, cut_through))]
fn repair(
    py: Python<'_>,
    spec: &Bound<'_, Spec>,
    workload: &Bound<'_, Workload>,
    placement_kind: &str,
    placement: &Bound<'_, PyAny>,
    max_nodes: u64,
    microbatches: u32,
    fixed_microbatches: bool,
    packet_bytes: u64,
    cut_through: bool,
) -> PyResult<String> {
    let placement = PlacementArg::extract(py, placement_kind, placement)?;
    let spec = spec.get().hw();
    let graph = workload.get().graph();
    detached(py, move || {
        let proposal = placement.resolve(&spec, &graph)?;
        let constraints = spec.constraints;
        let violations = convert::violations_json(
            &graph,
            &sim::constraints::check(&spec, &graph, &proposal, &constraints),
        );
        let repaired = repair_with(
            &spec,
            &graph,
            &constraints,
            Objective::FewestChanges(&proposal.chiplet_of_op),
            &RepairOptions { max_nodes },
        )
        .map_err(|e| {
            UserError::infeasible(if e.proven {
                agent::SearchError::NoValidPlacement { reason: e.reason }.to_string()
            } else {
                format!(
                    "repair explored its {max_nodes} nodes without finding a valid placement: {}",
                    e.reason
                )
            })
        })?;
        let options = sim_options(
            microbatches,
            fixed_microbatches,
            packet_bytes,
            cut_through,
            false,
        );
        let out = sim::simulate(&spec, &graph, &repaired.placement, &options)
            .map_err(tessera_cli::simulate::flag_error)?;
        let changed = repaired
            .placement
            .chiplet_of_op
            .iter()
            .zip(&proposal.chiplet_of_op)
            .filter(|(a, b)| a != b)
            .count();
        let result = serde_json::json!({
            "placement": repaired.placement.chip_ids(),
            "changed_ops": changed,
            "proposal_violations": violations,
            "method": repaired.method,
            "proven_optimal": repaired.proven_optimal,
            "lower_bound": repaired.lower_bound,
            "nodes": repaired.nodes,
            "report": out.report,
        });
        Ok(serde_json::to_string_pretty(&result).expect("the result serialises"))
    })
}

/// Partition search over a loaded spec and workload: the `report.json`
/// of `tessera partition` (written with the rest of its files when `out`
/// is given) and its warnings.
#[pyfunction]
#[pyo3(signature = (spec, workload, methods, options, budget, seed, microbatches, out, force))]
fn partition(
    py: Python<'_>,
    spec: &Bound<'_, Spec>,
    workload: &Bound<'_, Workload>,
    methods: Vec<String>,
    options: &Bound<'_, PyDict>,
    budget: u64,
    seed: u64,
    microbatches: u32,
    out: Option<PathBuf>,
    force: bool,
) -> PyResult<(String, Vec<String>)> {
    check_seed(py, seed)?;
    let options = method_options(py, options)?;
    let (spec, workload) = (spec.get(), workload.get());
    let loaded = LoadedPartition {
        spec: (*spec.hw()).clone(),
        graph: (*workload.graph()).clone(),
        hw: spec.path(),
        workload: workload.source(),
        methods,
        options,
        budget,
        seed,
        microbatches,
    };
    detached(py, move || {
        let resolved = partition_of_loaded(loaded)?;
        let args = RunArgs {
            out: out.clone(),
            quiet: true,
            json: true,
            force,
            embedded: true,
            ..RunArgs::default()
        };
        match out {
            Some(_) => {
                let o = tessera_cli::run::run_resolved(resolved, &args)?;
                Ok((o.stdout, o.warnings))
            }
            None => tessera_cli::run::report_of_resolved(&resolved, &args),
        }
    })
}

/// A seed the command's `--seed` takes (scenarios store seeds as TOML
/// integers, so at most `i64::MAX`).
fn check_seed(py: Python<'_>, seed: u64) -> PyResult<()> {
    if seed > i64::MAX as u64 {
        return Err(raise(
            py,
            "OptionError",
            format!("--seed: must be 0 to {}, found {seed}", i64::MAX),
        ));
    }
    Ok(())
}

/// `tessera run --json --quiet`: the scenario's `report.json` text, after
/// writing its outputs as the command does, its warnings, and whether
/// `pool` was interrupted.
/// With `pool` (a callable: a list of job texts in, their result texts out,
/// in order; see `tessera_cli::run::JobPool`) a train task's episodes are
/// scored by it, cut into `pool_workers` jobs per batch.
/// With `point_outcomes` (a sweep's point results computed elsewhere, in
/// grid order, `None` for a point that did not run) the sweep merges them
/// instead of running its points. With `as_json` false the text is the
/// summary the command prints.
#[pyfunction]
#[pyo3(signature = (path, out, max_budget, seed, threads, force, point_outcomes=None, as_json=true, pool=None, pool_workers=1))]
#[allow(clippy::too_many_arguments)]
fn run_scenario(
    py: Python<'_>,
    path: PathBuf,
    out: Option<PathBuf>,
    max_budget: Option<u64>,
    seed: Option<u64>,
    threads: Option<usize>,
    force: bool,
    point_outcomes: Option<Vec<Option<String>>>,
    as_json: bool,
    pool: Option<Py<PyAny>>,
    pool_workers: usize,
) -> PyResult<(String, Vec<String>, bool)> {
    if let Some(seed) = seed {
        check_seed(py, seed)?;
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    let pool = pool.map(|f| python_pool(f, pool_workers, Arc::clone(&interrupted)));
    let out = detached(py, move || {
        let o = tessera_cli::run::run(&RunArgs {
            scenario: path,
            out,
            seed,
            // The summary as the command prints it, with where the files
            // went; the JSON alone otherwise.
            quiet: as_json,
            json: as_json,
            threads,
            max_budget,
            force,
            embedded: true,
            point_outcomes,
            pool,
            ..RunArgs::default()
        })?;
        Ok((o.stdout, o.warnings))
    })?;
    // Whether the pool saw Ctrl-C (the run then stopped as after Ctrl-C
    // and wrote what finished).
    Ok((out.0, out.1, interrupted.load(Ordering::SeqCst)))
}

/// The task kind of a scenario file (`"sweep"`, `"train"`, ...), after
/// reading and checking it as `tessera run` does before running.
#[pyfunction]
fn scenario_kind(py: Python<'_>, path: PathBuf) -> PyResult<&'static str> {
    detached(py, move || {
        Ok(tessera_cli::scenario::load(&path)?.task.kind())
    })
}

/// A job pool that calls `f` (a Python callable: a list of job texts in,
/// their result texts out, in order) with the GIL held. A
/// `KeyboardInterrupt` from it stops the run as Ctrl-C does and is noted in
/// `interrupted`; any other exception fails the run with its message.
fn python_pool(f: Py<PyAny>, workers: usize, interrupted: Arc<AtomicBool>) -> JobPool {
    JobPool::new(workers, move |jobs: Vec<String>| {
        Python::attach(|py| match f.call1(py, (jobs,)) {
            Ok(r) => r
                .extract::<Vec<String>>(py)
                .map_err(|e| PoolError::Failed(format!("the job pool's results: {e}"))),
            Err(e) if e.is_instance_of::<PyKeyboardInterrupt>(py) => {
                interrupted.store(true, Ordering::SeqCst);
                Err(PoolError::Interrupted)
            }
            Err(e) => Err(PoolError::Failed(e.value(py).to_string())),
        })
    })
}

/// Runs a job text a run handed to its pool (a train task's episodes);
/// returns its result text.
#[pyfunction]
fn run_job(py: Python<'_>, job: String) -> PyResult<String> {
    detached(py, move || tessera_cli::run::run_job(&job))
}

/// A sweep scenario's points as self-contained job texts, in grid order
/// (the Ray runner ships one to each task).
#[pyfunction]
#[pyo3(signature = (path, seed))]
fn sweep_point_jobs(py: Python<'_>, path: PathBuf, seed: Option<u64>) -> PyResult<Vec<String>> {
    if let Some(seed) = seed {
        check_seed(py, seed)?;
    }
    detached(py, move || {
        tessera_cli::run::sweep_point_jobs(&RunArgs {
            scenario: path,
            seed,
            embedded: true,
            ..RunArgs::default()
        })
    })
}

/// Runs one sweep point's job text; returns its outcome text.
#[pyfunction]
fn run_point_job(py: Python<'_>, job: String) -> PyResult<String> {
    detached(py, move || tessera_cli::run::run_point_job(&job))
}

/// `tessera check` of one file: whether it passed, and the line the
/// command prints for it (or its error, one line per problem).
#[pyfunction]
fn check(py: Python<'_>, path: PathBuf) -> PyResult<(bool, String)> {
    detached(py, move || {
        Ok(match tessera_cli::inspect::check(&[path]) {
            Ok(text) => (true, text.trim_end().to_string()),
            Err(e) => (false, e.message),
        })
    })
}

/// The model zoo as JSON: every model with its summary and parameters.
#[pyfunction]
fn zoo_models() -> String {
    let models: Vec<serde_json::Value> = sim::zoo::models()
        .iter()
        .map(|m| {
            let params: Vec<serde_json::Value> = m
                .params
                .iter()
                .map(|p| serde_json::json!({"key": p.key, "default": p.default, "doc": p.doc}))
                .collect();
            serde_json::json!({"name": m.name, "summary": m.summary, "params": params})
        })
        .collect();
    serde_json::Value::Array(models).to_string()
}

/// The partition methods as JSON, from the registry: every option with
/// its type, domain and default.
#[pyfunction]
fn methods() -> String {
    let methods: Vec<serde_json::Value> = registry::METHODS
        .iter()
        .map(|m| {
            let options: Vec<serde_json::Value> =
                m.options.iter().map(convert::option_json).collect();
            serde_json::json!({"name": m.name, "summary": m.summary, "options": options})
        })
        .collect();
    serde_json::Value::Array(methods).to_string()
}

/// The `hw_specs/` folder of the source tree this module was built from.
#[pyfunction]
fn spec_dir() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("hw_specs"), |root| root.join("hw_specs"));
    dir.display().to_string()
}

/// Test aid: panics inside the boundary with `message`, so the tests can
/// show that a bug in tessera raises `tessera.InternalError` instead of
/// stopping the interpreter.
#[pyfunction]
fn _panic_for_test(py: Python<'_>, message: String) -> PyResult<()> {
    detached(py, move || -> Result<(), UserError> { panic!("{message}") })
}

/// The module: the classes (`Spec`, `Workload`, the Gymnasium
/// environment's core `PartitionEnv`) and the functions above.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Spec>()?;
    m.add_class::<Workload>()?;
    m.add_class::<env::PartitionEnv>()?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(repair, m)?)?;
    m.add_function(wrap_pyfunction!(partition, m)?)?;
    m.add_function(wrap_pyfunction!(run_scenario, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_point_jobs, m)?)?;
    m.add_function(wrap_pyfunction!(run_point_job, m)?)?;
    m.add_function(wrap_pyfunction!(run_job, m)?)?;
    m.add_function(wrap_pyfunction!(scenario_kind, m)?)?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(zoo_models, m)?)?;
    m.add_function(wrap_pyfunction!(methods, m)?)?;
    m.add_function(wrap_pyfunction!(spec_dir, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    Ok(())
}
