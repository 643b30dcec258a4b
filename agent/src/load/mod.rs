//! Loading a problem's inputs from files and names: a hardware spec file, and a
//! workload given as a zoo model with parameters, a graph JSON file or an ONNX
//! file with its parameters. One call each, usable without the command line:
//! the scenario runner, the RL environment, αNAS and the Python binding all
//! load through here, so a file is read and checked the same way everywhere.
//!
//! Errors are [`LoadError`] values whose messages name the file (and, for ONNX
//! parameters, the key); callers that know more (a scenario's line and column)
//! add it in front.

pub mod onnx;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sim::graph::Graph;
use sim::spec::HwSpec;
use sim::zoo;

use crate::error::LoadError;

/// Where a workload graph comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Workload {
    /// A model of the zoo (`sim::zoo`) built with its parameters as text.
    Zoo {
        model: String,
        params: BTreeMap<String, String>,
    },
    /// A tessera graph JSON file.
    GraphJson(PathBuf),
    /// An ONNX file imported with its parameters (symbolic dim values,
    /// `dtype`, `keep_free_ops`, `fuse`; see [`onnx`]). `source` says where the
    /// parameters were written, so that a message says how to set one.
    Onnx {
        path: PathBuf,
        params: BTreeMap<String, String>,
        source: onnx::Source,
    },
}

impl Workload {
    /// The workload a single name stands for, as the command line reads
    /// `--model`: an ONNX file by its extension, a graph JSON file by its
    /// extension or because such a file exists, else a zoo model.
    pub fn from_name(model: &str, params: BTreeMap<String, String>) -> Workload {
        if onnx::is_onnx(model) {
            return Workload::Onnx {
                path: PathBuf::from(model),
                params,
                source: onnx::Source::Flags,
            };
        }
        if model.ends_with(".json") || Path::new(model).is_file() {
            return Workload::GraphJson(PathBuf::from(model));
        }
        Workload::Zoo {
            model: model.to_string(),
            params,
        }
    }

    /// Builds the graph: generates the zoo model, or reads and validates the
    /// file.
    pub fn load(&self) -> Result<Graph, LoadError> {
        match self {
            Workload::Zoo { model, params } => zoo::build(model, params).map_err(LoadError::Zoo),
            Workload::GraphJson(path) => load_graph_json(path),
            Workload::Onnx {
                path,
                params,
                source,
            } => {
                if !path.is_file() {
                    return Err(LoadError::NoOnnxFile(path.clone()));
                }
                onnx::import(path, params, *source).map_err(LoadError::Onnx)
            }
        }
    }
}

/// Reads a UTF-8 text file; the error names the path.
pub fn read_text(path: &Path) -> Result<String, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|source| LoadError::NotUtf8 {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and validates a hardware spec file.
pub fn load_spec(path: &Path) -> Result<HwSpec, LoadError> {
    let text = read_text(path)?;
    HwSpec::from_toml_str(&text, &path.display().to_string()).map_err(LoadError::Spec)
}

/// Reads and validates a graph JSON file.
pub fn load_graph_json(path: &Path) -> Result<Graph, LoadError> {
    let text = read_text(path)?;
    Graph::from_json(&text).map_err(|error| LoadError::GraphJson {
        path: path.to_path_buf(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_error_names_the_path() {
        let e = read_text(Path::new("/no/such/tessera/file.toml")).unwrap_err();
        assert!(e.to_string().contains("/no/such/tessera/file.toml"), "{e}");
    }

    #[test]
    fn names_are_read_as_the_command_line_reads_them() {
        let none = BTreeMap::new();
        assert!(matches!(
            Workload::from_name("m.ONNX", none.clone()),
            Workload::Onnx { .. }
        ));
        assert!(matches!(
            Workload::from_name("g.json", none.clone()),
            Workload::GraphJson(_)
        ));
        assert!(matches!(
            Workload::from_name("bert-base", none),
            Workload::Zoo { .. }
        ));
    }

    #[test]
    fn a_zoo_model_loads_without_any_file() {
        let params = [("layers".to_string(), "1".to_string())].into();
        let w = Workload::Zoo {
            model: "bert-base".into(),
            params,
        };
        let g = w.load().unwrap();
        assert!(g.ops().len() > 5);
        let bad = Workload::Zoo {
            model: "no-such-model".into(),
            params: BTreeMap::new(),
        };
        assert!(matches!(bad.load(), Err(LoadError::Zoo(_))));
    }
}
