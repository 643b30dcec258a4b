"""A Gymnasium environment for partitioning a model across the chiplets of a
package: :class:`PartitionEnv`, registered as ``tessera/Partition-v0`` when
this module is imported.

Needs ``gymnasium`` and ``numpy`` (``pip install "./python[gym]"``); ``import
tessera`` does not import this module.

Example::

    import gymnasium
    import tessera.gym

    env = gymnasium.make("tessera/Partition-v0")   # a 2-layer BERT on 4 chips
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    print(reward, info["placement"], info["report"]["throughput_inferences_per_s"])
"""

import json

import gymnasium
import numpy as np
from gymnasium import spaces

from . import _native
from ._api import _bool, _int, _spec, _type_name, _workload, _U32_MAX
from ._errors import ArgumentTypeError, InputError, OptionError

__all__ = ["ENV_ID", "PartitionEnv"]

ENV_ID = "tessera/Partition-v0"

# The default problem: a 2-layer BERT at sequence 32 (39 ops) on the shipped
# 4-chip Edge TPU ring; a step (repair and simulation) takes a few
# milliseconds.
DEFAULT_SPEC_FILE = "edgetpu_ring4.toml"
DEFAULT_WORKLOAD = "bert-base"
DEFAULT_PARAMS = {"layers": 2, "seq": 32}

# The largest feature value but for pipeline distances: a log-scaled
# quantity is log2(1 + x) / 32 <= 64 / 32 for any u64 x, fractions and
# flags are at most 1.
_FEATURE_MAX = 2.0


def _size(name, value, actual):
    """A padded size: `actual` when None, else at least `actual`."""
    if value is None:
        return actual
    value = _int(name, value)
    if value < actual:
        raise OptionError(f"{name}: the problem needs at least {actual}, found {value}")
    return value


def _padded(values, shape):
    """`values` (a smaller array) in the top-left corner of zeros of `shape`."""
    out = np.zeros(shape, dtype=values.dtype)
    out[tuple(slice(0, n) for n in values.shape)] = values
    return out


class PartitionEnv(gymnasium.Env):
    """Partitioning one workload across the chiplets of one package.

    An episode is one step. The action proposes a chip for every op; the
    environment repairs the proposal into the nearest valid placement
    (fewest ops moved, under the spec's constraints, as
    :func:`tessera.repair` does), simulates it, and rewards the converged
    throughput relative to a baseline placement of the same problem
    (``greedy``'s, the Edge TPU compiler's segmentation, else ``dp``'s): 1.0
    is as good as the baseline, more is better. A proposal repair cannot make
    valid within ``repair_nodes`` earns ``invalid_reward``.

    **Action space**: ``MultiDiscrete([n_chips] * n_ops)``, op ``i``'s chip
    id at index ``i`` (ops in the workload's topological order, chips by
    id). :meth:`action_masks` says which chips each op may take.

    **Observation space**: a ``Dict`` of ``Box`` es, the same observation in
    every episode (the problem, not a placement). Matrices are padded with
    zeros to ``max_ops`` ops, ``max_edges`` edges and ``max_chips`` chips
    (by default the problem's own sizes, so nothing is padded); the masks
    say which rows are real:

    - ``node_features``: float32 ``(max_ops, 30)``, one row per op: its
      kind one-hot, then log-scaled MACs, vector ops, weight, output and
      graph-input bytes, fewest cycles on any chiplet, position in the
      graph, depth, height, degrees, source/sink/weights flags (names in
      :attr:`node_columns`);
    - ``edge_index``: int64 ``(2, max_edges)``, row 0 the producer op and
      row 1 the consumer op of each tensor between ops (sorted; padding 0);
    - ``edge_features``: float32 ``(max_edges, 1)``, log-scaled bytes;
    - ``chip_features``: float32 ``(max_chips, 12)``, one row per chip: its
      pipeline position, log-scaled SRAM, compute and link bandwidths,
      whether it may stream weights (:attr:`chip_columns`);
    - ``op_chip_features``: float32 ``(max_ops, max_chips, 5)``: the op's
      cycles on the chip, whether it fits alone, its distance in pipeline
      positions from an even split, and two reference columns that are 0
      here (:attr:`op_chip_columns`);
    - ``op_mask``, ``edge_mask``, ``chip_mask``: int8 ``(max_ops,)``,
      ``(max_edges,)``, ``(max_chips,)``, 1 on real rows and 0 on padding.

    Features are of order one, from 0 to 2 (log-scaled quantities are
    ``log2(1 + x) / 32``), but the pipeline distances in
    ``op_chip_features``, from 0 to ``max_chips - 1``;
    ``agent/src/rl/features.rs`` defines every column.

    **info** after a step: ``placement`` (the repaired placement, a chip
    per op, or None), ``repair_distance`` (ops repair moved),
    ``repair_proven_optimal``, ``proposal_violations`` (the constraints the
    proposal broke, dicts with a ``message``, as :func:`tessera.repair`
    gives them), ``report`` (the repaired placement's simulation, the dict
    :func:`tessera.simulate` returns for it), ``throughput_inferences_per_s``,
    ``baseline_method``, ``baseline_throughput_inferences_per_s`` and
    ``invalid_reason`` (why no valid placement came out, else None). After a
    reset, ``info`` holds the baseline's method, placement and throughput.

    Arguments (all keyword arguments of ``gymnasium.make``):

    - ``spec``: a spec file or :class:`tessera.Spec` (default: the shipped
      ``edgetpu_ring4.toml``), with ``overrides`` as :func:`tessera.simulate`;
    - ``workload``: a zoo model name, graph JSON or ONNX file, or a
      :class:`tessera.Workload`, with ``params`` (default: ``bert-base`` with
      ``layers=2, seq=32``; ``params`` alone change those);
    - ``microbatches``, ``fixed_microbatches``, ``packet_bytes``,
      ``cut_through``: the simulator's options, as :func:`tessera.simulate`;
    - ``repair_nodes`` (default 64): branch-and-bound nodes repair may
      explore per step; ``invalid_reward`` (default -1.0);
    - ``max_ops``, ``max_edges``, ``max_chips``: padded sizes of the
      observation (so problems of different sizes share one space).

    Attributes: ``hw_spec`` (the :class:`tessera.Spec`; ``spec`` is
    Gymnasium's registration record), ``workload``, ``n_ops``, ``n_chips``,
    ``n_edges``, ``op_names``, ``baseline`` (a dict: ``method``,
    ``placement``, ``throughput_inferences_per_s``) and the column names
    ``node_columns``, ``edge_columns``, ``chip_columns``,
    ``op_chip_columns``.

    A wrong action (not one integer chip per op, or a chip beyond the
    package) raises :class:`tessera.InputError` naming the op and leaves
    the episode as it was; stepping an ended episode raises it too. The GIL
    is released while a step repairs and simulates.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        spec=None,
        workload=None,
        *,
        params=None,
        overrides=None,
        microbatches=8,
        fixed_microbatches=False,
        packet_bytes=4096,
        cut_through=False,
        repair_nodes=64,
        invalid_reward=-1.0,
        max_ops=None,
        max_edges=None,
        max_chips=None,
        render_mode=None,
    ):
        super().__init__()
        if render_mode is not None:
            raise OptionError(f"render_mode: PartitionEnv does not render, found {render_mode!r}")
        if spec is None:
            spec = f"{_native.spec_dir()}/{DEFAULT_SPEC_FILE}"
        if workload is None:
            workload = DEFAULT_WORKLOAD
            params = {**DEFAULT_PARAMS, **(params or {})}
        if isinstance(invalid_reward, bool) or not isinstance(invalid_reward, (int, float)):
            raise ArgumentTypeError(
                f"invalid_reward: expected a number, found {_type_name(invalid_reward)}"
            )
        self.hw_spec = _spec(spec, overrides)
        self.workload = _workload(workload, params)
        self._env = _native.PartitionEnv(
            self.hw_spec,
            self.workload,
            _int("repair_nodes", repair_nodes),
            float(invalid_reward),
            _int("--microbatches", microbatches, _U32_MAX),
            _bool("--fixed-microbatches", fixed_microbatches),
            _int("--packet-bytes", packet_bytes),
            _bool("--cut-through", cut_through),
        )
        self.n_ops = self._env.n_ops
        self.n_chips = self._env.n_chips
        self.n_edges = self._env.n_edges
        self.op_names = [op["name"] for op in self.workload.ops()]
        self.max_ops = _size("max_ops", max_ops, self.n_ops)
        self.max_edges = _size("max_edges", max_edges, self.n_edges)
        self.max_chips = _size("max_chips", max_chips, self.n_chips)

        raw = self._env.observation()
        self.node_columns = list(raw["node_columns"])
        self.edge_columns = list(raw["edge_columns"])
        self.chip_columns = list(raw["chip_columns"])
        self.op_chip_columns = list(raw["op_chip_columns"])
        self._observation = self._build_observation(raw)
        self.observation_space = self._build_space()
        self.action_space = spaces.MultiDiscrete([self.n_chips] * self.n_ops)
        mask = np.frombuffer(self._env.action_mask(), dtype=np.uint8)
        self._action_mask = mask.astype(bool)
        method, placement, throughput = self._env.baseline()
        self.baseline = {
            "method": method,
            "placement": placement,
            "throughput_inferences_per_s": throughput,
        }

    def _build_observation(self, raw):
        n, e, k = self.n_ops, self.n_edges, self.n_chips
        f32 = np.dtype("<f4")

        def matrix(name, shape):
            return np.frombuffer(raw[name], dtype=f32).reshape(shape).astype(np.float32)

        nodes = matrix("node_features", (n, len(self.node_columns)))
        edge_features = matrix("edge_features", (e, len(self.edge_columns)))
        chips = matrix("chip_features", (k, len(self.chip_columns)))
        op_chip = matrix("op_chip_features", (n, k, len(self.op_chip_columns)))
        edges = np.frombuffer(raw["edges"], dtype=np.dtype("<u4")).reshape(e, 2)
        edge_index = edges.T.astype(np.int64)
        return {
            "node_features": _padded(nodes, (self.max_ops, nodes.shape[1])),
            "edge_index": _padded(edge_index, (2, self.max_edges)),
            "edge_features": _padded(edge_features, (self.max_edges, edge_features.shape[1])),
            "chip_features": _padded(chips, (self.max_chips, chips.shape[1])),
            "op_chip_features": _padded(
                op_chip, (self.max_ops, self.max_chips, op_chip.shape[2])
            ),
            "op_mask": _padded(np.ones(n, dtype=np.int8), (self.max_ops,)),
            "edge_mask": _padded(np.ones(e, dtype=np.int8), (self.max_edges,)),
            "chip_mask": _padded(np.ones(k, dtype=np.int8), (self.max_chips,)),
        }

    def _build_space(self):
        def features(name, high=_FEATURE_MAX):
            shape = self._observation[name].shape
            return spaces.Box(0.0, high, shape=shape, dtype=np.float32)

        def mask(name):
            shape = self._observation[name].shape
            return spaces.Box(0, 1, shape=shape, dtype=np.int8)

        return spaces.Dict(
            {
                "node_features": features("node_features"),
                "edge_index": spaces.Box(
                    0, max(self.max_ops - 1, 0), shape=(2, self.max_edges), dtype=np.int64
                ),
                "edge_features": features("edge_features"),
                "chip_features": features("chip_features"),
                # The distances in pipeline positions reach max_chips - 1.
                "op_chip_features": features(
                    "op_chip_features", max(_FEATURE_MAX, float(self.max_chips - 1))
                ),
                "op_mask": mask("op_mask"),
                "edge_mask": mask("edge_mask"),
                "chip_mask": mask("chip_mask"),
            }
        )

    def _obs(self):
        """A copy of the observation, so a caller's changes stay theirs."""
        return {name: value.copy() for name, value in self._observation.items()}

    def _chips(self, action):
        """The action as a list of chip ids, or the error naming what is wrong."""
        array = np.asarray(action)
        if array.ndim == 1 and array.size == 0:
            array = array.astype(np.int64)  # [] is float64 to NumPy
        if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
            raise ArgumentTypeError(
                f"action: expected integer chip ids, found an array of {array.dtype}"
            )
        if array.ndim != 1:
            raise InputError(
                f"action: expected one chip per op (shape ({self.n_ops},)), "
                f"found shape {array.shape}"
            )
        chips = array.tolist()
        for op, chip in enumerate(chips):
            if not 0 <= chip <= _U32_MAX:
                name = self.op_names[op] if op < len(self.op_names) else "?"
                raise InputError(
                    f"action: op {op} ({name}) is given chip {chip}; "
                    f"the package has chips 0..{self.n_chips}"
                )
        return chips

    def reset(self, *, seed=None, options=None):
        """Starts an episode: the observation and the baseline in ``info``.
        Nothing is drawn at random, so every seed gives the same episode."""
        super().reset(seed=seed)
        self._env.reset(None if seed is None else _int("seed", seed))
        return self._obs(), {f"baseline_{k}": v for k, v in self.baseline.items()}

    def step(self, action):
        """Repairs, simulates and scores a proposal (a chip per op); the
        episode ends. Returns ``(observation, reward, terminated, truncated,
        info)``."""
        reward, terminated, truncated, info = self._env.step(self._chips(action))
        return self._obs(), float(reward), terminated, truncated, json.loads(info)

    def action_masks(self):
        """Which chips each op may take, flat over the sub-actions (op 0's
        ``n_chips`` entries, then op 1's, ...), as sb3-contrib's MaskablePPO
        reads a ``MultiDiscrete`` mask: False where the op alone overflows
        the chip's SRAM, which no valid placement allows."""
        return self._action_mask.copy()


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="tessera.gym:PartitionEnv")
