"""Runs on a Ray cluster: a sweep's grid points, a train task's episodes
or a nas task's trials are Ray tasks, and the outputs are the same, byte
for byte, as ``tessera run`` writes for the scenario on one machine.

Needs ``ray`` (``pip install "./python[ray]"``); ``import tessera`` does not
import this module. From Python::

    import tessera.ray
    report = tessera.ray.run_sweep("scenarios/link_bandwidth_sweep.toml",
                                   address="auto")
    report = tessera.ray.run_scenario("scenarios/pretrain.toml", address="auto")

or from a shell, on any machine of the cluster::

    python -m tessera.ray run scenarios/link_bandwidth_sweep.toml --address auto

How the work is split. A sweep: this process (the driver) reads the
scenario and resolves every grid point, as ``tessera run`` does, so a bad
value anywhere is reported before any task starts. Each point becomes a
self-contained job (the point's hardware as explicit TOML, its graph as
graph JSON, its placement and simulator or traffic options), so the workers
need the ``tessera`` package but none of the scenario's files. A task runs
one point (the simulator or the traffic generator, GIL released) and
returns its result; the driver merges the results in grid order with the
code ``tessera run`` uses and writes the outputs (``report.json``,
``sweep.csv``, ``summary.txt``, the plot, ``scenario.resolved.toml``) on its
own machine. A point's failure (e.g. an unroutable traffic pattern) is
reported as the command reports it. Ctrl-C cancels the points not yet
finished and writes what finished, marked ``"complete": false``, as an
interrupted local run does.

A train task: the driver runs the training (the policy, sampling, the PPO
updates, checkpoints); each batch's sampled placements are cut into one job
per cluster CPU (the problem as text, the proposals), a worker repairs and
simulates its episodes and returns their rewards, and the driver takes them
in episode order. The workers' count never changes a result. Ctrl-C drops
the batch under way and writes the run as it stood, as ``tessera run`` does.

A nas task: the driver runs the evolution (parents, mutations, selection,
checkpoints); each generation's children (``task.generation_size`` of
them) are one Ray task each, carrying the network and the run's resolved
scenario; a worker rebuilds the data, training and scoring settings from it
(checked against the run's digest; Fashion-MNIST must be installed on the
workers as on the driver), trains and scores the network and returns its
accuracy and costs; the driver applies them in trial order. The front's
final retraining for test accuracy runs on the driver. Ctrl-C drops the
generation under way.

A partition study from Python, :func:`partition_study`, runs each (method,
seed, budget) as one task, each equal to ``tessera.partition`` for that
cell. A scenario's partition task (its methods one after another) runs on
one machine (``tessera.run_scenario`` or ``tessera run``).
"""

import argparse
import json
import sys

from . import _native
from ._api import _bool, _int, _path, _warn
from ._errors import ArgumentTypeError, Error, InputError, OptionError

try:
    import ray
    import ray.exceptions
except ImportError as e:  # pragma: no cover - exercised without ray installed
    raise ImportError(
        'tessera.ray needs Ray: pip install "./python[ray]" (ray==2.60.0)'
    ) from e


def _run_point_job(job):
    """One grid point, on a Ray worker: its job text in, its outcome text out."""
    return _native.run_point_job(job)


def _connect(address, num_cpus):
    """Use the program's Ray connection, or start one: ``address`` as
    ``ray.init`` takes it (``"auto"``: the cluster this machine belongs to;
    ``None``: a new local cluster of ``num_cpus`` workers)."""
    if ray.is_initialized():
        return
    kwargs = {"address": address, "log_to_driver": False}
    if num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    ray.init(**kwargs)


def _outcomes(jobs):
    """Runs every job as a Ray task; the outcome texts in grid order, None
    for a point that did not finish before Ctrl-C."""
    task = ray.remote(num_cpus=1, max_retries=0)(_run_point_job)
    refs = [task.remote(job) for job in jobs]
    slot = {ref: i for i, ref in enumerate(refs)}
    outcomes = [None] * len(jobs)
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                outcomes[slot[ref]] = ray.get(ref)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
    return outcomes


# Task kinds whose work distributes, and how (README "Runs on a Ray
# cluster" says the same).
_DISTRIBUTED = ("sweep", "train", "nas")


def _run_job(job):
    """A piece of a run under way (a train task's episodes, a nas trial),
    on a Ray worker: its job text in, its result text out."""
    return _native.run_job(job)


def _pool(jobs):
    """The run's job pool: every job as one Ray task, the results in job
    order. Ctrl-C cancels the tasks and reaches the run as an interruption;
    a task's tessera error is raised as itself (its one-line message)."""
    task = ray.remote(num_cpus=1, max_retries=0)(_run_job)
    refs = [task.remote(job) for job in jobs]
    try:
        return ray.get(refs)
    except KeyboardInterrupt:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    except ray.exceptions.RayTaskError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise


def _workers():
    """CPUs of the cluster: how many jobs a batch of work is cut into (it
    changes nothing in the results)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _run(scenario, address, out, seed, force, num_cpus, as_json, kinds=_DISTRIBUTED,
         max_budget=None):
    """Runs the scenario with its work on Ray; (text, warnings, whether the
    run was interrupted)."""
    path = _path("scenario", scenario)
    if max_budget is not None:
        max_budget = _int("--max-budget", max_budget)
    out = None if out is None else _path("out", out)
    seed = None if seed is None else _int("--seed", seed)
    force = _bool("--force", force)
    if num_cpus is not None:
        _int("num_cpus", num_cpus)
    if address is not None and not isinstance(address, str):
        raise ArgumentTypeError(
            f"address: expected a str (e.g. \"auto\" or \"HOST:6379\"), found {type(address).__name__}"
        )
    kind = _native.scenario_kind(path)
    if kind not in kinds:
        other = [k for k in _DISTRIBUTED if k not in kinds]
        hint = (
            "tessera.ray.run_scenario runs it"
            if kind in other
            else "run it with `tessera run` or tessera.run_scenario"
        )
        names = " and ".join(kinds) if len(kinds) < 3 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"
        raise InputError(f"{path}: its task is {kind!r}; {names} tasks run on Ray here ({hint})")
    if kind == "sweep":
        if max_budget is not None:
            raise OptionError("--max-budget: a sweep has no search budget to cap")
        jobs = _native.sweep_point_jobs(path, seed)
        _connect(address, num_cpus)
        outcomes = _outcomes(jobs)
        text, warns, _ = _native.run_scenario(
            path, out, None, seed, None, force, outcomes, as_json
        )
        return text, warns, any(o is None for o in outcomes)
    _connect(address, num_cpus)
    return _native.run_scenario(
        path, out, max_budget, seed, None, force, None, as_json, _pool, _workers()
    )


def run_sweep(scenario, address=None, *, out=None, seed=None, force=False, num_cpus=None):
    """Run a sweep scenario on a Ray cluster and return its report.

    Each grid point is one Ray task. The outputs go where ``tessera run``
    puts them (``out``, else the scenario's ``[output] dir``, else
    ``out/NAME``), identical to that command's byte for byte, and
    ``report.json`` is returned as a dict.

    ``address`` is Ray's: ``"auto"`` joins the cluster this machine is part
    of (started with ``ray start``), ``"HOST:6379"`` a given head, ``None``
    starts a local cluster of ``num_cpus`` workers (default: one per core).
    If the program already called ``ray.init``, that connection is used and
    ``address``/``num_cpus`` are ignored. ``seed`` replaces the scenario's,
    ``force`` replaces a folder that is not an earlier run's.
    """
    text, warns, _ = _run(scenario, address, out, seed, force, num_cpus, True, ("sweep",))
    _warn(warns)
    return json.loads(text)


def run_scenario(
    scenario, address=None, *, out=None, seed=None, force=False, num_cpus=None, max_budget=None
):
    """Run a scenario whose work distributes on a Ray cluster and return its
    report: a sweep (as :func:`run_sweep`); a train task, whose every PPO
    batch has its episodes (repair and simulation of each sampled
    placement) cut into one Ray task per cluster CPU, while this process
    samples, learns and writes; or a nas task, whose every generation's
    trials (training and scoring of each child network) are one Ray task
    each, while this process mutates, selects and writes. The outputs are
    those of ``tessera run``, byte for byte, whatever the number of
    workers. Ctrl-C stops the run as it stops ``tessera run`` (the batch or
    generation under way is dropped, the files written, ``"complete":
    false``). Other task kinds are refused.
    ``max_budget`` caps a train task's episodes or a nas task's trials as
    ``tessera run --max-budget`` does; the other arguments are :func:`run_sweep`'s.
    """
    text, warns, _ = _run(
        scenario, address, out, seed, force, num_cpus, True, max_budget=max_budget
    )
    _warn(warns)
    return json.loads(text)


def _partition_cell(spec, workload, method, seed, budget, microbatches, options):
    """One (method, seed, budget) of a partition study, on a Ray worker."""
    from ._api import partition

    return partition(
        spec, workload, method, seed=seed, budget=budget, microbatches=microbatches,
        options=options,
    )


def _int_list(what, values):
    if isinstance(values, int) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, (list, tuple)) or not values:
        raise ArgumentTypeError(f"{what}: expected an integer or a non-empty list of them")
    return [_int(f"--{what[:-1]}", v) for v in values]


def partition_study(
    spec,
    workload,
    methods,
    seeds=(1,),
    budgets=(1000,),
    *,
    microbatches=8,
    params=None,
    overrides=None,
    options=None,
    address=None,
    num_cpus=None,
):
    """Run every (method, seed, budget) of a partition study as one Ray task.

    Each cell is ``tessera.partition(spec, workload, method, seed=seed,
    budget=budget, microbatches=microbatches, options=options)`` run on a
    worker; the spec and workload travel with the task (their text and graph
    JSON), so workers need no files. Returns one dict per cell in grid order
    (methods slowest, then seeds, then budgets): ``{"method", "seed",
    "budget", "report"}``, where ``report`` is the dict
    ``tessera.partition`` returns for that cell here, equal to it. A cell's
    error (e.g. :class:`tessera.InfeasibleError`) is raised as that
    ``tessera.Error`` subclass. ``address``/``num_cpus`` as in
    :func:`run_sweep`.
    """
    from ._api import _spec, _workload, methods as known_methods

    s = _spec(spec, overrides)
    w = _workload(workload, params)
    if isinstance(methods, str):
        methods = [methods]
    if not isinstance(methods, (list, tuple)) or not methods or not all(
        isinstance(m, str) for m in methods
    ):
        raise ArgumentTypeError("methods: expected a method name or a non-empty list of names")
    names = [m["name"] for m in known_methods()]
    for m in methods:
        if m not in names:
            raise OptionError(f"--method: unknown method {json.dumps(m)}; methods: {', '.join(names)}")
    seeds = _int_list("seeds", seeds)
    budgets = _int_list("budgets", budgets)
    microbatches = _int("--microbatches", microbatches)
    if options is not None and (
        not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values())
    ):
        raise ArgumentTypeError("options: expected a dict {method: {option: value}}")
    if num_cpus is not None:
        _int("num_cpus", num_cpus)
    _connect(address, num_cpus)
    task = ray.remote(num_cpus=1, max_retries=0)(_partition_cell)
    spec_ref, workload_ref = ray.put(s), ray.put(w)
    cells = [(m, seed, budget) for m in methods for seed in seeds for budget in budgets]
    refs = [
        task.remote(spec_ref, workload_ref, m, seed, budget, microbatches,
                    {m: dict((options or {}).get(m, {}))})
        for m, seed, budget in cells
    ]
    reports = ray.get(refs)
    return [
        {"method": m, "seed": seed, "budget": budget, "report": report}
        for (m, seed, budget), report in zip(cells, reports)
    ]


def main(argv=None):
    """``python -m tessera.ray run SCENARIO [--address A] [--out DIR] ...``:
    prints what ``tessera run`` prints; exit code 2 for a user's mistake,
    130 after Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m tessera.ray",
        description="Run a tessera sweep, train or nas scenario on a Ray cluster: a sweep's grid "
        "points, a train task's episodes, a nas task's trials as Ray tasks.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a sweep, train or nas scenario on a Ray cluster")
    run.add_argument("scenario", help="the scenario file (TOML): a sweep, train or nas task")
    run.add_argument(
        "--address",
        default=None,
        help='the Ray cluster: "auto" (this machine\'s cluster), HOST:6379, or none for a new local one',
    )
    run.add_argument("--out", default=None, help="output folder (default: as tessera run)")
    run.add_argument("--seed", type=int, default=None, help="replace the scenario's seed")
    run.add_argument("--force", action="store_true", help="replace a folder that is not an earlier run's")
    run.add_argument("--num-cpus", type=int, default=None, help="workers of a new local cluster")
    run.add_argument("--json", action="store_true", help="print report.json instead of the summary")
    run.add_argument(
        "--max-budget", type=int, default=None,
        help="cap a train task's episodes or a nas task's trials (as tessera run)"
    )
    args = parser.parse_args(argv)
    try:
        text, warns, interrupted = _run(
            args.scenario, args.address, args.out, args.seed, args.force, args.num_cpus, args.json,
            max_budget=args.max_budget,
        )
    except Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for w in warns:
        print(f"warning: {w}", file=sys.stderr)
    sys.stdout.write(text)
    return 130 if interrupted else 0


if __name__ == "__main__":
    # Through the module's import name, so that the task functions Ray ships
    # are `tessera.ray._run_point_job` and `_run_job`, which every worker
    # imports.
    from tessera.ray import main as _main

    sys.exit(_main())
