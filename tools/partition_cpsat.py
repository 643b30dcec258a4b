#!/usr/bin/env python3
"""Reference solver for tessera's partition objective, with OR-tools CP-SAT.

Kept outside the test suite: its results are committed as test data
(tests/data/cpsat/results.csv, described in tests/data/cpsat/README.md) for a
Rust test to compare tessera's `exact` method against.

What it solves (the "compute-only" case of issue 14): place every op of a
graph on one chiplet of a package so that

  * acyclic dataflow holds: for every edge u -> v, p(u) <= p(v), where p is
    the pipeline position of the op's chiplet;
  * SRAM capacity holds on every chiplet, with tessera's rule
    (sim/src/problem.rs, "The SRAM rule"): resident weights of the ops on the
    chiplet plus the static peak of live activations when one micro-batch runs
    them in topological order;

minimising the largest stage time, max over chiplets of the sum of
`sim::cost::op_cost(op, type).cycles` over the ops there. That is exactly
tessera's analytic bottleneck (`sim::oracle::analyse(..).bottleneck_cycles`,
what `exact` minimises) on a package without weight streaming whose link
term can never bind; `problem_checks` verifies the latter per case (see
tests/data/cpsat/compute_only.toml).

It also solves the MLSys 2022 constraint set (acyclic dataflow,
no_skipping = "edge", no_triangle, SRAM capacity) with the link term
(every op's output crosses to the next position over the spec's route and
loads each link of it by its serialisation cycles): package
`ring_nostream`, the shipped edgetpu ring with weight streaming off.
no_skipping = "prefix", no_triangle without edge mode, and weight
streaming are refused.

Per-op numbers come from tessera itself, never from a re-implemented cost
model: `sim/examples/op_costs.rs` prints them (`op_costs problem`), and
judges any placement with tessera's own code (`op_costs eval`).

Usage
-----
  # one solve, from a problem file written by `op_costs problem SPEC GRAPH`
  python3 tools/partition_cpsat.py solve problem.json [--time-limit 60]
      [--seed 0] [--out result.json]

  # evaluate a placement (JSON list of chiplet ids, or tessera's placement
  # file) under this script's model of the objective and SRAM rule
  python3 tools/partition_cpsat.py eval problem.json placement.json

  # random placements judged by tessera and by this script (must agree)
  python3 tools/partition_cpsat.py crosscheck problem.json SPEC.toml GRAPH.json
      --op-costs target/release/examples/op_costs [--count 50]

  # the whole matrix: export graphs, write specs, run CP-SAT, run tessera's
  # dp and exact, cross-check both placements in both models, write the CSV
  python3 tools/partition_cpsat.py matrix --tessera target/release/tessera
      --op-costs target/release/examples/op_costs --work /tmp/cpsat
      --csv tests/data/cpsat/results.csv [--package compute_only|ring_nostream]
      [--models bert-base,...] [--chips 4,8] [--append] [--extra]

CP-SAT runs with one worker and a fixed seed, so a solve stopped by its time
limit is still reproducible on one machine only to the extent CP-SAT's
deterministic time is (the time limit itself is wall-clock).

Requires: Python 3 standard library and ortools (tools/requirements-cpsat.txt).
"""

import argparse
import csv
import json
import math
import os
import platform
import subprocess
import sys
import time

# --------------------------------------------------------------------------
# The problem (from `op_costs problem`).


class Problem:
    def __init__(self, data):
        self.data = data
        self.ops = data["ops"]
        self.n = len(self.ops)
        self.chips = data["chiplets"]
        self.m = len(self.chips)
        # chiplet at each pipeline position
        self.order = [None] * self.m
        for c in self.chips:
            self.order[c["position"]] = c["id"]
        self.cycles = [op["cycles"] for op in self.ops]  # [v][type]
        self.w = [op["weight_bytes"] for op in self.ops]
        self.out = [op["output_bytes"] for op in self.ops]
        self.gin = [op["graph_input_bytes"] for op in self.ops]
        self.prod = [op["producers"] for op in self.ops]
        self.cons = [op["consumers"] for op in self.ops]
        self.cons_sorted = [sorted(c) for c in self.cons]
        self.route = {(r["from"], r["to"]): r["links"] for r in data["routes"]}

    def type_at(self, k):
        return self.chips[self.order[k]]["type"]

    def cap_at(self, k):
        return self.chips[self.order[k]]["sram_bytes"]

    def edges(self):
        for v in range(self.n):
            for u in self.prod[v]:
                yield u, v

    def floor(self, v):
        """Bytes live while v runs wherever it runs (activation_floor_bytes)."""
        return self.out[v] + self.gin[v] + sum(self.out[p] for p in self.prod[v])


def problem_checks(p):
    """Refuses anything but the compute-only case; returns the facts that make
    tessera's objective equal to the largest stage time."""
    c = p.data["constraints"]
    # Modelled: acyclic dataflow, optionally no_skipping = "edge" (under
    # which no_triangle holds by itself: every flow goes from a position to
    # the next), SRAM capacity on or off. Refused: no_skipping = "prefix",
    # and no_triangle without edge mode.
    if (not c["acyclic_dataflow"] or c["no_skipping"] == "prefix"
            or (c["no_triangle"] and c["no_skipping"] != "edge")):
        sys.exit("only acyclic_dataflow, no_skipping = off | edge (no_triangle only "
                 f"with edge) and sram_capacity are modelled: constraints are {c}")
    if any(ch["can_stream"] for ch in p.chips):
        sys.exit("weight streaming is not modelled")
    # The link term: a tensor goes once to each other chiplet reading it, over
    # its route, loading each link of the route. Every link carries at most
    # every op's output once per destination whose route uses it; bound it by
    # summing, per link, the serialisation of every op's output times the
    # number of routes through that link ending at distinct chiplets (a
    # crude, safe bound; on an all-to-all package it is one route per link).
    ser = {s["bandwidth_bytes_per_cycle"]: s["output_cycles"]
           for s in p.data["output_serialisation"]}
    routes_through = [0] * len(p.data["links"])
    for r in p.data["routes"]:
        for l in r["links"]:
            routes_through[l] += 1
    link_bound = 0
    for l, link in enumerate(p.data["links"]):
        per_tensor = sum(ser[link["bandwidth_bytes_per_cycle"]])
        link_bound = max(link_bound, per_tensor * routes_through[l])
    total = [sum(p.cycles[v][p.type_at(k)] for v in range(p.n)) for k in range(p.m)]
    # A lower bound of the largest stage: total work / chiplets on the
    # fastest type, and the costliest op on its best type.
    lb = max(math.ceil(min(total) / p.m),
             max(min(cs) for cs in p.cycles))
    facts = {"link_term_upper_bound": link_bound, "stage_lower_bound": lb,
             "link_term_cannot_bind": link_bound < lb}
    if not facts["link_term_cannot_bind"] and c["no_skipping"] != "edge":
        sys.exit("the link term may bind and is modelled only with no_skipping = edge")
    return facts


# --------------------------------------------------------------------------
# Evaluation of a placement under this model (cross-check of tessera's).


def peak_bytes(p, ops_here):
    """peak(S) of tessera's SRAM rule for S = ops_here (a set)."""
    s = sorted(ops_here)
    # tensors t live at j: own (t in S, t < j, some reader r >= j in S) or
    # remote (t not in S, readers r1 <= j <= r2 in S)
    peak = 0
    for j in s:
        live = p.out[j] + p.gin[j]
        for t in candidates(p, j):
            readers = [r for r in p.cons[t] if r in ops_here]
            if not readers:
                continue
            if t in ops_here:
                if max(readers) >= j:
                    live += p.out[t]
            else:
                if min(readers) <= j <= max(readers):
                    live += p.out[t]
        peak = max(peak, live)
    return peak


def candidates(p, j):
    """Tensors t < j that may be live at j: some reader of t is >= j."""
    return p._cand[j]


def build_candidates(p):
    p._cand = [[] for _ in range(p.n)]
    for t in range(p.n):
        if not p.cons[t]:
            continue
        last = max(p.cons[t])
        for j in range(t + 1, last + 1):
            p._cand[j].append(t)


def link_loads(p, chip_of):
    """Each link's serialisation cycles: every op's output, once to each
    other chiplet that reads it, over the spec's route (sim::problem)."""
    ser = {s["bandwidth_bytes_per_cycle"]: s["output_cycles"]
           for s in p.data["output_serialisation"]}
    bw = [l["bandwidth_bytes_per_cycle"] for l in p.data["links"]]
    load = [0] * len(bw)
    for u in range(p.n):
        src = chip_of[u]
        for d in sorted({chip_of[q] for q in p.cons[u]} - {src}):
            for l in p.route[(src, d)]:
                load[l] += ser[bw[l]][u]
    return load


def evaluate(p, chip_of):
    """The analytic bottleneck (largest stage time or link load), per-chip
    SRAM need, and whether the placement is valid under the modelled
    constraints, under this model."""
    pos_of_chip = {c["id"]: c["position"] for c in p.chips}
    pos = [pos_of_chip[c] for c in chip_of]
    stage = [0] * p.m
    members = [set() for _ in range(p.m)]
    for v in range(p.n):
        k = pos[v]
        stage[k] += p.cycles[v][p.type_at(k)]
        members[k].add(v)
    acyclic = all(pos[u] <= pos[v] for u, v in p.edges())
    edge_ok = (p.data["constraints"]["no_skipping"] != "edge"
               or all(pos[v] <= pos[u] + 1 for u, v in p.edges()))
    loads = link_loads(p, chip_of)
    need = []
    for k in range(p.m):
        need.append(sum(p.w[v] for v in members[k]) + peak_bytes(p, members[k])
                    if members[k] else 0)
    sram_ok = (not p.data["constraints"]["sram_capacity"]
               or all(need[k] <= p.cap_at(k) for k in range(p.m)))
    return {"objective": max(stage + loads), "stage_cycles": stage,
            "max_link_cycles": max(loads, default=0),
            "sram_need_bytes_by_position": need,
            "valid": acyclic and edge_ok and sram_ok, "acyclic": acyclic,
            "no_skipping_edge_ok": edge_ok, "sram_ok": sram_ok}


# --------------------------------------------------------------------------
# A starting solution for CP-SAT: the best segmentation of the op-id order
# (a topological order) into at most one contiguous segment per position.


def contiguous_hint(p):
    """Returns (objective, position of each op) of the optimal contiguous
    segmentation of ops 0..n-1 into positions 0, 1, ... (binary search on the
    bottleneck T; each position greedily takes the longest run of ops whose
    stage time is <= T and whose SRAM need fits; both grow with the run, so
    the greedy uses the fewest positions), or None when none fits."""
    n, m = p.n, p.m
    cycles_at = [[p.cycles[v][p.type_at(k)] for v in range(n)] for k in range(m)]

    def fits(k, a, b):  # ops a..b-1 on position k
        ops = set(range(a, b))
        return (sum(p.w[v] for v in ops) + peak_bytes(p, ops) <= p.cap_at(k))

    def walk(T):
        pos, a = [0] * n, 0
        for k in range(m):
            if a == n:
                break
            # longest b with stage <= T, then shrink to fit SRAM (monotone)
            b, t = a, 0
            while b < n and t + cycles_at[k][b] <= T:
                t += cycles_at[k][b]
                b += 1
            if b == a or not fits(k, a, a + 1):
                return None
            lo, hi = a + 1, b  # largest b' in [lo, hi] with fits(a, b')
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if fits(k, a, mid):
                    lo = mid
                else:
                    hi = mid - 1
            for v in range(a, lo):
                pos[v] = k
            a = lo
        return pos if a == n else None

    lo = max(max(min(cs) for cs in p.cycles), 1)
    hi = max(sum(c) for c in cycles_at)
    if walk(hi) is None:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if walk(mid) is None:
            lo = mid + 1
        else:
            hi = mid
    pos = walk(lo)
    ev = evaluate(p, [p.order[k] for k in pos])
    # Contiguous in the op order is acyclic, but may skip positions (edge
    # mode); an invalid hint is not given.
    return (ev["objective"], pos) if ev["valid"] else None


def consecutive_routes(p):
    """The route from each position to the next, as link ids."""
    return [p.route[(p.order[k], p.order[k + 1])] for k in range(p.m - 1)]


def prefix_symmetry(p, links_bind):
    """Whether the used positions may be required to form a prefix without
    changing the optimum: every position has the same chiplet type and SRAM
    size, and either links never bind, or (edge mode) each position reaches
    the next over one link of its own, all of one bandwidth. Then closing up
    an empty position changes no stage, SRAM need or link load (in edge mode
    no tensor crosses an empty position, and the ops after it keep their
    flows on equal links)."""
    if len({(p.type_at(k), p.cap_at(k)) for k in range(p.m)}) != 1:
        return False
    if not links_bind:
        return True
    routes = consecutive_routes(p)
    bws = {p.data["links"][r[0]]["bandwidth_bytes_per_cycle"] for r in routes}
    return (all(len(r) == 1 for r in routes) and len({r[0] for r in routes}) == len(routes)
            and len(bws) <= 1)


# --------------------------------------------------------------------------
# The CP-SAT model.


def solve(p, time_limit, seed, log=False, use_hint=True, links_bind=False):
    from ortools.sat.python import cp_model

    build_started = time.perf_counter()
    build_candidates(p)
    model = cp_model.CpModel()
    n, m = p.n, p.m
    x = [[model.NewBoolVar(f"x{v}_{k}") for k in range(m)] for v in range(n)]
    for v in range(n):
        model.AddExactlyOne(x[v])
    pos = [model.NewIntVar(0, m - 1, f"p{v}") for v in range(n)]
    for v in range(n):
        model.Add(pos[v] == sum(k * x[v][k] for k in range(m)))
    # Acyclic dataflow, in the order encoding (stronger LP than pos <= pos):
    # for every prefix of positions, a consumer there needs its producer there.
    for u, v in p.edges():
        model.Add(pos[u] <= pos[v])
        for k in range(m - 1):
            model.Add(sum(x[v][i] for i in range(k + 1)) <= sum(x[u][i] for i in range(k + 1)))
    # Stage times and the objective.
    stage_ub = [sum(p.cycles[v][p.type_at(k)] for v in range(n)) for k in range(m)]
    z = model.NewIntVar(0, max(stage_ub) + (10**15 if links_bind else 0), "z")
    for k in range(m):
        t = p.type_at(k)
        model.Add(sum(p.cycles[v][t] * x[v][k] for v in range(n)) <= z)
    if p.data["constraints"]["no_skipping"] == "edge":
        for u, v in p.edges():
            model.Add(pos[v] <= pos[u] + 1)
    # The link term (edge mode only, checked by problem_checks): op u's output
    # crosses from position k to k + 1 when u is at k and a consumer at k + 1
    # (its only possible destination), loading every link of that route.
    if links_bind:
        ser = {s_["bandwidth_bytes_per_cycle"]: s_["output_cycles"]
               for s_ in p.data["output_serialisation"]}
        bw = [l["bandwidth_bytes_per_cycle"] for l in p.data["links"]]
        load = {}
        for k, route in enumerate(consecutive_routes(p)):
            for u in range(n):
                if not p.cons[u]:
                    continue
                cross = model.NewBoolVar(f"c{u}_{k}")
                for q in p.cons[u]:
                    model.AddBoolOr([x[u][k].Not(), x[q][k + 1].Not(), cross])
                for l in route:
                    load.setdefault(l, []).append(ser[bw[l]][u] * cross)
        for l, terms in load.items():
            model.Add(sum(terms) <= z)
    # SRAM capacity: for each op j on position k,
    #   W_k + out_j + gin_j + sum_t out_t * L[t, j] <= cap_k,
    # with L[t, j] forced to 1 when tensor t is live at j on j's chiplet.
    if p.data["constraints"]["sram_capacity"]:
        same = {}

        def s(a, b):
            key = (min(a, b), max(a, b))
            if key not in same:
                b_ = model.NewBoolVar(f"s{key[0]}_{key[1]}")
                model.Add(pos[key[0]] == pos[key[1]]).OnlyEnforceIf(b_)
                model.Add(pos[key[0]] != pos[key[1]]).OnlyEnforceIf(b_.Not())
                same[key] = b_
            return same[key]

        wsum = [sum(p.w[v] * x[v][k] for v in range(n)) for k in range(m)]
        for j in range(n):
            terms = []
            for t in p._cand[j]:
                readers = p.cons_sorted[t]
                later = [r for r in readers if r >= j]
                earlier = [r for r in readers if r <= j]
                if j in p.cons[t]:
                    # j reads t: live at j wherever t is.
                    terms.append(p.out[t])
                    continue
                lit = model.NewBoolVar(f"L{t}_{j}")
                terms.append(p.out[t] * lit)
                for r2 in later:
                    s_r2 = s(r2, j)
                    # own: t here and a later reader here
                    model.AddBoolOr([s(t, j).Not(), s_r2.Not(), lit])
                    # remote: t elsewhere, readers here before and after j
                    for r1 in earlier:
                        model.AddBoolOr([s(t, j), s(r1, j).Not(), s_r2.Not(), lit])
            base = p.out[j] + p.gin[j]
            const = sum(tt for tt in terms if isinstance(tt, int))
            var_terms = [tt for tt in terms if not isinstance(tt, int)]
            for k in range(m):
                cap = p.cap_at(k)
                if p.w[j] + base + const > cap:
                    model.Add(x[j][k] == 0)
                    continue
                model.Add(wsum[k] + base + const + sum(var_terms) <= cap).OnlyEnforceIf(x[j][k])
    # Symmetry breaking on a homogeneous package: used positions form a prefix.
    if prefix_symmetry(p, links_bind):
        used = [model.NewBoolVar(f"u{k}") for k in range(m)]
        for k in range(m):
            for v in range(n):
                model.AddImplication(x[v][k], used[k])
            model.AddBoolOr([x[v][k] for v in range(n)]).OnlyEnforceIf(used[k])
            if k > 0:
                model.AddImplication(used[k], used[k - 1])
    # A starting solution (CP-SAT checks it; it only guides the search).
    hint = contiguous_hint(p) if use_hint else None
    if hint is not None:
        for v in range(n):
            for k in range(m):
                model.AddHint(x[v][k], hint[1][v] == k)
    model.Minimize(z)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.log_search_progress = log
    started = time.perf_counter()
    status = solver.Solve(model)
    wall = time.perf_counter() - started
    name = solver.StatusName(status)
    out = {"status": name, "wall_s": round(wall, 3),
           "build_s": round(started - build_started, 3),
           "ortools": ortools_version(),
           "hint_objective": hint[0] if hint is not None else None,
           "vars": len(model.Proto().variables),
           "constraints": len(model.Proto().constraints)}
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chip_of = [p.order[next(k for k in range(m) if solver.Value(x[v][k]))]
                   for v in range(n)]
        out.update({"objective": int(solver.ObjectiveValue()),
                    "bound": int(math.ceil(solver.BestObjectiveBound() - 1e-6)),
                    "chiplet_of_op": chip_of})
    elif status == cp_model.INFEASIBLE:
        out.update({"objective": None, "bound": None})
    else:
        out.update({"objective": None,
                    "bound": int(math.ceil(solver.BestObjectiveBound() - 1e-6))})
    return out


def ortools_version():
    import ortools
    return ortools.__version__


def load_placement(path):
    with open(path) as f:
        d = json.load(f)
    return d["chiplet_of_op"] if isinstance(d, dict) else d


# --------------------------------------------------------------------------
# The matrix driver.

ZOO = ["bert-base", "vit-b16", "resnet50", "gpt2-small"]
ONNX_DIR = "tests/data/onnx"
ONNX = ["bert-base", "gpt2-small", "resnet50", "vit-b16", "efficientnet-b0"]
ONNX_PARAMS = {  # symbolic dims of each file (tests/data/onnx/models.json)
    "bert-base": ["batch=1", "sequence=128"],
    "gpt2-small": ["batch=1", "sequence=128"],
    "resnet50": ["batch=1"],
    "vit-b16": ["batch=1"],
    "efficientnet-b0": ["batch=1"],
}
# Packages: (template spec, {line to replace: line with {chips} and {sram_kib}}).
# "compute_only": tests/data/cpsat/compute_only.toml (links can never bind).
# "ring_nostream": the shipped hw_specs/edgetpu_ring16.toml under its MLSys 2022
# constraints, with the chip count and SRAM size of the case and weight
# streaming off (the same as --set 'chiplets[0].id_range=[0, N-1]'
# --set chiplet_types.edgetpu.sram_kib=K --set memory.weight_streaming=false).
PACKAGES = {
    "compute_only": ("tests/data/cpsat/compute_only.toml", {
        "id_range = [0, 15]": "id_range = [0, {last}]",
        "sram_kib = 8192": "sram_kib = {sram_kib}",
    }),
    "ring_nostream": ("hw_specs/edgetpu_ring16.toml", {
        "id_range = [0, 15]": "id_range = [0, {last}]",
        "sram_kib = 8192": "sram_kib = {sram_kib}",
        'chiplets = "all"\nweight_streaming = true': 'chiplets = "all"\nweight_streaming = false',
    }),
}
# Not in the default matrix (--extra): opset-13 conversions of the light
# models, imported without fusion and without parameters (no symbolic dims).
ONNX_LIGHT = ["light_inception_v2_opset13", "light_densenet121_opset13"]
SRAM_SLACK = 1.25  # see sram_kib_for


def run(cmd, may_fail=False, **kw):
    r = subprocess.run(["nice", "-n", "10"] + cmd, capture_output=True, text=True, **kw)
    if may_fail:  # (stdout, None) or (None, the last line of stderr)
        if r.returncode == 0:
            return r.stdout, None
        return None, (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
    if r.returncode != 0:
        sys.exit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return r.stdout


def sram_kib_for(p_ops, chips):
    """The SRAM size of a case: room for an even share of the weights with
    25 % slack plus the largest activation floor, and at least what the
    heaviest op needs alone, rounded up to whole KiB. Tight enough that the
    weights constrain the partition, loose enough that it is feasible."""
    p = p_ops
    total_w = sum(p.w)
    floor_max = max(p.floor(v) for v in range(p.n))
    own_max = max(p.w[v] + p.floor(v) for v in range(p.n))
    need = max(SRAM_SLACK * total_w / chips + floor_max, own_max)
    return int(math.ceil(need / 1024))


def write_spec(path, package, chips, sram_kib):
    template, edits = PACKAGES[package]
    with open(template) as f:
        text = f.read()
    for old, new in edits.items():
        assert text.count(old) == 1, (template, old)
        text = text.replace(old, new.format(last=chips - 1, sram_kib=sram_kib))
    with open(path, "w") as f:
        f.write(text)


def tessera_partition(args, spec, graph, outdir, method):
    """Runs one tessera method; returns its fields for the CSV, tessera's
    evaluation of its best simulated placement, and that placement."""
    cmd = [args.tessera, "partition", "--hw", spec, "--model", graph,
           "--method", method, "--budget", str(args.budget), "--out", outdir,
           "--force", "--quiet"]
    started = time.perf_counter()
    _, err = run(cmd, may_fail=True)
    wall = time.perf_counter() - started
    if err is not None:
        # e.g. dp on an infeasible case: recorded, not fatal
        return {f"{method}_cli_wall_s": round(wall, 3), f"{method}_error": err}, None, None
    with open(os.path.join(outdir, "report.json")) as f:
        rep = json.load(f)
    (m,) = [m for m in rep["result"]["methods"] if m["method"] == method]
    notes = dict(m["notes"])
    with open(os.path.join(outdir, "history.csv")) as f:
        hist = [r for r in csv.DictReader(f) if r["method"] == method]
    out = {f"{method}_cli_wall_s": round(wall, 3),
           f"{method}_wall_s": (round(max(float(r["wall_ms"]) for r in hist) / 1000, 3)
                                if hist else None)}
    if method == "exact":
        out.update({"exact_status": notes.get("analytic_status"),
                    "exact_objective": notes.get("analytic_objective_cycles"),
                    "exact_bound": notes.get("analytic_bound_cycles"),
                    "exact_proven": notes.get("proven"),
                    "exact_nodes": notes.get("nodes"),
                    "exact_stop": notes.get("stop"),
                    "exact_formulation": notes.get("formulation")})
    else:
        out["dp_reported_bottleneck"] = notes.get("bottleneck_cycles")
    pl = os.path.join(outdir, "placement.json")
    if not os.path.exists(pl):  # no valid placement found
        return out, None, None
    ev = json.loads(run([args.op_costs, "eval", spec, graph, pl]))
    return out, ev, load_placement(pl)


def matrix(args):
    os.makedirs(args.work, exist_ok=True)
    models = [("zoo", m) for m in ZOO] + [("onnx", m) for m in ONNX]
    if args.extra:
        models = [("onnx_light", m) for m in ONNX_LIGHT]
    if args.models:
        keep = set(args.models.split(","))
        models = [(k, m) for k, m in models if f"{k}:{m}" in keep or m in keep]
    chip_counts = [int(c) for c in args.chips.split(",")]
    rows = []
    if args.append and os.path.exists(args.csv):
        with open(args.csv) as f:
            rows = list(csv.DictReader(f))
    done = {(r["package"], r["source"], r["model"], r["chips"]) for r in rows}
    for kind, name in models:
        graph = os.path.join(args.work, f"{kind}-{name}.json")
        if not os.path.exists(graph):
            if kind == "zoo":
                run([args.tessera, "graph", "export", name, "-o", graph])
            elif kind == "onnx":
                run([args.tessera, "graph", "export", os.path.join(ONNX_DIR, name + ".onnx"),
                     "-p", *ONNX_PARAMS[name], "fuse=false", "-o", graph])
            else:
                run([args.tessera, "graph", "export",
                     os.path.join(ONNX_DIR, "onnx_light", name + ".onnx"),
                     "-p", "fuse=false", "-o", graph])
        for chips in chip_counts:
            if (args.package, kind, name, str(chips)) in done:
                continue
            tag = f"{args.package}-{kind}-{name}-{chips}"
            spec = os.path.join(args.work, tag + ".toml")
            # SRAM size from the graph alone (spec-independent quantities).
            write_spec(spec, args.package, chips, 8192)
            prob0 = Problem(json.loads(run([args.op_costs, "problem", spec, graph])))
            sram_kib = sram_kib_for(prob0, chips)
            write_spec(spec, args.package, chips, sram_kib)
            prob_path = os.path.join(args.work, tag + ".problem.json")
            with open(prob_path, "w") as f:
                f.write(run([args.op_costs, "problem", spec, graph]))
            with open(prob_path) as f:
                p = Problem(json.load(f))
            facts = problem_checks(p)
            print(f"[{tag}] {p.n} ops, sram {sram_kib} KiB, {facts}", flush=True)
            links_bind = not facts["link_term_cannot_bind"]
            res = solve(p, args.time_limit, args.seed, links_bind=links_bind)
            print(f"[{tag}] cp-sat {res['status']} {res.get('objective')} "
                  f"bound {res.get('bound')} {res['wall_s']} s", flush=True)
            row = {"source": kind, "model": name, "chips": chips, "ops": p.n,
                   "package": args.package, "sram_kib": sram_kib,
                   "link_term_upper_bound": facts["link_term_upper_bound"],
                   "stage_lower_bound": facts["stage_lower_bound"],
                   "links_modelled": links_bind,
                   "cpsat_status": res["status"], "cpsat_objective": res.get("objective"),
                   "cpsat_bound": res.get("bound"), "cpsat_wall_s": res["wall_s"],
                   "cpsat_build_s": res["build_s"], "cpsat_hint_objective": res["hint_objective"]}
            # tessera's judgement of CP-SAT's placement
            if res.get("chiplet_of_op") is not None:
                pl = os.path.join(args.work, tag + ".cpsat_placement.json")
                with open(pl, "w") as f:
                    json.dump(res["chiplet_of_op"], f)
                ev = json.loads(run([args.op_costs, "eval", spec, graph, pl]))
                row["cpsat_placement_tessera_objective"] = ev["bottleneck_cycles"]
                row["cpsat_placement_tessera_valid"] = ev["valid"]
                mine = evaluate(p, res["chiplet_of_op"])
                # the solver's z bounds its placement's true objective (equal
                # when the link literals are tight, always at an optimum)
                assert mine["objective"] <= res["objective"], (mine["objective"], res)
                row["cpsat_models_agree"] = agree(p, mine, ev)
            row.update(tessera_fields(args, p, spec, graph, tag))
            rows.append(row)
            print(f"[{tag}] {json.dumps(row)}", flush=True)
            write_csv(args.csv, rows)


def tessera_fields(args, p, spec, graph, tag):
    """tessera's dp and exact, one run each (so each has its own
    placement.json); the best simulated placement of each is judged by
    tessera (op_costs eval) and by this script's model, which must agree to
    the cycle and byte."""
    row = {"tessera_commit": args.tessera_commit}
    for method in ("dp", "exact"):
        outdir = os.path.join(args.work, f"{tag}.{method}")
        fields, ev, chip_of = tessera_partition(args, spec, graph, outdir, method)
        row.update(fields)
        if ev is None:
            continue
        mine = evaluate(p, chip_of)
        row[f"{method}_placement_objective"] = ev["bottleneck_cycles"]
        row[f"{method}_placement_valid"] = ev["valid"]
        row[f"{method}_models_agree"] = agree(p, mine, ev)
    return row


def rerun_tessera(args):
    """Re-runs only tessera's dp and exact on every row of the CSV (same
    spec, graph and SRAM size, rebuilt from the row), replacing their
    columns, and re-judges CP-SAT's placement with the current op_costs:
    for a newer tessera whose cost model is unchanged (the CP-SAT columns
    stay valid; the problem file is rebuilt and compared to check that)."""
    with open(args.csv) as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        kind, name, chips = row["source"], row["model"], int(row["chips"])
        tag = f"{row['package']}-{kind}-{name}-{chips}"
        graph = os.path.join(args.work, f"{kind}-{name}.json")
        spec = os.path.join(args.work, tag + ".toml")
        write_spec(spec, row["package"], chips, int(row["sram_kib"]))
        prob_path = os.path.join(args.work, tag + ".problem.json")
        with open(prob_path) as f:
            old = json.load(f)
        new = json.loads(run([args.op_costs, "problem", spec, graph]))
        if new != old:
            sys.exit(f"{tag}: op_costs problem differs from the one CP-SAT solved")
        p = Problem(new)
        build_candidates(p)
        pl = os.path.join(args.work, tag + ".cpsat_placement.json")
        if row["cpsat_objective"]:
            ev = json.loads(run([args.op_costs, "eval", spec, graph, pl]))
            mine = evaluate(p, load_placement(pl))
            assert ev["bottleneck_cycles"] == int(row["cpsat_placement_tessera_objective"])
            row["cpsat_models_agree"] = agree(p, mine, ev)
        for k in list(row):
            if k.startswith(("dp_", "exact_")) or k == "tessera_commit":
                row[k] = ""
        row.update(tessera_fields(args, p, spec, graph, tag))
        print(f"[{tag}] exact {row.get('exact_status')} {row.get('exact_objective')} "
              f"dp {row.get('dp_placement_objective')}", flush=True)
        write_csv(args.csv, rows)


def agree(p, mine, ev):
    """Whether this script's evaluation of a placement equals tessera's:
    objective, validity, every stage time and every SRAM need."""
    return (mine["objective"] == ev["bottleneck_cycles"] and mine["valid"] == ev["valid"]
            and mine["stage_cycles"] == [ev["stage_cycles"][c] for c in p.order]
            and mine["sram_need_bytes_by_position"]
            == [ev["sram_need_bytes"][c] for c in p.order])


def crosscheck(args):
    """Random placements, judged by tessera (op_costs eval) and by this
    script's model: prints each disagreement and a summary. Placements are
    drawn acyclic: one in three as contiguous runs of the op order at random
    cuts, the others op by op (each op at or after its producers' positions,
    advancing with probability 1/8 or, one time in four, jumping anywhere
    later; in edge mode, one in two of these also respects no_skipping =
    "edge"), so valid and invalid ones both occur."""
    import random
    with open(args.problem) as f:
        p = Problem(json.load(f))
    build_candidates(p)
    rng = random.Random(args.seed)
    edge = p.data["constraints"]["no_skipping"] == "edge"
    bad = valid = 0
    path = os.path.join(args.work, "crosscheck_placement.json")
    os.makedirs(args.work, exist_ok=True)
    for i in range(args.count):
        strict = edge and i % 2 == 0
        pos = [0] * p.n
        if i % 3 == 2:
            # contiguous runs of the op order at random cuts (often valid)
            cuts = sorted(rng.sample(range(1, p.n), min(p.m - 1, p.n - 1)))
            for v in range(p.n):
                pos[v] = sum(c <= v for c in cuts)
        for v in range(p.n) if i % 3 != 2 else ():
            lo = max((pos[u] for u in p.prod[v]), default=0)
            hi = min((pos[u] + 1 for u in p.prod[v]), default=p.m - 1) if strict else p.m - 1
            hi = min(max(hi, lo), p.m - 1)
            r = rng.random()
            pos[v] = rng.randint(lo, hi) if r < 0.25 else min(lo + (r < 0.375), hi)
        chip_of = [p.order[k] for k in pos]
        with open(path, "w") as f:
            json.dump(chip_of, f)
        ev = json.loads(run([args.op_costs, "eval", args.spec, args.graph, path]))
        mine = evaluate(p, chip_of)
        ok = agree(p, mine, ev) and mine["max_link_cycles"] == ev["max_link_cycles"]
        valid += ev["valid"]
        if not ok:
            bad += 1
            print(json.dumps({"placement": i, "tessera": {k: ev[k] for k in (
                "bottleneck_cycles", "max_link_cycles", "valid")},
                "script": {k: mine[k] for k in ("objective", "max_link_cycles", "valid")}}))
    print(json.dumps({"problem": args.problem, "placements": args.count,
                      "valid_per_tessera": valid, "disagreements": bad}))


def write_csv(path, rows):
    keys = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("solve")
    a.add_argument("problem")
    a.add_argument("--time-limit", type=float, default=60.0)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--out")
    a.add_argument("--log", action="store_true")
    b = sub.add_parser("eval")
    b.add_argument("problem")
    b.add_argument("placement")
    c = sub.add_parser("matrix")
    c.add_argument("--tessera", required=True)
    c.add_argument("--op-costs", required=True)
    c.add_argument("--work", required=True)
    c.add_argument("--csv", required=True)
    c.add_argument("--models", default="")
    c.add_argument("--chips", default="4,8,16,36")
    c.add_argument("--time-limit", type=float, default=60.0)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--budget", type=int, default=1000)
    c.add_argument("--append", action="store_true")
    c.add_argument("--tessera-commit", default="",
                   help="the tessera commit the binary was built from (recorded per row)")
    c.add_argument("--rerun-tessera", action="store_true",
                   help="only re-run dp and exact on the CSV's rows (see rerun_tessera)")
    c.add_argument("--extra", action="store_true",
                   help="run the extra models (onnx_light) instead of the default ones")
    c.add_argument("--package", choices=sorted(PACKAGES), default="compute_only")
    d = sub.add_parser("crosscheck")
    d.add_argument("problem")
    d.add_argument("spec")
    d.add_argument("graph")
    d.add_argument("--op-costs", required=True)
    d.add_argument("--work", default="/tmp/cpsat-crosscheck")
    d.add_argument("--count", type=int, default=50)
    d.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.cmd == "matrix" and args.rerun_tessera:
        rerun_tessera(args)
        return
    if args.cmd == "matrix":
        matrix(args)
        return
    if args.cmd == "crosscheck":
        crosscheck(args)
        return
    with open(args.problem) as f:
        p = Problem(json.load(f))
    if args.cmd == "solve":
        facts = problem_checks(p)
        res = solve(p, args.time_limit, args.seed, args.log,
                    links_bind=not facts["link_term_cannot_bind"])
        res["checks"] = facts
        text = json.dumps(res)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")
        print(json.dumps({k: v for k, v in res.items() if k != "chiplet_of_op"}))
    else:
        build_candidates(p)
        print(json.dumps(evaluate(p, load_placement(args.placement))))


if __name__ == "__main__":
    main()
