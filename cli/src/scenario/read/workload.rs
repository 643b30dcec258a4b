//! Reading `[workload]`: a zoo model (name and parameter keys checked where
//! written), a graph JSON file, or an ONNX file (its symbolic dims read from
//! the file, so a parameter naming no dim is reported at its line).

use std::collections::BTreeMap;
use std::path::Path;

use sim::config::{TableReader, Val, ValueReader};

use crate::scenario::{Workload, clean};

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
    let info = model.as_deref().and_then(|m| {
        let info = sim::zoo::models().iter().find(|i| i.name == m);
        if info.is_none() {
            let known: Vec<&str> = sim::zoo::models().iter().map(|i| i.name).collect();
            if let Some(r) = &model_reader {
                r.error(format!(
                    "unknown model {m:?}; known models: {} (see `tessera models`)",
                    known.join(", ")
                ));
            }
        }
        info
    });
    // An ONNX model's symbolic dims, read from the file so that a parameter
    // naming no dim is reported at its line. A file that cannot be read as
    // ONNX is reported here too, before anything runs.
    let mut onnx_ok = true;
    let onnx_dims = match (&onnx, t.has("model") || t.has("graph")) {
        (Some(path), false) if path.is_file() => match agent::load::onnx::symbolic_dims(path) {
            Ok(d) => Some(d),
            Err(e) => {
                t.error_at("onnx", e.message);
                onnx_ok = false;
                None
            }
        },
        _ => None,
    };
    let mut params = BTreeMap::new();
    let mut ok = true;
    let mut params_pos = None;
    if let Some(p) = t.opt_table("params") {
        p.accept_all();
        params_pos = Some(p.pos());
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
                ok = false;
            }
            let reader = ValueReader {
                node: &e.node,
                path: p.field(&e.key),
                sink: p.sink(),
            };
            if let Some(path) = &onnx {
                match read_onnx_param(&e.key, &reader, path, onnx_dims.as_ref()) {
                    Some(value) => {
                        params.insert(e.key.clone(), value);
                    }
                    None => ok = false,
                }
                continue;
            }
            let value = match &e.node.val {
                Val::Str(s) => s.clone(),
                Val::Int(i) => i.to_string(),
                Val::Float(f) => f.to_string(),
                Val::Bool(b) => b.to_string(),
                _ => {
                    reader.wrong("a string, number or boolean");
                    ok = false;
                    continue;
                }
            };
            params.insert(e.key.clone(), value);
        }
    }
    let w = match (model, graph, onnx) {
        (Some(model), None, None) => info.map(|_| Workload::Zoo {
            model,
            params,
            pos: params_pos.unwrap_or_else(|| t.pos_of("model")),
        }),
        (None, Some(g), None) => {
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
        (None, None, Some(path)) => {
            if !path.is_file() {
                t.error_at(
                    "onnx",
                    format!("ONNX file {} does not exist", path.display()),
                );
                None
            } else {
                onnx_ok.then(|| Workload::Onnx {
                    path,
                    params,
                    pos: t.pos_of("onnx"),
                })
            }
        }
        (Some(_), Some(_), _) => {
            t.error_at("graph", "give either `model` or `graph`, not both");
            None
        }
        (m, g, Some(_)) if m.is_some() || g.is_some() => {
            let other = if m.is_some() { "model" } else { "graph" };
            t.error_at("onnx", format!("give either `{other}` or `onnx`, not both"));
            None
        }
        _ => {
            if !t.has("model") && !t.has("graph") && !t.has("onnx") {
                t.missing("model");
            }
            None
        }
    };
    t.finish();
    if ok { w } else { None }
}

/// One `[workload.params]` entry of an ONNX workload, as text: `dtype` a
/// dtype name, `keep_free_ops` and `fuse` booleans, any other key one of the model's
/// symbolic dims (when they could be read) with a positive integer.
fn read_onnx_param(
    key: &str,
    r: &ValueReader<'_>,
    path: &Path,
    dims: Option<&BTreeMap<String, Vec<String>>>,
) -> Option<String> {
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
            if let Some(m) =
                dims.and_then(|d| agent::load::onnx::unknown_key_message(&file, key, d))
            {
                r.error(m);
                return None;
            }
            r.int_in(1, agent::load::onnx::MAX_DIM)
                .map(|v| v.to_string())
        }
    }
}
