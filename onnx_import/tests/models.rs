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
    let g = import_checked("efficientnet-b0").totals();
    assert_eq!((g.ops, g.vector_ops), (287, 23_948_376));
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
}
