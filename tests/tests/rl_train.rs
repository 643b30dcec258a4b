//! The train task through the command: a tiny pre-training scenario (BERT
//! with one layer on the 4-chip ring and two random problems, 4 batches of 4
//! episodes) writes its files, the same seed writes the same bytes, a run
//! stopped by Ctrl-C (the hidden `--interrupt-after-batches` hook) or killed
//! (`--crash-after-batches`, which leaves only the periodic checkpoint) and
//! resumed writes the same learning curve and checkpoint as one that never
//! stopped, and a foreign or damaged checkpoint or a broken corpus entry is
//! refused with exit code 2, a message naming the place, and nothing written.

use std::path::{Path, PathBuf};

use tessera_tests::{read_output as read, root, run_into as run};

fn scenario(tag: &str, body: &str) -> (PathBuf, PathBuf) {
    tessera_tests::scenario_in_temp_dir("train", tag, body)
}

const TINY: &str = tessera_tests::TINY_TRAIN;

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&read(dir, "report.json")).unwrap()
}

/// The files every comparison of two runs looks at.
const SAME: [&str; 2] = ["learning_curve.csv", "checkpoint.json"];

#[test]
fn a_tiny_run_writes_its_files_and_the_same_seed_the_same_bytes() {
    let (file, dir) = scenario("files", TINY);
    let (a, b) = (dir.join("a"), dir.join("b"));
    let o = run("run", &file, &a, &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(run("train", &file, &b, &[]).code, 0);
    for f in [
        "report.json",
        "checkpoint.json",
        "learning_curve.csv",
        "learning_curve.svg",
        "scenario.resolved.toml",
        "summary.txt",
    ] {
        assert_eq!(read(&a, f), read(&b, f), "{f} differs between two runs");
    }
    let csv = String::from_utf8(read(&a, "learning_curve.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "batch,problem,mean_reward,best_reward,entropy,policy_loss,value_loss,evaluations"
    );
    assert_eq!(lines.len(), 1 + 4);
    assert!(lines[1].starts_with("1,"), "{}", lines[1]);
    let r = report(&a);
    assert_eq!(r["task"], "train");
    assert_eq!(r["complete"], true);
    let result = &r["result"];
    assert_eq!(result["batches_done"], 4);
    assert_eq!(result["evaluations"], 16);
    let corpus = result["corpus"].as_array().unwrap();
    assert_eq!(corpus.len(), 3);
    assert_eq!(
        corpus[0]["name"],
        "bert-base layers=1 seq=32 on edgetpu_ring4"
    );
    assert!(
        corpus[1]["name"]
            .as_str()
            .unwrap()
            .starts_with("random-0 (")
    );
    let holdout = result["holdout"].as_array().unwrap();
    assert_eq!(holdout.len(), 1);
    assert!(holdout[0]["mean_reward"].as_f64().unwrap() > 0.0);
    assert!(holdout[0]["dp_reward"].as_f64().unwrap() > 0.0);
    // The resolved scenario runs again to the same bytes.
    let c = dir.join("c");
    let o = run("run", &a.join("scenario.resolved.toml"), &c, &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for f in SAME {
        assert_eq!(read(&a, f), read(&c, f), "{f}: resolved scenario differs");
    }
    // Another seed, other weights.
    let d = dir.join("d");
    assert_eq!(run("run", &file, &d, &["--seed", "6"]).code, 0);
    assert_ne!(read(&a, "checkpoint.json"), read(&d, "checkpoint.json"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C after batch 2 writes everything with the checkpoint there and
/// exits 130; resuming into the same directory finishes the run exactly as
/// if it had never stopped.
#[test]
fn an_interrupted_run_resumed_equals_an_uninterrupted_one() {
    let (file, dir) = scenario("interrupt", TINY);
    let (whole, part) = (dir.join("whole"), dir.join("part"));
    assert_eq!(run("run", &file, &whole, &[]).code, 0);
    let o = run("run", &file, &part, &["--interrupt-after-batches", "2"]);
    assert_eq!(o.code, 130, "{}", o.stderr);
    let r = report(&part);
    assert_eq!(r["complete"], false);
    assert_eq!(r["result"]["batches_done"], 2);
    assert!(r["result"]["holdout"].is_null());
    let csv = String::from_utf8(read(&part, "learning_curve.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2);
    let summary = String::from_utf8(read(&part, "summary.txt")).unwrap();
    assert!(summary.contains("interrupted after batch 2"), "{summary}");

    let checkpoint = part.join("checkpoint.json");
    let o = run(
        "train",
        &file,
        &part,
        &["--resume", checkpoint.to_str().unwrap()],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    for f in SAME {
        assert_eq!(
            read(&whole, f),
            read(&part, f),
            "{f} differs after resuming"
        );
    }
    let r = report(&part);
    assert_eq!(r["complete"], true);
    assert_eq!(r["result"]["resumed_at_batch"], 2);
    assert_eq!(r["result"]["holdout"], report(&whole)["result"]["holdout"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run that dies after batch 3 leaves the checkpoint of batch 2 (written
/// every 2 batches) and nothing else; resuming from it, into the same
/// directory, ends as the uninterrupted run.
#[test]
fn a_killed_run_resumes_from_its_periodic_checkpoint() {
    let (file, dir) = scenario("crash", TINY);
    let (whole, part) = (dir.join("whole"), dir.join("part"));
    assert_eq!(run("run", &file, &whole, &[]).code, 0);
    let o = run("train", &file, &part, &["--crash-after-batches", "3"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let names: Vec<String> = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["checkpoint.json"]);
    let checkpoint = part.join("checkpoint.json");
    let o = run(
        "train",
        &file,
        &part,
        &["--resume", checkpoint.to_str().unwrap()],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(report(&part)["result"]["resumed_at_batch"], 2);
    for f in SAME {
        assert_eq!(
            read(&whole, f),
            read(&part, f),
            "{f} differs after resuming"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_foreign_or_damaged_checkpoint_is_refused_with_nothing_written() {
    let (file, dir) = scenario("foreign", TINY);
    let a = dir.join("a");
    assert_eq!(run("run", &file, &a, &[]).code, 0);
    let checkpoint = a.join("checkpoint.json");
    let out = dir.join("never");
    let refused = |extra: &[&str], expect: &[&str]| {
        let o = run("train", &file, &out, extra);
        assert_eq!(o.code, 2, "{extra:?}: {}", o.stderr);
        for e in expect {
            assert!(o.stderr.contains(e), "{extra:?}: {e:?} not in {}", o.stderr);
        }
        assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
        assert!(!out.exists(), "{extra:?} wrote {}", out.display());
    };
    let path = checkpoint.to_str().unwrap();
    // Another seed: another run.
    refused(
        &["--resume", path, "--seed", "6"],
        &[
            "checkpoint.json",
            "not of this training run",
            "seed 5, this run's 6",
        ],
    );
    // Another corpus: the scenario with one random problem more.
    let (other, _) = scenario(
        "foreign-corpus",
        &TINY.replace("random_problems = 2", "random_problems = 3"),
    );
    let o = run("train", &other, &out, &["--resume", path]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("3 problems, this run has 4"),
        "{}",
        o.stderr
    );
    // A checkpoint past the batches the scenario asks for.
    let (short, _) = scenario(
        "foreign-short",
        &TINY.replace("\nbatches = 4", "\nbatches = 3"),
    );
    let o = run("train", &short, &out, &["--resume", path]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("at batch 4, past the 3 batches"),
        "{}",
        o.stderr
    );
    // Damaged: cut in half, or one number changed.
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    let cut = dir.join("cut.json");
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    refused(
        &["--resume", cut.to_str().unwrap()],
        &["cut.json", "not a tessera checkpoint"],
    );
    let key = "\"adam_step\":";
    let at = text.find(key).unwrap() + key.len();
    let end = at + text[at..].find(',').unwrap();
    let step: u64 = text[at..end].parse().unwrap();
    let bumped = dir.join("bumped.json");
    std::fs::write(
        &bumped,
        format!("{}{}{}", &text[..at], step + 1, &text[end..]),
    )
    .unwrap();
    refused(
        &["--resume", bumped.to_str().unwrap()],
        &["bumped.json", "checksum mismatch"],
    );
    refused(
        &["--resume", dir.join("missing.json").to_str().unwrap()],
        &["--resume", "missing.json"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn broken_corpus_entries_are_all_refused_naming_file_line_and_field() {
    let body = r#"seed = 1

[task]
kind = "train"
batches = 2

[[task.corpus]]
spec = "HW/edgetpu_ring5.toml"
model = "bert-base"

[[task.corpus]]
spec = "HW/edgetpu_ring4.toml"
model = "bert-bass"

[simulation]
microbatches = 4
packet_bytes = 4096
"#;
    let (file, dir) = scenario("broken", body);
    let out = dir.join("out");
    let o = run("run", &file, &out, &[]);
    assert_eq!(o.code, 2);
    let f = file.display().to_string();
    assert!(
        o.stderr
            .contains(&format!("{f}:8:8: task.corpus[0].spec: hardware spec file")),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains(&format!(
            "{f}:13:9: task.corpus[1].model: unknown model \"bert-bass\""
        )),
        "{}",
        o.stderr
    );
    assert!(!out.exists());

    // Read correctly, but one problem admits no valid placement and another
    // has a parameter out of range: both are found before anything runs.
    let body = r#"seed = 1

[task]
kind = "train"
batches = 2

[[task.corpus]]
spec = "HW/simba_6x6.toml"
model = "resnet50"

[[task.holdout]]
spec = "HW/edgetpu_ring4.toml"
model = "bert-base"
params = { seq = 4096 }

[simulation]
microbatches = 4
packet_bytes = 4096
"#;
    let (file, dir) = scenario("unplaceable", body);
    let o = run("train", &file, &out, &[]);
    assert_eq!(o.code, 2);
    let f = file.display().to_string();
    assert!(
        o.stderr.contains(&format!(
            "{f}:7:1: task.corpus[0]: resnet50 on simba_6x6: no baseline"
        )),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("task.holdout[0].params: bert-base: parameter seq"),
        "{}",
        o.stderr
    );
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tessera_train_runs_only_train_scenarios_and_resume_only_train_tasks() {
    let quickstart = root().join("scenarios/quickstart.toml");
    let out = tessera_tests::temp_dir("train", "kinds");
    let o = run("train", &quickstart, &out, &[]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("`tessera train` runs scenarios of kind \"train\"")
            && o.stderr.contains("\"simulate\""),
        "{}",
        o.stderr
    );
    let o = run("run", &quickstart, &out, &["--resume", "x.json"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("only a train or nas task continues from a checkpoint"),
        "{}",
        o.stderr
    );
    assert!(!out.exists());
}
