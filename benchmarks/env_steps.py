"""Single-env throughput of DisasterRescueEnv (steps/s on one core, random actions, resets included).

    python benchmarks/env_steps.py [--steps 20000] [--repeats 5] [--presets easy medium hard]

The first case is the env as users make it: ``gymnasium.make("aegis/DisasterRescue-v0")`` (default preset, with
the wrappers gym.make adds, which the line names) stepped with ``env.action_space.sample()``. Then each preset's
env is built directly and stepped with pre-drawn random actions. The target is >= 10,000 steps per CPU-second for
the first case.

Each case runs `--repeats` times, the cases interleaved so that a busy spell of a shared machine hits them alike.
One line per case: the median steps per CPU-second of this process (what one dedicated core does) with the
min-max over repeats, the median steps per wall-clock second, and the random policy's episodes and success rate (a
baseline for learning curves). The load average before and after is printed: wall rates mean little under load.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable

import numpy as np

ENV_ID = "aegis/DisasterRescue-v0"


def time_steps(env, steps: int, next_action: Callable[[], object]) -> dict[str, float]:
    """Step `env` (already reset) `steps` times with `next_action()`, resetting at episode ends; rates and episodes.

    `next_action` runs inside the timed loop, so a policy's cost (here ``action_space.sample``) counts as a user's
    loop would count it.
    """
    episodes = successes = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        _, _, terminated, truncated, info = env.step(next_action())
        if terminated or truncated:
            episodes += 1
            successes += info["success"]
            env.reset()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return dict(wall_rate=steps / wall, cpu_rate=steps / max(cpu, 1e-9), episodes=episodes,
                random_success=successes / max(episodes, 1))


def measure_made(steps: int, seed: int = 0, env_id: str = ENV_ID, **kwargs) -> dict[str, float]:
    """``gymnasium.make(env_id, **kwargs)`` with its default wrappers, stepped with ``env.action_space.sample()``."""
    import gymnasium

    from aegis_plugins.envs import register_gymnasium_ids

    register_gymnasium_ids()  # what loading the aegis plugins (or importing aegis_plugins.envs) does
    env = gymnasium.make(env_id, **kwargs)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    return time_steps(env, steps, env.action_space.sample)


def measure(preset: str, steps: int, seed: int = 0, allow_stop: bool = True, **kwargs) -> dict[str, float]:
    """The env built directly, stepped with `steps` pre-drawn uniform random actions.

    With Habitat-style actions a uniform policy calls `stop` (which ends the episode) every 4 steps on average, so
    resets dominate; `allow_stop=False` samples only move_forward / turn_left / turn_right.
    """
    from aegis_plugins.envs.disaster import DisasterRescueEnv

    env = DisasterRescueEnv(preset=preset, **kwargs)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    low = 1 if (env.config.action_mode == "habitat" and not allow_stop) else 0
    actions = iter(rng.integers(low, env.action_space.n, size=steps).tolist())
    return time_steps(env, steps, actions.__next__)


def wrapper_chain(env_id: str = ENV_ID) -> str:
    """What gym.make(env_id) returns, outermost first, e.g. 'OrderEnforcing > PassiveEnvChecker > DisasterRescueEnv'."""
    import gymnasium

    from aegis_plugins.envs import register_gymnasium_ids

    register_gymnasium_ids()
    env, names = gymnasium.make(env_id), []
    while isinstance(env, gymnasium.Wrapper):
        names.append(type(env).__name__)
        env = env.env
    return " > ".join(names + [type(env).__name__])


def run_cases(cases: dict[str, Callable[[], dict[str, float]]], repeats: int) -> dict[str, list[dict[str, float]]]:
    """Every case `repeats` times, interleaved (case A, B, C, A, B, C, ...); each case's results in order."""
    results: dict[str, list[dict[str, float]]] = {label: [] for label in cases}
    for _ in range(repeats):
        for label, case in cases.items():
            results[label].append(case())
    return results


def summary_line(label: str, runs: list[dict[str, float]], steps: int) -> str:
    """One line: median CPU rate [min-max], median wall rate, episodes and random success of the first repeat."""
    cpu = [r["cpu_rate"] for r in runs]
    wall = statistics.median(r["wall_rate"] for r in runs)
    return (f"{label:<44} {statistics.median(cpu):>8,.0f} steps/CPU-s [{min(cpu):>6,.0f}-{max(cpu):>6,.0f}]  "
            f"{wall:>8,.0f} steps/wall-s  ({len(runs)}x{steps} steps, {runs[0]['episodes']} episodes, "
            f"random success {runs[0]['random_success']:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--presets", nargs="+", default=["easy", "medium", "hard"])
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    from aegis_plugins.envs.disaster import PRESETS

    cases = {f"gym.make('{ENV_ID}')": lambda: measure_made(args.steps)}
    for preset in args.presets:
        variants = [True, False] if PRESETS[preset].action_mode == "habitat" else [True]
        for allow_stop in variants:
            label = f"direct preset={preset}" + ("" if allow_stop else " (random without stop)")
            cases[label] = lambda p=preset, s=allow_stop: measure(p, args.steps, allow_stop=s)
    print(f"gym.make('{ENV_ID}') returns {wrapper_chain()}; load average {os.getloadavg()[0]:.2f}")
    results = run_cases(cases, args.repeats)
    for label, runs in results.items():
        print(summary_line(label, runs, args.steps))
    print(f"median [min-max] over {args.repeats} interleaved repeats; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
