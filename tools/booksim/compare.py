#!/usr/bin/env python3
"""tessera's interconnect against BookSim2's committed numbers.

For each BookSim configuration in tests/data/booksim/summary.csv, runs
`tessera traffic` (uniform traffic with the source included, as BookSim's)
on the mirrored network in tools/booksim/tessera/ and prints one Markdown
table row: zero-load latency, latency at 50 % and 80 % of BookSim's
saturation rate (the same offered rates in both), and saturation throughput.
tessera's saturation throughput is the accepted flit rate at the highest
offered rate it does not report as saturated, found by bisection to 0.005
flits/node/cycle.

    cargo build --release -p tessera-cli
    python3 tools/booksim/compare.py            # buffered routers ({net}_vc{V}x{B}.toml)
    python3 tools/booksim/compare.py --ideal    # the ideal link model ({net}.toml)

Standard library only; about 3 minutes on one core. Not part of the test
suite (tests/tests/booksim.rs checks the same targets on shorter runs).
"""
import csv
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESSERA = os.path.join(ROOT, "target", "release", "tessera")


def traffic(spec, flits, rate_flits, cut_through):
    args = [TESSERA, "traffic", "--hw", os.path.join(ROOT, "tools/booksim/tessera", spec + ".toml"),
            "--pattern", "uniform", "--include-source", "--rate", repr(min(1.0, rate_flits / flits)),
            "--packet-bytes", str(16 * flits), "--warmup", "3000", "--cycles", "20000",
            "--drain-max", "40000", "--json"]
    if cut_through:
        args.append("--cut-through")
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def saturation(spec, flits, cut_through):
    """(highest unsaturated offered flit rate, its accepted flit rate)."""
    lo, hi = 0.01, 1.0
    r = traffic(spec, flits, hi, cut_through)
    if not r["saturated"]:
        return hi, r["accepted_throughput"] * flits
    best = traffic(spec, flits, lo, cut_through)["accepted_throughput"] * flits
    while hi - lo > 0.005:
        mid = round((lo + hi) / 2, 4)
        r = traffic(spec, flits, mid, cut_through)
        if r["saturated"]:
            hi = mid
        else:
            lo, best = mid, r["accepted_throughput"] * flits
    return lo, best


def booksim_rows():
    path = os.path.join(ROOT, "tests/data/booksim/summary.csv")
    with open(path) as f:
        lines = [l for l in f if not l.startswith("#")]
    return list(csv.DictReader(lines))


def pct(ours, theirs):
    return f"{100 * (ours - theirs) / theirs:+.1f} %"


def main():
    ideal = "--ideal" in sys.argv[1:]
    print("| network | packet | VCs×buf | zero-load: BookSim / tessera | at 50 % sat.: BookSim / tessera | at 80 % sat.: BookSim / tessera | saturation (accepted flits/node/cycle): BookSim / tessera |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for row in booksim_rows():
        net, flits = row["network"], int(row["packet_flits"])
        vcs, buf = row["num_vcs"], row["vc_buf_size"]
        spec = net if ideal else f"{net}_vc{vcs}x{buf}"
        cut_through = ideal and flits > 1
        z = traffic(spec, flits, float(row["zero_load_rate_flits"]), cut_through)
        r50 = traffic(spec, flits, float(row["rate_50pct"]), cut_through)
        r80 = traffic(spec, flits, float(row["rate_80pct"]), cut_through)
        _, sat = saturation(spec, flits, cut_through)
        zb, l50, l80, sb = (float(row[k]) for k in
                            ("zero_load_latency", "latency_50pct", "latency_80pct", "sat_accepted_flits"))
        print(f"| {net} | {flits} flit{'s' if flits > 1 else ''} | {vcs}×{buf} "
              f"| {zb:.1f} / {z['avg_latency_cycles']:.1f} ({pct(z['avg_latency_cycles'], zb)}) "
              f"| {l50:.1f} / {r50['avg_latency_cycles']:.1f} ({pct(r50['avg_latency_cycles'], l50)}) "
              f"| {l80:.1f} / {r80['avg_latency_cycles']:.1f} ({pct(r80['avg_latency_cycles'], l80)}) "
              f"| {sb:.3f} / {sat:.3f} ({pct(sat, sb)}) |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
