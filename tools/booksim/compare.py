#!/usr/bin/env python3
"""tessera's interconnect against BookSim2's committed numbers.

Runs `tessera traffic` (uniform traffic) on the mirrored networks in
tools/booksim/tessera/ over a sweep of flit injection rates and prints, per
network and packet size, tessera's and BookSim's zero-load latency, latency
at 50 % and 80 % of BookSim's saturation rate, and saturation throughput
(tessera: the highest accepted flit rate among the rates it does not report
as saturated). Writes docs/booksim_comparison.md's table to stdout.

    cargo build --release -p tessera-cli
    python3 tools/booksim/compare.py > /tmp/table.md

Standard library only. Not part of the test suite (tests/tests/booksim.rs
checks the zero-load latency).
"""
import csv
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESSERA = os.path.join(ROOT, "target", "release", "tessera")


def traffic(net, flits, rate_flits):
    packet_bytes = 16 * flits
    args = [TESSERA, "traffic", "--hw", os.path.join(ROOT, "tools/booksim/tessera", net + ".toml"),
            "--pattern", "uniform", "--rate", repr(min(1.0, rate_flits / flits)),
            "--packet-bytes", str(packet_bytes), "--warmup", "3000", "--cycles", "20000",
            "--drain-max", "40000", "--json"]
    if flits > 1:
        args.append("--cut-through")
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    return r


def booksim_rows():
    path = os.path.join(ROOT, "tests/data/booksim/summary.csv")
    with open(path) as f:
        lines = [l for l in f if not l.startswith("#")]
    return list(csv.DictReader(lines))


def main():
    rows = booksim_rows()
    print("| network | packet | BookSim VCs×buf | zero-load: BookSim / tessera | at 50 % sat.: BookSim / tessera | at 80 % sat.: BookSim / tessera | saturation (flits/node/cycle): BookSim / tessera | tessera − BookSim |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for row in rows:
        net, flits = row["network"], int(row["packet_flits"])
        sat_b = float(row["sat_accepted_flits"])
        lo = traffic(net, flits, float(row["zero_load_rate_flits"]))
        r50 = traffic(net, flits, float(row["rate_50pct"]))
        r80 = traffic(net, flits, float(row["rate_80pct"]))
        # tessera's saturation: scan rates upward in steps of 0.02 flits.
        best, rate = 0.0, 0.05
        while rate <= 1.0:
            r = traffic(net, flits, rate)
            if r["saturated"]:
                break
            best = r["accepted_throughput"] * flits
            rate += 0.02
        print(f"| {net} | {flits} flit{'s' if flits > 1 else ''} | {row['num_vcs']}×{row['vc_buf_size']} "
              f"| {float(row['zero_load_latency']):.1f} / {lo['avg_latency_cycles']:.1f} "
              f"| {float(row['latency_50pct']):.1f} / {r50['avg_latency_cycles']:.1f} "
              f"| {float(row['latency_80pct']):.1f} / {r80['avg_latency_cycles']:.1f} "
              f"| {sat_b:.3f} / {best:.3f} | {100 * (best - sat_b) / sat_b:+.0f} % |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
