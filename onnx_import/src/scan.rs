//! The scan of the protobuf wire format that runs before the decode: it walks
//! every message of a `ModelProto` at every depth without decoding anything and
//! returns an upper bound on the heap memory prost's decode will allocate, the
//! graph's top-level list lengths, and refuses nesting deeper than prost's own
//! recursion limit.
//!
//! Rationale: protobuf lets a file of N bytes describe about N/2 empty messages
//! or N one-byte numbers, which prost decodes into structs of up to 1,600 bytes
//! (`AttributeProto`) or 8-byte `Vec` slots, so a small hostile file could make
//! the decode take over 1,000× its size. The scan costs one pass over the bytes, allocates nothing
//! and recurses at most [`MAX_DEPTH`] levels.
//!
//! The bound follows what prost 0.14 does (`prost::encoding`):
//! - a repeated field is a `Vec` filled one `push` at a time, so its capacity is
//!   `max(min_cap, n.next_power_of_two())` (the standard library's amortized
//!   growth; `min_cap` is 8, 4 or 1 by element size), and while it grows the
//!   old and new buffers are both live for one moment: the largest such
//!   old buffer is added once, since the decode is single-threaded;
//! - a string or bytes field (`String` / `Vec<u8>`) is one buffer of
//!   `max(8, len)` bytes (none when empty); a singular one seen again in the
//!   same message is replaced through `reserve`, which may double, so every
//!   later occurrence counts `max(8, 2 * len)`;
//! - `TensorProto.raw_data` is a `bytes::Bytes` slice of the input: no copy;
//! - a singular message lives inside its parent's struct; a boxed one
//!   (`TypeProto`'s sequence, map and optional types) is one more allocation;
//! - every allocation adds [`ALLOC_OVERHEAD`] for the allocator's header and
//!   rounding, so the bound speaks for the process's memory, not only for the
//!   requested sizes.
//!
//! Every occurrence of a field is counted even where prost merges or replaces
//! it, so the bound holds for any byte string: where the file is malformed,
//! prost stops earlier and allocates less. `tests/decode_memory.rs` measures
//! the decode's peak with a counting allocator against this bound.

use std::mem::size_of;

use crate::proto::{self, tensor_proto, tensor_shape_proto, type_proto};

/// Deepest accepted nesting of messages below the `ModelProto` (a subgraph in
/// a node's attribute is three levels below its graph). Prost refuses deeper
/// files itself (`RECURSION_LIMIT`); the scan refuses them first with a clear
/// message, and its own recursion stays this shallow.
pub const MAX_DEPTH: u32 = 100;

/// Bytes added per heap allocation for the allocator's header and size
/// rounding (glibc's malloc: 8 bytes of header, 16-byte granules).
pub const ALLOC_OVERHEAD: u64 = 16;

/// Fixed allowance for prost's error path (a boxed error with a field stack
/// up to `MAX_DEPTH` entries) and the shared header `bytes` allocates when the
/// input buffer is first sliced.
const BASE_BYTES: u64 = 8 << 10;

/// What the decode of a file would allocate, by the scan of its wire format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeEstimate {
    /// Upper bound on the heap bytes prost's decode allocates (its peak), on
    /// top of the file's own bytes.
    pub bytes: u64,
    /// Embedded messages at any depth.
    pub messages: u64,
    /// Elements of repeated number fields (dims, ints, floats, `*_data`).
    pub numbers: u64,
    /// String and bytes values (names, `strings`, `string_data`, …), not
    /// counting `raw_data`, which is not copied.
    pub strings: u64,
}

pub enum ScanError {
    /// The wire format is broken at this byte.
    Wire(usize),
    /// Messages nest deeper than [`MAX_DEPTH`]; the byte where the first
    /// too-deep message starts.
    TooDeep(usize),
}

/// The result of a scan: the estimate and the lengths of the top-level graph's
/// lists (nodes, initializers, inputs, outputs, value infos, sparse
/// initializers; summed over every occurrence of `ModelProto.graph`, since
/// prost merges them).
pub struct Scan {
    pub estimate: DecodeEstimate,
    pub top_counts: [u64; TOP_FIELDS.len()],
}

/// `GraphProto` fields counted for the top-level graph, with their names.
pub const TOP_FIELDS: [(u64, &str); 6] = [
    (1, "nodes"),
    (5, "initializers"),
    (11, "inputs"),
    (12, "outputs"),
    (13, "value infos"),
    (15, "sparse initializers"),
];

/// Scans a serialized `ModelProto`.
pub fn scan(buf: &[u8]) -> Result<Scan, ScanError> {
    let mut s = Scanner::default();
    s.message(Msg::Model, buf, 0, 0, true, false)?;
    let mut estimate = s.estimate;
    estimate.bytes = s
        .heap
        .saturating_add(s.transient)
        .saturating_add(BASE_BYTES);
    Ok(Scan {
        estimate,
        top_counts: s.top_counts,
    })
}

/// The ONNX message types, each with its generated struct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    Segment,
    SparseTensor,
    ValueInfo,
    Type,
    TypeTensor,
    TypeSequence,
    TypeMap,
    TypeOptional,
    TypeSparseTensor,
    TypeOpaque,
    TensorShape,
    Dimension,
    OperatorSetId,
    StringStringEntry,
    TensorAnnotation,
    TrainingInfo,
    Function,
    DeviceConfiguration,
    NodeDeviceConfiguration,
    ShardingSpec,
    IntIntListEntry,
    ShardedDim,
    SimpleShardedDim,
}

/// How a field is held in the generated struct, which decides what decoding
/// one occurrence of it allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    /// A singular number or enum, or a field the schema does not have: nothing.
    Plain,
    /// A singular `String` / `Vec<u8>`.
    Str,
    /// A repeated `String` / `Vec<u8>`: a slot in a `Vec` and a buffer each.
    Strs,
    /// `bytes::Bytes` sliced from the input buffer.
    Shared,
    /// A repeated number, `width` bytes in memory; `fixed` when the wire
    /// holds it in `width` bytes too (float, double), else as a varint.
    Nums { width: u64, fixed: bool },
    /// A singular message inside its parent's struct.
    Msg(Msg),
    /// A singular message in a `Box`.
    Boxed(Msg),
    /// A repeated message: a slot in a `Vec` each.
    Msgs(Msg),
}

/// Field numbers are below this in every ONNX message (the largest is 26).
const MAX_FIELD: usize = 32;

impl Msg {
    fn size(self) -> u64 {
        (match self {
            Msg::Model => size_of::<proto::ModelProto>(),
            Msg::Graph => size_of::<proto::GraphProto>(),
            Msg::Node => size_of::<proto::NodeProto>(),
            Msg::Attribute => size_of::<proto::AttributeProto>(),
            Msg::Tensor => size_of::<proto::TensorProto>(),
            Msg::Segment => size_of::<tensor_proto::Segment>(),
            Msg::SparseTensor => size_of::<proto::SparseTensorProto>(),
            Msg::ValueInfo => size_of::<proto::ValueInfoProto>(),
            Msg::Type => size_of::<proto::TypeProto>(),
            Msg::TypeTensor => size_of::<type_proto::Tensor>(),
            Msg::TypeSequence => size_of::<type_proto::Sequence>(),
            Msg::TypeMap => size_of::<type_proto::Map>(),
            Msg::TypeOptional => size_of::<type_proto::Optional>(),
            Msg::TypeSparseTensor => size_of::<type_proto::SparseTensor>(),
            Msg::TypeOpaque => size_of::<type_proto::Opaque>(),
            Msg::TensorShape => size_of::<proto::TensorShapeProto>(),
            Msg::Dimension => size_of::<tensor_shape_proto::Dimension>(),
            Msg::OperatorSetId => size_of::<proto::OperatorSetIdProto>(),
            Msg::StringStringEntry => size_of::<proto::StringStringEntryProto>(),
            Msg::TensorAnnotation => size_of::<proto::TensorAnnotation>(),
            Msg::TrainingInfo => size_of::<proto::TrainingInfoProto>(),
            Msg::Function => size_of::<proto::FunctionProto>(),
            Msg::DeviceConfiguration => size_of::<proto::DeviceConfigurationProto>(),
            Msg::NodeDeviceConfiguration => size_of::<proto::NodeDeviceConfigurationProto>(),
            Msg::ShardingSpec => size_of::<proto::ShardingSpecProto>(),
            Msg::IntIntListEntry => size_of::<proto::IntIntListEntryProto>(),
            Msg::ShardedDim => size_of::<proto::ShardedDimProto>(),
            Msg::SimpleShardedDim => size_of::<proto::SimpleShardedDimProto>(),
        }) as u64
    }

    /// The schema of `proto/onnx.proto3`, field by field (a unit test checks
    /// it against the schema file).
    fn field(self, n: u64) -> Field {
        use Field::{Boxed, Msg as M, Msgs, Plain, Shared, Str, Strs};
        const I64S: Field = Field::Nums {
            width: 8,
            fixed: false,
        };
        const I32S: Field = Field::Nums {
            width: 4,
            fixed: false,
        };
        const F32S: Field = Field::Nums {
            width: 4,
            fixed: true,
        };
        const F64S: Field = Field::Nums {
            width: 8,
            fixed: true,
        };
        match (self, n) {
            (Msg::Model, 2 | 3 | 4 | 6) => Str,
            (Msg::Model, 7) => M(Msg::Graph),
            (Msg::Model, 8) => Msgs(Msg::OperatorSetId),
            (Msg::Model, 14) => Msgs(Msg::StringStringEntry),
            (Msg::Model, 20) => Msgs(Msg::TrainingInfo),
            (Msg::Model, 25) => Msgs(Msg::Function),
            (Msg::Model, 26) => Msgs(Msg::DeviceConfiguration),
            (Msg::Graph, 1) => Msgs(Msg::Node),
            (Msg::Graph, 2 | 10) => Str,
            (Msg::Graph, 5) => Msgs(Msg::Tensor),
            (Msg::Graph, 11..=13) => Msgs(Msg::ValueInfo),
            (Msg::Graph, 14) => Msgs(Msg::TensorAnnotation),
            (Msg::Graph, 15) => Msgs(Msg::SparseTensor),
            (Msg::Graph, 16) => Msgs(Msg::StringStringEntry),
            (Msg::Node, 1 | 2) => Strs,
            (Msg::Node, 3 | 4 | 6 | 7 | 8) => Str,
            (Msg::Node, 5) => Msgs(Msg::Attribute),
            (Msg::Node, 9) => Msgs(Msg::StringStringEntry),
            (Msg::Node, 10) => Msgs(Msg::NodeDeviceConfiguration),
            (Msg::Attribute, 1 | 4 | 13 | 21) => Str,
            (Msg::Attribute, 5) => M(Msg::Tensor),
            (Msg::Attribute, 6) => M(Msg::Graph),
            (Msg::Attribute, 7) => F32S,
            (Msg::Attribute, 8) => I64S,
            (Msg::Attribute, 9) => Strs,
            (Msg::Attribute, 10) => Msgs(Msg::Tensor),
            (Msg::Attribute, 11) => Msgs(Msg::Graph),
            (Msg::Attribute, 14) => M(Msg::Type),
            (Msg::Attribute, 15) => Msgs(Msg::Type),
            (Msg::Attribute, 22) => M(Msg::SparseTensor),
            (Msg::Attribute, 23) => Msgs(Msg::SparseTensor),
            (Msg::Tensor, 1 | 7) => I64S,
            (Msg::Tensor, 3) => M(Msg::Segment),
            (Msg::Tensor, 4) => F32S,
            (Msg::Tensor, 5) => I32S,
            (Msg::Tensor, 6) => Strs,
            (Msg::Tensor, 8 | 12) => Str,
            (Msg::Tensor, 9) => Shared,
            (Msg::Tensor, 10) => F64S,
            (Msg::Tensor, 11) => I64S,
            (Msg::Tensor, 13 | 16) => Msgs(Msg::StringStringEntry),
            (Msg::SparseTensor, 1 | 2) => M(Msg::Tensor),
            (Msg::SparseTensor, 3) => I64S,
            (Msg::ValueInfo, 1 | 3) => Str,
            (Msg::ValueInfo, 2) => M(Msg::Type),
            (Msg::ValueInfo, 4) => Msgs(Msg::StringStringEntry),
            (Msg::Type, 1) => M(Msg::TypeTensor),
            (Msg::Type, 4) => Boxed(Msg::TypeSequence),
            (Msg::Type, 5) => Boxed(Msg::TypeMap),
            (Msg::Type, 6) => Str,
            (Msg::Type, 7) => M(Msg::TypeOpaque),
            (Msg::Type, 8) => M(Msg::TypeSparseTensor),
            (Msg::Type, 9) => Boxed(Msg::TypeOptional),
            (Msg::TypeTensor | Msg::TypeSparseTensor, 2) => M(Msg::TensorShape),
            (Msg::TypeSequence | Msg::TypeOptional, 1) => Boxed(Msg::Type),
            (Msg::TypeMap, 2) => Boxed(Msg::Type),
            (Msg::TypeOpaque, 1 | 2) => Str,
            (Msg::TensorShape, 1) => Msgs(Msg::Dimension),
            (Msg::Dimension, 2 | 3) => Str,
            (Msg::OperatorSetId, 1) => Str,
            (Msg::StringStringEntry, 1 | 2) => Str,
            (Msg::TensorAnnotation, 1) => Str,
            (Msg::TensorAnnotation, 2) => Msgs(Msg::StringStringEntry),
            (Msg::TrainingInfo, 1 | 2) => M(Msg::Graph),
            (Msg::TrainingInfo, 3 | 4) => Msgs(Msg::StringStringEntry),
            (Msg::Function, 1 | 8 | 10 | 13) => Str,
            (Msg::Function, 4..=6) => Strs,
            (Msg::Function, 7) => Msgs(Msg::Node),
            (Msg::Function, 9) => Msgs(Msg::OperatorSetId),
            (Msg::Function, 11) => Msgs(Msg::Attribute),
            (Msg::Function, 12) => Msgs(Msg::ValueInfo),
            (Msg::Function, 14) => Msgs(Msg::StringStringEntry),
            (Msg::DeviceConfiguration, 1) => Str,
            (Msg::DeviceConfiguration, 3) => Strs,
            (Msg::NodeDeviceConfiguration, 1) => Str,
            (Msg::NodeDeviceConfiguration, 2) => Msgs(Msg::ShardingSpec),
            (Msg::ShardingSpec, 1) => Str,
            (Msg::ShardingSpec, 2) => I64S,
            (Msg::ShardingSpec, 3) => Msgs(Msg::IntIntListEntry),
            (Msg::ShardingSpec, 4) => Msgs(Msg::ShardedDim),
            (Msg::IntIntListEntry, 2) => I64S,
            (Msg::ShardedDim, 2) => Msgs(Msg::SimpleShardedDim),
            (Msg::SimpleShardedDim, 2) => Str,
            _ => Plain,
        }
    }
}

#[derive(Default)]
struct Scanner {
    estimate: DecodeEstimate,
    /// Bytes of every allocation that may be live at the end of the decode.
    heap: u64,
    /// The largest old buffer live for a moment while a `Vec` grows.
    transient: u64,
    top_counts: [u64; TOP_FIELDS.len()],
}

/// Capacity of a `Vec` of `n` elements of `size` bytes filled by `push`.
fn vec_capacity(size: u64, n: u64) -> u64 {
    // `alloc::raw_vec`'s minimum non-zero capacity.
    let min_cap = match size {
        1 => 8,
        2..=1024 => 4,
        _ => 1,
    };
    if n == 0 {
        0
    } else {
        n.checked_next_power_of_two()
            .unwrap_or(u64::MAX)
            .max(min_cap)
    }
}

/// Bytes of one string or bytes buffer of `len` bytes (`Vec::reserve` gives at
/// least 8); `doubled` when it may replace an earlier value of the field.
fn buffer_bytes(len: u64, doubled: bool) -> u64 {
    match len {
        0 => 0,
        _ if doubled => len.saturating_mul(2).max(8) + ALLOC_OVERHEAD,
        _ => len.max(8) + ALLOC_OVERHEAD,
    }
}

impl Scanner {
    /// Scans one message body. `fresh` is false where prost may merge the
    /// body into a struct that already holds values (a singular message field
    /// seen twice), so that singular strings may replace earlier ones.
    fn message(
        &mut self,
        msg: Msg,
        body: &[u8],
        base: usize,
        depth: u32,
        fresh: bool,
        top_graph: bool,
    ) -> Result<(), ScanError> {
        // Occurrences of each field in this body.
        let mut counts = [0u64; MAX_FIELD];
        let mut pos = 0;
        while pos < body.len() {
            let at = base + pos;
            let key = varint(body, &mut pos).ok_or(ScanError::Wire(at))?;
            let (n, wire) = (key >> 3, key & 7);
            let field = msg.field(n);
            // Fields outside the schema are `Plain`, so `n` indexes `counts`
            // whenever the field is not.
            let slot = usize::try_from(n).unwrap_or(usize::MAX).min(MAX_FIELD - 1);
            match wire {
                0 => {
                    varint(body, &mut pos).ok_or(ScanError::Wire(base + pos))?;
                    if let Field::Nums { fixed: false, .. } = field {
                        counts[slot] += 1;
                    }
                }
                1 | 5 => {
                    let width = if wire == 1 { 8 } else { 4 };
                    pos = skip(body, pos, width).ok_or(ScanError::Wire(base + pos))?;
                    if field
                        == (Field::Nums {
                            width: width as u64,
                            fixed: true,
                        })
                    {
                        counts[slot] += 1;
                    }
                }
                2 => {
                    let len = varint(body, &mut pos).ok_or(ScanError::Wire(base + pos))?;
                    let start = pos;
                    let len = usize::try_from(len).map_err(|_| ScanError::Wire(base + pos))?;
                    pos = skip(body, pos, len).ok_or(ScanError::Wire(base + pos))?;
                    let value = &body[start..pos];
                    let first = counts[slot] == 0;
                    self.delimited(field, value, base + start, depth, fresh && first)?;
                    counts[slot] += match field {
                        Field::Nums { width, fixed } => packed_len(value, width, fixed),
                        _ => 1,
                    };
                }
                _ => return Err(ScanError::Wire(at)),
            }
        }
        for (n, &count) in counts.iter().enumerate() {
            let size = match msg.field(n as u64) {
                Field::Strs => size_of::<Vec<u8>>() as u64,
                Field::Nums { width, .. } => {
                    self.estimate.numbers += count;
                    width
                }
                Field::Msgs(m) => m.size(),
                _ => continue,
            };
            if count == 0 {
                continue;
            }
            let cap = vec_capacity(size, count);
            self.heap = self
                .heap
                .saturating_add(size.saturating_mul(cap) + ALLOC_OVERHEAD);
            if cap > vec_capacity(size, 1) {
                self.transient = self.transient.max(size.saturating_mul(cap / 2));
            }
        }
        if top_graph {
            for (total, (n, _)) in self.top_counts.iter_mut().zip(TOP_FIELDS) {
                *total += counts[n as usize];
            }
        }
        Ok(())
    }

    /// Accounts for one length-delimited field; `fresh` when it is the
    /// field's first value in a struct that held none before.
    fn delimited(
        &mut self,
        field: Field,
        value: &[u8],
        base: usize,
        depth: u32,
        fresh: bool,
    ) -> Result<(), ScanError> {
        let len = value.len() as u64;
        match field {
            // Packed numbers are counted by the caller; `raw_data` is shared.
            Field::Plain | Field::Nums { .. } | Field::Shared => {}
            Field::Str => {
                self.estimate.strings += 1;
                self.heap = self.heap.saturating_add(buffer_bytes(len, !fresh));
            }
            Field::Strs => {
                self.estimate.strings += 1;
                self.heap = self.heap.saturating_add(buffer_bytes(len, false));
            }
            Field::Msg(m) | Field::Boxed(m) | Field::Msgs(m) => {
                if depth >= MAX_DEPTH {
                    return Err(ScanError::TooDeep(base));
                }
                if let Field::Boxed(_) = field {
                    self.heap = self.heap.saturating_add(m.size() + ALLOC_OVERHEAD);
                }
                let fresh = fresh || matches!(field, Field::Msgs(_));
                // Only `ModelProto.graph` is the top-level graph.
                let top_graph = depth == 0 && m == Msg::Graph;
                self.estimate.messages += 1;
                self.message(m, value, base, depth + 1, fresh, top_graph)?;
            }
        }
        Ok(())
    }
}

/// How many numbers prost pushes for a packed body: one per varint end (plus
/// one for a varint cut off at the end, which prost reads past the body
/// before failing), or one per `width` bytes, rounded up likewise.
fn packed_len(body: &[u8], width: u64, fixed: bool) -> u64 {
    if fixed {
        (body.len() as u64).div_ceil(width)
    } else {
        let ends = body.iter().filter(|&&b| b & 0x80 == 0).count() as u64;
        ends + u64::from(body.last().is_some_and(|&b| b & 0x80 != 0))
    }
}

fn skip(buf: &[u8], pos: usize, n: usize) -> Option<usize> {
    let end = pos.checked_add(n)?;
    (end <= buf.len()).then_some(end)
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Msg` by its name in `proto/onnx.proto3`.
    const NAMES: [(&str, Msg); 28] = [
        ("ModelProto", Msg::Model),
        ("GraphProto", Msg::Graph),
        ("NodeProto", Msg::Node),
        ("AttributeProto", Msg::Attribute),
        ("TensorProto", Msg::Tensor),
        ("TensorProto.Segment", Msg::Segment),
        ("SparseTensorProto", Msg::SparseTensor),
        ("ValueInfoProto", Msg::ValueInfo),
        ("TypeProto", Msg::Type),
        ("TypeProto.Tensor", Msg::TypeTensor),
        ("TypeProto.Sequence", Msg::TypeSequence),
        ("TypeProto.Map", Msg::TypeMap),
        ("TypeProto.Optional", Msg::TypeOptional),
        ("TypeProto.SparseTensor", Msg::TypeSparseTensor),
        ("TypeProto.Opaque", Msg::TypeOpaque),
        ("TensorShapeProto", Msg::TensorShape),
        ("TensorShapeProto.Dimension", Msg::Dimension),
        ("OperatorSetIdProto", Msg::OperatorSetId),
        ("StringStringEntryProto", Msg::StringStringEntry),
        ("TensorAnnotation", Msg::TensorAnnotation),
        ("TrainingInfoProto", Msg::TrainingInfo),
        ("FunctionProto", Msg::Function),
        ("DeviceConfigurationProto", Msg::DeviceConfiguration),
        ("NodeDeviceConfigurationProto", Msg::NodeDeviceConfiguration),
        ("ShardingSpecProto", Msg::ShardingSpec),
        ("IntIntListEntryProto", Msg::IntIntListEntry),
        ("ShardedDimProto", Msg::ShardedDim),
        ("SimpleShardedDimProto", Msg::SimpleShardedDim),
    ];

    fn msg_named(name: &str) -> Msg {
        NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("message {name} is not in the scan's schema"))
            .1
    }

    /// The scan's field table is the vendored schema: every message, every
    /// field, string or number or message, singular or repeated, and nothing
    /// else (whether a message is boxed is prost's choice for recursive
    /// types: `TypeProto` within its sequence, map and optional types).
    #[test]
    fn the_field_table_matches_the_vendored_schema() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
        let fds = protox::compile(["onnx.proto3"], [root]).expect("schema compiles");
        let file = &fds.file[0];
        let mut stack: Vec<_> = file
            .message_type
            .iter()
            .map(|m| (m.name().to_string(), m))
            .collect();
        let mut seen = Vec::new();
        while let Some((name, desc)) = stack.pop() {
            for nested in &desc.nested_type {
                stack.push((format!("{name}.{}", nested.name()), nested));
            }
            let msg = msg_named(&name);
            seen.push(msg);
            for f in &desc.field {
                let n = f.number() as u64;
                assert!((n as usize) < MAX_FIELD, "{name}.{}: number {n}", f.name());
                let repeated = f.label == Some(3);
                // descriptor.proto's FieldDescriptorProto.Type numbers.
                let expected = match (f.r#type.unwrap_or_default(), repeated) {
                    (11, r) => {
                        let target = f.type_name().trim_start_matches(".onnx.");
                        let m = msg_named(target);
                        match (r, msg.field(n)) {
                            (true, _) => Field::Msgs(m),
                            (false, Field::Boxed(_)) => Field::Boxed(m),
                            (false, _) => Field::Msg(m),
                        }
                    }
                    (12, false) if name == "TensorProto" && f.name() == "raw_data" => Field::Shared,
                    (9 | 12, false) => Field::Str,
                    (9 | 12, true) => Field::Strs,
                    (_, false) => Field::Plain,
                    (1 | 6 | 16, true) => Field::Nums {
                        width: 8,
                        fixed: true,
                    },
                    (2 | 7 | 15, true) => Field::Nums {
                        width: 4,
                        fixed: true,
                    },
                    (3 | 4 | 18, true) => Field::Nums {
                        width: 8,
                        fixed: false,
                    },
                    (5 | 13 | 14 | 17, true) => Field::Nums {
                        width: 4,
                        fixed: false,
                    },
                    (t, true) => panic!("{name}.{}: repeated type {t}", f.name()),
                };
                assert_eq!(msg.field(n), expected, "{name}.{} ({n})", f.name());
            }
            for n in 0..64 {
                if msg.field(n) != Field::Plain {
                    assert!(
                        desc.field.iter().any(|f| f.number() as u64 == n),
                        "{name} has no field {n}"
                    );
                }
            }
        }
        assert_eq!(seen.len(), NAMES.len());
        let boxed: Vec<_> = NAMES
            .iter()
            .flat_map(|&(name, m)| {
                (0..MAX_FIELD as u64)
                    .filter(move |&n| matches!(m.field(n), Field::Boxed(_)))
                    .map(move |n| format!("{name}.{n}"))
            })
            .collect();
        assert_eq!(
            boxed,
            [
                "TypeProto.4",
                "TypeProto.5",
                "TypeProto.9",
                "TypeProto.Sequence.1",
                "TypeProto.Map.2",
                "TypeProto.Optional.1"
            ]
        );
    }

    #[test]
    fn vec_capacity_follows_push_growth() {
        let mut v: Vec<u64> = Vec::new();
        for n in 1..=1000u64 {
            v.push(n);
            assert_eq!(v.capacity() as u64, vec_capacity(8, n), "{n}");
        }
        let mut b: Vec<u8> = Vec::new();
        let mut big: Vec<[u8; 1600]> = Vec::new();
        for n in 1..=40u64 {
            b.push(0);
            big.push([0; 1600]);
            assert_eq!(b.capacity() as u64, vec_capacity(1, n));
            assert_eq!(big.capacity() as u64, vec_capacity(1600, n));
        }
    }

    #[test]
    fn packed_numbers_are_counted_as_prost_pushes_them() {
        assert_eq!(packed_len(&[0, 0x80, 1, 0xff, 0xff, 3], 8, false), 3);
        assert_eq!(packed_len(&[0, 0x80], 8, false), 2);
        assert_eq!(packed_len(&[0; 9], 4, true), 3);
        assert_eq!(packed_len(&[], 4, false), 0);
    }
}
