#!/usr/bin/env python3
"""Speed-up of a sweep or train scenario on a local Ray cluster of 2 workers
over 1 (and, for reference, `tessera run --threads 1/2` on the same machine).

    python tools/ray_bench.py [SCENARIO[@MAX_BUDGET] ...] [--repeats 3]

`SCENARIO@N` runs it with `--max-budget N` (a train task's episodes).

Needs the package with its Ray extra in the running Python (tools/test's
venv has it: target/py-venv/bin/python tools/ray_bench.py) and the release
`tessera` command ($TESSERA_BIN, else target/release/tessera). For each
scenario and worker count, a fresh local cluster is started in a child
process; the first run (which also starts the worker processes) is timed
as "first", then `--repeats` more as "warm" (median). Wall-clock times on
this machine; nothing here decides anything tessera writes.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, tempfile, time
import ray, tessera.ray
scenario, workers, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
budget = None if sys.argv[4] == "-" else int(sys.argv[4])
t = time.perf_counter()
ray.init(num_cpus=workers, log_to_driver=False, include_dashboard=False)
init = time.perf_counter() - t
times = []
with tempfile.TemporaryDirectory() as d:
    for _ in range(repeats + 1):
        t = time.perf_counter()
        tessera.ray.run_scenario(scenario, out=f"{d}/out", force=True, max_budget=budget)
        times.append(time.perf_counter() - t)
print(json.dumps({"init_s": init, "times_s": times}))
"""


def ray_times(scenario, budget, workers, repeats):
    p = subprocess.run(
        [sys.executable, "-c", CHILD, scenario, str(workers), str(repeats),
         "-" if budget is None else str(budget)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    import json

    return json.loads(p.stdout.strip().splitlines()[-1])


def local_times(tessera, scenario, budget, threads, repeats):
    times = []
    cap = [] if budget is None else ["--max-budget", str(budget)]
    with tempfile.TemporaryDirectory() as d:
        for _ in range(repeats):
            t = time.perf_counter()
            subprocess.run(
                [tessera, "run", scenario, "--out", f"{d}/out", "--quiet", "--force",
                 "--threads", str(threads), *cap],
                cwd=ROOT, check=True, capture_output=True,
            )
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", default=[
        "scenarios/link_bandwidth_sweep.toml", "scenarios/traffic_mesh_buffered.toml"])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    tessera = os.environ.get("TESSERA_BIN", str(ROOT / "target/release/tessera"))
    print("| scenario | runner | 1 worker (s) | 2 workers (s) | speed-up |")
    print("|---|---|---|---|---|")
    for item in args.scenarios:
        scenario, _, cap = item.partition("@")
        budget = int(cap) if cap else None
        name = Path(scenario).stem + (f" (--max-budget {budget})" if cap else "")
        one, two = (ray_times(scenario, budget, w, args.repeats) for w in (1, 2))
        for label, pick in [("Ray, first run", lambda r: r["times_s"][0]),
                            ("Ray, warm (median)", lambda r: statistics.median(r["times_s"][1:]))]:
            a, b = pick(one), pick(two)
            print(f"| {name} | {label} | {a:.2f} | {b:.2f} | {a / b:.2f}× |")
        a, b = (local_times(tessera, scenario, budget, t, args.repeats) for t in (1, 2))
        print(f"| {name} | `tessera run --threads` (median) | {a:.2f} | {b:.2f} | {a / b:.2f}× |")
        print(f"| {name} | (ray.init: {one['init_s']:.1f} s / {two['init_s']:.1f} s, not counted) | | | |")


if __name__ == "__main__":
    main()
