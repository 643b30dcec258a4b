//! Benchmarks of `dp` (`agent::partition::methods::SegmentModel`: building
//! the segment tables and solving the recurrence) on 10,000-op graphs over 64
//! chiplets, issue 14's speed target (≤ 5 s each):
//! - `chain`: 5,000 linear layers of 512 × 512 with a ReLU after each;
//! - `fan_out`: one linear layer whose output feeds 9,999 ReLUs.
//!
//! The package is hw_specs/mesh_4x4.toml grown to an 8 × 8 mesh, with SRAM
//! enlarged so that every op's weights fit (its constraints stay on: acyclic
//! dataflow and SRAM capacity).
//!
//! Run with `cargo bench -p agent --bench dp`.

use agent::partition::methods::SegmentModel;
use divan::Bencher;
use sim::SimOptions;
use sim::graph::{DType, EltFunc, Graph, GraphBuilder};
use sim::spec::HwSpec;

fn main() {
    divan::main();
}

/// `hw_specs/mesh_4x4.toml` grown to 8 × 8 with 100 MB of SRAM per chiplet.
fn mesh8() -> HwSpec {
    let mut text = include_str!("../../hw_specs/mesh_4x4.toml").to_string();
    for (old, new) in [
        ("name = \"mesh_4x4\"", "name = \"mesh_8x8\""),
        ("id_range = [0, 15]", "id_range = [0, 63]"),
        ("rows = 4", "rows = 8"),
        ("cols = 4", "cols = 8"),
        ("sram_kib = 752", "sram_kib = 100000"),
    ] {
        assert!(text.contains(old), "mesh_4x4.toml has no {old:?}");
        text = text.replace(old, new);
    }
    HwSpec::from_toml_str(&text, "mesh_8x8 (agent/benches/dp.rs)").expect("valid spec")
}

/// 5,000 × (linear 512 → 512, ReLU).
fn chain() -> Graph {
    let mut b = GraphBuilder::new("chain", "agent/benches/dp.rs", DType::Int8);
    let mut x = b.input("x", &[1, 512]);
    for i in 0..5_000 {
        let y = b.linear(&format!("fc{i}"), &x, 512, true).expect("fc");
        x = b
            .eltwise(&format!("relu{i}"), EltFunc::Relu, &[&y], 0)
            .expect("relu");
    }
    b.finish().expect("chain")
}

/// A linear layer feeding 9,999 ReLUs.
fn fan_out() -> Graph {
    let mut b = GraphBuilder::new("fan_out", "agent/benches/dp.rs", DType::Int8);
    let x = b.input("x", &[1, 512]);
    let root = b.linear("root", &x, 512, true).expect("root");
    for i in 1..10_000 {
        b.eltwise(&format!("leaf{i}"), EltFunc::Relu, &[&root], 0)
            .expect("leaf");
    }
    b.finish().expect("fan-out")
}

fn solve(bencher: Bencher, graph: &Graph) {
    let spec = mesh8();
    let options = SimOptions::default();
    bencher.bench_local(|| {
        let model = SegmentModel::new(&spec, graph, &spec.constraints, &options, true);
        divan::black_box(model.optimal().expect("a feasible segmentation"))
    });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn chain_10k_on_64(bencher: Bencher) {
    solve(bencher, &chain());
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn fan_out_10k_on_64(bencher: Bencher) {
    solve(bencher, &fan_out());
}
