//! A nas search in generations (`task.generation_size = 4`) through the
//! command: the shipped `nas_digits.toml` at 9 trials (the seed, then two
//! generations of four) run on two threads writes the same bytes as the
//! same search run on one thread in three pieces: stopped by Ctrl-C (the
//! hidden `--interrupt-after-trials` hook, heeded between generations),
//! resumed (on two threads) to a budget that ends inside a generation (its
//! scored children pending in the checkpoint), and resumed again to the
//! full budget. (One test, not three: each nas run trains for seconds.)
//! And a generation's trials evaluated by a job pool (what the Python
//! package's Ray runner gives the run) write the same search; a pool
//! interrupted mid-generation leaves what Ctrl-C between generations
//! leaves.

use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tessera_cli::cli::Outcome;
use tessera_cli::run::{JobPool, PoolError, RunArgs, run_job};
use tessera_tests::{files_but_timing as files, read_output as read, root};

fn run(scenario: &Path, out: &Path, extra: &[&str]) -> Outcome {
    tessera_tests::run_into("run", scenario, out, extra)
}

fn assert_same_files(a: &Path, b: &Path) {
    tessera_tests::assert_same_outputs(a, b, "pool");
}

/// `nas_digits.toml` with generations of 4, in a fresh directory of its own
/// (its spec path made absolute).
fn scenario(tag: &str) -> (PathBuf, PathBuf) {
    let dir = tessera_tests::temp_dir("nasgen", tag);
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/nas_digits.toml")).unwrap();
    let spec = "spec = \"../hw_specs/edgetpu_ring4.toml\"";
    let population = "population = 12\n";
    assert!(
        text.contains(spec) && text.contains(population),
        "nas_digits.toml changed"
    );
    let hw = root().join("hw_specs/edgetpu_ring4.toml");
    let text = text
        .replace(spec, &format!("spec = {:?}", hw.to_str().unwrap()))
        .replace(population, "population = 12\ngeneration_size = 4\n");
    let path = dir.join("nas_digits.toml");
    std::fs::write(&path, text).unwrap();
    (path, dir)
}

fn json(dir: &Path, file: &str) -> serde_json::Value {
    serde_json::from_slice(&read(dir, file)).unwrap()
}

#[test]
fn generations_give_the_same_search_on_any_thread_count_and_resumed() {
    let (file, dir) = scenario("threads");
    let (two, part) = (dir.join("two"), dir.join("part"));
    let o = run(&file, &two, &["--max-budget", "9", "--threads", "2"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = json(&two, "report.json");
    assert_eq!(r["result"]["trials_done"], 9);
    assert_eq!(r["result"]["generation_size"], 4);
    let resolved = String::from_utf8(read(&two, "scenario.resolved.toml")).unwrap();
    assert!(resolved.contains("generation_size = 4"), "{resolved}");
    // Parents come from the population as the generation began: never a
    // child of the same generation.
    let csv = String::from_utf8(read(&two, "trials.csv")).unwrap();
    for line in csv.lines().skip(2) {
        let mut cells = line.split(',');
        let trial: u64 = cells.next().unwrap().parse().unwrap();
        let parent: u64 = cells.next().unwrap().parse().unwrap();
        assert!(parent < 1 + (trial - 1) / 4 * 4, "{line}");
    }

    // The same search on one thread, in three pieces. Ctrl-C once 2
    // trials ran: heeded after the first generation (the seed, then trials
    // 1–4).
    let o = run(
        &file,
        &part,
        &[
            "--max-budget",
            "9",
            "--threads",
            "1",
            "--interrupt-after-trials",
            "2",
        ],
    );
    assert_eq!(o.code, 130, "{}", o.stderr);
    assert_eq!(json(&part, "report.json")["result"]["trials_done"], 5);
    let checkpoint = part.join("checkpoint.json");
    let resume = ["--resume", checkpoint.to_str().unwrap()];
    // Resumed to 7 trials (on two threads): the budget ends inside the
    // generation of trials 5–8, whose scored children are pending in the
    // checkpoint.
    let o = run(
        &file,
        &part,
        &[&["--max-budget", "7", "--threads", "2"], &resume[..]].concat(),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let seven = json(&part, "checkpoint.json");
    let trained_5_to_6 = seven["records"].as_array().unwrap()[5..7]
        .iter()
        .filter(|r| r["outcome"] == "trained")
        .count();
    let pending = seven
        .get("pending")
        .map_or(0, |p| p.as_array().unwrap().len());
    assert_eq!(pending, trained_5_to_6);
    assert!(
        pending > 0,
        "no child of trials 5–6 was scored: nothing pending"
    );
    // Resumed to the full 9 on one thread: every file as the uninterrupted
    // two-thread run wrote it, but for the report's and the summary's word
    // that it was resumed.
    let o = run(
        &file,
        &part,
        &[&["--max-budget", "9", "--threads", "1"], &resume[..]].concat(),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(files(&two), files(&part));
    for f in files(&two) {
        if f == "report.json" || f == "summary.txt" {
            continue;
        }
        assert_eq!(read(&two, &f), read(&part, &f), "{f} differs");
    }
    let (mut rw, mut rp) = (json(&two, "report.json"), json(&part, "report.json"));
    assert_eq!(rp["result"]["resumed_at_trial"], 7);
    rw["result"]["resumed_at_trial"] = serde_json::Value::Null;
    rp["result"]["resumed_at_trial"] = serde_json::Value::Null;
    assert_eq!(rw, rp, "the reports differ beyond where the run resumed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The library's run of `scenario` into `out`, quiet, as the Python package
/// runs it.
fn lib_args(scenario: &Path, out: &Path) -> RunArgs {
    RunArgs {
        max_budget: Some(5),
        threads: Some(1),
        ..tessera_tests::library_run_args(scenario, out)
    }
}

/// A pool of 3 that runs its jobs last first; interrupted at call
/// `interrupt_at` (0-based) if given.
fn pool(calls: Arc<AtomicUsize>, interrupt_at: Option<usize>) -> JobPool {
    JobPool::new(3, move |jobs: Vec<String>| {
        if interrupt_at == Some(calls.fetch_add(1, Ordering::SeqCst)) {
            return Err(PoolError::Interrupted);
        }
        let mut out = vec![String::new(); jobs.len()];
        for (i, job) in jobs.iter().enumerate().rev() {
            out[i] = run_job(job).map_err(|e| PoolError::Failed(e.message))?;
        }
        Ok(out)
    })
}

#[test]
fn trials_evaluated_by_a_pool_give_the_same_search() {
    let (file, dir) = scenario("pool");
    let (here, pooled) = (dir.join("here"), dir.join("pooled"));
    let o = tessera_cli::run::run(&lib_args(&file, &here)).unwrap();
    assert!(!o.interrupted);
    let calls = Arc::new(AtomicUsize::new(0));
    let o = tessera_cli::run::run(&RunArgs {
        pool: Some(pool(Arc::clone(&calls), None)),
        ..lib_args(&file, &pooled)
    })
    .unwrap();
    assert!(!o.interrupted);
    // The seed, then one generation of four.
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_same_files(&here, &pooled);

    // Interrupted while the first generation's trials are out: the run
    // stands after the seed, as Ctrl-C heeded there leaves it.
    let (ctrl_c, cut) = (dir.join("ctrl-c"), dir.join("cut"));
    let o = tessera_cli::run::run(&RunArgs {
        interrupt_after_trials: Some(1),
        ..lib_args(&file, &ctrl_c)
    })
    .unwrap();
    assert!(o.interrupted);
    let o = tessera_cli::run::run(&RunArgs {
        pool: Some(pool(Arc::new(AtomicUsize::new(0)), Some(1))),
        ..lib_args(&file, &cut)
    })
    .unwrap();
    assert!(o.interrupted);
    assert_eq!(json(&cut, "report.json")["result"]["trials_done"], 1);
    assert_same_files(&ctrl_c, &cut);

    // A job that is not this build's, or whose scenario rebuilds to
    // another digest, is refused in one line.
    let job = r#"{"job":"nas_trial","format_version":1,"scenario_toml":"name = 3","digest":"x","trial":1,"net":{}}"#;
    let e = run_job(job).unwrap_err();
    assert!(e.message.starts_with("job: "), "{}", e.message);
    let resolved = String::from_utf8(read(&here, "scenario.resolved.toml")).unwrap();
    let seed_net = std::fs::read_to_string(
        here.join(
            files(&here)
                .into_iter()
                .find(|f| f.starts_with("front_") && !f.ends_with(".graph.json"))
                .unwrap(),
        ),
    )
    .unwrap();
    let job = serde_json::json!({
        "job": "nas_trial",
        "format_version": 1,
        "scenario_toml": resolved,
        "digest": "0000000000000000",
        "trial": 1,
        "net": serde_json::from_str::<serde_json::Value>(&seed_net).unwrap(),
    });
    let e = run_job(&job.to_string()).unwrap_err();
    assert!(e.message.contains("digest"), "{}", e.message);
    let _ = std::fs::remove_dir_all(&dir);
}
