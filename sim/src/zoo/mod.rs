//! The model zoo: workload graphs generated from architecture parameters.
//!
//! Every model is a [`ModelInfo`] (name, summary, documented parameters with
//! defaults) and a function from checked parameters to a [`Graph`]. [`build`]
//! checks the user's parameters against the model's table before anything is
//! built, so a bad parameter is an error, never a panic, and every value the
//! model used (defaults included) is recorded in the graph.
//!
//! Each family lives in its own file: `bert.rs` (BERT and GPT-2, on the blocks in
//! `transformer.rs`), `vit.rs`, `resnet.rs`, `mobilenet.rs` and `small.rs`
//! (cifarnet and a plain MLP). Each model's parameter count is tested against the
//! published figure for its reference implementation.

mod bert;
mod mobilenet;
mod resnet;
mod small;
mod transformer;
mod vit;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

use crate::graph::{BuildError, DType, Graph, GraphBuilder, GraphError};

/// One zoo model's description for `tessera models`.
#[derive(Clone, Copy, Debug)]
pub struct ModelInfo {
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [ParamInfo],
    /// Builds the graph from parameters already checked against `params`.
    build: fn(&mut Args<'_>) -> Result<Graph, ZooError>,
}

/// One parameter of a zoo model: its key, default value (as written on the
/// command line) and what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    pub key: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

/// Why a zoo model could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZooError {
    /// The request is not accepted: an unknown model or parameter, or a bad
    /// value. The message says what is accepted.
    Invalid { message: String },
    /// A model's code misused the graph builder. This is a bug in the zoo,
    /// reported rather than panicked on, so that [`build`] never panics.
    Build(BuildError),
    /// A model built a graph that fails validation: likewise a bug in the zoo.
    Graph {
        model: &'static str,
        error: GraphError,
    },
}

impl fmt::Display for ZooError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZooError::Invalid { message } => f.write_str(message),
            ZooError::Build(e) => {
                write!(f, "internal error, the zoo misused the graph builder: {e}")
            }
            ZooError::Graph { model, error } => write!(
                f,
                "{model}: internal error, the generated graph is invalid: {error}"
            ),
        }
    }
}

impl std::error::Error for ZooError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ZooError::Invalid { .. } => None,
            ZooError::Build(e) => Some(e),
            ZooError::Graph { error, .. } => Some(error),
        }
    }
}

impl From<BuildError> for ZooError {
    fn from(e: BuildError) -> ZooError {
        ZooError::Build(e)
    }
}

/// Every zoo model, in the order `tessera models` lists them.
static MODELS: &[ModelInfo] = &[
    bert::BERT_BASE,
    bert::BERT_LARGE,
    bert::GPT2_SMALL,
    vit::VIT_TI16,
    vit::VIT_S16,
    vit::VIT_B16,
    resnet::RESNET18,
    resnet::RESNET34,
    resnet::RESNET50,
    mobilenet::MOBILENET_V2,
    small::CIFARNET,
    small::MLP,
];

/// Every zoo model, in a stable order.
pub fn models() -> &'static [ModelInfo] {
    MODELS
}

/// Builds zoo model `model` with `params` (keys from its [`ModelInfo::params`];
/// missing keys take their defaults). Unknown models, unknown keys and bad
/// values are errors that name what was wrong and what is accepted.
pub fn build(model: &str, params: &BTreeMap<String, String>) -> Result<Graph, ZooError> {
    let info = MODELS.iter().find(|m| m.name == model).ok_or_else(|| {
        let known: Vec<&str> = MODELS.iter().map(|m| m.name).collect();
        ZooError::Invalid {
            message: format!(
                "unknown model {model:?}; known models: {}",
                known.join(", ")
            ),
        }
    })?;
    if let Some(key) = params
        .keys()
        .find(|k| !info.params.iter().any(|p| p.key == k.as_str()))
    {
        let keys: Vec<&str> = info.params.iter().map(|p| p.key).collect();
        return Err(ZooError::Invalid {
            message: format!(
                "{model} has no parameter {key:?}; its parameters are: {}",
                keys.join(", ")
            ),
        });
    }
    let mut args = Args {
        info,
        given: params,
        used: BTreeMap::new(),
    };
    (info.build)(&mut args)
}

/// The parameters every model takes.
const BATCH: ParamInfo = ParamInfo {
    key: "batch",
    default: "1",
    doc: "inputs processed together (1 to 1024)",
};
const DTYPE: ParamInfo = ParamInfo {
    key: "dtype",
    default: "int8",
    doc: "element type of weights and activations: int8, fp16, bf16 or fp32",
};

/// Upper bounds on sizes. They are far above any published model of these
/// families, and low enough that no MAC, element or byte count (nor a graph
/// total) can overflow `u64`; the largest accepted values of every model are
/// built in a test.
const MAX_BATCH: u64 = 1024;
const MAX_CLASSES: u64 = 1 << 20;
const MAX_IMAGE: u64 = 4096;

/// A model's parameters as given, read through the model's [`ParamInfo`] table.
/// Every value read is remembered and recorded in the graph by [`Args::graph`].
struct Args<'a> {
    info: &'static ModelInfo,
    given: &'a BTreeMap<String, String>,
    used: BTreeMap<&'static str, String>,
}

impl Args<'_> {
    /// The value of `key` as written, or its default. `key` must be in the
    /// model's table; that is a property of the zoo's own code, checked by the
    /// test that builds every model and compares recorded keys with the table.
    fn raw(&self, key: &'static str) -> &str {
        match self.given.get(key) {
            Some(v) => v,
            None => self
                .info
                .params
                .iter()
                .find(|p| p.key == key)
                .map_or("", |p| p.default),
        }
    }

    /// An error about the value of one parameter.
    fn invalid(
        &self,
        key: &str,
        value: impl fmt::Display,
        expected: impl fmt::Display,
    ) -> ZooError {
        ZooError::Invalid {
            message: format!(
                "{}: parameter {key} = {value:?} is invalid: expected {expected}",
                self.info.name,
                value = value.to_string()
            ),
        }
    }

    /// Records the value a model used for `key`, for parameters it parses
    /// itself (e.g. the MLP's list of widths), in canonical form.
    fn record(&mut self, key: &'static str, value: String) {
        self.used.insert(key, value);
    }

    /// A whole number in `range`.
    fn int(&mut self, key: &'static str, range: RangeInclusive<u64>) -> Result<u64, ZooError> {
        let text = self.raw(key).trim().to_string();
        self.int_from(key, &text, range)
    }

    /// Like [`Args::int`], but with a default that depends on other parameters
    /// (e.g. ResNet's image size on its stem).
    fn int_or(
        &mut self,
        key: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<u64, ZooError> {
        match self.given.get(key) {
            Some(v) => {
                let text = v.trim().to_string();
                self.int_from(key, &text, range)
            }
            None => {
                self.used.insert(key, default.to_string());
                Ok(default)
            }
        }
    }

    fn int_from(
        &mut self,
        key: &'static str,
        text: &str,
        range: RangeInclusive<u64>,
    ) -> Result<u64, ZooError> {
        let expected = || format!("a whole number from {} to {}", range.start(), range.end());
        let value: u64 = text
            .parse()
            .map_err(|_| self.invalid(key, text, expected()))?;
        if !range.contains(&value) {
            return Err(self.invalid(key, text, expected()));
        }
        self.used.insert(key, value.to_string());
        Ok(value)
    }

    /// `true` or `false`.
    fn flag(&mut self, key: &'static str) -> Result<bool, ZooError> {
        let text = self.raw(key).trim().to_string();
        let value = match text.as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(self.invalid(key, &text, "true or false")),
        };
        self.used.insert(key, value.to_string());
        Ok(value)
    }

    /// One of `choices`.
    fn choice(
        &mut self,
        key: &'static str,
        choices: &[&'static str],
    ) -> Result<&'static str, ZooError> {
        let text = self.raw(key).trim().to_string();
        let Some(&value) = choices.iter().find(|c| **c == text) else {
            return Err(self.invalid(key, &text, format!("one of {}", choices.join(", "))));
        };
        self.used.insert(key, value.to_string());
        Ok(value)
    }

    /// The `batch` parameter every model takes.
    fn batch(&mut self) -> Result<u64, ZooError> {
        self.int("batch", 1..=MAX_BATCH)
    }

    /// The `dtype` parameter every model takes.
    fn dtype(&mut self) -> Result<DType, ZooError> {
        let text = self.raw("dtype").trim().to_string();
        let dtype = DType::from_name(&text).ok_or_else(|| {
            let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
            self.invalid("dtype", &text, format!("one of {}", names.join(", ")))
        })?;
        self.used.insert("dtype", dtype.name().to_string());
        Ok(dtype)
    }

    /// Starts the model's graph, recording every parameter read so far. Models
    /// read (and so check) all their parameters before they build anything.
    fn graph(&self, dtype: DType) -> GraphBuilder {
        let mut b = GraphBuilder::new(self.info.name, self.info.name, dtype);
        for (key, value) in &self.used {
            b.record_param(key, value);
        }
        b
    }

    /// Validates the finished graph. Failure would be a bug in the zoo, but it
    /// is reported as an error rather than a panic: `build` never panics.
    fn finish(&self, b: GraphBuilder) -> Result<Graph, ZooError> {
        b.finish().map_err(|error| ZooError::Graph {
            model: self.info.name,
            error,
        })
    }
}

#[cfg(test)]
mod tests;
