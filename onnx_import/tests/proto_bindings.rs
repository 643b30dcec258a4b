//! The committed Rust bindings (`src/proto/onnx.rs`) are exactly what prost-build
//! generates from the vendored schema (`proto/onnx.proto3`), so neither can drift.
//!
//! Regenerate after changing the schema or the prost version with
//! `UPDATE_ONNX_PROTO=1 cargo test -p onnx_import --test proto_bindings`.

use std::path::Path;

fn generate() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fds = protox::compile(["onnx.proto3"], [root.join("proto")]).expect("schema compiles");
    let out = std::env::temp_dir().join(format!("onnx_import_proto_{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temporary directory");
    prost_build::Config::new()
        .out_dir(&out)
        // Weight bytes stay in the file's buffer instead of being copied.
        .bytes([".onnx.TensorProto.raw_data"])
        .compile_fds(fds)
        .expect("prost-build generates the bindings");
    let text = std::fs::read_to_string(out.join("onnx.rs")).expect("generated onnx.rs");
    let _ = std::fs::remove_dir_all(&out);
    text
}

#[test]
fn committed_bindings_match_the_vendored_schema() {
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/proto/onnx.rs");
    let generated = generate();
    if std::env::var_os("UPDATE_ONNX_PROTO").is_some() {
        std::fs::write(&committed_path, &generated).expect("write src/proto/onnx.rs");
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == generated,
        "src/proto/onnx.rs differs from the code generated from proto/onnx.proto3; \
         regenerate it with `UPDATE_ONNX_PROTO=1 cargo test -p onnx_import --test proto_bindings`"
    );
}
