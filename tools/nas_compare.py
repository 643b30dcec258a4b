#!/usr/bin/env python3
"""Guided against unguided architecture search at equal trials.

Runs a nas scenario (default scenarios/nas_digits.toml) once per (guidance,
seed) with the same trial budget, through the tessera binary, and appends one
row per run to a CSV: the front's hypervolume (report.json's, reference:
accuracy 0 and twice the seed's cost), the front's size, the cheapest front
member within 0.5 pp of the seed's validation accuracy and its reductions,
and how many children were new networks. Runs already in the CSV are skipped,
so a campaign can be stopped and continued. With --table it prints the
Markdown table of a CSV (mean ± sample standard deviation per guidance).

    cargo build --release
    python3 tools/nas_compare.py --trials 60 --seeds 1 2 3 4 5 --csv docs/data/nas_guided_vs_unguided.csv
    python3 tools/nas_compare.py --table docs/data/nas_guided_vs_unguided.csv

Only the Python standard library is used. TESSERA_BIN names the binary
(default target/release/tessera).
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIELDS = [
    "scenario", "guidance", "seed", "trials", "hypervolume", "front_size",
    "seed_params", "seed_latency_cycles", "seed_val_accuracy",
    "best_trial", "best_val_accuracy", "best_params_reduction_pct",
    "best_latency_reduction_pct", "new_networks", "duplicates",
    "mutation_failed", "wall_s",
]


def scenario_copy(scenario: Path, guidance: str, trials: int) -> Path:
    """A copy of the scenario beside it (so its relative paths still hold)
    with the guidance and the number of trials replaced."""
    text = scenario.read_text()
    lines = []
    replaced = set()
    for line in text.splitlines():
        key = line.split("=")[0].strip()
        if key == "guidance":
            line = f'guidance = "{guidance}"'
            replaced.add(key)
        elif key == "trials":
            line = f"trials = {trials}"
            replaced.add(key)
        lines.append(line)
    for key in ("guidance", "trials"):
        if key not in replaced:
            sys.exit(f"{scenario}: no `{key} = ...` line in [task]")
    fd, name = tempfile.mkstemp(prefix=f".compare-{guidance}-", suffix=".toml", dir=scenario.parent)
    os.close(fd)
    Path(name).write_text("\n".join(lines) + "\n")
    return Path(name)


def run_one(binary: str, scenario: Path, guidance: str, seed: int, trials: int) -> dict:
    copy = scenario_copy(scenario, guidance, trials)
    out = Path(tempfile.mkdtemp(prefix="nas-compare-"))
    try:
        t0 = time.time()
        p = subprocess.run(
            [binary, "run", str(copy), "--seed", str(seed), "--out", str(out / "run"), "--quiet"],
            capture_output=True, text=True)
        wall = time.time() - t0
        if p.returncode != 0:
            sys.exit(f"run failed ({p.returncode}): {p.stderr}")
        r = json.loads((out / "run" / "report.json").read_text())["result"]
    finally:
        copy.unlink()
    seed_m = r["seed"]
    best = r.get("best")
    outcomes = r["outcomes"]
    row = {
        "scenario": scenario.name, "guidance": guidance, "seed": seed, "trials": r["trials_done"],
        "hypervolume": f'{r["hypervolume"]:.6f}', "front_size": len(r["front"]),
        "seed_params": seed_m["params"], "seed_latency_cycles": seed_m.get("latency_cycles", ""),
        "seed_val_accuracy": f'{seed_m["val_accuracy"]:.6f}',
        "best_trial": "", "best_val_accuracy": "", "best_params_reduction_pct": "",
        "best_latency_reduction_pct": "",
        "new_networks": outcomes["trained"] + outcomes.get("training_failed", 0) + outcomes.get("unscored", 0) - 1,
        "duplicates": outcomes["duplicate"], "mutation_failed": outcomes["mutation_failed"],
        "wall_s": f"{wall:.1f}",
    }
    if best:
        row["best_trial"] = best["trial"]
        row["best_val_accuracy"] = f'{seed_m["val_accuracy"] + best["val_accuracy_change_pp"] / 100:.6f}'
        if best.get("params_reduction_pct") is not None:
            row["best_params_reduction_pct"] = f'{best["params_reduction_pct"]:.1f}'
        if best.get("latency_reduction_pct") is not None:
            row["best_latency_reduction_pct"] = f'{best["latency_reduction_pct"]:.1f}'
    return row


def table(path: Path) -> None:
    rows = list(csv.DictReader(path.open()))
    print("| guidance | runs | trials | hypervolume (mean ± sd) | front size | new networks | best: params −% | best: latency −% |")
    print("|---|---|---|---|---|---|---|---|")
    for g in ["guided", "unguided"]:
        rs = [r for r in rows if r["guidance"] == g]
        if not rs:
            continue
        hv = [float(r["hypervolume"]) for r in rs]
        sd = statistics.stdev(hv) if len(hv) > 1 else 0.0
        fs = statistics.mean(int(r["front_size"]) for r in rs)
        new = statistics.mean(int(r["new_networks"]) / max(1, int(r["trials"]) - 1) for r in rs)
        pr = [r["best_params_reduction_pct"] for r in rs]
        lr = [r["best_latency_reduction_pct"] for r in rs]
        print(f'| {g} | {len(rs)} | {rs[0]["trials"]} | {statistics.mean(hv):.4f} ± {sd:.4f} '
              f'| {fs:.1f} | {100 * new:.0f} % | {", ".join(p or "–" for p in pr)} | {", ".join(p or "–" for p in lr)} |')
    print()
    print("| guidance | seed | hypervolume |")
    print("|---|---|---|")
    for r in rows:
        print(f'| {r["guidance"]} | {r["seed"]} | {float(r["hypervolume"]):.4f} |')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default=str(ROOT / "scenarios/nas_digits.toml"))
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--guidance", nargs="+", default=["guided", "unguided"])
    ap.add_argument("--csv", default=str(ROOT / "docs/data/nas_guided_vs_unguided.csv"))
    ap.add_argument("--table", metavar="CSV")
    a = ap.parse_args()
    if a.table:
        table(Path(a.table))
        return
    binary = os.environ.get("TESSERA_BIN", str(ROOT / "target/release/tessera"))
    path = Path(a.csv)
    done = set()
    if path.exists():
        done = {(r["scenario"], r["guidance"], r["seed"], r["trials"]) for r in csv.DictReader(path.open())}
    scenario = Path(a.scenario).resolve()
    for seed in a.seeds:
        for g in a.guidance:
            if (scenario.name, g, str(seed), str(a.trials)) in done:
                continue
            row = run_one(binary, scenario, g, seed, a.trials)
            new = not path.exists()
            with path.open("a", newline="") as f:
                w = csv.DictWriter(f, fieldnames=FIELDS)
                if new:
                    w.writeheader()
                w.writerow(row)
            print(f'{g} seed {seed}: hypervolume {row["hypervolume"]}, front {row["front_size"]}, {row["wall_s"]} s', flush=True)


if __name__ == "__main__":
    main()
