//! Fusion (`ImportOptions::fuse`, `fuse.rs`): each fusion on a small model, and
//! the cases where it must not apply.

mod common;

use common::{F32, Model, attr_int, attr_ints, attr_tensor, summary};
use onnx_import::{ImportOptions, proto::TensorProto};
use sim::graph::{EltFunc, Graph, OpKind};

fn raw() -> ImportOptions {
    ImportOptions {
        fuse: false,
        ..ImportOptions::default()
    }
}

/// A float scalar Constant node (holds no parameters).
fn scalar(m: Model, name: &str, v: f32) -> Model {
    let t = TensorProto {
        dims: vec![],
        data_type: F32,
        float_data: vec![v],
        ..Default::default()
    };
    m.node_with("Constant", &[], &[name], vec![attr_tensor("value", t)])
}

fn kinds(g: &Graph) -> Vec<String> {
    g.ops()
        .iter()
        .map(|o| match &o.kind {
            OpKind::Elementwise { func } => func.name().to_string(),
            k => k.name().to_string(),
        })
        .collect()
}

fn linear_with_bias() -> Model {
    Model::new()
        .x("x", &[2, 4, 8])
        .weight("w", &[8, 16])
        .weight("b", &[16])
        .node("MatMul", &["x", "w"], &["y"])
        .node("Add", &["y", "b"], &["z"])
        .node("Relu", &["z"], &["r"])
}

#[test]
fn a_bias_add_is_taken_into_the_matmul() {
    let g = linear_with_bias().import().unwrap();
    assert_eq!(kinds(&g), ["matmul", "relu"]);
    assert_eq!(g.ops()[0].params, 8 * 16 + 16);
    assert_eq!(g.totals().vector_ops, 2 * 4 * 16, "only the relu");
}

#[test]
fn a_bias_add_stays_when_the_product_has_another_reader() {
    let g = linear_with_bias()
        .node("Sigmoid", &["y"], &["s"])
        .import()
        .unwrap();
    assert_eq!(kinds(&g), ["matmul", "add", "relu", "sigmoid"]);
    assert_eq!(g.totals().params, 8 * 16 + 16);
}

#[test]
fn a_conv_bias_of_shape_1_c_1_1_is_taken_into_the_conv() {
    let g = Model::new()
        .x("x", &[1, 3, 8, 8])
        .weight("w", &[4, 3, 3, 3])
        .weight("b", &[1, 4, 1, 1])
        .node_with(
            "Conv",
            &["x", "w"],
            &["c"],
            vec![attr_ints("pads", &[1, 1, 1, 1])],
        )
        .node("Add", &["c", "b"], &["y"])
        .import()
        .unwrap();
    assert_eq!(kinds(&g), ["conv2d"]);
    assert_eq!(g.ops()[0].params, 4 * 3 * 9 + 4);
}

#[test]
fn a_bias_along_another_dim_stays_an_add() {
    let g = Model::new()
        .x("x", &[2, 4, 8])
        .weight("w", &[8, 16])
        .weight("b", &[4, 1])
        .node("MatMul", &["x", "w"], &["y"])
        .node("Add", &["y", "b"], &["z"])
        .import()
        .unwrap();
    assert_eq!(kinds(&g), ["matmul", "add"]);
}

/// `x/√2 → Erf → +1 → ·x → ·0.5` on `x` = [2, 8], with the given constants,
/// the two products in either order, and optionally a second reader of Erf.
fn gelu_erf(sqrt2: f32, x_first: bool, escape: bool) -> Model {
    let m = Model::new().x("x", &[2, 8]);
    let m = scalar(scalar(scalar(m, "s2", sqrt2), "one", 1.0), "half", 0.5);
    let m = m
        .node("Div", &["x", "s2"], &["d"])
        .node("Erf", &["d"], &["e"])
        .node("Add", &["e", "one"], &["a"]);
    let m = if x_first {
        m.node("Mul", &["x", "a"], &["m"])
            .node("Mul", &["m", "half"], &["y"])
    } else {
        m.node("Mul", &["x", "half"], &["h"])
            .node("Mul", &["h", "a"], &["y"])
    };
    if escape {
        m.node("Relu", &["e"], &["r"])
    } else {
        m
    }
}

#[test]
fn the_erf_form_of_gelu_is_one_gelu_in_either_product_order() {
    for x_first in [true, false] {
        let g = gelu_erf(std::f32::consts::SQRT_2, x_first, false)
            .import()
            .unwrap();
        assert_eq!(kinds(&g), ["gelu"], "x first: {x_first}");
        assert_eq!(g.totals().vector_ops, 16, "as the zoo's eltwise");
    }
}

#[test]
fn the_erf_form_stays_unfused_when_an_intermediate_escapes_or_a_constant_is_wrong() {
    let g = gelu_erf(std::f32::consts::SQRT_2, true, true)
        .import()
        .unwrap();
    // The division and product by constants are still scales.
    assert_eq!(kinds(&g), ["scale", "erf", "add", "mul", "scale", "relu"]);
    let g = gelu_erf(2.0, true, false).import().unwrap();
    assert_eq!(g.ops().len(), 5);
    assert!(!kinds(&g).contains(&"gelu".to_string()));
}

/// GPT-2's `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` on `x` = [2, 8].
fn gelu_tanh(c: f32) -> Model {
    let m = Model::new().x("x", &[2, 8]);
    let m = scalar(m, "three", 3.0);
    let m = scalar(scalar(m, "c", c), "k", (2.0 / std::f32::consts::PI).sqrt());
    let m = scalar(scalar(m, "one", 1.0), "half", 0.5);
    m.node("Mul", &["x", "half"], &["h"])
        .node("Pow", &["x", "three"], &["p"])
        .node("Mul", &["p", "c"], &["q"])
        .node("Add", &["x", "q"], &["s"])
        .node("Mul", &["s", "k"], &["u"])
        .node("Tanh", &["u"], &["t"])
        .node("Add", &["t", "one"], &["a"])
        .node("Mul", &["h", "a"], &["y"])
}

#[test]
fn the_tanh_form_of_gelu_is_one_gelu() {
    let g = gelu_tanh(0.044715).import().unwrap();
    assert_eq!(kinds(&g), ["gelu"]);
    assert_eq!(g.totals().vector_ops, 16);
}

#[test]
fn the_tanh_form_stays_unfused_with_a_wrong_constant_or_an_escaping_value() {
    let g = gelu_tanh(0.05).import().unwrap();
    assert_eq!(g.ops().len(), 8);
    let g = gelu_tanh(0.044715)
        .node("Relu", &["t"], &["r"])
        .import()
        .unwrap();
    assert_eq!(g.ops().len(), 9);
}

/// Attention's head split: `[b, s, h·d] → [b, s, h, d] → [b, h, s, d]`, then
/// `reader` of the transposed heads.
fn heads(reader: &str) -> Model {
    let m = Model::new()
        .x("q", &[1, 4, 8])
        .ints("shape", &[4], &[1, 4, 2, 4])
        .node("Reshape", &["q", "shape"], &["r"])
        .node_with(
            "Transpose",
            &["r"],
            &["t"],
            vec![attr_ints("perm", &[0, 2, 1, 3])],
        );
    if reader == "MatMul" {
        m.x("k", &[1, 2, 4, 4]).node("MatMul", &["t", "k"], &["y"])
    } else {
        m.node(reader, &["t"], &["y"])
    }
}

#[test]
fn a_transpose_read_by_a_matmul_is_a_view() {
    let g = heads("MatMul").import().unwrap();
    assert_eq!(
        summary(&g),
        "n2 {\"type\":\"mat_mul\",\"batch\":2,\"m\":4,\"k\":4,\"n\":4} [1, 2, 4, 4] m128 v0 p0 <- q[1, 2, 4, 4], k[1, 2, 4, 4]\n"
    );
}

#[test]
fn a_transpose_read_by_a_softmax_stays_an_op() {
    let g = heads("Softmax").import().unwrap();
    assert_eq!(kinds(&g), ["transpose", "softmax"]);
}

#[test]
fn a_transpose_of_a_matmul_result_is_written_by_the_matmul() {
    let g = Model::new()
        .x("x", &[1, 4, 8])
        .weight("w", &[8, 8])
        .ints("shape", &[4], &[1, 4, 2, 4])
        .node("MatMul", &["x", "w"], &["y"])
        .node("Reshape", &["y", "shape"], &["r"])
        .node_with(
            "Transpose",
            &["r"],
            &["t"],
            vec![attr_ints("perm", &[0, 2, 1, 3])],
        )
        .node("Softmax", &["t"], &["s"])
        .import()
        .unwrap();
    assert_eq!(kinds(&g), ["matmul", "softmax"]);
}

#[test]
fn a_fused_projection_read_in_column_blocks_is_one_projection_per_block() {
    let g = Model::new()
        .x("x", &[1, 4, 8])
        .weight("w", &[8, 24])
        .weight("b", &[24])
        .node("MatMul", &["x", "w"], &["y"])
        .node("Add", &["y", "b"], &["z"])
        .node_with("Split", &["z"], &["q", "k", "v"], vec![attr_int("axis", 2)])
        .node("Relu", &["q"], &["rq"])
        .node("Relu", &["k"], &["rk"])
        .node("Relu", &["v"], &["rv"])
        .import()
        .unwrap();
    assert_eq!(
        kinds(&g),
        ["matmul", "matmul", "matmul", "relu", "relu", "relu"]
    );
    for op in &g.ops()[..3] {
        assert_eq!(
            op.kind,
            OpKind::MatMul {
                batch: 1,
                m: 4,
                k: 8,
                n: 8
            }
        );
        assert_eq!(op.params, 8 * 8 + 8);
    }
    assert_eq!(g.totals().params, 8 * 24 + 24);
}

/// `nn.MultiheadAttention`'s in-projection as the dynamo exporter writes it
/// (torchvision's ViT): `[s, b, 3·d]` unflattened to `[s, b, 3, d]`, then
/// Unsqueeze, Transpose and Squeeze move the 3 axis first (`[3, s, b, d]`),
/// and Gathers on it take q, k and v. `interleaved` unflattens to
/// `[s, b, d, 3]` instead and moves the inner 3 first, so each Gather takes
/// every third column: not a column block.
fn mha_in_projection(interleaved: bool) -> Model {
    let (shape, perm): (&[i64], &[i64]) = if interleaved {
        (&[4, 1, 8, 3], &[4, 1, 2, 0, 3])
    } else {
        (&[4, 1, 3, 8], &[3, 1, 2, 0, 4])
    };
    Model::new()
        .x("x", &[4, 1, 8])
        .weight("w", &[8, 24])
        .weight("b", &[24])
        .ints("shape", &[4], shape)
        .ints("zero", &[1], &[0])
        .ints("axis", &[1], &[-2])
        .ints("i0", &[], &[0])
        .ints("i1", &[], &[1])
        .ints("i2", &[], &[2])
        .node("MatMul", &["x", "w"], &["y"])
        .node("Add", &["y", "b"], &["z"])
        .node("Reshape", &["z", "shape"], &["v4"])
        .node("Unsqueeze", &["v4", "zero"], &["u"])
        .node_with("Transpose", &["u"], &["t"], vec![attr_ints("perm", perm)])
        .node("Squeeze", &["t", "axis"], &["s"])
        .node_with("Gather", &["s", "i0"], &["q"], vec![attr_int("axis", 0)])
        .node_with("Gather", &["s", "i1"], &["k"], vec![attr_int("axis", 0)])
        .node_with("Gather", &["s", "i2"], &["v"], vec![attr_int("axis", 0)])
        .node("Relu", &["q"], &["rq"])
        .node("Relu", &["k"], &["rk"])
        .node("Relu", &["v"], &["rv"])
}

#[test]
fn a_projection_unflattened_and_squeezed_into_q_k_v_is_one_projection_per_block() {
    let g = mha_in_projection(false).import().unwrap();
    assert_eq!(
        kinds(&g),
        ["matmul", "matmul", "matmul", "relu", "relu", "relu"]
    );
    for op in &g.ops()[..3] {
        assert_eq!(
            op.kind,
            OpKind::MatMul {
                batch: 1,
                m: 4,
                k: 8,
                n: 8
            }
        );
        assert_eq!(op.params, 8 * 8 + 8);
    }
    assert_eq!(g.totals().params, 8 * 24 + 24);
}

#[test]
fn a_projection_read_in_interleaved_columns_stays_one_projection() {
    let g = mha_in_projection(true).import().unwrap();
    assert_eq!(
        kinds(&g),
        ["matmul", "slice", "slice", "slice", "relu", "relu", "relu"]
    );
    assert_eq!(g.totals().params, 8 * 24 + 24);
}

#[test]
fn a_gather_of_one_static_index_is_a_slice() {
    let g = Model::new()
        .x("x", &[1, 4, 8])
        .ints("zero", &[], &[0])
        .node_with("Gather", &["x", "zero"], &["c"], vec![attr_int("axis", 1)])
        .import()
        .unwrap();
    assert_eq!(
        summary(&g),
        "n0 {\"type\":\"slice\",\"axis\":1,\"start\":0,\"len\":1} [1, 1, 8] m0 v0 p0 <- x[1, 4, 8]\n"
    );
}

#[test]
fn a_product_by_a_constant_scalar_is_a_scale() {
    let g = scalar(Model::new().x("x", &[2, 8]), "c", 0.125)
        .node("Mul", &["x", "c"], &["y"])
        .import()
        .unwrap();
    assert_eq!(
        g.ops()[0].kind,
        OpKind::Elementwise {
            func: EltFunc::Scale
        }
    );
}

#[test]
fn an_op_read_only_for_its_shape_is_dropped() {
    let g = Model::new()
        .x("x", &[2, 8])
        .node("Relu", &["x"], &["r"])
        .node("Shape", &["r"], &["s"])
        .node("Reshape", &["x", "s"], &["y"])
        .node("Softmax", &["y"], &["z"])
        .import()
        .unwrap();
    assert_eq!(kinds(&g), ["softmax"]);
}

#[test]
fn without_fusion_every_node_is_an_op() {
    let g = gelu_erf(std::f32::consts::SQRT_2, true, false)
        .import_with(&raw())
        .unwrap();
    assert_eq!(kinds(&g), ["div", "erf", "add", "mul", "mul"]);
    let g = linear_with_bias().import_with(&raw()).unwrap();
    assert_eq!(kinds(&g), ["matmul", "add", "relu"]);
    let g = heads("MatMul").import_with(&raw()).unwrap();
    assert_eq!(kinds(&g), ["transpose", "matmul"]);
}

/// SiLU as exporters write it: `Sigmoid(x)` then `Mul(x, sigmoid)` on `x` =
/// [2, 8], the product's operands in either order.
fn swish(x_first: bool) -> Model {
    let m = Model::new().x("x", &[2, 8]).node("Sigmoid", &["x"], &["s"]);
    if x_first {
        m.node("Mul", &["x", "s"], &["y"])
    } else {
        m.node("Mul", &["s", "x"], &["y"])
    }
}

#[test]
fn sigmoid_times_its_input_is_one_swish() {
    for x_first in [true, false] {
        let g = swish(x_first).import().unwrap();
        assert_eq!(kinds(&g), ["swish"], "x first: {x_first}");
        assert_eq!(g.totals().vector_ops, 16, "as the zoo's eltwise");
        assert_eq!(
            summary(&g),
            "n1 {\"type\":\"elementwise\",\"func\":\"swish\"} [2, 8] m0 v16 p0 <- x[2, 8]\n"
        );
    }
    let g = swish(true).import_with(&raw()).unwrap();
    assert_eq!(kinds(&g), ["sigmoid", "mul"]);
}

#[test]
fn a_swish_stays_unfused_when_the_sigmoid_has_another_reader() {
    let g = swish(true).node("Relu", &["s"], &["r"]).import().unwrap();
    assert_eq!(kinds(&g), ["sigmoid", "mul", "relu"]);
    // A graph output is a reader too.
    let mut m = swish(true);
    m.graph.output.push(onnx_import::proto::ValueInfoProto {
        name: "s".into(),
        ..Default::default()
    });
    assert_eq!(kinds(&m.import().unwrap()), ["sigmoid", "mul"]);
}

#[test]
fn a_sigmoid_gate_on_another_tensor_is_not_a_swish() {
    // The squeeze-and-excitation scale: x · sigmoid(g), g ≠ x.
    let g = Model::new()
        .x("x", &[1, 4, 2, 2])
        .x("g", &[1, 4, 1, 1])
        .node("Sigmoid", &["g"], &["s"])
        .node("Mul", &["x", "s"], &["y"])
        .import()
        .unwrap();
    assert_eq!(kinds(&g), ["sigmoid", "mul"]);
    // Nor is sigmoid(x) · sigmoid(x).
    let g = Model::new()
        .x("x", &[2, 8])
        .node("Sigmoid", &["x"], &["s"])
        .node("Mul", &["s", "s"], &["y"])
        .import()
        .unwrap();
    assert_eq!(kinds(&g), ["sigmoid", "mul"]);
}
