//! Tests of the exact method: its objective and SRAM rule against the
//! simulator's own (`oracle::analyse`, `constraints::sram_need`), its optimum
//! against brute force on every tiny instance proptest generates (both
//! searches, every constraint mode), its bound under tight limits, and
//! BERT-base on the 16-chip ring.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sim::constraints::{Constraints, is_valid, sram_need};
use sim::graph::{DType, EltFunc, Graph, GraphBuilder};
use sim::oracle::analyse;
use sim::spec::{ChipletId, ChipletType, HwSpec, NoSkipping};
use sim::testkit::{
    DagRecipe, DagSpace, LinkProps, LinkSpace, MemoryReach, MemorySpace, PackageRecipe,
    PackageSpace, Structure, Topology, TopologyKind, TypeSpace, strategies,
};
use sim::{Placement, SimOptions};

use super::{Engine, Instance, Limits, Model, Objective, Stop, solve, solve_with};
use crate::partition::exact::{Exact, Formulation};
use crate::partition::search::{Evaluator, Search, SearchProblem};

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

fn tiny_links(bandwidth_bytes_per_cycle: Vec<u64>, latency_cycles: u64) -> LinkSpace {
    LinkSpace {
        bandwidth_bytes_per_cycle,
        latency_cycles: vec![latency_cycles],
        energy_per_bit_pj: 1.0,
    }
}

/// Tiny packages: 1 to 4 chiplets on a bidirectional chain, a ring either
/// way, all-to-all or a mesh (XY routing), with maybe one extra slower link,
/// one type or two (a small and a large array) mixed, weight streaming for
/// none, all or chiplet 0, in a random pipeline order.
fn packages() -> BoxedStrategy<PackageRecipe> {
    let small = TypeSpace {
        array_sides: vec![8],
        vector_elems_per_cycle: vec![4],
        sram_kib: vec![1, 2, 4, 64],
        sram_bandwidth_bytes_per_cycle: vec![16],
        op_overhead_cycles: vec![10],
        energy_per_mac_pj: 1.0,
        energy_per_sram_byte_pj: 1.0,
    };
    let large = TypeSpace {
        array_sides: vec![16],
        vector_elems_per_cycle: vec![16],
        sram_kib: vec![2, 4, 8, 128],
        sram_bandwidth_bytes_per_cycle: vec![64],
        op_overhead_cycles: vec![30],
        ..small.clone()
    };
    strategies::package(&PackageSpace {
        clock_mhz: 1000.0,
        n_chiplets: vec![1, 2, 3, 4],
        topologies: vec![
            TopologyKind::Chain {
                bidirectional: true,
            },
            TopologyKind::Ring {
                bidirectional: false,
            },
            TopologyKind::Ring {
                bidirectional: true,
            },
            TopologyKind::AllToAll,
            TopologyKind::Mesh,
        ],
        types: vec![small, large],
        heterogeneous: vec![false, true],
        link: tiny_links(vec![1, 4, 32], 3),
        extra_links: vec![0, 1],
        extra_link: tiny_links(vec![1, 2, 16], 5),
        memory: Some(MemorySpace {
            reach: vec![MemoryReach::None, MemoryReach::All, MemoryReach::First],
            capacity_mib: vec![64],
            bandwidth_bytes_per_cycle: vec![8],
            latency_cycles: vec![20],
            energy_per_byte_pj: 1.0,
            weight_streaming: vec![true],
        }),
        shuffled_order: vec![true],
        constraints: Constraints {
            acyclic_dataflow: true,
            no_skipping: NoSkipping::Off,
            no_triangle: false,
            sram_capacity: true,
        },
    })
    .expect("a valid space")
}

fn build_spec(p: &PackageRecipe) -> HwSpec {
    p.build().unwrap_or_else(|e| panic!("{p:?}: {e}"))
}

/// Random DAGs of 1 to `max_ops` ops over `[1, rows, 64]` tensors (rows 4,
/// 16 or 32): GEMMs to 16, 64 or 128 features, joins and every unary op.
fn graphs(max_ops: usize) -> BoxedStrategy<DagRecipe> {
    strategies::dag(&DagSpace {
        input_dims: vec![vec![1], vec![4, 16, 32], vec![64]],
        steps: 0..=max_ops - 1,
        structures: vec![Structure::Any, Structure::Layered { width: 2 }],
        ..DagSpace::small(4, 64, &[16, 64, 128], 1)
    })
    .expect("a valid space")
}

fn constraint_set() -> impl Strategy<Value = Constraints> {
    (
        any::<bool>(),
        prop::sample::select(vec![NoSkipping::Off, NoSkipping::Edge, NoSkipping::Prefix]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(acyclic_dataflow, no_skipping, no_triangle, sram_capacity)| Constraints {
                acyclic_dataflow,
                no_skipping,
                no_triangle,
                sram_capacity,
            },
        )
}

/// [`solve_with`] on one instance.
fn solve_by(
    spec: &HwSpec,
    g: &Graph,
    set: &Constraints,
    opts: &SimOptions,
    limits: Limits,
    objective: Objective,
    engine: Engine,
) -> super::Outcome {
    let instance = Instance {
        spec,
        graph: g,
        constraints: set,
        options: opts,
        objective,
    };
    solve_with(&instance, limits, engine)
}

fn options(packet: u64) -> SimOptions {
    SimOptions {
        packet_bytes: packet,
        ..SimOptions::default()
    }
}

/// The objective of a placement, computed as the oracle and the simulator's
/// problem model do (not through the search's view).
fn objective_of(
    spec: &HwSpec,
    g: &Graph,
    p: &Placement,
    opts: &SimOptions,
    objective: Objective,
) -> u64 {
    match objective {
        Objective::Bottleneck => analyse(spec, g, p, opts).bottleneck_cycles,
        Objective::SlotAware => sim::problem::ProblemModel::new(spec, g, opts)
            .slot_aware_bottleneck_cycles(&p.chiplet_of_op),
    }
}

/// The least oracle bottleneck over every valid placement, by enumeration.
fn brute_force(spec: &HwSpec, g: &Graph, set: &Constraints, opts: &SimOptions) -> Option<u64> {
    brute_force_of(spec, g, set, opts, Objective::Bottleneck)
}

/// The least `objective` over every valid placement, by enumeration.
fn brute_force_of(
    spec: &HwSpec,
    g: &Graph,
    set: &Constraints,
    opts: &SimOptions,
    objective: Objective,
) -> Option<u64> {
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
            let b = objective_of(spec, g, &p, opts, objective);
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
    set: &Constraints,
    opts: &SimOptions,
    o: &super::Outcome,
) {
    if let Some((p, obj)) = &o.best {
        assert!(is_valid(spec, g, p, set), "best is invalid: {p:?}");
        assert_eq!(objective_of(spec, g, p, opts, o.objective), *obj);
        let bound = o.bound_cycles.expect("a bound when a placement exists");
        assert!(bound <= *obj, "bound {bound} above objective {obj}");
        assert!(o.gap().is_some_and(|x| (0.0..=1.0).contains(&x)));
    }
    assert_eq!(o.incumbents.last(), o.best.as_ref().map(|(p, _)| p));
}

proptest! {
    #![proptest_config(sim::testkit::strategies::config(64))]

    #[test]
    fn objective_and_sram_need_match_the_simulators(
        pk in packages(),
        dag in graphs(12),
        packet in prop::sample::select(vec![64u64, 256, 4096]),
        picks in prop::collection::vec(any::<u32>(), 1..16),
    ) {
        let spec = build_spec(&pk);
        let g = dag.build().unwrap();
        let opts = options(packet);
        let m = Model::new(&spec, &g, &spec.constraints, &opts, Objective::Bottleneck);
        let chip_of: Vec<usize> = (0..g.ops().len())
            .map(|i| picks[i % picks.len()] as usize % spec.n_chiplets())
            .collect();
        let p = Placement {
            chiplet_of_op: chip_of.iter().map(|&c| ChipletId(c as u32)).collect(),
        };
        prop_assert_eq!(m.objective(&chip_of), analyse(&spec, &g, &p, &opts).bottleneck_cycles);
        let expected = sram_need(&spec, &g, &p.chiplet_of_op);
        let mut pending = sim::problem::PeakScratch::default();
        for (c, ops) in m.members(&chip_of).iter().enumerate() {
            let need = m.sram_need(ops, |v| chip_of[v] == c, m.class_of[c], &mut pending);
            prop_assert_eq!(need, expected[c]);
        }
    }
}

proptest! {
    #![proptest_config(sim::testkit::strategies::config(160))]

    /// Both searches find the brute-force optimum (or prove that there is
    /// none) on every tiny instance, under every constraint mode.
    #[test]
    fn optimum_equals_brute_force_on_tiny_instances(
        pk in packages(),
        dag in graphs(8),
        set in constraint_set(),
        packet in prop::sample::select(vec![64u64, 256, 4096]),
        objective in prop::sample::select(Objective::ALL.to_vec()),
    ) {
        let spec = build_spec(&pk);
        let g = dag.build().unwrap();
        let opts = options(packet);
        let expected = brute_force_of(&spec, &g, &set, &opts, objective);
        for engine in [Engine::Auto, Engine::OpByOp] {
            let o = solve_by(&spec, &g, &set, &opts, unlimited(), objective, engine);
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
        pk in packages(),
        dag in graphs(8),
        set in constraint_set(),
        nodes in 0u64..12,
        objective in prop::sample::select(Objective::ALL.to_vec()),
    ) {
        let spec = build_spec(&pk);
        let g = dag.build().unwrap();
        let opts = options(256);
        let expected = brute_force_of(&spec, &g, &set, &opts, objective);
        let limits = Limits { time_limit_s: f64::INFINITY, node_limit: nodes };
        for engine in [Engine::Auto, Engine::OpByOp] {
            let o = solve_by(&spec, &g, &set, &opts, limits, objective, engine);
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
    let chiplet = ChipletType {
        name: "a".to_string(),
        macs_per_cycle: 64,
        array_rows: 8,
        array_cols: 8,
        vector_elems_per_cycle: 4,
        sram_kib: 64,
        sram_bandwidth_bytes_per_cycle: 16,
        op_overhead_cycles: 10,
        energy_per_mac_pj: 1.0,
        energy_per_sram_byte_pj: 1.0,
    };
    let slow = LinkProps {
        bandwidth_bytes_per_cycle: 1,
        latency_cycles: 3,
        energy_per_bit_pj: 1.0,
    };
    let constraints = Constraints {
        acyclic_dataflow: true,
        no_skipping: NoSkipping::Off,
        no_triangle: false,
        sram_capacity: true,
    };
    let mut pk = PackageRecipe::uniform(
        4,
        1000.0,
        chiplet,
        Some((Topology::AllToAll, slow)),
        constraints,
    );
    pk.pipeline_order = [2, 1, 0, 3].map(ChipletId).to_vec();
    let spec = build_spec(&pk);
    let mut b = GraphBuilder::new("diamond", "diamond", DType::Int8);
    let x = b.input("x", &[1, 32, 64]);
    let x = b.eltwise("in", EltFunc::Relu, &[&x], 0).unwrap();
    let l = b.linear("left", &x, 128, true).unwrap();
    let r = b.linear("right", &x, 128, true).unwrap();
    b.eltwise("join", EltFunc::Add, &[&l, &r], 0).unwrap();
    let g = b.finish().expect("valid");
    let set = Constraints {
        acyclic_dataflow: true,
        no_skipping: NoSkipping::Off,
        no_triangle: false,
        sram_capacity: true,
    };
    let opts = options(4096);
    let expected = brute_force(&spec, &g, &set, &opts).expect("feasible");
    let o = solve(&spec, &g, &set, &opts, unlimited(), Objective::Bottleneck);
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
    let set = spec.constraints;
    let opts = SimOptions::default();
    for node_limit in [20, 1_000] {
        let limits = Limits {
            time_limit_s: 10.0,
            node_limit,
        };
        let o = solve(&spec, &g, &set, &opts, limits, Objective::Bottleneck);
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
    let set = spec.constraints;
    let opts = SimOptions::default();
    let o = solve(&spec, &g, &set, &opts, unlimited(), Objective::Bottleneck);
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
    let set = spec.constraints;
    let o = solve(
        &spec,
        &g,
        &set,
        &SimOptions::default(),
        unlimited(),
        Objective::Bottleneck,
    );
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
    let set = Constraints {
        acyclic_dataflow: false,
        ..spec.constraints
    };
    let limits = Limits {
        time_limit_s: f64::INFINITY,
        node_limit: 2_000,
    };
    let opts = SimOptions::default();
    let a = solve(&spec, &g, &set, &opts, limits, Objective::Bottleneck);
    let b = solve(&spec, &g, &set, &opts, limits, Objective::Bottleneck);
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
        let problem = SearchProblem {
            spec: &spec,
            graph: &g,
            constraints: spec.constraints,
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
            "analytic_status",
            "analytic_objective_cycles",
            "analytic_throughput_inferences_per_s",
            "analytic_bound_cycles",
            "analytic_gap",
            "proven",
            "nodes",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
        let result = eval.finish("exact", notes, None);
        assert_eq!(result.failure, None, "the simulator accepts the problem");
        match budget {
            0 => assert!(result.best.is_none()),
            _ => {
                let (p, report) = result.best.expect("the optimum simulates validly");
                assert!(report.valid);
                assert!(is_valid(&spec, &g, &p, &spec.constraints));
            }
        }
    }
}

/// An interrupt request stops the search at its next check (every 256
/// nodes, the first node included): nothing is claimed proven.
#[test]
fn an_interrupt_stops_the_search_unproven() {
    let spec = shipped("edgetpu_ring16");
    let g = bert_base();
    let set = spec.constraints;
    let opts = SimOptions::default();
    crate::partition::interrupt::request_on_this_thread();
    let o = solve(&spec, &g, &set, &opts, unlimited(), Objective::Bottleneck);
    crate::partition::interrupt::clear_this_thread();
    assert_eq!(o.stop, Some(Stop::Interrupted));
    assert!(!o.proven);
    assert_eq!(o.nodes, 0);
    // Without the request the same search completes.
    assert!(solve(&spec, &g, &set, &opts, unlimited(), Objective::Bottleneck).proven);
}

/// Where the lattice is too large for the chain search (twelve independent
/// two-op branches: 3^12 down-sets), the op-by-op search starts from `dp`'s
/// optimal segmentation, so even stopped at once it is never worse than
/// `dp`.
#[test]
fn the_op_by_op_search_is_never_worse_than_dp() {
    let spec = shipped("edgetpu_ring16");
    let mut b = GraphBuilder::new("branches", "branches", DType::Int8);
    let x = b.input("x", &[1, 128, 256]);
    for i in 0..12 {
        let h = b
            .linear(&format!("b{i}.fc"), &x, 256 + 64 * (i % 5), true)
            .unwrap();
        b.eltwise(&format!("b{i}.relu"), EltFunc::Relu, &[&h], 0)
            .unwrap();
    }
    let g = b.finish().expect("valid");
    let set = spec.constraints;
    let opts = options(4096);
    let limits = Limits {
        time_limit_s: f64::INFINITY,
        node_limit: 10,
    };
    let o = solve(&spec, &g, &set, &opts, limits, Objective::Bottleneck);
    assert_eq!(o.formulation, Formulation::OpByOp);
    check_consistent(&spec, &g, &set, &opts, &o);
    let dp = crate::partition::methods::SegmentModel::new(&spec, &g, &set, &opts, true)
        .optimal()
        .expect("dp finds a segmentation");
    let (_, objective) = o.best.as_ref().expect("an incumbent");
    assert!(*objective <= dp.1, "exact {objective} > dp {}", dp.1);
}
