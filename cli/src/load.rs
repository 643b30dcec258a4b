//! The command's view of loading (the library call is `agent::load`): a
//! `--hw` file, and a `--model` argument with its `-p KEY=VALUE` flags, with
//! messages that name the flag a refused value came from.

use std::collections::BTreeMap;
use std::path::Path;

use agent::LoadError;
use agent::load::onnx::OnnxError;
use agent::load::{self, Workload};
use sim::graph::Graph;
use sim::spec::HwSpec;

use crate::error::UserError;

/// Reads and validates a hardware spec file.
pub fn load_spec(path: &Path) -> Result<HwSpec, UserError> {
    Ok(load::load_spec(path)?)
}

/// A `--model` argument with its `-p KEY=VALUE` parameters: a zoo model by
/// name, an ONNX file (`*.onnx`), or a graph JSON file (see
/// [`Workload::from_name`]).
pub fn load_graph(model: &str, params: &BTreeMap<String, String>) -> Result<Graph, UserError> {
    let workload = Workload::from_name(model, params.clone());
    if matches!(workload, Workload::GraphJson(_)) && !params.is_empty() {
        return Err(UserError::new(format!(
            "{model}: --params apply to zoo models and ONNX files, not to graph JSON files"
        )));
    }
    load_workload_flags(&workload)
}

/// Loads a workload whose parameters came from `-p` flags: a refused
/// parameter is named as the flag that set it.
pub fn load_workload_flags(workload: &Workload) -> Result<Graph, UserError> {
    workload.load().map_err(|e| match e {
        LoadError::Onnx(OnnxError {
            key: Some(key),
            message,
        }) => UserError::new(format!("--params: {key}: {message}")),
        other => other.into(),
    })
}
