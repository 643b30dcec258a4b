//! The command's view of loading (the library call is `agent::load`): a
//! `--hw` file or shipped spec name, and a `--model` argument with its `-p KEY=VALUE` flags, with
//! messages that name the flag a refused value came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// The spec file a `--hw` argument names: the file itself when it exists,
/// else the spec of that name among those `tessera specs` lists (its file
/// stem, `simba_6x6` for `simba_6x6.toml`, or its `name`). Neither is one
/// line naming the flag, with the nearest names.
pub fn hw_path(arg: &Path) -> Result<PathBuf, UserError> {
    find_spec(arg).map_err(|e| UserError::new(format!("--hw {}", e.message)))
}

/// [`hw_path`] without the flag: the spec file `arg` names (a file, or a
/// shipped spec's name), or one line `ARG: no such file...` with the
/// nearest names (the Python package's `Spec.load`).
pub fn find_spec(arg: &Path) -> Result<PathBuf, UserError> {
    if arg.is_file() {
        return Ok(arg.to_path_buf());
    }
    let dir = crate::inspect::spec_dir(None);
    let wanted = arg.to_string_lossy();
    let specs = named_specs(&dir);
    // A plain word may name a spec; a path (or a `.toml` name) may not.
    let is_word = arg.components().count() == 1 && arg.extension().is_none();
    if is_word
        && let Some((_, path)) = specs
            .iter()
            .find(|(names, _)| names.iter().any(|n| *n == wanted))
    {
        return Ok(path.clone());
    }
    let stem = arg
        .file_stem()
        .map_or_else(|| wanted.to_string(), |s| s.to_string_lossy().into_owned());
    let mut names: Vec<&str> = specs
        .iter()
        .flat_map(|(names, _)| names.iter().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    let near = nearest(&stem, &names);
    let what = if is_word {
        format!(
            "no such file, and no spec of that name in {}",
            dir.display()
        )
    } else {
        "no such file".to_string()
    };
    let hint = if near.is_empty() {
        "`tessera specs` lists the specs".to_string()
    } else {
        format!(
            "near names: {} (`tessera specs` lists them all)",
            near.join(", ")
        )
    };
    Err(UserError::new(format!("{wanted}: {what}; {hint}")))
}

/// The specs of `dir`, sorted by file: each file's names (its stem, and
/// its `name` if that differs) and path. Files that are not readable TOML
/// with a `[chiplet_types]` table are left out.
fn named_specs(dir: &Path) -> Vec<(Vec<String>, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            let root = sim::config::parse(&text, &path.display().to_string()).ok()?;
            root.get("chiplet_types")?;
            let mut names = vec![path.file_stem()?.to_string_lossy().into_owned()];
            if let Some(sim::config::Val::Str(n)) = root.get("name").map(|n| &n.val)
                && *n != names[0]
            {
                names.push(n.clone());
            }
            Some((names, path))
        })
        .collect()
}

/// Up to three of `names` nearest to `word` by edit distance, at most a
/// third of the word's length away (or containing it, or contained in it).
fn nearest<'a>(word: &str, names: &[&'a str]) -> Vec<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    let mut scored: Vec<(usize, &str)> = names
        .iter()
        .map(|&n| (edit_distance(word, n), n))
        .filter(|&(d, n)| d <= limit || (word.len() >= 3 && (n.contains(word) || word.contains(n))))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diag + usize::from(ca != cb));
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("simba6x6", "simba_6x6"), 1);
        assert_eq!(edit_distance("mesh_4x4", "mesh_4x4"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn near_names_are_close_or_contain_the_word() {
        let names = ["edgetpu_ring4", "edgetpu_ring8", "mesh_4x4", "simba_6x6"];
        assert_eq!(nearest("simba6x6", &names), ["simba_6x6"]);
        assert_eq!(
            nearest("edgetpu", &names),
            ["edgetpu_ring4", "edgetpu_ring8"]
        );
        assert!(nearest("zzz", &names).is_empty());
    }
}
