//! The repository checks itself: module docs, and no sources of
//! nondeterminism in the simulator crate.

use std::fs;
use std::path::{Path, PathBuf};
use tessera_tests::root;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc_line() {
    let mut files = Vec::new();
    for krate in ["sim", "agent", "tests"] {
        rust_files(&root().join(krate), &mut files);
    }
    assert!(files.len() > 5, "found too few files: {files:?}");
    let missing: Vec<String> = files
        .iter()
        .filter(|p| {
            let text = fs::read_to_string(p).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` first line: {missing:?}"
    );
}

/// Why: the simulator must give byte-identical reports for the same inputs, so
/// it must not iterate hash maps (random order), use the wall clock, or draw
/// from an unseeded random generator.
#[test]
fn sim_has_no_sources_of_nondeterminism() {
    let mut files = Vec::new();
    rust_files(&root().join("sim").join("src"), &mut files);
    let banned = [
        "HashMap",
        "HashSet",
        "thread_rng",
        "Instant::now",
        "SystemTime",
        "std::fs",
        "std::time",
    ];
    let mut hits = Vec::new();
    for p in &files {
        let text = fs::read_to_string(p).unwrap();
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for b in banned {
                if line.contains(b) {
                    hits.push(format!("{}:{}: {b}", p.display(), i + 1));
                }
            }
        }
    }
    assert!(hits.is_empty(), "banned in sim: {hits:#?}");
}

/// Why: a fresh machine has exactly one toolchain and cannot download another.
#[test]
fn no_toolchain_pin() {
    assert!(!root().join("rust-toolchain.toml").exists());
    assert!(!root().join("rust-toolchain").exists());
}

/// `.ci/run` must run README's test command.
#[test]
fn ci_runs_the_readme_test_command() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let ci = fs::read_to_string(root().join(".ci").join("run")).unwrap();
    let cmd = "cargo test --workspace --locked";
    assert!(readme.contains(cmd), "README lacks `{cmd}`");
    assert!(
        ci.lines().any(|l| l.trim() == cmd),
        ".ci/run does not run `{cmd}`"
    );
}

/// README shows the quickstart's output; it must be the snapshot's.
#[test]
fn readme_shows_the_quickstart_snapshot() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let snap = fs::read_to_string(root().join("tests/snapshots/quickstart.summary.txt")).unwrap();
    let head: String = snap.lines().take(18).map(|l| format!("{l}\n")).collect();
    assert!(
        readme.contains(&head),
        "README's quickstart output is stale; copy the first 18 lines of the snapshot"
    );
}
