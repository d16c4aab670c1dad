"""Evaluate a policy and a uniformly random policy on the same seeded episodes, and write episode videos.

Episodes are played by SB3's ``evaluate_policy`` on one env built from the ENVS config, wrapped in SB3's Monitor
and stacked ``frame_stack`` deep by VecFrameStack exactly as in training. Episode i resets the env with
``seed + i`` (and seeds its action space and torch alike), so the trained and the random policy face exactly the
same maps. Reported per policy: mean return, success rate, victims rescued and SPL (Anderson et al., "On
Evaluation of Embodied Navigation Agents", 2018), averaged over episodes.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

from aegis.engine.progress import ProgressBar

from .agent_io import load_agent
from .vec_env import EnvFactory

__all__ = ["RandomPolicy", "run_episodes", "summarize", "compare_with_random", "write_video",
           "evaluate_checkpoint", "format_report"]

_INFO_KEYS = ("rescued", "lost", "success", "spl")


class RandomPolicy:
    """Uniformly random actions in SB3's ``predict`` form (what ``evaluate_policy`` calls): a baseline agent.

    Samples ``action_space`` once per env of the batch; seed the space to make it reproducible (the evaluation
    seeds it at every episode).
    """

    def __init__(self, action_space: gym.Space) -> None:
        self.action_space = action_space

    def predict(self, observation: np.ndarray | dict, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        """Actions (B,) or (B, A) for a batch of B observations; ``state`` is passed through (no recurrence)."""
        batch = len(next(iter(observation.values()))) if isinstance(observation, dict) else len(observation)
        return np.stack([self.action_space.sample() for _ in range(batch)]), state


class _SeededEpisodes(gym.Wrapper):
    """Resets episode i with ``seed + i``, seeding the action space and torch alike (a sampling policy then draws
    the same actions wherever it is evaluated); keeps the RGB frames of episode 0 when ``record_first``."""

    def __init__(self, env: gym.Env, seed: int, record_first: bool = False) -> None:
        super().__init__(env)
        self.first_seed, self.episode, self.record_first = seed, -1, record_first
        self.frames: list[np.ndarray] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        import torch

        self.episode += 1
        episode_seed = self.first_seed + self.episode
        obs, info = self.env.reset(seed=episode_seed, options=options)
        self.env.action_space.seed(episode_seed)
        torch.manual_seed(episode_seed)
        if self.record_first and self.episode == 0:
            self.frames.append(_frame(self.env, obs))
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self.record_first and self.episode == 0:
            self.frames.append(_frame(self.env, obs))
        return obs, reward, terminated, truncated, info


def run_episodes(env_cfg: dict, policy: Any | None, episodes: int, seed: int, frame_stack: int = 1,
                 deterministic: bool = False, record_first: bool = False,
                 description: str = "episodes") -> tuple[list[dict], list[np.ndarray]]:
    """Play ``episodes`` episodes (episode i reset with seed + i) with SB3's ``evaluate_policy``.

    ``policy`` is anything with SB3's ``predict(observation, state, episode_start, deterministic)`` (a
    ``stable_baselines3.PPO``, an SB3 policy, :class:`RandomPolicy`); None plays uniformly random actions. It sees
    batches of one observation (1, ...), stacked ``frame_stack`` deep by VecFrameStack as in training. Returns one
    dict per episode (return and length as SB3's Monitor records them, plus the env's rescued, lost, success, spl
    when its final ``info`` has them) and, with ``record_first``, the RGB frames of the first episode. On a
    terminal a live bar named ``description`` counts the finished episodes (see :mod:`aegis.engine.progress`).
    """
    env = _SeededEpisodes(EnvFactory(env_cfg, monitor=False, render_mode="rgb_array" if record_first else None)(),
                          seed, record_first)
    envs = DummyVecEnv([lambda: Monitor(env)])
    if frame_stack > 1:
        envs = VecFrameStack(envs, n_stack=frame_stack)
    finished: list[dict] = []

    def status() -> str:  # the success rate so far, when the env reports success (read only when the bar redraws)
        successes = [r["success"] for r in finished if "success" in r]
        return f"success {np.mean(successes):.2f}" if successes else ""

    bar = ProgressBar(episodes, description, unit="episodes", status=status)

    def keep_info(local_vars: dict, _globals: dict) -> None:  # called after every step of every env
        info = local_vars["info"]
        if local_vars["done"] and "episode" in info:
            finished.append({k: float(info[k]) for k in _INFO_KEYS if k in info})
            bar.advance()

    try:
        returns, lengths = evaluate_policy(RandomPolicy(envs.action_space) if policy is None else policy, envs,
                                           n_eval_episodes=episodes, deterministic=deterministic,
                                           callback=keep_info, return_episode_rewards=True)
    finally:
        bar.close()
        envs.close()
    results = [dict(episode_return=float(r), length=int(n), **extra)
               for r, n, extra in zip(returns, lengths, finished)]
    return results, env.frames


def _frame(env, obs) -> np.ndarray:
    frame = env.render() if getattr(env, "render_mode", None) == "rgb_array" else None
    if frame is None:  # fall back to the newest observed frame
        image = obs["image"] if isinstance(obs, dict) else obs
        frame = image[..., -3:] if image.ndim == 3 else image[-1]
    return np.asarray(frame, dtype=np.uint8)


def summarize(results: list[dict]) -> dict[str, float]:
    """Means over episodes: mean_return, mean_length, success_rate, rescued, lost, spl (those the env reports)."""
    if not results:
        return {}
    summary = dict(mean_return=float(np.mean([r["episode_return"] for r in results])),
                   mean_length=float(np.mean([r["length"] for r in results])), episodes=len(results))
    names = dict(success="success_rate", rescued="rescued", lost="lost", spl="spl")
    for key, name in names.items():
        if key in results[0]:
            summary[name] = float(np.mean([r[key] for r in results]))
    return summary


def compare_with_random(env_cfg: dict, policy: Any, episodes: int, seed: int, frame_stack: int = 1,
                        deterministic: bool = False, video_path: str | None = None) -> dict[str, float]:
    """Summaries of ``policy`` (plain keys) and of :class:`RandomPolicy` (``random_`` keys) on the same seeds."""
    trained, frames = run_episodes(env_cfg, policy, episodes, seed, frame_stack, deterministic,
                                   record_first=video_path is not None, description="eval: trained policy")
    random_results, _ = run_episodes(env_cfg, None, episodes, seed, frame_stack, description="eval: random policy")
    metrics = summarize(trained)
    metrics.update({f"random_{k}": v for k, v in summarize(random_results).items() if k != "episodes"})
    if video_path is not None and frames:
        metrics["video"] = write_video(frames, video_path)
    return metrics


def write_video(frames: list[np.ndarray], path: str, fps: int = 8, scale: int = 4) -> str:
    """Write RGB frames (H, W, 3) uint8 as an mp4 (H.264 through PyAV) or, for a .gif path, a GIF; returns the path.

    Frames are enlarged ``scale`` times (nearest neighbour) so a 64x64 grid stays readable.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    big = [np.ascontiguousarray(np.repeat(np.repeat(f, scale, axis=0), scale, axis=1)) for f in frames]
    tmp = f"{path}.partial{Path(path).suffix}"
    if path.endswith(".gif"):
        from PIL import Image
        images = [Image.fromarray(f) for f in big]
        images[0].save(tmp, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    else:
        import av
        height, width = big[0].shape[:2]
        with av.open(tmp, mode="w") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = width - width % 2, height - height % 2
            stream.pix_fmt = "yuv420p"
            for frame in big:
                image = av.VideoFrame.from_ndarray(frame[:stream.height, :stream.width], format="rgb24")
                for packet in stream.encode(image):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    os.replace(tmp, path)
    return path


def evaluate_checkpoint(path: str, episodes: int = 100, seed: int = 100_000, deterministic: bool = False,
                        video_path: str | None = None) -> dict:
    """Rebuild the agent of an RL checkpoint (env and policy configs and ``frame_stack`` are stored in it) and
    compare it with a random policy on ``episodes`` seeded episodes; optionally write the trained agent's first
    episode as a video."""
    agent, checkpoint = load_agent(path)
    build = checkpoint["build"]
    metrics = compare_with_random(build["env"], agent.algo, episodes, seed, build["frame_stack"], deterministic,
                                  video_path=video_path)
    metrics.update(checkpoint=path, num_timesteps=int(checkpoint["agent"]["num_timesteps"]), seed=seed,
                   deterministic=deterministic)
    return metrics


def format_report(metrics: dict) -> str:
    """A small table: one row per metric, trained vs random."""
    rows = [("success rate", "success_rate"), ("mean return", "mean_return"), ("victims rescued", "rescued"),
            ("victims lost", "lost"), ("SPL", "spl"), ("episode length", "mean_length")]
    lines = [f"{'':16s} {'trained':>9s} {'random':>9s}"]
    for label, key in rows:
        if key in metrics:
            lines.append(f"{label:16s} {metrics[key]:9.3f} {metrics.get('random_' + key, float('nan')):9.3f}")
    return "\n".join(lines)
