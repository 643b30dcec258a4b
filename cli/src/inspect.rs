//! The inspection commands: `check`, `specs`, `models`, `methods`, `graph show` and
//! `graph export`. Each returns the text to print, or a [`UserError`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sim::graph::Graph;
use sim::spec::HwSpec;
use sim::{config, zoo};

use agent::LoadError;
use agent::load::{self, Workload};

use crate::error::UserError;
use crate::files::read_text;
use crate::load::{load_spec, load_workload_flags};
use crate::table::{Align, Table, bytes, commas, si};

/// What a file holds, judged by its content.
enum FileKind {
    HwSpec,
    Scenario,
    Graph,
}

fn kind_of(path: &Path, text: &str) -> Result<FileKind, UserError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return Ok(FileKind::Graph);
    }
    let root = config::parse(text, &path.display().to_string())
        .map_err(|d| UserError::new(d.to_string()))?;
    if root.get("chiplet_types").is_some() || root.get("chiplets").is_some() {
        Ok(FileKind::HwSpec)
    } else if root.get("task").is_some() || root.get("hardware").is_some() {
        Ok(FileKind::Scenario)
    } else {
        Err(UserError::new(format!(
            "{}: not a hardware spec (no [chiplet_types] or [[chiplets]]), a scenario (no [task]) nor a graph JSON file",
            path.display()
        )))
    }
}

/// `tessera check`: validates every file and reports each one.
pub fn check(files: &[PathBuf]) -> Result<String, UserError> {
    let mut out = String::new();
    let mut errors = Vec::new();
    for path in files {
        let is_onnx = agent::load::onnx::is_onnx(&path.display().to_string());
        let result = if is_onnx {
            check_onnx(path)
        } else {
            check_text_file(path)
        };
        match result {
            Ok(line) => {
                out.push_str(&line);
                out.push('\n');
            }
            Err(e) => errors.push(e.message),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        // What passed is still worth seeing; the failures follow as the error.
        Err(UserError::new(errors.join("\n")).after(out))
    }
}

/// `tessera check` of an ONNX file: a model without symbolic dims is
/// imported; one with them is read and its dims listed, since importing
/// needs their values.
fn check_onnx(path: &Path) -> Result<String, UserError> {
    if !path.is_file() {
        return Err(LoadError::NoOnnxFile(path.to_path_buf()).into());
    }
    let dims = load::onnx::symbolic_dims(path).map_err(|e| UserError::new(e.message))?;
    if dims.is_empty() {
        let g = load_workload_flags(&Workload::Onnx {
            path: path.to_path_buf(),
            params: BTreeMap::new(),
            source: load::onnx::Source::Flags,
        })?;
        let t = g.totals();
        return Ok(format!(
            "ok  {}: ONNX model {:?}: {} ops, {} params, {} MACs",
            path.display(),
            g.name(),
            t.ops,
            commas(t.params),
            commas(t.macs)
        ));
    }
    let names: Vec<String> = dims.keys().map(|d| format!("-p {d}=N")).collect();
    Ok(format!(
        "ok  {}: ONNX model with symbolic dims {}; to import it, bind them with {}",
        path.display(),
        dims.keys().cloned().collect::<Vec<_>>().join(", "),
        names.join(" ")
    ))
}

/// `tessera check` of a text file (spec, scenario or graph JSON).
fn check_text_file(path: &Path) -> Result<String, UserError> {
    read_text(path).and_then(|text| match kind_of(path, &text)? {
        FileKind::HwSpec => {
            let spec = HwSpec::from_toml_str(&text, &path.display().to_string())
                .map_err(|d| UserError::new(d.to_string()))?;
            let s = spec.summary();
            Ok(format!(
                "ok  {}: hardware spec {:?}: {} chiplets, {}, {} SRAM, {:.1} peak TOPS",
                path.display(),
                spec.name,
                s.n_chiplets,
                s.topology,
                bytes(s.total_sram_kib * 1024),
                s.peak_tops
            ))
        }
        FileKind::Scenario => {
            let (s, points) = crate::run::check_scenario(path)?;
            Ok(format!(
                "ok  {}: scenario {:?}: task {}{}",
                path.display(),
                s.name,
                s.task.kind(),
                if points > 1 {
                    format!(", {points} grid points")
                } else {
                    String::new()
                }
            ))
        }
        FileKind::Graph => {
            let g = Graph::from_json(&text)
                .map_err(|e| UserError::new(format!("{}: {e}", path.display())))?;
            let t = g.totals();
            Ok(format!(
                "ok  {}: graph {:?}: {} ops, {} params, {} MACs",
                path.display(),
                g.name(),
                t.ops,
                commas(t.params),
                commas(t.macs)
            ))
        }
    })
}

/// The spec directory: `dir` if given, else `./hw_specs`, else the one in the
/// source tree tessera was built from.
fn spec_dir(dir: Option<&Path>) -> PathBuf {
    if let Some(d) = dir {
        return d.to_path_buf();
    }
    let local = PathBuf::from("hw_specs");
    if local.is_dir() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("hw_specs")
}

/// `tessera specs`: one line per spec file, sorted by file name.
pub fn specs(dir: Option<&Path>) -> Result<String, UserError> {
    let dir = spec_dir(dir);
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| UserError::new(format!("{}: cannot list: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(UserError::new(format!(
            "{}: no hardware specs (*.toml) here",
            dir.display()
        )));
    }
    let mut table = Table::new(&[
        ("file", Align::Left),
        ("name", Align::Left),
        ("chips", Align::Right),
        ("topology", Align::Left),
        ("links", Align::Right),
        ("routers", Align::Left),
        ("SRAM total", Align::Right),
        ("peak TOPS", Align::Right),
        ("off-package", Align::Left),
    ]);
    let mut errors = Vec::new();
    for path in &paths {
        match load_spec(path) {
            Ok(spec) => {
                let s = spec.summary();
                let memory = match &spec.memory {
                    None => "-".to_string(),
                    Some(m) => format!(
                        "{} MiB{}",
                        commas(m.capacity_mib),
                        if m.weight_streaming {
                            ", streaming"
                        } else {
                            ""
                        }
                    ),
                };
                let routers = match &spec.interconnect.buffers {
                    None => "ideal".to_string(),
                    Some(b) => format!(
                        "{} VCs x {} flits of {} B",
                        b.virtual_channels, b.buffer_flits, b.flit_bytes
                    ),
                };
                table.row(vec![
                    path.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                    spec.name.clone(),
                    s.n_chiplets.to_string(),
                    s.topology,
                    s.n_links.to_string(),
                    routers,
                    bytes(s.total_sram_kib * 1024),
                    format!("{:.1}", s.peak_tops),
                    memory,
                ]);
            }
            Err(e) => errors.push(e.message),
        }
    }
    if errors.is_empty() {
        Ok(table.render())
    } else {
        Err(UserError::new(errors.join("\n")).after(table.render()))
    }
}

/// `tessera models`: the zoo with parameters and defaults.
pub fn models() -> String {
    let mut out = String::new();
    for m in zoo::models() {
        out.push_str(&format!("{}  {}\n", m.name, m.summary));
        for p in m.params {
            out.push_str(&format!("    {}={}  {}\n", p.key, p.default, p.doc));
        }
    }
    out
}

/// `tessera methods`: the partition methods with their options, domains and
/// defaults, from the registry.
pub fn methods() -> String {
    let mut out = String::new();
    for m in agent::partition::registry::METHODS {
        out.push_str(&format!("{}  {}\n", m.name, m.summary));
        for o in m.options {
            out.push_str(&format!(
                "    {}={}  {} ({})\n",
                o.name,
                o.default,
                o.summary,
                o.kind.describe()
            ));
        }
    }
    out
}

/// `tessera graph show`: totals, then (optionally) one row per op.
pub fn show_graph(graph: &Graph, ops: bool) -> String {
    let t = graph.totals();
    let mut out = String::new();
    let params: Vec<String> = graph
        .params()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    out.push_str(&format!(
        "graph   {} (model {})\n",
        graph.name(),
        graph.model()
    ));
    out.push_str(&format!("params  {}\n", params.join(" ")));
    out.push_str(&format!("ops     {}\n", t.ops));
    out.push_str(&format!(
        "parameters    {} ({})\n",
        commas(t.params),
        si(t.params)
    ));
    out.push_str(&format!(
        "MACs          {} ({})\n",
        commas(t.macs),
        si(t.macs)
    ));
    out.push_str(&format!(
        "weight bytes  {} ({})\n",
        commas(t.weight_bytes),
        bytes(t.weight_bytes)
    ));
    out.push_str(&format!(
        "activations   {} ({}) produced per inference\n",
        commas(t.activation_bytes),
        bytes(t.activation_bytes)
    ));
    if ops {
        let mut table = Table::new(&[
            ("id", Align::Right),
            ("name", Align::Left),
            ("kind", Align::Left),
            ("output shape", Align::Left),
            ("MACs", Align::Right),
            ("params", Align::Right),
            ("weight bytes", Align::Right),
        ]);
        for op in graph.ops() {
            let kind = match &op.kind {
                sim::graph::OpKind::Elementwise { func } => func.name(),
                k => k.name(),
            };
            table.row(vec![
                op.id.to_string(),
                op.name.clone(),
                kind.to_string(),
                format!("{:?}", op.output_shape),
                commas(op.macs),
                commas(op.params),
                commas(op.weight_bytes),
            ]);
        }
        out.push('\n');
        out.push_str(&table.render());
    }
    out
}
