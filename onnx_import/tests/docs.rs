//! `docs/onnx.md` stays in step with the importer: its op table names every
//! supported op and nothing else, and the importer's op table (from which
//! `SUPPORTED_OPS` is read) names each op once.

use std::collections::BTreeSet;

/// The op names in the first column of the docs' op mapping table (the rows
/// after its `| ONNX op |` header, up to the first line that is not a row).
fn documented_ops() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/onnx.md");
    let text = std::fs::read_to_string(path).expect("docs/onnx.md");
    text.lines()
        .skip_while(|l| !l.starts_with("| ONNX op"))
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .filter(|l| !l.starts_with("|---"))
        .flat_map(|l| l.split('|').nth(1).unwrap_or("").split(','))
        .map(|name| name.trim().to_string())
        .collect()
}

#[test]
fn the_op_table_in_the_docs_names_every_supported_op() {
    let documented = documented_ops();
    let missing: Vec<&str> = onnx_import::SUPPORTED_OPS
        .iter()
        .copied()
        .filter(|op| !documented.iter().any(|name| name == op))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/onnx.md's op table lacks {missing:?}"
    );
}

#[test]
fn the_op_table_in_the_docs_names_only_supported_ops() {
    let documented = documented_ops();
    assert!(
        documented.len() >= onnx_import::SUPPORTED_OPS.len(),
        "docs/onnx.md's op table was not found or is short: {documented:?}"
    );
    let unknown: Vec<&String> = documented
        .iter()
        .filter(|name| !onnx_import::SUPPORTED_OPS.contains(&name.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/onnx.md's op table names ops tessera does not import: {unknown:?}"
    );
}

#[test]
fn the_importers_op_table_names_each_op_once() {
    let mut seen = BTreeSet::new();
    let repeated: Vec<&str> = onnx_import::SUPPORTED_OPS
        .iter()
        .copied()
        .filter(|op| !seen.insert(*op))
        .collect();
    assert!(
        repeated.is_empty(),
        "the op table lists {repeated:?} more than once (only the first entry would ever run)"
    );
}
