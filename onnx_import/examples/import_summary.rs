//! Prints each ONNX file's imported totals: `cargo run -p onnx_import --example
//! import_summary -- FILE... [dim=value...]`.

use std::collections::BTreeMap;
use std::path::Path;

fn main() {
    let mut opts = onnx_import::ImportOptions::default();
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.split_once('=') {
            Some((k, v)) => {
                let v: u64 = v.parse().expect("dim values are whole numbers");
                opts.dims.insert(k.to_string(), v);
            }
            None => files.push(arg),
        }
    }
    if opts.dims.is_empty() {
        opts.dims = BTreeMap::from([("batch".to_string(), 1), ("sequence".to_string(), 128)]);
    }
    for f in files {
        match onnx_import::import_file(Path::new(&f), &opts) {
            Ok(g) => {
                let t = g.totals();
                println!(
                    "{f}: {} ops, {} params, {} MACs, {} vector ops",
                    t.ops, t.params, t.macs, t.vector_ops
                );
            }
            Err(e) => println!("{e}"),
        }
    }
}
