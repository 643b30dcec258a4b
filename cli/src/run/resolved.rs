//! `scenario.resolved.toml`: every value a run used, written as a scenario
//! (hardware inline with overrides applied, paths absolute, the task's
//! defaults and constraint modes spelled out), so the run can be repeated
//! from its output directory alone. A train task's problems keep their spec
//! files, by absolute path (a corpus of inline specs would be unreadable),
//! with every model parameter written. A nas task writes its hardware
//! inline when it has one, and its network and data files by absolute path.

use std::path::{Path, PathBuf};

use sim::config::{Node, Val};
use sim::graph::Graph;
use sim::spec_write::spec_to_toml;
use sim::{SteadyState, Switching};
use toml::{Table, Value};

use agent::partition::registry::OptionValue;

use crate::error::UserError;
use crate::scenario::{
    DataChoice, NasTask, PartitionTask, PlacementChoice, ProblemEntry, Resolved, Scenario,
    SeedNetwork, SweepTask, Task, TrafficTask, TrainTask, Workload,
};

/// The text of `scenario.resolved.toml` for a run writing into `out_dir`.
pub(super) fn resolved_toml(r: &Resolved, out_dir: &Path) -> Result<String, UserError> {
    let s = &r.scenario;
    let mut t = Table::new();
    t.insert("name".into(), Value::String(s.name.clone()));
    t.insert("seed".into(), Value::Integer(s.seed as i64));
    let mut hw = Table::new();
    hw.insert("inline".into(), Value::Table(spec_to_toml(&r.spec)));
    t.insert("hardware".into(), Value::Table(hw));
    if let Some(g) = &r.graph {
        t.insert(
            "workload".into(),
            Value::Table(workload_toml(s.workload.as_ref(), g, out_dir)),
        );
    }
    let mut task = task_toml(&s.task, s);
    if let Task::Partition(p) = &s.task {
        task.insert("constraints".into(), Value::Table(constraints_toml(r, p)));
    }
    t.insert("task".into(), Value::Table(task));
    document(s, t)
}

/// `scenario.resolved.toml` of a train task: `corpus` and `holdout` are
/// its problems' graphs, in order (for their complete parameters).
pub(super) fn train_resolved_toml(
    s: &Scenario,
    task: &TrainTask,
    corpus: &[&Graph],
    holdout: &[&Graph],
) -> Result<String, UserError> {
    let mut t = Table::new();
    t.insert("name".into(), Value::String(s.name.clone()));
    t.insert("seed".into(), Value::Integer(s.seed as i64));
    let mut tt = task_toml(&s.task, s);
    for (key, entries, graphs) in [
        ("corpus", &task.corpus, corpus),
        ("holdout", &task.holdout, holdout),
    ] {
        let problems: Vec<Value> = entries
            .iter()
            .zip(graphs)
            .map(|(e, g)| Value::Table(problem_toml(e, g)))
            .collect();
        if !problems.is_empty() {
            tt.insert(key.into(), Value::Array(problems));
        }
    }
    t.insert("task".into(), Value::Table(tt));
    document(s, t)
}

/// One `[[task.corpus]]` or `[[task.holdout]]` entry: the spec file and
/// the workload by absolute path, a model with every parameter.
fn problem_toml(e: &ProblemEntry, g: &Graph) -> Table {
    let mut t = Table::new();
    t.insert(
        "spec".into(),
        Value::String(absolute(&e.spec).display().to_string()),
    );
    match &e.workload {
        Workload::GraphFile(p) => {
            t.insert(
                "graph".into(),
                Value::String(absolute(p).display().to_string()),
            );
        }
        w => t.extend(workload_toml(Some(w), g, Path::new("."))),
    }
    t
}

/// The whole file: `t` (name, seed, hardware, workload, task) with the
/// simulation and output tables, under a header saying where it came from.
fn document(s: &Scenario, mut t: Table) -> Result<String, UserError> {
    t.insert("simulation".into(), Value::Table(simulation_toml(s)));
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

/// `[workload]`: a zoo model with every parameter (defaults included), an
/// ONNX file with its import parameters, or else the graph the run wrote
/// beside the report.
fn workload_toml(workload: Option<&Workload>, g: &Graph, out_dir: &Path) -> Table {
    let mut w = Table::new();
    match workload {
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
            // scenario works from any directory.
            w.insert(
                "onnx".into(),
                Value::String(absolute(path).display().to_string()),
            );
            w.insert("params".into(), Value::Table(onnx_params_toml(g, params)));
        }
        _ => {
            w.insert(
                "graph".into(),
                Value::String(absolute(&out_dir.join("graph.json")).display().to_string()),
            );
        }
    }
    w
}

/// An ONNX workload's parameters, typed as a scenario writes them: each
/// symbolic dim's integer, and the dtype, keep_free_ops and fuse the import
/// used (given or not).
fn onnx_params_toml(g: &Graph, params: &std::collections::BTreeMap<String, String>) -> Table {
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
    p
}

/// `[task.constraints]`: the constraint modes the run used, the spec's with
/// the task's replacements.
fn constraints_toml(r: &Resolved, p: &PartitionTask) -> Table {
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
    ct
}

/// `[simulation]`, written for every task (a traffic task reads it back too).
fn simulation_toml(s: &Scenario) -> Table {
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
    sim_t.insert(
        "steady_state".into(),
        Value::String(
            match o.steady_state {
                SteadyState::Converge { .. } => "converge",
                SteadyState::Fixed => "fixed",
            }
            .into(),
        ),
    );
    sim_t.insert("trace".into(), Value::Boolean(o.trace));
    sim_t
}

/// A `[task]` table (also a sweep's `[task.each]`).
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
        Task::Traffic(x) => traffic_toml(x, &mut t),
        Task::Partition(p) => partition_toml(p, &mut t),
        Task::Sweep(sw) => sweep_toml(sw, s, &mut t),
        Task::Train(x) => train_toml(x, &mut t),
        Task::Nas(x) => nas_toml(x, &mut t),
    }
    t
}

/// `scenario.resolved.toml` of a nas task: the hardware inline when the
/// candidates are scored on one (`spec`), every setting spelled out.
pub(super) fn nas_resolved_toml(
    s: &Scenario,
    _task: &NasTask,
    spec: Option<&sim::spec::HwSpec>,
) -> Result<String, UserError> {
    let mut t = Table::new();
    t.insert("name".into(), Value::String(s.name.clone()));
    t.insert("seed".into(), Value::Integer(s.seed as i64));
    if let Some(spec) = spec {
        let mut hw = Table::new();
        hw.insert("inline".into(), Value::Table(spec_to_toml(spec)));
        t.insert("hardware".into(), Value::Table(hw));
    }
    t.insert("task".into(), Value::Table(task_toml(&s.task, s)));
    document(s, t)
}

/// A nas task's settings, defaults spelled out, paths absolute.
fn nas_toml(x: &NasTask, t: &mut Table) {
    let int = |v: u64| Value::Integer(v as i64);
    t.insert("trials".into(), int(x.trials));
    t.insert("population".into(), int(x.population));
    t.insert("generation_size".into(), int(x.generation_size));
    t.insert(
        "objective".into(),
        Value::String(x.objective.name().to_string()),
    );
    let guidance = match x.guidance {
        nas::mutate::Guidance::Guided => "guided",
        nas::mutate::Guidance::Unguided => "unguided",
    };
    t.insert("guidance".into(), Value::String(guidance.to_string()));
    if let Some(f) = &x.frozen_blocks {
        let blocks = f.iter().cloned().map(Value::String).collect();
        t.insert("frozen_blocks".into(), Value::Array(blocks));
    }
    t.insert("synth_max_steps".into(), int(x.synth_max_steps));
    let mut network = Table::new();
    match &x.network {
        SeedNetwork::Named {
            name,
            width,
            blocks,
        } => {
            network.insert("name".into(), Value::String(name.clone()));
            network.insert("width".into(), int(*width));
            if name == "resnet" {
                network.insert("blocks".into(), int(*blocks));
            }
        }
        SeedNetwork::File(p) => {
            network.insert(
                "file".into(),
                Value::String(absolute(p).display().to_string()),
            );
        }
    }
    t.insert("network".into(), Value::Table(network));
    let mut data = Table::new();
    match &x.data {
        DataChoice::Digits => {
            data.insert("set".into(), Value::String("digits".into()));
        }
        DataChoice::FashionMnist {
            dir,
            train_limit,
            test_limit,
        } => {
            data.insert("set".into(), Value::String("fashion_mnist".into()));
            data.insert(
                "dir".into(),
                Value::String(absolute(dir).display().to_string()),
            );
            if let Some(n) = train_limit {
                data.insert("train_limit".into(), int(*n));
            }
            if let Some(n) = test_limit {
                data.insert("test_limit".into(), int(*n));
            }
        }
    }
    t.insert("data".into(), Value::Table(data));
    let mut training = Table::new();
    training.insert("epochs".into(), int(x.epochs));
    training.insert("batch_size".into(), int(x.batch_size));
    training.insert("learning_rate".into(), Value::Float(x.learning_rate));
    t.insert("training".into(), Value::Table(training));
    let mut scoring = Table::new();
    scoring.insert("method".into(), Value::String(x.scoring.method.clone()));
    scoring.insert("budget".into(), int(x.scoring.budget));
    scoring.insert("batch".into(), int(x.scoring.batch));
    scoring.insert(
        "dtype".into(),
        Value::String(x.scoring.dtype.name().to_string()),
    );
    let options = options_toml(&x.scoring.options);
    if !options.is_empty() {
        scoring.insert("options".into(), Value::Table(options));
    }
    t.insert("scoring".into(), Value::Table(scoring));
}

/// A train task's settings, defaults spelled out (its problems are added
/// by [`train_resolved_toml`]).
fn train_toml(x: &TrainTask, t: &mut Table) {
    let int = |v: u64| Value::Integer(v as i64);
    t.insert("batches".into(), int(x.batches));
    t.insert("episodes_per_batch".into(), int(x.episodes_per_batch));
    t.insert("learning_rate".into(), Value::Float(x.learning_rate));
    t.insert("entropy_coef".into(), Value::Float(x.entropy_coef));
    t.insert("checkpoint_every".into(), int(x.checkpoint_every));
    t.insert("random_problems".into(), int(x.random_problems));
    t.insert("samples".into(), int(x.samples));
}

fn traffic_toml(x: &TrafficTask, t: &mut Table) {
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

/// Methods, budget and the options given per method (options not given
/// keep the registry's defaults, which a re-run takes again).
fn partition_toml(p: &PartitionTask, t: &mut Table) {
    let methods = p.methods.iter().cloned().map(Value::String).collect();
    t.insert("methods".into(), Value::Array(methods));
    t.insert("budget".into(), Value::Integer(p.budget as i64));
    let mut options = Table::new();
    for (method, given) in &p.options {
        options.insert(method.clone(), Value::Table(options_toml(given)));
    }
    if !options.is_empty() {
        t.insert("options".into(), Value::Table(options));
    }
}

/// One method's options as given (those not given keep the registry's
/// defaults, which a re-run takes again).
fn options_toml(given: &[(String, OptionValue)]) -> Table {
    let mut m = Table::new();
    for (name, value) in given {
        let v = match value {
            OptionValue::Int(v) => Value::Integer(*v as i64),
            OptionValue::Float(v) => Value::Float(*v),
            OptionValue::Bool(v) => Value::Boolean(*v),
            OptionValue::Choice(v) => Value::String(v.to_string()),
            // By absolute path, as an ONNX file is, so the resolved
            // scenario works from any directory.
            OptionValue::File(Some(p)) => Value::String(absolute(p).display().to_string()),
            // Not writable in TOML; the default (no file) is left out.
            OptionValue::File(None) => continue,
        };
        m.insert(name.clone(), v);
    }
    m
}

fn sweep_toml(sw: &SweepTask, s: &Scenario, t: &mut Table) {
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
                    // Spec files are referred to by absolute path, so the
                    // resolved scenario works from any directory.
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

/// A value as read from a scenario, written back as TOML.
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

/// The path made absolute through the file system, or as given when it
/// cannot be (the run has already read it, so that is rare).
fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}
