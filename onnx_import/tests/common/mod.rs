//! A small builder of ONNX models in memory (through the prost types), so each
//! test states the graph it imports in a few lines.

#![allow(dead_code)]

use std::collections::BTreeMap;

use onnx_import::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType,
    tensor_proto::DataType, tensor_shape_proto::Dimension, tensor_shape_proto::dimension,
    type_proto,
};
use onnx_import::{ImportError, ImportOptions, import_bytes};
use prost::Message;
use sim::graph::Graph;

pub const F32: i32 = DataType::Float as i32;
pub const I64: i32 = DataType::Int64 as i32;

/// A dim of a graph input: a number or a symbolic name.
pub enum D {
    N(i64),
    S(&'static str),
}

pub struct Model {
    pub opset: i64,
    pub graph: GraphProto,
}

pub fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

pub fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

pub fn attr_str(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

pub fn attr_tensor(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Tensor as i32,
        t: Some(t),
        ..Default::default()
    }
}

/// An int64 tensor with inline values.
pub fn ints_tensor(name: &str, dims: &[i64], vals: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: I64,
        int64_data: vals.to_vec(),
        ..Default::default()
    }
}

impl Model {
    pub fn new() -> Model {
        Model {
            opset: 17,
            graph: GraphProto {
                name: "test".into(),
                ..Default::default()
            },
        }
    }

    /// A graph input of `elem` type with the given dims.
    pub fn input(mut self, name: &str, elem: i32, dims: &[D]) -> Model {
        let dim = dims
            .iter()
            .map(|d| Dimension {
                value: Some(match d {
                    D::N(n) => dimension::Value::DimValue(*n),
                    D::S(s) => dimension::Value::DimParam(s.to_string()),
                }),
                ..Default::default()
            })
            .collect();
        self.graph.input.push(ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: elem,
                    shape: Some(TensorShapeProto { dim }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        });
        self
    }

    /// A float32 graph input with fixed dims.
    pub fn x(self, name: &str, dims: &[i64]) -> Model {
        let dims: Vec<D> = dims.iter().map(|&d| D::N(d)).collect();
        self.input(name, F32, &dims)
    }

    /// A float32 initializer stored as external data (only dims and type).
    pub fn weight(mut self, name: &str, dims: &[i64]) -> Model {
        self.graph.initializer.push(TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: F32,
            data_location: onnx_import::proto::tensor_proto::DataLocation::External as i32,
            external_data: vec![onnx_import::proto::StringStringEntryProto {
                key: "location".into(),
                value: "weights.bin".into(),
            }],
            ..Default::default()
        });
        self
    }

    /// An inline int64 initializer.
    pub fn ints(mut self, name: &str, dims: &[i64], vals: &[i64]) -> Model {
        self.graph.initializer.push(ints_tensor(name, dims, vals));
        self
    }

    pub fn node(self, op: &str, inputs: &[&str], outputs: &[&str]) -> Model {
        self.node_with(op, inputs, outputs, vec![])
    }

    pub fn node_with(
        mut self,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attribute: Vec<AttributeProto>,
    ) -> Model {
        let index = self.graph.node.len();
        self.graph.node.push(NodeProto {
            name: format!("n{index}"),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute,
            ..Default::default()
        });
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            producer_name: "tests".into(),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: self.opset,
            }],
            graph: Some(self.graph.clone()),
            ..Default::default()
        }
        .encode_to_vec()
    }

    pub fn import(&self) -> Result<Graph, ImportError> {
        self.import_with(&ImportOptions::default())
    }

    pub fn import_with(&self, opts: &ImportOptions) -> Result<Graph, ImportError> {
        import_bytes(&self.bytes(), "m.onnx", opts)
    }

    /// Imports and returns the error's one-line message.
    pub fn error(&self) -> String {
        self.error_with(&ImportOptions::default())
    }

    pub fn error_with(&self, opts: &ImportOptions) -> String {
        match self.import_with(opts) {
            Ok(g) => panic!("expected an error, imported {} ops", g.ops().len()),
            Err(e) => e.to_string(),
        }
    }
}

/// Options binding the given symbolic dims.
pub fn dims(pairs: &[(&str, u64)]) -> ImportOptions {
    ImportOptions {
        dims: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>(),
        ..ImportOptions::default()
    }
}

/// One line per op: `name kind shape macs/vector_ops/params <- inputs`.
pub fn summary(g: &Graph) -> String {
    let mut out = String::new();
    for op in g.ops() {
        let inputs: Vec<String> = op
            .inputs
            .iter()
            .map(|i| match &i.source {
                sim::graph::Source::Op(id) => format!("{}{:?}", g.op(*id).name, i.shape),
                sim::graph::Source::GraphInput(n) => format!("{n}{:?}", i.shape),
            })
            .collect();
        out.push_str(&format!(
            "{} {} {:?} m{} v{} p{} <- {}\n",
            op.name,
            serde_json::to_string(&op.kind).unwrap(),
            op.output_shape,
            op.macs,
            op.vector_ops,
            op.params,
            inputs.join(", ")
        ));
    }
    out
}

/// Raw protobuf wire format, for files the prost types cannot build cheaply
/// (millions of messages) or at all (nesting past prost's limit).
pub mod wire {
    pub fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Field `n` holding a length-delimited `body` (a message, string or
    /// packed numbers).
    pub fn field(n: u64, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() + 12);
        varint(n << 3 | 2, &mut out);
        varint(body.len() as u64, &mut out);
        out.extend_from_slice(body);
        out
    }

    /// Field `n` holding the varint `v`.
    pub fn int(n: u64, v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(n << 3, &mut out);
        varint(v, &mut out);
        out
    }

    /// A `ModelProto` (opset 17) whose graph holds one node of `node_body`.
    pub fn model_with_node(node_body: &[u8]) -> Vec<u8> {
        let mut graph = field(1, node_body);
        graph.extend(field(2, b"g"));
        let mut model = int(1, 8);
        model.extend(field(8, &int(2, 17)));
        model.extend(field(7, &graph));
        model
    }
}
