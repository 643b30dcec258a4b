"""Every public function against the `tessera` command: the same inputs give
the same report (the dict parsed from the command's JSON, and where the text
is reachable, the same bytes)."""

import json
import os
import pickle

import pytest

import tessera
from tessera import _native

RING4 = "hw_specs/edgetpu_ring4.toml"
MESH = "hw_specs/mesh_4x4.toml"
# A small BERT: 2 layers at sequence 32 (39 ops), quick to search.
BERT_ARGS = ["--model", "bert-base", "-p", "layers=2", "-p", "seq=32"]
BERT_PARAMS = {"layers": 2, "seq": 32}


def test_simulate_equals_the_command_byte_for_byte(tessera_cmd):
    expected = tessera_cmd.run("simulate", "--hw", RING4, *BERT_ARGS, "--json").stdout
    spec = tessera.Spec.load(RING4)
    bert = tessera.load_workload("bert-base", **BERT_PARAMS)
    text, warnings = _native.simulate(spec, bert, "name", "contiguous", 8, False, 4096, False, None)
    assert text == expected
    assert warnings == []
    assert tessera.simulate(RING4, "bert-base", params=BERT_PARAMS) == json.loads(expected)
    assert tessera.simulate(spec, bert) == json.loads(expected)


def test_simulate_options_match_the_flags(tessera_cmd, tmp_path):
    trace_cmd, trace_py = tmp_path / "cmd.json", tmp_path / "py.json"
    expected = tessera_cmd.json(
        "simulate", "--hw", MESH, *BERT_ARGS,
        "--placement", "single", "--microbatches", "3", "--fixed-microbatches",
        "--packet-bytes", "512", "--cut-through", "--trace", trace_cmd,
        "--set", "chiplet_types.simba.sram_kib=4096",
    )
    got = tessera.simulate(
        MESH, "bert-base", "single", params=BERT_PARAMS, microbatches=3,
        fixed_microbatches=True, packet_bytes=512, cut_through=True, trace=trace_py,
        overrides={"chiplet_types.simba.sram_kib": 4096},
    )
    assert got == expected
    assert trace_py.read_bytes() == trace_cmd.read_bytes()


def test_simulate_takes_placements_as_files_dicts_and_lists(tessera_cmd, tmp_path):
    bert = tessera.load_workload("bert-base", **BERT_PARAMS)
    chips = [min(i // 10, 3) for i in range(bert.n_ops)]
    doc = {"format_version": 1, "graph": bert.name, "chiplet_of_op": chips}
    path = tmp_path / "placement.json"
    path.write_text(json.dumps(doc))
    expected = tessera_cmd.json("simulate", "--hw", RING4, *BERT_ARGS, "--placement", path)
    assert tessera.simulate(RING4, bert, path) == expected
    assert tessera.simulate(RING4, bert, doc) == expected
    assert tessera.simulate(RING4, bert, chips) == expected
    assert tessera.simulate(RING4, bert, tuple(chips)) == expected


def test_graph_json_and_onnx_workloads(tessera_cmd, tmp_path):
    graph = tmp_path / "mlp.json"
    tessera_cmd.run("graph", "export", "mlp", "-o", graph)
    assert tessera.load_workload(graph).to_json() == graph.read_text()
    expected = tessera_cmd.json("simulate", "--hw", RING4, "--model", graph)
    assert tessera.simulate(RING4, str(graph)) == expected
    onnx = "tests/data/onnx/bert-base.onnx"
    dims = ["-p", "batch=1", "-p", "sequence=16"]
    expected = tessera_cmd.json("simulate", "--hw", RING4, "--model", onnx, *dims)
    w = tessera.load_workload(onnx, batch=1, sequence=16)
    assert w.kind == "onnx" and w.path == onnx
    assert tessera.simulate(RING4, w) == expected
    assert tessera.simulate(RING4, onnx, params={"batch": 1, "sequence": 16}) == expected


def test_workload_attributes_match_graph_show(tessera_cmd):
    shown = tessera_cmd.run("graph", "show", "resnet18", "-p", "dtype=fp16", "--summary").stdout
    w = tessera.load_workload("resnet18", dtype="fp16")
    lines = {line.split()[0]: line.split() for line in shown.splitlines() if line.strip()}
    assert int(lines["ops"][1]) == w.n_ops
    assert int(lines["parameters"][1].replace(",", "")) == w.n_params
    assert int(lines["MACs"][1].replace(",", "")) == w.macs
    assert int(lines["weight"][2].replace(",", "")) == w.weight_bytes
    assert w.model == "resnet18" and w.kind == "zoo" and w.model_params["dtype"] == "fp16"
    assert len(w.ops()) == w.n_ops and w.ops()[0]["id"] == 0


def test_spec_attributes_match_check(tessera_cmd):
    line = tessera_cmd.run("check", MESH).stdout.strip()
    spec = tessera.Spec.load(MESH)
    assert f'hardware spec "{spec.name}": {spec.n_chiplets} chiplets, {spec.topology},' in line
    assert f"{spec.peak_tops:.1f} peak TOPS" in line
    text = open(MESH).read()
    same = tessera.Spec.from_toml(text, name=MESH)
    assert tessera.simulate(same, "mlp") == tessera.simulate(MESH, "mlp")
    assert same.path is None and spec.path == MESH


@pytest.mark.parametrize("method", [m["name"] for m in tessera.methods()])
def test_every_method_equals_tessera_partition(tessera_cmd, tmp_path, method):
    budget = 12
    expected = tessera_cmd.json(
        "partition", "--hw", RING4, *BERT_ARGS, "--method", method,
        "--budget", budget, "--seed", 3, "--out", tmp_path / "cmd", "--quiet",
    )
    got = tessera.partition(RING4, "bert-base", method, params=BERT_PARAMS, budget=budget, seed=3)
    assert got == expected
    assert got["result"]["methods"][0]["method"] == method


def test_partition_writes_what_the_command_writes(tessera_cmd, tmp_path):
    cmd, py = tmp_path / "cmd", tmp_path / "py"
    tessera_cmd.run(
        "partition", "--hw", RING4, *BERT_ARGS, "--method", "greedy,dp",
        "--budget", 5, "--out", cmd, "--quiet",
    )
    spec = tessera.Spec.load(RING4)
    got = tessera.partition(spec, "bert-base", ["greedy", "dp"], params=BERT_PARAMS, budget=5, out=py)
    assert sorted(os.listdir(py)) == sorted(os.listdir(cmd))
    for name in ["report.json", "placement.json", "scenario.resolved.toml", "summary.txt"]:
        assert (py / name).read_bytes() == (cmd / name).read_bytes(), name
    assert got == json.loads((cmd / "report.json").read_text())


def test_method_options_equal_a_scenarios_task_options(tessera_cmd, tmp_path):
    scenario = tmp_path / "partition.toml"
    scenario.write_text(
        f"""name = "partition"
seed = 5
[hardware]
spec = "{os.path.abspath(RING4)}"
[workload]
model = "bert-base"
[workload.params]
layers = 2
seq = 32
[task]
kind = "partition"
methods = ["sa", "random"]
budget = 15
[task.options.sa]
t0_fraction = 0.02
shift_probability = 0.25
[task.options.random]
uniform_share = 1.0
[simulation]
microbatches = 8
packet_bytes = 4096
[output]
dir = "out"
plots = "none"
"""
    )
    expected = tessera_cmd.json("run", scenario, "--quiet")
    options = {"sa": {"t0_fraction": 0.02, "shift_probability": 0.25}, "random": {"uniform_share": 1}}
    got = tessera.partition(
        RING4, "bert-base", ["sa", "random"], params=BERT_PARAMS, budget=15, seed=5, options=options
    )
    assert got == expected


def test_repair_gives_the_nearest_valid_placement_and_its_report(tessera_cmd, tmp_path):
    spec = tessera.Spec.load(RING4)
    bert = tessera.load_workload("bert-base", **BERT_PARAMS)
    # Backwards: every op on the last chip but the first, which breaks the
    # ring's acyclic dataflow.
    proposal = [3] * bert.n_ops
    proposal[-1] = 0
    out = tessera.repair(spec, bert, proposal)
    assert len(out["placement"]) == bert.n_ops
    assert out["changed_ops"] == sum(a != b for a, b in zip(out["placement"], proposal))
    assert out["changed_ops"] >= 1 and out["proven_optimal"]
    broken = tmp_path / "proposal.json"
    broken.write_text(json.dumps({"format_version": 1, "graph": bert.name, "chiplet_of_op": proposal}))
    before = tessera_cmd.json("simulate", "--hw", RING4, *BERT_ARGS, "--placement", broken)
    assert not before["valid"]
    listed = [v for v in before["violations"] if v["kind"] == "partition"]
    assert [dict(v, message=None) for v in out["proposal_violations"]] == [
        dict({k: x for k, x in v.items() if k != "kind"}, message=None) for v in listed
    ]
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps({"format_version": 1, "graph": bert.name, "chiplet_of_op": out["placement"]}))
    after = tessera_cmd.json("simulate", "--hw", RING4, *BERT_ARGS, "--placement", fixed)
    assert after["valid"] and out["report"] == after
    # A valid proposal is left alone.
    same = tessera.repair(spec, bert, out["placement"])
    assert same["changed_ops"] == 0 and same["proposal_violations"] == []


def test_run_scenario_returns_the_report_tessera_run_writes(tessera_cmd, tmp_path):
    cmd, py = tmp_path / "cmd", tmp_path / "py"
    tessera_cmd.run("run", "scenarios/quickstart.toml", "--out", cmd, "--quiet")
    got = tessera.run_scenario("scenarios/quickstart.toml", out=py)
    assert got == json.loads((cmd / "report.json").read_text())
    assert (py / "report.json").read_bytes() == (cmd / "report.json").read_bytes()
    assert sorted(os.listdir(py)) == sorted(os.listdir(cmd))


def test_run_scenario_with_a_budget_cap_and_seed(tessera_cmd, tmp_path):
    scenario = "scenarios/bert_partition.toml"
    expected = tessera_cmd.json(
        "run", scenario, "--out", tmp_path / "cmd", "--quiet", "--max-budget", 3, "--seed", 9
    )
    got = tessera.run_scenario(scenario, out=tmp_path / "py", max_budget=3, seed=9)
    assert got == expected and got["seed"] == 9


def test_check_reports_each_file_as_the_command_does(tessera_cmd, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("bogus_key_bytes = 1\n" + open(RING4).read())
    good = [RING4, "scenarios/quickstart.toml", "tests/data/onnx/bert-base.onnx"]
    results = tessera.check(good + [str(bad)])
    assert [r["ok"] for r in results] == [True, True, True, False]
    printed = tessera_cmd.run("check", *good).stdout.splitlines()
    assert [r["message"] for r in results[:3]] == printed
    assert results[3]["message"] == tessera_cmd.error("check", bad)
    assert tessera.check(RING4) == results[:1]


def test_listings_match_the_command(tessera_cmd):
    models = tessera_cmd.run("models").stdout
    lines = []
    for m in tessera.zoo_models():
        lines.append(f"{m['name']}  {m['summary']}")
        lines += [f"    {p['key']}={p['default']}  {p['doc']}" for p in m["params"]]
    assert "\n".join(lines) + "\n" == models
    listed = tessera_cmd.run("methods").stdout
    for m in tessera.methods():
        assert f"{m['name']}  {m['summary']}\n" in listed
        for o in m["options"]:
            assert f"    {o['name']}=" in listed and f"({o['domain']})" in listed
    specs = tessera_cmd.run("specs").stdout.splitlines()[2:]
    files = [os.path.basename(p) for p in tessera.shipped_specs()]
    assert files == [line.split()[0] for line in specs]


def test_specs_and_workloads_pickle(tmp_path):
    spec = tessera.Spec.load(MESH).with_overrides(["chiplet_types.simba.sram_kib=2048"])
    bert = tessera.load_workload("bert-base", **BERT_PARAMS)
    spec2, bert2 = pickle.loads(pickle.dumps((spec, bert)))
    assert spec2.overrides == spec.overrides and spec2.total_sram_bytes == spec.total_sram_bytes
    assert tessera.simulate(spec2, bert2) == tessera.simulate(spec, bert)
    assert bert2.name == bert.name and bert2.model_params == bert.model_params


def test_a_spec_from_text_partitions_and_its_resolved_scenario_reruns(tmp_path):
    spec = tessera.Spec.from_toml(open(RING4).read())
    got = tessera.partition(spec, "mlp", "dp", budget=3, out=tmp_path / "a")
    again = tessera.run_scenario(tmp_path / "a" / "scenario.resolved.toml", out=tmp_path / "b")
    assert again["result"] == got["result"]
    assert got == tessera.partition(RING4, "mlp", "dp", budget=3)
