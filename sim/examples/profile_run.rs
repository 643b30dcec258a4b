//! Runs one benchmark workload's evaluation many times, for a profiler:
//!
//! ```text
//! cargo build --release -p sim --example profile_run
//! valgrind --tool=callgrind target/release/examples/profile_run bert 20
//! perf stat -e instructions target/release/examples/profile_run fan_out:100000 3
//! ```
//!
//! Workloads are those of `benches/simulate.rs`: `bert` (BERT-base, seq 128,
//! on `edgetpu_ring16`), `resnet` (ResNet-50 on `simba_6x6`), and
//! `fan_out:N` (one op feeding N − 1 others on an 8 × 8 mesh); 8 micro-batches,
//! contiguous balanced placement. Prints the events and steps of one run.

use std::collections::BTreeMap;

use sim::graph::{DType, EltFunc, Graph, GraphBuilder};
use sim::spec::HwSpec;
use sim::{Placement, SimOptions, Simulator, zoo};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(workload), Some(runs)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: profile_run bert|resnet|fan_out:N RUNS");
        std::process::exit(2);
    };
    let Ok(runs) = runs.parse::<u32>() else {
        eprintln!("RUNS must be a whole number, got {runs:?}");
        std::process::exit(2);
    };
    let (spec, graph) = match workload.as_str() {
        "bert" => (
            spec(include_str!("../../hw_specs/edgetpu_ring16.toml")),
            zoo_model("bert-base", &[("seq", "128")]),
        ),
        "resnet" => (
            spec(include_str!("../../hw_specs/simba_6x6.toml")),
            zoo_model("resnet50", &[]),
        ),
        w => match w.strip_prefix("fan_out:").map(str::parse::<usize>) {
            Some(Ok(n)) if n >= 1 => (spec(&mesh_8x8()), fan_out(n)),
            _ => {
                eprintln!("unknown workload {w:?}: bert, resnet or fan_out:N");
                std::process::exit(2);
            }
        },
    };
    let placement = Placement::contiguous_balanced(&spec, &graph);
    let options = SimOptions::default();
    let mut sim = Simulator::new(&spec, &graph, &options).expect("simulator");
    let mut last = None;
    for _ in 0..runs {
        last = Some(sim.run(&placement).expect("run"));
    }
    if let Some(out) = last {
        println!(
            "{workload}: {} ops, {} events, {} steps per run",
            graph.ops().len(),
            out.report.events_processed,
            out.report.steps
        );
    }
}

fn spec(text: &str) -> HwSpec {
    HwSpec::from_toml_str(text, "benchmark spec").expect("spec")
}

fn zoo_model(name: &str, params: &[(&str, &str)]) -> Graph {
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    zoo::build(name, &params).expect("zoo model")
}

fn fan_out(ops: usize) -> Graph {
    let mut b = GraphBuilder::new("fan_out", "sim/examples/profile_run.rs", DType::Int8);
    let x = b.input("x", &[1, 256]);
    let root = b.eltwise("root", EltFunc::Relu, &[&x], 0).expect("root");
    for i in 1..ops {
        b.eltwise(&format!("leaf{i}"), EltFunc::Relu, &[&root], 0)
            .expect("leaf");
    }
    b.finish().expect("fan-out graph")
}

/// The benchmark's generated 8 × 8 mesh of Simba chiplets.
fn mesh_8x8() -> String {
    let mesh = include_str!("../../hw_specs/mesh_4x4.toml");
    mesh.replace("rows = 4", "rows = 8")
        .replace("cols = 4", "cols = 8")
        .replace("id_range = [0, 15]", "id_range = [0, 63]")
}
