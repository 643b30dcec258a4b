//! Shape inference and lowering of each op, on tiny models built in memory.

mod common;

use common::{D, F32, I64, Model, attr_int, attr_ints, attr_str, attr_tensor, dims, summary};
use onnx_import::{ImportOptions, proto::TensorProto};
use sim::graph::{DType, OpKind};

#[test]
fn matmul_with_a_constant_weight_reads_one_input_and_holds_the_weight() {
    let g = Model::new()
        .x("x", &[2, 8, 16])
        .weight("w", &[16, 32])
        .node("MatMul", &["x", "w"], &["y"])
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n0 {\"type\":\"mat_mul\",\"batch\":1,\"m\":16,\"k\":16,\"n\":32} [2, 8, 32] m8192 v0 p512 <- x[2, 8, 16]\n"
    );
}

#[test]
fn matmul_of_two_activations_broadcasts_batch_dims() {
    let g = Model::new()
        .x("a", &[2, 3, 4, 5])
        .x("b", &[2, 3, 5, 6])
        .node("MatMul", &["a", "b"], &["y"])
        .import()
        .unwrap();
    assert!(matches!(
        g.ops()[0].kind,
        OpKind::MatMul {
            batch: 6,
            m: 4,
            k: 5,
            n: 6
        }
    ));
    assert_eq!(g.ops()[0].inputs.len(), 2);
    assert_eq!(g.ops()[0].output_shape, [2, 3, 4, 6]);
}

#[test]
fn gemm_with_transposed_weight_and_bias_counts_both() {
    let g = Model::new()
        .x("x", &[4, 16])
        .weight("w", &[32, 16])
        .weight("b", &[32])
        .node_with(
            "Gemm",
            &["x", "w", "b"],
            &["y"],
            vec![attr_int("transB", 1)],
        )
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n0 {\"type\":\"mat_mul\",\"batch\":1,\"m\":4,\"k\":16,\"n\":32} [4, 32] m2048 v0 p544 <- x[4, 16]\n"
    );
}

#[test]
fn elementwise_ops_broadcast_and_charge_constant_operands_as_parameters() {
    let g = Model::new()
        .x("x", &[2, 3, 4])
        .x("s", &[3, 1])
        .weight("b", &[4])
        .node("Add", &["x", "b"], &["y"])
        .node("Mul", &["y", "s"], &["z"])
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n0 {\"type\":\"elementwise\",\"func\":\"add\"} [2, 3, 4] m0 v24 p4 <- x[2, 3, 4]\n\
         n1 {\"type\":\"elementwise\",\"func\":\"mul\"} [2, 3, 4] m0 v24 p0 <- n0[2, 3, 4], s[3, 1]\n"
    );
}

#[test]
fn reshape_with_zero_and_minus_one_folds_into_the_consumer_or_stays_as_a_free_op() {
    let m = Model::new()
        .x("x", &[2, 3, 4])
        .ints("shape", &[2], &[0, -1])
        .node("Reshape", &["x", "shape"], &["r"])
        .node("Relu", &["r"], &["y"]);
    let folded = m.import().unwrap();
    assert_eq!(
        summary(&folded),
        "n1 {\"type\":\"elementwise\",\"func\":\"relu\"} [2, 12] m0 v24 p0 <- x[2, 12]\n"
    );
    let kept = m
        .import_with(&ImportOptions {
            keep_free_ops: true,
            ..ImportOptions::default()
        })
        .unwrap();
    assert_eq!(
        summary(&kept),
        "n0 {\"type\":\"reshape\"} [2, 12] m0 v0 p0 <- x[2, 3, 4]\n\
         n1 {\"type\":\"elementwise\",\"func\":\"relu\"} [2, 12] m0 v24 p0 <- n0[2, 12]\n"
    );
}

#[test]
fn shape_gather_unsqueeze_concat_chains_compute_reshape_targets() {
    // target = concat([-1], unsqueeze(shape(x)[2])) = [-1, 7]
    let g = Model::new()
        .x("x", &[2, 5, 7])
        .ints("two", &[], &[2])
        .ints("minus_one", &[1], &[-1])
        .ints("zero", &[1], &[0])
        .node("Shape", &["x"], &["s"])
        .node("Gather", &["s", "two"], &["d"])
        .node("Unsqueeze", &["d", "zero"], &["du"])
        .node_with(
            "Concat",
            &["minus_one", "du"],
            &["t"],
            vec![attr_int("axis", 0)],
        )
        .node("Reshape", &["x", "t"], &["r"])
        .node("Relu", &["r"], &["y"])
        .import()
        .unwrap();
    assert_eq!(g.ops().len(), 1);
    assert_eq!(g.ops()[0].output_shape, [10, 7]);
}

#[test]
fn conv_auto_pad_same_upper_maps_to_a_symmetric_padding_with_the_same_output() {
    let g = Model::new()
        .x("x", &[1, 3, 224, 224])
        .weight("w", &[8, 3, 3, 3])
        .weight("b", &[8])
        .node_with(
            "Conv",
            &["x", "w", "b"],
            &["y"],
            vec![
                attr_str("auto_pad", "SAME_UPPER"),
                attr_ints("strides", &[2, 2]),
            ],
        )
        .import()
        .unwrap();
    let op = &g.ops()[0];
    assert_eq!(op.output_shape, [1, 8, 112, 112]);
    assert!(matches!(
        op.kind,
        OpKind::Conv2d {
            padding: [1, 1],
            ..
        }
    ));
    assert_eq!(op.params, 8 * 3 * 9 + 8);
    assert_eq!(op.macs, 112 * 112 * 8 * 27);
}

#[test]
fn grouped_and_one_dimensional_convolutions_import() {
    let g = Model::new()
        .x("x", &[1, 8, 100])
        .weight("w", &[8, 1, 5])
        .node_with(
            "Conv",
            &["x", "w"],
            &["y"],
            vec![attr_int("group", 8), attr_ints("pads", &[2, 2])],
        )
        .node("Relu", &["y"], &["z"])
        .import()
        .unwrap();
    assert!(matches!(
        g.ops()[0].kind,
        OpKind::Conv2d {
            groups: 8,
            in_hw: [1, 100],
            out_hw: [1, 100],
            kernel: [1, 5],
            ..
        }
    ));
    assert_eq!(g.ops()[1].inputs[0].shape, [1, 8, 100]);
}

#[test]
fn max_pool_ceil_mode_rounds_up() {
    let pool = |ceil| {
        Model::new()
            .x("x", &[1, 4, 6, 6])
            .node_with(
                "MaxPool",
                &["x"],
                &["y"],
                vec![
                    attr_ints("kernel_shape", &[3, 3]),
                    attr_ints("strides", &[2, 2]),
                    attr_int("ceil_mode", ceil),
                ],
            )
            .import()
            .unwrap()
            .ops()[0]
            .output_shape
            .clone()
    };
    assert_eq!(pool(0), [1, 4, 2, 2]);
    assert_eq!(pool(1), [1, 4, 3, 3]);
}

#[test]
fn global_average_pool_and_flatten_feed_a_classifier() {
    let g = Model::new()
        .x("x", &[1, 64, 7, 7])
        .weight("w", &[10, 64])
        .node("GlobalAveragePool", &["x"], &["p"])
        .node("Flatten", &["p"], &["f"])
        .node_with("Gemm", &["f", "w"], &["y"], vec![attr_int("transB", 1)])
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n0 {\"type\":\"global_avg_pool\"} [1, 64] m0 v3136 p0 <- x[1, 64, 7, 7]\n\
         n2 {\"type\":\"mat_mul\",\"batch\":1,\"m\":1,\"k\":64,\"n\":10} [1, 10] m640 v0 p640 <- n0[1, 64]\n"
    );
}

#[test]
fn split_gives_one_slice_per_output() {
    let g = Model::new()
        .x("x", &[1, 6, 8])
        .ints("sizes", &[2], &[2, 4])
        .node_with(
            "Split",
            &["x", "sizes"],
            &["a", "b"],
            vec![attr_int("axis", 1)],
        )
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n0/0 {\"type\":\"slice\",\"axis\":1,\"start\":0,\"len\":2} [1, 2, 8] m0 v0 p0 <- x[1, 6, 8]\n\
         n0/1 {\"type\":\"slice\",\"axis\":1,\"start\":2,\"len\":4} [1, 4, 8] m0 v0 p0 <- x[1, 6, 8]\n"
    );
    // Opset 18's num_outputs: chunks of ceil(8 / 3) = 3, the last smaller.
    let mut m = Model::new().x("x", &[8]).node_with(
        "Split",
        &["x"],
        &["a", "b", "c"],
        vec![attr_int("num_outputs", 3)],
    );
    m.opset = 18;
    let lens: Vec<u64> = m
        .import()
        .unwrap()
        .ops()
        .iter()
        .map(|o| o.output_shape[0])
        .collect();
    assert_eq!(lens, [3, 3, 2]);
}

#[test]
fn slices_on_several_axes_become_a_chain_and_identity_slices_fold() {
    let g = Model::new()
        .x("x", &[4, 6, 8])
        .ints("starts", &[3], &[1, 0, 0])
        .ints("ends", &[3], &[3, i64::MAX, -2])
        .node("Slice", &["x", "starts", "ends"], &["y"])
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n0/axis0 {\"type\":\"slice\",\"axis\":0,\"start\":1,\"len\":2} [2, 6, 8] m0 v0 p0 <- x[4, 6, 8]\n\
         n0/axis2 {\"type\":\"slice\",\"axis\":2,\"start\":0,\"len\":6} [2, 6, 6] m0 v0 p0 <- n0/axis0[2, 6, 8]\n"
    );
}

#[test]
fn gather_from_a_weight_table_is_an_embedding_and_from_an_activation_a_gather() {
    let g = Model::new()
        .input("ids", I64, &[D::N(1), D::N(4)])
        .weight("table", &[100, 16])
        .ints("last", &[], &[-1])
        .node("Gather", &["table", "ids"], &["e"])
        .node_with("Gather", &["e", "last"], &["t"], vec![attr_int("axis", 1)])
        // Unfused: with fusion a gather of one static index is a slice (fuse.rs).
        .import_with(&ImportOptions {
            fuse: false,
            ..ImportOptions::default()
        })
        .unwrap();
    assert_eq!(
        summary(&g),
        "n0 {\"type\":\"embedding\",\"vocab\":100,\"dim\":16} [1, 4, 16] m0 v0 p1600 <- ids[1, 4]\n\
         n1 {\"type\":\"gather\",\"axis\":1} [1, 16] m0 v16 p0 <- n0[1, 4, 16]\n"
    );
}

#[test]
fn a_class_token_joined_by_concat_is_a_parameter() {
    let g = Model::new()
        .x("x", &[1, 4, 8])
        .weight("cls", &[1, 1, 8])
        .node_with("Concat", &["cls", "x"], &["y"], vec![attr_int("axis", 1)])
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n0 {\"type\":\"concat\",\"axis\":1} [1, 5, 8] m0 v0 p8 <- x[1, 4, 8]\n"
    );
}

#[test]
fn each_initializer_is_charged_once_and_batch_norm_statistics_are_not_parameters() {
    let g = Model::new()
        .x("x", &[1, 4, 3, 4])
        .weight("w", &[4, 4])
        .weight("gamma", &[4])
        .weight("beta", &[4])
        .weight("mean", &[4])
        .weight("var", &[4])
        .ints("perm_unused", &[2], &[1, 0])
        .node(
            "BatchNormalization",
            &["x", "gamma", "beta", "mean", "var"],
            &["b"],
        )
        .node_with(
            "Transpose",
            &["w"],
            &["wt"],
            vec![attr_ints("perm", &[1, 0])],
        )
        .node("MatMul", &["b", "wt"], &["y1"])
        .node("MatMul", &["y1", "w"], &["y2"])
        .import()
        .unwrap();
    let params: Vec<u64> = g.ops().iter().map(|o| o.params).collect();
    // BatchNorm: gamma and beta; first MatMul: w (through its transpose); the
    // second reads w again, already charged.
    assert_eq!(params, [8, 16, 0]);
}

#[test]
fn reduce_mean_takes_axes_from_the_attribute_before_opset_18_and_the_input_from_18() {
    let g = Model::new()
        .x("x", &[2, 3, 4])
        .node_with(
            "ReduceMean",
            &["x"],
            &["y"],
            vec![attr_ints("axes", &[-1]), attr_int("keepdims", 1)],
        )
        .import()
        .unwrap();
    assert_eq!(g.ops()[0].output_shape, [2, 3, 1]);
    let mut m = Model::new()
        .x("x", &[2, 3, 4])
        .ints("axes", &[2], &[0, 2])
        .node_with(
            "ReduceMean",
            &["x", "axes"],
            &["y"],
            vec![attr_int("keepdims", 0)],
        );
    m.opset = 18;
    let g = m.import().unwrap();
    assert_eq!(g.ops()[0].output_shape, [3]);
    assert_eq!(g.ops()[0].vector_ops, 24);
}

#[test]
fn constant_of_shape_and_expand_broadcast_an_activation() {
    let g = Model::new()
        .x("x", &[1, 8])
        .node_with(
            "Constant",
            &[],
            &["shape"],
            vec![attr_tensor(
                "value",
                common::ints_tensor("", &[3], &[4, 2, 8]),
            )],
        )
        .node("Expand", &["x", "shape"], &["y"])
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n1 {\"type\":\"broadcast\"} [4, 2, 8] m0 v64 p0 <- x[1, 8]\n"
    );
}

#[test]
fn where_on_a_constant_mask_is_a_select_with_one_input() {
    let mask = TensorProto {
        dims: vec![4, 4],
        data_type: onnx_import::proto::tensor_proto::DataType::Bool as i32,
        int32_data: vec![1; 16],
        ..Default::default()
    };
    let g = Model::new()
        .x("s", &[2, 4, 4])
        .node_with("Constant", &[], &["mask"], vec![attr_tensor("value", mask)])
        .node_with("ConstantOfShape", &["one"], &["fill"], vec![])
        .ints("one", &[1], &[1])
        .node("Where", &["mask", "s", "fill"], &["y"]);
    // `one` is declared after its use in a node, but initializers are graph-level.
    let g = g.import().unwrap();
    assert_eq!(
        summary(&g),
        "n2 {\"type\":\"elementwise\",\"func\":\"select\"} [2, 4, 4] m0 v32 p0 <- s[2, 4, 4]\n"
    );
}

#[test]
fn symbolic_dims_are_bound_recorded_and_listed() {
    let m = Model::new()
        .input("ids", I64, &[D::S("batch"), D::S("sequence")])
        .weight("table", &[10, 4])
        .node("Gather", &["table", "ids"], &["e"]);
    let listed =
        onnx_import::symbolic_dims(&m.bytes(), "m.onnx", &ImportOptions::default()).unwrap();
    assert_eq!(
        listed.into_iter().collect::<Vec<_>>(),
        [
            ("batch".to_string(), vec!["ids".to_string()]),
            ("sequence".to_string(), vec!["ids".to_string()])
        ]
    );
    let g = m
        .import_with(&dims(&[("batch", 2), ("sequence", 16)]))
        .unwrap();
    assert_eq!(g.inputs()[0].shape, [2, 16]);
    assert_eq!(g.params()["dims.sequence"], "16");
    assert_eq!(g.params()["opset"], "17");
    assert_eq!(g.name(), "m");
    assert_eq!(g.model(), "onnx:m.onnx");
}

#[test]
fn dtype_defaults_to_the_model_float_type_and_can_be_chosen() {
    let m = Model::new().x("x", &[4]).node("Relu", &["x"], &["y"]);
    assert_eq!(m.import().unwrap().ops()[0].dtype, DType::Fp32);
    let g = m
        .import_with(&ImportOptions {
            dtype: Some(DType::Int8),
            ..ImportOptions::default()
        })
        .unwrap();
    assert_eq!(
        (g.ops()[0].dtype, g.ops()[0].output_bytes),
        (DType::Int8, 4)
    );
    let half = Model::new()
        .input("x", 10, &[D::N(4)])
        .node("Relu", &["x"], &["y"]);
    assert_eq!(half.import().unwrap().ops()[0].dtype, DType::Fp16);
    let _ = F32;
}

#[test]
fn layer_norm_softmax_and_transpose_keep_their_costs() {
    let g = Model::new()
        .x("x", &[2, 4, 8])
        .weight("g", &[8])
        .weight("b", &[8])
        .node("LayerNormalization", &["x", "g", "b"], &["n"])
        .node_with(
            "Transpose",
            &["n"],
            &["t"],
            vec![attr_ints("perm", &[0, 2, 1])],
        )
        .node("Softmax", &["t"], &["y"])
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n0 {\"type\":\"layer_norm\"} [2, 4, 8] m0 v256 p16 <- x[2, 4, 8]\n\
         n1 {\"type\":\"transpose\",\"perm\":[0,2,1]} [2, 8, 4] m0 v64 p0 <- n0[2, 4, 8]\n\
         n2 {\"type\":\"softmax\"} [2, 8, 4] m0 v192 p0 <- n1[2, 8, 4]\n"
    );
}

#[test]
fn greater_or_equal_and_less_or_equal_fold_on_constants() {
    // Reshape targets computed from comparisons of constants:
    // [1, 2, 3] >= 2 is [0, 1, 1], [1, 2, 3] <= 2 is [1, 1, 0].
    let cast = |m: Model, from: &str, to: &str| {
        m.node_with("Cast", &[from], &[to], vec![attr_int("to", I64 as i64)])
    };
    let m = Model::new()
        .x("x", &[16])
        .x("y", &[32])
        .ints("a", &[3], &[1, 2, 3])
        .ints("two", &[], &[2])
        .ints("base_ge", &[3], &[2, 1, 3])
        .ints("base_le", &[3], &[3, 1, 4])
        .node("GreaterOrEqual", &["a", "two"], &["ge"])
        .node("LessOrEqual", &["a", "two"], &["le"]);
    let m = cast(cast(m, "ge", "gei"), "le", "lei")
        .node("Add", &["gei", "base_ge"], &["sx"])
        .node("Add", &["lei", "base_le"], &["sy"])
        .node("Reshape", &["x", "sx"], &["rx"])
        .node("Reshape", &["y", "sy"], &["ry"])
        .node("Relu", &["rx"], &["ox"])
        .node("Relu", &["ry"], &["oy"]);
    assert_eq!(
        summary(&m.import().unwrap()),
        "n8 {\"type\":\"elementwise\",\"func\":\"relu\"} [2, 2, 4] m0 v16 p0 <- x[2, 2, 4]\n\
         n9 {\"type\":\"elementwise\",\"func\":\"relu\"} [4, 2, 4] m0 v32 p0 <- y[4, 2, 4]\n"
    );
    for op in ["GreaterOrEqual", "LessOrEqual"] {
        // On activations a comparison is one vector operation per element.
        let g = Model::new()
            .x("x", &[4])
            .node(op, &["x", "x"], &["c"])
            .import()
            .unwrap();
        assert_eq!(
            summary(&g),
            "n0 {\"type\":\"elementwise\",\"func\":\"sub\"} [4] m0 v4 p0 <- x[4], x[4]\n"
        );
    }
}

#[test]
fn a_one_element_float_initializer_is_a_literal_not_a_parameter() {
    // The dynamo exporter writes `scores * 0.125` with a rank-0 initializer,
    // where the TorchScript exporter writes a Constant node.
    let g = Model::new()
        .x("x", &[2, 4])
        .weight("scale", &[])
        .weight("one", &[1])
        .weight("b", &[4])
        .node("Mul", &["x", "scale"], &["y"])
        .node("Add", &["y", "one"], &["z"])
        .node("Add", &["z", "b"], &["w"])
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n0 {\"type\":\"elementwise\",\"func\":\"scale\"} [2, 4] m0 v8 p0 <- x[2, 4]\n\
         n1 {\"type\":\"elementwise\",\"func\":\"add\"} [2, 4] m0 v8 p0 <- n0[2, 4]\n\
         n2 {\"type\":\"elementwise\",\"func\":\"add\"} [2, 4] m0 v8 p4 <- n1[2, 4]\n"
    );
}

#[test]
fn gather_elements_folds_on_constants_and_is_a_gather_on_activations() {
    // data [[10, 11, 12], [20, 21, 22]], indices [[2, 0], [1, -1]] along
    // axis 1: [[12, 10], [21, 22]]; minus [10, 7, 19, 18]: a Reshape target
    // of [2, 3, 2, 4].
    let g = Model::new()
        .x("x", &[48])
        .ints("data", &[2, 3], &[10, 11, 12, 20, 21, 22])
        .ints("idx", &[2, 2], &[2, 0, 1, -1])
        .ints("four", &[1], &[4])
        .ints("off", &[4], &[10, 7, 19, 18])
        .node_with(
            "GatherElements",
            &["data", "idx"],
            &["g"],
            vec![attr_int("axis", 1)],
        )
        .node("Reshape", &["g", "four"], &["flat"])
        .node("Sub", &["flat", "off"], &["shape"])
        .node("Reshape", &["x", "shape"], &["r"])
        .node("Relu", &["r"], &["y"])
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n4 {\"type\":\"elementwise\",\"func\":\"relu\"} [2, 3, 2, 4] m0 v48 p0 <- x[2, 3, 2, 4]\n"
    );
    // From an activation by constant or computed indices: a gather.
    let g = Model::new()
        .x("x", &[2, 3])
        .ints("idx", &[2, 2], &[2, 0, 1, -1])
        .input("j", I64, &[D::N(1), D::N(3)])
        .node_with(
            "GatherElements",
            &["x", "idx"],
            &["a"],
            vec![attr_int("axis", 1)],
        )
        .node_with(
            "GatherElements",
            &["x", "j"],
            &["b"],
            vec![attr_int("axis", 0)],
        )
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n0 {\"type\":\"gather\",\"axis\":1} [2, 2] m0 v4 p0 <- x[2, 3]\n\
         n1 {\"type\":\"gather\",\"axis\":0} [1, 3] m0 v3 p0 <- x[2, 3], j[1, 3]\n"
    );
    let e = Model::new()
        .x("x", &[2, 3])
        .ints("idx", &[3, 1], &[0, 0, 0])
        .node_with(
            "GatherElements",
            &["x", "idx"],
            &["a"],
            vec![attr_int("axis", 1)],
        )
        .error();
    assert!(
        e.contains("indices of shape [3,1] do not fit data of shape [2,3]"),
        "{e}"
    );
}

/// Imports `m` with `x` of 48 elements reshaped to the int64 value `shape`
/// (computed by the model) and read by a Relu: the summary shows the shape.
fn reshaped_by(m: Model, shape: &str) -> String {
    let g = m
        .x("x", &[48])
        .node("Reshape", &["x", shape], &["r"])
        .node("Relu", &["r"], &["y"])
        .import()
        .unwrap();
    let s = summary(&g);
    s[s.find('[').unwrap()..s.find(']').unwrap() + 1].to_string()
}

fn cast_i64(m: Model, from: &str, to: &str) -> Model {
    m.node_with("Cast", &[from], &[to], vec![attr_int("to", I64 as i64)])
}

#[test]
fn and_or_xor_fold_on_constants() {
    // [1, 1, 0] and [1, 0, 0]: and [1, 0, 0], or [1, 1, 0], xor [0, 1, 0];
    // 2·and + 3·or + 4·xor + 1 = [6, 8, 1].
    let m = Model::new()
        .ints("p", &[3], &[1, 1, 0])
        .ints("q", &[3], &[1, 0, 0])
        .ints("one", &[], &[1])
        .ints("k", &[3], &[2, 3, 4])
        .node("Equal", &["p", "one"], &["pb"])
        .node("Equal", &["q", "one"], &["qb"])
        .node("And", &["pb", "qb"], &["a"])
        .node("Or", &["pb", "qb"], &["o"])
        .node("Xor", &["pb", "qb"], &["x_"]);
    let m = cast_i64(cast_i64(cast_i64(m, "a", "ai"), "o", "oi"), "x_", "xi")
        .ints("two", &[], &[2])
        .ints("three", &[], &[3])
        .ints("four", &[], &[4])
        .node("Mul", &["ai", "two"], &["a2"])
        .node("Mul", &["oi", "three"], &["o3"])
        .node("Mul", &["xi", "four"], &["x4"])
        .node("Add", &["a2", "o3"], &["s1"])
        .node("Add", &["s1", "x4"], &["s2"])
        .node("Add", &["s2", "one"], &["shape"]);
    assert_eq!(reshaped_by(m, "shape"), "[6, 8, 1]");
    let e = Model::new()
        .input(
            "b",
            onnx_import::proto::tensor_proto::DataType::Bool as i32,
            &[D::N(4)],
        )
        .node("And", &["b", "b"], &["c"])
        .import()
        .unwrap();
    assert_eq!(
        summary(&e),
        "n0 {\"type\":\"elementwise\",\"func\":\"select\"} [4] m0 v4 p0 <- b[4], b[4]\n"
    );
}

#[test]
fn max_and_min_fold_on_constants_with_any_number_of_inputs() {
    // max([1, 4, 2], [3, 1, 6], 2) = [3, 4, 6];
    // min([3, 4, 6], [2, 8, 8]) = [2, 4, 6].
    let m = Model::new()
        .ints("a", &[3], &[1, 4, 2])
        .ints("b", &[3], &[3, 1, 6])
        .ints("c", &[], &[2])
        .ints("d", &[3], &[2, 8, 8])
        .node("Max", &["a", "b", "c"], &["m"])
        .node("Min", &["m", "d"], &["shape"]);
    assert_eq!(reshaped_by(m, "shape"), "[2, 4, 6]");
    // On activations: a compare and a select per element and extra input.
    let g = Model::new()
        .x("x", &[4])
        .x("z", &[1])
        .node("Max", &["x", "x", "z"], &["y"])
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n0 {\"type\":\"elementwise\",\"func\":\"select\"} [4] m0 v16 p0 <- x[4], x[4], z[1]\n"
    );
}

#[test]
fn cumsum_folds_on_constants_with_exclusive_and_reverse() {
    // [[1, 2], [3, 4]] along axis 0: [[1, 2], [4, 6]].
    let m = Model::new()
        .ints("v", &[2, 2], &[1, 2, 3, 4])
        .ints("zero", &[], &[0])
        .ints("flat", &[1], &[4])
        .node("CumSum", &["v", "zero"], &["c"])
        .node("Reshape", &["c", "flat"], &["shape"]);
    // [1, 2, 4, 6]: 48 elements.
    assert_eq!(reshaped_by(m, "shape"), "[1, 2, 4, 6]");
    let m = Model::new()
        .ints("v", &[3], &[1, 2, 4])
        .ints("ax", &[], &[0])
        .ints("base", &[3], &[2, 0, -3])
        .node_with(
            "CumSum",
            &["v", "ax"],
            &["c"],
            vec![attr_int("exclusive", 1), attr_int("reverse", 1)],
        )
        .node("Sub", &["c", "base"], &["shape"]);
    // Reversed and exclusive, [1, 2, 4] sums to [6, 4, 0]; minus the base:
    assert_eq!(reshaped_by(m, "shape"), "[4, 4, 3]");
    let e = Model::new()
        .x("x", &[4])
        .ints("ax", &[], &[0])
        .node("CumSum", &["x", "ax"], &["y"])
        .error();
    assert!(e.contains("tessera folds CumSum only on constants"), "{e}");
}

#[test]
fn gather_nd_folds_on_constants() {
    // data [[2, 3], [4, 8]]; indices [[1, 0], [0, 1]] pick [4, 3]; with
    // indices [[1]] a row [4, 8]. Reshape target [4, 3, 4]: 48 elements.
    let m = Model::new()
        .ints("data", &[2, 2], &[2, 3, 4, 8])
        .ints("pairs", &[2, 2], &[1, 0, 0, 1])
        .ints("row", &[1, 1], &[1])
        .ints("flat", &[1], &[2])
        .node("GatherND", &["data", "pairs"], &["e"])
        .node("GatherND", &["data", "row"], &["r2"])
        .node("Reshape", &["r2", "flat"], &["rf"])
        .ints("first", &[1], &[0])
        .ints("one", &[1], &[1])
        .node("Slice", &["rf", "first", "one"], &["four"])
        .node_with(
            "Concat",
            &["e", "four"],
            &["shape"],
            vec![attr_int("axis", 0)],
        );
    assert_eq!(reshaped_by(m, "shape"), "[4, 3, 4]");
    // batch_dims 1: data [2, 2, 2], indices [2, 1] pick data[0][idx0] and
    // data[1][idx1].
    let m = Model::new()
        .ints("data", &[2, 2, 2], &[1, 1, 6, 2, 9, 9, 4, 2])
        .ints("idx", &[2, 1], &[1, 1])
        .ints("flat", &[1], &[4])
        .node_with(
            "GatherND",
            &["data", "idx"],
            &["g"],
            vec![attr_int("batch_dims", 1)],
        )
        .node("Reshape", &["g", "flat"], &["shape"]);
    // [[6, 2], [4, 2]]: flattened, its first three as a target.
    let m = m.ints("s0", &[1], &[0]).ints("s3", &[1], &[3]).node(
        "Slice",
        &["shape", "s0", "s3"],
        &["shape3"],
    );
    assert_eq!(reshaped_by(m, "shape3"), "[6, 2, 4]");
    // On an activation: a gather, one vector operation per output element
    // (one element of x per index tuple here).
    let g = Model::new()
        .x("x", &[2, 2])
        .ints("idx", &[3, 2], &[0, 1, 1, 0, 1, 1])
        .node("GatherND", &["x", "idx"], &["y"])
        .node("Relu", &["y"], &["z"])
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n0 {\"type\":\"gather\",\"axis\":0} [3] m0 v3 p0 <- x[2, 2]\n\
         n1 {\"type\":\"elementwise\",\"func\":\"relu\"} [3] m0 v3 p0 <- n0[3]\n"
    );
}
