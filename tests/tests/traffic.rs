//! Synthetic traffic through its public interface: exact zero-load latency,
//! agreement with the analytic oracle, throughput below and beyond
//! saturation, determinism, the patterns, and the `tessera traffic` command.

use std::path::Path;

use sim::oracle::transfer_cycles;
use sim::spec::{ChipletId, HwSpec, LinkId};
use sim::traffic::{
    Injection, PacketRecord, Pattern, TrafficError, TrafficOptions, TrafficReport, replay,
    run_traffic, run_traffic_detailed,
};
use sim::{SimOptions, Switching};
use tessera_cli::cli::run_args;

const MESH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../hw_specs/mesh_4x4.toml");
const RING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../hw_specs/edgetpu_ring8.toml"
);

fn spec(path: &str) -> HwSpec {
    let text = std::fs::read_to_string(Path::new(path)).unwrap();
    HwSpec::from_toml_str(&text, path).unwrap()
}

/// Small packets and short windows keep each run to milliseconds: on
/// mesh_4x4 a 64-byte packet serialises in ceil(64 / 14) = 5 cycles a hop.
fn opts(pattern: Pattern, rate: f64) -> TrafficOptions {
    TrafficOptions {
        pattern,
        injection_rate: rate,
        packet_bytes: 64,
        warmup_cycles: 2_000,
        measure_cycles: 10_000,
        drain_cycles_max: 20_000,
        switching: Switching::StoreAndForward,
        seed: 7,
        include_source: false,
    }
}

/// Σ over the route of (ceil(bytes / bandwidth) + latency): one packet alone.
fn per_hop_sum(spec: &HwSpec, src: ChipletId, dst: ChipletId, bytes: u64) -> u64 {
    spec.routes
        .path(src, dst)
        .iter()
        .map(|&l| {
            let link = spec.link(l);
            bytes.div_ceil(link.bandwidth_bytes_per_cycle) + link.latency_cycles
        })
        .sum()
}

/// Whether any two packets would share a link at overlapping times if each
/// moved as on an empty network; if none would, none ever waits.
fn could_contend(spec: &HwSpec, packets: &[PacketRecord], bytes: u64) -> bool {
    let mut busy: Vec<(LinkId, u64, u64)> = Vec::new();
    for p in packets {
        let mut t = p.created_cycle;
        for &l in spec.routes.path(p.src, p.dst) {
            let link = spec.link(l);
            let end = t + bytes.div_ceil(link.bandwidth_bytes_per_cycle);
            busy.push((l, t, end));
            t = end + link.latency_cycles;
        }
    }
    busy.sort_unstable();
    busy.windows(2).any(|w| w[0].0 == w[1].0 && w[1].1 < w[0].2)
}

fn assert_light_load_is_exact(path: &str, rate: f64, measure_cycles: u64) {
    let hw = spec(path);
    let mut o = opts(Pattern::UniformRandom, rate);
    o.measure_cycles = measure_cycles;
    let out = run_traffic_detailed(&hw, &o).unwrap();
    let r = &out.report;
    assert!(r.measured_packets >= 20, "too few packets: {r:?}");
    assert!(
        !could_contend(&hw, &out.packets, o.packet_bytes),
        "two packets could meet at {rate}; lower the rate for this test"
    );
    assert_eq!(r.measured_delivered, r.measured_packets);
    assert!(!r.saturated);
    let mut sum = 0;
    let mut hops = 0;
    for p in out.packets.iter().filter(|p| p.measured) {
        let expected = per_hop_sum(&hw, p.src, p.dst, o.packet_bytes);
        assert_eq!(p.latency_cycles(), Some(expected), "{p:?}");
        sum += expected;
        hops += hw.routes.path(p.src, p.dst).len() as u64;
    }
    let n = r.measured_packets as f64;
    assert_eq!(r.avg_latency_cycles, sum as f64 / n);
    assert_eq!(r.avg_hops, hops as f64 / n);
}

#[test]
fn light_load_latency_is_exactly_the_sum_of_per_hop_costs_on_a_mesh() {
    assert_light_load_is_exact(MESH, 0.0001, 40_000);
}

#[test]
fn light_load_latency_is_exactly_the_sum_of_per_hop_costs_on_a_ring() {
    // A unidirectional ring of 8: routes of 1 to 7 hops of 16 + 48 cycles.
    assert_light_load_is_exact(RING, 0.00003, 100_000);
}

#[test]
fn one_packet_across_the_mesh_takes_six_hops_of_serialisation_and_latency() {
    let hw = spec(MESH);
    let inj = Injection {
        cycle: 100,
        src: ChipletId(0),
        dst: ChipletId(15),
    };
    let r = replay(&hw, Switching::StoreAndForward, 4096, &[inj]).unwrap();
    // XY from (0, 0) to (3, 3): six hops of ceil(4096 / 14) = 293 + 36 cycles.
    assert_eq!(r[0].hops, 6);
    assert_eq!(r[0].delivered_cycle, Some(100 + 6 * (293 + 36)));
    assert_eq!(r[0].zero_load_cycles, 1974);
}

#[test]
fn a_tensor_of_packets_arrives_when_the_oracle_says() {
    // A tensor split into packets injected together is a tandem of FIFO
    // servers: its last packet must arrive exactly when the analytic
    // oracle (which the workload simulator matches without contention) says.
    let hw = spec(MESH);
    let (src, dst) = (ChipletId(1), ChipletId(14));
    for switching in [Switching::StoreAndForward, Switching::CutThrough] {
        for (packets, packet_bytes) in [(1, 4096), (5, 4096), (12, 256)] {
            let injections = vec![Injection { cycle: 0, src, dst }; packets];
            let r = replay(&hw, switching, packet_bytes, &injections).unwrap();
            let last = r.iter().map(|p| p.delivered_cycle.unwrap()).max().unwrap();
            let options = SimOptions {
                packet_bytes,
                switching,
                ..SimOptions::default()
            };
            let expected = transfer_cycles(
                &hw,
                hw.routes.path(src, dst),
                packets as u64 * packet_bytes,
                &options,
            );
            assert_eq!(last, expected, "{switching:?} {packets} × {packet_bytes} B");
        }
    }
}

#[test]
fn accepted_throughput_tracks_offered_load_below_saturation() {
    // Under XY, the busiest mesh_4x4 links carry 16/15 of a chiplet's rate:
    // saturation at 15 / (16 × 5) ≈ 0.19 packets per chiplet per cycle.
    let hw = spec(MESH);
    for rate in [0.02, 0.05, 0.1] {
        let r = run_traffic(&hw, &opts(Pattern::UniformRandom, rate)).unwrap();
        assert!(!r.saturated, "{rate}: {r:?}");
        assert_eq!(r.offered_rate, rate);
        let ratio = r.accepted_throughput / r.offered_rate;
        assert!(
            (0.95..1.05).contains(&ratio),
            "{rate}: accepted {ratio} of offered"
        );
        assert!(r.avg_latency_cycles >= r.zero_load_latency_cycles * 0.95);
        assert!(r.avg_latency_cycles < r.zero_load_latency_cycles * 1.5);
        assert_eq!(r.measured_delivered, r.measured_packets);
    }
}

#[test]
fn beyond_saturation_throughput_levels_off_latency_soars_and_the_run_stops() {
    let hw = spec(MESH);
    let light = run_traffic(&hw, &opts(Pattern::UniformRandom, 0.05)).unwrap();
    let over = run_traffic(&hw, &opts(Pattern::UniformRandom, 0.3)).unwrap();
    let far_over = run_traffic(&hw, &opts(Pattern::UniformRandom, 0.6)).unwrap();
    for r in [&over, &far_over] {
        assert!(r.saturated, "{r:?}");
        assert!(r.accepted_throughput < 0.75 * r.offered_rate, "{r:?}");
        assert!(r.avg_latency_cycles > 10.0 * light.avg_latency_cycles);
        assert!(r.in_flight_at_window_end > r.in_flight_at_window_start);
        // The run ended by itself, at the latest at the drain limit.
        assert!(r.end_cycle <= 2_000 + 10_000 + 20_000);
    }
    // Doubling an excessive load barely moves what the network carries: only
    // flows that cross no saturated link still grow (queues are unbounded and
    // exert no back-pressure).
    assert!(
        far_over.accepted_throughput < 1.15 * over.accepted_throughput,
        "{} vs {}",
        far_over.accepted_throughput,
        over.accepted_throughput
    );
    assert!(far_over.avg_latency_cycles > over.avg_latency_cycles);
}

#[test]
fn a_drain_limit_that_is_too_short_declares_saturation() {
    let hw = spec(MESH);
    let mut o = opts(Pattern::UniformRandom, 0.6);
    o.drain_cycles_max = 500;
    let r = run_traffic(&hw, &o).unwrap();
    assert!(r.saturated);
    assert!(r.measured_delivered < r.measured_packets);
    assert_eq!(r.end_cycle, 12_500);
}

#[test]
fn the_same_seed_gives_the_same_report_and_another_seed_another() {
    let hw = spec(MESH);
    let json = |r: &TrafficReport| serde_json::to_string(r).unwrap();
    let a = run_traffic(&hw, &opts(Pattern::UniformRandom, 0.1)).unwrap();
    let b = run_traffic(&hw, &opts(Pattern::UniformRandom, 0.1)).unwrap();
    assert_eq!(json(&a), json(&b));
    let mut o = opts(Pattern::UniformRandom, 0.1);
    o.seed = 8;
    let c = run_traffic(&hw, &o).unwrap();
    assert_ne!(json(&a), json(&c));
    assert_ne!(a.packets_injected, c.packets_injected);
}

#[test]
fn transpose_sends_each_off_diagonal_chiplet_to_its_mirror() {
    let hw = spec(MESH);
    let out = run_traffic_detailed(&hw, &opts(Pattern::Transpose, 0.05)).unwrap();
    let r = &out.report;
    // 16 chiplets, 4 on the diagonal.
    assert_eq!(r.sending_chiplets, 12);
    assert_eq!(r.offered_rate, 0.05 * 12.0 / 16.0);
    assert!(!r.saturated);
    for p in &out.packets {
        let [row, col] = hw.chiplets[p.src.idx()].position.unwrap();
        assert_eq!(hw.chiplets[p.dst.idx()].position, Some([col, row]), "{p:?}");
    }
    // (r, c) → (c, r) on a mesh is 2 |r − c| hops; its zero-load latency is
    // the mean of the 12 senders' routes.
    let zl: u64 = (0..16)
        .filter(|&i| i / 4 != i % 4)
        .map(|i| per_hop_sum(&hw, ChipletId(i), ChipletId((i % 4) * 4 + i / 4), 64))
        .sum();
    assert_eq!(r.zero_load_latency_cycles, zl as f64 / 12.0);
    let ratio = r.accepted_throughput / r.offered_rate;
    assert!((0.95..1.05).contains(&ratio), "{ratio}");
}

#[test]
fn transpose_without_positions_is_refused() {
    let e = run_traffic(&spec(RING), &opts(Pattern::Transpose, 0.01)).unwrap_err();
    assert!(
        matches!(&e, TrafficError::TransposeUnplaced { chiplets, .. } if chiplets.len() == 8),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with("transpose needs positions"),
        "{e}"
    );
}

#[test]
fn hotspot_traffic_concentrates_on_the_links_into_the_hotspot() {
    let hw = spec(MESH);
    let hot = 5;
    let pattern = Pattern::Hotspot {
        chiplet: ChipletId(hot),
        fraction: 0.5,
    };
    let r = run_traffic(&hw, &opts(pattern, 0.02)).unwrap();
    assert!(!r.saturated, "{r:?}");
    let (into, rest): (Vec<_>, Vec<_>) = r.links.iter().partition(|l| l.to == hot);
    let busiest = r
        .links
        .iter()
        .max_by(|a, b| a.utilisation.total_cmp(&b.utilisation))
        .unwrap();
    assert_eq!(busiest.to, hot, "{busiest:?}");
    let mean = |ls: &[&sim::traffic::LinkLoad]| {
        ls.iter().map(|l| l.utilisation).sum::<f64>() / ls.len() as f64
    };
    assert!(
        mean(&into) > 3.0 * mean(&rest),
        "{} vs {}",
        mean(&into),
        mean(&rest)
    );
    // Every packet to the hotspot crosses one link into it (others pass
    // through): half of the 15 other chiplets' packets, 15/32 of all.
    let into_packets: u64 = into.iter().map(|l| l.packets).sum();
    let share = into_packets as f64 / r.packets_injected as f64;
    assert!(share > 0.9 * 15.0 / 32.0, "{share}");
}

fn tessera(args: &[&str]) -> tessera_cli::cli::Outcome {
    let mut full = vec!["tessera", "traffic"];
    full.extend_from_slice(args);
    let o = run_args(full);
    assert!(!o.stderr.contains("panicked"), "{args:?}: {}", o.stderr);
    o
}

const SHORT: &[&str] = &[
    "--packet-bytes",
    "64",
    "--warmup",
    "500",
    "--cycles",
    "3000",
];

#[test]
fn the_traffic_command_prints_latency_and_throughput() {
    let mut args = vec!["--hw", MESH, "--pattern", "uniform", "--rate", "0.05"];
    args.extend_from_slice(SHORT);
    let o = tessera(&args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for needle in [
        "offered",
        "accepted throughput",
        "avg latency",
        "zero-load latency",
        "saturated",
        "busiest links",
    ] {
        assert!(o.stdout.contains(needle), "{needle} missing:\n{}", o.stdout);
    }
    args.push("--json");
    let o = tessera(&args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(v["accepted_throughput"].as_f64().unwrap() > 0.04);
    assert_eq!(v["options"]["pattern"], "uniform_random");

    let mut hot = vec![
        "--hw",
        MESH,
        "--pattern",
        "hotspot",
        "--hotspot-chiplet",
        "3",
        "--hotspot-fraction",
        "0.3",
        "--rate",
        "0.02",
        "--cut-through",
        "--seed",
        "3",
    ];
    hot.extend_from_slice(SHORT);
    let o = tessera(&hot);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("hotspot (30% to chiplet 3)"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("cut-through"), "{}", o.stdout);
}

#[test]
fn the_traffic_command_refuses_bad_arguments_with_exit_code_2() {
    for rate in ["0", "2", "x", "-0.5", "NaN"] {
        let o = tessera(&["--hw", MESH, "--pattern", "uniform", "--rate", rate]);
        assert_eq!(o.code, 2, "rate {rate}: {}", o.stderr);
        assert!(o.stderr.contains("rate"), "{}", o.stderr);
    }
    let cases: &[(&[&str], &str)] = &[
        (
            &["--pattern", "hotspot", "--rate", "0.01"],
            "--hotspot-chiplet",
        ),
        (
            &[
                "--pattern",
                "uniform",
                "--rate",
                "0.01",
                "--hotspot-chiplet",
                "2",
            ],
            "only to --pattern hotspot",
        ),
        (
            &[
                "--pattern",
                "hotspot",
                "--hotspot-chiplet",
                "16",
                "--hotspot-fraction",
                "0.5",
                "--rate",
                "0.01",
            ],
            "does not exist",
        ),
        (&["--pattern", "zigzag", "--rate", "0.01"], "zigzag"),
        (
            &[
                "--pattern",
                "uniform",
                "--rate",
                "0.01",
                "--packet-bytes",
                "0",
            ],
            "packet_bytes",
        ),
        (
            &[
                "--pattern",
                "uniform",
                "--rate",
                "1",
                "--cycles",
                "100000000",
            ],
            "limit",
        ),
    ];
    for (args, needle) in cases {
        let mut full = vec!["--hw", MESH];
        full.extend_from_slice(args);
        let o = tessera(&full);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(needle), "{args:?}: {}", o.stderr);
    }
    let o = tessera(&["--hw", RING, "--pattern", "transpose", "--rate", "0.01"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("transpose needs positions"),
        "{}",
        o.stderr
    );
    let o = tessera(&[
        "--hw",
        "no/such/spec.toml",
        "--pattern",
        "uniform",
        "--rate",
        "0.01",
    ]);
    assert_eq!(o.code, 2);
}

/// With the source included, uniform traffic sends about 1/n of its packets
/// to the source itself: they cross no link and take the zero-load time of
/// an empty route (injection, one router, ejection).
#[test]
fn uniform_traffic_may_include_the_source() {
    let hw = spec(MESH);
    let mut o = opts(Pattern::UniformRandom, 0.02);
    o.include_source = true;
    let out = run_traffic_detailed(&hw, &o).unwrap();
    let own: Vec<_> = out.packets.iter().filter(|p| p.src == p.dst).collect();
    let share = own.len() as f64 / out.packets.len() as f64;
    assert!((share - 1.0 / 16.0).abs() < 0.02, "{share}");
    for p in &own {
        assert_eq!(p.hops, 0);
        assert_eq!(p.latency_cycles(), Some(p.zero_load_cycles));
    }
    o.include_source = false;
    let out = run_traffic_detailed(&hw, &o).unwrap();
    assert!(out.packets.iter().all(|p| p.src != p.dst));
}
