//! Tessera graph JSON: the on-disk form of a [`Graph`] (its [`GraphFile`],
//! versioned by [`GRAPH_FORMAT_VERSION`]), read with the same validation as
//! every other graph, and written with a stable field order. A file may
//! leave out the fields that follow from the others (`derive.rs`); they are
//! filled in before validation, and checked by it when given.

use std::fmt;

use super::derive::GraphEntry;
use super::{GRAPH_FORMAT_VERSION, Graph, GraphError, GraphFile};

/// Why graph JSON could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphJsonError {
    /// The text is not graph JSON (syntax, a missing or unknown field); the
    /// parser's message, with line and column.
    Json { message: String },
    /// The file's `format_version` is not [`GRAPH_FORMAT_VERSION`].
    Version { found: u32 },
    /// The graph was read but is not valid.
    Invalid(GraphError),
}

impl fmt::Display for GraphJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphJsonError::Json { message } => f.write_str(message),
            GraphJsonError::Version { found } => write!(
                f,
                "format_version: this build reads version {GRAPH_FORMAT_VERSION}, found {found}"
            ),
            GraphJsonError::Invalid(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for GraphJsonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GraphJsonError::Invalid(e) => Some(e),
            _ => None,
        }
    }
}

impl Graph {
    /// Parses and validates tessera graph JSON, computing the derived
    /// fields a file leaves out.
    pub fn from_json(text: &str) -> Result<Graph, GraphJsonError> {
        let entry: GraphEntry = serde_json::from_str(text).map_err(|e| GraphJsonError::Json {
            message: e.to_string(),
        })?;
        if entry.format_version != GRAPH_FORMAT_VERSION {
            return Err(GraphJsonError::Version {
                found: entry.format_version,
            });
        }
        let file: GraphFile = entry
            .complete()
            .map_err(|issues| GraphJsonError::Invalid(GraphError { issues }))?;
        Graph::new(file).map_err(GraphJsonError::Invalid)
    }

    /// Serialises to pretty tessera graph JSON (stable field order).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.file).expect("graph serialises");
        text.push('\n');
        text
    }
}
