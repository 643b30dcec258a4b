//! Reading `[task]`: simulate, traffic, partition (methods, budget,
//! constraint modes, per-method options checked against the registry),
//! train (PPO settings and the corpus and holdout problems, each a spec and
//! a workload read as `[workload]` is) and sweep (the `each` task and the
//! axes), and the checks of a sweep's axes against the workload and the
//! `each` task.

use std::collections::BTreeMap;
use std::path::Path;

use sim::config::{Node, Sink, TableReader, Val, ValueReader};
use sim::spec::NoSkipping;

use agent::partition::registry::{self, OptionKind, OptionValue};

use super::workload::read_workload;
use crate::scenario::schema::{
    MAX_BATCHES, MAX_BUDGET, MAX_CYCLES, MAX_EPISODES_PER_BATCH, MAX_PACKET_BYTES,
    MAX_RANDOM_PROBLEMS, MAX_SAMPLES, MAX_SWEEP_POINTS, TASK_KINDS,
};
use crate::scenario::{
    Axis, ConstraintOverrides, PartitionTask, PlacementChoice, ProblemEntry, SweepTask, Task,
    TrafficTask, TrainTask, Workload, clean,
};

/// A workload axis sets a parameter of a zoo model or an ONNX workload: the
/// model must have that parameter (an ONNX model: a symbolic dim, `dtype`,
/// `keep_free_ops` or `fuse`). (Its values are checked when each grid point's graph is
/// built.)
pub(super) fn check_workload_axes(sweep: &SweepTask, w: &Workload, sink: &Sink) {
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
pub(super) fn check_pattern_axes(sweep: &SweepTask, sink: &Sink) {
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

/// Reads a `[task]` table. Sweeps may not nest (`allow_sweep` is false inside one).
pub(super) fn read_task(t: &TableReader<'_>, dir: &Path, allow_sweep: bool) -> Option<Task> {
    let task = match read_kind(t, allow_sweep)? {
        "simulate" => read_placement(t, dir).map(|placement| Task::Simulate { placement }),
        "traffic" => read_traffic(t).map(Task::Traffic),
        "partition" => read_partition(t, dir).map(Task::Partition),
        "train" => read_train(t, dir).map(Task::Train),
        "nas" => super::nas::read_nas(t, dir).map(Task::Nas),
        _ => read_sweep(t, dir).map(Task::Sweep),
    };
    t.finish();
    task
}

/// `kind`: one of [`TASK_KINDS`], and inside a sweep (`allow_sweep` false)
/// a kind that runs at a grid point.
fn read_kind<'a>(t: &TableReader<'a>, allow_sweep: bool) -> Option<&'a str> {
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
        let later = ["finetune"];
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
    Some(kind)
}

/// A simulate task's `placement`: `contiguous` (the default), `single`, or
/// a placement file relative to the scenario.
fn read_placement(t: &TableReader<'_>, dir: &Path) -> Option<PlacementChoice> {
    let Some(r) = t.opt("placement") else {
        return Some(PlacementChoice::Contiguous);
    };
    r.text().and_then(|p| match p {
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
    })
}

fn read_partition(t: &TableReader<'_>, dir: &Path) -> Option<PartitionTask> {
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
    let constraints = t
        .opt_table("constraints")
        .map_or_else(ConstraintOverrides::default, |c| read_constraints(&c));
    let options = match t.opt_table("options") {
        Some(o) => read_method_options(&o, methods.as_deref(), dir),
        None => Some(BTreeMap::new()),
    };
    Some(PartitionTask {
        methods: methods?,
        budget: budget?,
        options: options?,
        constraints,
    })
}

/// `[task.constraints]`: the constraint modes that replace the spec's; a
/// key not given (or not readable, which is reported) keeps the spec's mode.
fn read_constraints(c: &TableReader<'_>) -> ConstraintOverrides {
    let overrides = ConstraintOverrides {
        acyclic_dataflow: c.opt("acyclic_dataflow").and_then(|r| r.bool()),
        no_skipping: c
            .opt("no_skipping")
            .and_then(|r| r.word(&["off", "edge", "prefix"]))
            .map(|w| match w {
                "edge" => NoSkipping::Edge,
                "prefix" => NoSkipping::Prefix,
                _ => NoSkipping::Off,
            }),
        no_triangle: c.opt("no_triangle").and_then(|r| r.bool()),
        sram_capacity: c.opt("sram_capacity").and_then(|r| r.bool()),
    };
    c.finish();
    overrides
}

/// `[task.options]`: one table per method (each a method the task runs),
/// each key an option of that method in the registry, with its type and
/// domain checked where it is written. `methods` is `None` when the task's
/// method list was itself refused (that error is reported; this one would
/// only follow from it).
fn read_method_options(
    t: &TableReader<'_>,
    methods: Option<&[String]>,
    dir: &Path,
) -> Option<BTreeMap<String, Vec<(String, OptionValue)>>> {
    let mut out = BTreeMap::new();
    let mut ok = true;
    for info in registry::METHODS {
        let Some(m) = t.opt_table(info.name) else {
            continue;
        };
        if methods.is_some_and(|ms| !ms.iter().any(|x| x == info.name)) {
            t.error_at(
                info.name,
                format!(
                    "options for method {:?}, which the task does not run",
                    info.name
                ),
            );
            ok = false;
        }
        match read_options_of(info, &m, dir) {
            Some(given) => {
                out.insert(info.name.to_string(), given);
            }
            None => ok = false,
        }
    }
    t.finish();
    ok.then_some(out)
}

/// The options of one method in table `m`, each key an option of the
/// method in the registry with its type and domain checked where it is
/// written (a `File` option's file read by its check); `None` when any is
/// refused (reported). Reports unknown keys.
pub(super) fn read_options_of(
    info: &registry::MethodInfo,
    m: &TableReader<'_>,
    dir: &Path,
) -> Option<Vec<(String, OptionValue)>> {
    let mut ok = true;
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
            OptionKind::Choice { choices } => r.word(choices).and_then(|w| spec.kind.choice(w)),
            OptionKind::File { check } => r.text().and_then(|s| {
                let path = clean(&dir.join(s));
                let refused = if path.is_file() {
                    check(&path).err()
                } else {
                    Some(format!("file {} does not exist", path.display()))
                };
                match refused {
                    Some(why) => {
                        r.error(why);
                        None
                    }
                    None => Some(OptionValue::File(Some(path.into()))),
                }
            }),
        };
        match value {
            Some(v) => given.push((spec.name.to_string(), v)),
            None => ok = false,
        }
    }
    m.finish();
    ok.then_some(given)
}

/// A train task: PPO settings with their defaults, the corpus and the
/// holdout. The corpus may be empty only when `random_problems` fills it.
fn read_train(t: &TableReader<'_>, dir: &Path) -> Option<TrainTask> {
    let defaults = agent::rl::ppo::PpoConfig::default();
    let int = |key: &'static str, min: u64, max: u64, default: u64| match t.opt(key) {
        Some(r) => r.int_in(min, max),
        None => Some(default),
    };
    // The default as written (0.003, not the f32's 0.003000000026…), so
    // that scenario.resolved.toml reads as the user would write it.
    let number = |key: &'static str, min: f64, strict: bool, default: f32| match t.opt(key) {
        Some(r) => r.number(min, strict, 1.0),
        None => default.to_string().parse().ok(),
    };
    let batches = t.req_positive_int("batches", MAX_BATCHES);
    let episodes = int(
        "episodes_per_batch",
        2,
        MAX_EPISODES_PER_BATCH,
        defaults.episodes_per_batch as u64,
    );
    let learning_rate = number("learning_rate", 0.0, true, defaults.learning_rate);
    let entropy_coef = number("entropy_coef", 0.0, false, defaults.entropy_coef);
    let checkpoint_every = int("checkpoint_every", 1, MAX_BATCHES, 25);
    let random_problems = int("random_problems", 0, MAX_RANDOM_PROBLEMS, 0);
    let samples = int("samples", 1, MAX_SAMPLES, 10);
    let random_pos = t.pos_of("random_problems");
    let corpus = read_problems(t, "corpus", dir);
    let holdout = read_problems(t, "holdout", dir);
    if let (Some(c), Some(0)) = (&corpus, random_problems)
        && c.is_empty()
    {
        t.error_at(
            "corpus",
            "a train task needs at least one problem: a [[task.corpus]] entry or random_problems ≥ 1",
        );
        return None;
    }
    Some(TrainTask {
        batches: batches?,
        episodes_per_batch: episodes?,
        learning_rate: learning_rate?,
        entropy_coef: entropy_coef?,
        checkpoint_every: checkpoint_every?,
        random_problems: random_problems?,
        samples: samples?,
        corpus: corpus?,
        holdout: holdout?,
        random_pos,
    })
}

/// `[[task.corpus]]` or `[[task.holdout]]`: each entry a `spec` (which must
/// exist) and the keys of a `[workload]` table.
fn read_problems(t: &TableReader<'_>, key: &'static str, dir: &Path) -> Option<Vec<ProblemEntry>> {
    let arr = t.table_array(key);
    let mut out = Vec::new();
    let mut ok = arr.well_formed;
    for e in &arr.tables {
        let spec = e.req("spec").and_then(|r| {
            let path = clean(&dir.join(r.text()?));
            if path.is_file() {
                Some(path)
            } else {
                r.error(format!(
                    "hardware spec file {} does not exist",
                    path.display()
                ));
                None
            }
        });
        // Reads the workload keys and reports every key neither knows.
        let workload = read_workload(e, dir);
        match (spec, workload) {
            (Some(spec), Some(workload)) => out.push(ProblemEntry {
                spec,
                spec_pos: e.pos_of("spec"),
                workload,
                field: e.path().to_string(),
                pos: e.pos(),
            }),
            _ => ok = false,
        }
    }
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
        let field = axis_field(a, target.as_deref());
        let values = axis_values(a);
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

/// An axis's `field`: required, except that a `hardware_spec` axis has none.
fn axis_field(a: &TableReader<'_>, target: Option<&str>) -> Option<String> {
    if target != Some("hardware_spec") {
        return a.req_text("field");
    }
    if a.has("field") {
        a.error_at(
            "field",
            "a hardware_spec axis replaces the whole spec file (its values are paths) and has no field",
        );
    }
    None
}

/// An axis's `values`: a non-empty array, kept as nodes (each value is
/// checked when it is applied to a grid point, where its line is known).
fn axis_values(a: &TableReader<'_>) -> Option<Vec<Node>> {
    let r = a.req("values")?;
    let items = r.array()?;
    if items.is_empty() {
        r.error("an axis needs at least one value");
        return None;
    }
    Some(items.into_iter().map(|(_, n)| n.clone()).collect())
}
