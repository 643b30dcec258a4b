#!/usr/bin/env python3
"""Runs partition methods (the learned one among them) on a set of partition
scenarios at several budgets and seeds, one method per run so each run's wall
time is its own, and keeps every result in a CSV, so an interrupted campaign
resumes where it stopped and several campaigns can share one file. Usage
(from the repository root, after `cargo build --release`):

    python3 tools/rl_benchmark.py run CSV SCENARIOS METHODS BUDGETS SEEDS
    python3 tools/rl_benchmark.py table CSV

SCENARIOS is a comma-separated list of partition scenario files (their
hardware, overrides, workload, constraints and [simulation] are used; their
methods, budget and seed are replaced). METHODS is a comma-separated list of
method variants, each `NAME` or `LABEL=NAME:KEY=VALUE;KEY=VALUE` (options as
in `[task.options.NAME]`, values written as TOML), e.g.

    python3 tools/rl_benchmark.py run docs/data/hard_set.csv \
        scenarios/bench/resnet50_simba3m.toml,scenarios/bench/gpt2_mesh.toml \
        'greedy,dp,exact,random,sa,rl,rl+dp=rl:imitate="dp"' 1000,5000 1,2,3,4,5

TESSERA_BIN names another binary than ./target/release/tessera (a copy, so
rebuilding during a long campaign does not change the binary mid-way).

`table` prints, per scenario, one row per (method, budget): the mean and
standard deviation of the best simulated throughput over the seeds run, the
best of them, the mean wall time, and how far the mean is below the best
throughput any method found on that scenario.
"""
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import time

# The binary to run; TESSERA_BIN points elsewhere (e.g. a copy, so a rebuild
# during a long campaign does not change it mid-way).
BIN = os.environ.get("TESSERA_BIN", "./target/release/tessera")

FIELDS = ["scenario", "method", "budget", "seed", "best_inferences_per_s", "evaluations",
          "wall_s", "failed", "notes"]


def variant(spec):
    """`LABEL=NAME:opts` -> (label, name, {key: toml value})."""
    label, _, rest = spec.partition("=") if "=" in spec.split(":")[0] else (spec, "", spec)
    name, _, opts = rest.partition(":")
    options = {}
    for kv in filter(None, opts.split(";")):
        k, _, v = kv.partition("=")
        options[k.strip()] = v.strip()
    return label, name, options


def scenario_copy(path, name, options, budget, seed, out):
    """The scenario's text with one method, its options, the budget, seed and
    output directory replaced; relative spec/onnx/graph paths made absolute."""
    text = open(path).read()
    here = os.path.dirname(os.path.abspath(path))
    text = re.sub(r'^(\s*(?:spec|onnx|graph)\s*=\s*")([^"/][^"]*)"',
                  lambda m: m.group(1) + os.path.normpath(os.path.join(here, m.group(2))) + '"',
                  text, flags=re.M)
    text = re.sub(r"^seed\s*=.*$", f"seed = {seed}", text, flags=re.M)
    text = re.sub(r"^budget\s*=.*$", f"budget = {budget}", text, flags=re.M)
    text = re.sub(r"^methods?\s*=.*$", f'methods = ["{name}"]', text, flags=re.M)
    # Drop any [task.options.*] tables of the original, then add ours.
    text = re.sub(r"^\[task\.options\.[^\]]*\]\n(?:[^\[\n][^\n]*\n|\n)*", "", text, flags=re.M)
    text = re.sub(r'^dir\s*=.*$', f'dir = "{out}"', text, flags=re.M)
    if options:
        block = f"[task.options.{name}]\n" + "".join(f"{k} = {v}\n" for k, v in options.items())
        # Inserted right before [simulation], so it stays inside [task].
        text = re.sub(r"^\[simulation\]", block + "\n[simulation]", text, count=1, flags=re.M)
    if "plots" not in text:
        text = text.replace("[output]\n", '[output]\nplots = "none"\n')
    return text


def done(csv_path):
    if not os.path.exists(csv_path):
        return set()
    with open(csv_path) as f:
        return {(r["scenario"], r["method"], r["budget"], r["seed"]) for r in csv.DictReader(f)}


def run(csv_path, scenarios, methods, budgets, seeds):
    have = done(csv_path)
    new = not os.path.exists(csv_path)
    out_root = "/tmp/tessera_rl_benchmark"
    os.makedirs(out_root, exist_ok=True)
    with open(csv_path, "a", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        if new:
            w.writeheader()
        for sc in scenarios:
            stem = os.path.splitext(os.path.basename(sc))[0]
            for spec in methods:
                label, name, options = variant(spec)
                for budget in budgets:
                    for seed in seeds:
                        key = (stem, label, str(budget), str(seed))
                        if key in have:
                            continue
                        out = os.path.join(out_root, f"{stem}-{label}-{budget}-{seed}".replace('"', ""))
                        path = out + ".toml"
                        open(path, "w").write(scenario_copy(sc, name, options, budget, seed, out))
                        start = time.monotonic()
                        p = subprocess.run([BIN, "run", path, "--quiet", "--force"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                        wall = time.monotonic() - start
                        row = {"scenario": stem, "method": label, "budget": budget, "seed": seed,
                               "wall_s": f"{wall:.2f}", "best_inferences_per_s": "", "evaluations": "",
                               "failed": "", "notes": ""}
                        if p.returncode != 0:
                            row["failed"] = p.stderr.strip().splitlines()[-1][:200] if p.stderr else str(p.returncode)
                        else:
                            m = json.load(open(os.path.join(out, "report.json")))["result"]["methods"][0]
                            row["best_inferences_per_s"] = f'{m["best_throughput_inferences_per_s"]:.1f}' \
                                if m["best_throughput_inferences_per_s"] is not None else ""
                            row["evaluations"] = m["evaluations"]
                            row["failed"] = (m.get("failed") or "")[:200] if isinstance(m.get("failed"), str) else \
                                ("failed" if m.get("failed") else "")
                            row["notes"] = " ".join(f"{k}={v}" for k, v in m.get("notes", []))[:300]
                        w.writerow(row)
                        f.flush()
                        print(f"{stem} {label} budget {budget} seed {seed}: "
                              f"{row['best_inferences_per_s'] or row['failed']} ({wall:.1f} s)", flush=True)


def table(csv_path):
    rows = list(csv.DictReader(open(csv_path)))
    for sc in dict.fromkeys(r["scenario"] for r in rows):
        mine = [r for r in rows if r["scenario"] == sc]
        vals = [float(r["best_inferences_per_s"]) for r in mine if r["best_inferences_per_s"]]
        top = max(vals) if vals else 0.0
        if top <= 0.0:
            print(f"\n### {sc}: no method found a valid placement\n")
            continue
        print(f"\n### {sc} (best found {top:,.1f} inferences/s)\n")
        print("| method | budget | seeds | mean ± sd | min | max | mean below best | wall per run |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        groups = {}
        for r in mine:
            groups.setdefault((r["method"], int(r["budget"])), []).append(r)
        for (method, budget), rs in groups.items():
            v = [float(r["best_inferences_per_s"]) if r["best_inferences_per_s"] else 0.0 for r in rs]
            mean = statistics.mean(v)
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            wall = statistics.mean(float(r["wall_s"]) for r in rs)
            failed = sum(1 for r in rs if not r["best_inferences_per_s"])
            extra = f" ({failed} failed)" if failed else ""
            print(f"| {method} | {budget:,} | {len(v)}{extra} | {mean:,.1f} ± {sd:,.1f} | {min(v):,.1f} | "
                  f"{max(v):,.1f} | {100 * (1 - mean / top):.1f} % | {wall:.1f} s |")


if __name__ == "__main__":
    a = sys.argv[1:]
    if a and a[0] == "run" and len(a) == 6:
        run(a[1], a[2].split(","), a[3].split(","), [int(b) for b in a[4].split(",")],
            [int(s) for s in a[5].split(",")])
    elif a and a[0] == "table" and len(a) == 2:
        table(a[1])
    else:
        sys.exit(__doc__)
