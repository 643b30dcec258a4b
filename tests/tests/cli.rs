//! The `tessera` command, run in-process through `tessera_cli::cli::run_args`: each
//! subcommand's output, and clear errors with exit code 2 for user mistakes.

use tessera_tests::{root, temp_dir, tessera};

fn spec_files() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("hw_specs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn check_accepts_every_shipped_spec() {
    let files = spec_files();
    assert!(files.len() >= 8, "{files:?}");
    let args: Vec<&str> = ["check"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    let o = tessera(&args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout.lines().count(), files.len(), "{}", o.stdout);
    assert!(o.stdout.lines().all(|l| l.starts_with("ok  ")));
}

#[test]
fn check_reports_a_broken_spec_with_exit_code_2() {
    let dir = std::env::temp_dir().join(format!("tessera-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = spec_files()[0].clone();
    let text = std::fs::read_to_string(&good).unwrap();
    // Rename the key `clock_mhz`, not the words "clock_mhz" a file's notes may
    // quote inside a multi-line string before it.
    let mut in_string = false;
    let renamed: String = text
        .lines()
        .map(|line| {
            let out = if !in_string && line.starts_with("clock_mhz") {
                line.replacen("clock_mhz", "clock_ghz", 1)
            } else {
                line.to_string()
            };
            if line.matches("\"\"\"").count() % 2 == 1 {
                in_string = !in_string;
            }
            out + "\n"
        })
        .collect();
    assert_ne!(renamed, text, "{good} has no clock_mhz key to rename");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, renamed).unwrap();
    let o = tessera(&["check", &good, bad.to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(
        o.stdout.starts_with("ok  "),
        "passing files are still listed"
    );
    assert!(o.stderr.contains("bad.toml:"), "{}", o.stderr);
    assert!(o.stderr.contains("clock_ghz: unknown key"), "{}", o.stderr);
    assert!(
        o.stderr.contains("clock_mhz: missing required key"),
        "{}",
        o.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_refuses_missing_and_unrecognised_files() {
    let o = tessera(&["check", "/no/such/file.toml"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("/no/such/file.toml: cannot read"),
        "{}",
        o.stderr
    );
    let readme = root().join("Cargo.toml");
    let o = tessera(&["check", readme.to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("not a hardware spec"), "{}", o.stderr);
}

#[test]
fn specs_lists_every_file_with_a_summary() {
    let dir = root().join("hw_specs");
    let o = tessera(&["specs", "--dir", dir.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("simba_6x6.toml"), "{}", o.stdout);
    assert!(o.stdout.contains("mesh 6x6"), "{}", o.stdout);
    assert_eq!(o.stdout.lines().count(), spec_files().len() + 2);
}

#[test]
fn models_lists_the_zoo() {
    let o = tessera(&["models"]);
    assert_eq!(o.code, 0);
    for m in [
        "bert-base",
        "gpt2-small",
        "vit-b16",
        "resnet50",
        "mobilenet-v2",
        "mlp",
    ] {
        assert!(o.stdout.contains(m), "{m} missing");
    }
}

#[test]
fn graph_show_prints_totals_and_ops() {
    let o = tessera(&["graph", "show", "resnet50"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("parameters    25,557,032"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("conv2d"));
    let o = tessera(&[
        "graph",
        "show",
        "bert-base",
        "--params",
        "seq=64",
        "--summary",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("seq=64"));
    assert!(!o.stdout.contains("matmul"), "--summary prints no ops");
}

#[test]
fn graph_export_writes_a_file_that_checks_and_shows() {
    let dir = std::env::temp_dir().join(format!("tessera-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("vit.json");
    let o = tessera(&["graph", "export", "vit-ti16", "-o", out.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = tessera(&["check", out.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("5,717,416 params"), "{}", o.stdout);
    let o = tessera(&["graph", "show", out.to_str().unwrap(), "--summary"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = tessera(&["graph", "export", "vit-ti16"]);
    assert!(o.stdout.starts_with('{'));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn user_mistakes_exit_2_with_one_message() {
    for args in [
        &["graph", "show", "resnet51"][..],
        &["graph", "show", "resnet50", "--params", "depth=3"],
        &["graph", "show", "bert-base", "--params", "heads=5"],
        &["graph", "show", "bert-base", "--params", "seq"],
        &["graph", "show", "/no/such.json"],
        &["specs", "--dir", "/no/such/dir"],
        &["frobnicate"],
        &["check"],
    ] {
        let o = tessera(args);
        assert_eq!(o.code, 2, "{args:?}: {o:?}");
        assert!(!o.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        &["--help"][..],
        &["check", "--help"],
        &["specs", "--help"],
        &["models", "--help"],
        &["graph", "--help"],
        &["graph", "show", "--help"],
        &["graph", "export", "--help"],
    ] {
        let o = tessera(args);
        assert_eq!(o.code, 0, "{args:?}");
        assert!(o.stdout.contains("Usage"), "{args:?}: {}", o.stdout);
    }
}

#[test]
fn check_accepts_every_shipped_scenario() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        // Not the scenario test's copies (dot files), and not finetune.toml,
        // which needs pretrain.toml's checkpoint (checked below).
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".toml") && !name.starts_with('.') && name != "finetune.toml"
        })
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    let finetune = root().join("scenarios/finetune.toml");
    if !root().join("out/pretrain/checkpoint.json").is_file() {
        // Without the checkpoint, the one clear error names the option.
        let o = tessera(&["check", finetune.to_str().unwrap()]);
        assert_eq!(o.code, 2, "{}", o.stderr);
        assert!(
            o.stderr.contains("finetune.toml:") && o.stderr.contains("does not exist"),
            "{}",
            o.stderr
        );
    }
    let args: Vec<&str> = ["check"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    let o = tessera(&args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout.matches(": scenario ").count(),
        files.len(),
        "{}",
        o.stdout
    );
}

#[test]
fn set_overrides_a_spec_field_like_a_scenario() {
    let out = temp_dir("cli", "set");
    let hw = root().join("hw_specs/simba_6x6.toml");
    let partition = |set: &[&str]| {
        let mut args = vec![
            "partition",
            "--hw",
            hw.to_str().unwrap(),
            "--model",
            "resnet50",
            "--method",
            "dp",
            "--budget",
            "1",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ];
        for s in set {
            args.extend(["--set", s]);
        }
        tessera(&args)
    };
    // The real Simba's 752 KiB per chiplet admits no valid placement of ResNet-50.
    let o = partition(&[]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("no valid placement"), "{}", o.stderr);
    assert!(!out.exists());

    // 4 MiB per chiplet does, and the resolved scenario carries the override.
    let o = partition(&["chiplet_types.simba.sram_kib=4096"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // --quiet prints nothing; the summary is in summary.txt.
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
    assert!(summary.contains("best: dp"), "{summary}");
    let report = std::fs::read_to_string(out.join("report.json")).unwrap();
    let resolved = out.join("scenario.resolved.toml");
    assert!(
        std::fs::read_to_string(&resolved)
            .unwrap()
            .contains("sram_kib = 4096")
    );
    let again = out.join("again");
    let o = tessera(&[
        "run",
        resolved.to_str().unwrap(),
        "--quiet",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let best = |r: &str| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(r).unwrap()["result"]
            ["best_throughput_inferences_per_s"]
            .clone()
    };
    let again = std::fs::read_to_string(again.join("report.json")).unwrap();
    assert!(best(&report).is_f64(), "{report}");
    assert_eq!(best(&report), best(&again));
    std::fs::remove_dir_all(&out).unwrap();

    // A bad field, a bad value and a value that is not TOML: exit 2, the flag
    // named, nothing written.
    for (set, message) in [
        (
            "chiplet_types.simba.sram_kb=4096",
            "--set chiplet_types.simba.sram_kb=4096: the spec has no field chiplet_types.simba.sram_kb",
        ),
        (
            "chiplet_types.simba.sram_kib=true",
            "--set chiplet_types.simba.sram_kib=true: chiplet_types.simba.sram_kib is an integer in the spec, the override is a boolean",
        ),
        (
            "chiplet_types.simba.sram_kib=0",
            "--set chiplet_types.simba.sram_kib=0: must be a positive integer",
        ),
        (
            "routing.kind=xy",
            "--set routing.kind=xy: xy is not a TOML value",
        ),
        (
            "chiplet_types.simba.sram_kib",
            "--set chiplet_types.simba.sram_kib: is not of the form FIELD=VALUE",
        ),
    ] {
        let o = partition(&[set]);
        assert_eq!(o.code, 2, "{set}: {o:?}");
        assert!(o.stderr.contains(message), "{set}: {}", o.stderr);
        assert!(!out.exists(), "{set}: wrote {}", out.display());
    }

    // `simulate` takes the same flag.
    let simulate = |set: &str| {
        tessera(&[
            "simulate",
            "--hw",
            hw.to_str().unwrap(),
            "--model",
            "resnet50",
            "--set",
            set,
        ])
    };
    let o = simulate("chiplet_types.simba.sram_kib=4096");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("valid                   yes"),
        "{}",
        o.stdout
    );
    let o = simulate("chiplet_types.simba.sram_kb=4096");
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("--set chiplet_types.simba.sram_kb=4096: the spec has no field"),
        "{}",
        o.stderr
    );
}

#[test]
fn partition_reads_model_names_as_every_command_does() {
    let dir = temp_dir("cli", "partition-model");
    std::fs::create_dir_all(&dir).unwrap();
    let graph = dir.join("mlp.json");
    let o = tessera(&["graph", "export", "mlp", "-o", graph.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let hw = root().join("hw_specs/edgetpu_ring4.toml");
    let base = [
        "partition",
        "--hw",
        hw.to_str().unwrap(),
        "--method",
        "greedy",
        "--budget",
        "1",
    ];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        tessera(&args)
    };
    // A graph file takes no parameters; the flag that gave them is named.
    let o = with(&["--model", graph.to_str().unwrap(), "-p", "x=1"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("--params apply to zoo models and ONNX files, not to graph JSON files"),
        "{}",
        o.stderr
    );
    let out = dir.join("out");
    let o = with(&[
        "--model",
        graph.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("partition mlp on edgetpu_ring4"),
        "{}",
        o.stdout
    );
    // A name that is no file is a zoo model.
    let o = with(&["--model", "no-such-model", "--out", out.to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no-such-model"), "{}", o.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The quickstart scenario with `trace` and `plots` set, written into `dir`
/// (its spec path made absolute).
fn quickstart_variant(dir: &std::path::Path, trace: bool, plots: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join("scenarios/quickstart.toml")).unwrap();
    let spec = root().join("hw_specs/edgetpu_ring16.toml");
    let text = text
        .replace(
            "\"../hw_specs/edgetpu_ring16.toml\"",
            &format!("{:?}", spec.display().to_string()),
        )
        .replace("trace = true", &format!("trace = {trace}"))
        .replace("plots = \"svg\"", &format!("plots = {plots:?}"))
        .replace("seq = 128", "seq = 32\nlayers = 2");
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("quick-{trace}-{plots}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_rerun_into_a_used_output_directory_leaves_no_stale_files() {
    let dir = temp_dir("cli", "rerun");
    let out = dir.join("out");
    let full = quickstart_variant(&dir, true, "svg");
    let o = tessera(&[
        "run",
        full.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(listing(&out).contains(&"trace.json".to_string()));
    assert!(listing(&out).contains(&"gantt.svg".to_string()));
    let bare = quickstart_variant(&dir, false, "none");
    let o = tessera(&[
        "run",
        bare.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        listing(&out),
        [
            "chiplets.csv",
            "links.csv",
            "ops.csv",
            "placement.json",
            "report.json",
            "scenario.resolved.toml",
            "summary.txt"
        ]
    );
    // Nothing is left beside the output directory either.
    let siblings: Vec<String> = listing(&dir)
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(siblings.is_empty(), "{siblings:?}");
}

#[test]
fn an_output_directory_holding_a_directory_named_trace_json_is_refused_whole() {
    let dir = temp_dir("cli", "trace-dir");
    let out = dir.join("out");
    let scenario = quickstart_variant(&dir, true, "none");
    // An earlier run's output, and then a directory where trace.json goes.
    let o = tessera(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    std::fs::remove_file(out.join("trace.json")).unwrap();
    std::fs::create_dir(out.join("trace.json")).unwrap();
    let report_before = std::fs::read(out.join("report.json")).unwrap();
    let before = listing(&out);
    let o = tessera(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(o.stderr.contains("trace.json/"), "{}", o.stderr);
    assert!(o.stderr.contains("--force"), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    // Exactly as it was: no new file beside the old ones.
    assert_eq!(listing(&out), before);
    assert_eq!(
        std::fs::read(out.join("report.json")).unwrap(),
        report_before
    );
    // --force replaces the whole directory.
    let o = tessera(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(out.join("trace.json").is_file());
}

#[test]
fn simulate_refuses_micro_batches_and_packets_above_the_simulators_limits() {
    let hw = root().join("hw_specs/edgetpu_ring4.toml");
    let hw = hw.to_str().unwrap();
    let o = tessera(&[
        "simulate",
        "--hw",
        hw,
        "--model",
        "bert-base",
        "--microbatches",
        "100000",
    ]);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        "error: --microbatches: microbatches must be at most 4096, found 100000\n"
    );
    let o = tessera(&[
        "simulate",
        "--hw",
        hw,
        "--model",
        "bert-base",
        "--packet-bytes",
        "2147483648",
    ]);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        "error: --packet-bytes: packet_bytes must be at most 1073741824 (1 GiB), found 2147483648\n"
    );
    let o = tessera(&[
        "traffic",
        "--hw",
        hw,
        "--pattern",
        "uniform",
        "--rate",
        "0.1",
        "--packet-bytes",
        "2147483648",
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.starts_with("error: --packet-bytes:"),
        "{}",
        o.stderr
    );
}

/// `traffic --include-source` sends uniform traffic to the source too, and
/// says so; it is refused for the other patterns. On buffered routers the
/// summary names the routers.
#[test]
fn traffic_include_source_and_buffered_routers() {
    let hw = root().join("tools/booksim/tessera/mesh4x4_vc4x8.toml");
    let hw = hw.to_str().unwrap();
    let base = [
        "traffic",
        "--hw",
        hw,
        "--rate",
        "0.1",
        "--packet-bytes",
        "64",
        "--warmup",
        "500",
        "--cycles",
        "2000",
    ];
    let with = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        tessera(&args)
    };
    let o = with(&["--pattern", "uniform", "--include-source"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("buffered routers (4 VCs × 8 flits of 16 bytes, wormhole)"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("themselves included"), "{}", o.stdout);
    let o = with(&["--pattern", "transpose", "--include-source"]);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        "error: --include-source applies only to --pattern uniform\n"
    );
}

/// A method that cannot find a valid start near its own proposal within the
/// search loop's repair limit falls back and goes on (issue 14: ResNet-50 on
/// a 3 MiB Simba used to exit 2 on `sa` and write nothing). Every method's
/// best placement is written, and the best one gets a simulate run's plots.
/// Since repair's relaxation carries the SRAM implications
/// (`agent/src/partition/repair/sram.rs`), the 64-node repair finds `sa`'s
/// start on this instance, so the fallback is no longer taken here (nor at
/// 2,432 to 4,096 KiB); the run must still succeed for every method.
#[test]
fn partition_methods_fall_back_instead_of_losing_the_run() {
    let out = temp_dir("cli", "fallback");
    let hw = root().join("hw_specs/simba_6x6.toml");
    let o = tessera(&[
        "partition",
        "--hw",
        hw.to_str().unwrap(),
        "--model",
        "resnet50",
        "--set",
        "chiplet_types.simba.sram_kib=3072",
        "--method",
        "greedy,dp,sa,exact",
        "--budget",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for m in ["greedy", "dp", "sa", "exact"] {
        assert!(out.join(format!("placement.{m}.json")).exists(), "{m}");
    }
    for f in ["placement.json", "chiplets.svg", "gantt.svg", "history.svg"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let methods = report["result"]["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 4);
    for m in methods {
        assert!(m["failed"].is_null(), "{m}");
        assert!(
            m["best_throughput_inferences_per_s"].as_f64().unwrap() > 0.0,
            "{m}"
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}
