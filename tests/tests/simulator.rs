//! The simulator through its public interface: exactness against the compute
//! model and the analytic oracle, reuse, and the shape of its report.

use std::collections::BTreeMap;
use std::path::Path;

use sim::graph::Graph;
use sim::oracle::analyse;
use sim::spec::{ChipletId, HwSpec};
use sim::{Placement, SimOptions, Simulator, Switching, simulate, zoo};

fn spec(name: &str) -> HwSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../hw_specs")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    HwSpec::from_toml_str(&text, &path.display().to_string()).unwrap()
}

fn model(name: &str, params: &[(&str, &str)]) -> Graph {
    let p: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    zoo::build(name, &p).unwrap()
}

fn one_mb() -> SimOptions {
    SimOptions {
        microbatches: 1,
        ..SimOptions::default()
    }
}

#[test]
fn a_single_op_takes_exactly_the_compute_model_cycles() {
    let hw = spec("mesh_4x4.toml");
    let g = model("mlp", &[("sizes", "256,128")]);
    assert_eq!(g.ops().len(), 1);
    let p = Placement::single(&g, ChipletId(5));
    let r = simulate(&hw, &g, &p, &one_mb()).unwrap().report;
    let expected = sim::cost::op_cost(&g.ops()[0], hw.chiplet_type(ChipletId(5))).cycles;
    assert_eq!(r.first_inference_latency_cycles, expected);
    assert_eq!(r.makespan_cycles, expected);
    assert_eq!(r.chiplets[5].busy_cycles, expected);
}

#[test]
fn a_chain_with_one_microbatch_equals_the_oracle_exactly() {
    for (hw, m, params) in [
        ("edgetpu_ring4.toml", "mlp", vec![("sizes", "784,512,512,512,10")]),
        ("simba_6x6.toml", "mlp", vec![("sizes", "1024,1024,1024,1024,1024,1024,10")]),
        ("mesh_4x4.toml", "cifarnet", vec![]),
    ] {
        let hw = spec(hw);
        let g = model(m, &params);
        for switching in [Switching::StoreAndForward, Switching::CutThrough] {
            let opts = SimOptions {
                microbatches: 1,
                packet_bytes: 512,
                switching,
                trace: false,
            };
            // Spread the chain over chiplets far apart, so tensors cross
            // several hops.
            let n = hw.n_chiplets() as u32;
            let p = Placement {
                chiplet_of_op: (0..g.ops().len() as u32)
                    .map(|i| ChipletId((i * 7) % n))
                    .collect(),
            };
            let r = simulate(&hw, &g, &p, &opts).unwrap().report;
            let a = analyse(&hw, &g, &p, &opts);
            assert_eq!(
                r.first_inference_latency_cycles, a.critical_path_cycles,
                "{} {m} {switching:?}",
                hw.name
            );
        }
    }
}

#[test]
fn a_reused_simulator_gives_the_same_report_as_a_fresh_one() {
    let hw = spec("edgetpu_ring16.toml");
    let g = model("bert-base", &[("layers", "4"), ("seq", "64")]);
    let opts = SimOptions::default();
    let mut sim = Simulator::new(&hw, &g, &opts).unwrap();
    let contiguous = Placement::contiguous_balanced(&hw, &g);
    let single = Placement::single(&g, ChipletId(0));
    let a1 = sim.run(&contiguous).unwrap();
    let b1 = sim.run(&single).unwrap();
    let a2 = sim.run(&contiguous).unwrap();
    assert_eq!(a1, a2);
    assert_eq!(b1, simulate(&hw, &g, &single, &opts).unwrap());
    assert_ne!(a1.report, b1.report);
}

#[test]
fn makespan_respects_the_oracle_bounds_with_many_microbatches() {
    let hw = spec("edgetpu_ring16.toml");
    let g = model("bert-base", &[]);
    let opts = SimOptions::default();
    let p = Placement::contiguous_balanced(&hw, &g);
    let r = simulate(&hw, &g, &p, &opts).unwrap().report;
    let a = analyse(&hw, &g, &p, &opts);
    assert!(r.valid, "{:?}", r.violations);
    assert!(r.makespan_cycles >= opts.microbatches as u64 * a.bottleneck_cycles);
    assert!(r.first_inference_latency_cycles >= a.critical_path_cycles);
    assert!(r.throughput_inferences_per_s > 0.0);
}

#[test]
fn weights_beyond_sram_without_streaming_are_a_violation() {
    let hw = spec("mesh_4x4.toml");
    let g = model("resnet50", &[]);
    let p = Placement::single(&g, ChipletId(0));
    let r = simulate(&hw, &g, &p, &one_mb()).unwrap().report;
    assert!(!r.valid);
    assert_eq!(r.violations.len(), 1, "{:?}", r.violations);
    match &r.violations[0] {
        sim::report::Violation::SramOverflow {
            chiplet,
            over_bytes,
            ..
        } => {
            assert_eq!(*chiplet, 0);
            assert!(*over_bytes > 20_000_000);
        }
    }
}
