//! The exported test models under `tests/data/onnx/` (graph-only ONNX files made
//! by `tools/export_onnx.py`) import with the framework's exact parameter count
//! (`models.json`) and the MACs of the zoo model of the same architecture.
//!
//! At batch 1 (sequence 128) the MACs are not just within 1% but identical to
//! the zoo's for all four (BERT-base 11,174,215,680; GPT-2 small
//! 11,173,625,856; ResNet-50 4,089,184,256; ViT-B/16 17,563,828,224), and equal
//! to torch's FlopCounterMode figures in `models.json`: both count only GEMM
//! MACs, and element-wise work (biases, scaling, GELU) is vector work in both.

use std::path::{Path, PathBuf};

use onnx_import::{ImportOptions, import_file};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/onnx")
}

fn opts() -> ImportOptions {
    ImportOptions {
        dims: [("batch".to_string(), 1), ("sequence".to_string(), 128)].into(),
        ..ImportOptions::default()
    }
}

fn framework_params(model: &str) -> u64 {
    let text = std::fs::read_to_string(data_dir().join("models.json")).expect("models.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("models.json parses");
    json["models"][model]["framework_parameter_count"]
        .as_u64()
        .expect("framework_parameter_count")
}

/// Imports `model` and checks its parameter count against the framework's.
fn import_checked(model: &str) -> sim::graph::Graph {
    let g = import_file(&data_dir().join(format!("{model}.onnx")), &opts())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        g.totals().params,
        framework_params(model),
        "{model}: parameters"
    );
    g
}

fn zoo_macs(model: &str) -> u64 {
    sim::zoo::build(model, &Default::default())
        .expect("zoo model builds")
        .totals()
        .macs
}

fn assert_within_1pct(model: &str, imported: u64, zoo: u64) {
    let diff = imported.abs_diff(zoo) as f64 / zoo as f64;
    assert!(
        diff <= 0.01,
        "{model}: imported {imported} MACs, zoo {zoo} ({:.3}% apart)",
        diff * 100.0
    );
}

#[test]
fn bert_base_matches_framework_params_and_zoo_macs() {
    let g = import_checked("bert-base");
    assert_within_1pct("bert-base", g.totals().macs, zoo_macs("bert-base"));
}

#[test]
fn gpt2_small_matches_framework_params_and_zoo_macs() {
    // Neither the export (GPT2Model) nor the zoo model has an LM head.
    let g = import_checked("gpt2-small");
    assert_within_1pct("gpt2-small", g.totals().macs, zoo_macs("gpt2-small"));
}

#[test]
fn resnet50_matches_framework_params_and_zoo_macs() {
    let g = import_checked("resnet50");
    assert_within_1pct("resnet50", g.totals().macs, zoo_macs("resnet50"));
}

#[test]
fn vit_b16_matches_framework_params_and_zoo_macs() {
    let g = import_checked("vit-b16");
    assert_within_1pct("vit-b16", g.totals().macs, zoo_macs("vit-b16"));
}

#[test]
fn efficientnet_b0_matches_framework_params_and_flop_counter_macs() {
    // The zoo has no EfficientNet; compare with torch's FlopCounterMode figure
    // that the exporter recorded.
    let g = import_checked("efficientnet-b0");
    assert_eq!(g.totals().macs, 385_814_752);
}

#[test]
fn keeping_free_ops_changes_op_count_but_not_costs() {
    let kept = import_file(
        &data_dir().join("bert-base.onnx"),
        &ImportOptions {
            keep_free_ops: true,
            ..opts()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let folded = import_checked("bert-base");
    let (k, f) = (kept.totals(), folded.totals());
    assert!(k.ops > f.ops);
    assert_eq!(
        (k.macs, k.vector_ops, k.params),
        (f.macs, f.vector_ops, f.params)
    );
}

#[test]
fn exported_models_decode_far_under_the_default_limit() {
    // Measured bounds (prost 0.14, Rust 1.95): bert-base.onnx 1,747,659 bytes
    // (190,712-byte file, 862 nodes), gpt2-small.onnx 5,029,151 bytes
    // (302,814-byte file, 2,241 nodes); `tests/decode_memory.rs` checks them
    // against the decode's measured peak.
    for model in [
        "bert-base",
        "gpt2-small",
        "resnet50",
        "vit-b16",
        "efficientnet-b0",
        "dynamo/bert-base",
        "dynamo/gpt2-small",
        "dynamo/resnet50",
        "dynamo/vit-b16",
        "dynamo/efficientnet-b0",
    ] {
        let bytes = std::fs::read(data_dir().join(format!("{model}.onnx"))).unwrap();
        let estimate = onnx_import::decode_estimate(&bytes, model).unwrap();
        assert!(
            estimate.bytes < onnx_import::DEFAULT_MAX_DECODED_BYTES / 512,
            "{model}: {estimate:?}"
        );
    }
}

fn zoo_totals(model: &str) -> sim::graph::GraphTotals {
    sim::zoo::build(model, &Default::default())
        .expect("zoo model builds")
        .totals()
}

/// Fused imports against the zoo (see the Fusion section of docs/onnx.md for
/// each difference): MACs and parameters always equal; ops and vector
/// operations equal except for what the exports compute differently.
#[test]
fn fused_imports_match_the_zoo_op_for_op() {
    // BERT: token-type and position embeddings are constants in the export
    // (input_ids only), so two embedding lookups are adds of a parameter.
    let (g, z) = (
        import_checked("bert-base").totals(),
        zoo_totals("bert-base"),
    );
    assert_eq!(
        (g.ops, g.macs, g.params, g.vector_ops),
        (187, z.macs, z.params, z.vector_ops)
    );
    assert_eq!(z.ops, 189);
    // GPT-2: position ids are constants (one embedding fewer), and the
    // export adds its causal mask to the scores (one add per layer, which the
    // zoo does not model).
    let (g, z) = (
        import_checked("gpt2-small").totals(),
        zoo_totals("gpt2-small"),
    );
    let mask = 12 * 12 * 128 * 128;
    assert_eq!(
        (g.ops, g.macs, g.params, g.vector_ops),
        (z.ops - 1 + 12, z.macs, z.params, z.vector_ops + mask)
    );
    // ViT: the same ops; the export scales the scores (heads·197²) where
    // timm scales the queries (197·768).
    let (g, z) = (import_checked("vit-b16").totals(), zoo_totals("vit-b16"));
    let scale_shift = 12 * (12 * 197 * 197 - 197 * 768);
    assert_eq!(
        (g.ops, g.macs, g.params, g.vector_ops),
        (z.ops, z.macs, z.params, z.vector_ops + scale_shift)
    );
    let (g, z) = (import_checked("resnet50").totals(), zoo_totals("resnet50"));
    assert_eq!(
        (g.ops, g.macs, g.params, g.vector_ops),
        (z.ops, z.macs, z.params, z.vector_ops)
    );
    assert_eq!(g.ops, 174);
    // EfficientNet-B0: each of its 49 SiLUs (stem, 15 expansions, 16
    // depthwise convs, 16 squeeze-excitation reductions, head) is one swish;
    // the 16 SE gates `x · sigmoid(s)` stay a sigmoid and a mul.
    let g = import_checked("efficientnet-b0").totals();
    assert_eq!((g.ops, g.vector_ops), (238, 17_790_460));
    let swishes = import_file(&data_dir().join("efficientnet-b0.onnx"), &opts())
        .unwrap()
        .ops()
        .iter()
        .filter(|o| {
            o.kind
                == sim::graph::OpKind::Elementwise {
                    func: sim::graph::EltFunc::Swish,
                }
        })
        .count();
    assert_eq!(swishes, 49);
}

#[test]
fn unfused_imports_lower_one_op_per_node() {
    let unfused = |model: &str| {
        import_file(
            &data_dir().join(format!("{model}.onnx")),
            &ImportOptions {
                fuse: false,
                ..opts()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .totals()
    };
    let (b, f) = (unfused("bert-base"), import_checked("bert-base").totals());
    assert_eq!((b.ops, b.vector_ops), (355, 60_753_408));
    assert_eq!((b.macs, b.params), (f.macs, f.params));
    assert_eq!(
        (unfused("gpt2-small").ops, unfused("vit-b16").ops),
        (339, 332)
    );
    assert_eq!(unfused("resnet50").ops, 174);
    let e = unfused("efficientnet-b0");
    assert_eq!((e.ops, e.vector_ops), (287, 23_948_376));
}

/// The Caffe2 "light" CNNs, converted to opset 13 by `tools/export_onnx.py
/// --models light` (see tests/data/onnx/README.md).
fn light(model: &str) -> (sim::graph::GraphTotals, LightWeights) {
    let path = data_dir().join(format!("onnx_light/{model}_opset13.onnx"));
    assert!(
        onnx_import::symbolic_dims_file(&path, &ImportOptions::default())
            .unwrap()
            .is_empty(),
        "{model}: no symbolic dims"
    );
    let g = import_file(&path, &ImportOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    (g.totals(), light_weights(&path))
}

/// Element counts of the float tensors of a light model, read from the file
/// with the prost types, independently of the importer.
#[derive(Debug)]
struct LightWeights {
    /// Every float tensor: each `ConstantOfShape` output (its shape is the
    /// inline int64 `<weight>__SHAPE` initializer) and each float initializer.
    all: u64,
    /// Those read only as BatchNormalization's running mean or variance.
    bn_stats: u64,
    /// Those read by Unsqueeze: the Caffe "Scale" layer's per-channel weight
    /// and bias, applied by Mul and Add after each BatchNormalization.
    scale_layer: u64,
}

fn light_weights(path: &Path) -> LightWeights {
    use onnx_import::proto::{ModelProto, TensorProto, tensor_proto::DataType};
    use prost::Message;
    let model = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
    let graph = model.graph.unwrap();
    let ints = |t: &TensorProto| -> Vec<i64> {
        if t.raw_data.is_empty() {
            t.int64_data.clone()
        } else {
            t.raw_data
                .chunks(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .collect()
        }
    };
    let inits: std::collections::BTreeMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let mut numel: std::collections::BTreeMap<String, u64> = graph
        .initializer
        .iter()
        .filter(|t| t.data_type == DataType::Float as i32)
        .map(|t| (t.name.clone(), t.dims.iter().product::<i64>() as u64))
        .collect();
    for n in graph.node.iter().filter(|n| n.op_type == "ConstantOfShape") {
        let shape = inits[n.input[0].as_str()];
        assert!(n.input[0].ends_with("__SHAPE"), "{}", n.input[0]);
        numel.insert(
            n.output[0].clone(),
            ints(shape).iter().product::<i64>() as u64,
        );
    }
    let readers = |name: &str| -> Vec<(String, usize)> {
        graph
            .node
            .iter()
            .flat_map(|n| {
                n.input
                    .iter()
                    .enumerate()
                    .filter(move |(_, i)| *i == name)
                    .map(move |(j, _)| (n.op_type.clone(), j))
            })
            .collect()
    };
    let mut w = LightWeights {
        all: 0,
        bn_stats: 0,
        scale_layer: 0,
    };
    for (name, &n) in &numel {
        let r = readers(name);
        w.all += n;
        if r.iter()
            .all(|(op, j)| op == "BatchNormalization" && *j >= 3)
        {
            w.bn_stats += n;
        }
        if r.iter().any(|(op, _)| op == "Unsqueeze") {
            w.scale_layer += n;
        }
    }
    w
}

fn assert_near(what: &str, got: u64, published: f64, tolerance: f64) {
    let rel = (got as f64 - published).abs() / published;
    assert!(
        rel <= tolerance,
        "{what}: tessera {got}, published {published} ({:.2}% apart, over {:.0}%)",
        rel * 100.0,
        tolerance * 100.0
    );
}

/// DenseNet-121 (Caffe2's conversion, 224×224, batch 1). One op per Conv,
/// BatchNormalization, Mul, Add (the Caffe "Scale" layer after each BN), Relu
/// and Concat (121 each, 58 Concats), and 5 pools; Unsqueeze and the
/// ConstantOfShape weights are static.
#[test]
fn light_densenet121_imports_with_published_macs_and_params() {
    let (t, w) = light("light_densenet121");
    assert_eq!((t.ops, t.params, t.macs), (668, 8_062_504, 2_834_161_664));
    assert_eq!(t.vector_ops, 65_228_800);
    // Parameters: every float tensor that reaches an op but BN's running
    // statistics, charged once (the ConstantOfShape weights included).
    assert_eq!(t.params, w.all - w.bn_stats);
    // torchvision's densenet121 has 7,978,856 parameters
    // (`sum(p.numel() for p in densenet121().parameters())`; "8.0M" in the
    // torchvision model table, pytorch.org/vision/stable/models.html): conv and
    // classifier weights, classifier bias and one BN scale and bias per
    // channel. The conversion applies each BN's affine twice, as
    // BatchNormalization's scale and bias and again as the Scale layer's Mul
    // and Add, whose 2·C per BN (83,648 in all) torchvision does not have.
    assert_eq!(w.scale_layer, 83_648);
    assert_eq!(t.params - w.scale_layer, 7_978_856);
    // MACs: torchvision's model table gives DenseNet-121 "GFLOPS 2.83" at
    // 224×224, which counts multiply-adds of the convolutions and the
    // classifier (its ResNet-50 entry, 4.09, is the 4,089,184,256 MACs tessera
    // gives the exported resnet50). tessera counts the same: Conv and the
    // classifier (here a 1×1 Conv) are MACs; BN, the Scale layer's Mul and
    // Add, ReLU and pooling are vector operations. The table rounds to 0.01 G.
    assert_near("densenet121 MACs", t.macs, 2.83e9, 0.005);
}

/// BN-Inception (Inception-v2, Ioffe & Szegedy 2015), Caffe2's conversion at
/// 224×224, batch 1: Conv, BatchNormalization, Mul, Add and Relu 69 each, 10
/// Concats, 13 pools, the classifier Gemm and the Softmax (the Reshape before
/// the Gemm is folded).
#[test]
fn light_inception_v2_imports_with_published_macs_and_params() {
    let (t, w) = light("light_inception_v2");
    assert_eq!((t.ops, t.params, t.macs), (370, 11_214_888, 2_018_851_840));
    assert_eq!(t.vector_ops, 27_057_272);
    assert_eq!(t.params, w.all - w.bn_stats);
    // As for DenseNet, each BN's affine is there twice (BN scale and bias,
    // then the Scale layer's Mul and Add): 19,904 elements more than a
    // framework model, which has one pair per BN. Without them: 11,194,984,
    // conv and classifier weights (11,175,080) plus one BN affine per channel,
    // the "11.2 M" usually quoted for BN-Inception; 1% tolerance for the
    // rounding.
    assert_eq!(w.scale_layer, 19_904);
    assert_near(
        "inception_v2 params without the Scale layers",
        t.params - w.scale_layer,
        11.2e6,
        0.01,
    );
    // MACs: GoogLeNet (Szegedy et al. 2014, "Going deeper with convolutions")
    // keeps "a computational budget of 1.5 billion multiply-adds"; Ioffe &
    // Szegedy 2015 (section 4.2) say their BN-Inception changes (the 5×5
    // convolutions replaced by two 3×3) raise the computational cost by about
    // 30%: about 1.95 G multiply-adds, the "≈2 G" model-zoo tables list.
    // tessera counts Conv and Gemm MACs only, as those figures do; 5% tolerance
    // for "about" (tessera is 3.5% above 1.95 G).
    assert_near("inception_v2 MACs", t.macs, 1.5e9 * 1.3, 0.05);
}

/// The same five models exported by `torch.onnx.export`'s default, the
/// dynamo exporter (`tools/export_onnx.py --exporter dynamo`, opset 18), in
/// `tests/data/onnx/dynamo/`.
fn import_dynamo(model: &str) -> sim::graph::Graph {
    import_file(&data_dir().join(format!("dynamo/{model}.onnx")), &opts())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn dynamo_manifest(model: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(data_dir().join("dynamo/models.json")).expect("models.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("models.json parses");
    json["models"][model][key].as_u64().expect(key)
}

/// Each dynamo export against its TorchScript-exported twin: the same MACs;
/// the framework's parameters, less one per BatchNorm channel where the
/// exporter's optimizer folded BatchNormalization (2·C) into the Conv before
/// it (a bias of C); and the twin's ops and vector operations less its
/// `batch_norm` ops, except BERT, whose export adds its (all-zero) attention
/// mask to the scores in every layer.
#[test]
fn dynamo_exports_match_their_torchscript_twins() {
    for model in [
        "resnet50",
        "efficientnet-b0",
        "vit-b16",
        "bert-base",
        "gpt2-small",
    ] {
        let d = import_dynamo(model);
        let twin = import_checked(model);
        let (dt, tt) = (d.totals(), twin.totals());
        let bn_channels = dynamo_manifest(model, "framework_batchnorm_channels");
        assert_eq!(
            dt.params,
            dynamo_manifest(model, "framework_parameter_count") - bn_channels,
            "{model}: parameters"
        );
        assert_eq!(dt.macs, tt.macs, "{model}: MACs");
        let bn: Vec<_> = twin
            .ops()
            .iter()
            .filter(|o| o.kind == sim::graph::OpKind::BatchNorm)
            .collect();
        assert_eq!(
            bn.iter().map(|o| o.output_shape[1]).sum::<u64>(),
            bn_channels,
            "{model}: BatchNorm channels"
        );
        let bn_vector_ops: u64 = bn.iter().map(|o| o.vector_ops).sum();
        let (mask_ops, mask_vector_ops) = if model == "bert-base" {
            (12, 12 * 12 * 128 * 128)
        } else {
            (0, 0)
        };
        assert_eq!(
            (dt.ops, dt.vector_ops),
            (
                tt.ops - bn.len() as u64 + mask_ops,
                tt.vector_ops - bn_vector_ops + mask_vector_ops
            ),
            "{model}: ops and vector operations"
        );
    }
    let ops = |m: &str| import_dynamo(m).totals().ops;
    assert_eq!(
        [
            "resnet50",
            "efficientnet-b0",
            "vit-b16",
            "bert-base",
            "gpt2-small"
        ]
        .map(ops),
        [121, 189, 186, 199, 195]
    );
}

/// The unmodified BERT, GPT-2 and ViT, exported by the dynamo exporter
/// without the wrappers (`--exporter dynamo --stock`, in
/// `tests/data/onnx/dynamo/stock/`), as users export them: the framework's
/// parameters and the wrapped exports' MACs. `torch.export` fixes GPT-2's
/// and ViT's batch at 1.
#[test]
fn stock_dynamo_exports_import_with_framework_params_and_the_same_macs() {
    for (model, dims, ops) in [
        ("bert-base", &["batch", "sequence"][..], 199),
        ("gpt2-small", &["sequence"][..], 195),
        // nn.MultiheadAttention: the in-projection is split into q, k and v
        // (column split through its Unsqueeze-Transpose-Squeeze), but the
        // heads are transposed by ops and q and k each scaled (+4 ops per
        // layer).
        ("vit-b16", &[][..], 186 + 12 * 4),
    ] {
        let path = data_dir().join(format!("dynamo/stock/{model}.onnx"));
        let found = onnx_import::symbolic_dims_file(&path, &ImportOptions::default()).unwrap();
        let names: Vec<&str> = found.keys().map(String::as_str).collect();
        assert_eq!(names, dims, "{model}: symbolic dims");
        let mut o = opts();
        o.dims.retain(|k, _| dims.contains(&k.as_str()));
        let g = import_file(&path, &o)
            .unwrap_or_else(|e| panic!("{e}"))
            .totals();
        let twin = import_dynamo(model).totals();
        assert_eq!(
            (g.ops, g.params, g.macs),
            (ops, framework_params(model), twin.macs),
            "{model}"
        );
    }
}
