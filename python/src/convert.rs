//! Python values into the command's inputs: placements (a name or file as
//! `--placement` takes them, a list of chiplet ids, placement JSON) and
//! partition method options (typed by the registry, as a scenario's
//! `[task.options.METHOD]` are), and the registry's options as JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString};

use agent::partition::registry::{self, OptionKind, OptionSpec, OptionValue};
use sim::Placement;
use sim::constraints::Violation;
use sim::graph::Graph;
use sim::spec::{ChipletId, HwSpec};
use tessera_cli::UserError;

use crate::errors::{raise, user_error};

/// A placement as the Python layer hands it over.
pub enum PlacementArg {
    /// `contiguous`, `single` or a placement JSON file, as `--placement`.
    Named(String),
    /// One chiplet id per op.
    Chips(Vec<u32>),
    /// The text of a placement JSON document.
    Json(String),
}

impl PlacementArg {
    /// Reads the pair the Python layer passes: `("name", str)`,
    /// `("chips", list[int])` or `("json", str)`.
    pub fn extract(py: Python<'_>, kind: &str, value: &Bound<'_, PyAny>) -> PyResult<PlacementArg> {
        let bad = || {
            raise(
                py,
                "ArgumentTypeError",
                "placement: expected \"contiguous\", \"single\", a placement JSON file, a list of \
                 chiplet ids or a placement dict"
                    .to_string(),
            )
        };
        match kind {
            "name" => value.extract().map(PlacementArg::Named).map_err(|_| bad()),
            "chips" => value.extract().map(PlacementArg::Chips).map_err(|_| {
                raise(
                    py,
                    "OptionError",
                    "placement: a list of chiplet ids must hold integers from 0 to 4294967295"
                        .to_string(),
                )
            }),
            "json" => value.extract().map(PlacementArg::Json).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }

    /// The placement, checked against the spec and graph with the
    /// command's messages.
    pub fn resolve(&self, spec: &HwSpec, graph: &Graph) -> Result<Placement, UserError> {
        match self {
            PlacementArg::Named(arg) => tessera_cli::simulate::resolve_placement(arg, spec, graph),
            PlacementArg::Chips(chips) => {
                let p = Placement {
                    chiplet_of_op: chips.iter().map(|&c| ChipletId(c)).collect(),
                };
                p.validate(spec, graph)
                    .map_err(|e| UserError::new(format!("placement: {e}")))?;
                Ok(p)
            }
            PlacementArg::Json(text) => Placement::from_json(text, spec, graph)
                .map_err(|e| UserError::new(format!("placement: {e}"))),
        }
    }
}

/// Method options from a dict `{method: {option: value}}`, each value
/// typed by the registry and checked against its domain there.
pub fn method_options(
    py: Python<'_>,
    given: &Bound<'_, PyDict>,
) -> PyResult<BTreeMap<String, Vec<(String, OptionValue)>>> {
    let mut out = BTreeMap::new();
    for (method, options) in given.iter() {
        let method: String = method.extract()?;
        let info = registry::lookup(&method)
            .map_err(|e| user_error(py, UserError::new(format!("--method: {e}"))))?;
        let options = options.cast::<PyDict>().map_err(|_| {
            raise(
                py,
                "ArgumentTypeError",
                format!("options of method {method}: expected a dict of option values"),
            )
        })?;
        let mut values = Vec::new();
        for (name, value) in options.iter() {
            let name: String = name.extract()?;
            let typed = match info.option(&name) {
                Some(spec) => option_value(py, &method, spec, &value)?,
                // Not the method's: the registry's own message says which
                // options it has (the value is never looked at).
                None => OptionValue::Bool(false),
            };
            values.push((name, typed));
        }
        // Unknown names and out-of-domain values, in the registry's words.
        info.options(&values)
            .map_err(|e| raise(py, "OptionError", e.to_string()))?;
        out.insert(method, values);
    }
    Ok(out)
}

/// One option's Python value as the registry's type for it; a value of
/// another type is refused with the domain the option takes.
fn option_value(
    py: Python<'_>,
    method: &str,
    spec: &OptionSpec,
    value: &Bound<'_, PyAny>,
) -> PyResult<OptionValue> {
    let refuse = || {
        let shown = value
            .repr()
            .map_or_else(|_| "?".to_string(), |r| r.to_string());
        raise(
            py,
            "OptionError",
            format!(
                "method {method}: option {}: expected {}, found {shown}",
                spec.name,
                spec.kind.describe()
            ),
        )
    };
    let is_bool = value.is_instance_of::<PyBool>();
    match spec.kind {
        OptionKind::Int { .. } if !is_bool => value
            .extract::<u64>()
            .map(OptionValue::Int)
            .map_err(|_| refuse()),
        OptionKind::Float { .. } if !is_bool && !value.is_instance_of::<PyString>() => value
            .extract::<f64>()
            .map(OptionValue::Float)
            .map_err(|_| refuse()),
        OptionKind::Bool if is_bool => Ok(OptionValue::Bool(value.extract()?)),
        OptionKind::Choice { .. } => {
            let word: String = value.extract().map_err(|_| refuse())?;
            spec.kind.choice(&word).ok_or_else(refuse)
        }
        OptionKind::File { .. } if value.is_none() => Ok(OptionValue::File(None)),
        OptionKind::File { .. } => {
            let path: PathBuf = value.extract().map_err(|_| refuse())?;
            let path: Arc<Path> = path.into();
            Ok(OptionValue::File(Some(path)))
        }
        _ => Err(refuse()),
    }
}

/// One registry option as JSON: name, type, domain, default, summary.
pub fn option_json(o: &OptionSpec) -> serde_json::Value {
    let default = match &o.default {
        OptionValue::Int(v) => serde_json::json!(v),
        OptionValue::Float(v) => serde_json::json!(v),
        OptionValue::Bool(v) => serde_json::json!(v),
        OptionValue::Choice(v) => serde_json::json!(v),
        OptionValue::File(Some(p)) => serde_json::json!(p.display().to_string()),
        OptionValue::File(None) => serde_json::Value::Null,
    };
    let kind = match o.kind {
        OptionKind::Int { .. } => "int",
        OptionKind::Float { .. } => "float",
        OptionKind::Bool => "bool",
        OptionKind::Choice { .. } => "choice",
        OptionKind::File { .. } => "file",
    };
    serde_json::json!({
        "name": o.name,
        "type": kind,
        "domain": o.kind.describe(),
        "default": default,
        "summary": o.summary,
    })
}

/// Constraint violations as JSON objects: each violation's fields and a
/// `message` in words, naming ops by `graph`'s names.
pub fn violations_json(graph: &Graph, violations: &[Violation]) -> Vec<serde_json::Value> {
    violations
        .iter()
        .map(|v| {
            let mut value = serde_json::to_value(v).expect("violations serialise");
            if let Some(map) = value.as_object_mut() {
                map.insert("message".into(), v.describe(graph).into());
            }
            value
        })
        .collect()
}
