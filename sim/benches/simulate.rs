//! Benchmarks of one simulator evaluation (`Simulator::run` on a fixed
//! placement), named after the scenarios they time, with fixed inputs and no
//! randomness.
//!
//! Run with `cargo bench -p sim --bench simulate`; README.md's "Performance"
//! section keeps the results with the command, commit and machine that made
//! them.
//!
//! Every benchmark builds its graph, spec, placement and `Simulator` outside
//! the timed region and times `run` alone, as a search does when it evaluates
//! many placements on one simulator. Two counters are reported per benchmark:
//! `ItemsCount(1)`, shown as `item/s`, is evaluations per second; and
//! `CyclesCount(events)`, shown in Hz, is simulator events per second (divan
//! has no counter named for events; the "cycles" here are events, not clock
//! cycles of either the host or the simulated package). The event count is
//! taken from one untimed run beforehand: a run is deterministic, so every
//! timed run processes the same number.
//!
//! Scaling series:
//! - `scaling::bert_layers_x_microbatches`: BERT-base widths with 2, 4, 8 or
//!   16 layers (the const parameter) and 1, 4 or 16 micro-batches (the
//!   argument) on the 4-chiplet Edge TPU ring; the cost should be linear in
//!   ops × micro-batches. Four chiplets keep the number of cut edges, and so
//!   of transfers, nearly fixed while the ops grow; on 16 chiplets a 2-layer
//!   model is cut into pieces of two or three ops and its residual tensors
//!   cross several chiplets, so its events per op are several times a deep
//!   model's and ops × micro-batches would not be the only variable.
//! - `scaling::bert_base_mesh`: BERT-base on generated square meshes of side
//!   2, 4 and 8 (4 to 64 chiplets) of Simba chiplets.
//! - `scaling::fan_out`: one op whose output feeds every other op (1,000,
//!   10,000 or 100,000 ops in all) on the 8 × 8 mesh, 8 micro-batches: every
//!   chiplet receives the one tensor and runs thousands of consumers, so a
//!   cost that grows with consumers × destinations shows here.

use std::collections::BTreeMap;

use divan::Bencher;
use divan::counter::{CyclesCount, ItemsCount};
use sim::graph::{DType, EltFunc, Graph, GraphBuilder};
use sim::spec::HwSpec;
use sim::{Placement, SimOptions, Simulator, SteadyState, zoo};

fn main() {
    divan::main();
}

/// Parses one of the shipped hardware specs, embedded at compile time so that
/// the benchmark does not depend on the working directory.
fn shipped_spec(text: &str, name: &str) -> HwSpec {
    HwSpec::from_toml_str(text, name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn model(name: &str, params: &[(&str, &str)]) -> Graph {
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    zoo::build(name, &params).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Exactly `microbatches` micro-batches: the scaling series measures one run
/// of a known length (a converging evaluation is several such runs; see
/// `bert_base_ring16_converged`).
fn options(microbatches: u32) -> SimOptions {
    SimOptions {
        microbatches,
        steady_state: SteadyState::Fixed,
        ..SimOptions::default()
    }
}

/// Builds the simulator, runs once untimed for the event count, then times
/// `run` with the evaluation and event counters.
fn bench_run(bencher: Bencher, spec: &HwSpec, graph: &Graph, microbatches: u32) {
    let placement = Placement::contiguous_balanced(spec, graph);
    let mut sim = Simulator::new(spec, graph, &options(microbatches)).expect("simulator");
    let events = sim.run(&placement).expect("run").report.events_processed;
    bencher
        .counter(ItemsCount::new(1u32))
        .counter(CyclesCount::new(events))
        .bench_local(|| sim.run(divan::black_box(&placement)).expect("run"));
}

/// The issue's headline: BERT-base (seq 128) on the 16-chiplet Edge TPU ring,
/// contiguous balanced placement, 8 micro-batches.
#[divan::bench]
fn bert_base_ring16(bencher: Bencher) {
    let spec = shipped_spec(
        include_str!("../../hw_specs/edgetpu_ring16.toml"),
        "hw_specs/edgetpu_ring16.toml",
    );
    let graph = model("bert-base", &[("seq", "128")]);
    bench_run(bencher, &spec, &graph, 8);
}

/// The same with the default options: converging from 8 micro-batches (here
/// 8 and 16 are simulated). The event counter counts the last run's events
/// only.
#[divan::bench]
fn bert_base_ring16_converged(bencher: Bencher) {
    let spec = shipped_spec(
        include_str!("../../hw_specs/edgetpu_ring16.toml"),
        "hw_specs/edgetpu_ring16.toml",
    );
    let graph = model("bert-base", &[("seq", "128")]);
    let placement = Placement::contiguous_balanced(&spec, &graph);
    let mut sim = Simulator::new(&spec, &graph, &SimOptions::default()).expect("simulator");
    bencher
        .counter(ItemsCount::new(1u32))
        .bench_local(|| sim.run(divan::black_box(&placement)).expect("run"));
}

/// BERT-base on the 16-chiplet Edge TPU ring given buffered routers
/// (BookSim's pipeline, 4 VCs × 8 flits of 16 bytes; `sim::fabric::buffered`),
/// 8 micro-batches: what the flit-level model costs per evaluation. Few
/// samples: one run takes seconds.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn bert_base_ring16_buffered(bencher: Bencher) {
    let mut text = include_str!("../../hw_specs/edgetpu_ring16.toml").to_string();
    text.push_str(
        "\n[interconnect]\nrouter_delay_cycles = 3\ninjection_latency_cycles = 3\n\
         ejection_latency_cycles = 1\nflit_bytes = 16\nvirtual_channels = 4\nbuffer_flits = 8\n",
    );
    let spec = shipped_spec(&text, "hw_specs/edgetpu_ring16.toml + buffered routers");
    let graph = model("bert-base", &[("seq", "128")]);
    bench_run(bencher, &spec, &graph, 8);
}

/// ResNet-50 on the 36-chiplet Simba package, contiguous balanced placement,
/// 8 micro-batches.
#[divan::bench]
fn resnet50_simba(bencher: Bencher) {
    let spec = shipped_spec(
        include_str!("../../hw_specs/simba_6x6.toml"),
        "hw_specs/simba_6x6.toml",
    );
    let graph = model("resnet50", &[]);
    bench_run(bencher, &spec, &graph, 8);
}

mod scaling {
    //! How the cost of one evaluation grows with the workload and the package.

    use super::*;

    /// BERT-base widths (hidden 768, 12 heads, ffn 3072, seq 128) with
    /// `LAYERS` layers and `microbatches` micro-batches on the 4-chiplet Edge
    /// TPU ring.
    #[divan::bench(consts = [2, 4, 8, 16], args = [1, 4, 16])]
    fn bert_layers_x_microbatches<const LAYERS: u32>(bencher: Bencher, microbatches: u32) {
        let spec = shipped_spec(
            include_str!("../../hw_specs/edgetpu_ring4.toml"),
            "hw_specs/edgetpu_ring4.toml",
        );
        let layers = LAYERS.to_string();
        let graph = model("bert-base", &[("seq", "128"), ("layers", &layers)]);
        bench_run(bencher, &spec, &graph, microbatches);
    }

    /// BERT-base on a `side` × `side` mesh, 8 micro-batches.
    #[divan::bench(args = [2, 4, 8])]
    fn bert_base_mesh(bencher: Bencher, side: u32) {
        let name = format!("mesh_{side}x{side}.toml (generated)");
        let spec = shipped_spec(&mesh_spec_toml(side), &name);
        let graph = model("bert-base", &[("seq", "128")]);
        bench_run(bencher, &spec, &graph, 8);
    }

    /// A fan-out graph of `ops` ops on the 8 × 8 mesh, 8 micro-batches; few
    /// samples, since the largest run is long.
    #[divan::bench(args = [1_000, 10_000, 100_000], sample_count = 5, sample_size = 1)]
    fn fan_out(bencher: Bencher, ops: usize) {
        let spec = shipped_spec(&mesh_spec_toml(8), "mesh_8x8.toml (generated)");
        let graph = fan_out_graph(ops);
        bench_run(bencher, &spec, &graph, 8);
    }

    /// `relu(x)` feeding `ops - 1` further relus, on a 256-element int8 row.
    fn fan_out_graph(ops: usize) -> Graph {
        let mut b = GraphBuilder::new("fan_out", "sim/benches/simulate.rs", DType::Int8);
        let x = b.input("x", &[1, 256]);
        let root = b.eltwise("root", EltFunc::Relu, &[&x], 0).expect("root");
        for i in 1..ops {
            b.eltwise(&format!("leaf{i}"), EltFunc::Relu, &[&root], 0)
                .expect("leaf");
        }
        b.finish().expect("fan-out graph")
    }

    /// A `side` × `side` mesh of Simba chiplets with XY routing and snake
    /// pipeline order; every number is copied from hw_specs/mesh_4x4.toml, so
    /// `side = 4` describes the same package.
    fn mesh_spec_toml(side: u32) -> String {
        let last = side * side - 1;
        format!(
            r#"name = "mesh_{side}x{side}"
source = ["hw_specs/mesh_4x4.toml (Simba chiplet and link numbers), resized for benchmarking"]
notes = "Generated by sim/benches/simulate.rs; only the mesh size differs from mesh_4x4."
clock_mhz = 1800
pipeline_order = "snake"

[chiplet_types.simba]
macs_per_cycle = 1024
array_rows = 32
array_cols = 32
vector_elems_per_cycle = 128
sram_kib = 752
sram_bandwidth_bytes_per_cycle = 1024
op_overhead_cycles = 200
energy_per_mac_pj = 0.33
energy_per_sram_byte_pj = 0.8

[[chiplets]]
id_range = [0, {last}]
type = "simba"

[[topology]]
kind = "mesh"
rows = {side}
cols = {side}
bandwidth_bytes_per_cycle = 14
latency_cycles = 36
energy_per_bit_pj = 1.75

[routing]
kind = "xy"

[constraints]
acyclic_dataflow = true
no_skipping = "off"
no_triangle = false
sram_capacity = true
"#
        )
    }
}
