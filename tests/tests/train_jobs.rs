//! A train task whose episodes are scored by a job pool (what the Python
//! package's Ray runner gives it), or on any number of threads here, writes
//! the same files, byte for byte, as the run that scores them on one
//! thread: jobs run last first, on any number of workers; a pool interrupted mid-batch leaves what a Ctrl-C between
//! batches leaves; a failing pool is one error; a job that is not what
//! tessera wrote is refused in one line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tessera_cli::run::{JobPool, PoolError, RunArgs, run, run_job};
use tessera_tests::read_output as read;

/// The files a train run writes.
const SAME: [&str; 6] = [
    "report.json",
    "checkpoint.json",
    "learning_curve.csv",
    "learning_curve.svg",
    "scenario.resolved.toml",
    "summary.txt",
];

/// The tiny train scenario with 5 episodes a batch (so 2 and 3 workers get
/// uneven shares).
fn scenario(tag: &str) -> (PathBuf, PathBuf) {
    let body =
        tessera_tests::TINY_TRAIN.replace("episodes_per_batch = 4", "episodes_per_batch = 5");
    tessera_tests::scenario_in_temp_dir("train-jobs", tag, &body)
}

fn args(scenario: &Path, out: &Path) -> RunArgs {
    tessera_tests::library_run_args(scenario, out)
}

/// A pool of `workers` that runs its jobs last first; `calls` counts the
/// batches it was asked to score.
fn backwards_pool(
    workers: usize,
    calls: Arc<AtomicUsize>,
    fail_at: Option<(usize, PoolError)>,
) -> JobPool {
    JobPool::new(workers, move |jobs: Vec<String>| {
        let call = calls.fetch_add(1, Ordering::SeqCst);
        if let Some((at, e)) = &fail_at
            && call == *at
        {
            return Err(e.clone());
        }
        let mut out = vec![String::new(); jobs.len()];
        for (i, job) in jobs.iter().enumerate().rev() {
            out[i] = run_job(job).map_err(|e| PoolError::Failed(e.message))?;
        }
        Ok(out)
    })
}

#[test]
fn episodes_scored_by_a_pool_train_the_same_run() {
    let (file, dir) = scenario("same");
    let here = dir.join("here");
    let o = run(&RunArgs {
        threads: Some(1),
        ..args(&file, &here)
    })
    .unwrap();
    assert!(!o.interrupted);
    // Scored on threads here: the same run whatever their number.
    for threads in [2, 3] {
        let there = dir.join(format!("threads-{threads}"));
        run(&RunArgs {
            threads: Some(threads),
            ..args(&file, &there)
        })
        .unwrap();
        for f in SAME {
            assert!(
                read(&here, f) == read(&there, f),
                "{f} differs with {threads} threads"
            );
        }
    }
    for workers in [1, 3, 8] {
        let calls = Arc::new(AtomicUsize::new(0));
        let there = dir.join(format!("pool-{workers}"));
        let o = run(&RunArgs {
            pool: Some(backwards_pool(workers, Arc::clone(&calls), None)),
            ..args(&file, &there)
        })
        .unwrap();
        assert!(!o.interrupted);
        // Every batch went through the pool.
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        for f in SAME {
            assert!(
                read(&here, f) == read(&there, f),
                "{f} differs with {workers} pool workers"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_pool_interrupted_mid_batch_leaves_what_ctrl_c_leaves() {
    let (file, dir) = scenario("interrupted");
    let (ctrl_c, pooled) = (dir.join("ctrl-c"), dir.join("pooled"));
    let o = run(&RunArgs {
        interrupt_after_batches: Some(2),
        ..args(&file, &ctrl_c)
    })
    .unwrap();
    assert!(o.interrupted);
    let calls = Arc::new(AtomicUsize::new(0));
    let o = run(&RunArgs {
        pool: Some(backwards_pool(2, calls, Some((2, PoolError::Interrupted)))),
        ..args(&file, &pooled)
    })
    .unwrap();
    assert!(o.interrupted);
    for f in SAME {
        assert!(
            read(&ctrl_c, f) == read(&pooled, f),
            "{f} differs between Ctrl-C and an interrupted pool"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_pool_is_one_error_and_foreign_jobs_are_refused() {
    let (file, dir) = scenario("failing");
    let calls = Arc::new(AtomicUsize::new(0));
    let e = run(&RunArgs {
        pool: Some(backwards_pool(
            2,
            calls,
            Some((1, PoolError::Failed("worker 7 died".into()))),
        )),
        ..args(&file, &dir.join("out"))
    })
    .unwrap_err();
    assert!(e.message.contains("worker 7 died"), "{}", e.message);
    assert!(!e.message.contains('\n'), "{}", e.message);

    let e = run_job("{\"job\": \"episodes\", \"format_version\": 1}").unwrap_err();
    assert!(e.message.starts_with("job: "), "{}", e.message);
    let e = run_job("not json").unwrap_err();
    assert!(e.message.starts_with("job: "), "{}", e.message);
    let e = run_job("{\"job\": \"dance\"}").unwrap_err();
    assert!(e.message.contains("dance"), "{}", e.message);
    let _ = std::fs::remove_dir_all(&dir);
}
