//! Tests of the exact method: its objective and SRAM rule against the
//! simulator's own (`oracle::analyse`, `constraints::sram_need`), its optimum
//! against brute force on every tiny instance proptest generates (both
//! searches, every constraint mode), its bound under tight limits, and
//! BERT-base on the 16-chip ring.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sim::constraints::{ConstraintSet, is_valid, sram_need};
use sim::graph::{DType, EltFunc, Graph};
use sim::graph::{GraphBuilder, Tensor};
use sim::oracle::analyse;
use sim::spec::{ChipletId, HwSpec, NoSkipping};
use sim::{Placement, SimOptions};

use super::{Engine, Limits, Model, Stop, solve, solve_with};
use crate::partition::exact::{Exact, Formulation};
use crate::partition::search::{Evaluator, Problem, Search};

fn shipped(name: &str) -> HwSpec {
    let text = match name {
        "edgetpu_ring16" => include_str!("../../../../hw_specs/edgetpu_ring16.toml"),
        "simba_6x6" => include_str!("../../../../hw_specs/simba_6x6.toml"),
        _ => panic!("no spec {name}"),
    };
    HwSpec::from_toml_str(text, name).expect("shipped specs are valid")
}

fn unlimited() -> Limits {
    Limits {
        time_limit_s: f64::INFINITY,
        node_limit: u64::MAX,
    }
}

/// A tiny package: chiplets, types, links, order and memory.
#[derive(Clone, Debug)]
struct Package {
    n: u32,
    /// 0: bidirectional chain, 1: unidirectional ring, 2: bidirectional
    /// ring, 3: all-to-all, 4: 2 × 2 mesh with XY routing.
    topology: u8,
    /// A second, slower link from the last chiplet to the first.
    extra_link: bool,
    link_bw: u64,
    /// Two chiplet types (alternating) instead of one.
    hetero: bool,
    sram_kib: u64,
    /// 0: none, 1: streaming for every chiplet, 2: streaming for chiplet 0.
    memory: u8,
    order_seed: u64,
}

fn package() -> impl Strategy<Value = Package> {
    (
        1u32..=4,
        0u8..5,
        any::<bool>(),
        prop::sample::select(vec![1u64, 4, 32]),
        any::<bool>(),
        prop::sample::select(vec![1u64, 2, 4, 64]),
        0u8..3,
        any::<u64>(),
    )
        .prop_map(
            |(n, topology, extra_link, link_bw, hetero, sram_kib, memory, order_seed)| Package {
                n,
                topology,
                extra_link,
                link_bw,
                hetero,
                sram_kib,
                memory,
                order_seed,
            },
        )
}

fn spec_toml(p: &Package) -> String {
    let n = p.n;
    // A permutation of 0..n from the seed.
    let mut order: Vec<u32> = (0..n).collect();
    let mut s = p.order_seed;
    for i in (1..order.len()).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        order.swap(i, (s >> 33) as usize % (i + 1));
    }
    let order: Vec<String> = order.iter().map(u32::to_string).collect();
    let mut t = format!(
        "name = \"tiny\"\nsource = [\"test\"]\nnotes = \"test\"\nclock_mhz = 1000\n\
         pipeline_order = [{}]\n",
        order.join(", ")
    );
    t += "[chiplet_types.a]\nmacs_per_cycle = 64\narray_rows = 8\narray_cols = 8\n\
          vector_elems_per_cycle = 4\n";
    t += &format!("sram_kib = {}\n", p.sram_kib);
    t += "sram_bandwidth_bytes_per_cycle = 16\nop_overhead_cycles = 10\n\
          energy_per_mac_pj = 1.0\nenergy_per_sram_byte_pj = 1.0\n";
    t += "[chiplet_types.b]\nmacs_per_cycle = 256\narray_rows = 16\narray_cols = 16\n\
          vector_elems_per_cycle = 16\n";
    t += &format!("sram_kib = {}\n", p.sram_kib * 2);
    t += "sram_bandwidth_bytes_per_cycle = 64\nop_overhead_cycles = 30\n\
          energy_per_mac_pj = 1.0\nenergy_per_sram_byte_pj = 1.0\n";
    for c in 0..n {
        let ty = if p.hetero && c % 2 == 1 { "b" } else { "a" };
        t += &format!("[[chiplets]]\nid = {c}\ntype = \"{ty}\"\n");
    }
    let link = format!(
        "bandwidth_bytes_per_cycle = {}\nlatency_cycles = 3\nenergy_per_bit_pj = 1.0\n",
        p.link_bw
    );
    let mut routing = "shortest_path";
    // Only a chain of 3 or more lacks the last → first link.
    let mut extra_ok = false;
    match (n, p.topology) {
        (1, _) => {}
        (2, 1 | 2) | (_, 0) => {
            t += &format!("[[topology]]\nkind = \"chain\"\nbidirectional = true\n{link}");
            extra_ok = n >= 3;
        }
        (_, 1) => t += &format!("[[topology]]\nkind = \"ring\"\nbidirectional = false\n{link}"),
        (_, 2) => t += &format!("[[topology]]\nkind = \"ring\"\nbidirectional = true\n{link}"),
        (4, 4) => {
            t += &format!("[[topology]]\nkind = \"mesh\"\nrows = 2\ncols = 2\n{link}");
            routing = "xy";
        }
        _ => t += &format!("[[topology]]\nkind = \"all_to_all\"\n{link}"),
    }
    if p.extra_link && extra_ok {
        t += &format!(
            "[[links]]\nfrom = {}\nto = 0\nbandwidth_bytes_per_cycle = {}\n\
             latency_cycles = 5\nenergy_per_bit_pj = 1.0\n",
            n - 1,
            (p.link_bw / 2).max(1)
        );
    }
    t += &format!("[routing]\nkind = \"{routing}\"\n");
    match p.memory {
        1 | 2 => {
            let chiplets = if p.memory == 1 { "\"all\"" } else { "[0]" };
            t += &format!(
                "[memory]\ncapacity_mib = 64\nbandwidth_bytes_per_cycle = 8\nlatency_cycles = 20\n\
                 energy_per_byte_pj = 1.0\nchiplets = {chiplets}\nweight_streaming = true\n"
            );
        }
        _ => {}
    }
    t += "[constraints]\nacyclic_dataflow = true\nno_skipping = \"off\"\nno_triangle = false\n\
          sram_capacity = true\n";
    t
}

fn build_spec(p: &Package) -> HwSpec {
    let text = spec_toml(p);
    HwSpec::from_toml_str(&text, "tiny.toml").unwrap_or_else(|d| panic!("{d:?}\n{text}"))
}

/// One step of a random graph (as in the simulator's property tests).
#[derive(Clone, Debug)]
enum Step {
    Linear(usize, u64),
    Add(usize, usize),
    Unary(usize, u8),
}

fn steps(max: usize) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            (any::<usize>(), prop::sample::select(vec![16u64, 64, 128]))
                .prop_map(|(a, n)| Step::Linear(a, n)),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Step::Add(a, b)),
            (any::<usize>(), 0u8..3).prop_map(|(a, k)| Step::Unary(a, k)),
        ],
        0..max,
    )
}

/// A random DAG of linears, adds, activations, norms and softmaxes over
/// `[1, rows, 64]` tensors: `steps.len() + 1` ops.
fn graph(rows: u64, steps: &[Step]) -> Graph {
    let mut g = GraphBuilder::new("random", "random", DType::Int8);
    let x = g.input("x", &[1, rows, 64]);
    let mut ts: Vec<Tensor> = vec![g.eltwise("in", EltFunc::Relu, &[&x], 0).unwrap()];
    for (i, st) in steps.iter().enumerate() {
        let name = format!("op{i}");
        let pick = |k: usize| ts[k % ts.len()].clone();
        let t = match st {
            Step::Linear(a, n) => g.linear(&name, &pick(*a), *n, true).unwrap(),
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

fn constraint_set() -> impl Strategy<Value = ConstraintSet> {
    (
        any::<bool>(),
        prop::sample::select(vec![NoSkipping::Off, NoSkipping::Edge, NoSkipping::Prefix]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(acyclic_dataflow, no_skipping, no_triangle, sram_capacity)| ConstraintSet {
                acyclic_dataflow,
                no_skipping,
                no_triangle,
                sram_capacity,
            },
        )
}

fn options(packet: u64) -> SimOptions {
    SimOptions {
        packet_bytes: packet,
        ..SimOptions::default()
    }
}

/// The least oracle bottleneck over every valid placement, by enumeration.
fn brute_force(spec: &HwSpec, g: &Graph, set: &ConstraintSet, opts: &SimOptions) -> Option<u64> {
    let (n, ops) = (spec.n_chiplets() as u32, g.ops().len());
    let total = (n as u64).pow(ops as u32);
    let mut best = None;
    for code in 0..total {
        let mut c = code;
        let chiplet_of_op = (0..ops)
            .map(|_| {
                let id = ChipletId((c % n as u64) as u32);
                c /= n as u64;
                id
            })
            .collect();
        let p = Placement { chiplet_of_op };
        if is_valid(spec, g, &p, set) {
            let b = analyse(spec, g, &p, opts).bottleneck_cycles;
            best = Some(best.map_or(b, |x: u64| x.min(b)));
        }
    }
    best
}

/// What every outcome must satisfy: a valid best whose objective is the
/// oracle's, and a bound no higher than it.
fn check_consistent(
    spec: &HwSpec,
    g: &Graph,
    set: &ConstraintSet,
    opts: &SimOptions,
    o: &super::Outcome,
) {
    if let Some((p, obj)) = &o.best {
        assert!(is_valid(spec, g, p, set), "best is invalid: {p:?}");
        assert_eq!(analyse(spec, g, p, opts).bottleneck_cycles, *obj);
        let bound = o.bound_cycles.expect("a bound when a placement exists");
        assert!(bound <= *obj, "bound {bound} above objective {obj}");
        assert!(o.gap().is_some_and(|x| (0.0..=1.0).contains(&x)));
    }
    assert_eq!(o.incumbents.last(), o.best.as_ref().map(|(p, _)| p));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn objective_and_sram_need_match_the_simulators(
        pk in package(),
        rows in prop::sample::select(vec![4u64, 16, 32]),
        st in steps(12),
        packet in prop::sample::select(vec![64u64, 256, 4096]),
        picks in prop::collection::vec(any::<u32>(), 1..16),
    ) {
        let spec = build_spec(&pk);
        let g = graph(rows, &st);
        let opts = options(packet);
        let m = Model::new(&spec, &g, &ConstraintSet::of(&spec), &opts);
        let chip_of: Vec<usize> = (0..g.ops().len())
            .map(|i| picks[i % picks.len()] as usize % spec.n_chiplets())
            .collect();
        let p = Placement {
            chiplet_of_op: chip_of.iter().map(|&c| ChipletId(c as u32)).collect(),
        };
        prop_assert_eq!(m.objective(&chip_of), analyse(&spec, &g, &p, &opts).bottleneck_cycles);
        let expected = sram_need(&spec, &g, &p.chiplet_of_op);
        let mut pending = vec![0; g.ops().len()];
        for (c, ops) in m.members(&chip_of).iter().enumerate() {
            let need = m.sram_need(ops, |v| chip_of[v] == c, m.class_of[c], &mut pending);
            prop_assert_eq!(need, expected[c]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    /// Both searches find the brute-force optimum (or prove that there is
    /// none) on every tiny instance, under every constraint mode.
    #[test]
    fn optimum_equals_brute_force_on_tiny_instances(
        pk in package(),
        rows in prop::sample::select(vec![4u64, 16, 32]),
        st in steps(8),
        set in constraint_set(),
        packet in prop::sample::select(vec![64u64, 256, 4096]),
    ) {
        let spec = build_spec(&pk);
        let g = graph(rows, &st);
        let opts = options(packet);
        let expected = brute_force(&spec, &g, &set, &opts);
        for engine in [Engine::Auto, Engine::OpByOp] {
            let o = solve_with(&spec, &g, &set, &opts, unlimited(), engine);
            check_consistent(&spec, &g, &set, &opts, &o);
            prop_assert!(o.proven, "{engine:?} did not finish");
            prop_assert_eq!(o.best.as_ref().map(|(_, obj)| *obj), expected, "{:?}", engine);
            prop_assert_eq!(o.bound_cycles, expected);
            if expected.is_none() {
                prop_assert!(o.infeasible_reason.is_some());
            }
            if engine == Engine::Auto && set.acyclic_dataflow {
                prop_assert!(
                    matches!(o.formulation, Formulation::DownSetChain { .. }),
                    "the chain search runs under acyclic dataflow"
                );
            }
        }
    }

    /// A search stopped early still returns only valid placements, and its
    /// bound never exceeds the optimum.
    #[test]
    fn bound_never_exceeds_the_optimum_under_tight_limits(
        pk in package(),
        rows in prop::sample::select(vec![4u64, 16, 32]),
        st in steps(8),
        set in constraint_set(),
        nodes in 0u64..12,
    ) {
        let spec = build_spec(&pk);
        let g = graph(rows, &st);
        let opts = options(256);
        let expected = brute_force(&spec, &g, &set, &opts);
        let limits = Limits { time_limit_s: f64::INFINITY, node_limit: nodes };
        for engine in [Engine::Auto, Engine::OpByOp] {
            let o = solve_with(&spec, &g, &set, &opts, limits, engine);
            check_consistent(&spec, &g, &set, &opts, &o);
            prop_assert!(o.nodes <= nodes);
            match expected {
                Some(opt) => {
                    if let Some(b) = o.bound_cycles {
                        prop_assert!(b <= opt, "bound {} above optimum {}", b, opt);
                    }
                    if let Some((_, obj)) = &o.best {
                        prop_assert!(*obj >= opt);
                    }
                    prop_assert!(o.proven || o.stop == Some(Stop::NodeLimit));
                }
                None => prop_assert!(o.best.is_none()),
            }
        }
    }
}

/// Two heavy branches joined by an add, on four fully connected chiplets
/// with slow links: the optimum runs the branches on different chiplets, so
/// two tensors cross the same cut of the pipeline over different links. The
/// bound must charge a cut's traffic to the links that cross it, not to one.
#[test]
fn traffic_across_a_cut_is_shared_by_the_links_that_cross_it() {
    let pk = Package {
        n: 4,
        topology: 3,
        extra_link: false,
        link_bw: 1,
        hetero: false,
        sram_kib: 64,
        memory: 0,
        order_seed: 0,
    };
    let spec = build_spec(&pk);
    let mut b = GraphBuilder::new("diamond", "diamond", DType::Int8);
    let x = b.input("x", &[1, 32, 64]);
    let x = b.eltwise("in", EltFunc::Relu, &[&x], 0).unwrap();
    let l = b.linear("left", &x, 128, true).unwrap();
    let r = b.linear("right", &x, 128, true).unwrap();
    b.eltwise("join", EltFunc::Add, &[&l, &r], 0).unwrap();
    let g = b.finish().expect("valid");
    let set = ConstraintSet {
        acyclic_dataflow: true,
        no_skipping: NoSkipping::Off,
        no_triangle: false,
        sram_capacity: true,
    };
    let opts = options(4096);
    let expected = brute_force(&spec, &g, &set, &opts).expect("feasible");
    let o = solve(&spec, &g, &set, &opts, unlimited());
    check_consistent(&spec, &g, &set, &opts, &o);
    assert_eq!(o.bound_cycles, Some(expected));
    assert_eq!(o.best.map(|(_, obj)| obj), Some(expected));
}

fn bert_base() -> Graph {
    sim::zoo::build("bert-base", &BTreeMap::new()).expect("bert-base builds")
}

#[test]
fn bert_base_on_the_16_chip_ring_with_a_small_node_limit_is_valid_and_bounded() {
    let spec = shipped("edgetpu_ring16");
    let g = bert_base();
    let set = ConstraintSet::of(&spec);
    let opts = SimOptions::default();
    for node_limit in [20, 1_000] {
        let limits = Limits {
            time_limit_s: 10.0,
            node_limit,
        };
        let o = solve(&spec, &g, &set, &opts, limits);
        check_consistent(&spec, &g, &set, &opts, &o);
        assert!(o.best.is_some(), "a placement within {node_limit} nodes");
        assert!(o.gap().is_some_and(f64::is_finite));
        assert_eq!(o.formulation, Formulation::DownSetChain { down_sets: 279 });
    }
}

#[test]
fn bert_base_on_the_16_chip_ring_is_solved_to_optimality() {
    // With `no_skipping = "edge"` on a ring the bound is exact, so one dive
    // finds and proves the optimum.
    let spec = shipped("edgetpu_ring16");
    let g = bert_base();
    let set = ConstraintSet::of(&spec);
    let opts = SimOptions::default();
    let o = solve(&spec, &g, &set, &opts, unlimited());
    check_consistent(&spec, &g, &set, &opts, &o);
    assert!(o.proven);
    assert_eq!(o.gap(), Some(0.0));
    assert!(o.nodes <= 16 * 4, "{} nodes", o.nodes);
    // No valid placement beats it, the contiguous default included.
    let contiguous = Placement::contiguous_balanced(&spec, &g);
    assert!(is_valid(&spec, &g, &contiguous, &set));
    let (_, obj) = o.best.as_ref().expect("feasible");
    assert!(analyse(&spec, &g, &contiguous, &opts).bottleneck_cycles >= *obj);
}

#[test]
fn infeasibility_is_proven_and_explained() {
    // ResNet-50's first convolution alone needs its 802,816-byte output and
    // 150,528-byte image in SRAM at once: more than a Simba chiplet's 752 KiB.
    let spec = shipped("simba_6x6");
    let g = sim::zoo::build("resnet50", &BTreeMap::new()).expect("resnet50 builds");
    let set = ConstraintSet::of(&spec);
    let o = solve(&spec, &g, &set, &SimOptions::default(), unlimited());
    assert_eq!(o.status(), "infeasible");
    assert!(o.proven && o.best.is_none() && o.bound_cycles.is_none());
    let reason = o.infeasible_reason.as_deref().expect("a reason");
    assert!(
        reason.contains("conv1") && reason.contains("962752"),
        "{reason}"
    );
}

#[test]
fn a_search_stopped_by_the_node_limit_gives_the_same_result_every_time() {
    // Without acyclic dataflow the op-by-op search runs (warm-started by the
    // chain search) and cannot finish BERT-base: the node limit stops it.
    let spec = shipped("edgetpu_ring16");
    let g = bert_base();
    let set = ConstraintSet {
        acyclic_dataflow: false,
        ..ConstraintSet::of(&spec)
    };
    let limits = Limits {
        time_limit_s: f64::INFINITY,
        node_limit: 2_000,
    };
    let opts = SimOptions::default();
    let a = solve(&spec, &g, &set, &opts, limits);
    let b = solve(&spec, &g, &set, &opts, limits);
    check_consistent(&spec, &g, &set, &opts, &a);
    assert_eq!(a.stop, Some(Stop::NodeLimit));
    assert_eq!(a.formulation, Formulation::OpByOp);
    assert!(!a.proven && a.gap().is_some_and(|x| x > 0.0));
    assert_eq!(a.best, b.best);
    assert_eq!((a.bound_cycles, a.nodes), (b.bound_cycles, b.nodes));
    assert_eq!(a.notes(), b.notes());
}

#[test]
fn the_method_simulates_its_incumbents_within_the_budget() {
    let spec = shipped("edgetpu_ring16");
    let g = bert_base();
    for budget in [0, 1, 5] {
        let problem = Problem {
            spec: &spec,
            graph: &g,
            constraints: ConstraintSet::of(&spec),
            options: SimOptions::default(),
            budget,
            seed: 7,
        };
        let mut eval = Evaluator::new(&problem).expect("simulator builds");
        let mut exact = Exact::default();
        assert_eq!(exact.name(), "exact");
        exact.run(&problem, &mut eval).expect("runs");
        let outcome = exact.outcome().expect("an outcome");
        let expected = budget.min(outcome.incumbents.len() as u64);
        assert_eq!(eval.used(), expected);
        let notes = exact.notes();
        let keys: Vec<&str> = notes.iter().map(|(k, _)| k.as_str()).collect();
        for key in [
            "status",
            "objective_cycles",
            "bound_cycles",
            "gap",
            "proven",
            "nodes",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
        let result = eval.finish("exact", notes);
        match budget {
            0 => assert!(result.best.is_none()),
            _ => {
                let (p, report) = result.best.expect("the optimum simulates validly");
                assert!(report.valid);
                assert!(is_valid(&spec, &g, &p, &ConstraintSet::of(&spec)));
            }
        }
    }
}
