#!/usr/bin/env python3
"""Runs every partition method at several budgets and seeds and prints a
Markdown table of best simulated throughput (mean and spread over seeds) and
wall time. Usage (from the repository root, after `cargo build --release`):

    python3 tools/partition_table.py HW_SPEC MODEL [BUDGETS] [SEEDS]

e.g. python3 tools/partition_table.py hw_specs/edgetpu_ring16.toml bert-base 100,1000,5000 1,2,3,4,5
"""
import csv
import json
import statistics
import subprocess
import sys

hw, model = sys.argv[1], sys.argv[2]
budgets = [int(b) for b in (sys.argv[3] if len(sys.argv) > 3 else "100,1000,5000").split(",")]
seeds = [int(s) for s in (sys.argv[4] if len(sys.argv) > 4 else "1,2,3,4,5").split(",")]
methods = ["greedy", "dp", "balance", "random", "sa", "exact"]
rows = {}
notes = {}
for b in budgets:
    for s in seeds:
        out = f"/tmp/partition_table/{b}_{s}"
        subprocess.run(
            ["./target/release/tessera", "partition", "--hw", hw, "--model", model,
             "--method", ",".join(methods), "--budget", str(b), "--seed", str(s),
             "--out", out, "--quiet"],
            check=True, stdout=subprocess.DEVNULL)
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
    print(f"\nexact at budget {b}: status {n.get('status')}, objective {n.get('objective_cycles')} cycles, "
          f"bound {n.get('bound_cycles')} cycles, gap {n.get('gap')}, "
          f"throughput bound {n.get('throughput_bound_inferences_per_s')} inferences/s")
