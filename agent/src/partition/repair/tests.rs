//! Unit tests of repair's parts: the SRAM model against `sim`'s, the chain
//! count against enumeration, and the reasons given for infeasibility. The
//! exactness of the whole against brute force is a property test in
//! `tests/tests/repair.rs`.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::constraints::{Constraints, is_valid, sram_need};
use sim::graph::{DType, Graph, GraphBuilder};
use sim::spec::{ChipletId, ChipletType, HwSpec, NoSkipping};
use sim::testkit::{self, LinkProps, PackageRecipe, Topology};
use sim::zoo;

use super::sram::{SramModel, UNPLACED};
use super::*;

fn shipped(name: &str) -> HwSpec {
    let text = match name {
        "edgetpu_ring4" => include_str!("../../../../hw_specs/edgetpu_ring4.toml"),
        "edgetpu_ring16" => include_str!("../../../../hw_specs/edgetpu_ring16.toml"),
        "simba_6x6" => include_str!("../../../../hw_specs/simba_6x6.toml"),
        "hetero_2type" => include_str!("../../../../hw_specs/hetero_2type.toml"),
        _ => unreachable!("{name}"),
    };
    HwSpec::from_toml_str(text, name).unwrap()
}

fn model(name: &str, params: &[(&str, &str)]) -> Graph {
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    zoo::build(name, &params).unwrap()
}

fn random_proposal(rng: &mut ChaCha8Rng, n: usize, k: usize) -> Vec<ChipletId> {
    (0..n)
        .map(|_| ChipletId(rng.gen_range(0..k as u32)))
        .collect()
}

#[test]
fn sram_model_agrees_with_sim_on_full_placements_and_bounds_partial_ones() {
    for (spec, graph) in [
        (
            shipped("edgetpu_ring4"),
            model("bert-base", &[("layers", "2")]),
        ),
        (shipped("simba_6x6"), model("mobilenet-v2", &[])),
        (
            shipped("hetero_2type"),
            model("vit-ti16", &[("layers", "2")]),
        ),
    ] {
        let m = SramModel::new(&spec, &graph);
        let pos = spec.pipeline_positions();
        let (n, k) = (graph.ops().len(), spec.n_chiplets());
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for trial in 0..40 {
            // Random, and contiguous-ish (long runs on one chiplet).
            let chips: Vec<ChipletId> = if trial % 2 == 0 {
                random_proposal(&mut rng, n, k)
            } else {
                let cuts: Vec<usize> = (0..k).map(|_| rng.gen_range(0..n)).collect();
                (0..n)
                    .map(|v| ChipletId(cuts.iter().filter(|&&c| c < v).count().min(k - 1) as u32))
                    .collect()
            };
            let positions: Vec<u16> = chips.iter().map(|c| pos[c.idx()] as u16).collect();
            let want = sram_need(&spec, &graph, &chips);
            let got = m.needs(&positions);
            for c in 0..k {
                assert_eq!(got[pos[c]], want[c], "chiplet {c}, trial {trial}");
            }
            // Any subset placed bounds the full need from below.
            let partial: Vec<u16> = positions
                .iter()
                .map(|&p| if rng.gen_bool(0.5) { p } else { UNPLACED })
                .collect();
            for (lo, hi) in m.needs(&partial).iter().zip(&got) {
                assert!(lo <= hi);
            }
            for (v, &p) in positions.iter().enumerate() {
                let mut alone = vec![UNPLACED; n];
                alone[v] = p;
                assert_eq!(m.needs(&alone)[p as usize], m.own_need(v, p as usize));
                assert!(m.own_need(v, p as usize) <= got[p as usize]);
            }
        }
    }
}

/// Every SRAM implication `p(a) ≥ i ⇒ p(b) ≥ i + 1` names a pair whose ops
/// between them (found here by walking the graph) overflow the chiplet at
/// position `i` by `sim`'s own rule, so that no valid placement breaks it.
#[test]
fn sram_implications_name_pairs_whose_ops_between_overflow_the_chiplet() {
    let simba4 = HwSpec::from_toml_str(
        &include_str!("../../../../hw_specs/simba_6x6.toml")
            .replace("sram_kib = 752", "sram_kib = 4096"),
        "simba_6x6_4mib",
    )
    .unwrap();
    let ring_small = HwSpec::from_toml_str(
        &include_str!("../../../../hw_specs/edgetpu_ring4.toml")
            .replace("sram_kib = 8192", "sram_kib = 1024"),
        "edgetpu_ring4_1mib",
    )
    .unwrap();
    for (spec, graph, at_least) in [
        (simba4, model("resnet50", &[]), 100),
        (shipped("simba_6x6"), model("mobilenet-v2", &[]), 1),
        (
            shipped("hetero_2type"),
            model("vit-ti16", &[("layers", "2")]),
            0,
        ),
        (ring_small, model("bert-base", &[("layers", "2")]), 0),
    ] {
        let m = SramModel::new(&spec, &graph);
        let n = graph.ops().len();
        let mut succs = vec![Vec::new(); n];
        for e in graph.edges() {
            succs[e.from.idx()].push(e.to.0);
        }
        for s in &mut succs {
            s.sort_unstable();
            s.dedup();
        }
        let reach = |from: usize, forward: bool| -> Vec<bool> {
            let mut seen = vec![false; n];
            let mut stack = vec![from];
            seen[from] = true;
            while let Some(v) = stack.pop() {
                let next: Vec<usize> = if forward {
                    succs[v].iter().map(|&w| w as usize).collect()
                } else {
                    (0..n).filter(|&u| succs[u].contains(&(v as u32))).collect()
                };
                for w in next {
                    if !seen[w] {
                        seen[w] = true;
                        stack.push(w);
                    }
                }
            }
            seen
        };
        let implications = m.implications(&succs);
        let pairs: std::collections::BTreeSet<(u32, u32)> =
            implications.iter().map(|i| (i.a, i.b)).collect();
        assert!(
            pairs.len() >= at_least,
            "{} on {}: {} pairs",
            graph.name(),
            spec.name,
            pairs.len()
        );
        for imp in &implications {
            let (a, b, i) = (imp.a as usize, imp.b as usize, imp.from as usize);
            assert_eq!(imp.to as usize, i + 1);
            let (down, up) = (reach(a, true), reach(b, false));
            assert!(down[b], "no path from op {a} to op {b}");
            // The ops between a and b on chiplet c, every other op elsewhere.
            let c = spec.pipeline_order[i];
            let other = spec.pipeline_order[(i + 1) % spec.n_chiplets()];
            let chips: Vec<ChipletId> = (0..n)
                .map(|v| if down[v] && up[v] { c } else { other })
                .collect();
            let need = sram_need(&spec, &graph, &chips)[c.idx()];
            assert!(
                need > m.capacity[i],
                "{} on {}: ops {a}..{b} need {need} at position {i}, capacity {}",
                graph.name(),
                spec.name,
                m.capacity[i]
            );
        }
    }
}

fn chain(n: usize) -> Graph {
    testkit::chain(n, &[1, 4]).unwrap()
}

/// `n` small chiplets joined in a bidirectional chain (none for one chiplet),
/// acyclic dataflow and edge mode.
fn line_spec(n: usize) -> HwSpec {
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
    let link = LinkProps {
        bandwidth_bytes_per_cycle: 4,
        latency_cycles: 1,
        energy_per_bit_pj: 1.0,
    };
    let constraints = Constraints {
        acyclic_dataflow: true,
        no_skipping: NoSkipping::Edge,
        no_triangle: false,
        sram_capacity: false,
    };
    let chain = (n > 1).then_some((
        Topology::Chain {
            bidirectional: true,
        },
        link,
    ));
    PackageRecipe::uniform(n as u32, 1000.0, chiplet, chain, constraints)
        .build()
        .unwrap()
}

#[test]
fn chain_count_matches_enumeration_with_is_valid() {
    for mode in [NoSkipping::Off, NoSkipping::Edge, NoSkipping::Prefix] {
        for n_ops in 1..=6 {
            for k in 1..=4 {
                let (g, spec) = (chain(n_ops), line_spec(k));
                let set = Constraints {
                    acyclic_dataflow: true,
                    no_skipping: mode,
                    no_triangle: true,
                    sram_capacity: false,
                };
                let mut valid = 0u128;
                for code in 0..k.pow(n_ops as u32) {
                    let chiplet_of_op = (0..n_ops)
                        .map(|v| ChipletId((code / k.pow(v as u32) % k) as u32))
                        .collect();
                    if is_valid(&spec, &g, &Placement { chiplet_of_op }, &set) {
                        valid += 1;
                    }
                }
                assert_eq!(
                    count_valid_chain_placements(n_ops, k, mode),
                    Some(valid),
                    "{mode:?}, {n_ops} ops, {k} chiplets"
                );
            }
        }
    }
}

#[test]
fn an_op_too_big_for_every_sram_is_named() {
    // ResNet-50's 3×3 convolutions in layer 4 hold 2.4 MB of weights; a Simba
    // chiplet has 752 KiB and no memory to stream from.
    let spec = shipped("simba_6x6");
    let g = model("resnet50", &[]);
    let set = spec.constraints;
    let proposal = vec![ChipletId(0); g.ops().len()];
    let err = repair(&spec, &g, &set, Objective::FewestChanges(&proposal)).unwrap_err();
    assert!(err.proven);
    assert!(
        err.reason.starts_with("sram_capacity: op "),
        "{}",
        err.reason
    );
    assert!(err.reason.contains("770048 bytes"), "{}", err.reason);
}

#[test]
fn activations_too_big_for_every_sram_are_named_even_when_weights_stream() {
    // The Edge TPU ring streams weights, but at 64 KiB per chip BERT's first
    // ops cannot hold their own activations.
    let text = include_str!("../../../../hw_specs/edgetpu_ring4.toml")
        .replace("sram_kib = 8192", "sram_kib = 64");
    let spec = HwSpec::from_toml_str(&text, "edgetpu_ring4.toml").unwrap();
    let g = model("bert-base", &[("layers", "1")]);
    let set = spec.constraints;
    let proposal = vec![ChipletId(0); g.ops().len()];
    let err = repair(&spec, &g, &set, Objective::FewestChanges(&proposal)).unwrap_err();
    assert!(err.proven);
    assert!(
        err.reason.starts_with("sram_capacity: op 0 (")
            && err.reason.contains("streamed, so not counted")
            && err.reason.contains("holds only 65536 bytes"),
        "{}",
        err.reason
    );
}

#[test]
fn weights_beyond_all_sram_together_are_reported() {
    // 4 chiplets of 64 KiB, 8 linears of 48 KiB each: every op fits alone,
    // the model does not.
    let mut g = GraphBuilder::new("wide", "wide", DType::Int8);
    let mut t = g.input("x", &[1, 1, 192]);
    for i in 0..8 {
        t = g.linear(&format!("fc{i}"), &t, 192, false).unwrap();
        let _ = i;
    }
    let g = g.finish().unwrap();
    let spec = line_spec(4);
    let set = Constraints {
        sram_capacity: true,
        ..spec.constraints
    };
    let proposal = vec![ChipletId(0); g.ops().len()];
    let err = repair(&spec, &g, &set, Objective::FewestChanges(&proposal)).unwrap_err();
    assert!(err.proven);
    assert!(
        err.reason
            .starts_with("sram_capacity: the model's weights (294912 bytes) exceed"),
        "{}",
        err.reason
    );
}

#[test]
fn bad_objectives_are_refused_with_a_reason() {
    let spec = line_spec(2);
    let g = chain(3);
    let set = spec.constraints;
    let short = repair(&spec, &g, &set, Objective::FewestChanges(&[ChipletId(0)])).unwrap_err();
    assert!(short.reason.contains("1 entries"), "{}", short.reason);
    let nan = vec![vec![0.0, f64::NAN]; 3];
    let err = repair(&spec, &g, &set, Objective::Cost(&nan)).unwrap_err();
    assert!(err.reason.contains("NaN"), "{}", err.reason);
    let forbidden = vec![vec![f64::INFINITY; 2], vec![0.0; 2], vec![0.0; 2]];
    let err = repair(&spec, &g, &set, Objective::Cost(&forbidden)).unwrap_err();
    assert!(
        err.reason.contains("+inf on every chiplet"),
        "{}",
        err.reason
    );
}

#[test]
fn infinite_costs_forbid_chiplets() {
    let spec = line_spec(3);
    let g = chain(4);
    let set = spec.constraints;
    // Op 3 may only sit on chiplet 2; edge mode then pulls op 2 to 1 or 2.
    let mut cost = vec![vec![0.0, 1.0, 2.0]; 4];
    cost[3] = vec![f64::INFINITY, f64::INFINITY, 0.0];
    let r = repair(&spec, &g, &set, Objective::Cost(&cost)).unwrap();
    assert_eq!(
        r.placement.chiplet_of_op,
        vec![ChipletId(0), ChipletId(0), ChipletId(1), ChipletId(2)]
    );
    assert_eq!(r.cost, 1.0);
}
