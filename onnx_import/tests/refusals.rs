//! Every refusal is one line naming the file and, for a node, its index, name
//! and op type.

mod common;

use common::{D, I64, Model, attr_int, attr_tensor, ints_tensor, wire};
use onnx_import::{ErrorKind, ImportOptions, decode_estimate, import_bytes, import_file};
use prost::Message;

#[test]
fn an_unsupported_op_is_named_with_the_supported_list() {
    let e = Model::new()
        .x("x", &[4])
        .node("Relu", &["x"], &["y"])
        .node("NonMaxSuppression", &["y"], &["z"])
        .error();
    assert!(
        e.starts_with("m.onnx: node 1 \"n1\" (NonMaxSuppression): unsupported op; tessera imports: MatMul, Gemm, Conv,"),
        "{e}"
    );
}

#[test]
fn an_op_of_another_domain_is_refused() {
    let mut m = Model::new()
        .x("x", &[4])
        .node("FusedMatMul", &["x", "x"], &["y"]);
    m.graph.node[0].domain = "com.microsoft".into();
    let e = m.error();
    assert!(
        e.starts_with("m.onnx: node 0 \"n0\" (com.microsoft.FusedMatMul): ops of domain \"com.microsoft\" are not imported"),
        "{e}"
    );
}

#[test]
fn an_unbound_symbolic_dim_says_how_to_bind_it() {
    let e = Model::new()
        .input("input_ids", I64, &[D::N(1), D::S("sequence")])
        .error();
    assert_eq!(
        e,
        "m.onnx: graph input \"input_ids\": dim \"sequence\" is symbolic; bind it with dims.sequence"
    );
}

#[test]
fn malformed_and_truncated_files_are_not_onnx_models() {
    let e = import_bytes(b"\xff\xff\xff\xff", "x.onnx", &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("x.onnx: not an ONNX model: protobuf decode failed"),
        "{e}"
    );
    let bytes = Model::new()
        .x("x", &[4])
        .node("Relu", &["x"], &["y"])
        .bytes();
    let e = import_bytes(
        &bytes[..bytes.len() - 3],
        "x.onnx",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Malformed, "{e}");
    assert!(
        e.to_string().starts_with("x.onnx: not an ONNX model: "),
        "{e}"
    );
    let e = import_bytes(b"", "x.onnx", &ImportOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.onnx: not an ONNX model: the model has no graph"
    );
}

#[test]
fn the_opset_9_light_models_are_refused_with_the_opset_message() {
    // The Caffe2 "light" CNNs as copied from the onnx package (opset 9);
    // tests/models.rs imports their opset-13 conversions.
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/onnx/onnx_light");
    for file in ["light_densenet121.onnx", "light_inception_v2.onnx"] {
        let e = import_file(&dir.join(file), &ImportOptions::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Opset, "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "{file}: opset 9 of the default domain is not supported; tessera imports opsets 13 to 21 (convert the model with onnx.version_converter)"
            )
        );
    }
}

#[test]
fn opsets_outside_13_to_21_are_refused() {
    let mut m = Model::new().x("x", &[4]).node("Relu", &["x"], &["y"]);
    m.opset = 12;
    assert_eq!(
        m.error(),
        "m.onnx: opset 12 of the default domain is not supported; tessera imports opsets 13 to 21 (convert the model with onnx.version_converter)"
    );
    m.opset = 21;
    assert!(m.import().is_ok());
}

#[test]
fn files_over_the_size_limit_are_refused_before_reading() {
    let m = Model::new().x("x", &[4]).node("Relu", &["x"], &["y"]);
    let opts = ImportOptions {
        max_file_bytes: 10,
        ..ImportOptions::default()
    };
    let e = m.error_with(&opts);
    assert_eq!(
        e,
        format!(
            "m.onnx: {} bytes exceeds the 10 bytes limit",
            m.bytes().len()
        )
    );
    // A sparse 3.1 GiB file: only its metadata is read.
    let path = std::env::temp_dir().join(format!("onnx_import_big_{}.onnx", std::process::id()));
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(3_328_599_654).unwrap();
    let e = import_file(&path, &ImportOptions::default()).unwrap_err();
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        e.to_string(),
        format!(
            "{}: 3.1 GiB exceeds the 2 GiB limit",
            path.file_name().unwrap().to_string_lossy()
        )
    );
}

#[test]
fn an_undefined_input_names_the_node() {
    let e = Model::new()
        .x("x", &[4])
        .node("Add", &["x", "later"], &["y"])
        .error();
    assert_eq!(
        e,
        "m.onnx: node 0 \"n0\" (Add): input 1 \"later\" is not an initializer, a graph input or an output of an earlier node"
    );
}

#[test]
fn mismatched_matmul_shapes_name_both_shapes() {
    let e = Model::new()
        .x("a", &[1, 12, 128, 64])
        .x("b", &[1, 60, 130])
        .node("MatMul", &["a", "b"], &["y"])
        .error();
    assert_eq!(
        e,
        "m.onnx: node 0 \"n0\" (MatMul): inputs have shapes [1,12,128,64] and [1,60,130]; inner dimensions 64 and 60 differ"
    );
}

#[test]
fn overflowing_dims_are_refused() {
    let e = Model::new().x("x", &[1 << 40, 1 << 40]).error();
    assert_eq!(
        e,
        "m.onnx: graph input \"x\": shape [1099511627776, 1099511627776] has more than 2^48 elements (the limit)"
    );
    let e = Model::new()
        .x("x", &[4])
        .weight("w", &[1 << 30, 1 << 30])
        .node("Add", &["x", "w"], &["y"])
        .error();
    assert!(e.starts_with("m.onnx: initializer \"w\": shape"), "{e}");
    // A reshape target of huge dims, computed from constants.
    let e = Model::new()
        .x("x", &[4])
        .ints("t", &[3], &[1 << 30, 1 << 30, 1 << 30])
        .node("Expand", &["x", "t"], &["y"])
        .error();
    assert!(e.starts_with("m.onnx: node 0 \"n0\" (Expand): "), "{e}");
}

#[test]
fn ranks_over_the_limit_are_refused() {
    let e = Model::new().x("x", &[1; 9]).error();
    assert_eq!(
        e,
        "m.onnx: graph input \"x\": has rank 9; tessera imports at most rank 8"
    );
}

#[test]
fn non_positive_dims_are_refused() {
    let e = Model::new().input("x", common::F32, &[D::N(0)]).error();
    assert_eq!(
        e,
        "m.onnx: graph input \"x\": dim 0 is 0; dims must be positive"
    );
}

#[test]
fn unmodelled_optional_outputs_must_be_unused() {
    let e = Model::new()
        .x("x", &[2, 8])
        .weight("g", &[8])
        .node("LayerNormalization", &["x", "g"], &["y", "mean"])
        .node("Add", &["y", "mean"], &["z"])
        .error();
    assert_eq!(
        e,
        "m.onnx: node 1 \"n1\" (Add): input 1 \"mean\" is LayerNormalization's Mean output, which tessera does not model"
    );
}

#[test]
fn shape_inputs_computed_from_activations_are_refused() {
    let e = Model::new()
        .x("x", &[2, 8])
        .input("t", I64, &[D::N(2)])
        .node("Reshape", &["x", "t"], &["y"])
        .error();
    assert_eq!(
        e,
        "m.onnx: node 0 \"n0\" (Reshape): the target shape must be a constant (computable from initializers and shapes), but it depends on a graph input"
    );
}

#[test]
fn bad_reshape_targets_and_gather_indices_are_explained() {
    let e = Model::new()
        .x("x", &[2, 3])
        .ints("t", &[1], &[4])
        .node("Reshape", &["x", "t"], &["y"])
        .error();
    assert_eq!(
        e,
        "m.onnx: node 0 \"n0\" (Reshape): cannot reshape [2, 3] (6 elements) to [4] (4 elements)"
    );
    let e = Model::new()
        .x("x", &[2, 3])
        .ints("i", &[], &[3])
        .node_with("Gather", &["x", "i"], &["y"], vec![attr_int("axis", 1)])
        .error();
    assert_eq!(
        e,
        "m.onnx: node 0 \"n0\" (Gather): index 3 is out of range for axis 1 of size 3 in data [2,3]"
    );
}

#[test]
fn strided_slices_of_activations_are_refused() {
    let e = Model::new()
        .x("x", &[8])
        .ints("s", &[1], &[0])
        .ints("e", &[1], &[8])
        .ints("a", &[1], &[0])
        .ints("st", &[1], &[2])
        .node("Slice", &["x", "s", "e", "a", "st"], &["y"])
        .error();
    assert_eq!(
        e,
        "m.onnx: node 0 \"n0\" (Slice): step 2 on axis 0; tessera's slice is contiguous (step 1)"
    );
}

#[test]
fn a_graph_of_constants_only_has_nothing_to_simulate() {
    let e = Model::new()
        .ints("a", &[1], &[1])
        .node("Identity", &["a"], &["b"])
        .error();
    assert_eq!(
        e,
        "m.onnx: no node reads a graph input, so the model has no operations to simulate"
    );
}

#[test]
fn huge_kernels_pads_and_output_counts_are_refused_quickly() {
    let e = Model::new()
        .x("x", &[1, 1, 1, 4])
        .weight("w", &[1, 1, 1, 1 << 40])
        .node("Conv", &["x", "w"], &["y"])
        .error();
    assert!(
        e.starts_with(
            "m.onnx: node 0 \"n0\" (Conv): spatial dim 1: kernel 1099511627776 is larger"
        ),
        "{e}"
    );
    let e = Model::new()
        .x("x", &[1, 1, 1, 4])
        .weight("w", &[1, 1, 1, 1])
        .node_with(
            "Conv",
            &["x", "w"],
            &["y"],
            vec![common::attr_ints("pads", &[0, i64::MAX, 0, i64::MAX])],
        )
        .error();
    assert!(e.contains("are too large"), "{e}");
    let e = Model::new()
        .x("x", &[8])
        .node_with(
            "Split",
            &["x"],
            &["a", "b"],
            vec![attr_int("num_outputs", 1 << 60)],
        )
        .error();
    assert_eq!(
        e,
        "m.onnx: node 0 \"n0\" (Split): num_outputs is 1152921504606846976 but the node has 2 outputs"
    );
}

#[test]
fn slicing_an_empty_constant_backwards_is_empty_not_a_panic() {
    let g = Model::new()
        .x("x", &[2])
        .ints("empty", &[0], &[])
        .ints("s", &[1], &[-1])
        .ints("e", &[1], &[i64::MIN])
        .ints("a", &[1], &[0])
        .ints("st", &[1], &[-1])
        .node("Slice", &["empty", "s", "e", "a", "st"], &["y"])
        .node("Relu", &["x"], &["z"])
        .import()
        .unwrap();
    assert_eq!(g.ops().len(), 1);
}

/// A subgraph chain whose deepest message is `depth` levels below the model:
/// graph, node, attribute, graph (its `g`), node, …
fn nested(depth: usize) -> Vec<u8> {
    let fields = [7, 1, 5].into_iter().chain([6, 1, 5].into_iter().cycle());
    let fields: Vec<u64> = fields.take(depth).collect();
    fields
        .iter()
        .rev()
        .fold(Vec::new(), |body, &f| wire::field(f, &body))
}

#[test]
fn a_node_of_five_million_empty_attributes_is_refused_before_decoding() {
    // 10 MB that prost would decode into 2^23 `AttributeProto` slots of 1,600
    // bytes (an attribute holds a tensor, a graph, a sparse tensor and a type
    // inline), 12.5 GiB, plus the old 6.25 GiB while the `Vec` last grows.
    let node = [0x2a, 0x00].repeat(5_000_000);
    let e = import_bytes(
        &wire::model_with_node(&node),
        "x.onnx",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    assert_eq!(
        e.to_string(),
        "x.onnx: decoding would take about 18.8 GiB (5,000,003 nested messages, 0 repeated numbers, 1 string), over the 4 GiB limit (max_decoded_bytes)"
    );
}

#[test]
fn fifty_million_packed_zero_ints_are_refused_over_the_decode_limit() {
    // 50 MB of one-byte varints decode to 8 bytes each in a `Vec<i64>` that
    // grows to 2^26 slots: about 768 MiB with the moment it moves, under the
    // 4 GiB default but over a 512 MiB limit.
    let attr = [
        wire::field(1, b"pads"),
        wire::field(8, &vec![0u8; 50_000_000]),
    ]
    .concat();
    let bytes = wire::model_with_node(&wire::field(5, &attr));
    let opts = ImportOptions {
        max_decoded_bytes: 512 << 20,
        ..ImportOptions::default()
    };
    let e = import_bytes(&bytes, "x.onnx", &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.onnx: decoding would take about 768.0 MiB (4 nested messages, 50,000,000 repeated numbers, 2 strings), over the 512 MiB limit (max_decoded_bytes)"
    );
}

#[test]
fn messages_nested_past_prosts_limit_are_refused_by_the_scan() {
    // Prost decodes 100 levels below the model and refuses the 101st; the scan
    // refuses it first, with the reason.
    let e = import_bytes(&nested(101), "x.onnx", &ImportOptions::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    assert_eq!(
        e.to_string(),
        "x.onnx: messages nest more than 100 levels deep at byte 239 (subgraphs inside subgraphs or types inside types); tessera reads at most 100"
    );
    let deepest = nested(100);
    decode_estimate(&deepest, "x.onnx").unwrap();
    onnx_import::proto::ModelProto::decode(&deepest[..]).expect("prost decodes 100 levels");
    let e = import_bytes(&deepest, "x.onnx", &ImportOptions::default()).unwrap_err();
    assert!(
        !matches!(e.kind, ErrorKind::Limit | ErrorKind::Malformed),
        "{e}"
    );
}

#[test]
fn top_level_lists_are_counted_over_every_graph_field() {
    // Prost merges repeated `graph` fields, so 2 × 600,000 empty nodes are one
    // graph of 1,200,000.
    let half = wire::field(7, &[0x0a, 0x00].repeat(600_000));
    let e = import_bytes(&half.repeat(2), "x.onnx", &ImportOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.onnx: the graph has 1200000 nodes; tessera imports at most 1000000"
    );
    assert!(decode_estimate(&half, "x.onnx").is_ok());
}

#[test]
fn constant_propagation_is_bounded_in_total() {
    // 4,097 integer ConstantOfShape tensors of 4,096 elements each: every one
    // is small enough to propagate, together they pass the 16 Mi bound.
    let mut m = Model::new().x("x", &[4]).ints("s", &[1], &[4096]);
    for i in 0..4097 {
        m = m.node_with(
            "ConstantOfShape",
            &["s"],
            &[&format!("c{i}")],
            vec![attr_tensor("value", ints_tensor("v", &[1], &[7]))],
        );
    }
    let e = m.node("Relu", &["x"], &["y"]).error();
    assert_eq!(
        e,
        "m.onnx: node 4096 \"n4096\" (ConstantOfShape): the model's shape arithmetic computes more than 16777216 constant elements in all; tessera propagates at most that many"
    );
}
