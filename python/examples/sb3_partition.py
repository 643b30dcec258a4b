"""Train a stock agent on tessera's partition environment: stable-baselines3's
PPO with an MLP policy on the flattened observation of a 2-layer BERT
(sequence 32, 39 ops) on the shipped 4-chip Edge TPU ring.

Each episode is one proposal of a chip for every op; the reward is the
repaired placement's throughput relative to the greedy baseline's (1.0 = as
good as the baseline). The script prints the mean reward of each chunk of
training steps (the policy's own samples, exploration included), then the
trained policy's deterministic proposal against random proposals.

    pip install "./python[gym]" stable-baselines3==2.9.2 torch==2.15.0
    python python/examples/sb3_partition.py --timesteps 8192

Runs on the CPU with one torch thread, and is deterministic for a seed.
"""

import argparse

import gymnasium
import numpy as np
import torch
from gymnasium.wrappers import FlattenObservation
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

import tessera.gym


class ChunkRewards(BaseCallback):
    """The mean reward of each rollout (one chunk of `n_steps` steps)."""

    def __init__(self, report=None):
        super().__init__()
        self.report = report
        self.chunk_means = []
        self._rewards = []

    def _on_step(self):
        self._rewards.extend(float(r) for r in self.locals["rewards"])
        return True

    def _on_rollout_end(self):
        mean = float(np.mean(self._rewards))
        self.chunk_means.append(mean)
        if self.report is not None:
            self.report(self.num_timesteps, mean)
        self._rewards = []


def train(timesteps=4096, chunk=256, seed=0, report=None, n_random=64, **env_kwargs):
    """Trains PPO for `timesteps` steps in rollouts of `chunk` steps and
    returns a dict: `chunk_means` (mean reward per chunk),
    `deterministic_reward` (the trained policy's most likely proposal),
    `random_mean` (mean reward of `n_random` uniformly random proposals) and
    `baseline` (the environment's baseline). `report(steps, mean)` is called
    after each chunk; `env_kwargs` go to the environment."""
    torch.set_num_threads(1)
    env = FlattenObservation(gymnasium.make(tessera.gym.ENV_ID, **env_kwargs))
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=chunk,
        batch_size=64,
        n_epochs=10,
        learning_rate=3e-3,
        gamma=1.0,
        gae_lambda=1.0,
        ent_coef=0.0,
        policy_kwargs={"net_arch": [64]},
        seed=seed,
        device="cpu",
        verbose=0,
    )
    rewards = ChunkRewards(report)
    model.learn(total_timesteps=timesteps, callback=rewards)

    obs, _ = env.reset(seed=seed)
    action, _ = model.predict(obs, deterministic=True)
    _, deterministic_reward, _, _, _ = env.step(action)

    sampler = env.action_space
    sampler.seed(seed)
    random_rewards = []
    for _ in range(n_random):
        env.reset()
        random_rewards.append(env.step(sampler.sample())[1])
    baseline = env.unwrapped.baseline
    env.close()
    return {
        "chunk_means": rewards.chunk_means,
        "deterministic_reward": float(deterministic_reward),
        "random_mean": float(np.mean(random_rewards)),
        "baseline": baseline,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timesteps", type=int, default=8192, help="training steps (episodes)")
    parser.add_argument("--chunk", type=int, default=256, help="steps per rollout and printed mean")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    def report(steps, mean):
        print(f"steps {steps:6d}: mean reward {mean:.3f}", flush=True)

    result = train(args.timesteps, args.chunk, args.seed, report)
    b = result["baseline"]
    print(
        f"trained policy (deterministic): {result['deterministic_reward']:.3f}; "
        f"random proposals: {result['random_mean']:.3f}; "
        f"1.0 = {b['method']}'s {b['throughput_inferences_per_s']:.1f} inferences/s"
    )


if __name__ == "__main__":
    main()
