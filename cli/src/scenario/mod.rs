//! Scenario files: the schema (hardware, workload, task, simulation options,
//! seed, output), strict reading with every problem named by file, line and
//! field, and resolution into the values a run uses.
//!
//! The schema is documented key by key in `docs/scenarios.md`; a test checks
//! that the page and [`SCHEMA`] agree, so neither can drift.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sim::config::{self, Diagnostics, Node, Pos, Sink, TableReader, Val, ValueReader};
use sim::graph::Graph;
use sim::spec::{HwSpec, NoSkipping};
use sim::{SimOptions, Switching};

use agent::partition::registry::{self, OptionKind, OptionValue};

use crate::error::UserError;
use crate::files::read_text;

/// One documented key of the scenario schema: (table, key, type and unit, meaning).
pub type SchemaKey = (&'static str, &'static str, &'static str, &'static str);

/// Every key a scenario may have. `docs/scenarios.md` documents each one.
pub const SCHEMA: &[SchemaKey] = &[
    (
        "",
        "name",
        "string",
        "scenario name used in reports (default: the file name without extension)",
    ),
    (
        "",
        "seed",
        "integer 0 to 2^63 − 1",
        "seed of every random choice (required; `--seed` replaces it)",
    ),
    (
        "hardware",
        "spec",
        "path",
        "hardware spec file, relative to the scenario (or `inline`)",
    ),
    (
        "hardware",
        "inline",
        "table",
        "a complete hardware spec written in the scenario (as `scenario.resolved.toml` does)",
    ),
    (
        "hardware",
        "overrides",
        "table",
        "spec field path (as in spec error messages, e.g. `\"topology[0].bandwidth_bytes_per_cycle\"`) → new value; the field must exist and keep its type, and the spec is validated again",
    ),
    (
        "workload",
        "model",
        "string",
        "zoo model name (see `tessera models`)",
    ),
    (
        "workload",
        "params",
        "table",
        "zoo model parameters, key → value; for `onnx`: each symbolic dim's value (positive integer), `dtype` (int8, fp16, bf16 or fp32; default the model's float type) `keep_free_ops` (boolean, default false) and `fuse` (boolean, default true)",
    ),
    (
        "workload",
        "graph",
        "path",
        "tessera graph JSON file, relative to the scenario (instead of `model`)",
    ),
    (
        "workload",
        "onnx",
        "path",
        "ONNX model file, relative to the scenario, imported with `params` (instead of `model` or `graph`)",
    ),
    (
        "task",
        "kind",
        "string",
        "what to run: `simulate`, `traffic` or `sweep` (`TASK_KINDS`)",
    ),
    (
        "task",
        "placement",
        "string",
        "simulate: `contiguous` (default), `single`, or a placement JSON file relative to the scenario",
    ),
    (
        "task",
        "pattern",
        "string",
        "traffic: `uniform`, `transpose` or `hotspot`",
    ),
    (
        "task",
        "rate",
        "number in (0, 1]",
        "traffic: packets injected per chiplet per cycle",
    ),
    (
        "task",
        "packet_bytes",
        "integer 1 to 2^30, bytes",
        "traffic: packet size",
    ),
    (
        "task",
        "warmup_cycles",
        "integer 0 to 2^32, cycles",
        "traffic: cycles before measuring",
    ),
    (
        "task",
        "measure_cycles",
        "integer 1 to 2^32, cycles",
        "traffic: cycles during which injected packets are measured",
    ),
    (
        "task",
        "hotspot_chiplet",
        "integer ≥ 0",
        "traffic, hotspot pattern only: the hot chiplet's id",
    ),
    (
        "task",
        "hotspot_fraction",
        "number in [0, 1]",
        "traffic, hotspot pattern only: share of packets sent to it",
    ),
    (
        "task",
        "method",
        "string",
        "partition: one method of the registry (`tessera methods`)",
    ),
    (
        "task",
        "methods",
        "array of strings",
        "partition: several methods, each run with the same budget (instead of `method`)",
    ),
    (
        "task",
        "budget",
        "integer ≥ 1",
        "partition: simulator calls allowed per method",
    ),
    (
        "task",
        "constraints",
        "table",
        "partition: constraint modes replacing the spec's (keys as in the spec's [constraints])",
    ),
    (
        "task",
        "options",
        "table",
        "partition: per-method options, one table per method (`[task.options.sa]`), keys as in docs/partition_methods.md",
    ),
    (
        "task.constraints",
        "acyclic_dataflow",
        "boolean",
        "partition: p(u) ≤ p(v) for every edge",
    ),
    (
        "task.constraints",
        "no_skipping",
        "string",
        "partition: `off`, `edge` or `prefix`",
    ),
    (
        "task.constraints",
        "no_triangle",
        "boolean",
        "partition: no chip triangle i→j, j→k, i→k",
    ),
    (
        "task.constraints",
        "sram_capacity",
        "boolean",
        "partition: weights plus live activations fit each chiplet's SRAM",
    ),
    (
        "task",
        "metric",
        "string",
        "sweep: a numeric result of the `each` task (a column of sweep.csv), plotted against the first axis",
    ),
    (
        "task",
        "each",
        "table",
        "sweep: the task run at each grid point (a `[task]` table of kind simulate or traffic)",
    ),
    (
        "task",
        "axes",
        "array of tables",
        "sweep: the grid, first axis varying slowest",
    ),
    (
        "task.axes",
        "name",
        "string",
        "axis name (a column of sweep.csv)",
    ),
    (
        "task.axes",
        "target",
        "string",
        "what the axis sets: `hardware` (a spec field), `hardware_spec` (the spec file), `workload` (a model parameter), `simulation` (an option) or `task` (a key of `each`)",
    ),
    (
        "task.axes",
        "field",
        "string",
        "the field the axis sets (not for `hardware_spec`)",
    ),
    ("task.axes", "values", "array", "the values, in order"),
    (
        "simulation",
        "microbatches",
        "integer 1 to 4096",
        "micro-batches pushed through the pipeline (required for simulate; traffic does not use it)",
    ),
    (
        "simulation",
        "packet_bytes",
        "integer 1 to 2^30, bytes",
        "largest packet a tensor is split into (required for simulate; traffic uses the task's own)",
    ),
    (
        "simulation",
        "switching",
        "string",
        "`store_and_forward` (default) or `cut_through`; simulate and traffic",
    ),
    (
        "simulation",
        "trace",
        "boolean",
        "simulate: write trace.json, a Perfetto-loadable timeline (default false; not in sweeps)",
    ),
    (
        "output",
        "dir",
        "path",
        "output directory, relative to the scenario (default: out/NAME in the working directory)",
    ),
    (
        "output",
        "plots",
        "string",
        "`svg` (default), `png` or `none`",
    ),
];

/// Task kinds this build runs. Kinds that arrive with later work (`train`,
/// `finetune`, `nas`) are refused with a message that says so.
pub const TASK_KINDS: &[&str] = &["simulate", "traffic", "sweep", "partition"];

/// Most simulator calls one method may be given.
const MAX_BUDGET: u64 = 10_000_000;

/// Limits on numbers a scenario may ask for.
const MAX_MICROBATCHES: u64 = 4096;
const MAX_PACKET_BYTES: u64 = 1 << 30;
const MAX_CYCLES: u64 = 1 << 32;
const MAX_SWEEP_POINTS: usize = 10_000;

/// Where the hardware comes from.
#[derive(Clone, Debug)]
pub enum HardwareSource {
    /// A spec file (absolute path), and its text.
    File(PathBuf),
    /// A spec written inside the scenario.
    Inline(Node),
}

/// The workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Workload {
    Zoo {
        model: String,
        params: BTreeMap<String, String>,
        /// Where the parameters are written (`[workload.params]`, else
        /// `model`): the place a message about their values points to.
        pos: Pos,
    },
    GraphFile(PathBuf),
    /// An ONNX file imported with `params` (symbolic dim values, `dtype`,
    /// `keep_free_ops`, as text; see [`agent::load::onnx`]).
    Onnx {
        path: PathBuf,
        params: BTreeMap<String, String>,
        /// Where `onnx` is written: the place a message about the import
        /// points to.
        pos: Pos,
    },
}

/// How a simulate task places ops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlacementChoice {
    Contiguous,
    Single,
    File(PathBuf),
}

/// Synthetic traffic parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct TrafficTask {
    pub pattern: String,
    pub rate: f64,
    pub packet_bytes: u64,
    pub warmup_cycles: u64,
    pub measure_cycles: u64,
    pub hotspot_chiplet: Option<u64>,
    pub hotspot_fraction: Option<f64>,
}

/// One sweep axis.
#[derive(Clone, Debug)]
pub struct Axis {
    pub name: String,
    pub target: String,
    pub field: Option<String>,
    /// The values as TOML nodes (kept positioned for messages).
    pub values: Vec<Node>,
    pub pos: Pos,
}

/// Partition search: methods, their options, budget, constraint modes.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionTask {
    pub methods: Vec<String>,
    pub budget: u64,
    /// Options given per method (`[task.options.METHOD]`), checked against
    /// the registry when read; options not given take the registry's defaults.
    pub options: BTreeMap<String, Vec<(String, OptionValue)>>,
    /// Constraint modes replacing the spec's, key by key.
    pub constraints: ConstraintOverrides,
}

/// Constraint modes a task sets in place of the spec's; `None` keeps the
/// spec's mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConstraintOverrides {
    pub acyclic_dataflow: Option<bool>,
    pub no_skipping: Option<NoSkipping>,
    pub no_triangle: Option<bool>,
    pub sram_capacity: Option<bool>,
}

impl PartitionTask {
    /// The constraint set: the spec's, with this task's replacements.
    pub fn constraints(&self, spec: &HwSpec) -> sim::constraints::ConstraintSet {
        let mut c = sim::constraints::ConstraintSet::of(spec);
        let o = &self.constraints;
        c.acyclic_dataflow = o.acyclic_dataflow.unwrap_or(c.acyclic_dataflow);
        c.no_skipping = o.no_skipping.unwrap_or(c.no_skipping);
        c.no_triangle = o.no_triangle.unwrap_or(c.no_triangle);
        c.sram_capacity = o.sram_capacity.unwrap_or(c.sram_capacity);
        c
    }
}

/// A sweep: a grid of scenarios, each running `each`.
#[derive(Clone, Debug)]
pub struct SweepTask {
    pub metric: String,
    pub each: Box<Task>,
    pub axes: Vec<Axis>,
}

/// What a scenario runs.
#[derive(Clone, Debug)]
pub enum Task {
    Simulate { placement: PlacementChoice },
    Traffic(TrafficTask),
    Sweep(SweepTask),
    Partition(PartitionTask),
}

impl Task {
    pub fn kind(&self) -> &'static str {
        match self {
            Task::Simulate { .. } => "simulate",
            Task::Traffic(_) => "traffic",
            Task::Sweep(_) => "sweep",
            Task::Partition(_) => "partition",
        }
    }
}

/// A scenario as read (paths made absolute), before the hardware and the
/// workload are built.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub file: PathBuf,
    pub name: String,
    pub seed: u64,
    pub hardware: HardwareSource,
    pub overrides: Vec<(String, Node)>,
    pub workload: Option<Workload>,
    pub task: Task,
    pub simulation: SimOptions,
    pub output_dir: Option<PathBuf>,
    pub plots: String,
}

/// A scenario with its hardware and workload built.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub scenario: Scenario,
    pub spec: HwSpec,
    pub graph: Option<Graph>,
}

/// `a/b/../c` → `a/c`, lexically (no file system access), so that paths
/// printed to users stay readable.
pub fn clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last_is_normal =
                    matches!(out.components().next_back(), Some(Component::Normal(_)));
                if last_is_normal {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn base_dir(file: &Path) -> PathBuf {
    file.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, UserError> {
    let text = read_text(path)?;
    parse(&text, path).map_err(|d| UserError::new(d.to_string()))
}

/// Parses scenario text; `path` locates relative paths and names the file.
pub fn parse(text: &str, path: &Path) -> Result<Scenario, Diagnostics> {
    let file = path.display().to_string();
    let root = config::parse(text, &file)?;
    let sink = Sink::new(&file);
    let scenario = read(&root, path, &sink);
    match scenario {
        Some(s) if !sink.has_errors() => Ok(s),
        _ => Err(sink.into_diagnostics()),
    }
}

fn read(root: &Node, path: &Path, sink: &Sink) -> Option<Scenario> {
    let dir = base_dir(path);
    let top = TableReader::new(root, String::new(), sink);
    let name = match top.opt("name") {
        // The name is the default output directory `out/NAME`: it must stay
        // one directory there.
        Some(r) => r.text().and_then(|n| {
            if n.contains(['/', '\\']) || n == "." || n == ".." {
                r.error(format!(
                    "{n:?} is not usable as a directory name (the default output is out/NAME); \
                     use no `/` or `\\`"
                ));
                None
            } else {
                Some(n.to_string())
            }
        }),
        None => Some(path.file_stem().map_or_else(
            || "scenario".to_string(),
            |s| s.to_string_lossy().into_owned(),
        )),
    };
    let seed = top.req_int("seed", u64::MAX >> 1);
    let hw = read_hardware(&top, &dir);
    let task_table = top.req_table("task");
    let task = task_table.as_ref().and_then(|t| read_task(t, &dir, true));
    // Judged from the kinds as written, not from the task as read, so that a
    // mistake inside a traffic task does not also report its (unneeded)
    // [workload] and [simulation] as missing.
    let simulates = task_simulates(root);
    let needs_workload = simulates == Some(true);
    let workload = if needs_workload {
        match top.req_table("workload") {
            Some(w) => read_workload(&w, &dir).map(Some),
            None => None,
        }
    } else {
        match top.opt_table("workload") {
            Some(w) => read_workload(&w, &dir).map(Some),
            None => Some(None),
        }
    };
    let simulation = match top.opt_table("simulation") {
        Some(s) => read_simulation(&s, needs_workload),
        None if needs_workload => {
            top.missing("simulation");
            None
        }
        None => Some(SimOptions::default()),
    };
    let (output_dir, plots) = match top.opt_table("output") {
        Some(o) => {
            let dir_key = o
                .opt("dir")
                .and_then(|r| r.text().map(|s| clean(&dir.join(s))));
            let plots = match o.opt("plots") {
                Some(r) => r.word(&["svg", "png", "none"]).map(str::to_string),
                None => Some("svg".to_string()),
            };
            o.finish();
            (dir_key, plots)
        }
        None => (None, Some("svg".to_string())),
    };
    top.finish();
    if let (Some(Task::Sweep(sweep)), Some(Some(w))) = (&task, &workload) {
        check_workload_axes(sweep, w, sink);
    }
    if let Some(Task::Sweep(sweep)) = &task {
        check_pattern_axes(sweep, sink);
    }
    let (hardware, overrides) = hw?;
    Some(Scenario {
        file: path.to_path_buf(),
        name: name?,
        seed: seed?,
        hardware,
        overrides,
        workload: workload?,
        task: task?,
        simulation: simulation?,
        output_dir,
        plots: plots?,
    })
}

fn read_hardware(
    top: &TableReader<'_>,
    dir: &Path,
) -> Option<(HardwareSource, Vec<(String, Node)>)> {
    let t = top.req_table("hardware")?;
    let spec = t
        .opt("spec")
        .and_then(|r| r.text().map(|s| clean(&dir.join(s))));
    let inline = t.opt("inline");
    let source = match (spec, inline) {
        (Some(p), None) => {
            if !p.is_file() {
                t.error_at(
                    "spec",
                    format!("hardware spec file {} does not exist", p.display()),
                );
                None
            } else {
                Some(HardwareSource::File(p))
            }
        }
        (None, Some(r)) => r.table().map(|_| HardwareSource::Inline(r.node.clone())),
        (Some(_), Some(_)) => {
            t.error_at("inline", "give either `spec` or `inline`, not both");
            None
        }
        (None, None) => {
            if !t.has("spec") {
                t.missing("spec");
            }
            None
        }
    };
    let mut overrides = Vec::new();
    if let Some(o) = t.opt_table("overrides") {
        o.accept_all();
        for e in o.entries() {
            flatten_override(&e.key, &e.node, &o, &mut overrides);
        }
    }
    t.finish();
    Some((source?, overrides))
}

/// One override per leaf value. A table value is a set of overrides below its
/// key, as TOML means it: `routing.kind = "xy"` (a dotted key) and
/// `routing = { kind = "xy" }` both set only `routing.kind`, never replace the
/// whole `[routing]` table.
fn flatten_override(path: &str, node: &Node, o: &TableReader<'_>, out: &mut Vec<(String, Node)>) {
    flatten(path, node, out, &mut |path, pos| {
        o.sink().error(pos, &o.field(path), EMPTY_OVERRIDE)
    });
}

const EMPTY_OVERRIDE: &str = "an empty table overrides nothing; give field = value";

/// The leaves of an override value; `empty` hears of every empty table.
fn flatten(
    path: &str,
    node: &Node,
    out: &mut Vec<(String, Node)>,
    empty: &mut dyn FnMut(&str, Pos),
) {
    match &node.val {
        Val::Table(entries) if entries.is_empty() => empty(path, node.pos),
        Val::Table(entries) => {
            for e in entries {
                flatten(&config::join(path, &e.key), &e.node, out, empty);
            }
        }
        _ => out.push((path.to_string(), node.clone())),
    }
}

/// Reads `--set FIELD=VALUE` flags as hardware overrides, with the meaning of
/// `[hardware.overrides]` in a scenario: FIELD is a spec field path and VALUE
/// a TOML value (`4096`, `true`, `"xy"`, `{ kind = "xy" }`).
pub fn parse_sets(items: &[String]) -> Result<Vec<(String, Node)>, UserError> {
    let mut out: Vec<(String, Node)> = Vec::new();
    for item in items {
        let bad = |m: String| UserError::new(format!("--set {item}: {m}"));
        let Some((field, text)) = item.split_once('=') else {
            return Err(bad("is not of the form FIELD=VALUE".into()));
        };
        let (field, text) = (field.trim(), text.trim());
        if field.is_empty() || text.is_empty() {
            return Err(bad("needs both a field and a value".into()));
        }
        if canonical_path(field).is_none() {
            return Err(bad(format!("{field:?} is not a field path")));
        }
        let not_toml = || {
            let word = text
                .chars()
                .all(|c| c.is_alphanumeric() || "_-.".contains(c));
            bad(if word {
                format!(
                    "{text} is not a TOML value (a string needs quotes: --set '{field}=\"{text}\"')"
                )
            } else {
                format!("{text:?} is not one TOML value")
            })
        };
        let root = config::parse(&format!("v = {text}"), "--set").map_err(|_| not_toml())?;
        let node = match root.entries() {
            [e] if e.key == "v" => &e.node,
            _ => return Err(not_toml()),
        };
        let mut leaves = Vec::new();
        let mut empty = false;
        flatten(field, node, &mut leaves, &mut |_, _| empty = true);
        if empty {
            return Err(bad(EMPTY_OVERRIDE.into()));
        }
        for (path, value) in leaves {
            if out.iter().any(|(p, _)| *p == path) {
                return Err(bad(format!("{path} is set twice")));
            }
            out.push((path, value));
        }
    }
    Ok(out)
}

fn read_workload(t: &TableReader<'_>, dir: &Path) -> Option<Workload> {
    let model_reader = t.opt("model");
    let model = model_reader
        .as_ref()
        .and_then(|r| r.text().map(str::to_string));
    let graph = t
        .opt("graph")
        .and_then(|r| r.text().map(|s| clean(&dir.join(s))));
    let onnx = t
        .opt("onnx")
        .and_then(|r| r.text().map(|s| clean(&dir.join(s))));
    // The model's name and parameter keys are checked here, where their lines
    // are known; parameter values only when the graph is built.
    let info = model.as_deref().and_then(|m| {
        let info = sim::zoo::models().iter().find(|i| i.name == m);
        if info.is_none() {
            let known: Vec<&str> = sim::zoo::models().iter().map(|i| i.name).collect();
            if let Some(r) = &model_reader {
                r.error(format!(
                    "unknown model {m:?}; known models: {} (see `tessera models`)",
                    known.join(", ")
                ));
            }
        }
        info
    });
    // An ONNX model's symbolic dims, read from the file so that a parameter
    // naming no dim is reported at its line. A file that cannot be read as
    // ONNX is reported here too, before anything runs.
    let mut onnx_ok = true;
    let onnx_dims = match (&onnx, t.has("model") || t.has("graph")) {
        (Some(path), false) if path.is_file() => match agent::load::onnx::symbolic_dims(path) {
            Ok(d) => Some(d),
            Err(e) => {
                t.error_at("onnx", e.message);
                onnx_ok = false;
                None
            }
        },
        _ => None,
    };
    let mut params = BTreeMap::new();
    let mut ok = true;
    let mut params_pos = None;
    if let Some(p) = t.opt_table("params") {
        p.accept_all();
        params_pos = Some(p.pos());
        for e in p.entries() {
            if let Some(info) = info
                && !info.params.iter().any(|x| x.key == e.key)
            {
                let keys: Vec<&str> = info.params.iter().map(|x| x.key).collect();
                p.sink().error(
                    e.key_pos,
                    &p.field(&e.key),
                    format!(
                        "{} has no parameter {:?}; its parameters are: {}",
                        info.name,
                        e.key,
                        keys.join(", ")
                    ),
                );
                ok = false;
            }
            let reader = ValueReader {
                node: &e.node,
                path: p.field(&e.key),
                sink: p.sink(),
            };
            if let Some(path) = &onnx {
                match read_onnx_param(&e.key, &reader, path, onnx_dims.as_ref()) {
                    Some(value) => {
                        params.insert(e.key.clone(), value);
                    }
                    None => ok = false,
                }
                continue;
            }
            let value = match &e.node.val {
                Val::Str(s) => s.clone(),
                Val::Int(i) => i.to_string(),
                Val::Float(f) => f.to_string(),
                Val::Bool(b) => b.to_string(),
                _ => {
                    reader.wrong("a string, number or boolean");
                    ok = false;
                    continue;
                }
            };
            params.insert(e.key.clone(), value);
        }
    }
    let w = match (model, graph, onnx) {
        (Some(model), None, None) => info.map(|_| Workload::Zoo {
            model,
            params,
            pos: params_pos.unwrap_or_else(|| t.pos_of("model")),
        }),
        (None, Some(g), None) => {
            if !params.is_empty() {
                t.error_at(
                    "params",
                    "`params` apply to zoo models and ONNX files, not to graph files",
                );
                None
            } else if !g.is_file() {
                t.error_at(
                    "graph",
                    format!("graph file {} does not exist", g.display()),
                );
                None
            } else {
                Some(Workload::GraphFile(g))
            }
        }
        (None, None, Some(path)) => {
            if !path.is_file() {
                t.error_at(
                    "onnx",
                    format!("ONNX file {} does not exist", path.display()),
                );
                None
            } else {
                onnx_ok.then(|| Workload::Onnx {
                    path,
                    params,
                    pos: t.pos_of("onnx"),
                })
            }
        }
        (Some(_), Some(_), _) => {
            t.error_at("graph", "give either `model` or `graph`, not both");
            None
        }
        (m, g, Some(_)) if m.is_some() || g.is_some() => {
            let other = if m.is_some() { "model" } else { "graph" };
            t.error_at("onnx", format!("give either `{other}` or `onnx`, not both"));
            None
        }
        _ => {
            if !t.has("model") && !t.has("graph") && !t.has("onnx") {
                t.missing("model");
            }
            None
        }
    };
    t.finish();
    if ok { w } else { None }
}

/// One `[workload.params]` entry of an ONNX workload, as text: `dtype` a
/// dtype name, `keep_free_ops` and `fuse` booleans, any other key one of the model's
/// symbolic dims (when they could be read) with a positive integer.
fn read_onnx_param(
    key: &str,
    r: &ValueReader<'_>,
    path: &Path,
    dims: Option<&BTreeMap<String, Vec<String>>>,
) -> Option<String> {
    match key {
        "dtype" => {
            let names: Vec<&str> = sim::graph::DType::ALL.iter().map(|d| d.name()).collect();
            r.word(&names).map(str::to_string)
        }
        "keep_free_ops" | "fuse" => r.bool().map(|b| b.to_string()),
        _ => {
            let file = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            if let Some(m) =
                dims.and_then(|d| agent::load::onnx::unknown_key_message(&file, key, d))
            {
                r.error(m);
                return None;
            }
            r.int_in(1, agent::load::onnx::MAX_DIM)
                .map(|v| v.to_string())
        }
    }
}

/// A workload axis sets a parameter of a zoo model or an ONNX workload: the
/// model must have that parameter (an ONNX model: a symbolic dim, `dtype`,
/// `keep_free_ops` or `fuse`). (Its values are checked when each grid point's graph is
/// built.)
fn check_workload_axes(sweep: &SweepTask, w: &Workload, sink: &Sink) {
    for (i, axis) in sweep.axes.iter().enumerate() {
        if axis.target != "workload" {
            continue;
        }
        let field = axis.field.as_deref().unwrap_or_default();
        let path = format!("task.axes[{i}].field");
        match w {
            Workload::GraphFile(_) => sink.error(
                axis.pos,
                &path,
                "a workload axis sets a zoo model or ONNX parameter, but the workload is a graph file",
            ),
            Workload::Onnx { path: file, .. } => {
                // The file was read when the workload was (or its error reported).
                let Ok(dims) = agent::load::onnx::symbolic_dims(file) else {
                    continue;
                };
                let name = file
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                if let Some(m) = agent::load::onnx::unknown_key_message(&name, field, &dims) {
                    sink.error(axis.pos, &path, format!("nothing to sweep: {m}"));
                }
            }
            Workload::Zoo { model, .. } => {
                let Some(info) = sim::zoo::models().iter().find(|m| m.name == model) else {
                    continue;
                };
                if !info.params.iter().any(|p| p.key == field) {
                    let keys: Vec<&str> = info.params.iter().map(|p| p.key).collect();
                    sink.error(
                        axis.pos,
                        &path,
                        format!(
                            "{model} has no parameter {field:?} to sweep; its parameters are: {}",
                            keys.join(", ")
                        ),
                    );
                }
            }
        }
    }
}

/// A traffic pattern axis names patterns the `each` task can run: `hotspot`
/// needs `hotspot_chiplet` and `hotspot_fraction`, which only a hotspot
/// `[task.each]` has. (Other task and simulation axis values are checked
/// when the grid is built.)
fn check_pattern_axes(sweep: &SweepTask, sink: &Sink) {
    let Task::Traffic(each) = sweep.each.as_ref() else {
        return;
    };
    let mut allowed = vec!["uniform", "transpose"];
    if each.pattern == "hotspot" {
        allowed.push("hotspot");
    }
    for (i, axis) in sweep.axes.iter().enumerate() {
        if axis.target != "task" || axis.field.as_deref() != Some("pattern") {
            continue;
        }
        for (j, v) in axis.values.iter().enumerate() {
            let path = format!("task.axes[{i}].values[{j}]");
            match &v.val {
                Val::Str(p) if allowed.contains(&p.as_str()) => {}
                Val::Str(p) if p == "hotspot" => sink.error(
                    v.pos,
                    &path,
                    "a pattern axis reaches hotspot only from a hotspot [task.each] \
                     (it needs hotspot_chiplet and hotspot_fraction)",
                ),
                other => sink.error(
                    v.pos,
                    &path,
                    format!(
                        "expected a traffic pattern ({}), found {}",
                        allowed.join(", "),
                        other.describe()
                    ),
                ),
            }
        }
    }
}

/// Whether the task runs a workload through the simulator (every kind but
/// traffic, and a sweep of such a kind), judged from the kinds as written;
/// `None` when a kind is missing or unknown (reported elsewhere).
fn task_simulates(root: &Node) -> Option<bool> {
    let kind = |n: &Node| match &n.get("kind")?.val {
        Val::Str(s) => Some(s.clone()),
        _ => None,
    };
    let task = root.get("task")?;
    // Every kind but traffic runs a workload through the simulator.
    let each_simulates = |each: &Node| match kind(each)?.as_str() {
        "traffic" => Some(false),
        "sweep" => None,
        k if TASK_KINDS.contains(&k) => Some(true),
        _ => None,
    };
    match kind(task)?.as_str() {
        "sweep" => each_simulates(task.get("each")?),
        _ => each_simulates(task),
    }
}

/// `[simulation]`. A traffic task uses only `switching`; `microbatches` and
/// `packet_bytes` are then optional (a resolved scenario writes them for every
/// task, and it must read back).
fn read_simulation(t: &TableReader<'_>, simulates: bool) -> Option<SimOptions> {
    let defaults = SimOptions::default();
    let (microbatches, packet_bytes) = if simulates {
        (
            t.req_positive_int("microbatches", MAX_MICROBATCHES),
            t.req_positive_int("packet_bytes", MAX_PACKET_BYTES),
        )
    } else {
        (
            t.opt("microbatches")
                .map_or(Some(u64::from(defaults.microbatches)), |r| {
                    r.int_in(1, MAX_MICROBATCHES)
                }),
            t.opt("packet_bytes")
                .map_or(Some(defaults.packet_bytes), |r| {
                    r.int_in(1, MAX_PACKET_BYTES)
                }),
        )
    };
    let switching = match t.opt("switching") {
        Some(r) => r
            .word(&["store_and_forward", "cut_through"])
            .map(|w| match w {
                "cut_through" => Switching::CutThrough,
                _ => Switching::StoreAndForward,
            }),
        None => Some(Switching::StoreAndForward),
    };
    let trace = match t.opt("trace") {
        Some(r) => r.bool(),
        None => Some(false),
    };
    t.finish();
    Some(SimOptions {
        microbatches: microbatches? as u32,
        packet_bytes: packet_bytes?,
        switching: switching?,
        trace: trace?,
    })
}

/// Reads a `[task]` table. Sweeps may not nest (`allow_sweep` is false inside one).
fn read_task(t: &TableReader<'_>, dir: &Path, allow_sweep: bool) -> Option<Task> {
    let kinds: Vec<&str> = if allow_sweep {
        TASK_KINDS.to_vec()
    } else {
        TASK_KINDS
            .iter()
            .copied()
            // A sweep point runs one simulation or one traffic run.
            .filter(|k| matches!(*k, "simulate" | "traffic"))
            .collect()
    };
    let kind_reader = t.req("kind")?;
    let kind = kind_reader.str()?;
    if !allow_sweep && TASK_KINDS.contains(&kind) && !kinds.contains(&kind) {
        // A known kind in the wrong place: say why, not "unknown".
        let why = if kind == "sweep" {
            "sweeps do not nest; give the outer sweep one [[task.axes]] per dimension instead"
                .to_string()
        } else {
            format!("a {kind} task cannot run at sweep points")
        };
        kind_reader.error(format!(
            "{why}: [task.each] is run at every grid point and must be one of: {}",
            kinds.join(", ")
        ));
        return None;
    }
    if !kinds.contains(&kind) {
        let later = ["train", "finetune", "nas"];
        let extra = if later.contains(&kind) {
            format!(" ({kind:?} arrives with its own issue and is not in this build)")
        } else {
            String::new()
        };
        kind_reader.error(format!(
            "unknown task kind {kind:?}; known kinds: {}{extra}",
            kinds.join(", ")
        ));
        return None;
    }
    let task = match kind {
        "simulate" => {
            let placement = match t.opt("placement") {
                None => Some(PlacementChoice::Contiguous),
                Some(r) => r.text().and_then(|p| match p {
                    "contiguous" => Some(PlacementChoice::Contiguous),
                    "single" => Some(PlacementChoice::Single),
                    file => {
                        let path = clean(&dir.join(file));
                        if path.is_file() {
                            Some(PlacementChoice::File(path))
                        } else {
                            r.error(format!(
                                "placement is not `contiguous`, `single` or an existing file ({} does not exist)",
                                path.display()
                            ));
                            None
                        }
                    }
                }),
            };
            placement.map(|placement| Task::Simulate { placement })
        }
        "traffic" => read_traffic(t).map(Task::Traffic),
        "partition" => read_partition(t).map(Task::Partition),
        _ => read_sweep(t, dir).map(Task::Sweep),
    };
    t.finish();
    task
}

fn read_partition(t: &TableReader<'_>) -> Option<PartitionTask> {
    let check_method =
        |r: &ValueReader<'_>| -> Option<String> { r.word(&registry::names()).map(str::to_string) };
    let methods = match (t.opt("method"), t.opt("methods")) {
        (Some(r), None) => check_method(&r).map(|m| vec![m]),
        (None, Some(r)) => {
            let items = r.array()?;
            if items.is_empty() {
                r.error("list at least one method");
                return None;
            }
            let mut out = Vec::new();
            for (path, node) in items {
                let v = ValueReader {
                    node,
                    path,
                    sink: r.sink,
                };
                let m = check_method(&v)?;
                if out.contains(&m) {
                    v.error(format!("method {m:?} is listed twice"));
                    return None;
                }
                out.push(m);
            }
            Some(out)
        }
        (Some(_), Some(_)) => {
            t.error_at("methods", "give either `method` or `methods`, not both");
            None
        }
        (None, None) => {
            t.missing("method");
            None
        }
    };
    let budget = t.req_positive_int("budget", MAX_BUDGET);
    let mut constraints = ConstraintOverrides::default();
    if let Some(c) = t.opt_table("constraints") {
        constraints.acyclic_dataflow = c.opt("acyclic_dataflow").and_then(|r| r.bool());
        constraints.no_skipping = c
            .opt("no_skipping")
            .and_then(|r| r.word(&["off", "edge", "prefix"]))
            .map(|w| match w {
                "edge" => NoSkipping::Edge,
                "prefix" => NoSkipping::Prefix,
                _ => NoSkipping::Off,
            });
        constraints.no_triangle = c.opt("no_triangle").and_then(|r| r.bool());
        constraints.sram_capacity = c.opt("sram_capacity").and_then(|r| r.bool());
        c.finish();
    }
    let options = match t.opt_table("options") {
        Some(o) => read_method_options(&o, methods.as_deref().unwrap_or(&[])),
        None => Some(BTreeMap::new()),
    };
    Some(PartitionTask {
        methods: methods?,
        budget: budget?,
        options: options?,
        constraints,
    })
}

/// `[task.options]`: one table per method (each a method the task runs),
/// each key an option of that method in the registry, with its type and
/// domain checked where it is written.
fn read_method_options(
    t: &TableReader<'_>,
    methods: &[String],
) -> Option<BTreeMap<String, Vec<(String, OptionValue)>>> {
    let mut out = BTreeMap::new();
    let mut ok = true;
    for info in registry::METHODS {
        let Some(m) = t.opt_table(info.name) else {
            continue;
        };
        if !methods.iter().any(|x| x == info.name) {
            t.error_at(
                info.name,
                format!(
                    "options for method {:?}, which the task does not run",
                    info.name
                ),
            );
            ok = false;
        }
        let mut given = Vec::new();
        for spec in info.options {
            let Some(r) = m.opt(spec.name) else {
                continue;
            };
            let value = match spec.kind {
                OptionKind::Int { min, max } => r.int_in(min, max).map(OptionValue::Int),
                OptionKind::Float {
                    min,
                    max,
                    strict_min,
                } => r.number(min, strict_min, max).map(OptionValue::Float),
                OptionKind::Bool => r.bool().map(OptionValue::Bool),
            };
            match value {
                Some(v) => given.push((spec.name.to_string(), v)),
                None => ok = false,
            }
        }
        m.finish();
        out.insert(info.name.to_string(), given);
    }
    t.finish();
    ok.then_some(out)
}

fn read_traffic(t: &TableReader<'_>) -> Option<TrafficTask> {
    let pattern = t.req_word("pattern", &["uniform", "transpose", "hotspot"]);
    let rate = t.req("rate").and_then(|r| {
        let v = r.number(0.0, true, 1.0)?;
        Some(v)
    });
    let packet_bytes = t.req_positive_int("packet_bytes", MAX_PACKET_BYTES);
    let warmup = t.req_int("warmup_cycles", MAX_CYCLES);
    let measure = t.req_positive_int("measure_cycles", MAX_CYCLES);
    let (hot_chip, hot_fraction) = if pattern.as_deref() == Some("hotspot") {
        (
            t.req_int("hotspot_chiplet", u32::MAX as u64).map(Some),
            t.req("hotspot_fraction")
                .and_then(|r| r.number(0.0, false, 1.0))
                .map(Some),
        )
    } else {
        // Said plainly rather than as an unknown key: these keys exist, but
        // only a hotspot pattern has a hot chiplet.
        for key in ["hotspot_chiplet", "hotspot_fraction"] {
            if t.has(key) && pattern.is_some() {
                t.error_at(
                    key,
                    "only the hotspot pattern has a hot chiplet; remove this key or set pattern = \"hotspot\"",
                );
            }
        }
        (Some(None), Some(None))
    };
    Some(TrafficTask {
        pattern: pattern?,
        rate: rate?,
        packet_bytes: packet_bytes?,
        warmup_cycles: warmup?,
        measure_cycles: measure?,
        hotspot_chiplet: hot_chip?,
        hotspot_fraction: hot_fraction?,
    })
}

fn read_sweep(t: &TableReader<'_>, dir: &Path) -> Option<SweepTask> {
    let metric = t.req_text("metric");
    let each = t.req_table("each").and_then(|e| read_task(&e, dir, false));
    let mut axes = Vec::new();
    let mut ok = true;
    let arr = t.table_array("axes");
    if arr.tables.is_empty() && arr.well_formed {
        t.error_at("axes", "a sweep needs at least one [[task.axes]] entry");
        ok = false;
    }
    let mut points: usize = 1;
    for a in &arr.tables {
        let name = a.req_text("name");
        let target = a.req_word(
            "target",
            &[
                "hardware",
                "hardware_spec",
                "workload",
                "simulation",
                "task",
            ],
        );
        let field = if target.as_deref() == Some("hardware_spec") {
            if a.has("field") {
                a.error_at(
                    "field",
                    "a hardware_spec axis replaces the whole spec file (its values are paths) and has no field",
                );
            }
            None
        } else {
            a.req_text("field")
        };
        let values = a.req("values").and_then(|r| {
            let items = r.array()?;
            if items.is_empty() {
                r.error("an axis needs at least one value");
                return None;
            }
            Some(
                items
                    .into_iter()
                    .map(|(_, n)| n.clone())
                    .collect::<Vec<_>>(),
            )
        });
        a.finish();
        if let Some(n) = &name
            && axes.iter().any(|x: &Axis| x.name == *n)
        {
            a.error_at(
                "name",
                format!("two axes are named {n:?}; each axis names its own column of sweep.csv"),
            );
            ok = false;
        }
        match (name, target, values) {
            (Some(name), Some(target), Some(values))
                if target == "hardware_spec" || field.is_some() =>
            {
                points = points.saturating_mul(values.len());
                axes.push(Axis {
                    name,
                    target,
                    field,
                    values,
                    pos: a.pos(),
                });
            }
            _ => ok = false,
        }
    }
    if !arr.well_formed {
        ok = false;
    }
    if points > MAX_SWEEP_POINTS {
        t.error_at(
            "axes",
            format!("the grid has {points} points; at most {MAX_SWEEP_POINTS} are allowed"),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(SweepTask {
        metric: metric?,
        each: Box::new(each?),
        axes,
    })
}

/// Splits a field path such as `topology[0].bandwidth_bytes_per_cycle` into
/// keys and indices.
fn path_segments(path: &str) -> Option<Vec<Result<String, usize>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() && out.is_empty() {
            return None;
        }
        if !key.is_empty() {
            out.push(Ok(key.to_string()));
        }
        let mut rest = rest;
        while let Some(stripped) = rest.strip_prefix('[') {
            let end = stripped.find(']')?;
            out.push(Err(stripped[..end].parse().ok()?));
            rest = &stripped[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Replaces the value at `path` in a spec tree with `value`. The field must
/// exist and the new value must have the same type (integers and floats are
/// both numbers).
pub fn apply_override(root: &mut Node, path: &str, value: &Node) -> Result<(), String> {
    let segments = path_segments(path).ok_or_else(|| format!("{path:?} is not a field path"))?;
    let mut node = root;
    let mut walked = String::new();
    for seg in segments {
        node = match seg {
            Ok(key) => {
                walked = config::join(&walked, &key);
                node.get_mut(&key)
                    .ok_or_else(|| format!("the spec has no field {walked}"))?
            }
            Err(i) => {
                walked = format!("{walked}[{i}]");
                match &mut node.val {
                    Val::Array(items) => {
                        let n = items.len();
                        items
                            .get_mut(i)
                            .ok_or_else(|| format!("the spec has no {walked} ({n} entries)"))?
                    }
                    _ => return Err(format!("the spec's {walked} is not an array")),
                }
            }
        };
    }
    let numeric = |v: &Val| matches!(v, Val::Int(_) | Val::Float(_));
    let same = std::mem::discriminant(&node.val) == std::mem::discriminant(&value.val)
        || (numeric(&node.val) && numeric(&value.val));
    if !same {
        return Err(format!(
            "{path} is {} in the spec, the override is {}",
            node.val.type_name(),
            value.val.type_name()
        ));
    }
    node.val = value.val.clone();
    Ok(())
}

/// Builds the hardware spec: reads the file (or takes the inline table),
/// applies overrides, validates.
pub fn resolve_spec(s: &Scenario) -> Result<HwSpec, UserError> {
    let scenario_file = s.file.display().to_string();
    let (mut root, name) = match &s.hardware {
        HardwareSource::File(p) => {
            let text = read_text(p)?;
            let name = p.display().to_string();
            (
                config::parse(&text, &name).map_err(|d| UserError::new(d.to_string()))?,
                name,
            )
        }
        HardwareSource::Inline(node) => {
            (node.clone(), format!("{scenario_file} [hardware.inline]"))
        }
    };
    let from_flags = s.file == Path::new(COMMAND_LINE);
    // Where an override came from, as messages name it.
    let origin = |path: &str, value: &Node| {
        if from_flags {
            match value.val {
                Val::Array(_) | Val::Table(_) => format!("--set {path}"),
                _ => format!("--set {path}={}", value.val.show()),
            }
        } else {
            format!(
                "{scenario_file}:{}:{}: hardware.overrides.{path}",
                value.pos.line, value.pos.column
            )
        }
    };
    let mut problems = Vec::new();
    for (path, value) in &s.overrides {
        if let Err(e) = apply_override(&mut root, path, value) {
            problems.push(format!("{}: {e}", origin(path, value)));
        }
    }
    if !problems.is_empty() {
        return Err(UserError::new(problems.join("\n")));
    }
    let label = if s.overrides.is_empty() {
        name
    } else if from_flags {
        format!("{name} (with --set overrides)")
    } else {
        format!("{name} (with overrides from {scenario_file})")
    };
    HwSpec::from_node(&root, &label).map_err(|d| {
        // A problem with an overridden value is the scenario's: point there.
        let lines: Vec<String> =
            d.0.iter()
                .map(|diag| {
                    let from_override = s.overrides.iter().find(|(path, _)| {
                        canonical_path(path).as_deref() == Some(diag.field.as_str())
                    });
                    match from_override {
                        Some((path, value)) => {
                            format!("{}: {}", origin(path, value), diag.message)
                        }
                        None => diag.to_string(),
                    }
                })
                .collect();
        UserError::new(lines.join("\n"))
    })
}

/// A field path as spec messages write it (`a.b[0].c`), or `None` if it is
/// not a field path.
fn canonical_path(path: &str) -> Option<String> {
    let mut out = String::new();
    for seg in path_segments(path)? {
        match seg {
            Ok(key) => out = config::join(&out, &key),
            Err(i) => out.push_str(&format!("[{i}]")),
        }
    }
    Some(out)
}

/// Builds the workload graph, if the scenario has one.
pub fn resolve_graph(s: &Scenario) -> Result<Option<Graph>, UserError> {
    match &s.workload {
        None => Ok(None),
        Some(Workload::Zoo { model, params, pos }) => {
            let workload = agent::load::Workload::Zoo {
                model: model.clone(),
                params: params.clone(),
            };
            workload.load().map(Some).map_err(|e| {
                let field = if params.is_empty() {
                    "workload.model"
                } else {
                    "workload.params"
                };
                UserError::new(format!(
                    "{}:{}:{}: {field}: {e}",
                    s.file.display(),
                    pos.line,
                    pos.column
                ))
            })
        }
        Some(Workload::GraphFile(p)) => Ok(Some(agent::load::load_graph_json(p)?)),
        Some(Workload::Onnx { path, params, pos }) => {
            let from_flags = s.file == Path::new(COMMAND_LINE);
            let workload = agent::load::Workload::Onnx {
                path: path.clone(),
                params: params.clone(),
                source: if from_flags {
                    agent::load::onnx::Source::Flags
                } else {
                    agent::load::onnx::Source::Scenario
                },
            };
            if from_flags {
                return crate::inspect::load_workload_flags(&workload).map(Some);
            }
            workload.load().map(Some).map_err(|e| match e {
                agent::LoadError::Onnx(e) => {
                    let field = match &e.key {
                        Some(k) => format!("workload.params.{k}"),
                        None => "workload.onnx".to_string(),
                    };
                    UserError::new(format!(
                        "{}:{}:{}: {field}: {}",
                        s.file.display(),
                        pos.line,
                        pos.column,
                        e.message
                    ))
                }
                other => other.into(),
            })
        }
    }
}

/// Builds everything a run needs, or the first user error.
pub fn resolve(s: &Scenario) -> Result<Resolved, UserError> {
    let spec = resolve_spec(s)?;
    let graph = resolve_graph(s)?;
    Ok(Resolved {
        scenario: s.clone(),
        spec,
        graph,
    })
}

/// The spec of `--hw FILE` with `--set` overrides applied and validated, as
/// a scenario's `[hardware.overrides]` are.
pub fn spec_from_flags(hw: &Path, overrides: Vec<(String, Node)>) -> Result<HwSpec, UserError> {
    resolve_spec(&Scenario {
        file: PathBuf::from(COMMAND_LINE),
        name: "simulate".to_string(),
        seed: 0,
        hardware: HardwareSource::File(hw.to_path_buf()),
        overrides,
        workload: None,
        task: Task::Simulate {
            placement: PlacementChoice::Contiguous,
        },
        simulation: SimOptions::default(),
        output_dir: None,
        plots: "none".to_string(),
    })
}

/// The file name of a scenario built from command-line flags.
const COMMAND_LINE: &str = "<command line>";

/// The flags of `tessera partition`.
#[derive(Clone, Debug)]
pub struct PartitionFlags {
    pub hw: PathBuf,
    pub model: String,
    pub params: BTreeMap<String, String>,
    pub methods: Vec<String>,
    pub budget: u64,
    pub seed: u64,
    pub microbatches: u32,
    /// Hardware overrides from `--set` (see [`parse_sets`]).
    pub overrides: Vec<(String, Node)>,
}

/// A partition scenario built from command-line flags, checked like a file.
pub fn from_flags(f: PartitionFlags) -> Result<Scenario, UserError> {
    for m in &f.methods {
        registry::lookup(m).map_err(|e| UserError::new(format!("--method: {e}")))?;
    }
    if f.budget == 0 || f.budget > MAX_BUDGET {
        return Err(UserError::new(format!(
            "--budget: must be 1 to {MAX_BUDGET}, found {}",
            f.budget
        )));
    }
    if f.microbatches == 0 || u64::from(f.microbatches) > MAX_MICROBATCHES {
        return Err(UserError::new(format!(
            "--microbatches: must be 1 to {MAX_MICROBATCHES}, found {}",
            f.microbatches
        )));
    }
    if !f.hw.is_file() {
        return Err(UserError::new(format!(
            "--hw: {}: no such file",
            f.hw.display()
        )));
    }
    let workload = if agent::load::onnx::is_onnx(&f.model) {
        Workload::Onnx {
            path: PathBuf::from(&f.model),
            params: f.params,
            pos: Pos { line: 0, column: 0 },
        }
    } else if f.model.ends_with(".json") || Path::new(&f.model).is_file() {
        if !f.params.is_empty() {
            return Err(UserError::new(
                "--params apply to zoo models and ONNX files, not to graph JSON files",
            ));
        }
        Workload::GraphFile(PathBuf::from(&f.model))
    } else {
        Workload::Zoo {
            model: f.model.clone(),
            params: f.params,
            pos: Pos { line: 0, column: 0 },
        }
    };
    Ok(Scenario {
        file: PathBuf::from(COMMAND_LINE),
        name: "partition".to_string(),
        seed: f.seed,
        hardware: HardwareSource::File(f.hw),
        overrides: f.overrides,
        workload: Some(workload),
        task: Task::Partition(PartitionTask {
            methods: f.methods,
            budget: f.budget,
            options: BTreeMap::new(),
            constraints: ConstraintOverrides::default(),
        }),
        simulation: SimOptions {
            microbatches: f.microbatches,
            ..SimOptions::default()
        },
        output_dir: None,
        plots: "svg".to_string(),
    })
}
