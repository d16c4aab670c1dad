"""Single-env throughput of DisasterRescueEnv (steps/s on one core, random actions, resets included).

    python benchmarks/env_steps.py [--steps 20000] [--presets easy medium hard]

Prints steps per wall-clock second and per CPU second of this process. On a shared machine the CPU rate is the one
that says what one dedicated core does. The target is >= 10,000 steps/s on one CPU core. The random policy's
success rate is printed too, as a baseline for learning curves.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def measure(preset: str, steps: int, seed: int = 0, allow_stop: bool = True, **kwargs) -> dict[str, float]:
    """Steps per wall and CPU second, episodes finished and random-policy success for `steps` random actions.

    With Habitat-style actions a uniform policy calls `stop` (which ends the episode) every 4 steps on average, so
    resets dominate; `allow_stop=False` samples only move_forward / turn_left / turn_right.
    """
    from aegis_plugins.envs.disaster import DisasterRescueEnv

    env = DisasterRescueEnv(preset=preset, **kwargs)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    low = 1 if (env.config.action_mode == "habitat" and not allow_stop) else 0
    actions = rng.integers(low, env.action_space.n, size=steps).tolist()
    episodes = successes = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for action in actions:
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            episodes += 1
            successes += info["success"]
            env.reset()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return dict(wall_rate=steps / wall, cpu_rate=steps / cpu, episodes=episodes,
                random_success=successes / max(episodes, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--presets", nargs="+", default=["easy", "medium", "hard"])
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    from aegis_plugins.envs.disaster import PRESETS

    for preset in args.presets:
        variants = [True, False] if PRESETS[preset].action_mode == "habitat" else [True]
        for allow_stop in variants:
            r = measure(preset, args.steps, allow_stop=allow_stop)
            label = preset if allow_stop else f"{preset} (random without stop)"
            print(f"DisasterRescueEnv preset={label:<30} {r['cpu_rate']:>9,.0f} steps/CPU-s  "
                  f"{r['wall_rate']:>9,.0f} steps/wall-s  ({args.steps} steps, {r['episodes']} episodes, "
                  f"random success {r['random_success']:.2f})")


if __name__ == "__main__":
    main()
