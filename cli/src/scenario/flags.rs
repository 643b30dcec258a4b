//! Scenarios built from command-line flags (`tessera partition`, and the
//! hardware of `tessera simulate`), checked like scenario files: `--set`
//! overrides, the partition flags, and the spec of `--hw` with overrides.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sim::SimOptions;
use sim::config::{self, Node, Pos};
use sim::graph::Graph;
use sim::spec::HwSpec;

use agent::partition::registry::{self, OptionValue};

use super::overrides::{EMPTY_OVERRIDE, canonical_path, flatten};
use super::resolve::resolve_spec;
use super::schema::{MAX_BUDGET, MAX_MICROBATCHES};
use super::{
    ConstraintOverrides, HardwareSource, PartitionTask, PlacementChoice, Resolved, Scenario, Task,
    Workload,
};
use crate::error::UserError;

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

/// The spec of `--hw FILE` with `--set` overrides applied and validated, as
/// a scenario's `[hardware.overrides]` are.
pub fn spec_from_flags(hw: &Path, overrides: Vec<(String, Node)>) -> Result<HwSpec, UserError> {
    resolve_spec(&Scenario {
        file: PathBuf::from(COMMAND_LINE),
        name: "simulate".to_string(),
        seed: 0,
        hardware: Some(HardwareSource::File(hw.to_path_buf())),
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

/// Whether a scenario was built from command-line flags (its messages then
/// name flags, not file positions).
pub fn is_from_flags(s: &Scenario) -> bool {
    s.file == Path::new(COMMAND_LINE)
}

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
    check_partition_flags(&f)?;
    let workload = workload_from_flags(&f.model, f.params)?;
    Ok(Scenario {
        file: PathBuf::from(COMMAND_LINE),
        name: "partition".to_string(),
        seed: f.seed,
        hardware: Some(HardwareSource::File(f.hw)),
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

/// A partition over a spec and graph the caller has already loaded (the
/// Python package's `partition`): what [`from_flags`] builds, with method
/// options, resolved. `hw` is the spec's file when it came from one and
/// `workload` says how the graph was loaded; both only go into
/// `scenario.resolved.toml`.
#[derive(Clone, Debug)]
pub struct LoadedPartition {
    pub spec: HwSpec,
    pub graph: Graph,
    pub hw: Option<PathBuf>,
    pub workload: agent::load::Workload,
    pub methods: Vec<String>,
    /// Options per method, as a scenario's `[task.options.METHOD]`.
    pub options: BTreeMap<String, Vec<(String, OptionValue)>>,
    pub budget: u64,
    pub seed: u64,
    pub microbatches: u32,
}

/// The scenario of a [`LoadedPartition`], checked as `tessera partition`'s
/// flags are (messages name the flags), with its hardware and graph.
pub fn partition_of_loaded(p: LoadedPartition) -> Result<Resolved, UserError> {
    check_search_flags(&p.methods, p.budget, p.microbatches)?;
    for (name, given) in &p.options {
        let info = registry::lookup(name).map_err(|e| UserError::new(format!("--method: {e}")))?;
        info.options(given)
            .map_err(|e| UserError::new(e.to_string()))?;
    }
    let workload = match p.workload {
        agent::load::Workload::Onnx { path, params, .. } => Workload::Onnx {
            path,
            params,
            pos: Pos { line: 0, column: 0 },
        },
        agent::load::Workload::GraphJson(path) => Workload::GraphFile(path),
        agent::load::Workload::Zoo { model, params } => Workload::Zoo {
            model,
            params,
            pos: Pos { line: 0, column: 0 },
        },
    };
    let scenario = Scenario {
        file: PathBuf::from(COMMAND_LINE),
        name: "partition".to_string(),
        seed: p.seed,
        hardware: p.hw.map(HardwareSource::File),
        overrides: Vec::new(),
        workload: Some(workload),
        task: Task::Partition(PartitionTask {
            methods: p.methods,
            budget: p.budget,
            options: p.options,
            constraints: ConstraintOverrides::default(),
        }),
        simulation: SimOptions {
            microbatches: p.microbatches,
            ..SimOptions::default()
        },
        output_dir: None,
        plots: "svg".to_string(),
    };
    Ok(Resolved {
        scenario,
        spec: p.spec,
        graph: Some(p.graph),
    })
}

/// The checks a scenario file's reader makes, in the flags' terms.
fn check_partition_flags(f: &PartitionFlags) -> Result<(), UserError> {
    check_search_flags(&f.methods, f.budget, f.microbatches)?;
    if !f.hw.is_file() {
        return Err(UserError::new(format!(
            "--hw: {}: no such file",
            f.hw.display()
        )));
    }
    Ok(())
}

/// `--method`, `--budget` and `--microbatches` checked as a scenario's
/// reader checks them.
fn check_search_flags(methods: &[String], budget: u64, microbatches: u32) -> Result<(), UserError> {
    for m in methods {
        registry::lookup(m).map_err(|e| UserError::new(format!("--method: {e}")))?;
    }
    if budget == 0 || budget > MAX_BUDGET {
        return Err(UserError::new(format!(
            "--budget: must be 1 to {MAX_BUDGET}, found {budget}"
        )));
    }
    if microbatches == 0 || u64::from(microbatches) > MAX_MICROBATCHES {
        return Err(UserError::new(format!(
            "--microbatches: must be 1 to {MAX_MICROBATCHES}, found {microbatches}"
        )));
    }
    Ok(())
}

/// `--model` with its `--params`: an ONNX file (by extension), a graph JSON
/// file (by extension, or any existing file), else a zoo model name.
fn workload_from_flags(
    model: &str,
    params: BTreeMap<String, String>,
) -> Result<Workload, UserError> {
    let params_given = !params.is_empty();
    // Flags have no place in a file; messages about a zoo model from flags
    // still print this position as `<command line>:0:0` (left as it was).
    let pos = Pos { line: 0, column: 0 };
    // The library reads the name as `--model` is read everywhere; this adds
    // the positions scenario messages point to.
    match agent::load::Workload::from_name(model, params) {
        agent::load::Workload::Onnx { path, params, .. } => {
            Ok(Workload::Onnx { path, params, pos })
        }
        agent::load::Workload::GraphJson(path) => {
            if !params_given {
                Ok(Workload::GraphFile(path))
            } else {
                Err(UserError::new(
                    "--params apply to zoo models and ONNX files, not to graph JSON files",
                ))
            }
        }
        agent::load::Workload::Zoo { model, params } => Ok(Workload::Zoo { model, params, pos }),
    }
}

/// The flags of `tessera simulate --out`.
#[derive(Clone, Debug)]
pub struct SimulateFlags {
    pub hw: PathBuf,
    pub model: String,
    pub params: BTreeMap<String, String>,
    pub overrides: Vec<(String, Node)>,
    /// `contiguous`, `single`, or a placement JSON file.
    pub placement: String,
    pub simulation: SimOptions,
}

/// A simulate scenario built from `tessera simulate`'s flags, so that
/// `--out` writes what a scenario's simulate run writes.
pub fn simulate_from_flags(f: SimulateFlags) -> Result<Scenario, UserError> {
    let workload = workload_from_flags(&f.model, f.params)?;
    let placement = match f.placement.as_str() {
        "contiguous" => PlacementChoice::Contiguous,
        "single" => PlacementChoice::Single,
        path => PlacementChoice::File(PathBuf::from(path)),
    };
    Ok(Scenario {
        file: PathBuf::from(COMMAND_LINE),
        name: "simulate".to_string(),
        seed: 0,
        hardware: Some(HardwareSource::File(f.hw)),
        overrides: f.overrides,
        workload: Some(workload),
        task: Task::Simulate { placement },
        simulation: f.simulation,
        output_dir: None,
        plots: "svg".to_string(),
    })
}
