//! Tests of the zoo as a whole: every model builds, parameters are checked and
//! recorded, and a summary table of every model at its defaults.

use std::collections::BTreeMap;

use super::{ZooError, build, models};
use crate::graph::Graph;

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Builds `model` with `pairs` overriding defaults; panics with the zoo's
/// message on error.
pub(super) fn build_with(model: &str, pairs: &[(&str, &str)]) -> Graph {
    build(model, &params(pairs)).unwrap_or_else(|e| panic!("{model}: {e}"))
}

pub(super) fn build_default(model: &str) -> Graph {
    build_with(model, &[])
}

fn error(model: &str, pairs: &[(&str, &str)]) -> String {
    match build(model, &params(pairs)) {
        Ok(_) => panic!("{model} {pairs:?} built, but an error was expected"),
        Err(ZooError::Invalid { message }) => message,
        Err(e) => panic!("{model} {pairs:?}: an internal error: {e}"),
    }
}

#[test]
fn every_model_builds_with_defaults_and_records_every_parameter() {
    for info in models() {
        let g = build_default(info.name);
        assert_eq!(g.name(), info.name);
        assert_eq!(g.model(), info.name);
        let recorded: Vec<&str> = g.params().keys().map(String::as_str).collect();
        let mut declared: Vec<&str> = info.params.iter().map(|p| p.key).collect();
        declared.sort_unstable();
        assert_eq!(recorded, declared, "{}", info.name);
        for p in info.params {
            // Defaults are written as they are recorded (ResNet's image and
            // classes defaults are those of the default stem).
            assert_eq!(g.params()[p.key], p.default, "{}.{}", info.name, p.key);
        }
    }
}

#[test]
fn model_names_are_unique_and_every_model_takes_batch_and_dtype() {
    let mut names: Vec<&str> = models().iter().map(|m| m.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), models().len());
    for info in models() {
        let keys: Vec<&str> = info.params.iter().map(|p| p.key).collect();
        assert_eq!(keys[..2], ["batch", "dtype"], "{}", info.name);
    }
}

#[test]
fn batch_two_doubles_macs_and_keeps_params() {
    for info in models() {
        let one = build_default(info.name).totals();
        let two = build_with(info.name, &[("batch", "2")]).totals();
        assert_eq!(two.macs, 2 * one.macs, "{}", info.name);
        assert_eq!(two.params, one.params, "{}", info.name);
        assert_eq!(
            two.activation_bytes,
            2 * one.activation_bytes,
            "{}",
            info.name
        );
    }
}

#[test]
fn fp32_weights_take_four_times_the_bytes_of_int8() {
    for info in models() {
        let int8 = build_default(info.name).totals();
        let fp32 = build_with(info.name, &[("dtype", "fp32")]).totals();
        let bf16 = build_with(info.name, &[("dtype", "bf16")]).totals();
        assert_eq!(int8.weight_bytes, int8.params, "{}", info.name);
        assert_eq!(fp32.weight_bytes, 4 * int8.weight_bytes, "{}", info.name);
        assert_eq!(bf16.weight_bytes, 2 * int8.weight_bytes, "{}", info.name);
        assert_eq!(fp32.macs, int8.macs, "{}", info.name);
    }
}

#[test]
fn unknown_model_lists_the_known_ones() {
    let e = error("resnet-18", &[]);
    assert!(e.contains("\"resnet-18\""), "{e}");
    assert!(e.contains("resnet18, resnet34"), "{e}");
    assert!(e.contains("mlp"), "{e}");
}

#[test]
fn unknown_parameter_is_named_with_the_model_keys() {
    let e = error("bert-base", &[("seq_len", "64")]);
    assert!(e.contains("\"seq_len\""), "{e}");
    assert!(e.contains("batch, dtype, seq, layers"), "{e}");
    // A key of another model is still unknown here.
    let e = error("resnet50", &[("seq", "64")]);
    assert!(e.contains("\"seq\""), "{e}");
}

#[test]
fn bad_values_are_errors_naming_key_value_and_expectation() {
    // (model, parameters, fragments the message must contain)
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
    );
    let cases: &[Case] = &[
        (
            "bert-base",
            &[("batch", "0")],
            &["batch", "\"0\"", "1 to 1024"],
        ),
        ("bert-base", &[("batch", "two")], &["batch", "\"two\""]),
        ("bert-base", &[("batch", "-1")], &["batch", "\"-1\""]),
        (
            "bert-base",
            &[("batch", "99999999999999999999999")],
            &["batch"],
        ),
        (
            "bert-base",
            &[("dtype", "int4")],
            &["dtype", "\"int4\"", "int8, fp16, bf16, fp32"],
        ),
        (
            "bert-base",
            &[("heads", "5")],
            &["heads", "\"5\"", "divisor of hidden = 768"],
        ),
        ("bert-base", &[("heads", "0")], &["heads", "\"0\""]),
        (
            "bert-base",
            &[("seq", "513")],
            &["seq", "\"513\"", "max_positions = 512"],
        ),
        (
            "bert-base",
            &[("pooler", "yes")],
            &["pooler", "true or false"],
        ),
        (
            "bert-large",
            &[("hidden", "1000000")],
            &["hidden", "1 to 16384"],
        ),
        (
            "gpt2-small",
            &[("seq", "1025")],
            &["seq", "max_positions = 1024"],
        ),
        ("gpt2-small", &[("layers", "")], &["layers", "\"\""]),
        (
            "vit-b16",
            &[("image", "200")],
            &["image", "\"200\"", "multiple of the 16-pixel patch"],
        ),
        ("vit-b16", &[("image", "8")], &["image", "16 to 1024"]),
        (
            "vit-s16",
            &[("heads", "7")],
            &["heads", "divisor of hidden = 384"],
        ),
        (
            "resnet18",
            &[("stem", "tiny")],
            &["stem", "\"tiny\"", "imagenet, cifar"],
        ),
        ("resnet50", &[("image", "0")], &["image", "\"0\""]),
        ("resnet34", &[("classes", "0")], &["classes"]),
        (
            "mobilenet-v2",
            &[("image", "5000")],
            &["image", "1 to 4096"],
        ),
        ("cifarnet", &[("image", "3")], &["image", "\"3\"", "4 to"]),
        (
            "mlp",
            &[("sizes", "784")],
            &["sizes", "\"784\"", "comma-separated widths"],
        ),
        ("mlp", &[("sizes", "784,,10")], &["sizes"]),
        ("mlp", &[("sizes", "784,0,10")], &["sizes"]),
        ("mlp", &[("sizes", "784,abc")], &["sizes"]),
    ];
    for (model, pairs, needles) in cases {
        let e = error(model, pairs);
        assert!(e.starts_with(model), "{e}");
        for needle in *needles {
            assert!(
                e.contains(needle),
                "{model} {pairs:?}: {e:?} lacks {needle:?}"
            );
        }
    }
}

/// Every key of every model, set to each of a list of awkward values, gives a
/// graph or an error, never a panic.
#[test]
fn awkward_values_never_panic() {
    let values = [
        "",
        " ",
        "0",
        "1",
        "2",
        "3",
        "7",
        "16",
        "17",
        "48",
        "-1",
        "+4",
        "1.5",
        "1e3",
        "abc",
        "true",
        "false",
        "fp16",
        "cifar",
        "4097",
        "65537",
        "1,1",
        "8,0",
        "18446744073709551616",
    ];
    let mut built = 0;
    for info in models() {
        for p in info.params {
            for value in values {
                let given = params(&[(p.key, value)]);
                if build(info.name, &given).is_ok() {
                    built += 1;
                }
            }
        }
    }
    assert!(built > 0);
}

/// The largest accepted sizes build, and no count overflows: the bounds in
/// each model file are tight enough for `u64` and `Graph::totals`.
#[test]
fn largest_accepted_parameters_do_not_overflow() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "bert-base",
            &[
                ("batch", "1024"),
                ("dtype", "fp32"),
                ("seq", "8192"),
                ("max_positions", "65536"),
                ("layers", "256"),
                ("hidden", "16384"),
                ("heads", "16384"),
                ("ffn", "65536"),
                ("vocab", "16777216"),
                ("type_vocab", "1024"),
            ],
        ),
        (
            "gpt2-small",
            &[
                ("batch", "1024"),
                ("dtype", "fp32"),
                ("seq", "8192"),
                ("max_positions", "65536"),
                ("layers", "256"),
                ("hidden", "16384"),
                ("heads", "16384"),
                ("ffn", "65536"),
                ("vocab", "16777216"),
            ],
        ),
        (
            "vit-b16",
            &[
                ("batch", "1024"),
                ("dtype", "fp32"),
                ("image", "1024"),
                ("classes", "1048576"),
                ("layers", "256"),
                ("hidden", "16384"),
                ("heads", "16384"),
                ("ffn", "65536"),
            ],
        ),
        (
            "resnet50",
            &[
                ("batch", "1024"),
                ("dtype", "fp32"),
                ("image", "4096"),
                ("classes", "1048576"),
            ],
        ),
        (
            "resnet18",
            &[
                ("batch", "1024"),
                ("dtype", "fp32"),
                ("stem", "cifar"),
                ("image", "4096"),
            ],
        ),
        (
            "mobilenet-v2",
            &[
                ("batch", "1024"),
                ("dtype", "fp32"),
                ("image", "4096"),
                ("classes", "1048576"),
            ],
        ),
        (
            "cifarnet",
            &[
                ("batch", "1024"),
                ("dtype", "fp32"),
                ("image", "4096"),
                ("classes", "1048576"),
            ],
        ),
    ];
    for (model, pairs) in cases {
        let t = build_with(model, pairs).totals();
        assert!(t.macs > 0 && t.weight_bytes > 0, "{model}");
    }
    let widest = vec!["1048576"; 257].join(",");
    let t = build_with(
        "mlp",
        &[("batch", "1024"), ("dtype", "fp32"), ("sizes", &widest)],
    )
    .totals();
    assert_eq!(t.ops, 256 + 255);
}

#[test]
fn smallest_accepted_images_survive_every_stride() {
    for (model, image) in [
        ("resnet18", "1"),
        ("resnet50", "1"),
        ("mobilenet-v2", "1"),
        ("cifarnet", "4"),
        ("vit-ti16", "16"),
    ] {
        build_with(model, &[("image", image)]);
    }
    build_with("resnet50", &[("stem", "cifar"), ("image", "1")]);
}

#[test]
fn graphs_round_trip_through_json() {
    for info in models() {
        let g = build_default(info.name);
        assert_eq!(Graph::from_json(&g.to_json()).unwrap(), g, "{}", info.name);
    }
}

/// Every model at its defaults: op count, parameters and MACs. Update the table
/// when a model changes on purpose; the parameter counts are also checked
/// against published figures in each model's file.
#[test]
fn summary_of_every_model_at_defaults() {
    let mut table = String::new();
    for info in models() {
        let t = build_default(info.name).totals();
        table.push_str(&format!(
            "{:<13} {:>5} ops {:>12} params {:>15} MACs\n",
            info.name, t.ops, t.params, t.macs
        ));
    }
    let expected = "\
bert-base       189 ops    109482240 params     11174215680 MACs
bert-large      369 ops    335141888 params     39461060608 MACs
gpt2-small      184 ops    124439808 params     11173625856 MACs
vit-ti16        186 ops      5717416 params      1253683200 MACs
vit-s16         186 ops     22050664 params      4598882304 MACs
vit-b16         186 ops     86567656 params     17563828224 MACs
resnet18         68 ops     11689512 params      1814073344 MACs
resnet34        124 ops     21797672 params      3663761408 MACs
resnet50        174 ops     25557032 params      4089184256 MACs
mobilenet-v2    151 ops      3504872 params       300774272 MACs
cifarnet         11 ops      1756426 params        32778112 MACs
mlp               5 ops       669706 params          668672 MACs
";
    assert_eq!(table, expected, "\n{table}");
}
