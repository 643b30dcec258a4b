//! `docs/scenarios.md` and the scenario reader agree: the page's key tables
//! document exactly the (table, key) pairs of `tessera_cli::scenario::SCHEMA`, with
//! the same types; every task kind in `TASK_KINDS` has its own table holding
//! that kind's keys; and the annotated example is the shipped quickstart and
//! reads as a valid scenario.
//!
//! How the page is read: a `### ` heading names a table (`### top level`,
//! `### [simulation]`, `### [task.axes]`, or `### [task] kind = "traffic"` for one
//! task kind); the Markdown table under it has the header
//! `| key | type and unit | required | default | meaning |` and one row per key,
//! the key in backticks. Any other heading ends the key table.

use std::collections::{BTreeMap, BTreeSet};

use tessera_cli::scenario::{SCHEMA, TASK_KINDS};
use tessera_tests::root;

const HEADER: [&str; 5] = ["key", "type and unit", "required", "default", "meaning"];

fn page() -> String {
    let path = root().join("docs").join("scenarios.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The SCHEMA table a page heading names (`""` for the top level), and the task
/// kind for a `[task] kind = "…"` heading. `None` for a heading that names no table.
fn heading_table(heading: &str) -> Option<(String, Option<String>)> {
    let heading = heading.trim();
    if heading == "top level" {
        return Some((String::new(), None));
    }
    let inner = heading.strip_prefix('[')?;
    let (table, rest) = inner.split_once(']')?;
    let kind = rest
        .trim()
        .strip_prefix("kind = \"")
        .and_then(|k| k.strip_suffix('"'))
        .map(str::to_string);
    Some((table.to_string(), kind))
}

/// One key row of the page.
#[derive(Debug)]
struct DocKey {
    table: String,
    kind: Option<String>,
    key: String,
    type_cell: String,
    line: usize,
}

fn cells(row: &str) -> Vec<String> {
    let row = row.trim();
    let row = row.strip_prefix('|').unwrap_or(row);
    let row = row.strip_suffix('|').unwrap_or(row);
    row.split('|').map(|c| c.trim().to_string()).collect()
}

/// Every key row under a table heading, or the first malformed line.
fn documented_keys(text: &str) -> Result<Vec<DocKey>, String> {
    let mut out = Vec::new();
    let mut current: Option<(String, Option<String>)> = None;
    // Rows seen in the current Markdown table: the header, the separator, keys.
    let mut row_index = 0;
    let mut in_code = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if line.starts_with('#') {
            current = line.strip_prefix("### ").and_then(heading_table);
            row_index = 0;
            continue;
        }
        let Some((table, kind)) = &current else {
            continue;
        };
        if !line.trim_start().starts_with('|') {
            row_index = 0;
            continue;
        }
        let c = cells(line);
        row_index += 1;
        match row_index {
            1 if c != HEADER => {
                return Err(format!(
                    "line {n}: a key table's header must be | {} |, found {line:?}",
                    HEADER.join(" | ")
                ));
            }
            1 => {}
            2 if !c
                .iter()
                .all(|c| !c.is_empty() && c.chars().all(|x| x == '-' || x == ':')) =>
            {
                return Err(format!(
                    "line {n}: expected the separator row, found {line:?}"
                ));
            }
            2 => {}
            _ => {
                if c.len() != HEADER.len() || c.iter().any(String::is_empty) {
                    return Err(format!(
                        "line {n}: a key row needs {} non-empty cells, found {line:?}",
                        HEADER.len()
                    ));
                }
                let key = c[0]
                    .strip_prefix('`')
                    .and_then(|k| k.strip_suffix('`'))
                    .filter(|k| !k.is_empty() && !k.contains('`'))
                    .ok_or_else(|| {
                        format!(
                            "line {n}: the first cell must be one key in backticks, found {:?}",
                            c[0]
                        )
                    })?;
                out.push(DocKey {
                    table: table.clone(),
                    kind: kind.clone(),
                    key: key.to_string(),
                    type_cell: c[1].clone(),
                    line: n,
                });
            }
        }
    }
    Ok(out)
}

fn doc_keys() -> Vec<DocKey> {
    documented_keys(&page()).unwrap_or_else(|e| panic!("docs/scenarios.md: {e}"))
}

fn shown(table: &str) -> String {
    if table.is_empty() {
        "top level".to_string()
    } else {
        format!("[{table}]")
    }
}

/// The task kind a SCHEMA `[task]` key belongs to, from its meaning
/// (`"traffic: …"`, `"traffic, hotspot pattern only: …"`); `None` for keys of
/// every kind (`kind`).
fn kind_of_task_key(meaning: &str) -> Option<&'static str> {
    TASK_KINDS.iter().copied().find(|k| {
        meaning
            .strip_prefix(k)
            .is_some_and(|rest| rest.starts_with(':') || rest.starts_with(','))
    })
}

#[test]
fn the_page_documents_exactly_the_keys_of_the_schema() {
    let documented: BTreeSet<(String, String)> =
        doc_keys().into_iter().map(|d| (d.table, d.key)).collect();
    let schema: BTreeSet<(String, String)> = SCHEMA
        .iter()
        .map(|(t, k, _, _)| (t.to_string(), k.to_string()))
        .collect();
    let undocumented: Vec<String> = schema
        .difference(&documented)
        .map(|(t, k)| format!("{} `{k}`", shown(t)))
        .collect();
    let unknown: Vec<String> = documented
        .difference(&schema)
        .map(|(t, k)| format!("{} `{k}`", shown(t)))
        .collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "docs/scenarios.md and tessera_cli::scenario::SCHEMA disagree.\n\
         In SCHEMA but not documented: {undocumented:?}\n\
         Documented but not in SCHEMA: {unknown:?}"
    );
}

#[test]
fn documented_types_are_the_schema_types() {
    let types: BTreeMap<(&str, &str), &str> =
        SCHEMA.iter().map(|(t, k, ty, _)| ((*t, *k), *ty)).collect();
    let mut wrong = Vec::new();
    for d in doc_keys() {
        if let Some(ty) = types.get(&(d.table.as_str(), d.key.as_str()))
            && d.type_cell != *ty
        {
            wrong.push(format!(
                "line {}: {} `{}` is documented as {:?}, SCHEMA says {ty:?}",
                d.line,
                shown(&d.table),
                d.key,
                d.type_cell
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_task_kind_has_a_table_with_its_own_keys() {
    let docs = doc_keys();
    let mut problems = Vec::new();
    let kinds_documented: BTreeSet<&str> = docs.iter().filter_map(|d| d.kind.as_deref()).collect();
    for kind in TASK_KINDS {
        if !kinds_documented.contains(kind) {
            problems.push(format!("no `### [task] kind = \"{kind}\"` table"));
        }
    }
    for kind in &kinds_documented {
        if !TASK_KINDS.contains(kind) {
            problems.push(format!(
                "a table documents kind {kind:?}, which is not in TASK_KINDS"
            ));
        }
    }
    for d in &docs {
        if d.kind.is_some() && d.table != "task" {
            problems.push(format!("line {}: only [task] is split by kind", d.line));
        }
    }
    // When the page splits [task] by kind, each kind-specific key sits under
    // its kind, and each kind's table has `kind` itself.
    if !kinds_documented.is_empty() {
        for (table, key, _, meaning) in SCHEMA.iter().filter(|(t, ..)| *t == "task") {
            let under: BTreeSet<&str> = docs
                .iter()
                .filter(|d| d.table == *table && d.key == *key)
                .filter_map(|d| d.kind.as_deref())
                .collect();
            let expected: BTreeSet<&str> = match kind_of_task_key(meaning) {
                Some(k) => [k].into(),
                None => kinds_documented.clone(),
            };
            if under != expected {
                problems.push(format!(
                    "[task] `{key}` is documented under kinds {under:?}, expected {expected:?}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn headings_name_tables_and_kinds() {
    assert_eq!(heading_table("top level"), Some((String::new(), None)));
    assert_eq!(
        heading_table("[simulation]"),
        Some(("simulation".into(), None))
    );
    assert_eq!(
        heading_table("[task] kind = \"sweep\""),
        Some(("task".into(), Some("sweep".into())))
    );
    assert_eq!(heading_table("Hardware overrides"), None);
    let text = "### [output]\n\n| key | type and unit | required | default | meaning |\n|---|---|---|---|---|\n| `dir` | path | optional | x | y |\n\n### Other\n\n| `a` | b |\n";
    let keys = documented_keys(text).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        (keys[0].table.as_str(), keys[0].key.as_str()),
        ("output", "dir")
    );
    let bad = "### [output]\n\n| key | type and unit | required | default | meaning |\n|---|---|---|---|---|\n| dir | path | optional | x | y |\n";
    assert!(documented_keys(bad).is_err());
}

/// The first ```toml block after the `## Example` heading.
fn example_block(text: &str) -> String {
    let after = text
        .split_once("\n## Example")
        .expect("docs/scenarios.md has an `## Example` section")
        .1;
    let body = after
        .split_once("```toml\n")
        .expect("the example section has a ```toml block")
        .1;
    body.split_once("\n```")
        .expect("the toml block is closed")
        .0
        .to_string()
}

#[test]
fn the_annotated_example_is_the_quickstart_and_is_valid() {
    let example = example_block(&page());
    let quickstart_path = root().join("scenarios").join("quickstart.toml");
    // Parsed as if it were the quickstart file, so its paths resolve the same.
    if let Err(d) = tessera_cli::scenario::parse(&example, &quickstart_path) {
        panic!("the example in docs/scenarios.md is not a valid scenario:\n{d}");
    }
    let shipped = std::fs::read_to_string(&quickstart_path).unwrap();
    let example: toml::Table = example.parse().unwrap();
    let shipped: toml::Table = shipped.parse().unwrap();
    assert_eq!(
        example, shipped,
        "the example in docs/scenarios.md differs from scenarios/quickstart.toml"
    );
}
