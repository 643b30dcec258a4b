//! Resolution: a scenario as read becomes the values a run uses — the
//! hardware spec (file or inline, overrides applied, validated) and the
//! workload graph (zoo, graph JSON or ONNX) — with every problem pointing
//! at the place in the scenario (or the flag) that caused it.

use std::path::Path;

use sim::config::{self, Node, Val};
use sim::graph::Graph;
use sim::spec::HwSpec;

use super::flags::COMMAND_LINE;
use super::overrides::{apply_override, canonical_path};
use super::{HardwareSource, Resolved, Scenario, Workload};
use crate::error::UserError;
use crate::files::read_text;

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
