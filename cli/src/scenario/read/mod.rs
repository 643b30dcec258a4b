//! Strict reading of a scenario file: every unknown, missing or ill-typed
//! key is reported at once with file, line, column and field (through
//! `sim::config`'s readers). This module reads the top level, `[hardware]`,
//! `[simulation]` and `[output]`; `workload` and `task` read theirs.

use std::path::{Path, PathBuf};

use sim::config::{self, Diagnostics, Node, Sink, TableReader, Val};
use sim::{SimOptions, SteadyState, Switching};

use super::overrides::{EMPTY_OVERRIDE, flatten};
use super::schema::{MAX_MICROBATCHES, MAX_PACKET_BYTES, TASK_KINDS};
use super::{HardwareSource, Scenario, Task, Workload, clean};
use crate::error::UserError;
use crate::files::read_text;

mod nas;
mod task;
mod workload;

use task::{check_pattern_axes, check_workload_axes, read_task};
use workload::read_workload;

/// The directory relative paths in a scenario start from: the file's own,
/// or for a symbolic link the directory of the file it points to (so that a
/// link to `scenarios/x.toml` reads `../hw_specs/...` as `x.toml` does).
fn base_dir(file: &Path) -> PathBuf {
    let is_link = std::fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_symlink());
    let target = if is_link {
        std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf())
    } else {
        file.to_path_buf()
    };
    target
        .parent()
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

/// Reads every table of a scenario, reporting each problem into `sink`;
/// `None` when any part could not be read.
fn read(root: &Node, path: &Path, sink: &Sink) -> Option<Scenario> {
    let dir = base_dir(path);
    let top = TableReader::new(root, String::new(), sink);
    let name = read_name(&top, path);
    let seed = top.req_int("seed", u64::MAX >> 1);
    // Judged from the kinds as written, not from the task as read, so that a
    // mistake inside a traffic task does not also report its (unneeded)
    // [workload] and [simulation] as missing.
    let kind = task_kind(root);
    let train = kind.as_deref() == Some("train");
    // A nas task's hardware is optional (parameters and MACs need none),
    // its workload is the seed network, and it writes no trace.
    let nas = kind.as_deref() == Some("nas");
    let hw = if train {
        refuse_in_train(&top, "hardware");
        Some((None, Vec::new()))
    } else if nas && !top.has("hardware") {
        Some((None, Vec::new()))
    } else {
        read_hardware(&top, &dir).map(|(h, o)| (Some(h), o))
    };
    let task_table = top.req_table("task");
    let task = task_table.as_ref().and_then(|t| read_task(t, &dir, true));
    let simulates = task_simulates(root) == Some(true);
    let needs_workload = simulates && !train;
    let workload = if train {
        refuse_in_train(&top, "workload");
        Some(None)
    } else if nas {
        refuse_in_nas(&top);
        Some(None)
    } else {
        read_workload_table(&top, &dir, needs_workload)
    };
    let simulation = match top.opt_table("simulation") {
        Some(s) => read_simulation(&s, simulates)
            .filter(|o| !((train || nas) && trace_refused(&s, o, kind.as_deref()))),
        None if simulates => {
            top.missing("simulation");
            None
        }
        None => Some(SimOptions::default()),
    };
    if let (Some(Task::Nas(n)), Some((None, _))) = (&task, &hw)
        && n.objective.needs_hardware()
    {
        sink.error(
            n.objective_pos,
            "task.objective",
            format!(
                "objective {:?} is measured on the simulated package: add [hardware] with a `spec`, \
                 or minimise `params` or `macs`",
                n.objective.name()
            ),
        );
    }
    let (output_dir, plots) = read_output(&top, &dir);
    top.finish();
    if let Some(Task::Sweep(sweep)) = &task {
        if let Some(Some(w)) = &workload {
            check_workload_axes(sweep, w, sink);
        }
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

/// A train task names its hardware and workload per problem
/// (`[[task.corpus]]`, `[[task.holdout]]`): a top-level `[hardware]` or
/// `[workload]` table would be ignored, so it is refused.
fn refuse_in_train(top: &TableReader<'_>, table: &'static str) {
    if top.has(table) {
        top.error_at(
            table,
            format!(
                "a train task takes its hardware and workload from each [[task.corpus]] and \
                 [[task.holdout]] entry (`spec` and `model`, `graph` or `onnx`); remove [{table}]"
            ),
        );
    }
}

/// A nas task's workload is its seed network (`[task.network]`): a
/// `[workload]` table would be ignored, so it is refused.
fn refuse_in_nas(top: &TableReader<'_>) {
    if top.has("workload") {
        top.error_at(
            "workload",
            "a nas task's workload is its seed network, given in [task.network] (`name` or `file`); \
             remove [workload]",
        );
    }
}

/// A train or nas task simulates thousands of placements and writes no
/// trace: `trace = true` is refused rather than ignored (true when
/// refused).
fn trace_refused(t: &TableReader<'_>, o: &SimOptions, kind: Option<&str>) -> bool {
    if o.trace {
        t.error_at(
            "trace",
            format!(
                "a {} task writes no trace; remove `trace` or set it to false",
                kind.unwrap_or("train")
            ),
        );
    }
    o.trace
}

/// The task's kind as written, if it is a string.
fn task_kind(root: &Node) -> Option<String> {
    match &root.get("task")?.get("kind")?.val {
        Val::Str(s) => Some(s.clone()),
        _ => None,
    }
}

/// `name`, else the file name without its extension.
fn read_name(top: &TableReader<'_>, path: &Path) -> Option<String> {
    let Some(r) = top.opt("name") else {
        return Some(path.file_stem().map_or_else(
            || "scenario".to_string(),
            |s| s.to_string_lossy().into_owned(),
        ));
    };
    // The name is the default output directory `out/NAME`: it must stay
    // one directory there.
    r.text().and_then(|n| {
        if n.contains(['/', '\\']) || n == "." || n == ".." {
            r.error(format!(
                "{n:?} is not usable as a directory name (the default output is out/NAME); \
                 use no `/` or `\\`"
            ));
            None
        } else {
            Some(n.to_string())
        }
    })
}

/// `[workload]`: required when the task simulates, optional otherwise
/// (`Some(None)` when absent and not needed).
fn read_workload_table(
    top: &TableReader<'_>,
    dir: &Path,
    needed: bool,
) -> Option<Option<Workload>> {
    let table = if needed {
        Some(top.req_table("workload")?)
    } else {
        top.opt_table("workload")
    };
    match table {
        Some(w) => read_workload(&w, dir).map(Some),
        None => Some(None),
    }
}

/// `[output]`: the directory (relative to the scenario) and the plot format.
fn read_output(top: &TableReader<'_>, dir: &Path) -> (Option<PathBuf>, Option<String>) {
    let Some(o) = top.opt_table("output") else {
        return (None, Some("svg".to_string()));
    };
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

/// Whether the task runs a workload through the simulator (every kind but
/// traffic, and a sweep of such a kind), judged from the kinds as written;
/// `None` when a kind is missing or unknown (reported elsewhere).
fn task_simulates(root: &Node) -> Option<bool> {
    let kind = |n: &Node| match &n.get("kind")?.val {
        Val::Str(s) => Some(s.clone()),
        _ => None,
    };
    let task = root.get("task")?;
    // Every kind but traffic runs a workload through the simulator; a nas
    // task simulates only with hardware, with default options unless
    // [simulation] gives them.
    let each_simulates = |each: &Node| match kind(each)?.as_str() {
        "traffic" | "nas" => Some(false),
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
    let steady_state = match t.opt("steady_state") {
        Some(r) => r.word(&["converge", "fixed"]).map(|w| match w {
            "fixed" => SteadyState::Fixed,
            _ => SteadyState::DEFAULT,
        }),
        None => Some(SteadyState::DEFAULT),
    };
    t.finish();
    Some(SimOptions {
        microbatches: microbatches? as u32,
        steady_state: steady_state?,
        packet_bytes: packet_bytes?,
        switching: switching?,
        trace: trace?,
    })
}
