//! `docs/report.md`, `docs/report.schema.json` and the `report.json` files
//! tessera writes agree: runs of every quick task kind (simulate, with and
//! without violations; partition; traffic; sweeps of simulations and of
//! traffic; train) write reports whose every field is documented on the page
//! and in the schema, and that validate against the schema; the page and the
//! schema list the same fields with the same types; the CSV tables' columns
//! are the documented ones. (A nas run takes minutes in a debug build, so
//! its result is held to the page through the schema only.)
//!
//! How the page is read: a `` ### `Name` `` heading starts the field table of
//! an object the schema defines under the same name (`envelope` is the
//! schema's top level), each row `` | `path` | type | unit | meaning | ``,
//! nested fields written `a.b` and array items `a[].b`. Any `## ` heading
//! ends a table.
//!
//! The schema is checked by a small validator written here for the
//! keywords the schema uses (`type`, `properties`, `required`,
//! `additionalProperties: false`, `items`, `oneOf`, `$ref` into `$defs`,
//! `enum`, `const`, `allOf` of `if`/`then`), so no schema crate is needed;
//! it refuses any other keyword, so the schema cannot quietly use one it
//! does not check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use tessera_tests::{root, temp_dir, tessera};

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The page's field tables: object name → field path → type column.
fn page_tables() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut tables: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in read("docs/report.md").lines() {
        if let Some(h) = line.strip_prefix("### ") {
            current = h
                .trim()
                .strip_prefix('`')
                .and_then(|h| h.strip_suffix('`'))
                .map(str::to_string);
            if let Some(name) = &current {
                tables.entry(name.clone()).or_default();
            }
            continue;
        }
        if line.starts_with("## ") {
            current = None;
            continue;
        }
        let Some(name) = &current else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        if let Some(path) = cells[1].strip_prefix('`').and_then(|c| c.strip_suffix('`')) {
            let old = tables
                .get_mut(name)
                .unwrap()
                .insert(path.to_string(), cells[2].to_string());
            assert!(old.is_none(), "docs/report.md: `{path}` twice in {name}");
        }
    }
    tables
}

fn schema() -> Value {
    serde_json::from_str(&read("docs/report.schema.json")).expect("the schema is JSON")
}

/// Resolves `{"$ref": "#/$defs/X"}` (one level; the schema has no chains).
fn deref<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r
                .strip_prefix("#/$defs/")
                .unwrap_or_else(|| panic!("unsupported $ref {r}"));
            &root["$defs"][name]
        }
        None => s,
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        other => panic!("unknown type {other}"),
    }
}

const KEYWORDS: [&str; 15] = [
    "$schema",
    "$id",
    "$defs",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "oneOf",
    "$ref",
    "enum",
    "const",
    "allOf",
];

/// Every way `v` breaks `s`, each as "path: why".
fn validate(root: &Value, s: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let s = deref(root, s);
    let obj = s.as_object().expect("a schema is an object");
    for k in obj.keys() {
        assert!(
            KEYWORDS.contains(&k.as_str()),
            "the schema uses `{k}`, which this test does not check"
        );
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_matches(t, v),
            Value::Array(ts) => ts.iter().any(|t| type_matches(t.as_str().unwrap(), v)),
            _ => panic!("bad type {t}"),
        };
        if !ok {
            errors.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(values) = s.get("enum").and_then(Value::as_array)
        && !values.contains(v)
    {
        errors.push(format!("{at}: {v} is not one of {values:?}"));
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        errors.push(format!("{at}: {v} is not {c}"));
    }
    if let Some(alternatives) = s.get("oneOf").and_then(Value::as_array) {
        let matching = alternatives
            .iter()
            .filter(|a| {
                let mut e = Vec::new();
                validate(root, a, v, at, &mut e);
                e.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!(
                "{at}: matches {matching} of the oneOf alternatives, not one"
            ));
        }
    }
    for branch in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut cond = Vec::new();
        validate(root, &branch["if"], v, at, &mut cond);
        if cond.is_empty() {
            validate(root, &branch["then"], v, at, errors);
        }
    }
    if let (Some(props), Some(o)) = (s.get("properties"), v.as_object()) {
        for (k, sub) in props.as_object().unwrap() {
            if let Some(x) = o.get(k) {
                validate(root, sub, x, &format!("{at}.{k}"), errors);
            }
        }
        if s.get("additionalProperties") == Some(&Value::Bool(false)) {
            for k in o.keys() {
                if !props.as_object().unwrap().contains_key(k) {
                    errors.push(format!("{at}.{k}: not in the schema"));
                }
            }
        }
    }
    if let (Some(req), Some(o)) = (s.get("required").and_then(Value::as_array), v.as_object()) {
        for k in req {
            if !o.contains_key(k.as_str().unwrap()) {
                errors.push(format!("{at}: required field {k} missing"));
            }
        }
    }
    if let (Some(items), Some(a)) = (s.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            validate(root, items, x, &format!("{at}[{i}]"), errors);
        }
    }
}

/// Every field path of `v` (objects' keys, `[]` for array items).
fn paths(v: &Value, at: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let p = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                out.insert(p.clone());
                paths(x, &p, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                paths(x, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

/// Checks every field of `v` is on the page in table `name`; fields inside
/// the nested objects `nested` (path → table name; `None` for a sweep
/// point's metrics, whose table follows from its fields) are checked in
/// their own table.
fn documented(
    page: &BTreeMap<String, BTreeMap<String, String>>,
    name: &str,
    v: &Value,
    missing: &mut Vec<String>,
) {
    let mut all = BTreeSet::new();
    paths(v, "", &mut all);
    let nested: &[(&str, &str)] = match name {
        "envelope" => &[("result", "")],
        "PartitionResult" => &[("methods[].best_report", "SimReport")],
        "SweepResult" => &[("points[].metrics", "")],
        _ => &[],
    };
    for p in &all {
        if nested
            .iter()
            .any(|(n, _)| p.strip_prefix(n).is_some_and(|r| r.starts_with('.')))
        {
            continue;
        }
        if !page[name].contains_key(p) {
            missing.push(format!("{name}: `{p}`"));
        }
    }
    for (at, table) in nested {
        let mut inner: Vec<&Value> = vec![v];
        for part in at.split('.') {
            let (key, each) = match part.strip_suffix("[]") {
                Some(k) => (k, true),
                None => (part, false),
            };
            inner = inner
                .into_iter()
                .filter_map(|x| x.get(key))
                .flat_map(|x| {
                    if each {
                        x.as_array().map(|a| a.iter().collect()).unwrap_or_default()
                    } else {
                        vec![x]
                    }
                })
                .filter(|x| !x.is_null())
                .collect();
        }
        for x in inner {
            let table = match *table {
                "" if name == "envelope" => result_table(&v["task"]),
                "" => {
                    if x.get("throughput_inferences_per_s").is_some() {
                        "SimMetrics"
                    } else {
                        "TrafficReport"
                    }
                }
                t => t,
            };
            documented(page, table, x, missing);
        }
    }
}

fn result_table(task: &Value) -> &'static str {
    match task.as_str().unwrap() {
        "simulate" => "SimReport",
        "traffic" => "TrafficReport",
        "sweep" => "SweepResult",
        "partition" => "PartitionResult",
        "train" => "TrainResult",
        "nas" => "NasResult",
        t => panic!("unknown task {t}"),
    }
}

/// Runs `tessera` with `args` writing to a fresh folder; returns the folder.
fn run(tag: &str, args: &[&str]) -> std::path::PathBuf {
    let out = temp_dir("report", tag);
    let mut full: Vec<&str> = args.to_vec();
    let out_s = out.to_str().unwrap().to_string();
    full.extend_from_slice(&["--out", &out_s]);
    let o = tessera(&full);
    assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
    out
}

fn scenario(name: &str) -> String {
    root()
        .join("scenarios")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

fn check_report(dir: &Path, page: &BTreeMap<String, BTreeMap<String, String>>, schema: &Value) {
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut missing = Vec::new();
    documented(page, "envelope", &v, &mut missing);
    assert!(
        missing.is_empty(),
        "{}: fields not in docs/report.md:\n  {}",
        dir.display(),
        missing.join("\n  ")
    );
    let mut errors = Vec::new();
    validate(schema, schema, &v, "report", &mut errors);
    assert!(
        errors.is_empty(),
        "{}: does not validate against docs/report.schema.json:\n  {}",
        dir.display(),
        errors.join("\n  ")
    );
}

#[test]
fn every_field_of_the_reports_of_every_quick_task_is_documented_and_valid() {
    let page = page_tables();
    let schema = schema();
    let hw = root().join("hw_specs/edgetpu_ring4.toml");
    let hw = hw.to_str().unwrap();
    let runs: Vec<(&str, Vec<String>)> = vec![
        (
            "quickstart",
            vec!["run".into(), scenario("quickstart.toml")],
        ),
        // An SRAM overflow.
        (
            "resnet",
            vec!["run".into(), scenario("resnet50_simba.toml")],
        ),
        (
            "traffic_sweep",
            vec!["run".into(), scenario("traffic_mesh.toml")],
        ),
        (
            "sim_sweep",
            vec!["run".into(), scenario("link_bandwidth_sweep.toml")],
        ),
        (
            "pretrain",
            vec![
                "run".into(),
                scenario("pretrain.toml"),
                "--max-budget".into(),
                "24".into(),
            ],
        ),
        (
            "partition",
            [
                "partition",
                "--hw",
                hw,
                "--model",
                "bert-base",
                "-p",
                "layers=2",
                "--method",
                "random,sa",
                "--budget",
                "12",
            ]
            .map(String::from)
            .to_vec(),
        ),
        // Partition violations (no skipping, triangle) and streamed weights.
        (
            "simulate_flags",
            [
                "simulate",
                "--hw",
                hw,
                "--model",
                "bert-base",
                "-p",
                "layers=2",
            ]
            .map(String::from)
            .to_vec(),
        ),
    ];
    let mut tasks = BTreeSet::new();
    for (tag, args) in &runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let dir = run(tag, &args);
        check_report(&dir, &page, &schema);
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap())
                .unwrap();
        tasks.insert(v["task"].as_str().unwrap().to_string());
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert_eq!(
        tasks,
        ["partition", "simulate", "sweep", "train"]
            .map(String::from)
            .into(),
        "the runs above cover these tasks"
    );
}

#[test]
fn a_traffic_task_report_is_documented_and_valid() {
    // A single traffic run (the shipped traffic scenarios are sweeps).
    let dir = temp_dir("report", "traffic_scn");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("traffic.toml");
    let hw = root().join("hw_specs/mesh_4x4.toml");
    let scn = format!(
        "name = \"traffic_one\"\nseed = 1\n[hardware]\nspec = {:?}\n[task]\nkind = \"traffic\"\npattern = \"uniform\"\nrate = 0.02\npacket_bytes = 64\nwarmup_cycles = 500\nmeasure_cycles = 2000\n",
        hw.to_str().unwrap()
    );
    std::fs::write(&file, scn).unwrap();
    let out = dir.join("out");
    let o = tessera(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    check_report(&out, &page_tables(), &schema());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bare_simulation_report_validates_against_the_schemas_sim_report() {
    let schema = schema();
    let hw = root().join("hw_specs/edgetpu_ring4.toml");
    let o = tessera(&[
        "simulate",
        "--hw",
        hw.to_str().unwrap(),
        "--model",
        "mlp",
        "--json",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    let mut errors = Vec::new();
    validate(
        &schema,
        &serde_json::json!({"$ref": "#/$defs/SimReport"}),
        &v,
        "report",
        &mut errors,
    );
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(v["schema_version"], sim::report::REPORT_SCHEMA_VERSION);
    let page = read("docs/report.md");
    assert!(
        page.contains(&format!(
            "(`REPORT_SCHEMA_VERSION`, now **{}**)",
            sim::report::REPORT_SCHEMA_VERSION
        )) && page.contains(&format!(
            "(`RUN_REPORT_SCHEMA_VERSION`,\n  now {})",
            tessera_cli::run::RUN_REPORT_SCHEMA_VERSION
        )),
        "docs/report.md states other versions than the code's"
    );
}

/// The schema's fields of one definition, as page-style paths with types.
fn schema_fields(s: &Value, at: &str, out: &mut BTreeMap<String, String>) {
    let Some(props) = s.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (k, sub) in props {
        let p = if at.is_empty() {
            k.clone()
        } else {
            format!("{at}.{k}")
        };
        let t = schema_type(sub);
        out.insert(p.clone(), t);
        if sub.get("$ref").is_none() && sub.get("oneOf").is_none() {
            schema_fields(sub, &p, out);
            if let Some(items) = sub.get("items") {
                schema_fields(items, &format!("{p}[]"), out);
            }
        }
    }
}

/// A schema's type in the page's words ("integer or null").
fn schema_type(s: &Value) -> String {
    let names = |t: &Value| -> Vec<String> {
        match t {
            Value::String(t) => vec![t.clone()],
            Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap().to_string()).collect(),
            _ => vec![],
        }
    };
    if let Some(t) = s.get("type") {
        return names(t).join(" or ");
    }
    if let Some(alts) = s.get("oneOf").and_then(Value::as_array) {
        let parts: Vec<String> = alts
            .iter()
            .map(|a| match a.get("type") {
                Some(t) => names(t).join(" or "),
                None => "object".to_string(),
            })
            .collect();
        let mut unique: Vec<String> = Vec::new();
        for p in parts {
            if !unique.contains(&p) {
                unique.push(p);
            }
        }
        return unique.join(" or ");
    }
    if s.get("$ref").is_some() || s.get("enum").is_some() {
        return if s.get("enum").is_some() {
            "string".to_string()
        } else {
            "object".to_string()
        };
    }
    "any".to_string()
}

#[test]
fn the_page_and_the_schema_list_the_same_fields_with_the_same_types() {
    let page = page_tables();
    let schema = schema();
    let defs = schema["$defs"].as_object().unwrap();
    let mut names: BTreeSet<String> = defs.keys().cloned().collect();
    names.insert("envelope".to_string());
    assert_eq!(
        names,
        page.keys().cloned().collect::<BTreeSet<_>>(),
        "docs/report.md's tables and the schema's $defs (and top level)"
    );
    for name in &names {
        let def = if name == "envelope" {
            &schema
        } else {
            &defs[name]
        };
        let mut fields = BTreeMap::new();
        schema_fields(def, "", &mut fields);
        let differ: Vec<String> = fields
            .iter()
            .filter(|(k, t)| page[name].get(*k) != Some(t))
            .map(|(k, t)| format!("schema {k}: {t}; page: {:?}", page[name].get(k)))
            .chain(
                page[name]
                    .keys()
                    .filter(|k| !fields.contains_key(*k))
                    .map(|k| format!("page {k}: not in the schema")),
            )
            .collect();
        assert!(differ.is_empty(), "{name}:\n  {}", differ.join("\n  "));
    }
}

#[test]
fn the_csv_tables_have_the_documented_columns() {
    let page = read("docs/report.md");
    let (_, tables_part) = page
        .split_once("## The tables beside `report.json`")
        .expect("the page describes the tables");
    for header in [
        tessera_cli::report_csv::OPS_HEADER,
        tessera_cli::report_csv::CHIPLETS_HEADER,
        tessera_cli::report_csv::LINKS_HEADER,
    ] {
        for column in header.split(',') {
            assert!(
                tables_part.contains(&format!("`{column}`")),
                "column {column} is not described in docs/report.md"
            );
        }
    }
    // And the files a simulate run writes have exactly these headers.
    let hw = root().join("hw_specs/edgetpu_ring4.toml");
    let dir = run(
        "tables",
        &["simulate", "--hw", hw.to_str().unwrap(), "--model", "mlp"],
    );
    for (file, header) in [
        ("ops.csv", tessera_cli::report_csv::OPS_HEADER),
        ("chiplets.csv", tessera_cli::report_csv::CHIPLETS_HEADER),
        ("links.csv", tessera_cli::report_csv::LINKS_HEADER),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert_eq!(text.lines().next(), Some(header), "{file}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `tessera simulate --json` of 2-layer BERT on the 4-chiplet ring, with
/// `--set` overrides.
fn bert_report(sets: &[&str]) -> Value {
    let hw = root().join("hw_specs/edgetpu_ring4.toml");
    let mut args = vec![
        "simulate",
        "--hw",
        hw.to_str().unwrap(),
        "--model",
        "bert-base",
        "-p",
        "layers=2",
        "--json",
    ];
    for s in sets {
        args.extend_from_slice(&["--set", s]);
    }
    let o = tessera(&args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap()
}

#[test]
fn the_bottleneck_is_the_resource_busiest_per_interval_and_names_a_slow_link() {
    let f = |v: &Value| v.as_f64().unwrap();
    for (sets, expect) in [
        (&[][..], "chiplet_compute"),
        (&["topology[0].bandwidth_bytes_per_cycle=1"][..], "link"),
    ] {
        let r = bert_report(sets);
        let mbs = f(&r["microbatches"]);
        let interval = f(&r["steady_state_interval_cycles"]);
        // Every resource's busy share, from the report's own tallies.
        let mut shares: Vec<(String, f64)> = Vec::new();
        for c in r["chiplets"].as_array().unwrap() {
            shares.push((
                format!("chiplet {}", c["id"]),
                f(&c["busy_cycles"]) / mbs / interval,
            ));
        }
        for l in r["links"].as_array().unwrap() {
            shares.push((
                format!("link {}", l["id"]),
                f(&l["busy_cycles"]) / mbs / interval,
            ));
        }
        shares.push((
            "memory".into(),
            f(&r["memory"]["busy_cycles"]) / mbs / interval,
        ));
        let top = shares.iter().map(|s| s.1).fold(0.0, f64::max);
        let b = &r["bottleneck"];
        assert_eq!(b["resource"], expect, "{sets:?}: {b}");
        assert_eq!(f(&b["share_of_interval"]), top, "{sets:?}: {shares:?}");
        let busy = f(&b["busy_cycles_per_microbatch"]);
        assert!((busy - f(&b["share_of_interval"]) * interval).abs() <= 1e-9 * busy);
        assert_eq!(b["saturated"], f(&b["share_of_interval"]) >= 0.9);
        if expect == "link" {
            let l = &r["links"][b["id"].as_u64().unwrap() as usize];
            assert_eq!((&b["from"], &b["to"]), (&l["from"], &l["to"]));
        }
    }
}

#[test]
fn energy_per_inference_power_and_edp_follow_from_the_run_totals_and_the_clock() {
    let r = bert_report(&[]);
    let f = |v: &Value| v.as_f64().unwrap();
    let inferences = f(&r["microbatches"]) * f(&r["inferences_per_microbatch"]);
    let per_inference = f(&r["energy_per_inference_pj"]);
    assert_eq!(per_inference, f(&r["energy_run"]["total_pj"]) / inferences);
    let parts: f64 = ["compute_pj", "sram_pj", "links_pj", "memory_pj"]
        .iter()
        .map(|k| f(&r["energy_run"][k]))
        .sum();
    assert!((parts - f(&r["energy_run"]["total_pj"])).abs() <= 1e-6 * parts);
    // edgetpu_ring4 runs at 480 MHz.
    let clock_hz = 480e6;
    let interval_s = f(&r["steady_state_interval_cycles"]) / clock_hz;
    let power = per_inference * f(&r["inferences_per_microbatch"]) * 1e-12 / interval_s;
    assert!((f(&r["average_power_w"]) - power).abs() <= 1e-9 * power);
    let edp = per_inference * 1e-12 * f(&r["first_inference_latency_cycles"]) / clock_hz;
    assert!((f(&r["energy_delay_product_j_s"]) - edp).abs() <= 1e-9 * edp);
    // Per-link energy is its bits at the link's 5 pJ per bit.
    let links: f64 = r["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(f(&l["energy_run_pj"]), f(&l["bytes"]) * 8.0 * 5.0);
            f(&l["energy_run_pj"])
        })
        .sum();
    assert!((links - f(&r["energy_run"]["links_pj"])).abs() <= 1e-6 * links);
}

#[test]
fn the_tables_are_byte_identical_across_runs() {
    let quickstart = scenario("quickstart.toml");
    let a = run("det-a", &["run", &quickstart]);
    let b = run("det-b", &["run", &quickstart]);
    for file in ["ops.csv", "chiplets.csv", "links.csv", "report.json"] {
        let x = std::fs::read(a.join(file)).unwrap();
        assert!(x.len() > 100, "{file} is nearly empty");
        assert_eq!(x, std::fs::read(b.join(file)).unwrap(), "{file} differs");
    }
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}
