//! A sweep split into point jobs (what the Python package's Ray runner
//! ships to its workers) and merged back writes the same files, byte for
//! byte, as the sweep run here: every shipped sweep, its points run in
//! reverse order; a partial set of results equals an interrupted run; jobs
//! and results that are not what tessera wrote are refused in one line.

use std::path::{Path, PathBuf};

use tessera_cli::run::{RunArgs, run, run_point_job, sweep_point_jobs};
use tessera_tests::root;

fn temp_dir(tag: &str) -> PathBuf {
    tessera_tests::temp_dir("jobs", tag)
}

fn args(scenario: &Path, out: &Path) -> RunArgs {
    tessera_tests::library_run_args(scenario, out)
}

/// Every file of an output directory, by name, sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn assert_same_files(a: &Path, b: &Path) {
    let (fa, fb) = (files(a), files(b));
    let names = |f: &[(String, Vec<u8>)]| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&fa), names(&fb));
    for ((name, x), (_, y)) in fa.iter().zip(&fb) {
        assert!(x == y, "{name} differs between {a:?} and {b:?}");
    }
}

/// Runs each job (last first, as a cluster may finish them) and merges the
/// outcomes in grid order.
fn run_as_jobs(scenario: &Path, out: &Path) {
    let jobs = sweep_point_jobs(&args(scenario, out)).unwrap();
    assert!(jobs.len() > 1);
    let mut outcomes = vec![None; jobs.len()];
    for (i, job) in jobs.iter().enumerate().rev() {
        outcomes[i] = Some(run_point_job(job).unwrap());
    }
    let o = run(&RunArgs {
        point_outcomes: Some(outcomes),
        ..args(scenario, out)
    })
    .unwrap();
    assert!(!o.interrupted);
}

#[test]
fn every_shipped_sweep_merges_byte_identical() {
    for name in [
        "link_bandwidth_sweep",
        "traffic_mesh",
        "traffic_mesh_buffered",
    ] {
        let scenario = root().join(format!("scenarios/{name}.toml"));
        let (here, jobs) = (
            temp_dir(&format!("{name}-here")),
            temp_dir(&format!("{name}-jobs")),
        );
        run(&args(&scenario, &here)).unwrap();
        run_as_jobs(&scenario, &jobs);
        assert_same_files(&here, &jobs);
    }
}

/// Results for the first points only equal a run interrupted after them.
#[test]
fn partial_results_equal_an_interrupted_run() {
    let scenario = root().join("scenarios/link_bandwidth_sweep.toml");
    let (here, jobs) = (temp_dir("partial-here"), temp_dir("partial-jobs"));
    let o = run(&RunArgs {
        threads: Some(1),
        interrupt_after_points: Some(7),
        ..args(&scenario, &here)
    })
    .unwrap();
    assert!(o.interrupted);
    let all = sweep_point_jobs(&args(&scenario, &jobs)).unwrap();
    let outcomes: Vec<Option<String>> = all
        .iter()
        .enumerate()
        .map(|(i, j)| (i < 7).then(|| run_point_job(j).unwrap()))
        .collect();
    let o = run(&RunArgs {
        point_outcomes: Some(outcomes),
        ..args(&scenario, &jobs)
    })
    .unwrap();
    assert!(o.interrupted);
    assert_same_files(&here, &jobs);
}

#[test]
fn only_sweeps_split_into_jobs() {
    let scenario = root().join("scenarios/quickstart.toml");
    let e = sweep_point_jobs(&args(&scenario, &temp_dir("not-sweep"))).unwrap_err();
    assert!(
        e.message.contains("only a sweep splits into point jobs"),
        "{}",
        e.message
    );
}

#[test]
fn foreign_jobs_and_results_are_refused() {
    let e = run_point_job("{\"task\": \"simulate\"}").unwrap_err();
    assert!(e.message.starts_with("sweep point job: "), "{}", e.message);
    assert!(!e.message.contains('\n'));
    let scenario = root().join("scenarios/traffic_mesh.toml");
    let out = temp_dir("foreign");
    let jobs = sweep_point_jobs(&args(&scenario, &out)).unwrap();
    let newer = jobs[0].replace("\"format_version\":1", "\"format_version\":99");
    let e = run_point_job(&newer).unwrap_err();
    assert!(e.message.contains("format_version 99"), "{}", e.message);
    // One result too few, then one that is not an outcome: refused, nothing written.
    for outcomes in [
        vec![None; jobs.len() - 1],
        std::iter::once(Some("[1]".to_string()))
            .chain(std::iter::repeat_n(None, jobs.len() - 1))
            .collect(),
    ] {
        let e = run(&RunArgs {
            point_outcomes: Some(outcomes),
            ..args(&scenario, &out)
        })
        .unwrap_err();
        assert!(e.message.contains("point"), "{}", e.message);
        assert!(!out.join("report.json").exists());
    }
}
