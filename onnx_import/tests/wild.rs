//! What exports in the wild need: element-wise work on tensors computed
//! from graph inputs (masks, comparisons, Where), the structural ops
//! exporters emit (Pad, Tile, Resize, ConvTranspose, Einsum, TopK, instance
//! and group norms) with their costs, and small integer tensors stored as
//! external data: read from a data file confined to the model's folder, or
//! taken from `value_info` when the file is absent, else refused naming it.

mod common;

use common::{D, F32, I64, Model, attr_int, attr_ints, attr_str, summary};
use onnx_import::proto::{
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    tensor_proto::DataLocation, tensor_proto::DataType, tensor_shape_proto::Dimension,
    tensor_shape_proto::dimension, type_proto,
};
use onnx_import::{ImportOptions, import_file};

fn total_vector_ops(g: &sim::graph::Graph) -> u64 {
    g.ops().iter().map(|op| op.vector_ops).sum()
}

#[test]
fn a_mask_built_from_an_input_by_comparisons_and_where_is_vector_work() {
    // BERT's padding mask as the exporters write it: Cast the int mask,
    // compare it, And/Not it, and Where a fill value into the scores.
    let m = Model::new()
        .input("mask", I64, &[D::N(1), D::N(8)])
        .x("scores", &[1, 8])
        .ints("zero", &[], &[0])
        .weight("fill", &[1])
        .node_with(
            "Cast",
            &["mask"],
            &["mf"],
            vec![attr_int("to", DataType::Float as i64)],
        )
        .node("Equal", &["mask", "zero"], &["pad"])
        .node("Not", &["pad"], &["keep"])
        .node("And", &["keep", "keep"], &["keep2"])
        .node("Where", &["keep2", "scores", "fill"], &["masked"])
        .node("Mul", &["masked", "mf"], &["out"]);
    let g = m.import().unwrap();
    assert_eq!(
        summary(&g),
        "n1 {\"type\":\"elementwise\",\"func\":\"sub\"} [1, 8] m0 v8 p0 <- mask[1, 8]\n\
         n2 {\"type\":\"elementwise\",\"func\":\"sub\"} [1, 8] m0 v8 p0 <- n1[1, 8]\n\
         n3 {\"type\":\"elementwise\",\"func\":\"select\"} [1, 8] m0 v8 p0 <- n2[1, 8], n2[1, 8]\n\
         n4 {\"type\":\"elementwise\",\"func\":\"select\"} [1, 8] m0 v8 p0 <- n3[1, 8], scores[1, 8]\n\
         n5 {\"type\":\"elementwise\",\"func\":\"mul\"} [1, 8] m0 v8 p0 <- n4[1, 8], mask[1, 8]\n"
    );
    assert_eq!(total_vector_ops(&g), 40);
}

#[test]
fn each_activation_op_costs_its_documented_instruction_count() {
    // (op, vector ops per element), as docs/onnx.md's table gives them.
    let cases = [
        ("Abs", 1),
        ("Floor", 1),
        ("Reciprocal", 1),
        ("Log", 1),
        ("Sign", 2),
        ("LeakyRelu", 2),
        ("Elu", 3),
        ("Selu", 4),
        ("HardSigmoid", 2),
        ("HardSwish", 3),
        ("Softplus", 3),
        ("Softsign", 3),
        ("IsNaN", 1),
        ("IsInf", 2),
    ];
    for (op, per_elem) in cases {
        let g = Model::new()
            .x("x", &[2, 5])
            .node(op, &["x"], &["y"])
            .import()
            .unwrap_or_else(|e| panic!("{op}: {e}"));
        assert_eq!(total_vector_ops(&g), 10 * per_elem, "{op}");
    }
    let g = Model::new()
        .x("x", &[2, 5])
        .x("y", &[5])
        .node("Mod", &["x", "y"], &["z"])
        .import()
        .unwrap();
    assert_eq!(total_vector_ops(&g), 40);
    // PRelu's slope is a parameter; Clip's bounds are literals.
    let g = Model::new()
        .x("x", &[2, 5])
        .weight("slope", &[5])
        .node("PRelu", &["x", "slope"], &["y"])
        .import()
        .unwrap();
    assert_eq!((total_vector_ops(&g), g.ops()[0].params), (20, 5));
}

#[test]
fn comparisons_still_fold_on_constants() {
    // Equal on shapes stays shape arithmetic: no op, and the reshape
    // target it selects is used.
    let m = Model::new()
        .x("x", &[2, 12])
        .ints("a", &[2], &[3, 4])
        .ints("b", &[2], &[3, 0])
        .ints("t", &[2], &[4, 3])
        .ints("f", &[2], &[2, 6])
        .node("Equal", &["a", "b"], &["c"])
        .node("Where", &["c", "t", "f"], &["shape"])
        .node("Reshape", &["x", "shape"], &["r"])
        .node("Relu", &["r"], &["y"]);
    let g = m.import().unwrap();
    assert_eq!(g.ops().len(), 1);
    assert_eq!(g.ops()[0].output_shape, [4, 6]);
}

#[test]
fn pad_tile_and_resize_move_every_output_element() {
    let g = Model::new()
        .x("x", &[1, 3, 4, 4])
        .ints("pads", &[8], &[0, 0, 1, 1, 0, 0, 1, 1])
        .node("Pad", &["x", "pads"], &["p"])
        .ints("rep", &[4], &[1, 2, 1, 1])
        .node("Tile", &["p", "rep"], &["t"])
        .ints("sizes", &[4], &[1, 6, 12, 12])
        .node_with(
            "Resize",
            &["t", "", "", "sizes"],
            &["r"],
            vec![attr_str("mode", "linear")],
        )
        .import()
        .unwrap();
    let costs: Vec<(String, Vec<u64>, u64)> = g
        .ops()
        .iter()
        .map(|op| {
            (
                op.kind.name().to_string(),
                op.output_shape.clone(),
                op.vector_ops,
            )
        })
        .collect();
    assert_eq!(
        costs,
        [
            ("gather".to_string(), vec![1, 3, 6, 6], 108),
            ("gather".to_string(), vec![1, 6, 6, 6], 216),
            // Two resized dims, linear: four taps per output element.
            ("gather".to_string(), vec![1, 6, 12, 12], 864 * 4),
        ]
    );
    // Float scales have no values: one clear refusal.
    let e = Model::new()
        .x("x", &[1, 3, 4, 4])
        .weight("scales", &[4])
        .node("Resize", &["x", "", "scales"], &["r"])
        .error();
    assert!(
        e.starts_with("m.onnx: node 0 \"n0\" (Resize): scales are floats, whose values tessera does not read, and the graph's value_info does not record the output shape"),
        "{e}"
    );
}

#[test]
fn resize_by_float_scales_takes_the_recorded_output_shape() {
    let mut m = Model::new()
        .x("x", &[1, 3, 4, 4])
        .weight("scales", &[4])
        .node("Resize", &["x", "", "scales"], &["r"]);
    m.graph.value_info.push(value_info("r", &[1, 3, 8, 8]));
    let g = m.import().unwrap();
    assert_eq!(g.ops()[0].output_shape, [1, 3, 8, 8]);
    assert_eq!(g.ops()[0].vector_ops, 192, "nearest: one tap");
}

#[test]
fn conv_transpose_with_hostile_attributes_is_refused_not_overflowed() {
    let e = Model::new()
        .x("x", &[1, 16, 8, 8])
        .weight("w", &[16, 8, 4, 4])
        .node_with(
            "ConvTranspose",
            &["x", "w"],
            &["y"],
            vec![attr_ints("strides", &[i64::MAX, i64::MAX])],
        )
        .error();
    assert!(e.contains("gives an output size of"), "{e}");
}

#[test]
fn conv_transpose_is_a_product_of_the_transposed_convolutions_macs_then_col2im() {
    // 16 → 8 channels, 4×4 kernel, stride 2, pads 1: 8×8 → 16×16, the
    // DCGAN-style upsampling layer.
    let g = Model::new()
        .x("x", &[1, 16, 8, 8])
        .weight("w", &[16, 8, 4, 4])
        .weight("b", &[8])
        .node_with(
            "ConvTranspose",
            &["x", "w", "b"],
            &["y"],
            vec![
                attr_ints("strides", &[2, 2]),
                attr_ints("pads", &[1, 1, 1, 1]),
            ],
        )
        .import()
        .unwrap();
    let ops = g.ops();
    assert_eq!(ops.len(), 2);
    // Every input pixel times every weight: 64 · 16 · 8 · 16.
    assert_eq!(ops[0].macs, 64 * 16 * 8 * 16);
    assert_eq!(ops[0].params, 16 * 8 * 16 + 8);
    assert_eq!(ops[1].output_shape, [1, 8, 16, 16]);
    assert_eq!(ops[1].vector_ops, 64 * 8 * 16);
}

#[test]
fn einsum_matrix_products_are_matmuls_and_other_equations_are_refused() {
    let g = Model::new()
        .x("q", &[1, 12, 128, 64])
        .x("k", &[1, 12, 128, 64])
        .node_with(
            "Einsum",
            &["q", "k"],
            &["s"],
            vec![attr_str("equation", "bhqd,bhkd->bhqk")],
        )
        .weight("w", &[64, 32])
        .node_with(
            "Einsum",
            &["q", "w"],
            &["p"],
            vec![attr_str("equation", "...d,de->...e")],
        )
        .import()
        .unwrap();
    let ops = g.ops();
    assert_eq!(ops[0].output_shape, [1, 12, 128, 128]);
    assert_eq!(ops[0].macs, 12 * 128 * 128 * 64);
    assert_eq!(ops[1].output_shape, [1, 12, 128, 32]);
    assert_eq!((ops[1].macs, ops[1].params), (12 * 128 * 64 * 32, 64 * 32));
    let e = Model::new()
        .x("a", &[4, 4])
        .node_with(
            "Einsum",
            &["a"],
            &["d"],
            vec![attr_str("equation", "ii->i")],
        )
        .error();
    assert_eq!(
        e,
        "m.onnx: node 0 \"n0\" (Einsum): equation \"ii->i\" does not have two operands; tessera imports Einsum only as a (batched) matrix product of two operands"
    );
}

#[test]
fn top_k_with_a_constant_k_is_a_heap_over_the_axis() {
    let g = Model::new()
        .x("x", &[2, 100])
        .ints("k", &[1], &[5])
        .node("TopK", &["x", "k"], &["v", "i"])
        .node("Relu", &["v"], &["y"])
        .import()
        .unwrap();
    let ops = g.ops();
    assert_eq!(ops[0].output_shape, [2, 5]);
    // ⌈log2(6)⌉ = 3 compare-swaps per element read.
    assert_eq!(ops[0].vector_ops, 200 * 3);
}

#[test]
fn instance_and_group_norms_are_layer_norms_with_per_channel_parameters() {
    let g = Model::new()
        .x("x", &[1, 32, 8, 8])
        .weight("s", &[32])
        .weight("b", &[32])
        .node("InstanceNormalization", &["x", "s", "b"], &["y"])
        .weight("s2", &[32])
        .weight("b2", &[32])
        .node_with(
            "GroupNormalization",
            &["y", "s2", "b2"],
            &["z"],
            vec![attr_int("num_groups", 8)],
        )
        .import()
        .unwrap();
    for op in g.ops() {
        assert_eq!(op.kind.name(), "layer_norm");
        assert_eq!((op.params, op.vector_ops), (64, 4 * 32 * 64));
    }
}

// ---------------------------------------------------------------- external data

/// An int64 initializer whose values are external data at `location`.
fn external_ints(name: &str, dims: &[i64], location: &str, offset: u64) -> TensorProto {
    let n: i64 = dims.iter().product();
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: I64,
        data_location: DataLocation::External as i32,
        external_data: vec![
            entry("location", location),
            entry("offset", &offset.to_string()),
            entry("length", &(n * 8).to_string()),
        ],
        ..Default::default()
    }
}

fn entry(key: &str, value: &str) -> StringStringEntryProto {
    StringStringEntryProto {
        key: key.into(),
        value: value.into(),
    }
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: F32,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(dimension::Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `x [2, 12]` reshaped by an external target `[6, 4]` (after 8 bytes of
/// another tensor in the data file), then a Relu.
fn reshape_model(location: &str) -> Model {
    let mut m = Model::new()
        .x("x", &[2, 12])
        .node("Reshape", &["x", "shape"], &["r"])
        .node("Relu", &["r"], &["y"]);
    m.graph
        .initializer
        .push(external_ints("shape", &[2], location, 8));
    m
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("onnx_import-wild-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn data_bytes(vals: &[i64]) -> Vec<u8> {
    let mut b = vec![0u8; 8];
    for v in vals {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

fn write_model(dir: &std::path::Path, m: &Model) -> std::path::PathBuf {
    let path = dir.join("m.onnx");
    std::fs::write(&path, m.bytes()).unwrap();
    path
}

#[test]
fn small_integer_tensors_are_read_from_the_data_file_beside_the_model() {
    let dir = temp_dir("present");
    std::fs::write(dir.join("m.onnx.data"), data_bytes(&[6, 4])).unwrap();
    let g = import_file(
        &write_model(&dir, &reshape_model("m.onnx.data")),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(g.ops()[0].output_shape, [6, 4]);
    // A data file too short for the tensor is refused, naming it.
    std::fs::write(dir.join("m.onnx.data"), [0u8; 12]).unwrap();
    let e = import_file(&dir.join("m.onnx"), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "m.onnx: initializer \"shape\": external data file \"m.onnx.data\" has 12 bytes; the tensor's 16 bytes at offset 8 lie past its end"
    );
}

#[test]
fn external_data_outside_the_models_folder_is_refused() {
    let dir = temp_dir("escape");
    let inner = dir.join("model");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::write(dir.join("secret.bin"), data_bytes(&[6, 4])).unwrap();
    for location in ["../secret.bin", "/etc/hostname", "a/../../secret.bin"] {
        let e = import_file(
            &write_model(&inner, &reshape_model(location)),
            &ImportOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            format!(
                "m.onnx: initializer \"shape\": external data location {location:?} is not a relative path inside the model's folder; tessera reads external data only from there"
            )
        );
    }
    #[cfg(unix)]
    {
        // A link inside the folder that leads out of it.
        std::os::unix::fs::symlink(dir.join("secret.bin"), inner.join("link.bin")).unwrap();
        let e = import_file(
            &write_model(&inner, &reshape_model("link.bin")),
            &ImportOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "m.onnx: initializer \"shape\": external data location \"link.bin\" resolves to "
            ) && e.ends_with(
                "outside the model's folder; tessera reads external data only from there"
            ),
            "{e}"
        );
    }
}

#[test]
fn without_the_data_file_value_info_gives_the_target_or_the_file_is_named() {
    let dir = temp_dir("absent");
    // The Reshape's output shape is recorded: the target follows from it.
    let mut m = reshape_model("m.onnx.data");
    m.graph.value_info.push(value_info("r", &[6, 4]));
    let g = import_file(&write_model(&dir, &m), &ImportOptions::default()).unwrap();
    assert_eq!(g.ops()[0].output_shape, [6, 4]);
    // Not recorded: refused, naming the file and the folder.
    let path = write_model(&dir, &reshape_model("m.onnx.data"));
    let e = import_file(&path, &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "m.onnx: node 0 \"n0\" (Reshape): input 1 \"shape\" is stored in the external data file \"m.onnx.data\" and the file is not in the model's folder {}, and the graph's value_info does not determine it; put \"m.onnx.data\" beside the model",
            dir.display()
        )
    );
    // From memory there is no folder to look in.
    let e = reshape_model("m.onnx.data").error();
    assert!(
        e.contains("the model was read from memory, so no data file can be read"),
        "{e}"
    );
}

#[test]
fn reduce_axes_in_missing_external_data_come_from_the_recorded_output_shape() {
    let dir = temp_dir("reduce");
    let mut m = Model::new().x("x", &[1, 512, 7, 7]).node_with(
        "ReduceMean",
        &["x", "axes"],
        &["r"],
        vec![attr_int("keepdims", 1)],
    );
    m.opset = 18;
    m.graph
        .initializer
        .push(external_ints("axes", &[2], "m.onnx.data", 0));
    m.graph.value_info.push(value_info("r", &[1, 512, 1, 1]));
    let g = import_file(&write_model(&dir, &m), &ImportOptions::default()).unwrap();
    assert_eq!(g.ops()[0].output_shape, [1, 512, 1, 1]);
    assert_eq!(g.ops()[0].vector_ops, 512 * 49);
}
