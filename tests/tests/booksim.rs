//! tessera's interconnect against BookSim2's committed reference numbers
//! (`tests/data/booksim/`, produced by `tools/booksim/run.py`; see
//! docs/booksim.md). Each BookSim network is mirrored as a tessera spec: one
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

fn spec(name: &str, n: u32, generator: &str, latency: u64, routing: &str) -> HwSpec {
    let text = format!(
        r#"name = "{name}"
source = ["tests/tests/booksim.rs: a BookSim2 network mirrored"]
notes = "one flit = 16 bytes"
clock_mhz = 1000
pipeline_order = "ascending"

[chiplet_types.node]
macs_per_cycle = 16
array_rows = 4
array_cols = 4
vector_elems_per_cycle = 4
sram_kib = 1024
sram_bandwidth_bytes_per_cycle = 64
op_overhead_cycles = 0
energy_per_mac_pj = 1.0
energy_per_sram_byte_pj = 1.0

[[chiplets]]
id_range = [0, {last}]
type = "node"

[[topology]]
{generator}
bandwidth_bytes_per_cycle = 16
latency_cycles = {latency}
energy_per_bit_pj = 1.0

[routing]
kind = "{routing}"

[interconnect]
router_delay_cycles = 3
injection_latency_cycles = 6
ejection_latency_cycles = 1

[constraints]
acyclic_dataflow = false
no_skipping = "off"
no_triangle = false
sram_capacity = false
"#,
        last = n - 1
    );
    HwSpec::from_toml_str(&text, name).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn zero_load_latency_is_within_ten_percent_of_booksim() {
    let networks = [
        (
            "mesh4x4",
            "mesh",
            spec(
                "mesh4x4",
                16,
                "kind = \"mesh\"\nrows = 4\ncols = 4",
                1,
                "xy",
            ),
        ),
        (
            "mesh6x6",
            "mesh",
            spec(
                "mesh6x6",
                36,
                "kind = \"mesh\"\nrows = 6\ncols = 6",
                1,
                "xy",
            ),
        ),
        (
            "ring8",
            "torus",
            spec(
                "ring8",
                8,
                "kind = \"ring\"\nbidirectional = true",
                2,
                "shortest_path",
            ),
        ),
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
