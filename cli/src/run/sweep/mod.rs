//! The sweep task: a grid of scenarios (one per combination of the axes'
//! values, first axis slowest), each resolved before anything runs, then run
//! on worker threads; the outputs are `sweep.csv`, a summary table of the
//! metric and its plot against the first axis.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sim::graph::Graph;
use sim::report::SimReport;
use sim::spec::HwSpec;
use sim::traffic::{TrafficOptions, TrafficReport, run_traffic};
use sim::{Placement, SimOptions};

use super::outputs::{Outputs, PlotScratch, report_file};
use super::simulate::placement_for;
use super::traffic::traffic_options;
use super::{RunArgs, interrupted};
use crate::error::UserError;
use crate::plots::{self, Format, Series};
use crate::scenario::{Axis, Scenario, SweepTask, Task};
use crate::table::{Align, Table as TextTable};

mod grid;

pub(super) use grid::{Point, grid};
use grid::{node_number, unknown_metric};

/// Numeric results a sweep point of each kind produces, by name.
pub const SIMULATE_METRICS: &[&str] = &[
    "valid",
    "throughput_inferences_per_s",
    "first_inference_latency_us",
    "first_inference_latency_cycles",
    "steady_state_interval_cycles",
    "makespan_cycles",
    "energy_total_pj",
    "violations",
];

/// Numeric fields of a traffic report (checked against the report by a test).
pub const TRAFFIC_METRICS: &[&str] = &[
    "n_chiplets",
    "sending_chiplets",
    "offered_rate",
    "accepted_throughput",
    "zero_load_latency_cycles",
    "avg_latency_cycles",
    "p99_latency_cycles",
    "max_latency_cycles",
    "avg_hops",
    "packets_injected",
    "packets_delivered",
    "measured_packets",
    "measured_delivered",
    "in_flight_at_window_start",
    "in_flight_at_window_end",
    "capacity_injection_rate",
    "offered_fraction_of_capacity",
    "saturated",
    "end_cycle",
];

// ---------------------------------------------------------------------------
// Running the points

/// Runs a sweep over its resolved grid: returns the summary, the files and
/// whether every point ran (false after Ctrl-C).
pub(super) fn run_sweep(
    s: &Scenario,
    sweep: &SweepTask,
    points: Vec<Point>,
    args: &RunArgs,
    out_dir: &Path,
    format: Option<Format>,
) -> Result<(String, Outputs, bool), UserError> {
    let results = match &args.point_outcomes {
        Some(texts) => outcomes_run_elsewhere(s, texts, points.len())?,
        None => run_points(&points, args),
    };
    let complete = results.iter().all(Option::is_some);
    let finished = finished_points(s, sweep, results)?;
    let axis_names: Vec<&str> = sweep.axes.iter().map(|a| a.name.as_str()).collect();
    let summary = sweep_summary(s, sweep, &points, &finished, complete);
    #[derive(Serialize)]
    struct SweepResult<'a> {
        metric: &'a str,
        axes: Vec<&'a str>,
        points_total: usize,
        points: Vec<PointResult>,
    }
    let result = SweepResult {
        metric: &sweep.metric,
        axes: axis_names.clone(),
        points_total: points.len(),
        points: point_results(&axis_names, &points, &finished),
    };
    let mut files: Outputs = vec![
        report_file(s, complete, result),
        (
            "sweep.csv".to_string(),
            sweep_csv(&axis_names, &points, &finished).into_bytes(),
        ),
    ];
    if let Some(format) = format {
        let scratch = PlotScratch::new(out_dir, format)?;
        files.extend(sweep_plot(s, sweep, &points, &finished, &scratch)?);
    }
    Ok((summary, files, complete))
}

/// A point's result: the task's result as JSON, or the simulator's refusal.
type PointOutcome = Result<Json, String>;

/// The results of points run elsewhere ([`RunArgs::point_outcomes`]), one
/// slot per grid point in grid order.
fn outcomes_run_elsewhere(
    s: &Scenario,
    texts: &[Option<String>],
    n_points: usize,
) -> Result<Vec<Option<PointOutcome>>, UserError> {
    if texts.len() != n_points {
        return Err(UserError::new(format!(
            "{}: {} point results given for a grid of {n_points} points",
            s.file.display(),
            texts.len()
        )));
    }
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| t.as_deref().map(|t| decode_outcome(i, t)).transpose())
        .collect()
}

/// How many points run at once: `--threads` (which [`RunArgs::with_env`]
/// has filled from `TESSERA_THREADS` and checked), else one per core.
pub(in crate::run) fn worker_threads(args: &RunArgs) -> usize {
    args.threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// Runs the points on worker threads, each taking the next point not yet
/// taken. Every point's result lands in its own slot, so the results do not
/// depend on the number of threads. After Ctrl-C (or the test hook
/// `interrupt_after_points`) no new point starts; the slots of points that
/// did not run stay `None`.
fn run_points(points: &[Point], args: &RunArgs) -> Vec<Option<PointOutcome>> {
    let n = points.len();
    let results: Mutex<Vec<Option<PointOutcome>>> = Mutex::new(vec![None; n]);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let bar = progress_bar(n as u64, args.quiet);
    std::thread::scope(|scope| {
        for _ in 0..worker_threads(args).min(n) {
            scope.spawn(|| {
                loop {
                    if stop.load(Ordering::SeqCst) || interrupted() {
                        stop.store(true, Ordering::SeqCst);
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        return;
                    }
                    if let Some(limit) = args.interrupt_after_points
                        && i >= limit
                    {
                        stop.store(true, Ordering::SeqCst);
                        return;
                    }
                    let r = run_point(&points[i]);
                    results.lock().expect("no worker panics")[i] = Some(r);
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    results.into_inner().expect("no worker panics")
}

/// What one point runs: its spec and graph borrowed from the resolved
/// scenario (or from a job's decoded parts), its placement and options
/// chosen in [`work_of`] only, so a point run here and one shipped to
/// another process as a [`PointJob`] run the same thing.
enum Work<'a> {
    Simulate {
        spec: &'a HwSpec,
        graph: &'a Graph,
        placement: Placement,
        options: SimOptions,
    },
    Traffic {
        spec: &'a HwSpec,
        options: TrafficOptions,
    },
}

fn work_of(p: &Point) -> Result<Work<'_>, String> {
    let r = &p.resolved;
    match &r.scenario.task {
        Task::Simulate { placement } => {
            let graph = r.graph.as_ref().expect("simulate has a workload");
            let placement = placement_for(placement, &r.spec, graph).map_err(|e| e.message)?;
            Ok(Work::Simulate {
                spec: &r.spec,
                graph,
                placement,
                options: SimOptions {
                    trace: false,
                    ..r.scenario.simulation.clone()
                },
            })
        }
        Task::Traffic(t) => Ok(Work::Traffic {
            spec: &r.spec,
            options: traffic_options(t, &r.scenario),
        }),
        Task::Sweep(_) | Task::Partition(_) | Task::Train(_) | Task::Nas(_) => {
            unreachable!("sweeps run simulate or traffic")
        }
    }
}

fn run_work(w: &Work<'_>) -> PointOutcome {
    match w {
        Work::Simulate {
            spec,
            graph,
            placement,
            options,
        } => {
            let out = sim::simulate(spec, graph, placement, options).map_err(|e| e.to_string())?;
            Ok(sim_metrics(&out.report))
        }
        Work::Traffic { spec, options } => {
            let report: TrafficReport = run_traffic(spec, options).map_err(|e| e.to_string())?;
            serde_json::to_value(&report).map_err(|e| e.to_string())
        }
    }
}

fn run_point(p: &Point) -> PointOutcome {
    work_of(p).and_then(|w| run_work(&w))
}

// ---------------------------------------------------------------------------
// Points run elsewhere (the Python package's Ray runner)

/// A sweep point as text another process (on another machine) can run with
/// nothing but the tessera library: the hardware as its explicit TOML, the
/// graph as graph JSON, the placement as placement JSON and the options, or
/// the refusal the point ends in before anything runs. Each form reads back
/// into equal values, so a job's result is the result of the point run here.
#[derive(Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case", deny_unknown_fields)]
enum PointJob {
    Simulate {
        format_version: u32,
        spec_toml: String,
        graph_json: String,
        placement_json: String,
        options: SimOptions,
    },
    Traffic {
        format_version: u32,
        spec_toml: String,
        options: TrafficOptions,
    },
    Refused {
        format_version: u32,
        message: String,
    },
}

/// Version of the [`PointJob`] and [`PointOutcome`] texts; a job made by
/// another build of tessera is refused, not misread.
const POINT_JOB_FORMAT_VERSION: u32 = 1;

/// A point's job text (JSON).
pub(in crate::run) fn point_job(p: &Point) -> String {
    let v = POINT_JOB_FORMAT_VERSION;
    let job = match work_of(p) {
        Ok(Work::Simulate {
            spec,
            graph,
            placement,
            options,
        }) => PointJob::Simulate {
            format_version: v,
            spec_toml: sim::spec_write::spec_to_toml_string(spec),
            placement_json: placement.to_json(graph),
            graph_json: graph.to_json(),
            options,
        },
        Ok(Work::Traffic { spec, options }) => PointJob::Traffic {
            format_version: v,
            spec_toml: sim::spec_write::spec_to_toml_string(spec),
            options,
        },
        Err(message) => PointJob::Refused {
            format_version: v,
            message,
        },
    };
    serde_json::to_string(&job).expect("a point job serialises")
}

/// A job text that is not one [`point_job`] wrote (a damaged or foreign
/// message): a programming or deployment error, said in one line.
fn bad_job(what: impl std::fmt::Display) -> UserError {
    UserError::new(format!("sweep point job: {what}"))
}

/// Runs a point's job text; returns its outcome text (JSON: `{"ok": result}`
/// or `{"error": message}`), which [`decode_outcome`] reads back.
pub fn run_point_job(text: &str) -> Result<String, UserError> {
    let job: PointJob = serde_json::from_str(text).map_err(bad_job)?;
    let version = match &job {
        PointJob::Simulate { format_version, .. }
        | PointJob::Traffic { format_version, .. }
        | PointJob::Refused { format_version, .. } => *format_version,
    };
    if version != POINT_JOB_FORMAT_VERSION {
        return Err(bad_job(format_args!(
            "format_version {version}; this build of tessera reads {POINT_JOB_FORMAT_VERSION}"
        )));
    }
    let spec_of = |t: &str| HwSpec::from_toml_str(t, "<sweep point>").map_err(bad_job);
    let outcome = match job {
        PointJob::Simulate {
            spec_toml,
            graph_json,
            placement_json,
            options,
            ..
        } => {
            let spec = spec_of(&spec_toml)?;
            let graph = Graph::from_json(&graph_json).map_err(bad_job)?;
            let placement =
                Placement::from_json(&placement_json, &spec, &graph).map_err(bad_job)?;
            run_work(&Work::Simulate {
                spec: &spec,
                graph: &graph,
                placement,
                options,
            })
        }
        PointJob::Traffic {
            spec_toml, options, ..
        } => run_work(&Work::Traffic {
            spec: &spec_of(&spec_toml)?,
            options,
        }),
        PointJob::Refused { message, .. } => Err(message),
    };
    Ok(encode_outcome(&outcome))
}

fn encode_outcome(o: &PointOutcome) -> String {
    let v = match o {
        Ok(result) => serde_json::json!({ "ok": result }),
        Err(message) => serde_json::json!({ "error": message }),
    };
    serde_json::to_string(&v).expect("an outcome serialises")
}

/// Reads an outcome text [`run_point_job`] wrote back; point `i` names it
/// in the error.
pub(in crate::run) fn decode_outcome(i: usize, text: &str) -> Result<PointOutcome, UserError> {
    let v: Json = serde_json::from_str(text)
        .map_err(|e| UserError::new(format!("sweep point {i}: outcome: {e}")))?;
    match (v.get("ok"), v.get("error").and_then(Json::as_str)) {
        (Some(ok), None) => Ok(Ok(ok.clone())),
        (None, Some(e)) => Ok(Err(e.to_string())),
        _ => Err(UserError::new(format!(
            "sweep point {i}: outcome: expected {{\"ok\": ...}} or {{\"error\": \"...\"}}"
        ))),
    }
}

fn sim_metrics(r: &SimReport) -> Json {
    serde_json::json!({
        "valid": r.valid,
        "throughput_inferences_per_s": r.throughput_inferences_per_s,
        "first_inference_latency_us": r.first_inference_latency_us,
        "first_inference_latency_cycles": r.first_inference_latency_cycles,
        "steady_state_interval_cycles": r.steady_state_interval_cycles,
        "makespan_cycles": r.makespan_cycles,
        "energy_total_pj": r.energy_run.total_pj,
        "violations": r.violations.len(),
    })
}

/// Numeric fields of a result object, in its order.
fn numeric_fields(v: &Json) -> Vec<(String, f64)> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, x)| {
                    x.as_f64()
                        .or_else(|| x.as_bool().map(|b| if b { 1.0 } else { 0.0 }))
                        .map(|f| (k.clone(), f))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The metric's value in one point's result.
fn metric_of(v: &Json, metric: &str) -> Option<f64> {
    numeric_fields(v)
        .into_iter()
        .find(|(name, _)| name == metric)
        .map(|(_, x)| x)
}

/// The points that ran, by index, with their results. A failing point (e.g.
/// an unroutable traffic pattern) is a user error, and so is a metric the
/// results do not have.
fn finished_points(
    s: &Scenario,
    sweep: &SweepTask,
    results: Vec<Option<PointOutcome>>,
) -> Result<Vec<(usize, Json)>, UserError> {
    for (i, r) in results.iter().enumerate() {
        if let Some(Err(e)) = r {
            return Err(UserError::new(format!(
                "{}: sweep point {i}: {e}",
                s.file.display()
            )));
        }
    }
    let finished: Vec<(usize, Json)> = results
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|r| (i, r.expect("errors returned above"))))
        .collect();
    if let Some((_, first)) = finished.first() {
        let fields = numeric_fields(first);
        if !fields.iter().any(|(k, _)| *k == sweep.metric) {
            let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
            return Err(unknown_metric(s, sweep, &names));
        }
    }
    Ok(finished)
}

// ---------------------------------------------------------------------------
// Outputs

/// One point's result: the numbers sweep.csv and the plot use.
#[derive(Clone, Debug, Serialize)]
struct PointResult {
    index: usize,
    axes: Vec<(String, String)>,
    metrics: serde_json::Map<String, Json>,
}

fn point_results(
    axis_names: &[&str],
    points: &[Point],
    finished: &[(usize, Json)],
) -> Vec<PointResult> {
    finished
        .iter()
        .map(|(i, v)| PointResult {
            index: *i,
            axes: axis_names
                .iter()
                .map(|a| a.to_string())
                .zip(points[*i].labels.iter().cloned())
                .collect(),
            metrics: v.as_object().cloned().unwrap_or_default(),
        })
        .collect()
}

/// `sweep.csv`: a row per finished point, its axis values, then every
/// numeric result (the columns of the first point's result).
fn sweep_csv(axis_names: &[&str], points: &[Point], finished: &[(usize, Json)]) -> String {
    let metric_names: Vec<String> = finished
        .first()
        .map(|(_, v)| numeric_fields(v).into_iter().map(|(k, _)| k).collect())
        .unwrap_or_default();
    let mut csv = String::from("point");
    for a in axis_names {
        csv.push(',');
        csv.push_str(&csv_cell(a));
    }
    for m in &metric_names {
        csv.push(',');
        csv.push_str(m);
    }
    csv.push('\n');
    for (i, v) in finished {
        let fields = numeric_fields(v);
        csv.push_str(&i.to_string());
        for l in &points[*i].labels {
            csv.push(',');
            csv.push_str(&csv_cell(l));
        }
        for m in &metric_names {
            csv.push(',');
            if let Some((_, x)) = fields.iter().find(|(k, _)| k == m) {
                csv.push_str(&x.to_string());
            }
        }
        csv.push('\n');
    }
    csv
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The summary: what was swept, then one row per finished point with the
/// metric.
fn sweep_summary(
    s: &Scenario,
    sweep: &SweepTask,
    points: &[Point],
    finished: &[(usize, Json)],
    complete: bool,
) -> String {
    let axis_names: Vec<&str> = sweep.axes.iter().map(|a| a.name.as_str()).collect();
    let mut cols: Vec<(&str, Align)> = vec![("point", Align::Right)];
    cols.extend(axis_names.iter().map(|a| (*a, Align::Right)));
    cols.push((sweep.metric.as_str(), Align::Right));
    // Simulate points say whether their placement is valid; a number of an
    // invalid point is not achievable, so the table says which they are.
    let has_validity = finished.iter().any(|(_, v)| v.get("valid").is_some());
    if has_validity {
        cols.push(("valid", Align::Left));
    }
    let mut table = TextTable::new(&cols);
    for (i, v) in finished {
        let mut row = vec![i.to_string()];
        row.extend(points[*i].labels.iter().cloned());
        let x = metric_of(v, &sweep.metric).map_or(String::new(), |x| format!("{x:.4}"));
        row.push(x);
        if has_validity {
            row.push(if is_invalid(v) { "no" } else { "yes" }.to_string());
        }
        table.row(row);
    }
    let n_invalid = finished.iter().filter(|(_, v)| is_invalid(v)).count();
    let mut summary = format!(
        "{}: sweep of {} over {} ({} points{})\n\n",
        s.name,
        sweep.each.kind(),
        axis_names.join(" × "),
        points.len(),
        if complete {
            String::new()
        } else {
            format!(", {} finished before the interrupt", finished.len())
        }
    );
    summary.push_str(&table.render());
    if has_validity {
        summary.push_str(&if n_invalid == 0 {
            format!("\nall {} points valid\n", finished.len())
        } else {
            format!(
                "\n{n_invalid} of {} points invalid (valid = no: the placement breaks a partition constraint or overflows SRAM; their numbers are not achievable; hollow markers in the plot)\n",
                finished.len()
            )
        });
    }
    summary
}

/// The metric against the first axis, one line per combination of the
/// other axes; no file when no point has the metric.
fn sweep_plot(
    s: &Scenario,
    sweep: &SweepTask,
    points: &[Point],
    finished: &[(usize, Json)],
    scratch: &PlotScratch,
) -> Result<Option<(String, Vec<u8>)>, UserError> {
    let series = plot_series(sweep, points, finished);
    if series.is_empty() {
        return Ok(None);
    }
    let first = &sweep.axes[0].name;
    let path = scratch.path("sweep");
    plots::metric_vs_param(
        &series,
        first,
        &sweep.metric,
        &format!("{}: {} vs {}", s.name, sweep.metric, first),
        log_x(&sweep.axes[0]),
        &path,
        scratch.format(),
    )?;
    scratch.take(&path).map(Some)
}

/// False only for a point whose result says `"valid": false` (a simulate
/// point whose placement breaks a constraint or overflows SRAM); traffic
/// points have no validity.
fn is_invalid(v: &Json) -> bool {
    v.get("valid").and_then(Json::as_bool) == Some(false)
}

/// The plot's lines (invalid points as hollow markers, off the line). x is the first axis's value when it is a number, else
/// the value's index; each combination of the other axes is one series,
/// named by their values (or by the metric when there is one axis).
fn plot_series(sweep: &SweepTask, points: &[Point], finished: &[(usize, Json)]) -> Vec<Series> {
    let axis_names: Vec<&str> = sweep.axes.iter().map(|a| a.name.as_str()).collect();
    // Points per value of the first axis: the product of the other axes' sizes.
    let stride: usize = sweep.axes[1..].iter().map(|a| a.values.len()).product();
    let mut series: Vec<Series> = Vec::new();
    for (i, v) in finished {
        let p = &points[*i];
        let k = (*i / stride) % sweep.axes[0].values.len();
        let x = p.numbers[0].unwrap_or(k as f64);
        let Some(y) = metric_of(v, &sweep.metric) else {
            continue;
        };
        let invalid = is_invalid(v);
        let name = if p.labels.len() > 1 {
            axis_names[1..]
                .iter()
                .zip(&p.labels[1..])
                .map(|(a, l)| format!("{a}={l}"))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            sweep.metric.clone()
        };
        let at = match series.iter().position(|s| s.name == name) {
            Some(k) => k,
            None => {
                series.push(Series {
                    name,
                    ..Series::default()
                });
                series.len() - 1
            }
        };
        if invalid {
            series[at].invalid.push((x, y));
        } else {
            series[at].points.push((x, y));
        }
    }
    series
}

/// Log scale only for an axis of more than two positive numbers spanning at
/// least a factor of eight: a linear axis would crowd the small values.
fn log_x(axis: &Axis) -> bool {
    let xs: Vec<Option<f64>> = axis.values.iter().map(node_number).collect();
    xs.len() > 2 && xs.iter().all(|x| x.is_some_and(|x| x > 0.0)) && {
        let v: Vec<f64> = xs.iter().flatten().copied().collect();
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, 0.0f64), |(l, h), &x| (l.min(x), h.max(x)));
        hi / lo >= 8.0
    }
}

fn progress_bar(len: u64, quiet: bool) -> indicatif::ProgressBar {
    super::progress_bar(
        len,
        0,
        quiet,
        "{bar:40} {pos}/{len} points  {per_sec}  eta {eta}",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::Placement;
    use sim::spec::HwSpec;
    use sim::traffic::TrafficOptions;

    /// The metric lists must name exactly the numeric results each kind
    /// produces, so a sweep's metric can be checked before anything runs.
    #[test]
    fn metric_lists_match_the_results() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let path = root.join("hw_specs/mesh_4x4.toml");
        let spec = HwSpec::from_toml_str(&std::fs::read_to_string(&path).unwrap(), "mesh_4x4.toml")
            .unwrap();
        let traffic = run_traffic(
            &spec,
            &TrafficOptions {
                packet_bytes: 64,
                warmup_cycles: 10,
                measure_cycles: 200,
                ..TrafficOptions::default()
            },
        )
        .unwrap();
        let v = serde_json::to_value(&traffic).unwrap();
        let mut got: Vec<String> = numeric_fields(&v).into_iter().map(|(k, _)| k).collect();
        let mut want: Vec<String> = TRAFFIC_METRICS.iter().map(|s| s.to_string()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        let g = sim::zoo::build("mlp", &Default::default()).unwrap();
        let out = sim::simulate(
            &spec,
            &g,
            &Placement::contiguous_balanced(&spec, &g),
            &SimOptions::default(),
        )
        .unwrap();
        let mut got: Vec<String> = numeric_fields(&sim_metrics(&out.report))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let mut want: Vec<String> = SIMULATE_METRICS.iter().map(|s| s.to_string()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }
}
