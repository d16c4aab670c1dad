#!/usr/bin/env python
"""Steps/s of AEGIS's RL loop (RLRunner + RLTrainLoop) against SB3's own ``learn`` on the same env and settings.

Both sides train the same PPOAgent build (same env copies, same network, same PPO hyperparameters, same seed) for
``--steps`` env steps with SB3's ``PPO.learn``; only the callbacks differ: none versus our loop's (episode
statistics every step; logging to the message hub / visualizer and the checkpoint check after every update; the
final checkpoint). Runs alternate (A B A B ...) and the medians are compared.
Two rates are reported per side: wall-clock steps/s, and steps per CPU-second of this process (with in-process
envs and one torch thread that is the work done, nearly blind to other processes' load on a shared machine; the
overhead verdict uses it). Target: under 3% overhead.

    python benchmarks/rl_overhead.py [--experiment experiments/rl_disaster_ppo.py] [--steps 8192] [--repeats 3]
"""
import argparse
import statistics
import tempfile
import time
import uuid


def _sb3_learn(cfg, steps: int) -> float:
    from aegis_plugins.policies.agent_io import build_agent
    from aegis_plugins.policies.vec_env import build_vec_env

    loop = cfg.train_cfg
    envs = build_vec_env(cfg.env, loop.n_envs, 0, loop.get("vec_env", "dummy"), loop.get("frame_stack", 1))
    policy = build_agent(cfg.policy, envs, seed=0)
    start, cpu = time.perf_counter(), time.process_time()
    policy.algo.learn(steps)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    envs.close()
    return policy.num_timesteps / elapsed, policy.num_timesteps / cpu


def _aegis_loop(cfg, steps: int) -> float:
    from aegis_plugins.policies.rl_runner import RLRunner

    run_cfg = cfg.copy()
    run_cfg.work_dir = tempfile.mkdtemp(prefix="aegis_rl_overhead_")
    run_cfg.train_cfg = dict(cfg.train_cfg, total_timesteps=steps, eval_episodes=0, checkpoint_interval=10 ** 9)
    run_cfg.experiment_name = f"rl_overhead_{uuid.uuid4().hex[:6]}"
    run_cfg.log_level = "WARNING"
    runner = RLRunner.from_cfg(run_cfg)
    loop = runner.train_loop
    loop.build()
    start, cpu = time.perf_counter(), time.process_time()
    runner.train()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return loop.agent.num_timesteps / elapsed, loop.agent.num_timesteps / cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="experiments/rl_disaster_ppo.py")
    parser.add_argument("--steps", type=int, default=8192, help="env steps per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per side (alternating)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)

    import torch

    from aegis import plugins
    from aegis.config import load_experiment

    torch.set_num_threads(args.threads)
    plugins.load()
    cfg = load_experiment(args.experiment)
    sb3, ours = [], []
    _sb3_learn(cfg, cfg.policy.n_steps * cfg.train_cfg.n_envs)  # warm-up: first-call costs hit neither side
    for i in range(args.repeats):
        sb3.append(_sb3_learn(cfg, args.steps))
        ours.append(_aegis_loop(cfg, args.steps))
        print(f"run {i + 1}: SB3 learn {sb3[-1][0]:7.1f} steps/s ({sb3[-1][1]:7.1f} per CPU-s)   "
              f"AEGIS loop {ours[-1][0]:7.1f} steps/s ({ours[-1][1]:7.1f} per CPU-s)", flush=True)
    wall_a, wall_b = (statistics.median(r[0] for r in runs) for runs in (sb3, ours))
    cpu_a, cpu_b = (statistics.median(r[1] for r in runs) for runs in (sb3, ours))
    overhead = 100.0 * (cpu_a - cpu_b) / cpu_a
    print(f"medians over {args.repeats} runs of {args.steps} steps ({cfg.train_cfg.n_envs} envs, {args.threads} "
          f"torch thread(s)):\n  wall clock: SB3 learn {wall_a:.1f} steps/s, AEGIS loop {wall_b:.1f} steps/s "
          f"({100.0 * (wall_a - wall_b) / wall_a:+.2f}%)\n  per CPU-second: SB3 learn {cpu_a:.1f}, AEGIS loop "
          f"{cpu_b:.1f}: overhead {overhead:+.2f}% ({'within' if overhead < 3.0 else 'ABOVE'} the 3% target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
