//! Reading an ONNX file: the size limit, the protobuf decode (after a scan of
//! the wire format that bounds what the decode will allocate), the opset
//! check, and accessors for tensors and attributes.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use prost::Message;
use prost::bytes::Bytes;

use crate::proto::{
    AttributeProto, ModelProto, NodeProto, TensorProto, attribute_proto::AttributeType,
    tensor_proto::DataType, tensor_shape_proto::dimension, type_proto,
};
use crate::scan::{self, DecodeEstimate, MAX_DEPTH, ScanError, TOP_FIELDS};
use crate::{ErrorKind, ImportError, ImportOptions, MAX_NODES, MAX_VALUE_ELEMENTS};

/// The default-domain opsets whose op semantics the importer implements.
pub const OPSETS: std::ops::RangeInclusive<i64> = 13..=21;

pub fn error(file: &str, kind: ErrorKind, message: impl Into<String>) -> ImportError {
    ImportError {
        file: file.to_string(),
        kind,
        node: None,
        message: message.into(),
    }
}

/// A byte count for messages: `3.1 GiB`, `2 GiB`, `512 KiB`, `17 bytes`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size {
            return if n.is_multiple_of(size) {
                format!("{} {unit}", n / size)
            } else {
                format!("{:.1} {unit}", n as f64 / size as f64)
            };
        }
    }
    format!("{n} bytes")
}

pub fn check_size(len: u64, file: &str, max: u64) -> Result<(), ImportError> {
    if len > max {
        return Err(error(
            file,
            ErrorKind::TooLarge,
            format!(
                "{} exceeds the {} limit",
                human_bytes(len),
                human_bytes(max)
            ),
        ));
    }
    Ok(())
}

/// Reads a file after checking its size in the metadata; the read itself is
/// capped too, in case the file grows in between.
pub fn read_file(path: &Path, file: &str, max: u64) -> Result<Bytes, ImportError> {
    let io = |e: std::io::Error| error(file, ErrorKind::Io, format!("cannot read: {e}"));
    let meta = std::fs::metadata(path).map_err(io)?;
    check_size(meta.len(), file, max)?;
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(io)?;
    check_size(buf.len() as u64, file, max)?;
    Ok(Bytes::from(buf))
}

/// Decodes a model. A scan of the wire format first bounds what the decode
/// will allocate (`scan`), so a small file cannot make it allocate millions of
/// empty messages or numbers, and counts the graph's nodes and tensors.
pub fn decode(bytes: Bytes, file: &str, opts: &ImportOptions) -> Result<ModelProto, ImportError> {
    check_size(bytes.len() as u64, file, opts.max_file_bytes)?;
    let estimate = estimate(&bytes, file)?;
    if estimate.bytes > opts.max_decoded_bytes {
        return Err(error(
            file,
            ErrorKind::Limit,
            format!(
                "decoding would take about {} ({}, {}, {}), over the {} limit (max_decoded_bytes)",
                human_bytes(estimate.bytes),
                count(estimate.messages, "nested message"),
                count(estimate.numbers, "repeated number"),
                count(estimate.strings, "string"),
                human_bytes(opts.max_decoded_bytes)
            ),
        ));
    }
    let model = ModelProto::decode(bytes)
        .map_err(|e| malformed(file, format!("protobuf decode failed: {e}")))?;
    if model.graph.is_none() {
        return Err(malformed(file, "the model has no graph".to_string()));
    }
    Ok(model)
}

fn malformed(file: &str, what: String) -> ImportError {
    error(
        file,
        ErrorKind::Malformed,
        format!("not an ONNX model: {what}"),
    )
}

/// Scans the wire format: refuses broken framing, nesting deeper than
/// [`MAX_DEPTH`] and top-level graphs over [`MAX_NODES`] entries, and returns
/// the bound on what the decode allocates.
pub fn estimate(bytes: &[u8], file: &str) -> Result<DecodeEstimate, ImportError> {
    let scan = scan::scan(bytes).map_err(|e| match e {
        ScanError::Wire(at) => malformed(file, format!("protobuf decode failed at byte {at}")),
        ScanError::TooDeep(at) => error(
            file,
            ErrorKind::Limit,
            format!(
                "messages nest more than {MAX_DEPTH} levels deep at byte {at} (subgraphs inside subgraphs or types inside types); tessera reads at most {MAX_DEPTH}"
            ),
        ),
    })?;
    for (&n, (_, what)) in scan.top_counts.iter().zip(TOP_FIELDS) {
        if n > MAX_NODES as u64 {
            return Err(error(
                file,
                ErrorKind::Limit,
                format!("the graph has {n} {what}; tessera imports at most {MAX_NODES}"),
            ));
        }
    }
    Ok(scan.estimate)
}

/// `41000000, "string"` as `41,000,000 strings`.
fn count(n: u64, what: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{} {what}{s}", thousands(n))
}

/// `41000000` as `41,000,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The default-domain opset version, checked against [`OPSETS`].
pub fn default_opset(model: &ModelProto, file: &str) -> Result<i64, ImportError> {
    let version = model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .max();
    match version {
        Some(v) if OPSETS.contains(&v) => Ok(v),
        Some(v) => Err(error(
            file,
            ErrorKind::Opset,
            format!(
                "opset {v} of the default domain is not supported; tessera imports opsets {} to {} (convert the model with onnx.version_converter)",
                OPSETS.start(),
                OPSETS.end()
            ),
        )),
        None => Err(error(
            file,
            ErrorKind::Opset,
            "the model imports no opset of the default domain (\"\" / \"ai.onnx\")",
        )),
    }
}

/// Symbolic dim names of the graph inputs that are not initializers.
pub fn symbolic_dims(model: &ModelProto) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let Some(graph) = &model.graph else {
        return out;
    };
    let inits: std::collections::BTreeSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    for input in &graph.input {
        if inits.contains(input.name.as_str()) {
            continue;
        }
        let Some(type_proto::Value::TensorType(t)) =
            input.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            continue;
        };
        for d in t.shape.iter().flat_map(|s| &s.dim) {
            if let Some(dimension::Value::DimParam(p)) = &d.value {
                let users = out.entry(p.clone()).or_default();
                if users.last() != Some(&input.name) {
                    users.push(input.name.clone());
                }
            }
        }
    }
    out
}

/// Whether an ONNX element type is a floating-point type (whose initializers
/// count as parameters).
pub fn is_float(elem: i32) -> bool {
    use DataType as D;
    [
        D::Float,
        D::Float16,
        D::Bfloat16,
        D::Double,
        D::Float8e4m3fn,
        D::Float8e4m3fnuz,
        D::Float8e5m2,
        D::Float8e5m2fnuz,
    ]
    .iter()
    .any(|&d| d as i32 == elem)
}

/// Whether an ONNX element type holds integers or booleans (whose values the
/// importer may propagate).
pub fn is_int(elem: i32) -> bool {
    use DataType as D;
    [
        D::Int64,
        D::Int32,
        D::Int16,
        D::Int8,
        D::Uint8,
        D::Uint16,
        D::Uint32,
        D::Uint64,
        D::Bool,
    ]
    .iter()
    .any(|&d| d as i32 == elem)
}

/// The name of an ONNX element type for messages.
pub fn elem_name(elem: i32) -> String {
    DataType::try_from(elem)
        .map(|d| d.as_str_name().to_lowercase())
        .unwrap_or_else(|_| format!("type {elem}"))
}

/// Bytes per element of an integer tensor type, and whether it is signed.
pub fn int_layout(data_type: i32) -> (usize, bool) {
    use DataType as D;
    let width = match D::try_from(data_type) {
        Ok(D::Int64 | D::Uint64) => 8,
        Ok(D::Int32 | D::Uint32) => 4,
        Ok(D::Int16 | D::Uint16) => 2,
        _ => 1,
    };
    let signed = matches!(
        D::try_from(data_type),
        Ok(D::Int64 | D::Int32 | D::Int16 | D::Int8)
    );
    (width, signed)
}

/// Little-endian integers of `width` bytes each (as stored in `raw_data`
/// and in external data files), sign-extended when `signed`.
pub fn le_ints(bytes: &[u8], width: usize, signed: bool) -> Vec<i64> {
    bytes
        .chunks_exact(width)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..width].copy_from_slice(c);
            let u = u64::from_le_bytes(b);
            if signed && width < 8 && (u >> (width * 8 - 1)) & 1 == 1 {
                (u | (!0u64 << (width * 8))) as i64
            } else {
                u as i64
            }
        })
        .collect()
}

/// The values of a small integer tensor stored in the file, if it has them
/// inline (external data and large tensors give `None`). A size mismatch
/// between dims and data is an error message.
pub fn int_values(t: &TensorProto, numel: u64) -> Result<Option<Vec<i64>>, String> {
    use DataType as D;
    if !is_int(t.data_type) || numel > MAX_VALUE_ELEMENTS || is_external(t) {
        return Ok(None);
    }
    let n = numel as usize;
    let (width, signed) = int_layout(t.data_type);
    let values: Vec<i64> = if !t.raw_data.is_empty() {
        if t.raw_data.len() != n * width {
            return Err(format!(
                "raw_data has {} bytes but dims {:?} of {} need {}",
                t.raw_data.len(),
                t.dims,
                elem_name(t.data_type),
                n * width
            ));
        }
        le_ints(&t.raw_data, width, signed)
    } else if t.data_type == D::Int64 as i32 {
        t.int64_data.clone()
    } else if t.data_type == D::Uint64 as i32 {
        t.uint64_data.iter().map(|&v| v as i64).collect()
    } else {
        t.int32_data.iter().map(|&v| i64::from(v)).collect()
    };
    if values.len() != n {
        return Err(format!(
            "holds {} values but dims {:?} give {n}",
            values.len(),
            t.dims
        ));
    }
    Ok(Some(values))
}

pub fn is_external(t: &TensorProto) -> bool {
    t.data_location == crate::proto::tensor_proto::DataLocation::External as i32
}

/// Attribute lookup for one node.
pub struct Attrs<'a> {
    node: &'a NodeProto,
}

impl<'a> Attrs<'a> {
    pub fn new(node: &'a NodeProto) -> Self {
        Attrs { node }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    fn typed(&self, name: &str, ty: AttributeType) -> Result<Option<&'a AttributeProto>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if a.r#type == ty as i32 => Ok(Some(a)),
            // Some writers leave `type` unset; accept the field if it is filled.
            Some(a) if a.r#type == 0 => Ok(Some(a)),
            Some(a) => Err(format!(
                "attribute {name:?} has type {}, expected {}",
                AttributeType::try_from(a.r#type).map_or("unknown", |t| t.as_str_name()),
                ty.as_str_name()
            )),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, String> {
        Ok(self.typed(name, AttributeType::Int)?.map(|a| a.i))
    }

    pub fn float(&self, name: &str) -> Result<Option<f32>, String> {
        Ok(self.typed(name, AttributeType::Float)?.map(|a| a.f))
    }

    pub fn ints(&self, name: &str) -> Result<Option<&'a [i64]>, String> {
        Ok(self
            .typed(name, AttributeType::Ints)?
            .map(|a| a.ints.as_slice()))
    }

    pub fn floats(&self, name: &str) -> Result<Option<&'a [f32]>, String> {
        Ok(self
            .typed(name, AttributeType::Floats)?
            .map(|a| a.floats.as_slice()))
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, String> {
        Ok(self
            .typed(name, AttributeType::String)?
            .map(|a| String::from_utf8_lossy(&a.s).into_owned()))
    }

    pub fn tensor(&self, name: &str) -> Result<Option<&'a TensorProto>, String> {
        match self.typed(name, AttributeType::Tensor)? {
            None => Ok(None),
            Some(a) => {
                a.t.as_ref()
                    .map(Some)
                    .ok_or_else(|| format!("attribute {name:?} has no tensor"))
            }
        }
    }

    /// Whether the node has attribute `name` at all.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}
