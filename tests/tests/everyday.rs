//! The small things that trip a new user (issue 18, items 4 and 5), through
//! the `tessera` command: advice when nothing fits, list parameters, specs
//! by name, flags refused rather than bent, `specs --dir` beside other TOML
//! files, JSON judged by content, output directories that hold the inputs,
//! symbolic links to scenarios, `--quiet`, and one-chiplet packages. Each
//! user mistake is one line on stderr, exit code 2, and nothing written.

use std::fs;
use std::path::{Path, PathBuf};

use tessera_tests::{root, temp_dir, tessera};

fn hw(stem: &str) -> String {
    root()
        .join("hw_specs")
        .join(format!("{stem}.toml"))
        .display()
        .to_string()
}

/// The sorted names in `dir`, recursively, with their contents: what a
/// refused run must leave as it was.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
                out.push((p, Vec::new()));
            } else {
                let bytes = fs::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

/// One line on stderr, starting `error: `, and exit code 2.
fn assert_one_line_error(o: &tessera_cli::cli::Outcome) {
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.starts_with("error: "), "{}", o.stderr);
    assert_eq!(o.stderr.trim_end().lines().count(), 1, "{}", o.stderr);
}

/// The `--set FIELD=VALUE` an advice line suggests, split at `=`.
fn suggested_set(stderr: &str) -> (String, u64) {
    let start = stderr.find("`--set ").expect("a --set suggestion") + "`--set ".len();
    let rest = &stderr[start..];
    let set = &rest[..rest.find('`').unwrap()];
    let (field, value) = set.split_once('=').unwrap();
    (field.to_string(), value.parse().unwrap())
}

fn partition_resnet50_on_simba(out: &Path, set: Option<String>) -> tessera_cli::cli::Outcome {
    let simba = hw("simba_6x6");
    let mut args = vec![
        "partition",
        "--hw",
        &simba,
        "--model",
        "resnet50",
        "--method",
        "greedy",
        "--budget",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    let set = set.unwrap_or_default();
    if !set.is_empty() {
        args.extend(["--set", &set]);
    }
    tessera(&args)
}

/// ResNet-50 does not fit the real 752 KiB Simba (conv1 alone needs 940
/// KiB). The error says the smallest SRAM that admits a placement, computed
/// by bisection; the `--set` it prints works as printed, and one KiB less
/// still admits none.
#[test]
fn nothing_fits_says_the_smallest_sram_and_its_set_flag_works_as_printed() {
    let out = temp_dir("everyday", "fit");
    let o = partition_resnet50_on_simba(&out, None);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("no valid placement"), "{}", o.stderr);
    assert!(
        o.stderr.contains(
            "no valid placement with 752 KiB per chiplet; the smallest SRAM that admits one is"
        ),
        "{}",
        o.stderr
    );
    assert!(!out.exists(), "nothing written");
    let (field, kib) = suggested_set(&o.stderr);
    assert_eq!(field, "chiplet_types.simba.sram_kib");
    assert!(kib > 940 && kib < 4096, "{kib}");
    let admitted = partition_resnet50_on_simba(&out, Some(format!("{field}={kib}")));
    assert_eq!(admitted.code, 0, "{}", admitted.stderr);
    assert!(out.join("placement.json").is_file());
    let refused = partition_resnet50_on_simba(&out, Some(format!("{field}={}", kib - 1)));
    assert_eq!(refused.code, 2, "{refused:?}");
    // At one KiB less the advice names the same size, from the new one.
    assert_eq!(suggested_set(&refused.stderr), (field, kib));
    fs::remove_dir_all(&out).unwrap();
}

/// Every `--set` an advice line suggests, as `FIELD=VALUE`.
fn suggested_sets(stderr: &str) -> Vec<String> {
    stderr
        .split("`--set ")
        .skip(1)
        .map(|rest| rest[..rest.find('`').unwrap()].to_string())
        .collect()
}

/// On a package of two chiplet types, the advice grows both by the same
/// number of KiB; both flags together admit a placement, one KiB less on
/// both does not.
#[test]
fn nothing_fits_on_a_two_type_package_grows_every_type_alike() {
    let out = temp_dir("everyday", "fit-hetero");
    let partition = |sets: &[String]| {
        let mut args = vec![
            "partition",
            "--hw",
            "hetero_2type",
            "--model",
            "bert-large",
            "--method",
            "greedy",
            "--budget",
            "1",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ];
        for s in sets {
            args.extend(["--set", s.as_str()]);
        }
        tessera(&args)
    };
    let o = partition(&[]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("no valid placement with this SRAM per chiplet (compute 2.00 MiB = 2,048 KiB, vecmem 16.00 MiB = 16,384 KiB); the smallest increase on every chiplet type that admits one is"), "{}", o.stderr);
    let sets = suggested_sets(&o.stderr);
    assert_eq!(sets.len(), 2, "{sets:?}");
    let value = |s: &str| s.split_once('=').unwrap().1.parse::<u64>().unwrap();
    let (compute, vecmem) = (value(&sets[0]), value(&sets[1]));
    assert!(
        sets[0].starts_with("chiplet_types.compute.sram_kib="),
        "{sets:?}"
    );
    assert_eq!(compute - 2048, vecmem - 16384, "the same increase");
    let o = partition(&sets);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let less = [
        format!("chiplet_types.compute.sram_kib={}", compute - 1),
        format!("chiplet_types.vecmem.sram_kib={}", vecmem - 1),
    ];
    let o = partition(&less);
    assert_eq!(o.code, 2, "{o:?}");
    assert_eq!(suggested_sets(&o.stderr), sets);
    let _ = fs::remove_dir_all(&out);
}

/// From a scenario, the advice is the `[hardware.overrides]` entry, and
/// that entry, pasted in, admits a placement.
#[test]
fn nothing_fits_in_a_scenario_says_the_override_to_write() {
    let dir = temp_dir("everyday", "fit-scenario");
    fs::create_dir_all(&dir).unwrap();
    let scenario = |overrides: &str| {
        format!(
            "name = \"fit\"\nseed = 1\n[hardware]\nspec = {:?}\n{overrides}\n[workload]\n\
             model = \"resnet50\"\n[task]\nkind = \"partition\"\nmethods = [\"greedy\"]\nbudget = 1\n\
             [simulation]\nmicrobatches = 2\npacket_bytes = 4096\n[output]\nplots = \"none\"\n",
            hw("simba_6x6")
        )
    };
    let file = dir.join("fit.toml");
    fs::write(&file, scenario("")).unwrap();
    let out = dir.join("out");
    let run = || {
        tessera(&[
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
    };
    let o = run();
    assert_eq!(o.code, 2, "{o:?}");
    let start = o.stderr.find("[hardware.overrides]: `").expect(&o.stderr) + 23;
    let entry = &o.stderr[start..start + o.stderr[start..].find('`').unwrap()];
    assert!(
        entry.starts_with("\"chiplet_types.simba.sram_kib\" = "),
        "{entry}"
    );
    assert!(!out.exists());
    fs::write(&file, scenario(&format!("[hardware.overrides]\n{entry}\n"))).unwrap();
    let o = run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn list_parameters_are_written_in_brackets_and_scalars_still_work() {
    let totals = |args: &[&str]| {
        let mut full = vec!["graph", "show", "mlp", "--summary"];
        full.extend_from_slice(args);
        let o = tessera(&full);
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
        o.stdout
    };
    let one = totals(&["-p", "sizes=[784,512,10]"]);
    assert!(one.contains("sizes=784,512,10"), "{one}");
    assert!(one.contains("parameters    407,050"), "{one}");
    // As the shell splits `-p sizes=[784, 512, 10]`, and beside a scalar.
    assert_eq!(totals(&["-p", "sizes=[784,", "512,", "10]"]), one);
    let with_batch = totals(&["-p", "sizes=[784,512,10]", "batch=2"]);
    assert!(
        with_batch.contains("batch=2 dtype=int8 sizes=784,512,10"),
        "{with_batch}"
    );
    assert!(totals(&["-p", "batch=2"]).contains("batch=2"));
    for bad in ["sizes=[784,512", "sizes=[784,,10]", "sizes=784]"] {
        let o = tessera(&["graph", "show", "mlp", "-p", bad]);
        assert_one_line_error(&o);
        assert!(o.stderr.contains("--params"), "{bad}: {}", o.stderr);
    }
}

/// A scenario writes a list parameter as a TOML array, and gets the graph
/// the command line's bracket form gives.
#[test]
fn a_scenario_writes_a_list_parameter_as_an_array() {
    let dir = temp_dir("everyday", "list-scenario");
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mlp.toml");
    let write = |sizes: &str| {
        let text = format!(
            "name = \"mlp\"\nseed = 1\n[hardware]\nspec = {:?}\n[workload]\nmodel = \"mlp\"\n\
             params = {{ sizes = {sizes} }}\n[task]\nkind = \"simulate\"\nplacement = \"contiguous\"\n\
             [simulation]\nmicrobatches = 2\npacket_bytes = 4096\n[output]\nplots = \"none\"\n",
            hw("mesh_4x4")
        );
        fs::write(&file, text).unwrap();
    };
    write("[784, 512, 10]");
    let out = dir.join("out");
    let o = tessera(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let summary = fs::read_to_string(out.join("summary.txt")).unwrap();
    assert!(summary.contains("model: 3 ops, 407 k MACs"), "{summary}");
    write("[784, [512], 10]");
    let o = tessera(&["check", file.to_str().unwrap()]);
    assert_one_line_error(&o);
    assert!(o.stderr.contains("workload.params.sizes"), "{}", o.stderr);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hw_names_a_shipped_spec_and_a_wrong_name_lists_near_ones() {
    let o = tessera(&["simulate", "--hw", "simba_6x6", "--model", "mlp"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .starts_with("mlp on simba_6x6 (36 chiplets, mesh 6x6)"),
        "{}",
        o.stdout
    );
    // The same through partition and traffic, and a file still by path.
    let out = temp_dir("everyday", "hw-name");
    let o = tessera(&[
        "partition",
        "--hw",
        "mesh_4x4",
        "--model",
        "mlp",
        "--method",
        "greedy",
        "--budget",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    fs::remove_dir_all(&out).unwrap();
    let o = tessera(&[
        "traffic",
        "--hw",
        "mesh_4x4",
        "--pattern",
        "uniform",
        "--rate",
        "0.01",
        "--warmup",
        "100",
        "--cycles",
        "1000",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = tessera(&["simulate", "--hw", &hw("mesh_4x4"), "--model", "mlp"]);
    assert_eq!(o.code, 0, "{}", o.stderr);

    let o = tessera(&["simulate", "--hw", "simba6x6", "--model", "mlp"]);
    assert_one_line_error(&o);
    assert!(
        o.stderr
            .contains("--hw simba6x6: no such file, and no spec of that name"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("near names: simba_6x6"), "{}", o.stderr);
    let o = tessera(&[
        "simulate",
        "--hw",
        "nowhere/simba_6x6.toml",
        "--model",
        "mlp",
    ]);
    assert_one_line_error(&o);
    assert!(
        o.stderr.contains("nowhere/simba_6x6.toml: no such file"),
        "{}",
        o.stderr
    );
}

/// A budget cap or thread count of 0 is refused, not bent to 1.
#[test]
fn zero_max_budget_and_zero_threads_are_refused() {
    let scenario = root().join("scenarios/quickstart.toml");
    let out = temp_dir("everyday", "zero");
    for flag in ["--max-budget", "--threads"] {
        let o = tessera(&[
            "run",
            scenario.to_str().unwrap(),
            flag,
            "0",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.code, 2, "{flag}: {o:?}");
        assert!(o.stderr.contains(flag), "{}", o.stderr);
        assert!(!out.exists());
    }
}

/// After a run writes into a spec directory (here its output directory
/// sits inside it), `specs --dir` lists the specs and notes what it skipped.
#[test]
fn specs_dir_skips_other_toml_files_with_a_note() {
    let dir = temp_dir("everyday", "specs-dir");
    fs::create_dir_all(&dir).unwrap();
    fs::copy(hw("mesh_4x4"), dir.join("mesh_4x4.toml")).unwrap();
    let out = dir.join("run");
    let o = tessera(&[
        "partition",
        "--hw",
        "mesh_4x4",
        "--model",
        "mlp",
        "--method",
        "greedy",
        "--budget",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    fs::copy(
        out.join("scenario.resolved.toml"),
        dir.join("scenario.resolved.toml"),
    )
    .unwrap();
    fs::write(dir.join("notes.toml"), "title = \"my notes\"\n").unwrap();
    let o = tessera(&["specs", "--dir", dir.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("mesh_4x4.toml"), "{}", o.stdout);
    assert!(o.stdout.contains("note: skipped"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("scenario.resolved.toml: a scenario, not a hardware spec"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("notes.toml: another TOML file, not a hardware spec"),
        "{}",
        o.stdout
    );
    // A broken spec is still an error.
    fs::write(dir.join("broken.toml"), "name = \"x\"\n[chiplet_types.a]\n").unwrap();
    let o = tessera(&["specs", "--dir", dir.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("broken.toml"), "{}", o.stderr);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_reads_json_by_content_whatever_the_name() {
    let dir = temp_dir("everyday", "json");
    fs::create_dir_all(&dir).unwrap();
    for (name, text) in [
        ("array.toml", "[1, 2]\n"),
        ("nested.txt", "[[1, 2]\n"),
        ("object.toml", "{\"ops\": 3}\n"),
    ] {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        let o = tessera(&["check", p.to_str().unwrap()]);
        assert_one_line_error(&o);
        assert!(o.stderr.contains("JSON"), "{name}: {}", o.stderr);
        assert!(!o.stderr.contains("TOML"), "{name}: {}", o.stderr);
    }
    // A real graph, under a name that says nothing, passes.
    let graph = tessera(&["graph", "export", "mlp"]).stdout;
    let p = dir.join("graph.data");
    fs::write(&p, graph).unwrap();
    let o = tessera(&["check", p.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("graph \"mlp\""), "{}", o.stdout);
    // A TOML table header still reads as TOML.
    let o = tessera(&["check", &hw("mesh_4x4")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    fs::remove_dir_all(&dir).unwrap();
}

/// A scenario and the graph it reads, in `dir`.
fn scenario_with_graph(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let graph = tessera(&["graph", "export", "mlp"]).stdout;
    fs::write(dir.join("graph.json"), graph).unwrap();
    let text = format!(
        "name = \"guard\"\nseed = 1\n[hardware]\nspec = {:?}\n[workload]\ngraph = \"graph.json\"\n\
         [task]\nkind = \"simulate\"\nplacement = \"contiguous\"\n[simulation]\nmicrobatches = 2\npacket_bytes = 4096\n\
         [output]\nplots = \"none\"\n",
        hw("mesh_4x4")
    );
    let file = dir.join("guard.toml");
    fs::write(&file, text).unwrap();
    file
}

/// An output directory is replaced as a whole, so one that is (or holds)
/// the folder of the run's scenario or graph is refused, with `--force`
/// too, and nothing in it changes.
#[test]
fn an_output_directory_holding_the_inputs_is_refused_and_left_alone() {
    let root_dir = temp_dir("everyday", "guard");
    let dir = root_dir.join("inputs");
    let file = scenario_with_graph(&dir);
    let before = snapshot(&root_dir);
    for out in [&dir, &root_dir] {
        for force in [false, true] {
            let mut args = vec![
                "run",
                file.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--quiet",
            ];
            if force {
                args.push("--force");
            }
            let o = tessera(&args);
            assert_one_line_error(&o);
            assert!(o.stderr.contains("holds the input"), "{}", o.stderr);
            assert_eq!(snapshot(&root_dir), before, "nothing changed");
        }
    }
    // Beside the inputs it runs.
    let o = tessera(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        root_dir.join("out").to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    fs::remove_dir_all(&root_dir).unwrap();
}

/// A symbolic link to a scenario reads its relative paths from the
/// folder of the file it points to, as the scenario itself does.
#[cfg(unix)]
#[test]
fn a_symlinked_scenario_resolves_relative_paths_from_its_target() {
    let base = temp_dir("everyday", "symlink");
    let file = scenario_with_graph(&base.join("real/scenarios"));
    // `../specs/mesh.toml` from the target's folder.
    fs::create_dir_all(base.join("real/specs")).unwrap();
    fs::copy(hw("mesh_4x4"), base.join("real/specs/mesh.toml")).unwrap();
    let text = fs::read_to_string(&file).unwrap();
    let text = text.replace(
        &format!("spec = {:?}", hw("mesh_4x4")),
        "spec = \"../specs/mesh.toml\"",
    );
    fs::write(&file, text).unwrap();
    let link_dir = base.join("links/deeper");
    fs::create_dir_all(&link_dir).unwrap();
    let link = link_dir.join("linked.toml");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let o = tessera(&["check", link.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let out = base.join("out");
    let o = tessera(&[
        "run",
        link.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // From the link's own folder the spec would be links/specs/mesh.toml,
    // which does not exist: the run above read the target's.
    assert!(!base.join("links/specs/mesh.toml").exists());
    fs::remove_dir_all(&base).unwrap();
}

#[test]
fn quiet_prints_nothing_on_success_and_errors_still() {
    let base = temp_dir("everyday", "quiet");
    let file = scenario_with_graph(&base.join("in"));
    let out = base.join("out");
    let o = tessera(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "");
    assert!(
        fs::read_to_string(out.join("summary.txt"))
            .unwrap()
            .contains("mlp on mesh_4x4")
    );
    // --json still prints the report it asks for.
    let o = tessera(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--json",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with('{'), "{}", o.stdout);
    // Without --quiet the summary is printed.
    let o = tessera(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.stdout.contains("mlp on mesh_4x4"), "{}", o.stdout);
    // An error is printed with --quiet.
    let o = tessera(&[
        "run",
        base.join("missing.toml").to_str().unwrap(),
        "--quiet",
    ]);
    assert_one_line_error(&o);
    fs::remove_dir_all(&base).unwrap();
}

/// The help promises only what exists: `run` names every task kind a
/// scenario may have, architecture search among them.
#[test]
fn help_names_every_task_kind_and_the_architecture_search() {
    let o = tessera(&["run", "--help"]);
    assert_eq!(o.code, 0);
    for kind in tessera_cli::scenario::TASK_KINDS {
        assert!(o.stdout.contains(kind), "{kind} missing from run --help");
    }
    let o = tessera(&["--help"]);
    assert!(o.stdout.contains("kind \"nas\""), "{}", o.stdout);
}

#[test]
fn a_one_chiplet_spec_without_links_reads_as_one_chiplet_with_no_links() {
    let dir = temp_dir("everyday", "one-chiplet");
    fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("one.toml");
    fs::write(
        &spec,
        "name = \"one\"\nsource = [\"test\"]\nnotes = \"one chiplet\"\nclock_mhz = 1000\n\
         pipeline_order = [0]\n[chiplet_types.a]\nmacs_per_cycle = 1024\narray_rows = 32\n\
         array_cols = 32\nvector_elems_per_cycle = 128\nsram_kib = 4096\n\
         sram_bandwidth_bytes_per_cycle = 1024\nop_overhead_cycles = 200\nenergy_per_mac_pj = 0.33\n\
         energy_per_sram_byte_pj = 0.8\n[[chiplets]]\nid = 0\ntype = \"a\"\n[routing]\n\
         kind = \"shortest_path\"\n[constraints]\nacyclic_dataflow = true\nno_skipping = \"off\"\n\
         no_triangle = false\nsram_capacity = true\n",
    )
    .unwrap();
    let o = tessera(&["check", spec.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("\"one\": 1 chiplet, no links,"),
        "{}",
        o.stdout
    );
    let o = tessera(&["simulate", "--hw", spec.to_str().unwrap(), "--model", "mlp"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with("mlp on one (1 chiplet, no links)"),
        "{}",
        o.stdout
    );
    let o = tessera(&["specs", "--dir", dir.to_str().unwrap()]);
    assert!(o.stdout.contains("no links"), "{}", o.stdout);
    let out = dir.join("out");
    let o = tessera(&[
        "partition",
        "--hw",
        spec.to_str().unwrap(),
        "--model",
        "mlp",
        "--method",
        "greedy",
        "--budget",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("on one (1 chiplet)"), "{}", o.stdout);
    fs::remove_dir_all(&dir).unwrap();
}
