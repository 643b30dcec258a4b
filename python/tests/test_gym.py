"""The Gymnasium environment `tessera.gym.PartitionEnv`: Gymnasium's own
checker, construction through the registry, the spaces, refused actions,
determinism, agreement with `tessera.repair`/`tessera.simulate`, and the
stable-baselines3 example at a test-sized budget."""

import importlib.util
import warnings

import pytest

gymnasium = pytest.importorskip("gymnasium")
np = pytest.importorskip("numpy")

import tessera  # noqa: E402
import tessera.gym  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402

from conftest import ROOT  # noqa: E402

RING4 = "hw_specs/edgetpu_ring4.toml"
MESH = "hw_specs/mesh_4x4.toml"


@pytest.fixture(scope="module")
def env():
    return tessera.gym.PartitionEnv()


def test_check_env_passes_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(tessera.gym.PartitionEnv(), skip_render_check=True)
        check_env(gymnasium.make(tessera.gym.ENV_ID).unwrapped, skip_render_check=True)


def test_make_without_arguments_is_the_small_default_problem():
    env = gymnasium.make("tessera/Partition-v0")
    inner = env.unwrapped
    assert isinstance(inner, tessera.gym.PartitionEnv)
    assert inner.workload.name == tessera.load_workload("bert-base", layers=2, seq=32).name
    assert inner.hw_spec.n_chiplets == 4
    assert env.action_space == gymnasium.spaces.MultiDiscrete([4] * inner.n_ops)
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    assert info["baseline_method"] == "greedy"
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    assert terminated and not truncated
    assert reward == pytest.approx(
        info["throughput_inferences_per_s"] / info["baseline_throughput_inferences_per_s"]
    )


def test_make_takes_spec_workload_and_options_as_keywords():
    mesh = tessera.Spec.load(MESH)
    env = gymnasium.make(
        "tessera/Partition-v0",
        spec=mesh,
        workload="mlp",
        microbatches=4,
        repair_nodes=200,
        max_ops=64,
        max_edges=80,
        max_chips=20,
    )
    inner = env.unwrapped
    mlp = tessera.load_workload("mlp")
    assert (inner.n_ops, inner.n_chips) == (mlp.n_ops, 16)
    space = env.observation_space
    assert space["node_features"].shape == (64, len(inner.node_columns))
    assert space["edge_index"].shape == (2, 80)
    assert space["op_chip_features"].shape == (64, 20, len(inner.op_chip_columns))
    obs, _ = env.reset(seed=0)
    assert space.contains(obs)
    assert obs["op_mask"].sum() == mlp.n_ops and obs["op_mask"][mlp.n_ops:].sum() == 0
    assert obs["chip_mask"].sum() == 16
    assert obs["edge_mask"].sum() == inner.n_edges
    assert not obs["node_features"][mlp.n_ops:].any()
    # Every real edge joins two real ops, producer before consumer.
    edges = obs["edge_index"][:, : inner.n_edges]
    assert (edges[0] < edges[1]).all() and edges.max() < mlp.n_ops
    # The keyword options reach the simulator.
    _, _, _, _, info = env.step(inner.baseline["placement"])
    expected = tessera.simulate(mesh, mlp, info["placement"], microbatches=4)
    assert info["report"] == expected


def test_padding_smaller_than_the_problem_is_refused():
    with pytest.raises(tessera.OptionError, match="^max_ops: the problem needs at least 39"):
        tessera.gym.PartitionEnv(max_ops=10)


def test_bad_arguments_raise_tessera_errors():
    with pytest.raises(tessera.InputError, match="no_such_model"):
        tessera.gym.PartitionEnv(workload="no_such_model")
    with pytest.raises(tessera.ArgumentTypeError):
        tessera.gym.PartitionEnv(spec=42)
    with pytest.raises(tessera.OptionError, match="^invalid_reward: must be a finite number"):
        tessera.gym.PartitionEnv(invalid_reward=float("nan"))


def test_wrong_actions_raise_and_the_env_keeps_working(env):
    env.reset(seed=0)
    n = env.n_ops
    with pytest.raises(tessera.InputError) as e:
        env.step([0] * (n - 1))
    assert str(e.value) == f"action: {n - 1} chips given, the graph has {n} ops (one chip per op)"
    with pytest.raises(tessera.InputError) as e:
        env.step([0] * 5 + [4] + [0] * (n - 6))
    assert str(e.value) == (
        f"action: op 5 ({env.op_names[5]}) is given chip 4; the package has chips 0..4"
    )
    with pytest.raises(tessera.InputError, match=r"^action: op 0 \(.*\) is given chip -1;"):
        env.step([-1] + [0] * (n - 1))
    with pytest.raises(tessera.InputError, match="^action: 0 chips given"):
        env.step([])
    with pytest.raises(tessera.InputError, match=r"^action: expected one chip per op"):
        env.step(np.zeros((2, n), dtype=np.int64))
    with pytest.raises(tessera.ArgumentTypeError, match="^action: expected integer chip ids"):
        env.step([0.5] * n)
    # The refused actions left the episode running.
    obs, reward, terminated, _, info = env.step(env.baseline["placement"])
    assert terminated and reward == pytest.approx(1.0)
    assert info["placement"] == env.baseline["placement"]
    with pytest.raises(tessera.InputError, match="^the episode is over"):
        env.step(env.baseline["placement"])
    env.reset()
    env.step(env.baseline["placement"])


def test_step_before_reset_is_refused():
    env = tessera.gym.PartitionEnv()
    with pytest.raises(tessera.InputError, match="^step before reset"):
        env.step([0] * env.n_ops)


def test_same_seed_same_observations_and_rewards():
    def run(seed):
        env = tessera.gym.PartitionEnv()
        env.action_space.seed(seed)
        out = []
        for episode in range(5):
            obs, _ = env.reset(seed=seed + episode)
            obs2, reward, _, _, info = env.step(env.action_space.sample())
            out.append((obs, obs2, reward, info))
        return out

    a, b = run(7), run(7)
    for (obs_a, obs2_a, r_a, i_a), (obs_b, obs2_b, r_b, i_b) in zip(a, b):
        for key in obs_a:
            assert np.array_equal(obs_a[key], obs_b[key])
            assert np.array_equal(obs2_a[key], obs2_b[key])
        assert r_a == r_b and i_a == i_b
    assert len({r for _, _, r, _ in a}) > 1, "different proposals, different rewards"


def test_info_equals_repair_and_simulate_for_the_same_placement():
    env = tessera.gym.PartitionEnv(repair_nodes=2000)
    rng = np.random.default_rng(5)
    bert = env.workload
    for _ in range(3):
        proposal = rng.integers(0, env.n_chips, size=env.n_ops)
        env.reset()
        _, reward, _, _, info = env.step(proposal)
        repaired = tessera.repair(RING4, bert, proposal.tolist(), max_nodes=2000)
        assert info["placement"] == repaired["placement"]
        assert info["repair_distance"] == repaired["changed_ops"]
        assert info["repair_proven_optimal"] == repaired["proven_optimal"]
        assert info["proposal_violations"] == repaired["proposal_violations"]
        assert info["report"] == repaired["report"]
        assert info["report"] == tessera.simulate(RING4, bert, info["placement"])
        baseline = tessera.simulate(RING4, bert, env.baseline["placement"])
        assert reward == pytest.approx(
            info["report"]["throughput_inferences_per_s"]
            / baseline["throughput_inferences_per_s"],
            rel=1e-12,
        )


def test_action_masks_are_flat_over_sub_actions(env):
    mask = env.action_masks()
    assert mask.dtype == bool and mask.shape == (env.n_ops * env.n_chips,)
    # BERT's ops fit every Edge TPU alone.
    assert mask.all()


def test_action_masks_forbid_chips_an_op_alone_overflows():
    # ResNet-18's largest convolutions overflow the 2 MiB compute chiplets
    # of the heterogeneous package, but fit its 16 MiB vector chiplets.
    env = tessera.gym.PartitionEnv(spec="hw_specs/hetero_2type.toml", workload="resnet18")
    mask = env.action_masks().reshape(env.n_ops, env.n_chips)
    assert not mask.all() and mask.any(axis=1).all()
    fits = env.reset()[0]["op_chip_features"][: env.n_ops, : env.n_chips, 1] > 0.5
    assert np.array_equal(mask, fits)
    # Valid placements keep to the mask: the baseline's, and what repair
    # makes of a proposal that ignores it.
    assert all(mask[op, chip] for op, chip in enumerate(env.baseline["placement"]))
    _, _, _, _, info = env.step([0] * env.n_ops)
    assert info["placement"] is not None
    assert all(mask[op, chip] for op, chip in enumerate(info["placement"]))


def test_a_problem_without_a_baseline_is_infeasible():
    # BERT's word embedding fits no chiplet of the heterogeneous package.
    with pytest.raises(tessera.InfeasibleError, match="^no baseline: neither greedy nor dp"):
        tessera.gym.PartitionEnv(spec="hw_specs/hetero_2type.toml")


def test_the_sb3_example_raises_the_reward():
    pytest.importorskip("stable_baselines3")
    path = ROOT / "python" / "examples" / "sb3_partition.py"
    spec = importlib.util.spec_from_file_location("sb3_partition", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    # Seeded and on one torch thread, so the numbers are the same on every
    # run; the margins are still wide: at seeds 0, 1 and 2 the mean went from
    # 1.15-1.23 to 1.86-1.98 in these four chunks, and the trained policy's
    # proposal earned 1.97-2.44 where random ones average 1.10-1.23.
    result = example.train(timesteps=1024, chunk=256, seed=0)
    means = result["chunk_means"]
    assert len(means) == 4
    assert means[-1] > means[0] + 0.3, means
    assert result["deterministic_reward"] > result["random_mean"] + 0.3, result
