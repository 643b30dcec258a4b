//! Mutated files never panic: every prefix, byte flip and insertion gives an
//! error or a valid graph. Real exported models are mutated too when present.
//! (`fuzz/` holds a cargo-fuzz target for longer runs.)

mod common;

use common::{Model, attr_int, attr_ints};
use onnx_import::{ImportOptions, import_bytes};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// The suite explores the same mutations on every run, so CI is
/// reproducible; set `PROPTEST_RNG_SEED` to explore others (and keep any case
/// that fails as a test).
fn config(cases: u32) -> ProptestConfig {
    let rng_seed = match std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => RngSeed::Fixed(seed),
        None => RngSeed::Fixed(0x077A_5EED),
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed,
        ..ProptestConfig::default()
    }
}

fn opts() -> ImportOptions {
    ImportOptions {
        dims: [("batch".to_string(), 1), ("sequence".to_string(), 8)].into(),
        ..ImportOptions::default()
    }
}

/// A small model touching the main paths: conv, pool, reshape by a computed
/// target, matmul, softmax.
fn small_model() -> Vec<u8> {
    Model::new()
        .x("x", &[1, 3, 8, 8])
        .weight("w", &[4, 3, 3, 3])
        .weight("fc", &[1, 5])
        .ints("zero", &[1], &[0])
        .ints("m1", &[1], &[-1])
        .node_with(
            "Conv",
            &["x", "w"],
            &["c"],
            vec![attr_ints("pads", &[1, 1, 1, 1])],
        )
        .node("Relu", &["c"], &["r"])
        .node_with(
            "MaxPool",
            &["r"],
            &["p"],
            vec![
                attr_ints("kernel_shape", &[2, 2]),
                attr_ints("strides", &[2, 2]),
            ],
        )
        .node("Shape", &["p"], &["s"])
        .node_with("Concat", &["zero", "m1"], &["t"], vec![attr_int("axis", 0)])
        .node("Reshape", &["p", "t"], &["f"])
        .node("Transpose", &["f"], &["ft"])
        .node("MatMul", &["ft", "fc"], &["y"])
        .node("Softmax", &["y"], &["z"])
        .bytes()
}

fn check(bytes: &[u8]) {
    // Either outcome is fine; a panic fails the test.
    let _ = import_bytes(bytes, "fuzz.onnx", &opts()).map(|g| g.totals());
}

#[test]
fn the_small_model_imports() {
    let g = import_bytes(&small_model(), "small.onnx", &opts()).unwrap();
    // Conv, Relu, MaxPool, MatMul, Softmax: the Transpose before the MatMul
    // is fused into it as a view.
    assert_eq!(g.ops().len(), 5);
}

#[test]
fn every_prefix_of_the_small_model_is_handled() {
    let bytes = small_model();
    for len in 0..bytes.len() {
        check(&bytes[..len]);
    }
}

fn real_models() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/onnx");
    ["resnet50.onnx", "bert-base.onnx"]
        .iter()
        .filter_map(|f| std::fs::read(dir.join(f)).ok())
        .collect()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn flipped_and_inserted_bytes_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        inserts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = small_model();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= b;
        }
        for (at, b) in inserts {
            let i = at.index(bytes.len() + 1);
            bytes.insert(i, b);
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        check(&bytes);
    }
}

proptest! {
    // Real models are larger (up to 300 KB), so fewer cases.
    #![proptest_config(config(200))]

    #[test]
    fn mutated_real_models_never_panic(
        which in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let models = real_models();
        if models.is_empty() {
            return Ok(());
        }
        let mut bytes = models[which.index(models.len())].clone();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= b;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        check(&bytes);
    }
}
