//! ONNX files as users export them (`tests/data/onnx/wild/`, written by
//! `tools/export_onnx.py --wild`): BERT-base called with its attention mask,
//! torchvision ViT-B/16 and ResNet-18, each from the TorchScript and the
//! dynamo exporter, saved graph-only and with every initializer as external
//! data. Each imports through `tessera graph show` with the parameter count
//! the framework reports (less BatchNorm's shift where the exporter folded it
//! into the Conv), with its data file beside it and without.

use std::path::{Path, PathBuf};

use tessera_tests::{root, tessera};

fn wild() -> PathBuf {
    root().join("tests/data/onnx/wild")
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(wild().join("models.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The `-p` arguments binding the file's symbolic dims.
fn dims(stem: &str) -> Vec<&'static str> {
    if stem.starts_with("bert") {
        vec!["-p", "batch=1", "-p", "sequence=128"]
    } else if stem == "vit-b16.dynamo" {
        // torch.export fixes the batch of torchvision's attention to 1.
        vec![]
    } else {
        vec!["-p", "batch=1"]
    }
}

/// `graph show --summary` of `path`: (exit code, ops, parameters, MACs as
/// printed, stderr).
fn show(path: &Path, stem: &str) -> (i32, String, u64, String, String) {
    let p = path.display().to_string();
    let mut args = vec!["graph", "show", p.as_str(), "--summary"];
    args.extend(dims(stem));
    let o = tessera(&args);
    let field = |key: &str| {
        o.stdout
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l[key.len()..].split_whitespace().next())
            .unwrap_or("")
            .to_string()
    };
    let params = field("parameters").replace(',', "").parse().unwrap_or(0);
    (o.code, field("ops"), params, field("MACs"), o.stderr)
}

#[test]
fn every_wild_export_imports_with_the_frameworks_parameter_count() {
    let m = manifest();
    let models = m["models"].as_object().unwrap();
    assert_eq!(models.len(), 6, "three models from two exporters");
    for (stem, info) in models {
        let expected = info["expected_import_parameter_count"].as_u64().unwrap();
        let framework = info["framework_parameter_count"].as_u64().unwrap();
        let bn = info["framework_batchnorm_channels"].as_u64().unwrap();
        let folded = info["batchnorm_folded_into_conv"].as_bool().unwrap();
        assert_eq!(expected, framework - if folded { bn } else { 0 }, "{stem}");
        let mut macs = None;
        for file in [format!("{stem}.onnx"), format!("{stem}.ext.onnx")] {
            let (code, ops, params, m, err) = show(&wild().join(&file), stem);
            assert_eq!(code, 0, "{file}: {err}");
            assert_eq!(params, expected, "{file}");
            assert!(!ops.is_empty(), "{file}");
            // Both savings of one export are the same graph.
            assert_eq!(*macs.get_or_insert(m.clone()), m, "{file}");
        }
    }
}

#[test]
fn the_wild_exports_have_the_zoo_architectures_macs() {
    // BERT-base at sequence 128, ViT-B/16 and ResNet-18 at 224×224, batch 1.
    for (stem, macs) in [
        ("bert-base-mask.torchscript", "11,174,215,680"),
        ("bert-base-mask.dynamo", "11,174,215,680"),
        ("vit-b16.torchscript", "17,563,828,224"),
        ("vit-b16.dynamo", "17,563,828,224"),
        ("resnet18.torchscript", "1,814,073,344"),
        ("resnet18.dynamo", "1,814,073,344"),
    ] {
        let (code, _, _, m, err) = show(&wild().join(format!("{stem}.onnx")), stem);
        assert_eq!((code, m.as_str()), (0, macs), "{stem}: {err}");
    }
}

#[test]
fn without_its_data_file_an_external_data_export_imports_where_value_info_allows() {
    let dir = tessera_tests::temp_dir("onnx_wild", "no_data");
    std::fs::create_dir_all(&dir).unwrap();
    for stem in manifest()["models"].as_object().unwrap().keys() {
        let file = format!("{stem}.ext.onnx");
        let alone = dir.join(&file);
        std::fs::copy(wild().join(&file), &alone).unwrap();
        let with_data = show(&wild().join(&file), stem);
        let (code, ops, params, macs, err) = show(&alone, stem);
        if stem == "bert-base-mask.dynamo" {
            // An attention Reshape's output shape is not recorded: the
            // importer names the file it needs.
            assert_ne!(code, 0);
            assert!(
                err.contains(&format!(
                    "is stored in the external data file \"{file}.data\" and the file is not in the model's folder"
                )) && err.contains("(Reshape)"),
                "{err}"
            );
            continue;
        }
        assert_eq!(code, 0, "{file}: {err}");
        assert_eq!((params, &macs), (with_data.2, &with_data.3), "{file}");
        if stem == "vit-b16.dynamo" {
            // The q, k, v Gathers' indices are in the data file: they stay
            // three gathers a layer instead of three projections.
            assert_eq!((with_data.1.as_str(), ops.as_str()), ("234", "246"));
        } else {
            assert_eq!(ops, with_data.1, "{file}");
        }
    }
}

#[test]
fn the_committed_data_files_hold_only_the_small_integer_tensors() {
    for entry in std::fs::read_dir(wild()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "data") {
            let len = std::fs::metadata(&path).unwrap().len();
            assert!(len <= 16 << 10, "{}: {len} bytes", path.display());
        }
    }
}
