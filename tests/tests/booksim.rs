//! tessera's interconnect against BookSim2's committed reference numbers
//! (`tests/data/booksim/`, produced by `tools/booksim/run.py`; see
//! docs/booksim.md). Each BookSim network is mirrored as a tessera spec in
//! `tools/booksim/tessera/`: one
//! flit is 16 bytes, links carry 16 bytes per cycle with BookSim's channel
//! latency (1 on meshes, 2 on the ring), and `[interconnect]` holds the router
//! pipeline (3 cycles besides the channel, so a hop costs BookSim's 5 or 6)
//! and the endpoints (6 cycles from creation to the first link: one cycle
//! before injection, the source router's 4 stages and the injection channel;
//! 1 for the ejection channel). One-flit packets are store-and-forward;
//! four-flit packets cut through, as BookSim's wormhole routers do.
//!
//! Zero-load latency is compared with BookSim's fit `a + b·H` evaluated at
//! tessera's mean hop count (tessera's uniform traffic excludes the source;
//! BookSim's includes it, and its fit is over hops with the source counted as
//! zero). Target: within 10 %. Saturation is not compared here: tessera's
//! links are ideal queues without finite buffers, credits or allocation, and
//! reach 93 % or more of the link-load limit where BookSim's routers reach
//! 71–85 % (docs/booksim.md has the table).

use sim::Switching;
use sim::spec::HwSpec;
use sim::traffic::{Pattern, TrafficOptions, run_traffic};
use tessera_tests::root;

/// (a, b) of BookSim's fit `latency = a + b·hops` for a topology and packet size.
fn fit(topology: &str, flits: u32) -> (f64, f64) {
    let text = std::fs::read_to_string(root().join("tests/data/booksim/fit.csv")).unwrap();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split(',').collect();
        if f[0] == topology
            && f[1] == flits.to_string()
            && f[3] == "avg_hops_incl_src"
            && f[4] == "avg_packet_latency"
        {
            return (f[5].parse().unwrap(), f[6].parse().unwrap());
        }
    }
    panic!("no fit for {topology} with {flits}-flit packets");
}

/// The mirrored network `tools/booksim/tessera/{name}.toml` (the specs
/// `tools/booksim/compare.py` runs too).
fn spec(name: &str) -> HwSpec {
    let path = root().join(format!("tools/booksim/tessera/{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    HwSpec::from_toml_str(&text, &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn zero_load_latency_is_within_ten_percent_of_booksim() {
    let networks = [
        ("mesh4x4", "mesh", spec("mesh4x4")),
        ("mesh6x6", "mesh", spec("mesh6x6")),
        ("ring8", "torus", spec("ring8")),
    ];
    let mut rows = Vec::new();
    for (name, topology, spec) in &networks {
        for (flits, switching) in [
            (1u32, Switching::StoreAndForward),
            (4, Switching::CutThrough),
        ] {
            let opts = TrafficOptions {
                pattern: Pattern::UniformRandom,
                injection_rate: 0.005 / f64::from(flits),
                packet_bytes: 16 * u64::from(flits),
                warmup_cycles: 2_000,
                measure_cycles: 40_000,
                drain_cycles_max: 100_000,
                switching,
                seed: 3,
            };
            let r = run_traffic(spec, &opts).unwrap();
            let (a, b) = fit(topology, flits);
            let booksim = a + b * r.avg_hops;
            let measured = r.avg_latency_cycles;
            let err = (measured - booksim) / booksim;
            rows.push(format!(
                "{name} {flits}-flit: tessera {measured:.2} (zero-load {:.2}), BookSim {booksim:.2} at {:.3} hops: {:+.1} %",
                r.zero_load_latency_cycles,
                r.avg_hops,
                err * 100.0
            ));
            assert!(!r.saturated, "{name}: saturated at light load");
        }
    }
    let report = rows.join("\n");
    for row in &rows {
        let pct: f64 = row
            .rsplit(": ")
            .next()
            .unwrap()
            .trim_end_matches(" %")
            .parse()
            .unwrap();
        assert!(pct.abs() <= 10.0, "beyond 10 %:\n{report}");
    }
    println!("{report}");
}
