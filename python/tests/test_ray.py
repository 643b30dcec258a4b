"""`tessera.ray` on a local Ray cluster of two workers: every shipped sweep
run as Ray tasks writes the same files, byte for byte, as `tessera run`; the
module's command line does too; mistakes are refused before any task runs;
without Ray, `import tessera.ray` says how to install it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import tessera

ray = pytest.importorskip("ray")
import tessera.ray  # noqa: E402  (after the skip)

SWEEPS = ["link_bandwidth_sweep", "traffic_mesh", "traffic_mesh_buffered"]


@pytest.fixture(scope="module")
def cluster():
    """A local cluster of two workers, shared by this module's tests; its
    address lets another process join it."""
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def files(folder):
    """Every file of an output folder, by name."""
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


def assert_same_files(a, b):
    fa, fb = files(a), files(b)
    assert sorted(fa) == sorted(fb)
    different = [name for name in fa if fa[name] != fb[name]]
    assert different == []


@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_on_ray_equals_the_command_byte_for_byte(cluster, tessera_cmd, tmp_path, name):
    scenario = f"scenarios/{name}.toml"
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    tessera_cmd.run("run", scenario, "--out", local, "--quiet")
    report = tessera.ray.run_sweep(scenario, out=on_ray)
    assert_same_files(local, on_ray)
    assert report == json.loads((local / "report.json").read_text())
    assert report["complete"] is True


def test_seed_replaces_the_scenario_seed_as_the_command_does(cluster, tessera_cmd, tmp_path):
    scenario = "scenarios/traffic_mesh.toml"
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    tessera_cmd.run("run", scenario, "--out", local, "--quiet", "--seed", "11")
    tessera.ray.run_sweep(scenario, out=on_ray, seed=11)
    assert_same_files(local, on_ray)


def test_command_line_joins_a_cluster_and_prints_the_summary(cluster, tessera_cmd, tmp_path):
    scenario = "scenarios/traffic_mesh.toml"
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    expected = tessera_cmd.run("run", scenario, "--out", local).stdout
    p = subprocess.run(
        [sys.executable, "-m", "tessera.ray", "run", scenario, "--address", cluster,
         "--out", str(on_ray)],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == expected.replace(str(local), str(on_ray))
    assert_same_files(local, on_ray)


def test_command_line_refuses_a_scenario_that_does_not_distribute(tessera_cmd):
    p = subprocess.run(
        [sys.executable, "-m", "tessera.ray", "run", "scenarios/quickstart.toml"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2
    assert p.stderr.startswith(
        "error: scenarios/quickstart.toml: its task is 'simulate'; sweep, train and nas tasks run on Ray"
    )
    assert p.stderr.count("\n") == 1
    missing = subprocess.run(
        [sys.executable, "-m", "tessera.ray", "run", "scenarios/nope.toml"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert missing.stderr == "error: " + tessera_cmd.error("run", "scenarios/nope.toml") + "\n"


def test_mistakes_are_refused_before_any_task(tmp_path):
    # No cluster is started for these: the scenario is read first.
    with pytest.raises(tessera.InputError, match="its task is 'simulate'; sweep tasks run on Ray"):
        tessera.ray.run_sweep("scenarios/quickstart.toml")
    with pytest.raises(tessera.InputError, match=r"tessera.ray.run_scenario runs it"):
        tessera.ray.run_sweep("scenarios/pretrain.toml")
    with pytest.raises(tessera.InputError, match="its task is 'partition'"):
        tessera.ray.run_scenario("scenarios/bert_partition.toml")
    with pytest.raises(tessera.ArgumentTypeError, match="scenario: expected a path"):
        tessera.ray.run_sweep(3)
    with pytest.raises(tessera.OptionError, match="--seed"):
        tessera.ray.run_sweep("scenarios/traffic_mesh.toml", seed=-1)
    bad = tmp_path / "bad.toml"
    text = Path("scenarios/traffic_mesh.toml").read_text()
    bad.write_text(
        text.replace('"../hw_specs/', f'"{Path.cwd()}/hw_specs/').replace(
            "values = [0.02", "values = [0.5, 2.0, 0.02"
        )
    )
    with pytest.raises(tessera.InputError, match="rate"):
        tessera.ray.run_sweep(bad, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_damaged_job_is_refused_in_one_line(cluster):
    with pytest.raises(tessera.InputError, match="^sweep point job: "):
        tessera._native.run_point_job("{}")
    # A job that fails on a worker is raised here as the tessera error.
    with pytest.raises(tessera.InputError, match="^job: "):
        tessera.ray._pool(['{"job": "episodes"}'])




def tiny_train(tmp_path):
    """The Rust tests' tiny train scenario (4 batches of 4 episodes), its
    `HW/` made the shipped specs' directory."""
    text = Path("tests/data/train/tiny.template.toml").read_text()
    path = tmp_path / "tiny.toml"
    path.write_text(text.replace("HW/", f"{Path.cwd()}/hw_specs/"))
    return path


def test_train_on_ray_equals_the_command_byte_for_byte(cluster, tessera_cmd, tmp_path):
    scenario = tiny_train(tmp_path)
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    tessera_cmd.run("run", scenario, "--out", local, "--quiet")
    report = tessera.ray.run_scenario(scenario, out=on_ray)
    assert_same_files(local, on_ray)
    assert report["complete"] is True
    assert report["result"]["batches_done"] == 4
    # From the command line, joining the cluster by its address.
    again = tmp_path / "again"
    expected = tessera_cmd.run("run", scenario, "--out", again, "--force").stdout
    p = subprocess.run(
        [sys.executable, "-m", "tessera.ray", "run", str(scenario), "--address", cluster,
         "--out", str(on_ray), "--force"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == expected.replace(str(again), str(on_ray))
    assert_same_files(local, on_ray)


def test_a_pool_interrupted_by_ctrl_c_stops_the_run_as_the_command_does(tessera_cmd, tmp_path):
    # Ctrl-C while the third batch's episodes are out: the run writes
    # what the command writes after Ctrl-C between batches 2 and 3.
    scenario = tiny_train(tmp_path)
    local, pooled = tmp_path / "local", tmp_path / "pooled"
    tessera_cmd.run(
        "run", scenario, "--out", local, "--quiet", "--interrupt-after-batches", "2", expect=130
    )
    calls = []

    def pool(jobs):
        calls.append(len(jobs))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return [tessera._native.run_job(j) for j in reversed(jobs)][::-1]

    text, warns, interrupted = tessera._native.run_scenario(
        scenario, pooled, None, None, None, False, None, True, pool, 2
    )
    assert interrupted is True
    assert calls == [2, 2, 2]
    assert json.loads(text)["complete"] is False
    assert_same_files(local, pooled)


def test_import_without_ray_says_how_to_install(tmp_path):
    script = (
        "import sys\n"
        "sys.modules['ray'] = None\n"
        "import tessera\n"
        "try:\n"
        "    import tessera.ray\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == 'tessera.ray needs Ray: pip install "./python[ray]" (ray==2.60.0)'


def test_partition_study_cells_equal_partition_here(cluster, tessera_cmd):
    spec = tessera.Spec.load("hw_specs/edgetpu_ring4.toml")
    bert = tessera.load_workload("bert-base", layers=2, seq=32)
    rows = tessera.ray.partition_study(
        spec, bert, ["greedy", "sa"], seeds=[1, 2], budgets=[8, 16],
        options={"sa": {"t0_fraction": 0.05}},
    )
    cells = [(r["method"], r["seed"], r["budget"]) for r in rows]
    assert cells == [(m, s, b) for m in ["greedy", "sa"] for s in [1, 2] for b in [8, 16]]
    for r in rows:
        opts = {"t0_fraction": 0.05} if r["method"] == "sa" else {}
        here = tessera.partition(spec, bert, r["method"], seed=r["seed"], budget=r["budget"], **opts)
        assert r["report"] == here
    # Different seeds give sa different searches: the study is not one cell repeated.
    sa = [r["report"]["result"]["methods"][0]["evaluations"] for r in rows if r["method"] == "sa"]
    assert sa == [8, 16, 8, 16]
    expected = tessera_cmd.json(
        "partition", "--hw", "hw_specs/edgetpu_ring4.toml", "--model", "bert-base",
        "-p", "layers=2", "-p", "seq=32", "--method", "greedy", "--seed", "2", "--budget", "16",
    )
    assert rows[3]["report"] == expected


def test_partition_study_refuses_mistakes_before_any_task():
    with pytest.raises(tessera.OptionError, match='unknown method "nope"'):
        tessera.ray.partition_study("hw_specs/edgetpu_ring4.toml", "mlp", ["dp", "nope"])
    with pytest.raises(tessera.ArgumentTypeError, match="seeds"):
        tessera.ray.partition_study("hw_specs/edgetpu_ring4.toml", "mlp", "dp", seeds=[])
    with pytest.raises(tessera.InputError, match="unknown model"):
        tessera.ray.partition_study("hw_specs/edgetpu_ring4.toml", "nope", "dp")


def test_a_cell_error_is_raised_as_the_tessera_error(cluster):
    with pytest.raises(tessera.OptionError, match="t0_fraction"):
        tessera.ray.partition_study(
            "hw_specs/edgetpu_ring4.toml", "mlp", "sa", budgets=[4],
            options={"sa": {"t0_fraction": -1.0}},
        )


def test_nas_on_ray_equals_the_command_byte_for_byte(cluster, tessera_cmd, tmp_path):
    # nas_digits in generations of 2, 3 trials: the seed, then one
    # generation whose two children are trained on the two workers.
    text = Path("scenarios/nas_digits.toml").read_text()
    scenario = tmp_path / "nas.toml"
    scenario.write_text(
        text.replace('"../hw_specs/', f'"{Path.cwd()}/hw_specs/').replace(
            "population = 12\n", "population = 12\ngeneration_size = 2\n"
        )
    )
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    tessera_cmd.run("run", scenario, "--out", local, "--quiet", "--max-budget", "3")
    report = tessera.ray.run_scenario(scenario, out=on_ray, max_budget=3)
    assert report["result"]["trials_done"] == 3
    assert report["complete"] is True
    timing = "timing.csv"  # wall-clock seconds, the one file that differs
    a, b = files(local), files(on_ray)
    assert sorted(a) == sorted(b)
    assert [n for n in a if n != timing and a[n] != b[n]] == []
