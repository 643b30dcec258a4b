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
use sim::constraints::{ConstraintSet, is_valid, sram_need};
use sim::graph::{DType, EltFunc, Graph};
use sim::graph::{GraphBuilder, Tensor};
use sim::spec::{ChipletId, HwSpec, NoSkipping};
use sim::zoo;

/// One step of a random graph over `[1, rows, width]` tensors.
#[derive(Clone, Debug)]
enum Step {
    Linear(usize, u64),
    Add(usize, usize),
    Relu(usize),
}

fn steps(max: usize) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            (any::<usize>(), prop::sample::select(vec![8u64, 16, 32]))
                .prop_map(|(a, n)| Step::Linear(a, n)),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Step::Add(a, b)),
            any::<usize>().prop_map(Step::Relu),
        ],
        1..max,
    )
}

/// A random DAG: an input ReLU, then each step reads earlier tensors (so
/// branches and joins occur).
fn graph(rows: u64, steps: &[Step]) -> Graph {
    let mut g = GraphBuilder::new("random", "random", DType::Int8);
    let x = g.input("x", &[1, rows, 16]);
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
                    g.eltwise(&name, EltFunc::Relu, &[&l], 0).unwrap()
                }
            }
            Step::Relu(a) => g.eltwise(&name, EltFunc::Relu, &[&pick(*a)], 0).unwrap(),
        };
        ts.push(t);
    }
    g.finish().expect("valid graph")
}

/// Which chiplets reach off-package memory that streams weights.
#[derive(Clone, Copy, Debug)]
enum Streaming {
    None,
    All,
    /// Only chiplet 0.
    First,
}

#[derive(Clone, Debug)]
struct SpecParams {
    /// The pipeline order: a permutation of the chiplet ids `0 .. n`.
    order: Vec<usize>,
    /// SRAM per chiplet as a fraction of what the whole graph needs on one
    /// chiplet (weights counted), so that it binds at every graph size.
    sram_fraction: f64,
    streaming: Streaming,
}

fn spec_params() -> impl Strategy<Value = SpecParams> {
    (
        prop_oneof![1 => Just(1usize), 6 => 2usize..=4]
            .prop_flat_map(|n| Just((0..n).collect::<Vec<usize>>()).prop_shuffle()),
        prop::sample::select(vec![0.25, 0.4, 0.6, 0.8, 1.5]),
        prop::sample::select(vec![Streaming::None, Streaming::All, Streaming::First]),
    )
        .prop_map(|(order, sram_fraction, streaming)| SpecParams {
            order,
            sram_fraction,
            streaming,
        })
}

/// Spec text for `p` with `sram_kib` per chiplet, in the style of
/// `sim_properties.rs`'s generator; the constraint modes are passed to repair
/// directly.
fn spec_toml(p: &SpecParams, sram_kib: u64) -> String {
    let n = p.order.len();
    let order: Vec<String> = p.order.iter().map(|c| c.to_string()).collect();
    let mut s = format!(
        "name = \"generated\"\nsource = [\"property test\"]\nnotes = \"generated\"\nclock_mhz = 1000\n\
         pipeline_order = [{}]\n[chiplet_types.t]\nmacs_per_cycle = 16\narray_rows = 4\narray_cols = 4\n\
         vector_elems_per_cycle = 4\nsram_kib = {}\nsram_bandwidth_bytes_per_cycle = 64\nop_overhead_cycles = 1\n\
         energy_per_mac_pj = 0.5\nenergy_per_sram_byte_pj = 0.25\n[[chiplets]]\nid_range = [0, {}]\ntype = \"t\"\n",
        order.join(", "),
        sram_kib,
        n - 1
    );
    if n > 1 {
        s += "[[topology]]\nkind = \"chain\"\nbidirectional = true\nbandwidth_bytes_per_cycle = 4\n\
              latency_cycles = 1\nenergy_per_bit_pj = 1.0\n";
    }
    s += "[routing]\nkind = \"shortest_path\"\n";
    let chiplets = match p.streaming {
        Streaming::None => None,
        Streaming::All => Some("\"all\""),
        Streaming::First => Some("[0]"),
    };
    if let Some(chiplets) = chiplets {
        s += &format!(
            "[memory]\ncapacity_mib = 64\nbandwidth_bytes_per_cycle = 8\nlatency_cycles = 10\n\
             energy_per_byte_pj = 10.0\nchiplets = {chiplets}\nweight_streaming = true\n"
        );
    }
    s += "[constraints]\nacyclic_dataflow = true\nno_skipping = \"off\"\nno_triangle = false\nsram_capacity = true\n";
    s
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
fn brute_force(spec: &HwSpec, g: &Graph, set: &ConstraintSet, obj: &Objective<'_>) -> Option<f64> {
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

/// The SRAM need of `g` with every op on one chiplet that keeps its weights.
fn sram_need_on_one_chiplet(g: &Graph) -> u64 {
    let p = SpecParams {
        order: vec![0],
        sram_fraction: 1.0,
        streaming: Streaming::None,
    };
    let spec = HwSpec::from_toml_str(&spec_toml(&p, 1), "one.toml").expect("valid spec");
    sram_need(&spec, g, &vec![ChipletId(0); g.ops().len()])[0]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Repair's optimum equals brute force's, its placement is valid and
    /// costs what it reports; and both agree on infeasibility.
    #[test]
    fn repair_is_exact_against_brute_force(
        steps in steps(8),  // 2 to 8 ops
        rows in prop::sample::select(vec![4u64, 8, 16, 32]),
        sp in spec_params(),
        set in constraint_set(),
        goal in goal(),
    ) {
        let g = graph(rows, &steps);
        let all_on_one = sram_need_on_one_chiplet(&g);
        let sram_kib = ((all_on_one as f64 * sp.sram_fraction) / 1024.0).ceil().max(1.0) as u64;
        let spec = HwSpec::from_toml_str(&spec_toml(&sp, sram_kib), "generated.toml").expect("valid spec");
        let (n, k) = (g.ops().len(), spec.n_chiplets());
        let proposal: Vec<ChipletId>;
        let costs: Vec<Vec<f64>>;
        let obj = match &goal {
            Goal::Changes(picks, spread) => {
                proposal = (0..n).map(|v| ChipletId(picks[v % picks.len()] % spread.min(&(k as u32)))).collect();
                Objective::FewestChanges(&proposal)
            }
            Goal::Costs(table) => {
                costs = (0..n).map(|v| (0..k).map(|c| table[(v * 4 + c) % table.len()]).collect()).collect();
                Objective::Cost(&costs)
            }
        };
        let want = brute_force(&spec, &g, &set, &obj);
        match (repair(&spec, &g, &set, obj), want) {
            (Ok(r), Some(best)) => {
                prop_assert!(is_valid(&spec, &g, &r.placement, &set), "invalid repair {:?}", r.placement);
                let own = value(&obj, &r.placement.chiplet_of_op);
                prop_assert!((own - r.cost).abs() <= 1e-9 * (1.0 + own.abs()), "reported {} but costs {own}", r.cost);
                prop_assert!((r.cost - best).abs() <= 1e-9 * (1.0 + best.abs()), "repair {} ({}), brute force {best}", r.cost, r.method);
                prop_assert!(r.proven_optimal);
            }
            (Err(e), None) => prop_assert!(e.proven, "{}", e.reason),
            (Ok(r), None) => prop_assert!(false, "repair found {:?} but brute force found nothing valid", r),
            (Err(e), Some(best)) => prop_assert!(false, "repair says infeasible ({}) but brute force found {best}", e.reason),
        }
    }
}

fn chain(n: usize) -> Graph {
    let mut g = GraphBuilder::new("chain", "chain", DType::Int8);
    let mut t = g.input("x", &[1, 4]);
    for i in 0..n {
        t = g
            .eltwise(&format!("op{i}"), EltFunc::Relu, &[&t], 0)
            .unwrap();
    }
    g.finish().expect("valid chain")
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
    let g = chain(200);
    let text = spec_toml(
        &SpecParams {
            order: vec![0, 1, 2, 3],
            sram_fraction: 1.0,
            streaming: Streaming::None,
        },
        64,
    );
    let spec = HwSpec::from_toml_str(&text, "chain4.toml").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(200);
    for mode in [NoSkipping::Edge, NoSkipping::Prefix] {
        let set = ConstraintSet {
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
    let set = ConstraintSet::of(&spec);
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
    let set = ConstraintSet::of(&spec);
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
    let set = ConstraintSet {
        no_skipping: NoSkipping::Prefix,
        ..ConstraintSet::of(&spec)
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
