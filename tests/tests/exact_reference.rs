//! `exact` against an independent solver: the CP-SAT reference results in
//! `tests/data/cpsat/results.csv` (produced by `tools/partition_cpsat.py`,
//! outside the suite; see `tests/data/cpsat/README.md` for the cases, the
//! packages and how the objective was matched to tessera's).
//!
//! Issue 14's targets, checked row by row on the analytic objective:
//! - where CP-SAT proved an optimum, `exact` proves the same value;
//! - where CP-SAT stopped at its time limit with a solution, `exact` is at
//!   least as good;
//! - where CP-SAT proved infeasibility, `exact` proves it too;
//! - `exact` is never worse than `dp`.
//!
//! `exact` runs as the command runs it at budget 1,000 (a node limit of
//! 1,000,000; deterministic). Known misses, where the targets are not met
//! yet, are listed in [`KNOWN_MISSES`]: there the test holds `exact` to its
//! recorded result (no regression) and to `dp`, and prints the gap to
//! CP-SAT.

use std::collections::BTreeMap;

use agent::load::Workload;
use agent::partition::exact::{Limits, Objective, solve};
use agent::partition::methods::SegmentModel;
use sim::SimOptions;
use sim::graph::Graph;
use sim::spec::HwSpec;
use tessera_tests::root;

/// Rows where `exact` does not meet the targets yet (package, model, chips):
/// Inception v2 unfused has more down-sets than the chain search takes, and
/// the op-by-op search neither finds CP-SAT's optimum nor proves a bound.
const KNOWN_MISSES: &[(&str, &str, u32)] = &[
    ("compute_only", "light_inception_v2_opset13", 4),
    ("compute_only", "light_inception_v2_opset13", 8),
    ("compute_only", "light_inception_v2_opset13", 16),
    ("ring_nostream", "light_inception_v2_opset13", 4),
    ("ring_nostream", "light_inception_v2_opset13", 8),
    ("ring_nostream", "light_inception_v2_opset13", 16),
    ("ring_nostream", "light_inception_v2_opset13", 36),
];

struct Row {
    source: String,
    model: String,
    chips: u32,
    package: String,
    sram_kib: u64,
    cpsat_status: String,
    cpsat_objective: Option<u64>,
    exact_objective: Option<u64>,
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(root().join("tests/data/cpsat/results.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let opt = |name: &str| f[col(name)].parse::<u64>().ok();
            Row {
                source: f[col("source")].to_string(),
                model: f[col("model")].to_string(),
                chips: f[col("chips")].parse().unwrap(),
                package: f[col("package")].to_string(),
                sram_kib: f[col("sram_kib")].parse().unwrap(),
                cpsat_status: f[col("cpsat_status")].to_string(),
                cpsat_objective: opt("cpsat_objective"),
                exact_objective: opt("exact_objective"),
            }
        })
        .collect()
}

/// The case's package, written as the script writes it.
fn spec(row: &Row) -> HwSpec {
    let (template, streaming) = match row.package.as_str() {
        "compute_only" => ("tests/data/cpsat/compute_only.toml", false),
        "ring_nostream" => ("hw_specs/edgetpu_ring16.toml", true),
        other => panic!("unknown package {other}"),
    };
    let mut text = std::fs::read_to_string(root().join(template)).unwrap();
    for (old, new) in [
        (
            "id_range = [0, 15]".to_string(),
            format!("id_range = [0, {}]", row.chips - 1),
        ),
        (
            "sram_kib = 8192".to_string(),
            format!("sram_kib = {}", row.sram_kib),
        ),
    ] {
        assert!(text.contains(&old), "{template}: no {old:?}");
        text = text.replace(&old, &new);
    }
    if streaming {
        let old = "chiplets = \"all\"\nweight_streaming = true";
        assert!(
            text.contains(old),
            "{template}: no weight streaming to turn off"
        );
        text = text.replace(old, "chiplets = \"all\"\nweight_streaming = false");
    }
    HwSpec::from_toml_str(&text, template).unwrap_or_else(|e| panic!("{e}"))
}

/// The case's graph: a zoo model with its defaults, or an ONNX file imported
/// without fusion.
fn graph(row: &Row) -> Graph {
    let params = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let workload = match row.source.as_str() {
        "zoo" => Workload::from_name(&row.model, BTreeMap::new()),
        "onnx" => {
            let path = root().join(format!("tests/data/onnx/{}.onnx", row.model));
            let kv: &[(&str, &str)] = match row.model.as_str() {
                "bert-base" | "gpt2-small" => {
                    &[("batch", "1"), ("sequence", "128"), ("fuse", "false")]
                }
                _ => &[("batch", "1"), ("fuse", "false")],
            };
            Workload::from_name(path.to_str().unwrap(), params(kv))
        }
        "onnx_light" => {
            let path = root().join(format!("tests/data/onnx/onnx_light/{}.onnx", row.model));
            Workload::from_name(path.to_str().unwrap(), params(&[("fuse", "false")]))
        }
        other => panic!("unknown source {other}"),
    };
    workload
        .load()
        .unwrap_or_else(|e| panic!("{}: {e}", row.model))
}

/// Checks every row of `package` whose source is in `sources`; returns the
/// report lines, panicking with all of them if any target is missed.
fn check(package: &str, sources: &[&str]) {
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in rows()
        .iter()
        .filter(|r| r.package == package && sources.contains(&r.source.as_str()))
    {
        let spec = spec(row);
        let g = graph(row);
        let options = SimOptions::default();
        let limits = Limits {
            time_limit_s: f64::INFINITY,
            node_limit: 1_000_000,
        };
        let o = solve(
            &spec,
            &g,
            &spec.constraints,
            &options,
            limits,
            Objective::Bottleneck,
        );
        let objective = o.best.as_ref().map(|(_, j)| *j);
        let dp = SegmentModel::new(&spec, &g, &spec.constraints, &options, true)
            .optimal()
            .map(|(_, v)| v);
        let name = format!("{} {}:{} on {}", package, row.source, row.model, row.chips);
        let known = KNOWN_MISSES.contains(&(package, row.model.as_str(), row.chips));
        let line = format!(
            "{name}: CP-SAT {} {:?}, exact {:?} ({}), dp {dp:?}{}",
            row.cpsat_status,
            row.cpsat_objective,
            objective,
            if o.proven { "proven" } else { "not proven" },
            if known { " [known miss]" } else { "" }
        );
        let mut fail = |why: &str| failures.push(format!("{line}: {why}"));
        if let (Some(e), Some(d)) = (objective, dp)
            && e > d
        {
            fail("exact is worse than dp");
        }
        if known {
            match (objective, row.exact_objective) {
                (Some(e), Some(recorded)) if e <= recorded => {}
                _ => fail("exact is worse than its recorded result"),
            }
        } else {
            match row.cpsat_status.as_str() {
                "OPTIMAL" if !(o.proven && objective == row.cpsat_objective) => {
                    fail("CP-SAT proved an optimum that exact does not prove");
                }
                "FEASIBLE"
                    if objective
                        .zip(row.cpsat_objective)
                        .is_none_or(|(e, c)| e > c) =>
                {
                    fail("exact is worse than CP-SAT's solution");
                }
                "INFEASIBLE" if !(o.proven && objective.is_none()) => {
                    fail("CP-SAT proved infeasibility that exact does not prove");
                }
                _ => {}
            }
        }
        lines.push(line);
        checked += 1;
    }
    assert!(checked > 0, "no rows for {package} {sources:?}");
    println!("{}", lines.join("\n"));
    assert!(
        failures.is_empty(),
        "targets missed:\n{}\n\nall rows:\n{}",
        failures.join("\n"),
        lines.join("\n")
    );
}

#[test]
fn exact_matches_cpsat_on_the_compute_only_package() {
    check("compute_only", &["zoo", "onnx"]);
}

#[test]
fn exact_matches_cpsat_on_the_ring_without_streaming() {
    check("ring_nostream", &["zoo", "onnx"]);
}

#[test]
fn exact_on_the_extra_onnx_graphs_holds_its_ground() {
    check("compute_only", &["onnx_light"]);
    check("ring_nostream", &["onnx_light"]);
}
