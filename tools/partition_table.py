#!/usr/bin/env python3
"""Runs every partition method at several budgets and seeds and prints a
Markdown table of best simulated throughput (mean and spread over seeds) and
wall time. Usage (from the repository root, after `cargo build --release`):

    python3 tools/partition_table.py HW_SPEC MODEL [BUDGETS] [SEEDS]
    python3 tools/partition_table.py --scenario FILE [BUDGETS] [SEEDS]

The second form runs a partition scenario (with its hardware overrides,
constraints and simulation options) at each budget and seed, e.g.

    python3 tools/partition_table.py hw_specs/edgetpu_ring16.toml bert-base 100,1000,5000 1,2,3,4,5
    python3 tools/partition_table.py --scenario scenarios/resnet50_partition_simba.toml 100,1000,5000 1,2,3,4,5

Runs go one after another (one core each), so wall times are comparable.
"""
import csv
import json
import os
import re
import statistics
import subprocess
import sys

args = sys.argv[1:]
scenario = None
if args and args[0] == "--scenario":
    scenario = os.path.abspath(args[1])
    args = args[2:]
else:
    hw, model = args[0], args[1]
    args = args[2:]
budgets = [int(b) for b in (args[0] if len(args) > 0 else "100,1000,5000").split(",")]
seeds = [int(s) for s in (args[1] if len(args) > 1 else "1,2,3,4,5").split(",")]
methods = ["greedy", "dp", "balance", "random", "sa", "exact"]


def run(budget, seed, out):
    if scenario is None:
        subprocess.run(
            ["./target/release/tessera", "partition", "--hw", hw, "--model", model,
             "--method", ",".join(methods), "--budget", str(budget), "--seed", str(seed),
             "--out", out, "--quiet"],
            check=True, stdout=subprocess.DEVNULL)
        return
    # A copy of the scenario with this budget, seed and output directory; its
    # relative paths are made absolute so the copy can live anywhere.
    text = open(scenario).read()
    here = os.path.dirname(scenario)
    text = re.sub(r'^(\s*spec\s*=\s*")([^"/][^"]*)"',
                  lambda m: m.group(1) + os.path.normpath(os.path.join(here, m.group(2))) + '"',
                  text, flags=re.M)
    text = re.sub(r"^seed\s*=.*$", f"seed = {seed}", text, flags=re.M)
    text = re.sub(r"^budget\s*=.*$", f"budget = {budget}", text, flags=re.M)
    text = re.sub(r"^methods\s*=.*$", "methods = [" + ", ".join(f'"{m}"' for m in methods) + "]",
                  text, flags=re.M)
    text = re.sub(r'^dir\s*=.*$', f'dir = "{out}"', text, flags=re.M)
    os.makedirs(out, exist_ok=True)
    path = f"{out}.toml"
    open(path, "w").write(text)
    subprocess.run(["./target/release/tessera", "run", path, "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)


rows = {}
notes = {}
for b in budgets:
    for s in seeds:
        out = f"/tmp/partition_table/{b}_{s}"
        run(b, s, out)
        report = json.load(open(f"{out}/report.json"))
        wall = {}
        with open(f"{out}/history.csv") as f:
            for r in csv.DictReader(f):
                wall[r["method"]] = float(r["wall_ms"])
        for m in report["result"]["methods"]:
            rows.setdefault((m["method"], b), []).append(
                (m["best_throughput_inferences_per_s"], wall.get(m["method"], 0.0)))
            if m["method"] == "exact":
                notes[b] = dict(m["notes"])
        print(f"done: budget {b} seed {s}", file=sys.stderr, flush=True)
print(f"| method | budget | best throughput, inferences/s (mean ± sd over {len(seeds)} seeds) | min | max | wall time per run (mean) |")
print("|---|---:|---:|---:|---:|---:|")
for m in methods:
    for b in budgets:
        v = rows[(m, b)]
        t = [x[0] for x in v]
        sd = statistics.stdev(t) if len(t) > 1 else 0.0
        w = statistics.mean(x[1] for x in v)
        print(f"| {m} | {b} | {statistics.mean(t):.1f} ± {sd:.1f} | {min(t):.1f} | {max(t):.1f} | {w / 1000:.2f} s |")
for b, n in sorted(notes.items()):
    print(f"\nexact at budget {b}: analytic status {n.get('analytic_status')}, "
          f"analytic objective {n.get('analytic_objective_cycles')} cycles "
          f"({n.get('analytic_throughput_inferences_per_s')} inferences/s analytic), "
          f"bound {n.get('analytic_bound_cycles')} cycles, gap {n.get('analytic_gap')}, "
          f"analytic throughput bound {n.get('analytic_throughput_bound_inferences_per_s')} inferences/s")
