//! ONNX workloads: the parameters a user gives an imported model (symbolic
//! dim values, `dtype`, `keep_free_ops`, `fuse`), checked the same way for scenario
//! files and command-line flags, and the import itself with messages that say
//! how to fix what is wrong.
//!
//! Parameters travel as text (`key → value`), as zoo parameters do, so that a
//! sweep axis can set a dim exactly as it sets a zoo parameter; the scenario
//! reader checks their TOML types first, where their lines are known.

use std::collections::BTreeMap;
use std::path::Path;

use onnx_import::{ImportOptions, import_file, symbolic_dims_file};
use sim::graph::{DType, Graph};

/// Parameter keys that are not symbolic dims.
pub const OPTION_KEYS: &[&str] = &["dtype", "keep_free_ops", "fuse"];

/// Largest value a symbolic dim may be bound to (the importer refuses any
/// tensor over 2^48 elements anyway; this keeps typos like 10^12 out).
pub const MAX_DIM: u64 = 1 << 32;

/// Whether `model` names an ONNX file (by extension, case-insensitive).
pub fn is_onnx(model: &str) -> bool {
    Path::new(model)
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("onnx"))
}

/// Where parameters were written, for messages that say how to set one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `[workload.params]` of a scenario.
    Scenario,
    /// `-p/--params KEY=VALUE` on the command line.
    Flags,
}

impl Source {
    /// How to bind each of `keys` to a value `N` in this source, as a phrase
    /// completing "bind it …".
    fn bindings(self, keys: &[&str]) -> String {
        match self {
            Source::Scenario => {
                let kv: Vec<String> = keys.iter().map(|k| format!("{k} = N")).collect();
                format!("in [workload.params]: {}", kv.join(", "))
            }
            Source::Flags => {
                let kv: Vec<String> = keys.iter().map(|k| format!("-p {k}=N")).collect();
                format!("with {}", kv.join(" "))
            }
        }
    }
}

/// A problem with one parameter (`key`), or with the model (`key` = `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnnxError {
    pub key: Option<String>,
    pub message: String,
}

impl std::fmt::Display for OnnxError {
    /// The message alone: callers put the key where their user wrote it
    /// (`--params: KEY: …`, or `file:line:col: workload.params.KEY: …`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OnnxError {}

impl OnnxError {
    fn param(key: &str, message: impl Into<String>) -> Self {
        OnnxError {
            key: Some(key.to_string()),
            message: message.into(),
        }
    }

    fn model(message: impl Into<String>) -> Self {
        OnnxError {
            key: None,
            message: message.into(),
        }
    }
}

/// What is wrong with one parameter value written as text, if anything.
pub fn check_value(key: &str, value: &str) -> Result<(), OnnxError> {
    value_problem(key, value).map_err(|m| OnnxError::param(key, m))
}

fn value_problem(key: &str, value: &str) -> Result<(), String> {
    match key {
        "dtype" => DType::from_name(value).map(|_| ()).ok_or_else(|| {
            let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
            format!("expected one of {}, found {value:?}", names.join(", "))
        }),
        "keep_free_ops" | "fuse" => match value {
            "true" | "false" => Ok(()),
            _ => Err(format!("expected true or false, found {value:?}")),
        },
        _ => match value.parse::<u64>() {
            Ok(v) if (1..=MAX_DIM).contains(&v) => Ok(()),
            _ => Err(format!(
                "a symbolic dim's value must be an integer 1 to 2^32, found {value:?}"
            )),
        },
    }
}

/// Import options from parameters as text. Which dims the model has is
/// checked by [`check_dims`].
pub fn options(params: &BTreeMap<String, String>) -> Result<ImportOptions, OnnxError> {
    let mut opts = ImportOptions::default();
    for (key, value) in params {
        check_value(key, value)?;
        match key.as_str() {
            "dtype" => opts.dtype = DType::from_name(value),
            "keep_free_ops" => opts.keep_free_ops = value == "true",
            "fuse" => opts.fuse = value == "true",
            _ => {
                opts.dims
                    .insert(key.clone(), value.parse().expect("checked"));
            }
        }
    }
    Ok(opts)
}

/// The model's symbolic dims (name → graph inputs using it).
pub fn symbolic_dims(path: &Path) -> Result<BTreeMap<String, Vec<String>>, OnnxError> {
    symbolic_dims_file(path, &ImportOptions::default()).map_err(|e| OnnxError::model(e.to_string()))
}

/// A parameter key that is neither an option nor one of the model's symbolic
/// dims: the message lists what may be bound.
pub fn unknown_key_message(
    file: &str,
    key: &str,
    dims: &BTreeMap<String, Vec<String>>,
) -> Option<String> {
    if OPTION_KEYS.contains(&key) || dims.contains_key(key) {
        return None;
    }
    let names: Vec<&str> = dims.keys().map(String::as_str).collect();
    let have = if names.is_empty() {
        "it has no symbolic dims".to_string()
    } else {
        format!("its symbolic dims are: {}", names.join(", "))
    };
    Some(format!(
        "{file} has no symbolic dim {key:?}; {have} (the other parameters are {})",
        OPTION_KEYS.join(" and ")
    ))
}

/// Every key of `opts.dims` is a dim of the model, and every symbolic dim of
/// the model is bound.
pub fn check_dims(
    file: &str,
    opts: &ImportOptions,
    dims: &BTreeMap<String, Vec<String>>,
    source: Source,
) -> Result<(), OnnxError> {
    for key in opts.dims.keys() {
        if let Some(m) = unknown_key_message(file, key, dims) {
            return Err(OnnxError::param(key, m));
        }
    }
    let unbound: Vec<(&String, &Vec<String>)> = dims
        .iter()
        .filter(|(d, _)| !opts.dims.contains_key(*d))
        .collect();
    if unbound.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = unbound
        .iter()
        .map(|(d, inputs)| format!("{d:?} (input {})", inputs.join(", ")))
        .collect();
    let names: Vec<&str> = unbound.iter().map(|(d, _)| d.as_str()).collect();
    let message = if unbound.len() == 1 {
        format!(
            "{file}: symbolic dim {} is not bound; bind it {} (a positive integer)",
            listed[0],
            source.bindings(&names)
        )
    } else {
        format!(
            "{file}: symbolic dims {} are not bound; bind them {} (positive integers)",
            listed.join(", "),
            source.bindings(&names)
        )
    };
    Err(OnnxError::model(message))
}

/// Imports the ONNX file at `path` with the given parameters: checks the
/// values, the dim names against the model, then imports.
pub fn import(
    path: &Path,
    params: &BTreeMap<String, String>,
    source: Source,
) -> Result<Graph, OnnxError> {
    let opts = options(params)?;
    let file = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let dims = symbolic_dims(path)?;
    check_dims(&file, &opts, &dims, source)?;
    import_file(path, &opts).map_err(|e| OnnxError::model(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_by_key() {
        assert!(check_value("batch", "1").is_ok());
        assert!(check_value("batch", "0").is_err());
        assert!(check_value("batch", "x").is_err());
        assert!(check_value("dtype", "int8").is_ok());
        assert!(check_value("dtype", "int4").is_err());
        assert!(check_value("keep_free_ops", "true").is_ok());
        assert!(check_value("keep_free_ops", "1").is_err());
        assert!(check_value("fuse", "false").is_ok());
        assert!(check_value("fuse", "no").is_err());
    }

    #[test]
    fn unbound_dims_say_how_to_bind_them() {
        let dims: BTreeMap<String, Vec<String>> = [
            ("batch".to_string(), vec!["input_ids".to_string()]),
            ("sequence".to_string(), vec!["input_ids".to_string()]),
        ]
        .into();
        let mut opts = ImportOptions::default();
        opts.dims.insert("batch".into(), 1);
        let e = check_dims("m.onnx", &opts, &dims, Source::Scenario).unwrap_err();
        assert!(
            e.message
                .contains("bind it in [workload.params]: sequence = N"),
            "{}",
            e.message
        );
        let e = check_dims("m.onnx", &opts, &dims, Source::Flags).unwrap_err();
        assert!(e.message.contains("-p sequence=N"), "{}", e.message);
        opts.dims.insert("seq".into(), 1);
        let e = check_dims("m.onnx", &opts, &dims, Source::Flags).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("seq"));
        assert!(e.message.contains("batch, sequence"), "{}", e.message);
    }
}
