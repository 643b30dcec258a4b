//! The errors of the agent library, each a typed value whose message names
//! what is wrong and where (file, key, method). The command line turns them
//! into one line on stderr and exit code 2; a library user can match on them.

use std::fmt;
use std::path::PathBuf;

use sim::config::Diagnostics;
use sim::zoo::ZooError;

use crate::load::onnx::OnnxError;

/// A problem loading a hardware spec or a workload.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    NotUtf8 {
        path: PathBuf,
        source: std::string::FromUtf8Error,
    },
    /// A hardware spec with every problem found in it (each with its line,
    /// column and field).
    Spec(Diagnostics),
    /// A graph JSON file that does not parse or validate.
    GraphJson {
        path: PathBuf,
        error: sim::graph::GraphJsonError,
    },
    /// A zoo model that does not exist or a parameter it refuses.
    Zoo(ZooError),
    /// An ONNX workload whose file does not exist.
    NoOnnxFile(PathBuf),
    /// An ONNX parameter (`key` set) or model (`key` unset) the import refuses.
    Onnx(OnnxError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Read { path, source } => {
                write!(f, "{}: cannot read: {source}", path.display())
            }
            LoadError::NotUtf8 { path, source } => {
                write!(f, "{}: not UTF-8 text: {source}", path.display())
            }
            LoadError::Spec(d) => write!(f, "{d}"),
            LoadError::GraphJson { path, error } => write!(f, "{}: {error}", path.display()),
            LoadError::Zoo(e) => write!(f, "{e}"),
            LoadError::NoOnnxFile(path) => write!(f, "{}: no such ONNX file", path.display()),
            LoadError::Onnx(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Read { source, .. } => Some(source),
            LoadError::NotUtf8 { source, .. } => Some(source),
            LoadError::Spec(d) => Some(d),
            LoadError::Zoo(e) => Some(e),
            LoadError::Onnx(e) => Some(e),
            LoadError::GraphJson { error, .. } => Some(error),
            LoadError::NoOnnxFile(_) => None,
        }
    }
}

/// Why a search could not run or could not finish.
#[derive(Clone, Debug, PartialEq)]
pub enum SearchError {
    /// No placement satisfies the constraints; `reason` names the
    /// constraint and the ops or chiplets that make it impossible.
    NoValidPlacement { reason: String },
    /// Repair stopped at its node limit without a valid placement near the
    /// starting point a method needs (`near` names it).
    NoStart { near: String },
    /// The simulator refused the problem.
    Simulator(sim::SimError),
    /// No method of this name is registered.
    UnknownMethod { name: String, known: String },
    /// A method option that is not the method's, or outside its domain.
    BadOption {
        method: String,
        option: String,
        message: String,
    },
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchError::NoValidPlacement { reason } => write!(f, "no valid placement: {reason}"),
            SearchError::NoStart { near } => write!(
                f,
                "repair reached its node limit without a valid placement near the {near}"
            ),
            SearchError::Simulator(e) => write!(f, "{e}"),
            SearchError::UnknownMethod { name, known } => {
                write!(f, "unknown method {name:?}; methods: {known}")
            }
            SearchError::BadOption {
                method,
                option,
                message,
            } => write!(f, "method {method}: option {option}: {message}"),
        }
    }
}

impl std::error::Error for SearchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SearchError::Simulator(e) => Some(e),
            _ => None,
        }
    }
}
