//! Reading `[workload]`: a zoo model (name and parameter keys checked where
//! written), a graph JSON file, or an ONNX file (its symbolic dims read from
//! the file, so a parameter naming no dim is reported at its line).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sim::config::{Pos, TableReader, Val, ValueReader};
use sim::zoo::ModelInfo;

use crate::scenario::{Workload, clean};

/// Reads `[workload]`: exactly one of `model`, `graph` and `onnx`, with
/// `params` for a zoo model or an ONNX file.
pub(super) fn read_workload(t: &TableReader<'_>, dir: &Path) -> Option<Workload> {
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
    let info = model
        .as_deref()
        .and_then(|m| zoo_model(m, model_reader.as_ref()));
    let dims = onnx_dims(t, onnx.as_deref());
    let params = read_params(t, info, onnx.as_deref(), &dims);
    let w = match (model, graph, onnx) {
        (Some(model), None, None) => info.map(|_| Workload::Zoo {
            model,
            params: params.values,
            pos: params.pos.unwrap_or_else(|| t.pos_of("model")),
        }),
        (None, Some(g), None) => graph_file(t, g, &params.values),
        (None, None, Some(path)) => onnx_file(t, path, params.values, &dims),
        (m, g, o) => {
            both_or_neither(t, m.is_some(), g.is_some(), o.is_some());
            None
        }
    };
    t.finish();
    if params.ok { w } else { None }
}

/// The zoo model named `name`, or `None` with the known names reported at
/// `model`.
fn zoo_model(name: &str, at: Option<&ValueReader<'_>>) -> Option<&'static ModelInfo> {
    let info = sim::zoo::models().iter().find(|i| i.name == name);
    if info.is_none() {
        let known: Vec<&str> = sim::zoo::models().iter().map(|i| i.name).collect();
        if let Some(r) = at {
            r.error(format!(
                "unknown model {name:?}; known models: {} (see `tessera models`)",
                known.join(", ")
            ));
        }
    }
    info
}

/// An ONNX model's symbolic dims, as far as they could be read.
enum OnnxDims {
    /// Not read: no ONNX workload, a missing file, or `model` or `graph`
    /// given too (each reported elsewhere).
    Unread,
    /// Read from the file.
    Read(BTreeMap<String, Vec<String>>),
    /// The file cannot be read as ONNX (reported at `onnx`).
    Unreadable,
}

/// An ONNX model's symbolic dims, read from the file so that a parameter
/// naming no dim is reported at its line. A file that cannot be read as
/// ONNX is reported here too, before anything runs.
fn onnx_dims(t: &TableReader<'_>, onnx: Option<&Path>) -> OnnxDims {
    match (onnx, t.has("model") || t.has("graph")) {
        (Some(path), false) if path.is_file() => match agent::load::onnx::symbolic_dims(path) {
            Ok(d) => OnnxDims::Read(d),
            Err(e) => {
                t.error_at("onnx", e.message);
                OnnxDims::Unreadable
            }
        },
        _ => OnnxDims::Unread,
    }
}

/// `[workload.params]` as read.
struct Params {
    /// Each parameter's value as text.
    values: BTreeMap<String, String>,
    /// Where the table is written, if it is.
    pos: Option<Pos>,
    /// False when any parameter was reported.
    ok: bool,
}

/// Reads `[workload.params]`: for a zoo model each key must be one of its
/// parameters; for an ONNX file see [`read_onnx_param`]; other values are
/// kept as text, checked when the graph is built.
fn read_params(
    t: &TableReader<'_>,
    info: Option<&ModelInfo>,
    onnx: Option<&Path>,
    dims: &OnnxDims,
) -> Params {
    let mut params = Params {
        values: BTreeMap::new(),
        pos: None,
        ok: true,
    };
    let Some(p) = t.opt_table("params") else {
        return params;
    };
    p.accept_all();
    params.pos = Some(p.pos());
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
            params.ok = false;
        }
        let reader = ValueReader {
            node: &e.node,
            path: p.field(&e.key),
            sink: p.sink(),
        };
        let value = match onnx {
            Some(path) => read_onnx_param(&e.key, &reader, path, dims),
            None => zoo_param(&reader),
        };
        match value {
            Some(value) => {
                params.values.insert(e.key.clone(), value);
            }
            None => params.ok = false,
        }
    }
    params
}

/// A zoo parameter's value as text: a string, number or boolean, or an
/// array of them (`sizes = [784, 512, 10]`), passed on comma-separated as
/// the command line's `-p sizes=[784,512,10]` is.
fn zoo_param(r: &ValueReader<'_>) -> Option<String> {
    let scalar = |v: &Val| match v {
        Val::Str(s) => Some(s.clone()),
        Val::Int(i) => Some(i.to_string()),
        Val::Float(f) => Some(f.to_string()),
        Val::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let text = match &r.node.val {
        Val::Array(items) if !items.is_empty() => items
            .iter()
            .map(|n| scalar(&n.val))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        v => scalar(v),
    };
    if text.is_none() {
        r.wrong("a string, number or boolean, or a non-empty array of them");
    }
    text
}

/// A graph JSON workload: it takes no parameters and must exist.
fn graph_file(
    t: &TableReader<'_>,
    g: PathBuf,
    params: &BTreeMap<String, String>,
) -> Option<Workload> {
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

/// An ONNX workload: the file must exist and be readable as ONNX.
fn onnx_file(
    t: &TableReader<'_>,
    path: PathBuf,
    params: BTreeMap<String, String>,
    dims: &OnnxDims,
) -> Option<Workload> {
    if !path.is_file() {
        t.error_at(
            "onnx",
            format!("ONNX file {} does not exist", path.display()),
        );
        return None;
    }
    let readable = !matches!(dims, OnnxDims::Unreadable);
    readable.then(|| Workload::Onnx {
        path,
        params,
        pos: t.pos_of("onnx"),
    })
}

/// Reports a workload that names more than one of `model`, `graph` and
/// `onnx`, or none.
fn both_or_neither(t: &TableReader<'_>, model: bool, graph: bool, onnx: bool) {
    if model && graph {
        t.error_at("graph", "give either `model` or `graph`, not both");
    } else if onnx && (model || graph) {
        let other = if model { "model" } else { "graph" };
        t.error_at("onnx", format!("give either `{other}` or `onnx`, not both"));
    } else if !t.has("model") && !t.has("graph") && !t.has("onnx") {
        t.missing("model");
    }
}

/// One `[workload.params]` entry of an ONNX workload, as text: `dtype` a
/// dtype name, `keep_free_ops` and `fuse` booleans, any other key one of the model's
/// symbolic dims (when they could be read) with a positive integer.
fn read_onnx_param(key: &str, r: &ValueReader<'_>, path: &Path, dims: &OnnxDims) -> Option<String> {
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
            let known = match dims {
                OnnxDims::Read(d) => agent::load::onnx::unknown_key_message(&file, key, d),
                OnnxDims::Unread | OnnxDims::Unreadable => None,
            };
            if let Some(m) = known {
                r.error(m);
                return None;
            }
            r.int_in(1, agent::load::onnx::MAX_DIM)
                .map(|v| v.to_string())
        }
    }
}
