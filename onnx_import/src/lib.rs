//! Reads ONNX model files into tessera's workload graph IR.
pub mod proto;
