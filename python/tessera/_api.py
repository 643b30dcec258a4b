"""tessera's functions: argument checking and conversion in Python, the work
in the Rust extension (``tessera._native``), which runs the same code as the
``tessera`` command. Reports come back as the command's JSON text and are
returned as plain dicts.
"""

import json
import os
import warnings

from . import _native
from ._errors import ArgumentTypeError, OptionError, TesseraWarning
from ._native import Spec, Workload

_U32_MAX = 2**32 - 1
_U64_MAX = 2**64 - 1


def _type_name(value):
    return type(value).__name__


def _is_path(value):
    return isinstance(value, (str, os.PathLike))


def _path(what, value):
    """A str path from a str or os.PathLike; anything else is a type error."""
    if _is_path(value):
        path = os.fspath(value)
        if isinstance(path, str):
            return path
    raise ArgumentTypeError(
        f"{what}: expected a path (str or os.PathLike), found {_type_name(value)}"
    )


def _int(flag, value, maximum=_U64_MAX):
    """A non-negative integer argument; `flag` is the command's flag for it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentTypeError(f"{flag}: expected an integer, found {_type_name(value)}")
    if not 0 <= value <= maximum:
        raise OptionError(f"{flag}: must be an integer from 0 to {maximum}, found {value}")
    return value


def _bool(flag, value):
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{flag}: expected True or False, found {_type_name(value)}")
    return value


def _param_text(key, value):
    """A model parameter as the command line writes it (`-p key=value`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ArgumentTypeError(
        f"--params: {key}: expected a str, int, float or bool, found {_type_name(value)}"
    )


def _params(params):
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ArgumentTypeError(f"params: expected a dict, found {_type_name(params)}")
    out = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise ArgumentTypeError(f"--params: keys must be str, found {_type_name(key)}")
        out[key] = _param_text(key, value)
    return out


def _toml(value):
    """A Python value as a TOML value (the VALUE of `--set FIELD=VALUE`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + " }"
    raise ArgumentTypeError(
        f"overrides: expected bool, int, float, str, list or dict values, found {_type_name(value)}"
    )


def _override_items(overrides):
    """`{field: value}` or `["FIELD=VALUE", ...]` as `--set` items."""
    if isinstance(overrides, dict):
        items = []
        for field, value in overrides.items():
            if not isinstance(field, str):
                raise ArgumentTypeError(
                    f"overrides: field paths must be str, found {_type_name(field)}"
                )
            items.append(f"{field}={_toml(value)}")
        return items
    if isinstance(overrides, (list, tuple)) and all(isinstance(i, str) for i in overrides):
        return list(overrides)
    raise ArgumentTypeError(
        "overrides: expected a dict {field: value} or a list of \"FIELD=VALUE\" strings, "
        f"found {_type_name(overrides)}"
    )


def _spec(spec, overrides=None):
    if isinstance(spec, Spec):
        loaded = spec
    elif _is_path(spec):
        loaded = Spec.load(_path("spec", spec))
    else:
        raise ArgumentTypeError(
            f"spec: expected a path or a tessera.Spec, found {_type_name(spec)}"
        )
    if overrides:
        loaded = loaded.with_overrides(_override_items(overrides))
    return loaded


def _workload(workload, params=None):
    if isinstance(workload, Workload):
        if params:
            raise OptionError(
                "--params: parameters apply to a workload given by name or file; "
                "this tessera.Workload is already loaded"
            )
        return workload
    if _is_path(workload):
        return Workload.load(_path("workload", workload), _params(params))
    raise ArgumentTypeError(
        "workload: expected a zoo model name, a file path or a tessera.Workload, "
        f"found {_type_name(workload)}"
    )


def _placement(placement):
    """The (kind, value) pair the extension reads."""
    if _is_path(placement):
        return "name", _path("placement", placement)
    if isinstance(placement, dict):
        return "json", json.dumps(placement)
    if hasattr(placement, "tolist") and not isinstance(placement, (list, tuple)):
        placement = placement.tolist()  # a NumPy array, say
    if isinstance(placement, (list, tuple)):
        for chip in placement:
            if isinstance(chip, bool) or not isinstance(chip, int):
                raise ArgumentTypeError(
                    f"placement: chiplet ids must be integers, found {_type_name(chip)}"
                )
        return "chips", list(placement)
    raise ArgumentTypeError(
        'placement: expected "contiguous", "single", a placement JSON file, a list of '
        f"chiplet ids or a placement dict, found {_type_name(placement)}"
    )


def _warn(messages):
    for message in messages:
        warnings.warn(message, TesseraWarning, stacklevel=3)


def load_workload(model, **params):
    """Load a workload as ``tessera graph show MODEL -p KEY=VALUE ...`` does.

    ``model`` is a zoo model name (see :func:`zoo_models`), a tessera graph
    JSON file or an ONNX file (``*.onnx``, its symbolic dims bound by
    ``params``, e.g. ``batch=1, sequence=128``, and optionally ``dtype``,
    ``keep_free_ops``, ``fuse``). Parameter values may be str, int, float or
    bool. Returns a :class:`tessera.Workload` with ``n_ops``, ``macs``,
    ``n_params``, ``weight_bytes`` and more as attributes.
    """
    return _workload(model, params)


def zoo_models():
    """The model zoo: a list of ``{"name", "summary", "params"}`` dicts, each
    parameter a ``{"key", "default", "doc"}`` dict (``tessera models``)."""
    return json.loads(_native.zoo_models())


def methods():
    """The partition methods from the registry: a list of ``{"name",
    "summary", "options"}`` dicts, each option a ``{"name", "type", "domain",
    "default", "summary"}`` dict (``tessera methods``)."""
    return json.loads(_native.methods())


def shipped_specs():
    """The hardware specs shipped with tessera: the paths of the ``*.toml``
    files in the ``hw_specs/`` folder of the source tree the package was
    built from, sorted by file name (what ``tessera specs`` lists)."""
    folder = _native.spec_dir()
    if not os.path.isdir(folder):
        return []
    names = sorted(n for n in os.listdir(folder) if n.endswith(".toml"))
    return [os.path.join(folder, n) for n in names]


def check(paths):
    """Validate files by content, as ``tessera check`` does: hardware specs,
    scenarios, graph JSON and ONNX files.

    ``paths`` is one path or a list of them. Returns one dict per file,
    in order: ``{"path": str, "ok": bool, "message": str}``, where
    ``message`` is the ``ok ...`` line the command prints for a good file,
    or its error (one line per problem, ``file:line:col: field: message``)
    for a bad one. Invalid files do not raise.
    """
    if _is_path(paths):
        paths = [paths]
    if not isinstance(paths, (list, tuple)):
        raise ArgumentTypeError(
            f"paths: expected a path or a list of paths, found {_type_name(paths)}"
        )
    results = []
    for p in paths:
        path = _path("paths", p)
        ok, message = _native.check(path)
        results.append({"path": path, "ok": ok, "message": message})
    return results


def simulate(
    spec,
    workload,
    placement="contiguous",
    *,
    params=None,
    overrides=None,
    microbatches=8,
    fixed_microbatches=False,
    packet_bytes=4096,
    cut_through=False,
    trace=None,
):
    """Simulate one placement of a workload on a package.

    Returns the report ``tessera simulate --json`` prints for the same
    inputs, as a dict (latency, steady-state throughput, per-chiplet and
    per-link figures, energy, violations).

    - ``spec``: a spec file path or a :class:`tessera.Spec`.
    - ``workload``: a zoo model name, a graph JSON or ONNX file path (with
      ``params``, as ``-p``), or a :class:`tessera.Workload`.
    - ``placement``: ``"contiguous"`` (balanced segments in pipeline order),
      ``"single"``, a placement JSON file, a placement dict (that file's
      content) or a list of chiplet ids, one per op.
    - ``overrides``: spec fields to change, ``{"field.path": value}`` (as
      ``--set``); needs a spec read from a file.
    - ``microbatches``, ``fixed_microbatches``, ``packet_bytes``,
      ``cut_through``: as the command's flags.
    - ``trace``: a path to write the Chrome trace-event timeline to.

    The GIL is released while it simulates.
    """
    s = _spec(spec, overrides)
    w = _workload(workload, params)
    kind, value = _placement(placement)
    text, warns = _native.simulate(
        s,
        w,
        kind,
        value,
        _int("--microbatches", microbatches, _U32_MAX),
        _bool("--fixed-microbatches", fixed_microbatches),
        _int("--packet-bytes", packet_bytes),
        _bool("--cut-through", cut_through),
        None if trace is None else _path("trace", trace),
    )
    _warn(warns)
    return json.loads(text)


def repair(
    spec,
    workload,
    placement,
    *,
    params=None,
    overrides=None,
    max_nodes=2000,
    microbatches=8,
    fixed_microbatches=False,
    packet_bytes=4096,
    cut_through=False,
):
    """Repair a proposed placement into the nearest valid one and simulate it.

    The repair is the one every partition method uses: the valid placement
    (under the spec's constraints) that moves the fewest ops, exact within
    ``max_nodes`` branch-and-bound nodes. ``placement`` is taken as
    :func:`simulate` takes it. Returns a dict:

    - ``placement``: the repaired placement, one chiplet id per op;
    - ``changed_ops``: how many ops it moved;
    - ``proposal_violations``: the constraints the proposal broke, each a
      dict with its fields and a ``message``;
    - ``method``, ``proven_optimal``, ``lower_bound``, ``nodes``: how repair
      ended;
    - ``report``: the simulation of the repaired placement, as
      :func:`simulate` returns it.

    Raises :class:`tessera.InfeasibleError` when no valid placement exists
    (or none was found within ``max_nodes``). The GIL is released.
    """
    s = _spec(spec, overrides)
    w = _workload(workload, params)
    kind, value = _placement(placement)
    text = _native.repair(
        s,
        w,
        kind,
        value,
        _int("max_nodes", max_nodes),
        _int("--microbatches", microbatches, _U32_MAX),
        _bool("--fixed-microbatches", fixed_microbatches),
        _int("--packet-bytes", packet_bytes),
        _bool("--cut-through", cut_through),
    )
    return json.loads(text)


def partition(
    spec,
    workload,
    method="dp",
    *,
    seed=1,
    budget=1000,
    microbatches=8,
    params=None,
    overrides=None,
    options=None,
    out=None,
    force=False,
    **method_options,
):
    """Search for the best valid partition of a workload on a package.

    Returns the ``report.json`` that ``tessera partition`` writes for the
    same inputs, as a dict: each method's evaluations, best throughput,
    notes and best report, and the best method overall.

    - ``method``: a method name from :func:`methods` (``random``, ``sa``,
      ``greedy``, ``balance``, ``dp``, ``exact``, ``rl``) or a list of them,
      run one after another on the same problem.
    - ``seed``, ``budget`` (simulator calls per method), ``microbatches``:
      as the command's flags.
    - method options as keyword arguments (``partition(spec, w, "sa",
      t0_fraction=0.01)``) for one method, or ``options={"sa": {...}}`` for
      several; each is checked against the registry's type and domain, as a
      scenario's ``[task.options.METHOD]``.
    - ``out``: a folder to write what ``tessera partition --out`` writes
      (best placement, history, plots); by default nothing is written.
      ``force`` replaces a folder that is not an earlier run's.

    Raises :class:`tessera.InfeasibleError` when no valid placement exists
    or every method failed. The GIL is released while it searches.
    """
    s = _spec(spec, overrides)
    w = _workload(workload, params)
    if isinstance(method, str):
        names = [method]
    elif isinstance(method, (list, tuple)) and all(isinstance(m, str) for m in method):
        names = list(method)
    else:
        raise ArgumentTypeError(
            f"method: expected a method name or a list of names, found {_type_name(method)}"
        )
    if options is None:
        options = {}
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise ArgumentTypeError("options: expected a dict {method: {option: value}}")
    options = {m: dict(o) for m, o in options.items()}
    if method_options:
        if len(names) != 1:
            raise OptionError(
                "method options as keyword arguments need exactly one method; "
                "for several, pass options={method: {option: value}}"
            )
        options.setdefault(names[0], {}).update(method_options)
    text, warns = _native.partition(
        s,
        w,
        names,
        options,
        _int("--budget", budget),
        _int("--seed", seed),
        _int("--microbatches", microbatches, _U32_MAX),
        None if out is None else _path("out", out),
        _bool("force", force),
    )
    _warn(warns)
    return json.loads(text)


def run_scenario(path, out=None, *, max_budget=None, seed=None, threads=None, force=False):
    """Run a scenario file as ``tessera run`` does and return its report.

    Writes the scenario's outputs where the command would (``out``, else
    the scenario's ``[output] dir``, else ``out/NAME``) and returns
    ``report.json`` as a dict. ``max_budget`` caps every search budget
    (``--max-budget``), ``seed`` replaces the scenario's, ``threads`` sets the
    sweep workers, ``force`` replaces a folder that is not an earlier run's.
    The GIL is released while it runs.
    """
    text, warns, _ = _native.run_scenario(
        _path("path", path),
        None if out is None else _path("out", out),
        None if max_budget is None else _int("--max-budget", max_budget),
        None if seed is None else _int("--seed", seed),
        None if threads is None else _int("--threads", threads),
        _bool("--force", force),
    )
    _warn(warns)
    return json.loads(text)
