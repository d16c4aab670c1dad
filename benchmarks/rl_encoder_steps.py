#!/usr/bin/env python
"""Env steps/s with the frozen V-JEPA encoder in the loop, against the pixel-CNN agent, on the same envs.

Two agents are built exactly as their experiment files build them (the same env copies, frame stack and PPO
settings): ``experiments/rl_disaster_vjepa_ppo.py`` (frozen phase-1 ViT + per-token head) and
``experiments/rl_disaster_ppo.py`` (a small CNN trained end to end). Two rates per agent:

- ``act``: the vector env stepped with the policy's actions, one batched policy call per vector step for all envs
  (for the V-JEPA agent: one no-grad encoder call for all envs), nothing trained: what evaluation and data
  collection cost;
- ``train``: SB3's ``PPO.learn`` (rollouts + PPO updates): what a training run costs per env step. SB3 recomputes
  features in ``evaluate_actions`` on every minibatch of every PPO epoch; the extractor's feature cache serves a
  frozen encoder's from the rollout instead (the ``V-JEPA, no cache`` row turns it off: the speed before it).

Runs alternate (CNN, V-JEPA, CNN, ...) and medians with the spread are printed, per wall second and per CPU-second
of this process (in-process envs, one torch thread: the work done, nearly blind to other load on a shared machine).
Without the phase-1 run (work_dirs/vjepa_pretrain_tiny) the ViT is randomly initialised: the same cost.

    python benchmarks/rl_encoder_steps.py [--steps 2048] [--repeats 5] [--threads 1]
"""
import argparse
import statistics
import time

# agent -> (experiment, overrides); the third row is the V-JEPA agent before the feature cache (the encoder runs again
# on every minibatch of every PPO epoch)
EXPERIMENTS = {"pixel CNN": ("experiments/rl_disaster_ppo.py", {}),
               "frozen V-JEPA": ("experiments/rl_disaster_vjepa_ppo.py", {}),
               "V-JEPA, no cache": ("experiments/rl_disaster_vjepa_ppo.py", {"policy.feature_cache": False})}


def _load(path: str, overrides: dict):
    from aegis.config import load_experiment
    from aegis.errors import ConfigError

    overrides = dict(overrides, **{"train_cfg.eval_references": None})  # no evaluation here: no control run needed
    try:
        return load_experiment(path, cfg_options=overrides), ""
    except ConfigError:  # the phase-1 run is missing: a random-init ViT of the same size costs the same
        cfg = load_experiment(path, cfg_options=dict(overrides, **{"policy.features_extractor.checkpoint": None}))
        return cfg, " (phase-1 run missing: random-init ViT)"


def _build(cfg):
    from aegis_plugins.policies.agent_io import build_agent
    from aegis_plugins.policies.vec_env import build_vec_env

    loop = cfg.train_cfg
    envs = build_vec_env(cfg.env, loop.n_envs, 0, loop.get("vec_env", "dummy"), loop.get("frame_stack", 1))
    return envs, build_agent(cfg.policy, envs, seed=0)


def act_rate(cfg, steps: int) -> tuple[float, float]:
    """(steps per wall second, per CPU-second) of the vector env driven by the untrained policy, no learning."""
    envs, agent = _build(cfg)
    obs = envs.reset()
    vector_steps = max(1, steps // envs.num_envs)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(vector_steps):
        actions, _ = agent.algo.predict(obs)  # one batched forward for all envs
        obs, _, _, _ = envs.step(actions)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    envs.close()
    done = vector_steps * envs.num_envs
    return done / wall, done / cpu


def train_rate(cfg, steps: int) -> tuple[float, float]:
    """(steps per wall second, per CPU-second) of ``PPO.learn`` for ``steps`` env steps."""
    envs, agent = _build(cfg)
    start, cpu = time.perf_counter(), time.process_time()
    agent.algo.learn(steps)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    envs.close()
    return agent.num_timesteps / wall, agent.num_timesteps / cpu


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} [{min(values):.1f}, {max(values):.1f}]"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2048, help="env steps per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="measurements per agent and mode (alternating)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)

    import torch

    from aegis import plugins

    torch.set_num_threads(args.threads)
    plugins.load()
    configs, notes = {}, {}
    for name, (path, overrides) in EXPERIMENTS.items():
        configs[name], notes[name] = _load(path, overrides)
    rates: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for name, cfg in configs.items():  # warm-up: first-call costs hit no measurement
        act_rate(cfg, cfg.train_cfg.n_envs * 4)
    for i in range(args.repeats):
        for mode, measure in (("act", act_rate), ("train", train_rate)):
            for name, cfg in configs.items():
                rates.setdefault((name, mode), []).append(measure(cfg, args.steps))
        print(f"round {i + 1}: " + "  ".join(f"{n} {m} {r[-1][1]:.0f}/CPU-s" for (n, m), r in rates.items()),
              flush=True)
    n_envs = {name: cfg.train_cfg.n_envs for name, cfg in configs.items()}
    print(f"\nmedians [min, max] over {args.repeats} runs of {args.steps} env steps, {args.threads} torch thread(s):")
    print(f"{'agent':16s} {'mode':6s} {'steps/wall-s':>26s} {'steps/CPU-s':>26s}")
    for (name, mode), values in rates.items():
        print(f"{name:16s} {mode:6s} {_summary([v[0] for v in values]):>26s} {_summary([v[1] for v in values]):>26s}"
              f"   ({n_envs[name]} envs){notes[name]}")
    def median(name, mode):
        return statistics.median(v[1] for v in rates[(name, mode)])

    for mode in ("act", "train"):
        print(f"{mode}: frozen V-JEPA runs at {median('frozen V-JEPA', mode) / median('pixel CNN', mode):.2f}x the "
              "pixel CNN's steps per CPU-second")
    speedup = median("frozen V-JEPA", "train") / median("V-JEPA, no cache", "train")
    print(f"train: the feature cache makes the V-JEPA agent {speedup:.2f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
