//! Exact repair (`agent::partition::repair`): its optimal value equals brute
//! force over every placement of small random instances in every constraint
//! mode, infeasibility agrees too; valid placements are astronomically sparse;
//! and BERT-base on the 16-chip Edge TPU ring repairs to valid placements.

use std::collections::BTreeMap;

use agent::partition::repair::{
    Objective, RepairOptions, count_valid_chain_placements, repair, repair_with,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::Placement;
use sim::constraints::{Constraints, is_valid, sram_need};
use sim::graph::{DType, Graph};
use sim::spec::{ChipletId, ChipletType, HwSpec, NoSkipping};
use sim::testkit::{
    DagRecipe, DagSpace, LinkProps, LinkSpace, MemoryReach, MemorySpace, PackageRecipe,
    PackageSpace, Structure, Topology, TopologyKind, TypeSpace, Unary, chain, strategies,
};
use sim::zoo;

/// Random DAGs of 2 to 8 ops over `[1, rows, 16]` tensors: GEMMs to 8, 16
/// or 32 features, joins and ReLUs.
fn graphs() -> BoxedStrategy<DagRecipe> {
    strategies::dag(&DagSpace {
        dtypes: vec![DType::Int8],
        input_dims: vec![vec![1], vec![4, 8, 16, 32], vec![16]],
        steps: 1..=7,
        gemm_widths: vec![8, 16, 32],
        unary: vec![Unary::Relu],
        structures: vec![Structure::Any, Structure::Layered { width: 2 }],
    })
    .expect("a valid space")
}

/// The spec's own constraints; the modes under test are passed to repair.
fn spec_constraints() -> Constraints {
    Constraints {
        acyclic_dataflow: true,
        no_skipping: NoSkipping::Off,
        no_triangle: false,
        sram_capacity: true,
    }
}

/// The small chiplet every generated package is made of; its SRAM is set per
/// case.
fn chiplet() -> TypeSpace {
    TypeSpace {
        array_sides: vec![4],
        vector_elems_per_cycle: vec![4],
        sram_kib: vec![1],
        sram_bandwidth_bytes_per_cycle: vec![64],
        op_overhead_cycles: vec![1],
        energy_per_mac_pj: 0.5,
        energy_per_sram_byte_pj: 0.25,
    }
}

fn chain_links() -> LinkSpace {
    LinkSpace {
        bandwidth_bytes_per_cycle: vec![4],
        latency_cycles: vec![1],
        energy_per_bit_pj: 1.0,
    }
}

/// 1 to 4 chiplets (one chiplet 1 time in 7) in a bidirectional chain, in a
/// random pipeline order, with weight streaming from memory for none, all
/// or only chiplet 0. The constraint modes are passed to repair directly.
fn packages() -> BoxedStrategy<PackageRecipe> {
    strategies::package(&PackageSpace {
        clock_mhz: 1000.0,
        n_chiplets: vec![1, 2, 2, 3, 3, 4, 4],
        topologies: vec![TopologyKind::Chain {
            bidirectional: true,
        }],
        types: vec![chiplet()],
        heterogeneous: vec![false],
        link: chain_links(),
        extra_links: vec![0],
        extra_link: chain_links(),
        memory: Some(MemorySpace {
            reach: vec![MemoryReach::None, MemoryReach::All, MemoryReach::First],
            capacity_mib: vec![64],
            bandwidth_bytes_per_cycle: vec![8],
            latency_cycles: vec![10],
            energy_per_byte_pj: 10.0,
            weight_streaming: vec![true],
        }),
        shuffled_order: vec![true],
        constraints: spec_constraints(),
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

/// The objective: fewest changes from a proposal, or a cost table with
/// small integers, reals, and occasional +inf (a forbidden chiplet).
#[derive(Clone, Debug)]
enum Goal {
    /// Proposal: op `v` on chiplet `picks[v] % spread` (a small spread
    /// crowds the ops, so SRAM binds).
    Changes(Vec<u32>, u32),
    Costs(Vec<f64>),
}

fn goal() -> impl Strategy<Value = Goal> {
    prop_oneof![
        (prop::collection::vec(any::<u32>(), 8), 1u32..=4)
            .prop_map(|(picks, spread)| Goal::Changes(picks, spread)),
        prop::collection::vec(
            prop_oneof![
                6 => (0u32..5).prop_map(f64::from),
                3 => -2.0f64..3.0,
                1 => Just(f64::INFINITY),
            ],
            32
        )
        .prop_map(Goal::Costs),
    ]
}

/// The objective's value at `chips` (the brute force's own arithmetic).
fn value(obj: &Objective<'_>, chips: &[ChipletId]) -> f64 {
    match obj {
        Objective::FewestChanges(p) => chips.iter().zip(*p).filter(|(a, b)| a != b).count() as f64,
        Objective::Cost(c) => chips.iter().enumerate().map(|(v, x)| c[v][x.idx()]).sum(),
    }
}

/// The least objective value over every one of the kⁿ placements that
/// `is_valid` accepts (and whose value is finite), or `None`. Placements are
/// checked cheapest first, so a feasible instance stops at its optimum.
fn brute_force(spec: &HwSpec, g: &Graph, set: &Constraints, obj: &Objective<'_>) -> Option<f64> {
    let (n, k) = (g.ops().len(), spec.n_chiplets());
    let decode = |code: usize| -> Vec<ChipletId> {
        (0..n)
            .map(|v| ChipletId((code / k.pow(v as u32) % k) as u32))
            .collect()
    };
    let mut all: Vec<(f64, usize)> = (0..k.pow(n as u32))
        .map(|code| (value(obj, &decode(code)), code))
        .filter(|(c, _)| c.is_finite())
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter()
        .find(|&(_, code)| {
            let p = Placement {
                chiplet_of_op: decode(code),
            };
            is_valid(spec, g, &p, set)
        })
        .map(|(c, _)| c)
}

/// The SRAM need of `g` with every op on one chiplet of `p`'s type that
/// keeps its weights.
fn sram_need_on_one_chiplet(p: &PackageRecipe, g: &Graph) -> u64 {
    let one = PackageRecipe::uniform(1, p.clock_mhz, p.types[0].clone(), None, p.constraints);
    let spec = one.build().expect("valid spec");
    sram_need(&spec, g, &vec![ChipletId(0); g.ops().len()])[0]
}

/// Repair's optimum equals brute force's, its placement is valid and costs
/// what it reports; and both agree on infeasibility.
fn check_exact(
    dag: &DagRecipe,
    mut package: PackageRecipe,
    sram_fraction: f64,
    set: &Constraints,
    goal: &Goal,
) -> Result<(), TestCaseError> {
    let g = dag.build().unwrap();
    // SRAM per chiplet as a fraction of what the whole graph needs on one
    // chiplet (weights counted), so that it binds at every graph size.
    let all_on_one = sram_need_on_one_chiplet(&package, &g);
    package.types[0].sram_kib = ((all_on_one as f64 * sram_fraction) / 1024.0)
        .ceil()
        .max(1.0) as u64;
    let spec = package.build().expect("valid spec");
    let (n, k) = (g.ops().len(), spec.n_chiplets());
    let proposal: Vec<ChipletId>;
    let costs: Vec<Vec<f64>>;
    let obj = match goal {
        Goal::Changes(picks, spread) => {
            proposal = (0..n)
                .map(|v| ChipletId(picks[v % picks.len()] % spread.min(&(k as u32))))
                .collect();
            Objective::FewestChanges(&proposal)
        }
        Goal::Costs(table) => {
            costs = (0..n)
                .map(|v| (0..k).map(|c| table[(v * 4 + c) % table.len()]).collect())
                .collect();
            Objective::Cost(&costs)
        }
    };
    let want = brute_force(&spec, &g, set, &obj);
    match (repair(&spec, &g, set, obj), want) {
        (Ok(r), Some(best)) => {
            prop_assert!(
                is_valid(&spec, &g, &r.placement, set),
                "invalid repair {:?}",
                r.placement
            );
            let own = value(&obj, &r.placement.chiplet_of_op);
            prop_assert!(
                (own - r.cost).abs() <= 1e-9 * (1.0 + own.abs()),
                "reported {} but costs {own}",
                r.cost
            );
            prop_assert!(
                (r.cost - best).abs() <= 1e-9 * (1.0 + best.abs()),
                "repair {} ({}), brute force {best}",
                r.cost,
                r.method
            );
            prop_assert!(r.proven_optimal);
        }
        (Err(e), None) => prop_assert!(e.proven, "{}", e.reason),
        (Ok(r), None) => prop_assert!(
            false,
            "repair found {:?} but brute force found nothing valid",
            r
        ),
        (Err(e), Some(best)) => prop_assert!(
            false,
            "repair says infeasible ({}) but brute force found {best}",
            e.reason
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(sim::testkit::strategies::config(2000))]

    /// Exact in every constraint mode.
    #[test]
    fn repair_is_exact_against_brute_force(
        dag in graphs(),
        package in packages(),
        sram_fraction in prop::sample::select(vec![0.25, 0.4, 0.6, 0.8, 1.5]),
        set in constraint_set(),
        goal in goal(),
    ) {
        check_exact(&dag, package, sram_fraction, &set, &goal)?;
    }

    /// Exact where SRAM binds under acyclic dataflow, the case where repair
    /// adds the SRAM rule's pairwise consequences to its relaxation
    /// (`repair/sram.rs`): tight SRAM, every no-skipping mode.
    #[test]
    fn repair_is_exact_where_sram_binds_under_acyclic_dataflow(
        dag in graphs(),
        package in packages(),
        sram_fraction in prop::sample::select(vec![0.2, 0.3, 0.4, 0.5]),
        no_skipping in prop::sample::select(vec![NoSkipping::Off, NoSkipping::Edge, NoSkipping::Prefix]),
        no_triangle in any::<bool>(),
        goal in goal(),
    ) {
        let set = Constraints { acyclic_dataflow: true, no_skipping, no_triangle, sram_capacity: true };
        check_exact(&dag, package, sram_fraction, &set, &goal)?;
    }
}

fn binomial(n: u128, k: u128) -> u128 {
    (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
}

/// The claim: on a 200-op chain and 4 chips, valid placements under
/// acyclic dataflow with no skipping number about a million, out of 4^200.
#[test]
fn valid_placements_of_a_200_op_chain_are_astronomically_sparse() {
    let prefix = count_valid_chain_placements(200, 4, NoSkipping::Prefix).unwrap();
    let edge = count_valid_chain_placements(200, 4, NoSkipping::Edge).unwrap();
    // prefix: start on chip 0, advance to the next chip at m − 1 of the 199
    // boundaries between consecutive ops.
    let prefix_closed: u128 = (0..4).map(|s| binomial(199, s)).sum();
    // edge: start on any chip a, advance at most 3 − a times.
    let edge_closed: u128 = (0..4)
        .map(|a| (0..4 - a).map(|s| binomial(199, s)).sum::<u128>())
        .sum();
    assert_eq!((prefix, prefix_closed), (1_313_600, 1_313_600));
    assert_eq!((edge, edge_closed), (1_333_702, 1_333_702));
    // log10(4^200) = 120.4; the valid fraction is below 10^-114.
    let log10_fraction = (edge as f64).log10() - 200.0 * 4f64.log10();
    assert!(log10_fraction < -114.0, "{log10_fraction}");
    // So random proposals are invalid (the chance that one of these 2,000
    // is valid is below 10^-110), and repair makes each valid.
    let g = chain(200, &[1, 4]).unwrap();
    let chiplet = ChipletType {
        name: "t".to_string(),
        macs_per_cycle: 16,
        array_rows: 4,
        array_cols: 4,
        vector_elems_per_cycle: 4,
        sram_kib: 64,
        sram_bandwidth_bytes_per_cycle: 64,
        op_overhead_cycles: 1,
        energy_per_mac_pj: 0.5,
        energy_per_sram_byte_pj: 0.25,
    };
    let spec = PackageRecipe::uniform(
        4,
        1000.0,
        chiplet,
        Some((
            Topology::Chain {
                bidirectional: true,
            },
            LinkProps {
                bandwidth_bytes_per_cycle: 4,
                latency_cycles: 1,
                energy_per_bit_pj: 1.0,
            },
        )),
        spec_constraints(),
    )
    .build()
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(200);
    for mode in [NoSkipping::Edge, NoSkipping::Prefix] {
        let set = Constraints {
            acyclic_dataflow: true,
            no_skipping: mode,
            no_triangle: true,
            sram_capacity: false,
        };
        for trial in 0..1000 {
            let proposal: Vec<ChipletId> =
                (0..200).map(|_| ChipletId(rng.gen_range(0..4))).collect();
            let p = Placement {
                chiplet_of_op: proposal.clone(),
            };
            assert!(!is_valid(&spec, &g, &p, &set));
            if trial < 20 {
                let r = repair(&spec, &g, &set, Objective::FewestChanges(&proposal)).unwrap();
                assert!(is_valid(&spec, &g, &r.placement, &set));
                assert!(r.proven_optimal);
            }
        }
    }
}

fn bert_on_ring16() -> (HwSpec, Graph) {
    let text = include_str!("../../hw_specs/edgetpu_ring16.toml");
    let spec = HwSpec::from_toml_str(text, "edgetpu_ring16.toml").unwrap();
    let g = zoo::build("bert-base", &BTreeMap::new()).unwrap();
    (spec, g)
}

#[test]
fn bert_base_proposals_on_the_edge_tpu_ring_repair_to_valid_placements() {
    let (spec, g) = bert_on_ring16();
    let set = spec.constraints;
    let (n, k) = (g.ops().len(), spec.n_chiplets() as u32);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    for _ in 0..10 {
        let proposal: Vec<ChipletId> = (0..n).map(|_| ChipletId(rng.gen_range(0..k))).collect();
        let r = repair(&spec, &g, &set, Objective::FewestChanges(&proposal)).unwrap();
        assert!(is_valid(&spec, &g, &r.placement, &set));
        assert!(r.proven_optimal);
        // Deterministic: the same call gives the same answer.
        let again = repair(&spec, &g, &set, Objective::FewestChanges(&proposal)).unwrap();
        assert_eq!(r, again);
        let changed = r
            .placement
            .chiplet_of_op
            .iter()
            .zip(&proposal)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed as f64, r.cost);
        // The weighted form, as a policy would call it: −log of random
        // probabilities.
        let costs: Vec<Vec<f64>> = (0..n)
            .map(|_| {
                (0..k)
                    .map(|_| -(rng.r#gen::<f64>().max(1e-12)).ln())
                    .collect()
            })
            .collect();
        let r = repair(&spec, &g, &set, Objective::Cost(&costs)).unwrap();
        assert!(is_valid(&spec, &g, &r.placement, &set));
    }
}

#[test]
fn an_already_valid_bert_placement_comes_back_unchanged_at_cost_zero() {
    let (spec, g) = bert_on_ring16();
    let set = spec.constraints;
    let valid = Placement::contiguous_balanced(&spec, &g);
    assert!(is_valid(&spec, &g, &valid, &set));
    let r = repair(
        &spec,
        &g,
        &set,
        Objective::FewestChanges(&valid.chiplet_of_op),
    )
    .unwrap();
    assert_eq!(r.placement, valid);
    assert_eq!((r.cost, r.proven_optimal), (0.0, true));
}

#[test]
fn a_node_limit_that_stops_the_search_is_reported() {
    // Prefix mode with every op proposed on the last of 16 chips: the
    // relaxation keeps them all there (cost 0), a valid placement must move
    // one op to each of the 15 chips before it, and proving that 15 is optimal
    // takes more than one branch-and-bound node.
    let (spec, g) = bert_on_ring16();
    let set = Constraints {
        no_skipping: NoSkipping::Prefix,
        ..spec.constraints
    };
    let proposal = vec![*spec.pipeline_order.last().unwrap(); g.ops().len()];
    let limited = repair_with(
        &spec,
        &g,
        &set,
        Objective::FewestChanges(&proposal),
        &RepairOptions { max_nodes: 1 },
    )
    .unwrap();
    assert!(is_valid(&spec, &g, &limited.placement, &set));
    assert!(!limited.proven_optimal);
    assert!(limited.lower_bound < limited.cost, "{limited:?}");
    let full = repair(&spec, &g, &set, Objective::FewestChanges(&proposal)).unwrap();
    assert!(full.proven_optimal);
    assert_eq!((full.cost, full.lower_bound), (15.0, 15.0));
    assert!(is_valid(&spec, &g, &full.placement, &set));
}
