#!/usr/bin/env python3
"""Run BookSim2 on every config in tools/booksim/configs/ and write reference data.

Standard library only. Produces (relative to the repository root):

  tests/data/booksim/results.csv   one row per BookSim run (network, packet size,
                                   VCs, buffers, offered rate)
  tests/data/booksim/summary.csv   one row per config: zero-load latency,
                                   saturation throughput, latency at 50/80/90 %
  tests/data/booksim/zeroload.csv  zero-load latency of meshes and rings of
                                   several sizes (for the a + b*hops fit)
  tests/data/booksim/fit.csv       least-squares a + b*hops per topology/packet size

Usage:
  python3 tools/booksim/run.py [--booksim PATH] [--only SUBSTR] [--no-fit]

BookSim's exit code is not a success flag (main() returns -1 when the simulation
succeeded and 0 when it was unstable), so the output is parsed instead: a run is
stable when BookSim prints "Overall Traffic Statistics" and not
"Simulation unstable".

Sweep per config (one BookSim process at a time):
  1. low rates 0.005, 0.01, 0.02, 0.05 (rates <= 0.02 use sample_period 20000
     for a tight zero-load estimate);
  2. coarse rates 0.1, 0.2, ... 1.0 until the first unstable one;
  3. fine rates in steps of 0.02 upward from the last stable coarse rate until
     the first unstable one;
  4. bisection between the last stable and first unstable fine rate down to
     0.0025 (steps 0.01, 0.005, 0.0025: three extra runs);
  5. runs at 50 %, 80 % and 90 % of the saturation rate found, and one at
     first-unstable + 0.05 (to show the unstable side).
Saturation throughput (summary.csv `sat_offered_flits`) is the highest offered
rate of that upward search that BookSim reports stable; `sat_accepted_flits` is
the accepted flit rate BookSim measured at it.
"""

import argparse
import csv
import itertools
import math
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONFIG_DIR = os.path.join(HERE, "configs")
OUT_DIR = os.path.join(ROOT, "tests", "data", "booksim")
DEFAULT_BOOKSIM = os.path.join(HERE, "build", "booksim2", "src", "booksim")

LOW_RATES = [0.005, 0.01, 0.02, 0.05]
LOW_SAMPLE_PERIOD = 20000  # for rates <= 0.02
COARSE_STEP = 0.1
FINE_STEP = 0.02
BISECT_STEPS = [0.01, 0.005, 0.0025]
FRACTIONS = [0.5, 0.8, 0.9]
BEYOND = 0.05
TIMEOUT_S = 600

RESULT_COLUMNS = [
    "network", "config", "topology", "k", "n", "routing_function",
    "packet_flits", "num_vcs", "vc_buf_size", "channel_latency",
    "injection_rate_flits", "injection_rate_packets", "sweep_phase",
    "stable", "unstable_reason", "stats_source",
    "avg_packet_latency", "avg_network_latency", "avg_flit_latency",
    "injected_rate_flits", "accepted_rate_flits", "accepted_rate_packets",
    "avg_router_hops", "cycles",
]

SUMMARY_COLUMNS = [
    "network", "config", "topology", "k", "n", "packet_flits", "num_vcs",
    "vc_buf_size", "channel_latency", "avg_hops_incl_src", "avg_hops_excl_src",
    "capacity_flits", "zero_load_rate_flits", "zero_load_latency",
    "zero_load_network_latency", "sat_offered_flits", "first_unstable_flits",
    "sat_accepted_flits", "sat_fraction_of_capacity", "rate_3x_zero_load_flits",
    "max_accepted_flits", "rate_50pct", "latency_50pct", "rate_80pct",
    "latency_80pct", "rate_90pct", "latency_90pct",
]


# --------------------------------------------------------------------------
# config handling

def read_config(path):
    """Parse the simple `key = value;` BookSim config format (comments //)."""
    params = {}
    with open(path) as f:
        for line in f:
            line = line.split("//", 1)[0].strip()
            if not line or "=" not in line:
                continue
            key, value = line.split("=", 1)
            params[key.strip()] = value.strip().rstrip(";").strip()
    return params


def network_name(p):
    k, n = int(p["k"]), int(p["n"])
    if p["topology"] == "mesh":
        return "mesh%dx%d" % (k, k) if n == 2 else "mesh%s" % "x".join([str(k)] * n)
    if p["topology"] == "torus" and n == 1:
        return "ring%d" % k
    return "%s%s" % (p["topology"], "x".join([str(k)] * n))


def channel_latency(p):
    """Latency of a router-to-router channel in BookSim's KNCube (kncube.cpp):
    with use_noc_latency = 1 (the default) mesh channels take 1 cycle and every
    torus channel 2; with use_noc_latency = 0 all take 1."""
    if int(p.get("use_noc_latency", "1")) == 1 and p["topology"] == "torus":
        return 2
    return 1


# --------------------------------------------------------------------------
# topology analysis (analytic hop counts and DOR channel-load capacity)

def coords(node, k, n):
    return [(node // (k ** d)) % k for d in range(n)]


def dor_channel_loads(topology, k, n):
    """Expected load per directed channel, in flits/cycle per unit injection rate
    (flits/node/cycle), for uniform traffic *including the source* (as BookSim's
    `uniform` does) under BookSim's dimension-order routing (dim 0 first; torus
    takes the shorter way round, ties split half/half). Returns (loads, hops_incl,
    hops_excl) with the average channel hops including and excluding src == dst."""
    N = k ** n
    loads = {}
    total_hops = 0.0
    for s in range(N):
        for d in range(N):
            cs, cd = coords(s, k, n), coords(d, k, n)
            paths = [(1.0, [])]  # (weight, list of channels)
            for dim in range(n):
                a, b = cs[dim], cd[dim]
                if a == b:
                    continue
                options = []
                if topology == "mesh":
                    step = 1 if b > a else -1
                    options.append((1.0, step, abs(b - a)))
                else:
                    fwd = (b - a) % k
                    back = (a - b) % k
                    if fwd < back:
                        options.append((1.0, 1, fwd))
                    elif back < fwd:
                        options.append((1.0, -1, back))
                    else:
                        options.append((0.5, 1, fwd))
                        options.append((0.5, -1, back))
                new_paths = []
                for w, chans in paths:
                    for ow, step, dist in options:
                        pos = list(cs)
                        # position in earlier dims already corrected
                        for dd in range(dim):
                            pos[dd] = cd[dd]
                        c = list(chans)
                        x = a
                        for _ in range(dist):
                            nxt = (x + step) % k
                            src_pos = list(pos)
                            src_pos[dim] = x
                            c.append((tuple(src_pos), dim, step))
                            x = nxt
                        new_paths.append((w * ow, c))
                paths = new_paths
            for w, chans in paths:
                total_hops += w * len(chans)
                for ch in chans:
                    loads[ch] = loads.get(ch, 0.0) + w / N  # each src sends 1/N of its rate to d
    hops_incl = total_hops / (N * N)
    hops_excl = total_hops / (N * (N - 1))
    return loads, hops_incl, hops_excl


def capacity(topology, k, n):
    loads, hi, he = dor_channel_loads(topology, k, n)
    gamma = max(loads.values())
    # also limited by the 1 flit/cycle injection and ejection channels
    return min(1.0, 1.0 / gamma), hi, he


# --------------------------------------------------------------------------
# running and parsing BookSim

FLOAT = r"([-+0-9.eE]+|nan|inf|-nan)"


def _last(pattern, text):
    m = re.findall(pattern, text, flags=re.M)
    return float(m[-1]) if m else None


def parse_output(text):
    res = {}
    overall = text.find("====== Overall Traffic Statistics ======")
    unstable = "Simulation unstable" in text
    res["stable"] = int(overall >= 0 and not unstable)
    if "exceeded" in text and "Aborting simulation" in text:
        res["unstable_reason"] = "latency_thres"
    elif "Too many sample periods needed to converge" in text:
        res["unstable_reason"] = "not_converged"
    elif unstable or overall < 0:
        res["unstable_reason"] = "other"
    else:
        res["unstable_reason"] = ""
    if overall >= 0:
        body = text[overall:]
        res["stats_source"] = "overall"
        res["avg_packet_latency"] = _last(r"^Packet latency average = " + FLOAT + r" \(", body)
        res["avg_network_latency"] = _last(r"^Network latency average = " + FLOAT + r" \(", body)
        res["avg_flit_latency"] = _last(r"^Flit latency average = " + FLOAT + r" \(", body)
        res["injected_rate_flits"] = _last(r"^Injected flit rate average = " + FLOAT + r" \(", body)
        res["accepted_rate_flits"] = _last(r"^Accepted flit rate average = " + FLOAT + r" \(", body)
        res["accepted_rate_packets"] = _last(r"^Accepted packet rate average = " + FLOAT + r" \(", body)
        res["avg_router_hops"] = _last(r"^Hops average = " + FLOAT + r" \(", body)
    else:
        # unstable: the last per-sample report (packets delivered so far only,
        # so its latency understates the true, growing latency)
        res["stats_source"] = "last_sample"
        res["avg_packet_latency"] = _last(r"^Packet latency average = " + FLOAT + r"$", text)
        res["avg_network_latency"] = _last(r"^Network latency average = " + FLOAT + r"$", text)
        res["avg_flit_latency"] = _last(r"^Flit latency average = " + FLOAT + r"$", text)
        res["injected_rate_flits"] = _last(r"^Injected flit rate average = " + FLOAT + r"$", text)
        res["accepted_rate_flits"] = _last(r"^Accepted flit rate average\s*= " + FLOAT + r"$", text)
        res["accepted_rate_packets"] = _last(r"^Accepted packet rate average = " + FLOAT + r"$", text)
        res["avg_router_hops"] = None
    res["cycles"] = _last(r"^Time taken is (\d+) cycles", text)
    if res["cycles"] is not None:
        res["cycles"] = int(res["cycles"])
    return res


class Runner:
    def __init__(self, booksim, log):
        self.booksim = booksim
        self.log = log
        self.cache = {}
        self.wall = 0.0
        self.count = 0

    def run(self, cfg_path, overrides):
        key = (cfg_path, tuple(sorted(overrides.items())))
        if key in self.cache:
            return self.cache[key]
        args = [self.booksim, cfg_path] + ["%s=%s" % kv for kv in sorted(overrides.items())]
        t0 = time.time()
        proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=TIMEOUT_S)
        dt = time.time() - t0
        self.wall += dt
        self.count += 1
        res = parse_output(proc.stdout)
        self.log.write("%-28s %-40s stable=%d lat=%s acc=%s %.1fs\n" % (
            os.path.basename(cfg_path), " ".join(args[2:]), res["stable"],
            res["avg_packet_latency"], res["accepted_rate_flits"], dt))
        self.log.flush()
        self.cache[key] = res
        return res


def fmt(x, digits=6):
    if x is None:
        return ""
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            return str(x)
        return ("%%.%dg" % digits) % x
    return str(x)


def rnd(x):
    return round(x + 1e-12, 4)


def sweep_config(runner, cfg_path, results):
    p = read_config(cfg_path)
    name = os.path.splitext(os.path.basename(cfg_path))[0]
    ps = int(p["packet_size"])
    base = {
        "network": network_name(p), "config": name, "topology": p["topology"],
        "k": int(p["k"]), "n": int(p["n"]),
        "routing_function": p["routing_function"] + "_" + p["topology"],
        "packet_flits": ps, "num_vcs": int(p["num_vcs"]),
        "vc_buf_size": int(p["vc_buf_size"]), "channel_latency": channel_latency(p),
    }
    rows = {}

    def run(rate, phase):
        rate = rnd(rate)
        ov = {"injection_rate": "%g" % rate}
        if rate <= 0.02:
            ov["sample_period"] = str(LOW_SAMPLE_PERIOD)
        res = runner.run(cfg_path, ov)
        if rate not in rows:
            row = dict(base)
            row.update(res)
            row["injection_rate_flits"] = rate
            row["injection_rate_packets"] = rate / ps
            row["sweep_phase"] = phase
            rows[rate] = row
        return res["stable"] == 1

    for r in LOW_RATES:
        run(r, "low")
    # coarse
    lo, hi = LOW_RATES[-1], None
    r = COARSE_STEP
    while r <= 1.0 + 1e-9:
        if run(r, "coarse"):
            lo = rnd(r)
        else:
            hi = rnd(r)
            break
        r = rnd(r + COARSE_STEP)
    if hi is not None:
        # fine, upward from the last stable coarse rate
        r = rnd(lo + FINE_STEP)
        while r < hi - 1e-9:
            if run(r, "fine"):
                lo = r
            else:
                hi = r
                break
            r = rnd(r + FINE_STEP)
        for step in BISECT_STEPS:
            mid = rnd(lo + step)
            if mid >= hi - 1e-9:
                continue
            if run(mid, "bisect"):
                lo = mid
            else:
                hi = mid
    sat = lo
    for f in FRACTIONS:
        run(rnd(f * sat), "fraction")
    if hi is not None and rnd(hi + BEYOND) <= 1.0:
        run(rnd(hi + BEYOND), "beyond")

    ordered = [rows[r] for r in sorted(rows)]
    results.extend(ordered)

    # summary
    cap, h_in, h_ex = capacity(p["topology"], int(p["k"]), int(p["n"]))
    zl = rows[LOW_RATES[0]]
    t0 = zl["avg_packet_latency"]
    stable_rows = [x for x in ordered if x["stable"]]
    sat_row = rows[sat]
    # offered rate where latency first reaches 3x zero-load (linear interp over
    # stable points, only if it happens below the saturation rate)
    r3 = None
    prev = None
    for x in stable_rows:
        if x["avg_packet_latency"] >= 3 * t0 and prev is not None:
            y0, y1 = prev["avg_packet_latency"], x["avg_packet_latency"]
            r0, r1 = prev["injection_rate_flits"], x["injection_rate_flits"]
            r3 = r0 + (3 * t0 - y0) * (r1 - r0) / (y1 - y0)
            break
        prev = x
    summ = {
        "network": base["network"], "config": name, "topology": base["topology"],
        "k": base["k"], "n": base["n"], "packet_flits": ps, "num_vcs": base["num_vcs"],
        "vc_buf_size": base["vc_buf_size"], "channel_latency": base["channel_latency"],
        "avg_hops_incl_src": h_in, "avg_hops_excl_src": h_ex, "capacity_flits": cap,
        "zero_load_rate_flits": LOW_RATES[0], "zero_load_latency": t0,
        "zero_load_network_latency": zl["avg_network_latency"],
        "sat_offered_flits": sat, "first_unstable_flits": hi if hi is not None else "",
        "sat_accepted_flits": sat_row["accepted_rate_flits"],
        "sat_fraction_of_capacity": sat_row["accepted_rate_flits"] / cap,
        "rate_3x_zero_load_flits": r3,
        "max_accepted_flits": max(x["accepted_rate_flits"] for x in ordered
                                  if x["accepted_rate_flits"] is not None),
    }
    for f in FRACTIONS:
        rr = rnd(f * sat)
        tag = "%dpct" % int(round(f * 100))
        summ["rate_" + tag] = rr
        summ["latency_" + tag] = rows[rr]["avg_packet_latency"] if rows[rr]["stable"] else None
    return summ


# --------------------------------------------------------------------------
# zero-load fit across network sizes

FIT_NETWORKS = [("mesh", k, 2) for k in (2, 3, 4, 5, 6, 8)] + \
               [("torus", k, 1) for k in (4, 6, 8, 10, 12)]
FIT_PACKETS = [1, 4]
FIT_RATE = 0.005


def zero_load_fit(runner, template_cfg, out_rows):
    """Zero-load latency on several sizes of each topology (8 VCs x 16 buffers,
    rate 0.005 flits/node/cycle, sample_period 20000) using template_cfg with
    topology/k/n/routing/packet_size overridden on the command line."""
    for (topo, k, n), ps in itertools.product(FIT_NETWORKS, FIT_PACKETS):
        ov = {"topology": topo, "k": str(k), "n": str(n),
              "routing_function": "dor" if topo == "mesh" else "dim_order",
              "packet_size": str(ps), "num_vcs": "8", "vc_buf_size": "16",
              "injection_rate": "%g" % FIT_RATE, "sample_period": str(LOW_SAMPLE_PERIOD)}
        res = runner.run(template_cfg, ov)
        _, h_in, h_ex = dor_channel_loads(topo, k, n)
        p = {"topology": topo, "k": str(k), "n": str(n)}
        out_rows.append({
            "network": network_name(p), "topology": topo, "k": k, "n": n,
            "packet_flits": ps, "channel_latency": 2 if topo == "torus" else 1,
            "injection_rate_flits": FIT_RATE, "stable": res["stable"],
            "avg_hops_incl_src": h_in, "avg_hops_excl_src": h_ex,
            "avg_router_hops": res["avg_router_hops"],
            "avg_packet_latency": res["avg_packet_latency"],
            "avg_network_latency": res["avg_network_latency"],
        })


def least_squares(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    b = sxy / sxx
    a = my - b * mx
    resid = max(abs(y - (a + b * x)) for x, y in zip(xs, ys))
    return a, b, resid


def fits(zrows):
    out = []
    for topo in ("mesh", "torus"):
        for ps in FIT_PACKETS:
            sel = [r for r in zrows if r["topology"] == topo and r["packet_flits"] == ps
                   and r["stable"]]
            for hops_col in ("avg_hops_incl_src", "avg_router_hops"):
                for lat_col in ("avg_packet_latency", "avg_network_latency"):
                    xs = [r[hops_col] for r in sel]
                    ys = [r[lat_col] for r in sel]
                    a, b, res = least_squares(xs, ys)
                    out.append({"topology": topo, "packet_flits": ps,
                                "channel_latency": 2 if topo == "torus" else 1,
                                "x": hops_col, "y": lat_col, "a": a, "b": b,
                                "max_abs_residual": res, "points": len(sel),
                                "networks": " ".join(r["network"] for r in sel)})
    return out


# --------------------------------------------------------------------------

def write_csv(path, columns, rows, header_lines):
    with open(path, "w", newline="") as f:
        for h in header_lines:
            f.write("# " + h + "\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([fmt(r.get(c)) for c in columns])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--booksim", default=os.environ.get("BOOKSIM", DEFAULT_BOOKSIM))
    ap.add_argument("--configs", default=CONFIG_DIR)
    ap.add_argument("--out", default=OUT_DIR)
    ap.add_argument("--only", default="", help="run only configs whose name contains this")
    ap.add_argument("--no-fit", action="store_true", help="skip the zero-load fit runs")
    args = ap.parse_args()
    if not os.path.exists(args.booksim):
        sys.exit("booksim binary not found at %s (run tools/booksim/setup.sh or pass --booksim)"
                 % args.booksim)
    os.makedirs(args.out, exist_ok=True)
    cfgs = sorted(os.path.join(args.configs, f) for f in os.listdir(args.configs)
                  if f.endswith(".cfg") and args.only in f)
    runner = Runner(args.booksim, sys.stderr)
    header = ["BookSim2 reference data for tessera (issue 13); produced by "
              "`python3 tools/booksim/run.py` -- see docs/booksim.md and "
              "tests/data/booksim/README.md for the BookSim commit and build."]
    results, summaries = [], []
    for cfg in cfgs:
        summaries.append(sweep_config(runner, cfg, results))
        sys.stderr.write("== %s: T0=%.3f sat=%.4f (accepted %.4f)\n" % (
            summaries[-1]["config"], summaries[-1]["zero_load_latency"],
            summaries[-1]["sat_offered_flits"], summaries[-1]["sat_accepted_flits"]))
    suffix = "" if not args.only else "_" + re.sub(r"[^A-Za-z0-9]+", "_", args.only)
    write_csv(os.path.join(args.out, "results%s.csv" % suffix), RESULT_COLUMNS, results, header)
    write_csv(os.path.join(args.out, "summary%s.csv" % suffix), SUMMARY_COLUMNS, summaries, header)
    if not args.no_fit and cfgs:
        zrows = []
        zero_load_fit(runner, cfgs[0], zrows)
        zcols = ["network", "topology", "k", "n", "packet_flits", "channel_latency",
                 "injection_rate_flits", "stable", "avg_hops_incl_src", "avg_hops_excl_src",
                 "avg_router_hops", "avg_packet_latency", "avg_network_latency"]
        write_csv(os.path.join(args.out, "zeroload.csv"), zcols, zrows, header)
        fcols = ["topology", "packet_flits", "channel_latency", "x", "y", "a", "b",
                 "max_abs_residual", "points", "networks"]
        write_csv(os.path.join(args.out, "fit.csv"), fcols, fits(zrows), header)
    sys.stderr.write("%d BookSim runs, %.1f s of BookSim wall time\n" % (runner.count, runner.wall))


if __name__ == "__main__":
    main()
