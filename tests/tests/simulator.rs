//! The simulator through its public interface: exactness against the compute
//! model and the analytic oracle, reuse, and the shape of its report.

use std::collections::BTreeMap;
use std::path::Path;

use sim::graph::Graph;
use sim::oracle::analyse;
use sim::spec::{ChipletId, HwSpec};
use sim::{Placement, SimOptions, Simulator, SteadyState, Switching, simulate, zoo};
use tessera_tests::shipped_with_buffers;

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
        steady_state: SteadyState::Fixed,
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
        (
            "edgetpu_ring4.toml",
            "mlp",
            vec![("sizes", "784,512,512,512,10")],
        ),
        (
            "simba_6x6.toml",
            "mlp",
            vec![("sizes", "1024,1024,1024,1024,1024,1024,10")],
        ),
        ("mesh_4x4.toml", "cifarnet", vec![]),
    ] {
        let hw = spec(hw);
        let g = model(m, &params);
        for switching in [Switching::StoreAndForward, Switching::CutThrough] {
            let opts = SimOptions {
                microbatches: 1,
                steady_state: SteadyState::Fixed,
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
        other => panic!("expected SRAM overflow, got {other:?}"),
    }
}

/// Output-stationary cycles as SCALE-Sim's analytical model states them,
/// written out here independently of `sim::cost`.
fn scalesim_os(sr: u64, sc: u64, t: u64, r: u64, c: u64) -> u64 {
    sr.div_ceil(r) * sc.div_ceil(c) * (r + c + t - 2)
}

/// Runs every op of `g` alone on chiplet 0 with one micro-batch and returns
/// each op's duration from the trace, by op name.
fn op_durations(hw: &HwSpec, g: &Graph) -> BTreeMap<String, u64> {
    let opts = SimOptions {
        microbatches: 1,
        trace: true,
        ..SimOptions::default()
    };
    let out = simulate(hw, g, &Placement::single(g, ChipletId(0)), &opts).unwrap();
    let trace = out.trace.unwrap();
    trace
        .slices
        .iter()
        .filter(|s| matches!(s.track, sim::report::Track::Chiplet(_)))
        .map(|s| (trace.name(s).to_string(), s.end_cycle - s.start_cycle))
        .collect()
}

/// The cycles the simulator must give an op whose array time is `array`.
fn expected(hw: &HwSpec, op: &sim::graph::Op, array: u64) -> u64 {
    let ty = hw.chiplet_type(ChipletId(0));
    let inputs: u64 = op
        .inputs
        .iter()
        .map(|i| i.shape.iter().product::<u64>() * op.dtype.bytes())
        .sum();
    let sram =
        (op.weight_bytes + inputs + op.output_bytes).div_ceil(ty.sram_bandwidth_bytes_per_cycle);
    ty.op_overhead_cycles + array.max(sram)
}

#[test]
fn resnet18_layers_take_the_scalesim_output_stationary_cycles() {
    // ResNet-18 at 224×224 (He et al. 2016, Table 1), as GEMMs:
    // (op name, Sr = output pixels, Sc = filters, T = kernel area × input channels).
    let layers: Vec<(&str, u64, u64, u64)> = vec![
        ("conv1", 112 * 112, 64, 7 * 7 * 3),
        ("layer1.0.conv1", 56 * 56, 64, 9 * 64),
        ("layer1.0.conv2", 56 * 56, 64, 9 * 64),
        ("layer1.1.conv1", 56 * 56, 64, 9 * 64),
        ("layer1.1.conv2", 56 * 56, 64, 9 * 64),
        ("layer2.0.conv1", 28 * 28, 128, 9 * 64),
        ("layer2.0.conv2", 28 * 28, 128, 9 * 128),
        ("layer2.0.downsample.conv", 28 * 28, 128, 64),
        ("layer2.1.conv1", 28 * 28, 128, 9 * 128),
        ("layer2.1.conv2", 28 * 28, 128, 9 * 128),
        ("layer3.0.conv1", 14 * 14, 256, 9 * 128),
        ("layer3.0.conv2", 14 * 14, 256, 9 * 256),
        ("layer3.0.downsample.conv", 14 * 14, 256, 128),
        ("layer3.1.conv1", 14 * 14, 256, 9 * 256),
        ("layer3.1.conv2", 14 * 14, 256, 9 * 256),
        ("layer4.0.conv1", 7 * 7, 512, 9 * 256),
        ("layer4.0.conv2", 7 * 7, 512, 9 * 512),
        ("layer4.0.downsample.conv", 7 * 7, 512, 256),
        ("layer4.1.conv1", 7 * 7, 512, 9 * 512),
        ("layer4.1.conv2", 7 * 7, 512, 9 * 512),
        ("fc", 1, 1000, 512),
    ];
    // Packages without off-package memory: weights that overflow are a
    // reported violation, and no op waits for streamed weights.
    for hw_name in ["simba_6x6.toml", "hetero_2type.toml"] {
        let hw = spec(hw_name);
        let ty = hw.chiplet_type(ChipletId(0)).clone();
        let g = model("resnet18", &[]);
        let gemm_ops: Vec<_> = g.ops().iter().filter(|o| o.kind.gemm().is_some()).collect();
        assert_eq!(
            gemm_ops.len(),
            layers.len(),
            "ResNet-18 has 20 convs and one fc"
        );
        let durations = op_durations(&hw, &g);
        for (name, sr, sc, t) in &layers {
            let op = g
                .ops()
                .iter()
                .find(|o| o.name == *name)
                .unwrap_or_else(|| panic!("no op named like {name}"));
            let array = scalesim_os(*sr, *sc, *t, ty.array_rows, ty.array_cols);
            assert_eq!(
                sim::cost::engine_cycles(op, &ty),
                array,
                "{hw_name} {name}: engine cycles"
            );
            assert_eq!(
                durations[&op.name],
                expected(&hw, op, array),
                "{hw_name} {name}: simulated op cycles"
            );
        }
    }
}

#[test]
fn bert_base_gemms_take_the_scalesim_output_stationary_cycles() {
    // One layer and a small vocabulary on a 16 MiB variant of the chip keep
    // every weight resident beside one micro-batch's activations, so no op
    // waits for streamed weights.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hw_specs/edgetpu_ring4.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("sram_kib = 8192", "sram_kib = 16384");
    let hw = HwSpec::from_toml_str(&text, "edgetpu_ring4 (16 MiB)").unwrap();
    let ty = hw.chiplet_type(ChipletId(0)).clone();
    let (s, h, f, heads) = (128u64, 768u64, 3072u64, 12u64);
    let g = model("bert-base", &[("layers", "1"), ("vocab", "100")]);
    let durations = op_durations(&hw, &g);
    let r = simulate(&hw, &g, &Placement::single(&g, ChipletId(0)), &one_mb())
        .unwrap()
        .report;
    assert_eq!(r.chiplets[0].weight_bytes_streamed, 0);
    // (name suffix, repeats, Sr, Sc, T) for one encoder layer.
    let gemms: Vec<(&str, u64, u64, u64, u64)> = vec![
        ("attn.q", 1, s, h, h),
        ("attn.k", 1, s, h, h),
        ("attn.v", 1, s, h, h),
        ("attn.scores", heads, s, s, h / heads),
        ("attn.context", heads, s, h / heads, s),
        ("attn.out", 1, s, h, h),
        ("ffn.fc1", 1, s, f, h),
        ("ffn.fc2", 1, s, h, f),
    ];
    for layer in 0..1 {
        for (suffix, reps, sr, sc, t) in &gemms {
            let name = format!("layer{layer}.{suffix}");
            let op = g
                .ops()
                .iter()
                .find(|o| o.name == name)
                .unwrap_or_else(|| panic!("no op {name}"));
            let array = reps * scalesim_os(*sr, *sc, *t, ty.array_rows, ty.array_cols);
            assert_eq!(sim::cost::engine_cycles(op, &ty), array, "{name}");
            assert_eq!(durations[&name], expected(&hw, op, array), "{name}");
        }
    }
}

#[test]
fn the_trace_is_chrome_trace_event_json_with_every_op_run() {
    let hw = spec("edgetpu_ring4.toml");
    let g = model("bert-base", &[("layers", "2")]);
    let opts = SimOptions {
        microbatches: 3,
        steady_state: SteadyState::Fixed,
        trace: true,
        ..SimOptions::default()
    };
    let out = simulate(&hw, &g, &Placement::contiguous_balanced(&hw, &g), &opts).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&out.trace_json(hw.clock_mhz).unwrap()).unwrap();
    let events = json["traceEvents"].as_array().unwrap();
    let slices: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
    let op_slices = slices.iter().filter(|e| e["pid"] == 1).count();
    assert_eq!(op_slices, g.ops().len() * 3);
    assert!(slices.iter().any(|e| e["pid"] == 2), "link slices present");
    for e in &slices {
        assert!(e["ts"].as_f64().unwrap() >= 0.0);
        assert!(e["dur"].as_f64().unwrap() >= 0.0);
        assert!(e["name"].is_string() && e["tid"].is_u64());
    }
    let names: Vec<_> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .collect();
    assert!(
        names.len() >= 4 + 3,
        "a named track per chiplet and used link"
    );
}

/// A chiplet that may stream weights keeps them resident only when they fit
/// beside one micro-batch's activations, as the SRAM constraint assumes (it
/// charges a streaming chiplet its activations alone). Every contiguous
/// 4-way split of BERT-base on the 4-chip ring that the constraints accept,
/// including those whose weights fit a chiplet alone but not beside the
/// activations, passes the simulator's SRAM check.
#[test]
fn weights_that_fit_only_without_activations_are_streamed() {
    let hw = spec("edgetpu_ring4.toml");
    let g = model("bert-base", &[]);
    let set = hw.constraints;
    let n = g.ops().len();
    let mut sim = Simulator::new(&hw, &g, &SimOptions::default()).unwrap();
    let (mut checked, mut in_the_gap) = (0, 0);
    for a in (8..n / 2).step_by(8) {
        for b in (a + 4..n - 8).step_by(8) {
            for c in (b + 4..n - 4).step_by(8) {
                let bounds = [0, a, b, c, n];
                let chiplet_of_op = (0..n)
                    .map(|i| ChipletId(bounds[1..].iter().filter(|&&e| i >= e).count() as u32))
                    .collect();
                let p = Placement { chiplet_of_op };
                if !sim::constraints::check(&hw, &g, &p, &set).is_empty() {
                    continue;
                }
                let peaks = sim::constraints::activation_peaks(&hw, &g, &p.chiplet_of_op);
                let capacity = hw.chiplet_type(ChipletId(0)).sram_bytes();
                in_the_gap += (0..4)
                    .filter(|&k| {
                        let w: u64 = g.ops()[bounds[k]..bounds[k + 1]]
                            .iter()
                            .map(|o| o.weight_bytes)
                            .sum();
                        w <= capacity && w + peaks[k] > capacity
                    })
                    .count();
                let r = sim.run(&p).unwrap().report;
                assert!(r.valid, "{bounds:?}: {:?}", r.violations);
                checked += 1;
            }
        }
    }
    assert!(checked > 0 && in_the_gap > 0, "{checked} {in_the_gap}");
}

#[test]
fn a_placement_that_breaks_the_spec_constraints_is_reported_invalid() {
    // edgetpu_ring4 asks for acyclic dataflow along the pipeline: an MLP whose
    // second layer sits on an earlier chiplet than its first flows backwards.
    let hw = spec("edgetpu_ring4.toml");
    assert!(hw.constraints.acyclic_dataflow);
    let g = model("mlp", &[("sizes", "256,128,64")]);
    let n = g.ops().len();
    assert!(n >= 2);
    // The first op on chiplet 1, the rest on chiplet 0.
    let backwards = Placement {
        chiplet_of_op: (0..n).map(|i| ChipletId(u32::from(i == 0))).collect(),
    };
    let r = simulate(&hw, &g, &backwards, &one_mb()).unwrap().report;
    assert!(!r.valid);
    assert!(
        r.violations.iter().any(|v| matches!(
            v,
            sim::report::Violation::Partition(sim::constraints::Violation::AcyclicDataflow { .. })
        )),
        "{:?}",
        r.violations
    );
    // Forwards is fine; and a task that lifts the constraint is obeyed.
    let forwards = Placement {
        chiplet_of_op: (0..n).map(|i| ChipletId(u32::from(i == n - 1))).collect(),
    };
    assert!(
        simulate(&hw, &g, &forwards, &one_mb())
            .unwrap()
            .report
            .valid
    );
    let relaxed = sim::spec::Constraints {
        acyclic_dataflow: false,
        ..hw.constraints
    };
    let mut sim = Simulator::new(&hw, &g, &one_mb())
        .unwrap()
        .with_constraints(relaxed);
    assert!(sim.run(&backwards).unwrap().report.valid);
}

#[test]
fn simulate_names_each_broken_constraint() {
    let o = tessera_tests::tessera(&[
        "simulate",
        "--hw",
        tessera_tests::root()
            .join("hw_specs/edgetpu_ring4.toml")
            .to_str()
            .unwrap(),
        "--model",
        "bert-base",
        "-p",
        "seq=64",
        "layers=2",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("NO (see violations)"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("violation: no_skipping on edge layer0.attn.ln → layer0.ffn.residual"),
        "{}",
        o.stdout
    );
}

/// With buffered routers the workload moves the same bytes over the same
/// links, pays at least the ideal model's time for them, converges, and
/// gives the same report every time (also after another placement ran on
/// the same simulator).
#[test]
fn buffered_routers_carry_the_same_bytes_and_are_deterministic() {
    let g = model("mlp", &[("sizes", "512,512,512,512,512,512,10")]);
    for (name, flit) in [("edgetpu_ring4", 16), ("mesh_4x4", 32)] {
        let ideal_spec = spec(&format!("{name}.toml"));
        let spec = shipped_with_buffers(name, flit, 4, 8);
        let p = Placement::contiguous_balanced(&spec, &g);
        let other = Placement::single(&g, ChipletId(0));
        let opts = SimOptions::default();
        let ideal = simulate(&ideal_spec, &g, &p, &opts).unwrap().report;
        let mut sim = Simulator::new(&spec, &g, &opts).unwrap();
        let first = sim.run(&p).unwrap().report;
        sim.run(&other).unwrap();
        let again = sim.run(&p).unwrap().report;
        assert_eq!(
            serde_json::to_string(&first).unwrap(),
            serde_json::to_string(&again).unwrap(),
            "{name}: same placement, same report"
        );
        assert!(
            first.valid && first.steady_state.converged,
            "{name}: {:?} {:?}",
            first.violations,
            first.steady_state
        );
        let bytes = |r: &sim::report::SimReport| -> Vec<(u32, u64)> {
            r.links.iter().map(|l| (l.id, l.bytes)).collect()
        };
        assert_eq!(bytes(&first), bytes(&ideal), "{name}: same bytes per link");
        assert!(
            bytes(&first).iter().any(|&(_, b)| b > 0),
            "{name}: data moved"
        );
        assert!(
            first.first_inference_latency_cycles >= ideal.first_inference_latency_cycles,
            "{name}: {} < {}",
            first.first_inference_latency_cycles,
            ideal.first_inference_latency_cycles
        );
    }
}
