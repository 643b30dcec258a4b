//! `tessera run`: the single front door. Reads a scenario, checks and builds
//! everything before writing anything, runs the task, and writes the outputs
//! atomically: `report.json`, `scenario.resolved.toml`, `summary.txt`, and per
//! task `placement.json`, `trace.json`, `sweep.csv` and plots.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::Serialize;
use sim::config::{Node, Val};
use sim::graph::Graph;
use sim::report::SimReport;
use sim::spec::{ChipletId, HwSpec};
use sim::spec_write::spec_to_toml;
use sim::traffic::{Pattern, TrafficOptions, TrafficReport, run_traffic};
use sim::{Placement, SimOptions, Switching};
use toml::{Table, Value};

use agent::partition::registry::OptionValue;

use crate::error::UserError;
use crate::files::write_atomic;
use crate::plots::{self, Format, Series};
use crate::scenario::{
    self, Axis, HardwareSource, PartitionTask, PlacementChoice, Resolved, Scenario, SweepTask,
    Task, TrafficTask, Workload,
};
use crate::table::{Align, Table as TextTable};

/// Version of the `report.json` envelope.
pub const RUN_REPORT_SCHEMA_VERSION: u32 = 1;

/// Set by the Ctrl-C handler; long tasks check it between units of work.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler once per process.
pub fn install_interrupt_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // If another handler is installed (e.g. by an embedding program), runs
        // simply cannot be interrupted cleanly; that is not an error.
        let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
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
    /// Worker threads for sweeps (default: available cores).
    pub threads: Option<usize>,
    /// Test hook: behave as if Ctrl-C came after this many sweep points.
    pub interrupt_after_points: Option<usize>,
    /// Caps every search budget (quick runs, tests); also TESSERA_MAX_BUDGET.
    pub max_budget: Option<u64>,
}

/// What a run printed, and whether it was interrupted (exit code 130).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    pub stdout: String,
    pub interrupted: bool,
}

/// The `report.json` envelope.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    schema_version: u32,
    tessera_version: &'a str,
    scenario: &'a str,
    task: &'a str,
    seed: u64,
    complete: bool,
    result: T,
}

fn envelope_json<T: Serialize>(s: &Scenario, complete: bool, result: T) -> String {
    let e = Envelope {
        schema_version: RUN_REPORT_SCHEMA_VERSION,
        tessera_version: env!("CARGO_PKG_VERSION"),
        scenario: &s.name,
        task: s.task.kind(),
        seed: s.seed,
        complete,
        result,
    };
    let mut text = serde_json::to_string_pretty(&e).expect("report serialises");
    text.push('\n');
    text
}

/// Files to write, in order, as (name, bytes).
type Outputs = Vec<(String, Vec<u8>)>;

/// Reads and resolves a scenario (every grid point of a sweep) without
/// running it: what `tessera check` does. Returns it and its number of runs.
pub fn check_scenario(path: &Path) -> Result<(Scenario, usize), UserError> {
    let s = scenario::load(path)?;
    scenario::resolve(&s)?;
    let points = match &s.task {
        Task::Sweep(sweep) => grid(&s, sweep)?.len(),
        _ => 1,
    };
    Ok((s, points))
}

/// Runs a scenario file.
pub fn run(args: &RunArgs) -> Result<RunOutcome, UserError> {
    let s = scenario::load(&args.scenario)?;
    run_scenario(s, args)
}

/// Runs a scenario already read (e.g. built from command-line flags).
pub fn run_scenario(mut s: Scenario, args: &RunArgs) -> Result<RunOutcome, UserError> {
    if let Some(seed) = args.seed {
        s.seed = seed;
    }
    let resolved = scenario::resolve(&s)?;
    // Sweeps resolve every grid point before anything runs, so a bad value
    // anywhere in the grid is reported with nothing written.
    let points = match &s.task {
        Task::Sweep(sweep) => Some(grid(&s, sweep)?),
        _ => None,
    };
    let out_dir = match (&args.out, &s.output_dir) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => PathBuf::from("out").join(&s.name),
    };
    let format = match s.plots.as_str() {
        "png" => Some(Format::Png),
        "none" => None,
        _ => Some(Format::Svg),
    };
    install_interrupt_handler();
    let (summary, mut files, complete) = match (&s.task, points) {
        (Task::Simulate { placement }, _) => {
            let (summary, files) = run_simulate(&resolved, placement, &out_dir, format)?;
            (summary, files, true)
        }
        (Task::Traffic(t), _) => {
            let report = run_traffic(&resolved.spec, &traffic_options(t, &s))
                .map_err(|e| UserError::new(format!("{}: {e}", s.file.display())))?;
            let summary = crate::traffic::summary(&resolved.spec, &report);
            let files = vec![(
                "report.json".to_string(),
                envelope_json(&s, true, &report).into_bytes(),
            )];
            (summary, files, true)
        }
        (Task::Sweep(sweep), Some(points)) => run_sweep(&s, sweep, points, args, &out_dir, format)?,
        (Task::Sweep(_), None) => unreachable!("sweeps always have a grid"),
        (Task::Partition(p), _) => run_partition(&resolved, p, args, &out_dir, format)?,
    };
    if let (Some(Workload::GraphFile(_)), Some(g)) = (&s.workload, &resolved.graph) {
        files.push(("graph.json".to_string(), g.to_json().into_bytes()));
    }
    files.push((
        "scenario.resolved.toml".to_string(),
        resolved_toml(&resolved, &out_dir)?.into_bytes(),
    ));
    files.push(("summary.txt".to_string(), summary.clone().into_bytes()));
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| UserError::new(format!("{}: cannot create: {e}", out_dir.display())))?;
    for (name, bytes) in &files {
        write_atomic(&out_dir.join(name), bytes)?;
    }
    let mut stdout = if args.json {
        String::from_utf8_lossy(
            &files
                .iter()
                .find(|(n, _)| n == "report.json")
                .expect("every task writes a report")
                .1,
        )
        .into_owned()
    } else {
        summary
    };
    if !args.json && !args.quiet {
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        stdout.push_str(&format!(
            "\nwrote {} to {}\n",
            names.join(", "),
            out_dir.display()
        ));
        if !complete {
            stdout.push_str("interrupted: the report is marked \"complete\": false\n");
        }
    }
    Ok(RunOutcome {
        stdout,
        interrupted: !complete,
    })
}

fn traffic_options(t: &TrafficTask, s: &Scenario) -> TrafficOptions {
    let pattern = match t.pattern.as_str() {
        "transpose" => Pattern::Transpose,
        "hotspot" => Pattern::Hotspot {
            chiplet: ChipletId(t.hotspot_chiplet.unwrap_or(0) as u32),
            fraction: t.hotspot_fraction.unwrap_or(0.0),
        },
        _ => Pattern::UniformRandom,
    };
    TrafficOptions {
        pattern,
        injection_rate: t.rate,
        packet_bytes: t.packet_bytes,
        warmup_cycles: t.warmup_cycles,
        measure_cycles: t.measure_cycles,
        switching: s.simulation.switching,
        seed: s.seed,
        ..TrafficOptions::default()
    }
}

fn placement_for(
    choice: &PlacementChoice,
    spec: &HwSpec,
    graph: &Graph,
) -> Result<Placement, UserError> {
    match choice {
        PlacementChoice::Contiguous => Ok(Placement::contiguous_balanced(spec, graph)),
        PlacementChoice::Single => Ok(Placement::single(graph, spec.pipeline_order[0])),
        PlacementChoice::File(p) => {
            let text = crate::files::read_text(p)?;
            Placement::from_json(&text, spec, graph)
                .map_err(|e| UserError::new(format!("{}: {e}", p.display())))
        }
    }
}

fn run_simulate(
    r: &Resolved,
    choice: &PlacementChoice,
    out_dir: &Path,
    format: Option<Format>,
) -> Result<(String, Outputs), UserError> {
    let s = &r.scenario;
    let graph = r.graph.as_ref().expect("simulate has a workload");
    let placement = placement_for(choice, &r.spec, graph)?;
    let mut options = s.simulation.clone();
    // The Gantt chart needs the timeline even when no trace file is asked for.
    let want_trace = options.trace;
    options.trace = want_trace || format.is_some();
    let out = sim::simulate(&r.spec, graph, &placement, &options).map_err(UserError::new)?;
    let summary = crate::simulate::summary(&r.spec, graph, &out.report);
    let mut files: Outputs = vec![
        (
            "report.json".to_string(),
            envelope_json(s, true, &out.report).into_bytes(),
        ),
        (
            "placement.json".to_string(),
            placement.to_json(graph).into_bytes(),
        ),
    ];
    if want_trace {
        let json = out.trace_json(r.spec.clock_mhz).expect("trace recorded");
        files.push(("trace.json".to_string(), json.into_bytes()));
    }
    if let Some(format) = format {
        let ext = ext(format);
        let tmp = plot_tmp_dir(out_dir)?;
        let bars = tmp.join(format!("chiplets.{ext}"));
        plots::chiplet_bars(
            &out.report,
            &format!("{}: {} on {}", s.name, graph.name(), r.spec.name),
            &bars,
            format,
        )
        .map_err(UserError::new)?;
        let gantt = tmp.join(format!("gantt.{ext}"));
        plots::gantt(
            out.trace.as_deref().unwrap_or(&[]),
            r.spec.n_chiplets(),
            options.microbatches.min(4),
            &format!("{}: first micro-batches", s.name),
            &gantt,
            format,
        )
        .map_err(UserError::new)?;
        for p in [bars, gantt] {
            files.push(take_file(&p)?);
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok((summary, files))
}

/// Runs every method of a partition task on the same problem, each with its
/// own seed stream and the same budget.
fn run_partition(
    r: &Resolved,
    task: &PartitionTask,
    args: &RunArgs,
    out_dir: &Path,
    format: Option<Format>,
) -> Result<(String, Outputs, bool), UserError> {
    use agent::SearchError;
    use agent::partition::registry;
    use agent::partition::search::{Evaluator, Problem, SearchResult, score};
    let s = &r.scenario;
    let graph = r.graph.as_ref().expect("partition has a workload");
    let constraints = task.constraints(&r.spec);
    let cap = args.max_budget.or_else(|| {
        std::env::var("TESSERA_MAX_BUDGET")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    let budget = cap.map_or(task.budget, |c: u64| task.budget.min(c.max(1)));
    let mut results: Vec<SearchResult> = Vec::new();
    let mut complete = true;
    for (i, name) in task.methods.iter().enumerate() {
        if interrupted() {
            complete = false;
            break;
        }
        let in_method =
            |e: SearchError| UserError::new(format!("{}: method {name}: {e}", s.file.display()));
        let info = registry::lookup(name).map_err(in_method)?;
        let given = task.options.get(name).map_or(&[][..], Vec::as_slice);
        let mut method = info.build(&info.options(given).map_err(in_method)?, budget);
        let problem = Problem {
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
        let mut eval = Evaluator::new(&problem).map_err(in_method)?;
        method.run(&problem, &mut eval).map_err(in_method)?;
        let notes = method.notes();
        results.push(eval.finish(name, notes).map_err(in_method)?);
    }
    let best = results
        .iter()
        .filter_map(|m| m.best.as_ref().map(|(p, rep)| (m, p, rep)))
        .fold(
            None::<(&SearchResult, &Placement, &SimReport)>,
            |acc, x| match acc {
                Some(a) if score(a.2) >= score(x.2) => Some(a),
                _ => Some(x),
            },
        );
    #[derive(Serialize)]
    struct MethodResult<'a> {
        method: &'a str,
        evaluations: u64,
        best_throughput_inferences_per_s: f64,
        notes: Vec<(String, String)>,
        best_report: Option<&'a SimReport>,
    }
    #[derive(Serialize)]
    struct PartitionResult<'a> {
        budget: u64,
        constraints: sim::constraints::ConstraintSet,
        best_method: Option<&'a str>,
        best_throughput_inferences_per_s: f64,
        methods: Vec<MethodResult<'a>>,
    }
    let result = PartitionResult {
        budget,
        constraints,
        best_method: best.map(|b| b.0.method.as_str()),
        best_throughput_inferences_per_s: best.map_or(0.0, |b| score(b.2)),
        methods: results
            .iter()
            .map(|m| MethodResult {
                method: &m.method,
                evaluations: m.evaluations,
                best_throughput_inferences_per_s: m.best.as_ref().map_or(0.0, |(_, r)| score(r)),
                notes: m.notes.clone(),
                best_report: m.best.as_ref().map(|(_, r)| r),
            })
            .collect(),
    };
    let mut table = TextTable::new(&[
        ("method", Align::Left),
        ("evaluations", Align::Right),
        ("best throughput (inf/s)", Align::Right),
        ("vs best", Align::Right),
        ("notes", Align::Left),
    ]);
    let top = result.best_throughput_inferences_per_s;
    for m in &result.methods {
        let notes: Vec<String> = m.notes.iter().map(|(k, v)| format!("{k}={v}")).collect();
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
    let mut summary = format!(
        "{}: partition {} on {} ({} chiplets), budget {} simulator calls per method\nconstraints: acyclic={} no_skipping={} no_triangle={} sram={}\n\n",
        s.name,
        graph.name(),
        r.spec.name,
        r.spec.n_chiplets(),
        budget,
        constraints.acyclic_dataflow,
        constraints.no_skipping.name(),
        constraints.no_triangle,
        constraints.sram_capacity
    );
    summary.push_str(&table.render());
    let mut files: Outputs = vec![(
        "report.json".to_string(),
        envelope_json(s, complete, &result).into_bytes(),
    )];
    match best {
        Some((m, p, rep)) => {
            summary.push_str(&format!(
                "\nbest: {} at {:.1} inferences/s ({} per micro-batch interval {:.0} cycles)\n\n",
                m.method,
                score(rep),
                if rep.valid { "valid" } else { "INVALID" },
                rep.steady_state_interval_cycles
            ));
            summary.push_str(&crate::simulate::summary(&r.spec, graph, rep));
            files.push(("placement.json".to_string(), p.to_json(graph).into_bytes()));
        }
        None => summary.push_str("\nno method found a valid placement\n"),
    }
    let mut csv = String::from("method,evaluation,best_throughput_inferences_per_s,wall_ms\n");
    for m in &results {
        for h in &m.history {
            csv.push_str(&format!(
                "{},{},{},{:.3}\n",
                m.method, h.evaluation, h.best_throughput_inferences_per_s, h.wall_ms
            ));
        }
    }
    files.push(("history.csv".to_string(), csv.into_bytes()));
    if let Some(format) = format {
        let series: Vec<Series> = results
            .iter()
            .filter(|m| !m.history.is_empty())
            .map(|m| Series {
                name: m.method.clone(),
                points: m
                    .history
                    .iter()
                    .map(|h| (h.evaluation as f64, h.best_throughput_inferences_per_s))
                    .collect(),
            })
            .collect();
        let tmp = plot_tmp_dir(out_dir)?;
        let path = tmp.join(format!("history.{}", ext(format)));
        plots::metric_vs_param(
            &series,
            "simulator calls",
            "best throughput (inferences/s)",
            &format!("{}: best throughput found", s.name),
            budget > 10,
            &path,
            format,
        )
        .map_err(UserError::new)?;
        files.push(take_file(&path)?);
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok((summary, files, complete))
}

fn ext(format: Format) -> &'static str {
    match format {
        Format::Svg => "svg",
        Format::Png => "png",
    }
}

/// A private scratch directory for plots, which the plot module writes to
/// files; they are read back and written into the output directory with the
/// rest, so nothing appears there before the run has succeeded.
fn plot_tmp_dir(out_dir: &Path) -> Result<PathBuf, UserError> {
    let name = out_dir
        .file_name()
        .map_or_else(|| "run".to_string(), |n| n.to_string_lossy().into_owned());
    let dir = std::env::temp_dir().join(format!(
        "tessera-plots-{}-{}-{}",
        std::process::id(),
        name,
        PLOT_DIRS.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| UserError::new(format!("{}: cannot create: {e}", dir.display())))?;
    Ok(dir)
}

static PLOT_DIRS: AtomicUsize = AtomicUsize::new(0);

fn take_file(p: &Path) -> Result<(String, Vec<u8>), UserError> {
    let bytes = std::fs::read(p)
        .map_err(|e| UserError::new(format!("{}: cannot read: {e}", p.display())))?;
    let name = p
        .file_name()
        .expect("plot files have names")
        .to_string_lossy()
        .into_owned();
    Ok((name, bytes))
}

/// One grid point: its axis values (as text) and the scenario it runs.
#[derive(Clone, Debug)]
struct Point {
    labels: Vec<String>,
    numbers: Vec<Option<f64>>,
    resolved: Resolved,
}

fn node_text(n: &Node) -> String {
    match &n.val {
        Val::Str(s) => s.clone(),
        v => v.show(),
    }
}

fn node_number(n: &Node) -> Option<f64> {
    match n.val {
        Val::Int(i) => Some(i as f64),
        Val::Float(f) => Some(f),
        _ => None,
    }
}

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
    "saturated",
    "end_cycle",
];

/// Every grid point's scenario, resolved, first axis slowest.
fn grid(base: &Scenario, sweep: &SweepTask) -> Result<Vec<Point>, UserError> {
    let known = match *sweep.each {
        Task::Traffic(_) => TRAFFIC_METRICS,
        _ => SIMULATE_METRICS,
    };
    if !known.contains(&sweep.metric.as_str()) {
        return Err(UserError::new(format!(
            "{}: task.metric: {:?} is not a numeric result of a {} task; results: {}",
            base.file.display(),
            sweep.metric,
            sweep.each.kind(),
            known.join(", ")
        )));
    }
    let dims: Vec<usize> = sweep.axes.iter().map(|a| a.values.len()).collect();
    let total: usize = dims.iter().product();
    let mut points = Vec::with_capacity(total);
    for index in 0..total {
        let mut rem = index;
        let mut choice = vec![0; dims.len()];
        for d in (0..dims.len()).rev() {
            choice[d] = rem % dims[d];
            rem /= dims[d];
        }
        let mut s = base.clone();
        s.task = (*sweep.each).clone();
        let mut labels = Vec::new();
        let mut numbers = Vec::new();
        for (axis, &k) in sweep.axes.iter().zip(&choice) {
            let v = &axis.values[k];
            apply_axis(&mut s, axis, v)?;
            labels.push(match (&v.val, axis.target.as_str()) {
                // A spec file is labelled by its name, e.g. edgetpu_ring8.
                (Val::Str(p), "hardware_spec") => Path::new(p)
                    .file_stem()
                    .map_or_else(|| p.clone(), |n| n.to_string_lossy().into_owned()),
                _ => node_text(v),
            });
            numbers.push(node_number(v));
        }
        let resolved = scenario::resolve(&s).map_err(|e| {
            UserError::new(format!(
                "sweep point {index} ({}): {}",
                sweep
                    .axes
                    .iter()
                    .zip(&labels)
                    .map(|(a, l)| format!("{} = {l}", a.name))
                    .collect::<Vec<_>>()
                    .join(", "),
                e.message
            ))
        })?;
        points.push(Point {
            labels,
            numbers,
            resolved,
        });
    }
    Ok(points)
}

fn axis_error(file: &Path, axis: &Axis, message: String) -> UserError {
    UserError::new(format!(
        "{}:{}:{}: task.axes ({}): {message}",
        file.display(),
        axis.pos.line,
        axis.pos.column,
        axis.name
    ))
}

fn apply_axis(s: &mut Scenario, axis: &Axis, v: &Node) -> Result<(), UserError> {
    let field = axis.field.clone().unwrap_or_default();
    let file = s.file.clone();
    let file = file.as_path();
    let want_int = |what: &str| -> Result<u64, UserError> {
        match v.val {
            Val::Int(i) if i >= 1 => Ok(i as u64),
            _ => Err(axis_error(
                file,
                axis,
                format!(
                    "{what} values must be positive integers, found {}",
                    v.val.show()
                ),
            )),
        }
    };
    match axis.target.as_str() {
        "hardware" => {
            s.overrides.retain(|(p, _)| *p != field);
            s.overrides.push((field, v.clone()));
        }
        "hardware_spec" => {
            let Val::Str(p) = &v.val else {
                return Err(axis_error(
                    file,
                    axis,
                    "hardware_spec values are spec file paths".into(),
                ));
            };
            let path = s.file.parent().unwrap_or(Path::new(".")).join(p);
            if !path.is_file() {
                return Err(axis_error(
                    file,
                    axis,
                    format!("hardware spec file {} does not exist", path.display()),
                ));
            }
            s.hardware = HardwareSource::File(path);
        }
        "workload" => match &mut s.workload {
            // Values are checked when the point's graph is built.
            Some(Workload::Zoo { params, .. } | Workload::Onnx { params, .. }) => {
                params.insert(field, node_text(v));
            }
            _ => {
                return Err(axis_error(
                    file,
                    axis,
                    "a workload axis needs a zoo model or ONNX workload".into(),
                ));
            }
        },
        "simulation" => match field.as_str() {
            "microbatches" => s.simulation.microbatches = want_int("microbatches")? as u32,
            "packet_bytes" => s.simulation.packet_bytes = want_int("packet_bytes")?,
            "switching" => {
                s.simulation.switching = match node_text(v).as_str() {
                    "store_and_forward" => Switching::StoreAndForward,
                    "cut_through" => Switching::CutThrough,
                    other => {
                        return Err(axis_error(
                            file,
                            axis,
                            format!("unknown switching {other:?}"),
                        ));
                    }
                }
            }
            other => {
                return Err(axis_error(
                    file,
                    axis,
                    format!(
                        "simulation has no option {other:?} to sweep; options: microbatches, packet_bytes, switching"
                    ),
                ));
            }
        },
        _ => match &mut s.task {
            Task::Traffic(t) => match field.as_str() {
                "rate" => {
                    t.rate = node_number(v)
                        .filter(|r| *r > 0.0 && *r <= 1.0)
                        .ok_or_else(|| {
                            axis_error(
                                file,
                                axis,
                                format!("rate must be in (0, 1], found {}", v.val.show()),
                            )
                        })?
                }
                "packet_bytes" => t.packet_bytes = want_int("packet_bytes")?,
                "pattern" => t.pattern = node_text(v),
                other => {
                    return Err(axis_error(
                        file,
                        axis,
                        format!(
                            "traffic has no key {other:?} to sweep; keys: rate, packet_bytes, pattern"
                        ),
                    ));
                }
            },
            Task::Simulate { placement } => match (field.as_str(), node_text(v).as_str()) {
                ("placement", "contiguous") => *placement = PlacementChoice::Contiguous,
                ("placement", "single") => *placement = PlacementChoice::Single,
                _ => {
                    return Err(axis_error(
                        file,
                        axis,
                        "a simulate task's sweepable key is placement (contiguous | single)".into(),
                    ));
                }
            },
            Task::Sweep(_) | Task::Partition(_) => unreachable!("sweeps run simulate or traffic"),
        },
    }
    Ok(())
}

/// One point's result: the numbers sweep.csv and the plot use.
#[derive(Clone, Debug, Serialize)]
struct PointResult {
    index: usize,
    axes: Vec<(String, String)>,
    metrics: serde_json::Map<String, serde_json::Value>,
}

fn run_point(p: &Point) -> Result<serde_json::Value, String> {
    let r = &p.resolved;
    match &r.scenario.task {
        Task::Simulate { placement } => {
            let graph = r.graph.as_ref().expect("simulate has a workload");
            let placement = placement_for(placement, &r.spec, graph).map_err(|e| e.message)?;
            let options = SimOptions {
                trace: false,
                ..r.scenario.simulation.clone()
            };
            let out = sim::simulate(&r.spec, graph, &placement, &options)?;
            Ok(sim_metrics(&out.report))
        }
        Task::Traffic(t) => {
            let report: TrafficReport = run_traffic(&r.spec, &traffic_options(t, &r.scenario))?;
            serde_json::to_value(&report).map_err(|e| e.to_string())
        }
        Task::Sweep(_) | Task::Partition(_) => unreachable!("sweeps run simulate or traffic"),
    }
}

fn sim_metrics(r: &SimReport) -> serde_json::Value {
    serde_json::json!({
        "valid": r.valid,
        "throughput_inferences_per_s": r.throughput_inferences_per_s,
        "first_inference_latency_us": r.first_inference_latency_us,
        "first_inference_latency_cycles": r.first_inference_latency_cycles,
        "steady_state_interval_cycles": r.steady_state_interval_cycles,
        "makespan_cycles": r.makespan_cycles,
        "energy_total_pj": r.energy.total_pj,
        "violations": r.violations.len(),
    })
}

/// Numeric fields of a result object, in its order.
fn numeric_fields(v: &serde_json::Value) -> Vec<(String, f64)> {
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

fn run_sweep(
    s: &Scenario,
    sweep: &SweepTask,
    points: Vec<Point>,
    args: &RunArgs,
    out_dir: &Path,
    format: Option<Format>,
) -> Result<(String, Outputs, bool), UserError> {
    let threads = args
        .threads
        .or_else(|| {
            std::env::var("TESSERA_THREADS")
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let n = points.len();
    let results: Mutex<Vec<Option<Result<serde_json::Value, String>>>> = Mutex::new(vec![None; n]);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let bar = progress_bar(n as u64, args.quiet);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(n) {
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
                    done.fetch_add(1, Ordering::SeqCst);
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let results = results.into_inner().expect("no worker panics");
    let complete = results.iter().all(Option::is_some);
    // A failing point (e.g. an unroutable traffic pattern) is a user error.
    for (i, r) in results.iter().enumerate() {
        if let Some(Err(e)) = r {
            return Err(UserError::new(format!(
                "{}: sweep point {i}: {e}",
                s.file.display()
            )));
        }
    }
    let finished: Vec<(usize, serde_json::Value)> = results
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|r| (i, r.expect("errors returned above"))))
        .collect();
    // The metric must be a numeric field of the results.
    if let Some((_, first)) = finished.first() {
        let fields = numeric_fields(first);
        if !fields.iter().any(|(k, _)| *k == sweep.metric) {
            let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
            return Err(UserError::new(format!(
                "{}: task.metric: {:?} is not a numeric result of a {} task; results: {}",
                s.file.display(),
                sweep.metric,
                sweep.each.kind(),
                names.join(", ")
            )));
        }
    }
    let axis_names: Vec<&str> = sweep.axes.iter().map(|a| a.name.as_str()).collect();
    let metric_names: Vec<String> = finished
        .first()
        .map(|(_, v)| numeric_fields(v).into_iter().map(|(k, _)| k).collect())
        .unwrap_or_default();
    let mut csv = String::from("point");
    for a in &axis_names {
        csv.push(',');
        csv.push_str(&csv_cell(a));
    }
    for m in &metric_names {
        csv.push(',');
        csv.push_str(m);
    }
    csv.push('\n');
    let mut rows = Vec::new();
    for (i, v) in &finished {
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
        rows.push(PointResult {
            index: *i,
            axes: axis_names
                .iter()
                .map(|a| a.to_string())
                .zip(points[*i].labels.iter().cloned())
                .collect(),
            metrics: v.as_object().cloned().unwrap_or_default(),
        });
    }
    // Summary: one row per point with the metric.
    let mut cols: Vec<(&str, Align)> = vec![("point", Align::Right)];
    cols.extend(axis_names.iter().map(|a| (*a, Align::Right)));
    cols.push((sweep.metric.as_str(), Align::Right));
    let mut table = TextTable::new(&cols);
    for (i, v) in &finished {
        let mut row = vec![i.to_string()];
        row.extend(points[*i].labels.iter().cloned());
        let x = numeric_fields(v)
            .into_iter()
            .find(|(k, _)| *k == sweep.metric)
            .map_or(String::new(), |(_, x)| format!("{x:.4}"));
        row.push(x);
        table.row(row);
    }
    let mut summary = format!(
        "{}: sweep of {} over {} ({} points{})\n\n",
        s.name,
        sweep.each.kind(),
        axis_names.join(" × "),
        n,
        if complete {
            String::new()
        } else {
            format!(", {} finished before the interrupt", finished.len())
        }
    );
    summary.push_str(&table.render());
    #[derive(Serialize)]
    struct SweepResult<'a> {
        metric: &'a str,
        axes: Vec<&'a str>,
        points_total: usize,
        points: Vec<PointResult>,
    }
    let report = envelope_json(
        s,
        complete,
        SweepResult {
            metric: &sweep.metric,
            axes: axis_names.clone(),
            points_total: n,
            points: rows,
        },
    );
    let mut files: Outputs = vec![
        ("report.json".to_string(), report.into_bytes()),
        ("sweep.csv".to_string(), csv.into_bytes()),
    ];
    if let Some(format) = format {
        // x: the first axis (numeric values, else the value's index); one
        // series per combination of the other axes.
        let mut series: Vec<Series> = Vec::new();
        for (i, v) in &finished {
            let p = &points[*i];
            let first_axis = &sweep.axes[0];
            let k = (*i
                / sweep.axes[1..]
                    .iter()
                    .map(|a| a.values.len())
                    .product::<usize>())
                % first_axis.values.len();
            let x = p.numbers[0].unwrap_or(k as f64);
            let Some(y) = numeric_fields(v)
                .into_iter()
                .find(|(name, _)| *name == sweep.metric)
                .map(|(_, y)| y)
            else {
                continue;
            };
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
            match series.iter_mut().find(|s| s.name == name) {
                Some(s) => s.points.push((x, y)),
                None => series.push(Series {
                    name,
                    points: vec![(x, y)],
                }),
            }
        }
        // Log scale only for an axis of positive numbers spanning a wide range.
        let xs: Vec<Option<f64>> = sweep.axes[0].values.iter().map(node_number).collect();
        let log_x = xs.len() > 2 && xs.iter().all(|x| x.is_some_and(|x| x > 0.0)) && {
            let v: Vec<f64> = xs.iter().flatten().copied().collect();
            let (lo, hi) = v
                .iter()
                .fold((f64::MAX, 0.0f64), |(l, h), &x| (l.min(x), h.max(x)));
            hi / lo >= 8.0
        };
        let tmp = plot_tmp_dir(out_dir)?;
        let path = tmp.join(format!("sweep.{}", ext(format)));
        if !series.is_empty() {
            plots::metric_vs_param(
                &series,
                axis_names[0],
                &sweep.metric,
                &format!("{}: {} vs {}", s.name, sweep.metric, axis_names[0]),
                log_x,
                &path,
                format,
            )
            .map_err(UserError::new)?;
            files.push(take_file(&path)?);
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok((summary, files, complete))
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn progress_bar(len: u64, quiet: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if quiet || !std::io::stdout().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} points  {per_sec}  eta {eta}",
        )
        .expect("valid template"),
    );
    bar
}

fn node_to_value(n: &Node) -> Value {
    match &n.val {
        Val::Str(s) => Value::String(s.clone()),
        Val::Int(i) => Value::Integer(*i),
        Val::Float(f) => Value::Float(*f),
        Val::Bool(b) => Value::Boolean(*b),
        Val::Datetime(d) => Value::String(d.clone()),
        Val::IntOutOfRange(t) => Value::String(t.clone()),
        Val::Array(items) => Value::Array(items.iter().map(node_to_value).collect()),
        Val::Table(entries) => Value::Table(
            entries
                .iter()
                .map(|e| (e.key.clone(), node_to_value(&e.node)))
                .collect(),
        ),
    }
}

fn task_toml(task: &Task, s: &Scenario) -> Table {
    let mut t = Table::new();
    t.insert("kind".into(), Value::String(task.kind().into()));
    match task {
        Task::Simulate { placement } => {
            let p = match placement {
                PlacementChoice::Contiguous => "contiguous".to_string(),
                PlacementChoice::Single => "single".to_string(),
                // The output directory holds the placement that was used.
                PlacementChoice::File(_) => "placement.json".to_string(),
            };
            t.insert("placement".into(), Value::String(p));
        }
        Task::Traffic(x) => {
            t.insert("pattern".into(), Value::String(x.pattern.clone()));
            t.insert("rate".into(), Value::Float(x.rate));
            t.insert("packet_bytes".into(), Value::Integer(x.packet_bytes as i64));
            t.insert(
                "warmup_cycles".into(),
                Value::Integer(x.warmup_cycles as i64),
            );
            t.insert(
                "measure_cycles".into(),
                Value::Integer(x.measure_cycles as i64),
            );
            if let Some(c) = x.hotspot_chiplet {
                t.insert("hotspot_chiplet".into(), Value::Integer(c as i64));
            }
            if let Some(f) = x.hotspot_fraction {
                t.insert("hotspot_fraction".into(), Value::Float(f));
            }
        }
        Task::Partition(p) => {
            let methods = p.methods.iter().cloned().map(Value::String).collect();
            t.insert("methods".into(), Value::Array(methods));
            t.insert("budget".into(), Value::Integer(p.budget as i64));
            let mut options = Table::new();
            for (method, given) in &p.options {
                let mut m = Table::new();
                for (name, value) in given {
                    let v = match *value {
                        OptionValue::Int(v) => Value::Integer(v as i64),
                        OptionValue::Float(v) => Value::Float(v),
                        OptionValue::Bool(v) => Value::Boolean(v),
                    };
                    m.insert(name.clone(), v);
                }
                options.insert(method.clone(), Value::Table(m));
            }
            if !options.is_empty() {
                t.insert("options".into(), Value::Table(options));
            }
        }
        Task::Sweep(sw) => {
            t.insert("metric".into(), Value::String(sw.metric.clone()));
            t.insert("each".into(), Value::Table(task_toml(&sw.each, s)));
            let dir = s.file.parent().unwrap_or(Path::new("."));
            let axes = sw
                .axes
                .iter()
                .map(|a| {
                    let mut x = Table::new();
                    x.insert("name".into(), Value::String(a.name.clone()));
                    x.insert("target".into(), Value::String(a.target.clone()));
                    if let Some(f) = &a.field {
                        x.insert("field".into(), Value::String(f.clone()));
                    }
                    let values = a
                        .values
                        .iter()
                        .map(|v| match (&v.val, a.target.as_str()) {
                            // Spec files are referred to by absolute path, so
                            // the resolved scenario works from any directory.
                            (Val::Str(p), "hardware_spec") => {
                                Value::String(absolute(&dir.join(p)).display().to_string())
                            }
                            _ => node_to_value(v),
                        })
                        .collect();
                    x.insert("values".into(), Value::Array(values));
                    Value::Table(x)
                })
                .collect();
            t.insert("axes".into(), Value::Array(axes));
        }
    }
    t
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `scenario.resolved.toml`: every value the run used, with the hardware
/// written inline (overrides applied), so the run can be repeated from its
/// output directory alone.
fn resolved_toml(r: &Resolved, out_dir: &Path) -> Result<String, UserError> {
    let s = &r.scenario;
    let mut t = Table::new();
    t.insert("name".into(), Value::String(s.name.clone()));
    t.insert("seed".into(), Value::Integer(s.seed as i64));
    let mut hw = Table::new();
    hw.insert("inline".into(), Value::Table(spec_to_toml(&r.spec)));
    t.insert("hardware".into(), Value::Table(hw));
    if let Some(g) = &r.graph {
        let mut w = Table::new();
        match &s.workload {
            Some(Workload::Zoo { model, .. }) => {
                w.insert("model".into(), Value::String(model.clone()));
                let params = g
                    .params()
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                w.insert("params".into(), Value::Table(params));
            }
            Some(Workload::Onnx { path, params, .. }) => {
                // The file is referred to by absolute path, so the resolved
                // scenario works from any directory; the parameters are typed
                // as a scenario writes them, with the dtype, keep_free_ops
                // and fuse the import used.
                w.insert(
                    "onnx".into(),
                    Value::String(absolute(path).display().to_string()),
                );
                let mut p = Table::new();
                for (k, v) in params {
                    if !agent::load::onnx::OPTION_KEYS.contains(&k.as_str()) {
                        let n = v.parse::<i64>().expect("dims are checked integers");
                        p.insert(k.clone(), Value::Integer(n));
                    }
                }
                if let Some(d) = g.params().get("dtype") {
                    p.insert("dtype".into(), Value::String(d.clone()));
                }
                let keep = params.get("keep_free_ops").is_some_and(|v| v == "true");
                p.insert("keep_free_ops".into(), Value::Boolean(keep));
                let fuse = params.get("fuse").is_none_or(|v| v == "true");
                p.insert("fuse".into(), Value::Boolean(fuse));
                w.insert("params".into(), Value::Table(p));
            }
            _ => {
                w.insert(
                    "graph".into(),
                    Value::String(absolute(&out_dir.join("graph.json")).display().to_string()),
                );
            }
        }
        t.insert("workload".into(), Value::Table(w));
    }
    let mut task = task_toml(&s.task, s);
    if let Task::Partition(p) = &s.task {
        // The constraint modes the run used: the spec's, with the task's replacements.
        let c = p.constraints(&r.spec);
        let mut ct = Table::new();
        ct.insert(
            "acyclic_dataflow".into(),
            Value::Boolean(c.acyclic_dataflow),
        );
        ct.insert(
            "no_skipping".into(),
            Value::String(c.no_skipping.name().into()),
        );
        ct.insert("no_triangle".into(), Value::Boolean(c.no_triangle));
        ct.insert("sram_capacity".into(), Value::Boolean(c.sram_capacity));
        task.insert("constraints".into(), Value::Table(ct));
    }
    t.insert("task".into(), Value::Table(task));
    let o = &s.simulation;
    let mut sim_t = Table::new();
    sim_t.insert("microbatches".into(), Value::Integer(o.microbatches as i64));
    sim_t.insert("packet_bytes".into(), Value::Integer(o.packet_bytes as i64));
    sim_t.insert(
        "switching".into(),
        Value::String(
            match o.switching {
                Switching::StoreAndForward => "store_and_forward",
                Switching::CutThrough => "cut_through",
            }
            .into(),
        ),
    );
    sim_t.insert("trace".into(), Value::Boolean(o.trace));
    t.insert("simulation".into(), Value::Table(sim_t));
    let mut out = Table::new();
    out.insert("plots".into(), Value::String(s.plots.clone()));
    t.insert("output".into(), Value::Table(out));
    let body = toml::to_string(&t).map_err(|e| UserError::new(e.to_string()))?;
    Ok(format!(
        "# Resolved from {} by tessera {}: every value this run used.\n# Re-run with: tessera run scenario.resolved.toml --out DIR\n\n{body}",
        s.file.display(),
        env!("CARGO_PKG_VERSION")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
