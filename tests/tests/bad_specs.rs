//! Broken hardware specs: each file in `tests/data/bad_specs` holds one mistake
//! and names, in its header, the diagnostic it must produce; one file with
//! several mistakes reports them all; random edits of valid specs never panic.

use std::collections::BTreeMap;
use std::fs;
use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tessera_tests::{assert_corpus_names, toml_files};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed};
use sim::config::Diagnostics;
use sim::spec::HwSpec;

/// A valid 4-chip unidirectional ring: the baseline the corpus files start from,
/// kept here so the mutation test has a spec even when `hw_specs/` is empty.
const RING: &str = r#"name = "test-ring"
source = ["made up"]
notes = "test"
clock_mhz = 500
pipeline_order = "ascending"

[chiplet_types.tpu]
macs_per_cycle = 4096
array_rows = 64
array_cols = 64
vector_elems_per_cycle = 128
sram_kib = 8192
sram_bandwidth_bytes_per_cycle = 512
op_overhead_cycles = 100
energy_per_mac_pj = 0.2
energy_per_sram_byte_pj = 1.0

[[chiplets]]
id_range = [0, 3]
type = "tpu"

[[topology]]
kind = "ring"
bidirectional = false
bandwidth_bytes_per_cycle = 8
latency_cycles = 50
energy_per_bit_pj = 5.0

[routing]
kind = "shortest_path"

[constraints]
acyclic_dataflow = true
no_skipping = "edge"
no_triangle = true
sram_capacity = true
"#;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join("bad_specs")
}

/// What a corpus file's header says its diagnostic must be.
#[derive(Debug)]
struct Expectation {
    field: String,
    line: u32,
    message: String,
}

/// Reads the `# key: value` header lines at the top of a corpus file.
fn read_header(text: &str) -> Result<Expectation, String> {
    let mut keys = BTreeMap::new();
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        if let Some((key, value)) = line.trim_start_matches('#').split_once(':') {
            keys.insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    let get = |key: &str| {
        keys.get(key)
            .cloned()
            .ok_or_else(|| format!("header lacks `# {key}:`"))
    };
    if get("mistake")?.is_empty() {
        return Err("`# mistake:` is empty".to_string());
    }
    let line = get("expect-line")?;
    let message = get("expect-message")?;
    if message.is_empty() {
        return Err("`# expect-message:` is empty".to_string());
    }
    Ok(Expectation {
        field: get("expect-field")?,
        line: line
            .parse()
            .map_err(|_| format!("`# expect-line: {line}` is not a line number"))?,
        message,
    })
}

/// Parses `text`, turning a panic into an error that says so.
fn parse_catching_panics(text: &str, file: &str) -> Result<Result<HwSpec, Diagnostics>, String> {
    panic::catch_unwind(AssertUnwindSafe(|| HwSpec::from_toml_str(text, file))).map_err(|p| {
        let what = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("from_toml_str panicked: {what}")
    })
}

/// Checks one corpus file; on success returns the (field, message) of the
/// diagnostic that matched its header.
fn check_corpus_file(path: &Path) -> Result<(String, String), String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let expected = read_header(&text)?;
    let file = path.display().to_string();
    let diags = match parse_catching_panics(&text, &file)? {
        Ok(_) => return Err("the spec was accepted".to_string()),
        Err(d) => d,
    };
    let shown = || format!("expected {expected:?}\nfull diagnostics:\n{diags}");
    if diags.0.is_empty() {
        return Err(format!("rejected without a diagnostic; {}", shown()));
    }
    if let Some(d) = diags.0.iter().find(|d| d.file != file) {
        return Err(format!(
            "diagnostic names file {:?}, not {file:?}; {}",
            d.file,
            shown()
        ));
    }
    diags
        .0
        .iter()
        .find(|d| {
            d.field == expected.field
                && d.pos.line == expected.line
                && d.message.contains(&expected.message)
        })
        .map(|d| (d.field.clone(), d.message.clone()))
        .ok_or_else(|| format!("no diagnostic matches the header; {}", shown()))
}

#[test]
fn each_bad_spec_reports_its_mistake_at_the_stated_field_and_line() {
    let files = toml_files(&corpus_dir());
    assert!(
        files.len() >= 30,
        "expected at least 30 files in {}, found {}",
        corpus_dir().display(),
        files.len()
    );
    let mut failures = Vec::new();
    // (field, message) → the first file whose diagnostic it is.
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        match check_corpus_file(path) {
            Ok(key) => match seen.get(&key) {
                Some(first) => failures.push(format!(
                    "{name}: its diagnostic {key:?} is the same as {first}'s; each file must hold a distinct mistake"
                )),
                None => {
                    seen.insert(key, name);
                }
            },
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad specs failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn corpus_file_names_are_numbered_and_snake_case() {
    assert_corpus_names(&corpus_dir());
}

#[test]
fn one_file_with_three_mistakes_reports_all_three() {
    let text = RING
        .replace("notes = \"test\"\n", "notes = \"test\"\ncolour = \"red\"\n")
        .replace("sram_kib = 8192", "sram_kib = -1")
        .replace("no_skipping = \"edge\"", "no_skipping = \"sometimes\"");
    let diags = HwSpec::from_toml_str(&text, "three.toml").unwrap_err();
    assert!(diags.0.len() >= 3, "{diags}");
    let fields: Vec<&str> = diags.0.iter().map(|d| d.field.as_str()).collect();
    for field in [
        "colour",
        "chiplet_types.tpu.sram_kib",
        "constraints.no_skipping",
    ] {
        assert!(
            fields.contains(&field),
            "no diagnostic for {field}:\n{diags}"
        );
    }
}

#[test]
fn the_embedded_baseline_is_valid() {
    let spec = HwSpec::from_toml_str(RING, "ring.toml").unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(spec.n_chiplets(), 4);
}

/// Valid specs to mutate: the embedded ring and every file in `hw_specs/`,
/// read once for all cases.
fn valid_specs() -> &'static [(String, String)] {
    static SPECS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    SPECS.get_or_init(|| {
        let mut specs = vec![("embedded ring".to_string(), RING.to_string())];
        for path in toml_files(&repo_root().join("hw_specs")) {
            let text = fs::read_to_string(&path).unwrap();
            specs.push((path.display().to_string(), text));
        }
        specs
    })
}

/// Byte ranges of number literals outside strings and comments.
fn number_spans(text: &str) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
    while i < b.len() {
        // Bytes, not `str` slices: a mutation may put a multi-byte character
        // anywhere, and `i` walks byte by byte.
        if b[i..].starts_with(b"\"\"\"") || b[i..].starts_with(b"'''") {
            let quote = &b[i..i + 3];
            i = b[i + 3..]
                .windows(3)
                .position(|w| w == quote)
                .map_or(b.len(), |end| i + 3 + end + 3);
            continue;
        }
        match b[i] {
            b'"' | b'\'' => {
                let quote = b[i];
                i += 1;
                while i < b.len() && b[i] != quote && b[i] != b'\n' {
                    i += if quote == b'"' && b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            c if (c.is_ascii_digit()
                || (c == b'-' || c == b'+') && b.get(i + 1).is_some_and(u8::is_ascii_digit))
                && (i == 0 || !word(b[i - 1])) =>
            {
                let start = i;
                i += 1;
                while i < b.len()
                    && (word(b[i])
                        || (b[i] == b'-' || b[i] == b'+') && matches!(b[i - 1], b'e' | b'E'))
                {
                    i += 1;
                }
                spans.push(start..i);
            }
            _ => i += 1,
        }
    }
    spans
}

#[derive(Clone, Debug)]
enum Mutation {
    DeleteLine(Index),
    DuplicateLine(Index),
    ReplaceNumber(Index, String),
    ReplaceChar(Index, char),
    Truncate(Index),
    SwapLines(Index, Index),
}

/// Number literals a careless edit might leave. Random integers stay small
/// because route tables grow with the cube of the chip count, and a mutated
/// `id_range` end is a chip count; the huge values are far beyond any count.
fn number_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i64..=256).prop_map(|v| v.to_string()),
        (-256i64..0).prop_map(|v| v.to_string()),
        (-1e6f64..1e6).prop_map(|v| format!("{v:?}")),
        prop::sample::select(
            &[
                "9223372036854775807",
                "-9223372036854775808",
                "18446744073709551616",
                "1e300",
                "-1e300",
                "inf",
                "-inf",
                "nan",
            ][..]
        )
        .prop_map(str::to_string),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let printable = prop_oneof![
        8 => prop::char::range(' ', '~'),
        1 => prop::sample::select(&['\n', '\t', '×', '\u{feff}'][..]),
    ];
    prop_oneof![
        any::<Index>().prop_map(Mutation::DeleteLine),
        any::<Index>().prop_map(Mutation::DuplicateLine),
        (any::<Index>(), number_literal()).prop_map(|(i, v)| Mutation::ReplaceNumber(i, v)),
        (any::<Index>(), printable).prop_map(|(i, c)| Mutation::ReplaceChar(i, c)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    let joined = |lines: Vec<&str>| lines.join("\n") + "\n";
    match m {
        Mutation::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(i.index(lines.len()));
            joined(lines)
        }
        Mutation::DuplicateLine(i) if !lines.is_empty() => {
            let at = i.index(lines.len());
            lines.insert(at, lines[at]);
            joined(lines)
        }
        Mutation::SwapLines(a, b) if !lines.is_empty() => {
            let n = lines.len();
            lines.swap(a.index(n), b.index(n));
            joined(lines)
        }
        Mutation::ReplaceNumber(i, value) => {
            let spans = number_spans(text);
            if spans.is_empty() {
                return text.to_string();
            }
            let span = spans[i.index(spans.len())].clone();
            format!("{}{value}{}", &text[..span.start], &text[span.end..])
        }
        Mutation::ReplaceChar(i, c) => {
            let chars: Vec<(usize, char)> = text.char_indices().collect();
            if chars.is_empty() {
                return text.to_string();
            }
            let (at, old) = chars[i.index(chars.len())];
            format!("{}{c}{}", &text[..at], &text[at + old.len_utf8()..])
        }
        Mutation::Truncate(i) => {
            let mut end = i.index(text.len() + 1);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text[..end].to_string()
        }
        _ => text.to_string(),
    }
}

#[test]
fn number_spans_find_values_but_not_text() {
    let text =
        "a = 12\nb = [0, -3]\nc = \"x 5\" # 6\nd = 1.5e-3\ne2 = \"\"\"\n7\n\"\"\"\nf = inf\n";
    let found: Vec<&str> = number_spans(text).into_iter().map(|r| &text[r]).collect();
    assert_eq!(found, ["12", "0", "-3", "1.5e-3"]);
}

/// The random test below draws extreme values only now and then; this one puts
/// each of them in place of every number of every valid spec.
#[test]
fn every_number_set_to_an_extreme_value_is_reported_not_a_panic() {
    let extremes = [
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551616",
        "1e300",
    ];
    let mut panics = Vec::new();
    for (name, text) in valid_specs() {
        for span in number_spans(text) {
            let line = text[..span.start].matches('\n').count() + 1;
            for value in extremes {
                let mutated = format!("{}{value}{}", &text[..span.start], &text[span.end..]);
                if let Err(e) = parse_catching_panics(&mutated, "extreme.toml") {
                    panics.push(format!(
                        "{name}:{line}: {} → {value}: {e}",
                        &text[span.clone()]
                    ));
                }
            }
        }
    }
    assert!(
        panics.is_empty(),
        "{} panics:\n{}",
        panics.len(),
        panics.join("\n")
    );
}

proptest! {
    #![proptest_config(Config {
        cases: 256,
        // A fixed seed makes a failure reproducible on every machine; the
        // persistence file would otherwise land in the source tree.
        rng_seed: RngSeed::Fixed(0x07e5_5e7a),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn mutated_specs_never_panic_and_every_diagnostic_is_located(
        which in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..=3),
    ) {
        let specs = valid_specs();
        let (name, text) = &specs[which.index(specs.len())];
        let mutated = mutations.iter().fold(text.clone(), |t, m| apply(&t, m));
        if let Err(diags) = HwSpec::from_toml_str(&mutated, "mutated.toml") {
            prop_assert!(!diags.0.is_empty(), "{name}: rejected without a diagnostic");
            for d in &diags.0 {
                prop_assert!(
                    d.pos.line >= 1 && d.pos.column >= 1 && !d.message.trim().is_empty(),
                    "{name}: diagnostic without a line or message: {d:?}"
                );
                prop_assert_eq!(d.file.as_str(), "mutated.toml");
            }
        }
    }
}
