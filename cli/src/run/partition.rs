//! The partition task: every method of the task searches the same problem
//! with the same budget and its own seed stream; the outputs are the
//! methods' results side by side, each method's best placement
//! (`placement.<method>.json`), the overall best (`placement.json`) with what a
//! `simulate` run of it writes (its tables `ops.csv`, `chiplets.csv` and
//! `links.csv`, its trace when asked for, its chiplet and Gantt plots), the
//! search history (`history.csv`) and its plot.
//!
//! A method that fails (no valid starting point within repair's limit, a
//! refused placement) does not lose the run: it is reported as failed, with
//! whatever it found before, and the other methods go on. Only when every
//! method failed is the run an error (exit 2, nothing written).

use serde::Serialize;
use sim::constraints::Constraints;
use sim::graph::Graph;
use sim::report::SimReport;
use sim::{Placement, SimOptions};

use agent::SearchError;
use agent::partition::registry;
use agent::partition::search::{Evaluator, SearchProblem, SearchResult, score};

use super::outputs::{Outputs, PlotScratch, report_file};
use super::{RunArgs, interrupted};
use crate::error::UserError;
use crate::plots::{self, Format, Series};
use crate::scenario::{PartitionTask, Resolved};
use crate::table::{Align, Table as TextTable};

/// Runs a partition task: returns its summary, its files, whether every
/// method ran (false after Ctrl-C) and its warnings.
pub(super) fn run_partition(
    r: &Resolved,
    task: &PartitionTask,
    args: &RunArgs,
    out_dir: &std::path::Path,
    format: Option<Format>,
) -> Result<(String, Outputs, bool, Vec<String>), UserError> {
    let s = &r.scenario;
    let graph = r.graph.as_ref().expect("partition has a workload");
    let mut warnings = Vec::new();
    let constraints = task.constraints(&r.spec);
    let budget = capped_budget(task.budget, args.max_budget);
    let (results, complete) = run_methods(r, task, args, constraints, budget)?;
    // A proof that no valid placement exists is the problem's, not a method's.
    if let Some(e) = results.iter().find_map(|m| match &m.failure {
        Some(e @ SearchError::NoValidPlacement { .. }) => Some(e),
        _ => None,
    }) {
        let advice = super::fit::sram_advice(r, &constraints).map(|a| format!("\n  {a}"));
        return Err(UserError::infeasible(format!(
            "{}: {e}{}",
            s.file.display(),
            advice.unwrap_or_default()
        )));
    }
    if !results.is_empty()
        && results
            .iter()
            .all(|m| m.failure.is_some() && m.best.is_none())
    {
        let why: Vec<String> = results
            .iter()
            .filter_map(|m| {
                m.failure
                    .as_ref()
                    .map(|e| format!("method {}: {e}", m.method))
            })
            .collect();
        let advice = super::fit::sram_advice(r, &constraints).map(|a| format!("\n  {a}"));
        return Err(UserError::infeasible(format!(
            "{}: every method failed:\n  {}{}",
            s.file.display(),
            why.join("\n  "),
            advice.unwrap_or_default()
        )));
    }
    let best = best_of(&results);
    let result = PartitionResult::new(budget, constraints, best, &results);
    let mut summary = summary_head(r, graph, budget, constraints);
    summary.push_str(&methods_table(&result).render());
    let mut files: Outputs = vec![report_file(s, complete, &result)];
    for m in &results {
        if let Some((placement, _)) = &m.best {
            files.push((
                format!("placement.{}.json", m.method),
                placement.to_json(graph).into_bytes(),
            ));
        }
    }
    let scratch = format.map(|f| PlotScratch::new(out_dir, f)).transpose()?;
    match best {
        Some(best) => {
            summary.push_str(&best_text(r, graph, best));
            let placement = best.placement.to_json(graph);
            files.push(("placement.json".to_string(), placement.into_bytes()));
            let (outputs, warning) = best_outputs(r, best.placement, scratch.as_ref())?;
            files.extend(outputs);
            if let Some(w) = warning {
                warnings.push(w);
            }
        }
        None => {
            summary.push_str("\nno method found a valid placement\n");
            if let Some(a) = super::fit::sram_advice(r, &constraints) {
                summary.push_str(&format!("{a}\n"));
            }
        }
    }
    files.push((
        "history.csv".to_string(),
        history_csv(&results).into_bytes(),
    ));
    if let Some(scratch) = &scratch {
        files.push(history_plot(r, &results, budget, scratch)?);
    }
    Ok((summary, files, complete, warnings))
}

/// What a `simulate` run of the best placement writes besides its report:
/// its tables, the trace when the scenario asks for one, the chiplet and
/// Gantt plots unless plots are off; and a warning when `ops.csv` reached
/// its cap. The search ran without a trace, so the placement is simulated
/// once more (deterministic: the same report).
fn best_outputs(
    r: &Resolved,
    placement: &Placement,
    scratch: Option<&PlotScratch>,
) -> Result<(Outputs, Option<String>), UserError> {
    let s = &r.scenario;
    let graph = r.graph.as_ref().expect("partition has a workload");
    let want_trace = s.simulation.trace;
    let options = SimOptions {
        trace: true,
        ..s.simulation.clone()
    };
    let out = sim::simulate(&r.spec, graph, placement, &options)
        .map_err(|e| UserError::new(e.to_string()))?;
    let (mut files, warning) = crate::report_csv::tables(&r.spec, graph, placement, &out);
    if want_trace {
        let json = out.trace_json(r.spec.clock_mhz).expect("trace recorded");
        files.push(("trace.json".to_string(), json.into_bytes()));
    }
    if let Some(scratch) = scratch {
        files.extend(super::simulate::simulate_plots(
            r,
            &out,
            options.microbatches,
            scratch,
        )?);
    }
    Ok((files, warning))
}

/// The task's budget, capped by `--max-budget` (for quick runs and tests),
/// which [`RunArgs::with_env`] has filled from `TESSERA_MAX_BUDGET` and
/// checked to be at least 1; a cap of 0 from elsewhere still allows one call.
pub(super) fn capped_budget(budget: u64, max_budget: Option<u64>) -> u64 {
    max_budget.map_or(budget, |c| budget.min(c.max(1)))
}

/// Runs the task's methods in order, each on the same problem with its own
/// seed (derived from the scenario's and the method's index, so adding a
/// method leaves the others' results alone). Every method and its options are
/// resolved first (a mistake there is the scenario's, before any work). A
/// method that fails is recorded with its failure and what it found; the
/// next one runs. Stops between methods on Ctrl-C; the flag says whether
/// every method ran.
fn run_methods(
    r: &Resolved,
    task: &PartitionTask,
    args: &RunArgs,
    constraints: Constraints,
    budget: u64,
) -> Result<(Vec<SearchResult>, bool), UserError> {
    let s = &r.scenario;
    let graph = r.graph.as_ref().expect("partition has a workload");
    let mut methods = Vec::new();
    for name in &task.methods {
        let in_method =
            |e: SearchError| UserError::new(format!("{}: method {name}: {e}", s.file.display()));
        let info = registry::lookup(name).map_err(in_method)?;
        let given = task.options.get(name).map_or(&[][..], Vec::as_slice);
        methods.push((
            name,
            info.build(&info.options(given).map_err(in_method)?, budget),
        ));
    }
    let mut results = Vec::new();
    agent::partition::interrupt::clear_this_thread();
    for (i, (name, mut method)) in methods.into_iter().enumerate() {
        if interrupted() {
            return Ok((results, false));
        }
        let bar = progress_bar(name, budget, args.quiet);
        let problem = SearchProblem {
            spec: &r.spec,
            graph,
            constraints,
            options: SimOptions {
                trace: false,
                ..s.simulation.clone()
            },
            budget,
            seed: agent::partition::derive_seed(s.seed, i as u64),
        };
        let stop_after = args.interrupt_after_evaluations;
        let result = match Evaluator::new(&problem) {
            Ok(eval) => {
                let mut eval = eval.with_observer(|used, _, best| {
                    bar.set_position(used);
                    bar.set_message(format!("{best:.1}"));
                    if stop_after.is_some_and(|n| used >= n) {
                        agent::partition::interrupt::request_on_this_thread();
                    }
                });
                let error = method.run(&problem, &mut eval).err();
                let notes = method.notes();
                eval.finish(name, notes, error)
            }
            Err(e) => SearchResult::failed(name, &e),
        };
        bar.finish_and_clear();
        let stopped = result.interrupted;
        results.push(result);
        if stopped {
            agent::partition::interrupt::clear_this_thread();
            return Ok((results, false));
        }
    }
    Ok((results, true))
}

/// A method's progress on the terminal: simulator calls out of the budget,
/// the best throughput so far, the time left; hidden with `--quiet` or when
/// standard output is not a terminal.
fn progress_bar(method: &str, budget: u64, quiet: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if quiet || !std::io::stdout().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(budget);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:>8} {bar:30} {pos}/{len} calls  best {msg} inf/s  eta {eta}",
        )
        .expect("valid template"),
    );
    bar.set_prefix(method.to_string());
    bar
}

/// The best placement any method found, and which method found it.
#[derive(Clone, Copy)]
struct Best<'a> {
    method: &'a SearchResult,
    placement: &'a Placement,
    report: &'a SimReport,
}

/// The method whose best placement scores highest; on a tie the method
/// listed first keeps it.
fn best_of(results: &[SearchResult]) -> Option<Best<'_>> {
    results
        .iter()
        .filter_map(|m| {
            m.best.as_ref().map(|(placement, report)| Best {
                method: m,
                placement,
                report,
            })
        })
        .fold(None::<Best>, |acc, x| match acc {
            Some(a) if score(a.report) >= score(x.report) => Some(a),
            _ => Some(x),
        })
}

/// One method's line of `report.json`.
#[derive(Serialize)]
struct MethodResult<'a> {
    method: &'a str,
    evaluations: u64,
    best_throughput_inferences_per_s: f64,
    notes: Vec<(String, String)>,
    /// Why the method stopped early, if it failed; `null` when it did not.
    failed: Option<String>,
    best_report: Option<&'a SimReport>,
}

/// The result in `report.json`.
#[derive(Serialize)]
struct PartitionResult<'a> {
    budget: u64,
    constraints: Constraints,
    best_method: Option<&'a str>,
    best_throughput_inferences_per_s: f64,
    methods: Vec<MethodResult<'a>>,
}

impl<'a> PartitionResult<'a> {
    fn new(
        budget: u64,
        constraints: Constraints,
        best: Option<Best<'a>>,
        results: &'a [SearchResult],
    ) -> Self {
        PartitionResult {
            budget,
            constraints,
            best_method: best.map(|b| b.method.method.as_str()),
            best_throughput_inferences_per_s: best.map_or(0.0, |b| score(b.report)),
            methods: results
                .iter()
                .map(|m| MethodResult {
                    method: &m.method,
                    evaluations: m.evaluations,
                    best_throughput_inferences_per_s: m
                        .best
                        .as_ref()
                        .map_or(0.0, |(_, r)| score(r)),
                    notes: m.notes.clone(),
                    failed: m.failure.as_ref().map(|e| e.to_string()),
                    best_report: m.best.as_ref().map(|(_, r)| r),
                })
                .collect(),
        }
    }
}

/// The summary's first lines: what was partitioned onto what, with which
/// budget and constraint modes.
fn summary_head(r: &Resolved, graph: &Graph, budget: u64, constraints: Constraints) -> String {
    format!(
        "{}: partition {} on {} ({}), budget {} simulator calls per method\nconstraints: acyclic={} no_skipping={} no_triangle={} sram={}\n\n",
        r.scenario.name,
        graph.name(),
        r.spec.name,
        crate::inspect::chiplets(r.spec.n_chiplets()),
        budget,
        constraints.acyclic_dataflow,
        constraints.no_skipping.name(),
        constraints.no_triangle,
        constraints.sram_capacity
    )
}

/// One row per method: evaluations, best throughput, share of the best, notes.
fn methods_table(result: &PartitionResult) -> TextTable {
    let mut table = TextTable::new(&[
        ("method", Align::Left),
        ("evaluations", Align::Right),
        ("best simulated (inf/s)", Align::Right),
        ("vs best", Align::Right),
        ("notes", Align::Left),
    ]);
    let top = result.best_throughput_inferences_per_s;
    for m in &result.methods {
        let mut notes: Vec<String> = m.notes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(why) = &m.failed {
            notes.insert(0, format!("FAILED: {why};"));
        }
        table.row(vec![
            m.method.to_string(),
            m.evaluations.to_string(),
            format!("{:.1}", m.best_throughput_inferences_per_s),
            if top > 0.0 {
                format!("{:.1}%", 100.0 * m.best_throughput_inferences_per_s / top)
            } else {
                "-".to_string()
            },
            notes.join(" "),
        ]);
    }
    table
}

/// The best placement's line and its simulation summary.
fn best_text(r: &Resolved, graph: &Graph, best: Best) -> String {
    let rep = best.report;
    let mut text = format!(
        "\nbest: {} at {:.1} inferences/s simulated ({} per micro-batch interval {:.0} cycles)\n\n",
        best.method.method,
        score(rep),
        if rep.valid { "valid" } else { "INVALID" },
        rep.steady_state_interval_cycles
    );
    text.push_str(&crate::simulate::summary(&r.spec, graph, rep));
    text
}

/// `history.csv`: each method's best throughput after each improvement.
fn history_csv(results: &[SearchResult]) -> String {
    let mut csv = String::from("method,evaluation,best_throughput_inferences_per_s,wall_ms\n");
    for m in results {
        for h in &m.history {
            csv.push_str(&format!(
                "{},{},{},{:.3}\n",
                m.method, h.evaluation, h.best_throughput_inferences_per_s, h.wall_ms
            ));
        }
    }
    csv
}

/// Best throughput found against simulator calls, one line per method that
/// found anything; calls on a log scale unless the budget is tiny.
fn history_plot(
    r: &Resolved,
    results: &[SearchResult],
    budget: u64,
    scratch: &PlotScratch,
) -> Result<(String, Vec<u8>), UserError> {
    let series: Vec<Series> = results
        .iter()
        .filter(|m| !m.history.is_empty())
        .map(|m| Series {
            name: m.method.clone(),
            invalid: Vec::new(),
            points: m
                .history
                .iter()
                .map(|h| (h.evaluation as f64, h.best_throughput_inferences_per_s))
                .collect(),
        })
        .collect();
    let path = scratch.path("history");
    plots::metric_vs_param(
        &series,
        "simulator calls",
        "best throughput (inferences/s)",
        &format!("{}: best throughput found", r.scenario.name),
        budget > 10,
        &path,
        scratch.format(),
    )?;
    scratch.take(&path)
}
