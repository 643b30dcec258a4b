//! Reads ONNX model files into tessera's workload graph IR ([`sim::graph::Graph`]).
//!
//! The import runs in three stages, each in its own module:
//! 1. `reader`: size limit, protobuf decode of the vendored schema (`proto`),
//!    opset check, and the tensor and attribute accessors;
//! 2. `import`: one walk over the nodes in file order that infers every value's
//!    shape, propagates small integer constants (shape arithmetic) and lowers
//!    each node that touches an activation to IR ops, fusing what `fuse`
//!    plans (bias epilogues, GELU, transposes as views) and rewriting the op
//!    list after it (column-split projections, shape-only ops dropped);
//! 3. validation of the result by [`sim::graph::Graph::new`].
//!
//! The walk finds each node's handler in the op table, `ops` (one file per op
//! family; [`SUPPORTED_OPS`] is read off it). Handlers build on `value` (what
//! is known of a value, and a node's failure), `lower` (emitting IR ops within
//! the limits, charging parameters) and `cols` (where a projection's columns
//! sit, for the column-split fusion). Pure shape arithmetic (broadcasting,
//! convolution windows, reshape targets, slices) lives in `shape`.
//! `external` reads small integer tensors stored as external data, from a
//! data file confined to the model's folder, or infers them from the graph's
//! `value_info` when the file is absent. `docs/onnx.md` describes the
//! mapping for users.
//!
//! Hostile input is refused, never panicked on, and memory stays bounded: the
//! file size is checked before reading, a scan of the wire format (`scan`)
//! bounds what the protobuf decode allocates before it runs, ranks, node counts
//! and element counts are capped (see the `MAX_*` constants), and no allocation
//! is proportional to a dimension read from the file.

mod cols;
mod external;
mod fuse;
mod import;
mod lower;
mod ops;
pub mod proto;
mod reader;
mod scan;
mod shape;
mod value;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use sim::graph::{DType, Graph};

pub use ops::SUPPORTED_OPS;
pub use scan::{ALLOC_OVERHEAD, DecodeEstimate, MAX_DEPTH};

/// Largest accepted tensor rank.
pub const MAX_RANK: usize = 8;
/// Largest accepted number of nodes in a graph.
pub const MAX_NODES: usize = 1_000_000;
/// Largest accepted element count of any tensor (2^48), so that no byte, MAC
/// or vector-op count of the graph can overflow.
pub const MAX_ELEMENTS: u64 = 1 << 48;
/// Integer tensors up to this many elements have their values propagated (shape
/// arithmetic); larger ones are tracked by shape only.
pub const MAX_VALUE_ELEMENTS: u64 = 4096;

/// Most elements all computed small integer tensors may hold together (about
/// 128 MiB of `i64`): the bound on constant propagation's memory.
pub const MAX_TOTAL_VALUE_ELEMENTS: u64 = 16 << 20;
/// Default limit on the file size: 2 GiB, the protobuf limit for one message.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 2 << 30;
/// Default limit on the memory the protobuf decode may take, as bounded by a
/// scan of the wire format before decoding: 4 GiB, twice the largest accepted
/// file. A fixed cap rather than a multiple of the file size, because honest
/// files already decode to 9–23× their size (an `AttributeProto` is 1,600
/// bytes; the exported models take 2–9 KiB per node, weights in `raw_data`
/// nothing), so 4 GiB holds about 450,000 ResNet-like nodes or 2,000,000
/// BERT-like ones, while no file, however small, makes the decode take more.
pub const DEFAULT_MAX_DECODED_BYTES: u64 = 4 << 30;

/// How to import a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// Values for symbolic dims (e.g. "batch" -> 1, "sequence" -> 128).
    pub dims: BTreeMap<String, u64>,
    /// Element type of the imported graph (every tensor and weight); `None` =
    /// the model's float type (fp32→Fp32, fp16→Fp16, bf16→Bf16).
    pub dtype: Option<DType>,
    /// Keep shape-only ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Cast)
    /// as zero-cost `OpKind::Reshape` ops (true) or fold them away into the
    /// consumers' input shapes (false, default).
    pub keep_free_ops: bool,
    /// Fuse what the zoo models as one op (default true): bias Adds into their
    /// MatMul, Gemm or Conv, GELU's erf and tanh forms into one `gelu`,
    /// transposes into the matmuls that read or write them, and more (see
    /// `docs/onnx.md`, Fusion). False lowers one op per ONNX node.
    pub fuse: bool,
    /// Refuse files larger than this (default 2 GiB).
    pub max_file_bytes: u64,
    /// Refuse files whose decode would take more heap than this (default
    /// 4 GiB), by an upper bound computed from the wire format before
    /// decoding (see [`decode_estimate`]).
    pub max_decoded_bytes: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dims: BTreeMap::new(),
            dtype: None,
            keep_free_ops: false,
            fuse: true,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_decoded_bytes: DEFAULT_MAX_DECODED_BYTES,
        }
    }
}

/// What kind of problem stopped an import (for callers that branch on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// The file is over `max_file_bytes`.
    TooLarge,
    /// The bytes are not an ONNX model (protobuf decode failed, no graph).
    Malformed,
    /// The model's opset or a node's domain is outside what tessera reads.
    Opset,
    /// A graph input has a symbolic dim that `ImportOptions::dims` does not bind.
    UnboundDim,
    /// A node uses an op (or an attribute value) tessera does not import.
    Unsupported,
    /// Shapes, types or values in the model are inconsistent.
    Invalid,
    /// A rank, count or size is over one of the limits.
    Limit,
}

/// A node an error concerns: index in the file, name and op type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRef {
    pub index: usize,
    pub name: String,
    pub op_type: String,
}

/// Why a file could not be imported; displays as one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    /// The file name used in messages.
    pub file: String,
    pub kind: ErrorKind,
    /// The node concerned, if any.
    pub node: Option<NodeRef>,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some(n) = &self.node {
            write!(f, "node {} {:?} ({}): ", n.index, n.name, n.op_type)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ImportError {}

/// Imports the ONNX file at `path`. The file size is checked before it is
/// read; small integer tensors stored as external data are read from their
/// data file in the same folder, if it is there.
pub fn import_file(path: &Path, opts: &ImportOptions) -> Result<Graph, ImportError> {
    let name = file_name(path);
    let bytes = reader::read_file(path, &name, opts.max_file_bytes)?;
    let dir = path.parent().map(|d| {
        if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        }
    });
    import::import(reader::decode(bytes, &name, opts)?, &name, opts, dir)
}

/// Imports an ONNX model held in memory; `name` is the file name used in
/// messages and for the graph's name (its stem). With no folder to look in,
/// no external data file is read (see `docs/onnx.md`, External data).
pub fn import_bytes(bytes: &[u8], name: &str, opts: &ImportOptions) -> Result<Graph, ImportError> {
    reader::check_size(bytes.len() as u64, name, opts.max_file_bytes)?;
    let model = reader::decode(prost::bytes::Bytes::copy_from_slice(bytes), name, opts)?;
    import::import(model, name, opts, None)
}

/// Symbolic dim names used by the model's graph inputs, each with the inputs
/// that use it, for "unbound dim" help text and for listing what a user may
/// bind. Only `opts.max_file_bytes` and `opts.max_decoded_bytes` are used.
pub fn symbolic_dims(
    bytes: &[u8],
    name: &str,
    opts: &ImportOptions,
) -> Result<BTreeMap<String, Vec<String>>, ImportError> {
    reader::check_size(bytes.len() as u64, name, opts.max_file_bytes)?;
    let model = reader::decode(prost::bytes::Bytes::copy_from_slice(bytes), name, opts)?;
    Ok(reader::symbolic_dims(&model))
}

/// [`symbolic_dims`] of the file at `path`.
pub fn symbolic_dims_file(
    path: &Path,
    opts: &ImportOptions,
) -> Result<BTreeMap<String, Vec<String>>, ImportError> {
    let name = file_name(path);
    let bytes = reader::read_file(path, &name, opts.max_file_bytes)?;
    let model = reader::decode(bytes, &name, opts)?;
    Ok(reader::symbolic_dims(&model))
}

/// What decoding the ONNX model held in `bytes` would allocate, from a scan of
/// its wire format that decodes nothing: an upper bound on the decode's peak
/// heap use and the counts behind it. Fails like the import on broken framing,
/// nesting deeper than [`MAX_DEPTH`] and top-level graph lists over
/// [`MAX_NODES`]; `name` is the file name used in messages.
pub fn decode_estimate(bytes: &[u8], name: &str) -> Result<DecodeEstimate, ImportError> {
    reader::estimate(bytes, name)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
