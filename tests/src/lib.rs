//! Helpers shared by the integration tests.

use std::fs;
use std::path::{Path, PathBuf};

use sim::spec::HwSpec;
use tessera_cli::cli::{Outcome, run_args};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shipped spec `hw_specs/{stem}.toml` with buffered routers added:
/// `[interconnect]` with BookSim2's router pipeline (3 cycles before a flit
/// starts on the next link, 3 into the source router, 1 to eject) and `vcs`
/// virtual channels of `depth` flits of `flit_bytes`.
pub fn shipped_with_buffers(stem: &str, flit_bytes: u64, vcs: u32, depth: u32) -> HwSpec {
    let path = root().join("hw_specs").join(format!("{stem}.toml"));
    let mut text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.push_str(&format!(
        "\n[interconnect]\nrouter_delay_cycles = 3\ninjection_latency_cycles = 3\n\
         ejection_latency_cycles = 1\nflit_bytes = {flit_bytes}\nvirtual_channels = {vcs}\n\
         buffer_flits = {depth}\n"
    ));
    HwSpec::from_toml_str(&text, &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh, empty scratch directory for one test (`prefix` names the test
/// file, `tag` the test), unique to this process.
pub fn temp_dir(prefix: &str, tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tessera-{prefix}-{}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

/// `body` written as the scenario file `tiny.toml` in a fresh directory of
/// its own (`prefix` names the test file, `tag` the test), `HW/` in it
/// standing for the shipped specs' directory: (the file, the directory).
pub fn scenario_in_temp_dir(prefix: &str, tag: &str, body: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(prefix, tag);
    fs::create_dir_all(&dir).unwrap();
    let hw = root().join("hw_specs");
    let path = dir.join("tiny.toml");
    fs::write(&path, body.replace("HW/", &format!("{}/", hw.display()))).unwrap();
    (path, dir)
}

/// A tiny pre-training scenario (BERT with one layer on the 4-chip ring and
/// two random problems, 4 batches of 4 episodes, a checkpoint every 2, one
/// holdout problem; `tests/data/train/tiny.template.toml`, which the Python
/// tests read too); `HW/` stands for the shipped specs' directory (see
/// [`scenario_in_temp_dir`]).
pub const TINY_TRAIN: &str = include_str!("../data/train/tiny.template.toml");

/// `tessera run`'s options, through the library, for `scenario` into
/// `out`: quiet, and embedded (no Ctrl-C handler), as the Python package
/// runs it.
pub fn library_run_args(scenario: &Path, out: &Path) -> tessera_cli::run::RunArgs {
    tessera_cli::run::RunArgs {
        scenario: scenario.to_path_buf(),
        out: Some(out.to_path_buf()),
        quiet: true,
        embedded: true,
        ..tessera_cli::run::RunArgs::default()
    }
}

/// `tessera COMMAND SCENARIO --out OUT --quiet EXTRA...`, in-process.
pub fn run_into(command: &str, scenario: &Path, out: &Path, extra: &[&str]) -> Outcome {
    let mut args = vec![
        command,
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    tessera(&args)
}

/// A file of a run's output directory; a missing one fails naming it.
pub fn read_output(dir: &Path, file: &str) -> Vec<u8> {
    fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

/// Every file of a run's output directory but `timing.csv` (the one file
/// with wall-clock seconds), sorted.
pub fn files_but_timing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "timing.csv")
        .collect();
    v.sort();
    v
}

/// Two runs' output directories hold the same files with the same bytes
/// (`timing.csv` aside); `what` names the comparison in a failure.
pub fn assert_same_outputs(a: &Path, b: &Path, what: &str) {
    assert_eq!(
        files_but_timing(a),
        files_but_timing(b),
        "{what}: different files"
    );
    for f in files_but_timing(a) {
        assert!(
            read_output(a, &f) == read_output(b, &f),
            "{what}: {f} differs"
        );
    }
}

/// Runs the `tessera` command in-process with `args`; a panic is a failure
/// whatever the test expects.
pub fn tessera(args: &[&str]) -> Outcome {
    let mut full = vec!["tessera"];
    full.extend_from_slice(args);
    let o = run_args(full);
    assert!(
        !o.stderr.contains("panicked"),
        "panic for {args:?}: {}",
        o.stderr
    );
    o
}

/// The `*.toml` files of `dir`, sorted, so tests visit them in a fixed order.
pub fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// Asserts that every file of a corpus of broken inputs is named
/// `NN_short_name.toml` with a distinct two-digit number.
pub fn assert_corpus_names(dir: &Path) {
    let mut numbers = Vec::new();
    for path in toml_files(dir) {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let (number, rest) = stem.split_at(stem.find('_').unwrap_or(0));
        assert!(
            number.len() == 2
                && number.bytes().all(|b| b.is_ascii_digit())
                && rest.len() > 1
                && rest[1..]
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{} is not named NN_short_name.toml",
            path.display()
        );
        numbers.push(number.to_string());
    }
    let n = numbers.len();
    numbers.dedup();
    assert_eq!(numbers.len(), n, "two corpus files share a number");
}
