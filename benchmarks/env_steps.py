"""Single-env throughput of DisasterRescueEnv (steps/s on one core, random actions, resets included).

    python benchmarks/env_steps.py [--steps 20000] [--presets easy medium hard]

The target is >= 10,000 steps/s for every preset on one CPU core.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def measure(preset: str, steps: int, seed: int = 0, **kwargs) -> tuple[float, int]:
    """(steps per second, episodes finished) for `steps` random actions in one env."""
    from aegis_plugins.envs.disaster import DisasterRescueEnv

    env = DisasterRescueEnv(preset=preset, **kwargs)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = rng.integers(env.action_space.n, size=steps).tolist()
    episodes = 0
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            episodes += 1
            env.reset()
    return steps / (time.perf_counter() - start), episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--presets", nargs="+", default=["easy", "medium", "hard"])
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    for preset in args.presets:
        rate, episodes = measure(preset, args.steps)
        print(f"DisasterRescueEnv preset={preset:<6} {rate:>9,.0f} steps/s  ({args.steps} steps, {episodes} episodes)")


if __name__ == "__main__":
    main()
