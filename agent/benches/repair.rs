//! Benchmarks of exact repair (`agent::partition::repair`) on random
//! proposals, named after the packages and models they repair, with fixed
//! seeds.
//!
//! Run with `cargo bench -p agent --bench repair`. Before divan's timings,
//! the benchmark prints the distribution of single-repair wall times (median,
//! p95, max) over 200 random proposals per case, with how many needed branch
//! and bound and how many were proven optimal; divan's table then times the
//! same proposals in rotation.
//!
//! Cases:
//! - `bert_base_ring16_*`: BERT-base (189 ops) on `edgetpu_ring16` with its
//!   constraints (acyclic, no skipping = edge, no triangle, SRAM with streamed
//!   weights): fewest changes from a uniform random proposal, and least cost
//!   for random −log probabilities.
//! - `bert_base_ring16_prefix`: the same with no skipping = prefix.
//! - `vit_s16_simba`: ViT-S/16 on `simba_6x6` with its constraints (acyclic,
//!   SRAM with resident weights, 80% of the package's SRAM).
//! - `bert_base_simba`: BERT-base on `simba_6x6`, which cannot fit (the word
//!   embedding alone exceeds a chiplet's SRAM): the time to say so.

use std::collections::BTreeMap;
use std::time::Instant;

use agent::partition::repair::{Objective, repair};
use divan::Bencher;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::constraints::ConstraintSet;
use sim::graph::Graph;
use sim::spec::{ChipletId, HwSpec, NoSkipping};
use sim::zoo;

const RING16: &str = include_str!("../../hw_specs/edgetpu_ring16.toml");
const SIMBA: &str = include_str!("../../hw_specs/simba_6x6.toml");

/// One benchmark case: a package, a model, constraints and an objective kind.
struct Case {
    name: &'static str,
    spec: HwSpec,
    graph: Graph,
    set: ConstraintSet,
    /// Random proposals (fewest changes) or random cost tables.
    proposals: Vec<Vec<ChipletId>>,
    costs: Vec<Vec<Vec<f64>>>,
}

fn case(name: &'static str, spec_text: &str, model: &str, prefix: bool, weighted: bool) -> Case {
    let spec = HwSpec::from_toml_str(spec_text, name).expect("shipped spec");
    let graph = zoo::build(model, &BTreeMap::new()).expect("zoo model");
    let mut set = ConstraintSet::of(&spec);
    if prefix {
        set.no_skipping = NoSkipping::Prefix;
    }
    let (n, k) = (graph.ops().len(), spec.n_chiplets() as u32);
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut proposals = Vec::new();
    let mut costs = Vec::new();
    for _ in 0..200 {
        if weighted {
            costs.push(
                (0..n)
                    .map(|_| {
                        (0..k)
                            .map(|_| -(rng.r#gen::<f64>().max(1e-12)).ln())
                            .collect()
                    })
                    .collect(),
            );
        } else {
            proposals.push((0..n).map(|_| ChipletId(rng.gen_range(0..k))).collect());
        }
    }
    Case {
        name,
        spec,
        graph,
        set,
        proposals,
        costs,
    }
}

impl Case {
    fn len(&self) -> usize {
        self.proposals.len().max(self.costs.len())
    }

    fn objective(&self, i: usize) -> Objective<'_> {
        if self.costs.is_empty() {
            Objective::FewestChanges(&self.proposals[i])
        } else {
            Objective::Cost(&self.costs[i])
        }
    }

    /// Repairs proposal `i`; returns (branch-and-bound used, proven, feasible).
    fn run(&self, i: usize) -> (bool, bool, bool) {
        match repair(&self.spec, &self.graph, &self.set, self.objective(i)) {
            Ok(r) => (r.method != "min-cut", r.proven_optimal, true),
            Err(e) => (false, e.proven, false),
        }
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "bert_base_ring16_changes",
            RING16,
            "bert-base",
            false,
            false,
        ),
        case("bert_base_ring16_cost", RING16, "bert-base", false, true),
        case("bert_base_ring16_prefix", RING16, "bert-base", true, false),
        case("vit_s16_simba", SIMBA, "vit-s16", false, false),
        case("bert_base_simba", SIMBA, "bert-base", false, false),
    ]
}

fn main() {
    if std::env::args().any(|a| a == "--bench") {
        print_distributions();
    }
    divan::main();
}

/// Wall time of each repair, one by one, summarised per case.
fn print_distributions() {
    println!(
        "{:<26} {:>5} {:>10} {:>10} {:>10} {:>6} {:>7} {:>8}",
        "case", "runs", "median_ms", "p95_ms", "max_ms", "b&b", "proven", "feasible"
    );
    for c in cases() {
        let mut ms = Vec::new();
        let (mut bnb, mut proven, mut feasible) = (0, 0, 0);
        for i in 0..c.len() {
            let t = Instant::now();
            let (b, p, f) = c.run(i);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            bnb += usize::from(b);
            proven += usize::from(p);
            feasible += usize::from(f);
        }
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        println!(
            "{:<26} {:>5} {:>10.3} {:>10.3} {:>10.3} {:>6} {:>7} {:>8}",
            c.name,
            ms.len(),
            at(0.5),
            at(0.95),
            at(1.0),
            bnb,
            proven,
            feasible
        );
    }
}

#[divan::bench(args = ["bert_base_ring16_changes", "bert_base_ring16_cost", "bert_base_ring16_prefix", "vit_s16_simba", "bert_base_simba"])]
fn repair_random_proposal(bencher: Bencher, name: &str) {
    let c = cases().into_iter().find(|c| c.name == name).expect("case");
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) % c.len();
        c.run(i)
    });
}
