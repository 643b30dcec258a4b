//! Broken scenarios: each file in `tests/data/bad_scenarios` holds one mistake in
//! an otherwise valid scenario and names, in its header, the message `tessera
//! run` must give (`# expect:`) and, when the message points into the scenario
//! itself, its line (`# expect-line:`). Every file is refused with exit code 2,
//! one message of its own and no output directory; valid near neighbours of
//! the mistakes are accepted.

use std::collections::BTreeMap;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use tessera_tests::{assert_corpus_names, toml_files};

use tessera_cli::cli::{Outcome, run_args};
use tessera_tests::root;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join("bad_scenarios")
}

/// A directory under the system temp dir that does not exist (yet).
fn fresh_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tessera-bad-scenario-{}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    assert!(!d.exists(), "{} exists and cannot be removed", d.display());
    d
}

/// What a corpus file's header says its error must be.
#[derive(Debug)]
struct Expectation {
    message: String,
    line: Option<u32>,
}

/// Reads the `# key: value` lines at the top of a corpus file.
fn read_header(text: &str) -> Result<Expectation, String> {
    let mut keys = BTreeMap::new();
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        if let Some((key, value)) = line.trim_start_matches('#').split_once(':') {
            keys.insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    let get = |key: &str| {
        keys.get(key)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| format!("header lacks a non-empty `# {key}:`"))
    };
    get("mistake")?;
    let line = match keys.get("expect-line") {
        None => None,
        Some(l) => Some(
            l.parse()
                .map_err(|_| format!("`# expect-line: {l}` is not a line number"))?,
        ),
    };
    Ok(Expectation {
        message: get("expect")?,
        line,
    })
}

/// `tessera run FILE --out OUT --quiet`, in-process, a panic turned into an error.
fn run_catching_panics(file: &Path, out: &Path) -> Result<Outcome, String> {
    let args = [
        "tessera".to_string(),
        "run".to_string(),
        file.display().to_string(),
        "--out".to_string(),
        out.display().to_string(),
        "--quiet".to_string(),
    ];
    panic::catch_unwind(AssertUnwindSafe(|| run_args(args))).map_err(|p| {
        let what = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("tessera run panicked: {what}")
    })
}

/// Checks one corpus file; on success returns its message with the file's own
/// path replaced by `<file>`, for comparing messages across files.
fn check_corpus_file(path: &Path) -> Result<String, String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let expected = read_header(&text)?;
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    let out = fresh_dir(&stem);
    let o = run_catching_panics(path, &out)?;
    let written = out.exists();
    let _ = fs::remove_dir_all(&out);
    let shown = || {
        format!(
            "expected {expected:?}\nexit code {}\nstderr:\n{}",
            o.code, o.stderr
        )
    };
    if o.stderr.contains("panicked") {
        return Err(format!("stderr mentions a panic; {}", shown()));
    }
    if o.code != 2 {
        return Err(format!("exit code is not 2; {}", shown()));
    }
    if written {
        return Err(format!("the output directory was created; {}", shown()));
    }
    if !o.stdout.is_empty() {
        return Err(format!("stdout is not empty: {:?}; {}", o.stdout, shown()));
    }
    if !o.stderr.contains(&expected.message) {
        return Err(format!(
            "the message does not contain the expected text; {}",
            shown()
        ));
    }
    if let Some(line) = expected.line {
        let at = format!("{}:{line}:", path.display());
        if !o.stderr.contains(&at) {
            return Err(format!("the message does not point at {at}; {}", shown()));
        }
    }
    // The reader reports every problem at once, so a second line would be a
    // second mistake in what should be an otherwise valid scenario.
    if o.stderr.trim_end().lines().count() != 1 {
        return Err(format!("more than one problem reported; {}", shown()));
    }
    Ok(o.stderr.replace(&path.display().to_string(), "<file>"))
}

#[test]
fn each_bad_scenario_is_refused_with_its_message_and_nothing_written() {
    let files = toml_files(&corpus_dir());
    assert!(
        files.len() >= 18,
        "expected at least 18 files in {}, found {}",
        corpus_dir().display(),
        files.len()
    );
    let mut failures = Vec::new();
    // Message → the first file that gave it.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match check_corpus_file(path) {
            Ok(message) => match seen.get(&message) {
                Some(first) => failures.push(format!(
                    "{name}: its message is the same as {first}'s; each file must hold a distinct mistake:\n{message}"
                )),
                None => {
                    seen.insert(message, name);
                }
            },
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad scenarios failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn corpus_file_names_are_numbered_and_snake_case() {
    assert_corpus_names(&corpus_dir());
}

/// Valid scenarios next to the corpus's mistakes: the scenarios the corpus
/// files start from, and forms the reader must not refuse while refusing the
/// mistakes (a traffic task's `[simulation]` with only `switching`; dotted and
/// inline-table override keys; hotspot keys with the hotspot pattern; an ONNX
/// workload with every kind of parameter).
const NEIGHBOURS: &[(&str, &str)] = &[
    (
        "simulate",
        r#"name = "ok"
seed = 1

[hardware]
spec = "HW/edgetpu_ring4.toml"

[workload]
model = "bert-base"

[workload.params]
seq = 64

[task]
kind = "simulate"
placement = "contiguous"

[simulation]
microbatches = 4
packet_bytes = 4096
"#,
    ),
    (
        "traffic",
        r#"name = "ok"
seed = 1

[hardware]
spec = "HW/mesh_4x4.toml"

[task]
kind = "traffic"
pattern = "uniform"
rate = 0.05
packet_bytes = 64
warmup_cycles = 100
measure_cycles = 1000

[simulation]
switching = "cut_through"
"#,
    ),
    (
        "hotspot",
        r#"seed = 1

[hardware]
spec = "HW/mesh_4x4.toml"

[task]
kind = "traffic"
pattern = "hotspot"
rate = 0.05
packet_bytes = 64
warmup_cycles = 100
measure_cycles = 1000
hotspot_chiplet = 5
hotspot_fraction = 0.5
"#,
    ),
    (
        "sweep",
        r#"name = "ok"
seed = 1

[hardware]
spec = "HW/edgetpu_ring4.toml"

[hardware.overrides]
constraints.sram_capacity = false
routing = { kind = "shortest_path" }
"topology[0].latency_cycles" = 10

[workload]
model = "bert-base"

[workload.params]
seq = 64

[task]
kind = "sweep"
metric = "throughput_inferences_per_s"

[task.each]
kind = "simulate"
placement = "contiguous"

[[task.axes]]
name = "link_bandwidth"
target = "hardware"
field = "topology[0].bandwidth_bytes_per_cycle"
values = [2, 4]

[[task.axes]]
name = "seq"
target = "workload"
field = "seq"
values = [32, 64]

[simulation]
microbatches = 4
packet_bytes = 4096
"#,
    ),
    (
        "onnx",
        r#"seed = 1

[hardware]
spec = "HW/edgetpu_ring4.toml"

[workload]
onnx = "ONNX/bert-base.onnx"

[workload.params]
batch = 1
sequence = 32
dtype = "int8"
keep_free_ops = true

[task]
kind = "simulate"

[simulation]
microbatches = 2
packet_bytes = 4096
"#,
    ),
];

#[test]
fn valid_neighbours_of_the_mistakes_are_accepted() {
    let dir = fresh_dir("neighbours");
    fs::create_dir_all(&dir).unwrap();
    let hw = root().join("hw_specs");
    let onnx = root().join("tests").join("data").join("onnx");
    let mut failures = Vec::new();
    for (name, text) in NEIGHBOURS {
        let path = dir.join(format!("{name}.toml"));
        let text = text
            .replace("HW", &hw.display().to_string())
            .replace("ONNX", &onnx.display().to_string());
        fs::write(&path, text).unwrap();
        let o = run_args(["tessera", "check", path.to_str().unwrap()]);
        if o.code != 0 || o.stderr.contains("panicked") {
            failures.push(format!("{name}: exit code {}\n{}", o.code, o.stderr));
        }
    }
    let _ = fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
