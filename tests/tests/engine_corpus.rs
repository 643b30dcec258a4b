//! A fixed corpus of simulations whose reports and traces must not change
//! unless the simulator's model changes on purpose: seeded random graphs on
//! seeded random packages (every generator, extra links, mixed chiplet types,
//! off-package memory with weight streaming, tiny SRAMs that force micro-batch
//! slots and overflow), random placements, both switching modes, several
//! packet sizes and micro-batch counts, plus zoo models on shipped specs, with
//! the ideal links and with buffered routers.
//!
//! Synthetic traffic drives the same link model (`sim::fabric`), so a second
//! corpus, `tests/snapshots/fabric_corpus.txt`, digests traffic reports and
//! every packet's record on shipped meshes and rings, all three patterns,
//! both switching modes, light and heavy load, and replayed injections, and
//! BookSim's mirrored networks with buffered routers.
//!
//! Each case is one line of `tests/snapshots/engine_corpus.txt`: what was run,
//! the key numbers, and a 64-bit FNV-1a digest of the report JSON and the
//! Chrome trace JSON, so any byte of difference shows. A rewrite of the engine
//! that claims to keep outputs byte-identical is checked here; an intended
//! change of the model rewrites the file with `UPDATE_SNAPSHOTS=1 cargo test
//! -p tessera-tests --test engine_corpus` and shows its diff in review.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::graph::Graph;
use sim::spec::{ChipletId, Constraints, HwSpec, NoSkipping};
use sim::testkit::{
    DagSpace, LinkSpace, MemoryReach, MemorySpace, PackageSpace, Structure, TopologyKind, TypeSpace,
};
use sim::traffic::{Injection, Pattern, TrafficOptions, replay, run_traffic_detailed};
use sim::{Placement, SimOptions, Simulator, SteadyState, Switching, zoo};
use tessera_tests::{root, shipped_with_buffers};

fn fnv1a(bytes: &[u8], mut h: u64) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn package_space() -> PackageSpace {
    let types = TypeSpace {
        array_sides: vec![4, 8, 16],
        vector_elems_per_cycle: vec![1, 4, 16],
        sram_kib: vec![1, 4, 64, 4096],
        sram_bandwidth_bytes_per_cycle: vec![1, 8, 64],
        op_overhead_cycles: vec![0, 3, 17],
        energy_per_mac_pj: 0.5,
        energy_per_sram_byte_pj: 0.25,
    };
    let link = LinkSpace {
        bandwidth_bytes_per_cycle: vec![1, 4, 32],
        latency_cycles: vec![0, 1, 7],
        energy_per_bit_pj: 1.5,
    };
    PackageSpace {
        clock_mhz: 1000.0,
        n_chiplets: vec![2, 3, 4, 6, 9],
        topologies: TopologyKind::CONNECTED.to_vec(),
        types: vec![types.clone(), types],
        heterogeneous: vec![false, true],
        link: link.clone(),
        extra_links: vec![0, 2, 4],
        extra_link: link,
        memory: Some(MemorySpace {
            reach: vec![MemoryReach::None, MemoryReach::All, MemoryReach::First],
            capacity_mib: vec![64],
            bandwidth_bytes_per_cycle: vec![2, 8],
            latency_cycles: vec![0, 20],
            energy_per_byte_pj: 1.0,
            weight_streaming: vec![true, false],
        }),
        shuffled_order: vec![false, true],
        constraints: Constraints {
            acyclic_dataflow: false,
            no_skipping: NoSkipping::Off,
            no_triangle: false,
            sram_capacity: true,
        },
    }
}

fn dag_space() -> DagSpace {
    DagSpace {
        structures: vec![Structure::Any, Structure::Layered { width: 3 }],
        ..DagSpace::small(8, 64, &[16, 32, 64], 40)
    }
}

/// One case: runs it and returns its line.
fn case(
    label: &str,
    spec: &HwSpec,
    graph: &Graph,
    placement: &Placement,
    options: &SimOptions,
) -> String {
    let mut sim = Simulator::new(spec, graph, options).expect("simulator");
    let out = sim.run(placement).expect("runs");
    // A reused simulator gives the same bytes as a fresh one.
    let again = sim.run(placement).expect("runs");
    assert_eq!(out, again, "{label}: a second run on one simulator differs");
    let report = serde_json::to_string(&out.report).expect("json");
    let trace = out.trace_json(spec.clock_mhz).unwrap_or_default();
    let digest = fnv1a(
        trace.as_bytes(),
        fnv1a(report.as_bytes(), 0xcbf2_9ce4_8422_2325),
    );
    let r = &out.report;
    format!(
        "{label}: makespan {} interval {} events {} steps {} valid {} digest {digest:016x}",
        r.makespan_cycles, r.steady_state_interval_cycles, r.events_processed, r.steps, r.valid
    )
}

fn random_placement(graph: &Graph, n: usize, rng: &mut ChaCha8Rng) -> Placement {
    Placement {
        chiplet_of_op: (0..graph.ops().len())
            .map(|_| ChipletId(rng.gen_range(0..n as u32)))
            .collect(),
    }
}

/// (spec file stem, zoo model, model parameters).
type ShippedCase = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

fn corpus() -> String {
    let mut out = String::new();
    let mut rng = ChaCha8Rng::seed_from_u64(20_261_206);
    let packages = package_space();
    let dags = dag_space();
    for i in 0..48 {
        let spec = packages
            .sample(&mut rng)
            .expect("space")
            .build()
            .expect("package");
        let graph = dags.sample(&mut rng).expect("space").build().expect("dag");
        let placement = if i % 4 == 0 {
            Placement::contiguous_balanced(&spec, &graph)
        } else {
            random_placement(&graph, spec.n_chiplets(), &mut rng)
        };
        let options = SimOptions {
            microbatches: [1, 2, 3, 8][rng.gen_range(0..4)],
            steady_state: SteadyState::Fixed,
            packet_bytes: [7, 64, 4096][rng.gen_range(0..3)],
            switching: if rng.gen_bool(0.5) {
                Switching::CutThrough
            } else {
                Switching::StoreAndForward
            },
            trace: rng.gen_bool(0.5),
        };
        let label = format!(
            "random {i:2} ({} ops, {} chiplets, {} links, mb {}, packet {}, {:?}, trace {})",
            graph.ops().len(),
            spec.n_chiplets(),
            spec.links.len(),
            options.microbatches,
            options.packet_bytes,
            options.switching,
            options.trace
        );
        writeln!(out, "{}", case(&label, &spec, &graph, &placement, &options)).unwrap();
    }
    let shipped: &[ShippedCase] = &[
        ("edgetpu_ring16", "bert-base", &[("seq", "128")]),
        (
            "edgetpu_ring4",
            "bert-base",
            &[("seq", "64"), ("layers", "2")],
        ),
        ("simba_6x6", "resnet50", &[]),
        ("mesh_4x4", "vit-b16", &[]),
        ("hetero_2type", "mobilenet-v2", &[]),
        ("dram_weight_streaming", "bert-base", &[("seq", "64")]),
        ("ucie_2p5d", "resnet18", &[]),
    ];
    for (k, (spec_name, model, params)) in shipped.iter().enumerate() {
        let path = root().join("hw_specs").join(format!("{spec_name}.toml"));
        let text = std::fs::read_to_string(&path).expect("shipped spec");
        let spec = HwSpec::from_toml_str(&text, spec_name).expect("spec");
        let params: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let graph = zoo::build(model, &params).expect("zoo");
        let placements = [
            ("contiguous", Placement::contiguous_balanced(&spec, &graph)),
            (
                "random",
                random_placement(&graph, spec.n_chiplets(), &mut rng),
            ),
        ];
        for (name, placement) in placements {
            for switching in [Switching::StoreAndForward, Switching::CutThrough] {
                // Random placements at a fixed count (converging them can
                // take hundreds of micro-batches); the balanced ones converge.
                let options = SimOptions {
                    microbatches: [4, 8][k % 2],
                    steady_state: if name == "random" {
                        SteadyState::Fixed
                    } else {
                        SteadyState::DEFAULT
                    },
                    switching,
                    trace: true,
                    ..SimOptions::default()
                };
                let label = format!("{model} on {spec_name}, {name}, {switching:?}");
                writeln!(out, "{}", case(&label, &spec, &graph, &placement, &options)).unwrap();
            }
        }
    }
    // Buffered routers: two shipped packages given BookSim-like routers, a
    // small model, balanced and random placements, a fixed count with trace.
    for (spec_name, flit, vcs, depth) in [("edgetpu_ring4", 16, 2, 4), ("mesh_4x4", 32, 4, 8)] {
        let spec = shipped_with_buffers(spec_name, flit, vcs, depth);
        let graph = zoo::build(
            "bert-base",
            &[("seq", "32"), ("layers", "1")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .expect("zoo");
        let placements = [
            ("contiguous", Placement::contiguous_balanced(&spec, &graph)),
            (
                "random",
                random_placement(&graph, spec.n_chiplets(), &mut rng),
            ),
        ];
        for (name, placement) in placements {
            let options = SimOptions {
                microbatches: 4,
                steady_state: SteadyState::Fixed,
                packet_bytes: 256,
                trace: true,
                ..SimOptions::default()
            };
            let label = format!(
                "bert-base 1 layer on buffered {spec_name} ({vcs}x{depth} of {flit} B), {name}"
            );
            writeln!(out, "{}", case(&label, &spec, &graph, &placement, &options)).unwrap();
        }
    }
    out
}

/// One traffic run's corpus line: the key numbers and a digest of the
/// report and every packet's record, or the error.
fn traffic_line(head: &str, spec: &HwSpec, opts: &TrafficOptions) -> String {
    match run_traffic_detailed(spec, opts) {
        Ok(o) => {
            let r = serde_json::to_string(&o.report).unwrap();
            let p = serde_json::to_string(&o.packets).unwrap();
            let d = fnv1a(p.as_bytes(), fnv1a(r.as_bytes(), 0xcbf2_9ce4_8422_2325));
            format!(
                "{head}: {d:016x} sat {} lat {}",
                o.report.saturated, o.report.avg_latency_cycles
            )
        }
        Err(e) => format!("{head}: error {e}"),
    }
}

/// Traffic on shipped packages; the line format is that of the check that
/// compared the shared fabric with the traffic module's own link code.
fn fabric_corpus() -> String {
    let mut out = String::new();
    for name in ["mesh_4x4", "edgetpu_ring8"] {
        let path = root().join("hw_specs").join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).expect("shipped spec");
        let spec = HwSpec::from_toml_str(&text, name).expect("spec");
        let patterns = [
            Pattern::UniformRandom,
            Pattern::Transpose,
            Pattern::Hotspot {
                chiplet: ChipletId(1),
                fraction: 0.3,
            },
        ];
        for pattern in patterns {
            for switching in [Switching::StoreAndForward, Switching::CutThrough] {
                for (rate, packet) in [(0.002, 4096u64), (0.05, 64)] {
                    let opts = TrafficOptions {
                        pattern: pattern.clone(),
                        injection_rate: rate,
                        packet_bytes: packet,
                        warmup_cycles: 2_000,
                        measure_cycles: 20_000,
                        drain_cycles_max: 200_000,
                        switching,
                        seed: 5,
                        include_source: false,
                    };
                    let head = format!("{name} {} {switching:?} {rate} {packet}", pattern.name());
                    writeln!(out, "{}", traffic_line(&head, &spec, &opts)).unwrap();
                }
            }
        }
        let n = spec.n_chiplets() as u32;
        let injections: Vec<Injection> = (0..500u64)
            .map(|k| {
                let k32 = k as u32;
                Injection {
                    cycle: (k * 7) % 300,
                    src: ChipletId((k32 * 5) % n),
                    dst: ChipletId((k32 * 5 + 1 + (k32 % (n - 1))) % n),
                }
            })
            .filter(|i| i.src != i.dst)
            .collect();
        for switching in [Switching::StoreAndForward, Switching::CutThrough] {
            let records = replay(&spec, switching, 100, &injections).expect("replay");
            let d = fnv1a(
                serde_json::to_string(&records).unwrap().as_bytes(),
                0xcbf2_9ce4_8422_2325,
            );
            writeln!(out, "{name} replay {switching:?}: {d:016x}").unwrap();
        }
    }
    // Buffered routers (BookSim's mirrors): uniform with and without the
    // source, and hotspot, light and past saturation.
    for name in ["mesh4x4_vc4x8", "ring8_vc8x16"] {
        let path = root().join(format!("tools/booksim/tessera/{name}.toml"));
        let text = std::fs::read_to_string(&path).expect("mirror spec");
        let spec = HwSpec::from_toml_str(&text, name).expect("spec");
        let cases = [
            (Pattern::UniformRandom, false),
            (Pattern::UniformRandom, true),
            (
                Pattern::Hotspot {
                    chiplet: ChipletId(1),
                    fraction: 0.3,
                },
                false,
            ),
        ];
        for (pattern, include_source) in cases {
            for (rate, packet) in [(0.05, 16u64), (0.3, 64)] {
                let opts = TrafficOptions {
                    pattern: pattern.clone(),
                    injection_rate: rate,
                    packet_bytes: packet,
                    warmup_cycles: 1_000,
                    measure_cycles: 5_000,
                    drain_cycles_max: 20_000,
                    switching: Switching::CutThrough,
                    seed: 5,
                    include_source,
                };
                let head = format!(
                    "{name} {} source {include_source} {rate} {packet}",
                    pattern.name()
                );
                writeln!(out, "{}", traffic_line(&head, &spec, &opts)).unwrap();
            }
        }
    }
    out
}

/// Compares `got` with the snapshot `file` (or rewrites it).
fn check_snapshot(file: &str, got: &str) {
    let snap = root().join("tests/snapshots").join(file);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snap, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&snap)
        .unwrap_or_else(|_| panic!("no {}; run with UPDATE_SNAPSHOTS=1", snap.display()));
    let diff: Vec<String> = want
        .lines()
        .zip(got.lines())
        .filter(|(w, g)| w != g)
        .map(|(w, g)| format!("- {w}\n+ {g}"))
        .collect();
    assert!(
        diff.is_empty() && want.lines().count() == got.lines().count(),
        "{file} changed ({} lines differ):\n{}",
        diff.len(),
        diff.join("\n")
    );
}

#[test]
fn the_fabric_corpus_matches_its_snapshot() {
    check_snapshot("fabric_corpus.txt", &fabric_corpus());
}

#[test]
fn the_engine_corpus_matches_its_snapshot() {
    check_snapshot("engine_corpus.txt", &corpus());
}
