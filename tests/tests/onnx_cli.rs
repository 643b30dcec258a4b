//! ONNX models through the `tessera` command, in-process: `graph show` and
//! `graph export` of an imported model, `simulate` and `partition` with
//! `--model model.onnx -p KEY=VALUE`, scenarios with `[workload] onnx`
//! (resolved re-runs, sweeps over a symbolic dim), and the messages for
//! parameters that do not fit the model.

use std::path::PathBuf;

use tessera_tests::{root, tessera};

fn onnx(name: &str) -> String {
    root()
        .join("tests/data/onnx")
        .join(name)
        .display()
        .to_string()
}

fn spec(name: &str) -> String {
    root().join("hw_specs").join(name).display().to_string()
}

fn temp_dir(tag: &str) -> PathBuf {
    tessera_tests::temp_dir("onnx", tag)
}

/// The framework's parameter count of a test model, from `models.json`.
fn framework_params(model: &str) -> u64 {
    let text = std::fs::read_to_string(root().join("tests/data/onnx/models.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["models"][model]["framework_parameter_count"]
        .as_u64()
        .unwrap()
}

/// `1234567` → `1,234,567`, as tables print counts.
fn commas(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn graph_show_of_onnx_bert_prints_the_framework_parameter_count() {
    let o = tessera(&[
        "graph",
        "show",
        &onnx("bert-base.onnx"),
        "-p",
        "batch=1",
        "-p",
        "sequence=128",
        "--summary",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let params = framework_params("bert-base");
    assert_eq!(params, 109_482_240);
    assert!(
        o.stdout
            .contains(&format!("parameters    {} ", commas(params))),
        "{}",
        o.stdout
    );
    // The torch FLOP counter's MACs for batch 1, sequence 128 (models.json).
    assert!(
        o.stdout.contains("MACs          11,174,215,680 "),
        "{}",
        o.stdout
    );
    // The same model from the zoo (int8 by default) has the same totals.
    let zoo = tessera(&["graph", "show", "bert-base", "--summary"]);
    let line = |s: &str, key: &str| {
        s.lines()
            .find(|l| l.starts_with(key))
            .map(str::to_string)
            .unwrap()
    };
    assert_eq!(
        line(&zoo.stdout, "parameters"),
        line(&o.stdout, "parameters")
    );
    assert_eq!(line(&zoo.stdout, "MACs"), line(&o.stdout, "MACs"));
}

#[test]
fn graph_export_of_an_onnx_model_reads_back_identically() {
    let dir = temp_dir("export");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("g.json");
    let bert = onnx("bert-base.onnx");
    let params = ["-p", "batch=1", "-p", "sequence=128", "-p", "dtype=int8"];
    let mut export = vec!["graph", "export", bert.as_str()];
    export.extend_from_slice(&params);
    export.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let o = tessera(&export);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let mut show = vec!["graph", "show", bert.as_str()];
    show.extend_from_slice(&params);
    let direct = tessera(&show);
    let back = tessera(&["graph", "show", out.to_str().unwrap()]);
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(direct.stdout, back.stdout);
    assert!(direct.stdout.contains("dtype=int8"), "{}", direct.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulate_runs_imported_resnet50_on_simba() {
    let o = tessera(&[
        "simulate",
        "--hw",
        &spec("simba_6x6.toml"),
        "--model",
        &onnx("resnet50.onnx"),
        "-p",
        "batch=1,dtype=int8",
        "--microbatches",
        "2",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .starts_with("resnet50 on simba_6x6 (36 chiplets, mesh 6x6)"),
        "{}",
        o.stdout
    );
    // Imported ResNet-50 has the zoo's ops, MACs and weights.
    let zoo = tessera(&[
        "simulate",
        "--hw",
        &spec("simba_6x6.toml"),
        "--model",
        "resnet50",
        "--microbatches",
        "2",
    ]);
    let model_line = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("model: "))
            .map(str::to_string)
    };
    assert_eq!(model_line(&o.stdout), model_line(&zoo.stdout));
    assert!(model_line(&o.stdout).is_some());
}

#[test]
fn partition_takes_an_onnx_model() {
    let out = temp_dir("partition");
    let o = tessera(&[
        "partition",
        "--hw",
        &spec("edgetpu_ring4.toml"),
        "--model",
        &onnx("resnet50.onnx"),
        "-p",
        "batch=1",
        "-p",
        "dtype=int8",
        "--method",
        "greedy",
        "--budget",
        "4",
        "--microbatches",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("partition resnet50 on edgetpu_ring4"));
    let resolved = std::fs::read_to_string(out.join("scenario.resolved.toml")).unwrap();
    assert!(resolved.contains("resnet50.onnx"), "{resolved}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn onnx_parameter_mistakes_say_what_to_write() {
    let bert = onnx("bert-base.onnx");
    let cases: &[(&[&str], &str)] = &[
        (
            &["graph", "show", &bert, "-p", "batch=1"],
            "symbolic dim \"sequence\" (input input_ids) is not bound; bind it with -p sequence=N",
        ),
        (
            &["graph", "show", &bert],
            "symbolic dims \"batch\" (input input_ids), \"sequence\" (input input_ids) are not bound; bind them with -p batch=N -p sequence=N",
        ),
        (
            &["graph", "show", &bert, "-p", "batch=1,seq=128"],
            "--params: seq: bert-base.onnx has no symbolic dim \"seq\"; its symbolic dims are: batch, sequence",
        ),
        (
            &["graph", "show", &bert, "-p", "batch=1,sequence=0"],
            "--params: sequence: a symbolic dim's value must be an integer 1 to 2^32, found \"0\"",
        ),
        (
            &[
                "graph",
                "show",
                &bert,
                "-p",
                "batch=1,sequence=8,dtype=int4",
            ],
            "--params: dtype: expected one of int8, fp16, bf16, fp32, found \"int4\"",
        ),
        (
            &[
                "graph",
                "show",
                &bert,
                "-p",
                "batch=1,sequence=8,keep_free_ops=yes",
            ],
            "--params: keep_free_ops: expected true or false, found \"yes\"",
        ),
        (
            &["graph", "export", "no/such/model.onnx", "-p", "batch=1"],
            "no/such/model.onnx: no such ONNX file",
        ),
    ];
    for (args, expected) in cases {
        let o = tessera(args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stdout.is_empty(), "{args:?}: {}", o.stdout);
        assert!(
            o.stderr.contains(expected),
            "{args:?}: expected {expected:?}, got {}",
            o.stderr
        );
        assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {}", o.stderr);
    }
}

#[test]
fn keep_free_ops_keeps_shape_ops_at_zero_cost() {
    let base = [
        "graph",
        "show",
        "x",
        "-p",
        "batch=1,sequence=32",
        "--summary",
    ];
    let mut folded = base.to_vec();
    let bert = onnx("bert-base.onnx");
    folded[2] = &bert;
    let mut kept = folded.clone();
    kept[4] = "batch=1,sequence=32,keep_free_ops=true";
    let (a, b) = (tessera(&folded), tessera(&kept));
    assert_eq!((a.code, b.code), (0, 0), "{}{}", a.stderr, b.stderr);
    let ops = |s: &str| -> u64 {
        s.lines()
            .find_map(|l| l.strip_prefix("ops"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert!(
        ops(&b.stdout) > ops(&a.stdout),
        "{}\n{}",
        a.stdout,
        b.stdout
    );
    let macs = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("MACs"))
            .unwrap()
            .to_string()
    };
    assert_eq!(macs(&a.stdout), macs(&b.stdout));
}

/// A scenario with an ONNX workload (path relative to the scenario) runs,
/// and its resolved scenario re-runs to the same report, for a simulate task
/// and for a sweep over a symbolic dim.
#[test]
fn onnx_scenarios_rerun_from_their_resolved_file() {
    let dir = temp_dir("scenarios");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(onnx("bert-base.onnx"), dir.join("bert.onnx")).unwrap();
    let head = format!(
        "seed = 1\n\n[hardware]\nspec = {:?}\n\n[workload]\nonnx = \"bert.onnx\"\n\n[workload.params]\nbatch = 1\nsequence = 32\ndtype = \"int8\"\n\n[simulation]\nmicrobatches = 2\npacket_bytes = 4096\n\n[output]\nplots = \"none\"\n\n",
        spec("edgetpu_ring4.toml")
    );
    let simulate = format!("{head}[task]\nkind = \"simulate\"\n");
    let sweep = format!(
        "{head}[task]\nkind = \"sweep\"\nmetric = \"throughput_inferences_per_s\"\n\n[task.each]\nkind = \"simulate\"\n\n[[task.axes]]\nname = \"sequence\"\ntarget = \"workload\"\nfield = \"sequence\"\nvalues = [16, 32]\n"
    );
    for (name, text) in [("simulate", simulate), ("sweep", sweep)] {
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(&file, text).unwrap();
        let first = dir.join(format!("{name}-1"));
        let second = dir.join(format!("{name}-2"));
        let o = tessera(&[
            "run",
            file.to_str().unwrap(),
            "--out",
            first.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(o.code, 0, "{name}: {}", o.stderr);
        let resolved = first.join("scenario.resolved.toml");
        let text = std::fs::read_to_string(&resolved).unwrap();
        assert!(text.contains("keep_free_ops = false"), "{text}");
        let o = tessera(&[
            "run",
            resolved.to_str().unwrap(),
            "--out",
            second.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(o.code, 0, "{name}: {}", o.stderr);
        assert_eq!(
            std::fs::read_to_string(first.join("report.json")).unwrap(),
            std::fs::read_to_string(second.join("report.json")).unwrap(),
            "{name}"
        );
        if name == "sweep" {
            let csv = std::fs::read_to_string(first.join("sweep.csv")).unwrap();
            assert_eq!(csv.lines().count(), 3, "{csv}");
        }
    }
    // A workload axis must name a dim (or option) of the model.
    let bad = std::fs::read_to_string(dir.join("sweep.toml"))
        .unwrap()
        .replace("field = \"sequence\"", "field = \"seq\"");
    let file = dir.join("bad_sweep.toml");
    std::fs::write(&file, bad).unwrap();
    let o = tessera(&["check", file.to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains(
            "task.axes[0].field: nothing to sweep: bert.onnx has no symbolic dim \"seq\""
        ),
        "{}",
        o.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_lists_an_onnx_models_symbolic_dims_and_refuses_garbage() {
    let o = tessera(&["check", &onnx("bert-base.onnx")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("ONNX model with symbolic dims batch, sequence; to import it, bind them with -p batch=N -p sequence=N"),
        "{}",
        o.stdout
    );
    let garbage = root().join("tests/data/bad_scenarios/garbage.onnx");
    let o = tessera(&["check", garbage.to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("garbage.onnx: "), "{}", o.stderr);
}
