//! The nas task through the command: a short search (a narrow CifarNet on
//! the digits, one epoch per candidate, scored for latency on the 4-chip
//! ring) writes its files, the same seed writes the same bytes (all but
//! `timing.csv`, the wall-clock record), `--max-budget` caps the trials, a
//! search stopped by Ctrl-C (the hidden `--interrupt-after-trials` hook)
//! and resumed writes what an uninterrupted one writes, a front network's
//! lowered graph runs as a simulate scenario's workload and its IR file
//! seeds another search, and a foreign checkpoint is refused with exit code
//! 2 and nothing written.

use std::path::{Path, PathBuf};

use tessera_cli::cli::Outcome;
use tessera_tests::{
    assert_same_outputs as assert_same, files_but_timing as files, read_output as read, root,
};

fn run(scenario: &Path, out: &Path, extra: &[&str]) -> Outcome {
    tessera_tests::run_into("run", scenario, out, extra)
}

/// A scenario file in a fresh directory of its own (`tag` names it), with
/// `body`'s `HW/` standing for the shipped specs' directory.
fn scenario(tag: &str, body: &str) -> (PathBuf, PathBuf) {
    let dir = tessera_tests::temp_dir("nas", tag);
    std::fs::create_dir_all(&dir).unwrap();
    let hw = root().join("hw_specs");
    let path = dir.join("tiny.toml");
    std::fs::write(&path, body.replace("HW/", &format!("{}/", hw.display()))).unwrap();
    (path, dir)
}

const TINY: &str = r#"name = "tiny"
seed = 3

[hardware]
spec = "HW/edgetpu_ring4.toml"

[task]
kind = "nas"
trials = 6
population = 4
objective = "latency"

[task.network]
name = "cifarnet"
width = 4

[task.data]
set = "digits"

[task.training]
epochs = 1
batch_size = 64

[task.scoring]
method = "dp"
budget = 50

[simulation]
microbatches = 2
packet_bytes = 4096
steady_state = "fixed"
"#;

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&read(dir, "report.json")).unwrap()
}

#[test]
fn a_short_search_writes_its_files_and_the_same_seed_the_same_bytes() {
    let (file, dir) = scenario("files", TINY);
    let (a, b) = (dir.join("a"), dir.join("b"));
    let o = run(&file, &a, &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(run(&file, &b, &[]).code, 0);
    assert_same(&a, &b, "two runs of one seed");
    let names = files(&a);
    for f in [
        "report.json",
        "checkpoint.json",
        "trials.csv",
        "pareto.csv",
        "pareto_params.svg",
        "pareto_macs.svg",
        "pareto_latency.svg",
        "scenario.resolved.toml",
        "summary.txt",
    ] {
        assert!(names.iter().any(|n| n == f), "{f} missing: {names:?}");
    }
    assert!(a.join("timing.csv").is_file());
    let csv = String::from_utf8(read(&a, "trials.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("trial,parent,kind,block,props_before,props_after"));
    assert_eq!(lines.len(), 1 + 6);
    assert!(lines[1].starts_with("0,,seed,"), "{}", lines[1]);
    let r = report(&a);
    assert_eq!(r["task"], "nas");
    assert_eq!(r["complete"], true);
    let result = &r["result"];
    assert_eq!(result["trials_done"], 6);
    assert_eq!(result["stop"], "budget");
    assert_eq!(result["frozen_blocks"], serde_json::json!(["logits"]));
    // The front: every member has its test accuracy, its IR file and its
    // lowered graph; pareto.csv has one row each.
    let front = result["front"].as_array().unwrap();
    assert!(!front.is_empty());
    let pareto = String::from_utf8(read(&a, "pareto.csv")).unwrap();
    assert_eq!(pareto.lines().count(), 1 + front.len());
    for m in front {
        let t = m["trial"].as_u64().unwrap();
        let acc = m["test_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{acc}");
        assert!(m["latency_cycles"].as_u64().unwrap() > 0);
        assert!(names.contains(&format!("front_{t}.json")));
        assert!(names.contains(&format!("front_{t}.graph.json")));
    }
    // No member of the front is beaten by another in both accuracy and cost.
    for x in front {
        for y in front {
            let better = y["val_accuracy"].as_f64() >= x["val_accuracy"].as_f64()
                && y["cost"].as_f64() <= x["cost"].as_f64()
                && y["trial"] != x["trial"];
            let strictly = y["val_accuracy"].as_f64() > x["val_accuracy"].as_f64()
                || y["cost"].as_f64() < x["cost"].as_f64();
            assert!(!(better && strictly), "{x} is dominated by {y}");
        }
    }
    // The resolved scenario runs again to the same bytes.
    let c = dir.join("c");
    let o = run(&a.join("scenario.resolved.toml"), &c, &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for f in ["trials.csv", "pareto.csv", "checkpoint.json"] {
        assert_eq!(read(&a, f), read(&c, f), "{f}: resolved scenario differs");
    }
    // Another seed, another search.
    let d = dir.join("d");
    assert_eq!(run(&file, &d, &["--seed", "4"]).code, 0);
    assert_ne!(read(&a, "trials.csv"), read(&d, "trials.csv"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn max_budget_caps_the_trials() {
    let (file, dir) = scenario("cap", TINY);
    let out = dir.join("out");
    let o = run(&file, &out, &["--max-budget", "2"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = report(&out);
    assert_eq!(r["result"]["trials"], 2);
    assert_eq!(r["result"]["trials_done"], 2);
    let csv = String::from_utf8(read(&out, "trials.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C after trial 3 writes everything with the checkpoint there and
/// exits 130; resuming into the same directory finishes the search exactly
/// as if it had never stopped.
#[test]
fn an_interrupted_search_resumed_equals_an_uninterrupted_one() {
    let (file, dir) = scenario("interrupt", TINY);
    let (whole, part) = (dir.join("whole"), dir.join("part"));
    assert_eq!(run(&file, &whole, &[]).code, 0);
    let o = run(&file, &part, &["--interrupt-after-trials", "3"]);
    assert_eq!(o.code, 130, "{}", o.stderr);
    let r = report(&part);
    assert_eq!(r["complete"], false);
    assert_eq!(r["result"]["trials_done"], 3);
    assert_eq!(r["result"]["stop"], "interrupted");
    assert!(r["result"]["front"][0]["test_accuracy"].is_null());
    let summary = String::from_utf8(read(&part, "summary.txt")).unwrap();
    assert!(summary.contains("continue with --resume"), "{summary}");

    let checkpoint = part.join("checkpoint.json");
    let o = run(&file, &part, &["--resume", checkpoint.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for f in files(&whole) {
        if f == "report.json" || f == "summary.txt" {
            continue; // they say the run was resumed
        }
        assert_eq!(
            read(&whole, &f),
            read(&part, &f),
            "{f} differs after resuming"
        );
    }
    let (rw, rp) = (report(&whole), report(&part));
    assert_eq!(rp["result"]["resumed_at_trial"], 3);
    assert_eq!(rp["result"]["front"], rw["result"]["front"]);
    assert_eq!(rp["result"]["hypervolume"], rw["result"]["hypervolume"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_checkpoint_of_another_search_is_refused_and_nothing_written() {
    let (file, dir) = scenario("foreign", TINY);
    let first = dir.join("first");
    assert_eq!(run(&file, &first, &["--max-budget", "2"]).code, 0);
    let checkpoint = first.join("checkpoint.json");
    let other = dir.join("other");
    let o = run(
        &file,
        &other,
        &["--seed", "9", "--resume", checkpoint.to_str().unwrap()],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("another search: seed was"),
        "{}",
        o.stderr
    );
    assert!(!other.exists());
    // Nor is a file that is not a checkpoint.
    let o = run(
        &file,
        &other,
        &["--resume", first.join("trials.csv").to_str().unwrap()],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("not a search checkpoint"), "{}", o.stderr);
    assert!(!other.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A front network's lowered graph is a workload a simulate scenario runs,
/// and its IR file seeds another search.
#[test]
fn front_networks_simulate_and_seed_a_search() {
    let (file, dir) = scenario("front", TINY);
    let out = dir.join("out");
    assert_eq!(run(&file, &out, &["--max-budget", "3"]).code, 0);
    let t = report(&out)["result"]["front"][0]["trial"]
        .as_u64()
        .unwrap();
    let graph = out.join(format!("front_{t}.graph.json"));
    let net = out.join(format!("front_{t}.json"));
    let simulate = format!(
        "seed = 1\n\n[hardware]\nspec = \"HW/edgetpu_ring4.toml\"\n\n[workload]\ngraph = {:?}\n\n\
         [task]\nkind = \"simulate\"\n\n[simulation]\nmicrobatches = 2\npacket_bytes = 4096\n",
        graph.to_str().unwrap()
    );
    let (sim_file, _) = scenario("front-sim", &simulate);
    let o = run(&sim_file, &dir.join("sim"), &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let seeded = TINY.replace(
        "name = \"cifarnet\"\nwidth = 4",
        &format!("file = {:?}", net.to_str().unwrap()),
    );
    assert_ne!(seeded, TINY);
    let (seeded_file, _) = scenario("front-seed", &seeded);
    let o = run(&seeded_file, &dir.join("seeded"), &["--max-budget", "2"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(sim_file.parent().unwrap());
    let _ = std::fs::remove_dir_all(seeded_file.parent().unwrap());
}
