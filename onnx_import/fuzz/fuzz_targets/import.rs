//! Feeds arbitrary bytes to the ONNX importer: it must return an error or a
//! valid graph, never panic, and stay within bounded memory. Seed the corpus
//! with `cp ../../tests/data/onnx/*.onnx corpus/import/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onnx_import::{ImportOptions, import_bytes};

fuzz_target!(|data: &[u8]| {
    let opts = ImportOptions {
        dims: [("batch".to_string(), 1), ("sequence".to_string(), 8)].into(),
        ..ImportOptions::default()
    };
    if let Ok(g) = import_bytes(data, "fuzz.onnx", &opts) {
        let _ = g.totals();
    }
});
