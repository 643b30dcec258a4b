//! The partition methods of the registry (`agent::partition::registry`) through
//! the `Search` interface: each returns only valid placements and stays
//! within its budget, the same seed gives the same search, `balance` never
//! ends below its start, and the stochastic methods stop when nothing new is
//! reachable. (`dp`'s optimality against brute force is tested beside it, in
//! `agent/src/partition/methods/dp.rs`.)

use std::collections::BTreeMap;
use std::path::Path;

use agent::partition::registry::{self, METHODS};
use agent::partition::search::{Evaluator, SearchProblem, SearchResult, score};
use sim::SimOptions;
use sim::constraints::check;
use sim::graph::Graph;
use sim::spec::HwSpec;

fn spec(name: &str) -> HwSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../hw_specs")
        .join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    HwSpec::from_toml_str(&text, &path.display().to_string()).unwrap()
}

fn model(name: &str, params: &[(&str, &str)]) -> Graph {
    let p: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    sim::zoo::build(name, &p).unwrap()
}

/// Small problems under their packages' own constraints: BERT (2 layers) on
/// the 4-chip Edge TPU ring (acyclic, `edge`, no triangle, SRAM with weight
/// streaming), the default MLP on the 4×4 mesh (acyclic, SRAM), an MLP
/// whose layers only fit the two chiplets that stream weights (`prefix`), and
/// a one-layer BERT (with a vocabulary small enough for one chiplet: this
/// package cannot stream weights) on the two-type package. The 2-layer BERT
/// runs its full 128 tokens, where activations bind: the simulator plans SRAM
/// exactly as the constraint does, so whatever a method returns is valid in
/// both.
fn problems() -> Vec<(HwSpec, Graph)> {
    vec![
        (
            spec("edgetpu_ring4"),
            model("bert-base", &[("layers", "2")]),
        ),
        (spec("mesh_4x4"), model("mlp", &[])),
        (
            spec("dram_weight_streaming"),
            model("mlp", &[("sizes", "1024,1024,512,512,1024,256")]),
        ),
        (
            spec("hetero_2type"),
            model(
                "bert-base",
                &[("layers", "1"), ("seq", "16"), ("vocab", "8000")],
            ),
        ),
    ]
}

fn search(method: &str, spec: &HwSpec, graph: &Graph, budget: u64, seed: u64) -> SearchResult {
    let problem = SearchProblem {
        spec,
        graph,
        constraints: spec.constraints,
        options: SimOptions {
            microbatches: 4,
            ..SimOptions::default()
        },
        budget,
        seed,
    };
    let mut eval = Evaluator::new(&problem).unwrap();
    let info = registry::lookup(method).unwrap_or_else(|e| panic!("{e}"));
    let mut m = info.build(&info.defaults(), budget);
    m.run(&problem, &mut eval)
        .unwrap_or_else(|e| panic!("{method} on {}: {e}", spec.name));
    let result = eval.finish(method, m.notes(), None);
    assert_eq!(result.failure, None, "{method}");
    result
}

/// The history without wall times, which are for the record only.
fn trace(r: &SearchResult) -> Vec<(u64, f64)> {
    r.history
        .iter()
        .map(|h| (h.evaluation, h.best_throughput_inferences_per_s))
        .collect()
}

#[test]
fn every_method_resolves_by_its_name() {
    for info in METHODS {
        let m = info.build(&info.defaults(), 1);
        assert_eq!(registry::lookup(info.name).unwrap().name, m.name());
    }
    assert!(registry::lookup("annealing").is_err());
}

#[test]
fn every_method_returns_a_valid_placement_within_its_budget() {
    const BUDGET: u64 = 20;
    for (spec, graph) in problems() {
        for method in registry::names() {
            let r = search(method, &spec, &graph, BUDGET, 1);
            let at = format!("{method} on {} / {}", graph.name(), spec.name);
            assert!(
                r.evaluations >= 1 && r.evaluations <= BUDGET,
                "{at}: {}",
                r.evaluations
            );
            if matches!(method, "greedy" | "dp") {
                assert_eq!(r.evaluations, 1, "{at}");
            }
            let (placement, report) = r.best.as_ref().unwrap_or_else(|| panic!("{at}: no result"));
            let violations = check(&spec, &graph, placement, &spec.constraints);
            assert!(violations.is_empty(), "{at}: {violations:?}");
            assert!(report.valid && score(report) > 0.0, "{at}");
            // One history point per simulator call, the best never falling.
            let t = trace(&r);
            assert_eq!(t.len() as u64, r.evaluations, "{at}");
            assert!(
                t.iter().enumerate().all(|(i, p)| p.0 == i as u64 + 1),
                "{at}"
            );
            assert!(t.windows(2).all(|w| w[0].1 <= w[1].1), "{at}");
            assert_eq!(t.last().unwrap().1, score(report), "{at}");
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_search() {
    for (spec, graph) in problems() {
        for method in registry::names() {
            let a = search(method, &spec, &graph, 12, 7);
            let b = search(method, &spec, &graph, 12, 7);
            let at = format!("{method} on {}", spec.name);
            assert_eq!(
                a.best.as_ref().map(|x| &x.0),
                b.best.as_ref().map(|x| &x.0),
                "{at}"
            );
            assert_eq!(
                a.best.as_ref().map(|x| &x.1),
                b.best.as_ref().map(|x| &x.1),
                "{at}"
            );
            assert_eq!(trace(&a), trace(&b), "{at}");
            assert_eq!(a.notes, b.notes, "{at}");
        }
    }
}

#[test]
fn random_and_annealing_spend_exactly_their_budget_when_there_is_room() {
    let (spec, graph) = &problems()[0];
    for method in ["random", "sa"] {
        for budget in [1, 9, 25] {
            let r = search(method, spec, graph, budget, 3);
            assert_eq!(r.evaluations, budget, "{method} with budget {budget}");
        }
    }
}

#[test]
fn stochastic_methods_stop_when_nothing_new_is_reachable() {
    // One op on four chiplets: four valid placements, however large the budget.
    let spec = spec("edgetpu_ring4");
    let graph = model("mlp", &[("sizes", "8,8")]);
    for method in ["random", "sa"] {
        let r = search(method, &spec, &graph, 500, 5);
        assert!(r.evaluations <= 4, "{method}: {}", r.evaluations);
    }
}

#[test]
fn balance_never_ends_below_its_start() {
    for (spec, graph) in problems() {
        // balance starts from the greedy segmentation, and scores it first.
        let start = search("greedy", &spec, &graph, 1, 0);
        let start = score(&start.best.unwrap().1);
        let r = search("balance", &spec, &graph, 30, 0);
        assert_eq!(r.history[0].best_throughput_inferences_per_s, start);
        assert!(score(&r.best.unwrap().1) >= start, "{}", spec.name);
    }
}

/// A partition scenario on the 4-chip ring with `options` (TOML lines under
/// `[task.options.sa]`), written to `dir`.
fn options_scenario(dir: &Path, options: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hw_specs/edgetpu_ring4.toml");
    let text = format!(
        "name = \"opts\"\nseed = 3\n\n[hardware]\nspec = {spec:?}\n\n[workload]\nmodel = \"bert-base\"\n\n\
         [workload.params]\nseq = 64\nlayers = 2\n\n[task]\nkind = \"partition\"\nmethod = \"sa\"\nbudget = 30\n\n\
         [task.options.sa]\n{options}\n\n[simulation]\nmicrobatches = 4\npacket_bytes = 4096\n\n[output]\nplots = \"none\"\n"
    );
    let path = dir.join("opts.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The history of a run's report.json, without wall times.
fn history(out: &Path) -> String {
    let csv = std::fs::read_to_string(out.join("history.csv")).unwrap();
    csv.lines()
        .map(|l| l.rsplit_once(',').map_or(l, |(head, _)| head).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn method_options_from_a_scenario_steer_the_search_and_reach_the_resolved_scenario() {
    let dir = tessera_tests::temp_dir("methods", "options");
    let run = |options: &str, tag: &str| {
        let scenario = options_scenario(&dir.join(tag), options);
        let out = dir.join(tag).join("out");
        let o = tessera_tests::tessera(&[
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        out
    };
    // Always shifting boundaries against never shifting them: the walks
    // differ, so the histories do.
    let shift = run("shift_probability = 1.0", "shift");
    let moves = run("shift_probability = 0.0", "moves");
    assert_ne!(history(&shift), history(&moves));
    // Defaults written out give the run with no options at all.
    let defaults = run("shift_probability = 0.5", "defaults");
    let none = run("", "none");
    assert_eq!(history(&defaults), history(&none));
    // The resolved scenario carries the option and reproduces the run.
    let resolved = shift.join("scenario.resolved.toml");
    let text = std::fs::read_to_string(&resolved).unwrap();
    assert!(text.contains("[task.options.sa]"), "{text}");
    let again = dir.join("again");
    let o = tessera_tests::tessera(&[
        "run",
        resolved.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(history(&again), history(&shift));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A method that fails after finding something keeps what it found: the
/// result carries the failure and the best placement so far.
#[test]
fn a_failing_method_keeps_what_it_found() {
    let spec = spec("mesh_4x4");
    let graph = model("mlp", &[]);
    let problem = SearchProblem {
        spec: &spec,
        graph: &graph,
        constraints: spec.constraints,
        options: SimOptions::default(),
        budget: 3,
        seed: 1,
    };
    let mut eval = Evaluator::new(&problem).unwrap();
    let p = sim::Placement::contiguous_balanced(&spec, &graph);
    assert!(eval.evaluate(&p).is_some_and(|s| s > 0.0));
    eval.note("start", "a fallback".to_string());
    let error = agent::SearchError::NoStart {
        near: "test proposal".to_string(),
    };
    let result = eval.finish(
        "m",
        vec![("k".to_string(), "v".to_string())],
        Some(error.clone()),
    );
    assert_eq!(result.failure, Some(error));
    assert_eq!(result.best.as_ref().map(|(q, _)| q), Some(&p));
    assert_eq!(result.evaluations, 1);
    assert_eq!(
        result.notes,
        vec![
            ("k".to_string(), "v".to_string()),
            ("start".to_string(), "a fallback".to_string())
        ]
    );
}

/// `exact` with `objective = "slot_aware"` from a scenario: the option is
/// read, reaches the resolved scenario, and the notes say which objective
/// ran; the slot-aware objective is never below the plain bottleneck of the
/// same placement, its bound never above it, and a word that is not an
/// objective is refused with the choices named.
#[test]
fn exact_runs_the_slot_aware_objective_from_a_scenario_and_says_so() {
    let dir = tessera_tests::temp_dir("methods", "slot_aware");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hw_specs/edgetpu_ring4.toml");
    let write = |objective: &str| {
        let text = format!(
            "name = \"slots\"\nseed = 1\n\n[hardware]\nspec = {spec:?}\n\n[workload]\nmodel = \"bert-base\"\n\n\
             [workload.params]\nseq = 64\nlayers = 2\n\n[task]\nkind = \"partition\"\nmethod = \"exact\"\nbudget = 10\n\n\
             [task.options.exact]\nobjective = \"{objective}\"\n\n[simulation]\nmicrobatches = 4\npacket_bytes = 4096\n\n\
             [output]\nplots = \"none\"\n"
        );
        let path = dir.join(format!("{objective}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    };
    let run = |scenario: &Path, out: &Path| {
        tessera_tests::tessera(&[
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
    };
    let notes = |out: &Path| -> BTreeMap<String, String> {
        let report = std::fs::read_to_string(out.join("report.json")).unwrap();
        let report: serde_json::Value = serde_json::from_str(&report).unwrap();
        let method = &report["result"]["methods"][0];
        assert_eq!(method["method"], "exact");
        method["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| {
                let kv = kv.as_array().unwrap();
                (
                    kv[0].as_str().unwrap().to_string(),
                    kv[1].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let cycles = |n: &BTreeMap<String, String>, key: &str| -> u64 {
        n[key].parse().unwrap_or_else(|e| panic!("{key}: {e}"))
    };
    let plain_out = dir.join("plain");
    let o = run(&write("bottleneck"), &plain_out);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let plain = notes(&plain_out);
    assert_eq!(plain["objective"], "bottleneck");
    assert!(!plain.contains_key("analytic_bottleneck_cycles"));

    let slots_out = dir.join("slots");
    let o = run(&write("slot_aware"), &slots_out);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let slots = notes(&slots_out);
    assert_eq!(slots["objective"], "slot_aware");
    assert_eq!(slots["analytic_status"], "optimal");
    let objective = cycles(&slots, "analytic_objective_cycles");
    assert!(objective >= cycles(&slots, "analytic_bottleneck_cycles"));
    assert!(cycles(&slots, "analytic_bound_cycles") <= objective);
    // Its optimum is no better than the bottleneck's on the same problem:
    // every placement's slot-aware objective is at least its bottleneck.
    assert!(objective >= cycles(&plain, "analytic_objective_cycles"));

    let resolved = slots_out.join("scenario.resolved.toml");
    let text = std::fs::read_to_string(&resolved).unwrap();
    assert!(text.contains("objective = \"slot_aware\""), "{text}");
    let again = dir.join("again");
    let o = run(&resolved, &again);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(notes(&again), slots);

    let o = run(&write("fastest"), &dir.join("bad"));
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("objective") && o.stderr.contains("slot_aware"),
        "{}",
        o.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
