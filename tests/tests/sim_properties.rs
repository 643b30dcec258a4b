//! Properties of the simulator over random graphs, random packages and random
//! placements. Each asserted property says why it must hold; properties that
//! can legitimately fail (a faster link can make a list schedule slower) are
//! not asserted.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sim::graph::{DType, EltFunc, Graph, Source};
use sim::graph::{GraphBuilder, Tensor};
use sim::oracle::{analyse, transfer_cycles};
use sim::report::Track;
use sim::spec::{ChipletId, HwSpec};
use sim::{Placement, SimOptions, SimOutput, Switching, simulate};

/// A chiplet type and link numbers for generated specs.
#[derive(Clone, Debug)]
struct Numbers {
    array: u64,
    vector: u64,
    sram_kib: u64,
    sram_bw: u64,
    overhead: u64,
    link_bw: u64,
    latency: u64,
}

fn numbers() -> impl Strategy<Value = Numbers> {
    (
        prop::sample::select(vec![4u64, 8, 16, 32]),
        prop::sample::select(vec![1u64, 2, 4, 16]),
        prop::sample::select(vec![4u64, 64, 4096]),
        prop::sample::select(vec![1u64, 8, 64]),
        0u64..20,
        prop::sample::select(vec![1u64, 4, 32]),
        0u64..10,
    )
        .prop_map(
            |(array, vector, sram_kib, sram_bw, overhead, link_bw, latency)| Numbers {
                array,
                vector,
                sram_kib,
                sram_bw,
                overhead,
                link_bw,
                latency,
            },
        )
}

#[derive(Clone, Debug)]
enum Topology {
    Ring {
        n: u32,
        bidirectional: bool,
    },
    Mesh {
        rows: u32,
        cols: u32,
    },
    /// A unidirectional ring plus extra random links.
    Random {
        n: u32,
        extra: Vec<(u32, u32)>,
    },
}

fn topology() -> impl Strategy<Value = Topology> {
    prop_oneof![
        (3u32..7, any::<bool>()).prop_map(|(n, bidirectional)| Topology::Ring { n, bidirectional }),
        (1u32..4, 2u32..4).prop_map(|(rows, cols)| Topology::Mesh { rows, cols }),
        (3u32..7, prop::collection::vec((0u32..7, 0u32..7), 0..6))
            .prop_map(|(n, extra)| Topology::Random { n, extra }),
    ]
}

fn spec_toml(t: &Topology, x: &Numbers) -> String {
    let n = match t {
        Topology::Ring { n, .. } | Topology::Random { n, .. } => *n,
        Topology::Mesh { rows, cols } => rows * cols,
    };
    let mut s = format!(
        "name = \"generated\"\nsource = [\"property test\"]\nnotes = \"generated\"\nclock_mhz = 1000\npipeline_order = \"ascending\"\n\
         [chiplet_types.t]\nmacs_per_cycle = {}\narray_rows = {a}\narray_cols = {a}\nvector_elems_per_cycle = {}\nsram_kib = {}\n\
         sram_bandwidth_bytes_per_cycle = {}\nop_overhead_cycles = {}\nenergy_per_mac_pj = 0.5\nenergy_per_sram_byte_pj = 0.25\n\
         [[chiplets]]\nid_range = [0, {}]\ntype = \"t\"\n",
        x.array * x.array,
        x.vector,
        x.sram_kib,
        x.sram_bw,
        x.overhead,
        n - 1,
        a = x.array,
    );
    let link = format!(
        "bandwidth_bytes_per_cycle = {}\nlatency_cycles = {}\nenergy_per_bit_pj = 1.5\n",
        x.link_bw, x.latency
    );
    match t {
        Topology::Ring { bidirectional, .. } => {
            s += &format!("[[topology]]\nkind = \"ring\"\nbidirectional = {bidirectional}\n{link}");
            s += "[routing]\nkind = \"shortest_path\"\n";
        }
        Topology::Mesh { rows, cols } => {
            s += &format!("[[topology]]\nkind = \"mesh\"\nrows = {rows}\ncols = {cols}\n{link}");
            s += "[routing]\nkind = \"xy\"\n";
        }
        Topology::Random { n, extra } => {
            s += &format!("[[topology]]\nkind = \"ring\"\nbidirectional = false\n{link}");
            let mut seen = std::collections::BTreeSet::new();
            for &(a, b) in extra {
                let (a, b) = (a % n, b % n);
                if a == b || b == (a + 1) % n || !seen.insert((a, b)) {
                    continue;
                }
                s += &format!("[[links]]\nfrom = {a}\nto = {b}\n{link}");
            }
            s += "[routing]\nkind = \"shortest_path\"\n";
        }
    }
    s += "[constraints]\nacyclic_dataflow = true\nno_skipping = \"off\"\nno_triangle = false\nsram_capacity = true\n";
    s
}

/// One step of a random graph.
#[derive(Clone, Debug)]
enum Step {
    Linear(usize, u64),
    Add(usize, usize),
    Unary(usize, u8),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            (any::<usize>(), prop::sample::select(vec![16u64, 32, 64]))
                .prop_map(|(a, n)| Step::Linear(a, n)),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Step::Add(a, b)),
            (any::<usize>(), 0u8..3).prop_map(|(a, k)| Step::Unary(a, k)),
        ],
        1..24,
    )
}

/// A random DAG of linears, adds, activations, norms and softmaxes over
/// `[1, rows, width]` tensors.
fn graph(rows: u64, steps: &[Step], gemms: bool) -> Graph {
    let mut g = GraphBuilder::new("random", "random", DType::Int8);
    let x = g.input("x", &[1, rows, 64]);
    let mut ts: Vec<Tensor> = vec![g.eltwise("in", EltFunc::Relu, &[&x], 0).unwrap()];
    for (i, st) in steps.iter().enumerate() {
        let name = format!("op{i}");
        let pick = |k: usize| ts[k % ts.len()].clone();
        let t = match st {
            Step::Linear(a, n) if gemms => g.linear(&name, &pick(*a), *n, true).unwrap(),
            Step::Linear(a, _) => g.layer_norm(&name, &pick(*a)).unwrap(),
            Step::Add(a, b) => {
                let (l, r) = (pick(*a), pick(*b));
                if l.shape == r.shape {
                    g.eltwise(&name, EltFunc::Add, &[&l, &r], 0).unwrap()
                } else {
                    g.eltwise(&name, EltFunc::Gelu, &[&l], 0).unwrap()
                }
            }
            Step::Unary(a, 0) => g.eltwise(&name, EltFunc::Relu, &[&pick(*a)], 0).unwrap(),
            Step::Unary(a, 1) => g.layer_norm(&name, &pick(*a)).unwrap(),
            Step::Unary(a, _) => g.softmax(&name, &pick(*a)).unwrap(),
        };
        ts.push(t);
    }
    g.finish().expect("valid")
}

fn placement(g: &Graph, n: u32, picks: &[u32]) -> Placement {
    Placement {
        chiplet_of_op: (0..g.ops().len())
            .map(|i| ChipletId(picks[i % picks.len()] % n))
            .collect(),
    }
}

fn options(mbs: u32, packet: u64, cut: bool) -> SimOptions {
    SimOptions {
        microbatches: mbs,
        packet_bytes: packet,
        switching: if cut {
            Switching::CutThrough
        } else {
            Switching::StoreAndForward
        },
        trace: true,
    }
}

fn run(spec: &HwSpec, g: &Graph, p: &Placement, o: &SimOptions) -> SimOutput {
    simulate(spec, g, p, o).expect("simulates")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Same input, same bytes: the simulator has no hidden state, hash order or
    /// clock, and ties are broken by stable ids and sequence numbers.
    #[test]
    fn same_input_gives_byte_identical_report_and_trace(
        t in topology(), x in numbers(), st in steps(), picks in prop::collection::vec(0u32..64, 1..8),
        mbs in 1u32..5, packet in prop::sample::select(vec![64u64, 256, 4096]), cut in any::<bool>(),
    ) {
        let spec = HwSpec::from_toml_str(&spec_toml(&t, &x), "gen.toml").unwrap();
        let g = graph(8, &st, true);
        let p = placement(&g, spec.n_chiplets() as u32, &picks);
        let o = options(mbs, packet, cut);
        let a = run(&spec, &g, &p, &o);
        let b = run(&spec, &g, &p, &o);
        prop_assert_eq!(serde_json::to_string(&a.report).unwrap(), serde_json::to_string(&b.report).unwrap());
        prop_assert_eq!(a.trace_json(spec.clock_mhz), b.trace_json(spec.clock_mhz));
    }

    /// Causality, conservation and bounds on one run.
    #[test]
    fn runs_are_causal_conserve_work_and_respect_bounds(
        t in topology(), x in numbers(), st in steps(), picks in prop::collection::vec(0u32..64, 1..8),
        mbs in 1u32..5, packet in prop::sample::select(vec![64u64, 256, 4096]), cut in any::<bool>(),
    ) {
        let spec = HwSpec::from_toml_str(&spec_toml(&t, &x), "gen.toml").unwrap();
        let g = graph(8, &st, true);
        let p = placement(&g, spec.n_chiplets() as u32, &picks);
        let o = options(mbs, packet, cut);
        let out = run(&spec, &g, &p, &o);
        let r = &out.report;
        let trace = out.trace.as_ref().unwrap();
        let a = analyse(&spec, &g, &p, &o);

        // Every op runs exactly once per micro-batch, on its chiplet.
        let mut runs: BTreeMap<(String, u32), (u64, u64, u32)> = BTreeMap::new();
        for s in trace {
            if let Track::Chiplet(c) = s.track {
                prop_assert!(runs.insert((s.name.clone(), s.microbatch), (s.start_cycle, s.end_cycle, c)).is_none());
            }
        }
        prop_assert_eq!(runs.len(), g.ops().len() * mbs as usize);
        for op in g.ops() {
            for mb in 0..mbs {
                let (start, end, chip) = runs[&(op.name.clone(), mb)];
                prop_assert_eq!(chip, p.chiplet_of_op[op.id.idx()].0);
                // An op never runs faster than the oracle's contention-free time.
                prop_assert!(end - start >= a.op_cycles[op.id.idx()]);
                // Causality: no op starts before each input could have arrived.
                // Contention only delays a FIFO link, so the contention-free
                // transfer time is a lower bound.
                for input in &op.inputs {
                    if let Source::Op(q) = input.source {
                        let (_, q_end, q_chip) = runs[&(g.op(q).name.clone(), mb)];
                        let path = spec.routes.path(ChipletId(q_chip), ChipletId(chip));
                        let min = transfer_cycles(&spec, path, g.op(q).output_bytes, &o);
                        prop_assert!(start >= q_end + min, "{} starts at {start} before input {} ({q_end} + {min})", op.name, g.op(q).name);
                    }
                }
            }
        }
        // Conservation: bytes put on links equal what the routes require.
        let mut expected_bytes = vec![0u64; spec.links.len()];
        for op in g.ops() {
            let src = p.chiplet_of_op[op.id.idx()];
            let mut dsts: Vec<ChipletId> = g.consumers(op.id).iter().map(|c| p.chiplet_of_op[c.idx()]).filter(|&d| d != src).collect();
            dsts.sort();
            dsts.dedup();
            for d in dsts {
                for l in spec.routes.path(src, d) {
                    expected_bytes[l.idx()] += op.output_bytes * mbs as u64;
                }
            }
        }
        let got: Vec<u64> = r.links.iter().map(|l| l.bytes).collect();
        prop_assert_eq!(got, expected_bytes);
        // Bounds: every resource's work fits inside the makespan; so does the
        // critical path (a lower bound that ignores chiplet contention).
        for c in &r.chiplets {
            prop_assert!(c.busy_cycles <= r.makespan_cycles);
            prop_assert!(c.utilisation <= 1.0);
        }
        for l in &r.links {
            prop_assert!(l.busy_cycles <= r.makespan_cycles);
            prop_assert!(l.utilisation <= 1.0);
        }
        prop_assert!(r.makespan_cycles >= a.critical_path_cycles);
        prop_assert!(r.first_inference_latency_cycles >= a.critical_path_cycles);
        prop_assert!(r.makespan_cycles >= mbs as u64 * a.bottleneck_cycles);
        prop_assert!(r.makespan_cycles >= r.first_inference_latency_cycles);
        // SRAM: the simulator overflows exactly where the SRAM constraint
        // fails (both plan one micro-batch's activations with
        // `activation_peaks`), never holds more micro-batches than its slots,
        // and a chiplet within capacity stays within it at its peak. Every op
        // ran once per micro-batch above, so slot waits never deadlock.
        let need = sim::constraints::sram_need(&spec, &g, &p.chiplet_of_op);
        for c in &r.chiplets {
            let overflow = r.violations.iter().any(|v| {
                matches!(v, sim::report::Violation::SramOverflow { chiplet, .. } if *chiplet == c.id)
            });
            prop_assert_eq!(overflow, need[c.id as usize] > c.sram_capacity_bytes, "chiplet {}", c.id);
            prop_assert!(c.sram_slots >= 1);
            prop_assert!(c.microbatches_in_flight_peak <= c.sram_slots.min(mbs));
            if !overflow {
                prop_assert!(c.sram_peak_bytes <= c.sram_capacity_bytes);
            }
        }
    }

    /// Scaling every duration by an integer k scales every event time by k:
    /// durations are integer sums and maxima of the scaled terms, max and +
    /// commute with multiplication by k > 0, and ties are preserved, so every
    /// decision is the same. Durations scale exactly when every division in
    /// the model is exact: vector-only graphs (the systolic formula has a
    /// "− 2" term), sizes divisible by every rate, overheads and latencies ×k.
    #[test]
    fn scaling_every_duration_scales_the_makespan(
        st in steps(), picks in prop::collection::vec(0u32..64, 1..8), mbs in 1u32..4,
        k in prop::sample::select(vec![2u64, 4]), rate in prop::sample::select(vec![1u64, 2, 4]),
        overhead in 0u64..5, latency in 0u64..5, n in 3u32..6, cut in any::<bool>(),
    ) {
        let base = |mult: u64, scale_fixed: u64| Numbers {
            array: 4, vector: rate * mult, sram_kib: 4096, sram_bw: rate * mult,
            overhead: overhead * scale_fixed, link_bw: rate * mult, latency: latency * scale_fixed,
        };
        let t = Topology::Ring { n, bidirectional: false };
        let fast = HwSpec::from_toml_str(&spec_toml(&t, &base(k, 1)), "fast.toml").unwrap();
        let slow = HwSpec::from_toml_str(&spec_toml(&t, &base(1, k)), "slow.toml").unwrap();
        let g = graph(8, &st, false);
        let p = placement(&g, n, &picks);
        let o = options(mbs, 128, cut);
        let a = run(&fast, &g, &p, &o).report;
        let b = run(&slow, &g, &p, &o).report;
        prop_assert_eq!(b.makespan_cycles, k * a.makespan_cycles);
        prop_assert_eq!(b.first_inference_latency_cycles, k * a.first_inference_latency_cycles);
        for (ca, cb) in a.chiplets.iter().zip(&b.chiplets) {
            prop_assert_eq!(cb.busy_cycles, k * ca.busy_cycles);
            prop_assert_eq!(cb.sram_peak_bytes, ca.sram_peak_bytes);
        }
    }

    /// Rotating a placement around a unidirectional ring of identical chiplets
    /// rotates the report: routes are rotations of each other, a producer's
    /// transfers are ordered by route length, each chiplet has one outgoing
    /// link, and the stages of a step run in a fixed order, so no decision
    /// depends on how chiplets are numbered. (On a bidirectional ring of even
    /// size, opposite chiplets tie between two directions and the
    /// lexicographic tie-break is not rotation-invariant, so it is not asserted.)
    #[test]
    fn rotating_a_placement_on_a_ring_rotates_the_report(
        x in numbers(), st in steps(), picks in prop::collection::vec(0u32..64, 1..8),
        mbs in 1u32..4, n in 3u32..7, shift in 1u32..6, cut in any::<bool>(),
    ) {
        let t = Topology::Ring { n, bidirectional: false };
        let spec = HwSpec::from_toml_str(&spec_toml(&t, &x), "ring.toml").unwrap();
        let g = graph(8, &st, true);
        let p = placement(&g, n, &picks);
        let rotated = Placement {
            chiplet_of_op: p.chiplet_of_op.iter().map(|c| ChipletId((c.0 + shift) % n)).collect(),
        };
        let o = options(mbs, 256, cut);
        let a = run(&spec, &g, &p, &o).report;
        let b = run(&spec, &g, &rotated, &o).report;
        prop_assert_eq!(a.makespan_cycles, b.makespan_cycles);
        prop_assert_eq!(a.first_inference_latency_cycles, b.first_inference_latency_cycles);
        prop_assert_eq!(a.steady_state_interval_cycles, b.steady_state_interval_cycles);
        prop_assert_eq!(a.valid, b.valid);
        for c in 0..n as usize {
            let r = (c + shift as usize) % n as usize;
            prop_assert_eq!(a.chiplets[c].busy_cycles, b.chiplets[r].busy_cycles);
            prop_assert_eq!(a.chiplets[c].sram_peak_bytes, b.chiplets[r].sram_peak_bytes);
            // Link c is c → c+1 (links sorted by source on a ring).
            prop_assert_eq!(a.links[c].bytes, b.links[r].bytes);
            prop_assert_eq!(a.links[c].busy_cycles, b.links[r].busy_cycles);
        }
        let rel = (a.energy.total_pj - b.energy.total_pj).abs() / a.energy.total_pj.max(1.0);
        prop_assert!(rel < 1e-12, "energy differs beyond summation order: {rel}");
    }
}
