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
    if looks_like_json(path, text) {
        return Ok(FileKind::Graph);
    }
    let root = config::parse(text, &path.display().to_string())
        .map_err(|d| UserError::new(d.to_string()))?;
    toml_kind(path, &root)
}

/// Whether a file is JSON by its content: it begins (after white space)
/// with `{`, or with `[` not followed by a TOML table header's bare key
/// (`[chiplet_types.a]`, `[[chiplets]]`); or it is named `*.json`.
fn looks_like_json(path: &Path, text: &str) -> bool {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || path.extension().is_some_and(|x| x == "json") {
        return true;
    }
    let Some(rest) = trimmed.strip_prefix('[') else {
        return false;
    };
    let after = rest.trim_start_matches(['[', ' ', '\t']);
    !after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '-')
        || serde_json::from_str::<serde_json::Value>(trimmed).is_ok()
}

/// What a TOML file holds, judged by its top-level keys.
fn toml_kind(path: &Path, root: &config::Node) -> Result<FileKind, UserError> {
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
                "ok  {}: hardware spec {:?}: {}, {}, {} SRAM, {:.1} peak TOPS",
                path.display(),
                spec.name,
                chiplets(s.n_chiplets),
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
            if text
                .trim_start_matches('\u{feff}')
                .trim_start()
                .starts_with('[')
            {
                return Err(UserError::new(format!(
                    "{}: read as JSON (it begins with '['): a JSON array, but a graph file is \
                     one JSON object ({{\"format_version\": ..., \"ops\": [...]}})",
                    path.display()
                )));
            }
            let g = Graph::from_json(&text).map_err(|e| match e {
                // Say which format was read: the file was judged JSON.
                sim::graph::GraphJsonError::Json { message } => UserError::new(format!(
                    "{}: read as JSON (a graph file): {message}",
                    path.display()
                )),
                e => UserError::new(format!("{}: {e}", path.display())),
            })?;
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
pub fn spec_dir(dir: Option<&Path>) -> PathBuf {
    if let Some(d) = dir {
        return d.to_path_buf();
    }
    let local = PathBuf::from("hw_specs");
    if local.is_dir() {
        return local;
    }
    crate::scenario::clean(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../hw_specs"))
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
    let mut skipped = Vec::new();
    let mut n_specs = 0;
    for path in &paths {
        if let Some(what) = not_a_spec(path) {
            skipped.push(format!(
                "note: skipped {}: {what}, not a hardware spec",
                path.display()
            ));
            continue;
        }
        match load_spec(path) {
            Ok(spec) => {
                n_specs += 1;
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
    let mut out = table.render();
    for note in &skipped {
        out.push_str(note);
        out.push('\n');
    }
    if errors.is_empty() && n_specs == 0 {
        return Err(UserError::new(format!(
            "{}: no hardware specs here ({} other TOML file{} skipped)",
            dir.display(),
            skipped.len(),
            if skipped.len() == 1 { "" } else { "s" }
        ))
        .after(skipped.iter().map(|n| format!("{n}\n")).collect()));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(UserError::new(errors.join("\n")).after(out))
    }
}

/// What a `*.toml` file in a spec directory holds when it is readable TOML
/// but not a hardware spec (a scenario, a run's `scenario.resolved.toml`,
/// any other TOML); `None` for a spec, or for a file that cannot be read or
/// parsed (then reading it as a spec reports why).
fn not_a_spec(path: &Path) -> Option<&'static str> {
    let text = std::fs::read_to_string(path).ok()?;
    let root = config::parse(&text, &path.display().to_string()).ok()?;
    match toml_kind(path, &root) {
        Ok(FileKind::HwSpec) => None,
        Ok(FileKind::Scenario) => Some("a scenario"),
        Ok(FileKind::Graph) | Err(_) => Some("another TOML file"),
    }
}

/// "1 chiplet", "36 chiplets": a package's size in words.
pub fn chiplets(n: usize) -> String {
    if n == 1 {
        "1 chiplet".to_string()
    } else {
        format!("{n} chiplets")
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
