//! Resolution: a scenario as read becomes the values a run uses — the
//! hardware spec (file or inline, overrides applied, validated) and the
//! workload graph (zoo, graph JSON or ONNX), or for a train task each
//! problem's spec and graph — with every problem pointing at the place in
//! the scenario (or the flag) that caused it.

use std::collections::BTreeMap;
use std::path::Path;

use sim::SimOptions;
use sim::config::{self, Node, Pos, Val};
use sim::graph::Graph;
use sim::spec::HwSpec;

use super::flags::is_from_flags;
use super::overrides::{apply_override, canonical_path};
use super::{HardwareSource, ProblemEntry, Resolved, Scenario, Workload};
use crate::error::UserError;
use crate::files::read_text;

/// Builds the hardware spec: reads the file (or takes the inline table),
/// applies overrides, validates.
pub fn resolve_spec(s: &Scenario) -> Result<HwSpec, UserError> {
    let (mut root, name) = spec_tree(s)?;
    let problems: Vec<String> = s
        .overrides
        .iter()
        .filter_map(|(path, value)| {
            let e = apply_override(&mut root, path, value).err()?;
            Some(format!("{}: {e}", override_origin(s, path, value)))
        })
        .collect();
    if !problems.is_empty() {
        return Err(UserError::new(problems.join("\n")));
    }
    let label = if s.overrides.is_empty() {
        name
    } else if is_from_flags(s) {
        format!("{name} (with --set overrides)")
    } else {
        format!("{name} (with overrides from {})", s.file.display())
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
                            format!("{}: {}", override_origin(s, path, value), diag.message)
                        }
                        None => diag.to_string(),
                    }
                })
                .collect();
        UserError::new(lines.join("\n"))
    })
}

/// The spec as a tree of positioned values, before overrides, and the name
/// its messages use (the file, or the scenario's `[hardware.inline]`).
fn spec_tree(s: &Scenario) -> Result<(Node, String), UserError> {
    let Some(hardware) = &s.hardware else {
        // Only a train task has none, and it is never resolved this way.
        return Err(UserError::new(format!(
            "{}: the scenario has no [hardware]",
            s.file.display()
        )));
    };
    match hardware {
        HardwareSource::File(p) => {
            let text = read_text(p)?;
            let name = p.display().to_string();
            let root = config::parse(&text, &name).map_err(|d| UserError::new(d.to_string()))?;
            Ok((root, name))
        }
        HardwareSource::Inline(node) => Ok((
            node.clone(),
            format!("{} [hardware.inline]", s.file.display()),
        )),
    }
}

/// Where an override came from, as messages name it: the `--set` flag, or
/// the scenario's file, line and field.
fn override_origin(s: &Scenario, path: &str, value: &Node) -> String {
    if is_from_flags(s) {
        match value.val {
            Val::Array(_) | Val::Table(_) => format!("--set {path}"),
            _ => format!("--set {path}={}", value.val.show()),
        }
    } else {
        format!(
            "{}:{}:{}: hardware.overrides.{path}",
            s.file.display(),
            value.pos.line,
            value.pos.column
        )
    }
}

/// Builds the workload graph, if the scenario has one.
pub fn resolve_graph(s: &Scenario) -> Result<Option<Graph>, UserError> {
    match &s.workload {
        None => Ok(None),
        Some(w) => load_workload(s, w, "workload").map(Some),
    }
}

/// Builds one problem of a train task: its spec (a problem with the file
/// is reported at the entry's `spec`) and its graph, under the scenario's
/// simulation options.
pub fn resolve_problem(s: &Scenario, entry: &ProblemEntry) -> Result<agent::Problem, UserError> {
    let spec = agent::load::load_spec(&entry.spec).map_err(|e| {
        UserError::new(format!(
            "{}:{}:{}: {}.spec: {e}",
            s.file.display(),
            entry.spec_pos.line,
            entry.spec_pos.column,
            entry.field
        ))
    })?;
    let graph = load_workload(s, &entry.workload, &entry.field)?;
    Ok(agent::Problem::new(spec, graph).with_options(SimOptions {
        trace: false,
        ..s.simulation.clone()
    }))
}

/// Builds a workload written at `field` (`workload`, or a train task's
/// `task.corpus[i]`): messages about its values point there.
fn load_workload(s: &Scenario, w: &Workload, field: &str) -> Result<Graph, UserError> {
    match w {
        Workload::Zoo { model, params, pos } => {
            let workload = agent::load::Workload::Zoo {
                model: model.clone(),
                params: params.clone(),
            };
            workload.load().map_err(|e| {
                let key = if params.is_empty() { "model" } else { "params" };
                UserError::new(format!(
                    "{}:{}:{}: {field}.{key}: {e}",
                    s.file.display(),
                    pos.line,
                    pos.column
                ))
            })
        }
        Workload::GraphFile(p) => Ok(agent::load::load_graph_json(p)?),
        Workload::Onnx { path, params, pos } => onnx_graph(s, path, params.clone(), *pos, field),
    }
}

/// Imports an ONNX workload. From flags, messages name the flags (as
/// `tessera simulate` does); from a scenario, they point at `onnx` or at
/// the parameter that is wrong.
fn onnx_graph(
    s: &Scenario,
    path: &Path,
    params: BTreeMap<String, String>,
    pos: Pos,
    field: &str,
) -> Result<Graph, UserError> {
    let from_flags = is_from_flags(s);
    let workload = agent::load::Workload::Onnx {
        path: path.to_path_buf(),
        params,
        source: if from_flags {
            agent::load::onnx::Source::Flags
        } else {
            agent::load::onnx::Source::Scenario
        },
    };
    if from_flags {
        return crate::load::load_workload_flags(&workload);
    }
    workload.load().map_err(|e| match e {
        agent::LoadError::Onnx(e) => {
            let field = match &e.key {
                Some(k) => format!("{field}.params.{k}"),
                None => format!("{field}.onnx"),
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
