//! `docs/onnx.md` stays in step with the importer: its op table names every
//! supported op.

#[test]
fn the_op_table_in_the_docs_names_every_supported_op() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/onnx.md");
    let text = std::fs::read_to_string(path).expect("docs/onnx.md");
    let table: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| ONNX op"))
        .map(|l| l.split('|').nth(1).unwrap_or(""))
        .collect();
    let missing: Vec<&str> = onnx_import::SUPPORTED_OPS
        .iter()
        .copied()
        .filter(|op| {
            !table
                .iter()
                .any(|cell| cell.split(',').any(|name| name.trim() == *op))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/onnx.md's op table lacks {missing:?}"
    );
}
