"""Evaluate a policy and a uniformly random policy on the same seeded episodes, and write episode videos.

Episode i of every evaluation resets the env with ``seed + i``, so the trained and the random policy face exactly
the same maps. Reported per policy: mean return, success rate, victims rescued and SPL (Anderson et al., "On
Evaluation of Embodied Navigation Agents", 2018), averaged over episodes.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from .vec_env import EnvFactory

__all__ = ["run_episodes", "summarize", "compare_with_random", "write_video", "evaluate_checkpoint", "format_report"]

_INFO_KEYS = ("rescued", "lost", "success", "spl")


def run_episodes(env_cfg: Mapping, act: Callable[[np.ndarray | dict], int | np.ndarray] | None, episodes: int,
                 seed: int, frame_stack: int = 1, record_first: bool = False) -> tuple[list[dict], list[np.ndarray]]:
    """Play ``episodes`` episodes (episode i reset with seed + i); ``act=None`` samples uniformly random actions.

    ``act`` gets one observation, stacked ``frame_stack`` deep exactly like VecFrameStack does in training, and
    returns one action; torch is re-seeded with seed + i at each reset, so a sampling policy is reproducible too.
    Returns one dict per episode (return, length and the env's rescued, lost, success, spl when
    its ``info`` has them) and, with ``record_first``, the RGB frames of the first episode.
    """
    import torch
    from stable_baselines3.common.vec_env.stacked_observations import StackedObservations

    env = EnvFactory(env_cfg, monitor=False, render_mode="rgb_array" if record_first else None)()
    stacker = (StackedObservations(1, frame_stack, env.observation_space) if frame_stack > 1 else None)
    results, frames = [], []
    try:
        for episode in range(episodes):
            obs, info = env.reset(seed=seed + episode)
            env.action_space.seed(seed + episode)
            torch.manual_seed(seed + episode)  # a sampling policy draws the same actions wherever it is evaluated
            if stacker is not None:
                obs = _first(stacker.reset(_batch(obs)))
            total, length, done = 0.0, 0, False
            record = record_first and episode == 0
            if record:
                frames.append(_frame(env, obs))
            while not done:
                action = env.action_space.sample() if act is None else act(obs)
                obs, reward, terminated, truncated, info = env.step(action)
                if stacker is not None:
                    stacked, _ = stacker.update(_batch(obs), np.array([terminated or truncated]), [{}])
                    obs = _first(stacked)
                total += float(reward)
                length += 1
                done = terminated or truncated
                if record:
                    frames.append(_frame(env, obs))
            result = dict(episode_return=total, length=length)
            result.update({k: float(info[k]) for k in _INFO_KEYS if k in info})
            results.append(result)
    finally:
        env.close()
    return results, frames


def _batch(obs):
    return {k: v[None] for k, v in obs.items()} if isinstance(obs, dict) else obs[None]


def _first(obs):
    return {k: v[0] for k, v in obs.items()} if isinstance(obs, dict) else obs[0]


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


def compare_with_random(env_cfg: Mapping, act: Callable, episodes: int, seed: int, frame_stack: int = 1,
                        video_path: str | None = None) -> dict[str, float]:
    """Summaries of the trained policy (plain keys) and the random one (``random_`` keys) on the same seeds."""
    trained, frames = run_episodes(env_cfg, act, episodes, seed, frame_stack, record_first=video_path is not None)
    random_results, _ = run_episodes(env_cfg, None, episodes, seed, frame_stack)
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
    """Rebuild the agent of an RL checkpoint (env and policy configs are stored in it) and compare it with a random
    policy on ``episodes`` seeded episodes; optionally write the trained agent's first episode as a video."""
    from .rl_loop import load_agent

    policy, checkpoint = load_agent(path)
    build = checkpoint["build"]

    def act(obs):
        batch = {k: v[None] for k, v in obs.items()} if isinstance(obs, dict) else obs[None]
        return policy.predict(batch, deterministic=deterministic)[0]

    metrics = compare_with_random(build["env"], act, episodes, seed, build["frame_stack"], video_path=video_path)
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
