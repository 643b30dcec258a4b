//! The scan's bound on what the protobuf decode allocates holds and is not
//! loose: a counting global allocator measures prost's peak heap use while it
//! decodes crafted and real files, and the peak must stay under
//! `decode_estimate`, which must stay under 4× the peak.
//!
//! This binary has its own allocator, so everything runs in one test (tests
//! on other threads would count too). The estimate also allows 16 bytes per
//! allocation for the allocator's header, which the counter does not see.

mod common;

use common::wire::{field, int, model_with_node, varint};
use common::{Model, attr_int, attr_ints, attr_str, attr_tensor, ints_tensor};
use onnx_import::decode_estimate;
use onnx_import::proto::{AttributeProto, GraphProto, ModelProto, TensorProto};
use peak_alloc::PeakAlloc;
use prost::Message;
use prost::bytes::Bytes;

/// Counts requested bytes; a `realloc` allocates the new block before freeing
/// the old one, so a growing `Vec`'s moment with both is counted.
#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

struct Measured {
    estimate: u64,
    /// Peak of requested bytes during the decode.
    peak: u64,
}

/// Decodes `bytes` the way the importer does (from a `Bytes`) and measures
/// the decode's peak over what was live before it.
fn measure(name: &str, bytes: &[u8]) -> Measured {
    let estimate = decode_estimate(bytes, name)
        .unwrap_or_else(|e| panic!("{e}"))
        .bytes;
    let buf = Bytes::copy_from_slice(bytes);
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let decoded = ModelProto::decode(buf);
    let m = Measured {
        estimate,
        peak: (HEAP.peak_usage() - before) as u64,
    };
    drop(decoded);
    m
}

/// The bound holds.
fn check_bound(name: &str, bytes: &[u8]) -> Measured {
    let m = measure(name, bytes);
    eprintln!(
        "{name}: file {} bytes, estimate {}, peak {}, estimate/peak {:.2}",
        bytes.len(),
        m.estimate,
        m.peak,
        m.estimate as f64 / m.peak as f64
    );
    assert!(
        m.peak <= m.estimate,
        "{name}: the decode's peak {} is over the estimate {}",
        m.peak,
        m.estimate
    );
    m
}

/// The bound holds and is within 4× of the peak.
fn check_tight(name: &str, bytes: &[u8]) {
    let m = check_bound(name, bytes);
    assert!(
        m.estimate <= 4 * m.peak,
        "{name}: the estimate {} is over 4× the decode's peak {}",
        m.estimate,
        m.peak
    );
}

/// One node with `n` small int attributes, each named "a".
fn many_attributes(n: usize) -> Vec<u8> {
    let mut attr = field(1, b"a");
    attr.extend(int(20, 2));
    attr.extend(int(3, 1));
    let mut node = field(4, b"Relu");
    for _ in 0..n {
        node.extend(field(5, &attr));
    }
    model_with_node(&node)
}

/// A graph input of rank `n` (1,000,000 `Dimension` messages of 48 bytes).
fn many_dims(n: usize) -> Vec<u8> {
    let dim = field(1, &int(1, 1));
    let shape: Vec<u8> = dim.repeat(n);
    let tensor_type = [int(1, 1), field(2, &shape)].concat();
    let value_info = [field(1, b"x"), field(2, &field(1, &tensor_type))].concat();
    let graph = [field(2, b"g"), field(11, &value_info)].concat();
    [int(1, 8), field(8, &int(2, 17)), field(7, &graph)].concat()
}

/// Many small and varied values: names, attribute lists of every length,
/// tensors with dims and data, subgraphs.
fn mixed() -> Vec<u8> {
    let mut m = Model::new().x("x0", &[1, 4]);
    for i in 0..5_000usize {
        let ints: Vec<i64> = (0..(i % 19) as i64).map(|k| k * 1000 - 7).collect();
        let n_values = (i % 5).min(ints.len());
        let mut t = ints_tensor(&format!("t{i}"), &[n_values as i64], &ints[..n_values]);
        t.float_data = vec![1.5; i % 7];
        t.string_data = (0..i % 3).map(|k| vec![b'z'; k * 20]).collect();
        let mut attrs = vec![
            attr_ints("ints", &ints),
            attr_int("axis", i as i64),
            attr_str("mode", &"x".repeat(i % 40)),
            attr_tensor("value", t),
        ];
        if i % 50 == 0 {
            attrs.push(AttributeProto {
                name: "body".into(),
                g: Some(GraphProto {
                    name: "sub".into(),
                    node: m.graph.node.iter().take(3).cloned().collect(),
                    ..Default::default()
                }),
                floats: vec![0.25; 100],
                strings: vec![b"abc".to_vec(); 9],
                tensors: vec![TensorProto::default(); 3],
                ..Default::default()
            });
        }
        m = m.node_with(
            "Relu",
            &[&format!("x{i}")],
            &[&format!("x{}", i + 1), "unused_output_with_a_longer_name"],
            attrs,
        );
    }
    m.bytes()
}

/// Prost merges repeated singular fields: strings replaced with longer ones,
/// oneof types switched back and forth, the graph field given twice.
fn merged() -> Vec<u8> {
    let mut node = Vec::new();
    for len in [3usize, 9, 17, 33, 65, 200, 1000] {
        node.extend(field(3, &vec![b'n'; len]));
    }
    let graph_a = [field(1, &node), field(2, b"first")].concat();
    let graph_b = [field(1, &node), field(2, &[b'g'; 300])].concat();
    let mut typ = Vec::new();
    for _ in 0..50 {
        // TypeProto: tensor_type (1) then sequence_type (4, boxed).
        typ.extend(field(1, &field(2, &field(1, &field(2, b"batch")))));
        typ.extend(field(4, &field(1, &field(1, &int(1, 1)))));
    }
    let value_info = [field(1, b"x"), field(2, &typ)].concat();
    let mut model = int(1, 8);
    model.extend(field(7, &graph_a));
    model.extend(field(7, &[graph_b, field(11, &value_info)].concat()));
    for _ in 0..20 {
        model.extend(field(2, &[b'p'; 100]));
    }
    model
}

/// Packed and unpacked numbers of every kind.
fn numbers() -> Vec<u8> {
    let mut packed_ints = Vec::new();
    for v in 0..300_000u64 {
        varint(v * 97, &mut packed_ints);
    }
    let floats: Vec<u8> = (0..100_000u32).flat_map(|v| v.to_le_bytes()).collect();
    let doubles: Vec<u8> = (0..50_000u64).flat_map(|v| v.to_le_bytes()).collect();
    let mut tensor = field(1, &packed_ints);
    tensor.extend(field(4, &floats));
    tensor.extend(field(10, &doubles));
    tensor.extend(field(5, &packed_ints[..1000]));
    for v in 0..1000 {
        tensor.extend(int(11, v));
    }
    let mut attr = [field(1, b"value"), field(5, &tensor)].concat();
    attr.extend(field(8, &[0u8; 70_000]));
    model_with_node(&field(5, &attr))
}

#[test]
fn the_decode_never_takes_more_than_the_estimate() {
    // Big but legal crafted files.
    check_tight("attributes_50000", &many_attributes(50_000));
    check_tight("dims_1000000", &many_dims(1_000_000));
    check_tight("mixed", &mixed());
    // Counted as if nothing were merged or replaced, and small: loose.
    check_bound("merged", &merged());
    check_tight("numbers", &numbers());
    // The exported models (run `onnx_import/examples` to see them import).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/onnx");
    let mut n_models = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "onnx") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            check_tight(&name, &std::fs::read(&path).unwrap());
            n_models += 1;
        }
    }
    assert!(n_models >= 5, "models in {}", dir.display());
    // Malformed files: prost stops early, the bound still holds. Every prefix
    // and many byte flips of a small model.
    let small = Model::new()
        .x("x", &[1, 8])
        .node_with("Relu", &["x"], &["y"], vec![attr_ints("pads", &[1, 2, 3])])
        .bytes();
    let mut mutants: Vec<Vec<u8>> = (0..small.len()).map(|n| small[..n].to_vec()).collect();
    for i in 0..small.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut b = small.clone();
            b[i] ^= flip;
            mutants.push(b);
        }
    }
    for (k, b) in mutants.iter().enumerate() {
        if decode_estimate(b, "m.onnx").is_ok() {
            let m = measure("mutant", b);
            assert!(
                m.peak <= m.estimate,
                "mutant {k}: peak {} over the estimate {}",
                m.peak,
                m.estimate
            );
        }
    }
}
