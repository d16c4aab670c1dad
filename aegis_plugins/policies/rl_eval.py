"""Evaluate policies on the same seeded episodes: a trained agent against baselines (uniformly random, the
map-knowing scripted rescuer) and other references (checkpoints, a planner), and write episode videos.

Episodes are played by SB3's ``evaluate_policy`` on one env built from the ENVS config, wrapped in SB3's Monitor
and stacked ``frame_stack`` deep by VecFrameStack exactly as in training. Episode i resets the env with
``seed + i`` (and seeds its action space and torch alike), so every policy faces exactly the same maps. Reported
per policy: mean return, success rate, victims rescued and lost, SPL (Anderson et al., "On Evaluation of Embodied
Navigation Agents", 2018), episode length and the policy's wall time per action, averaged over episodes.
"""
from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecFrameStack

from aegis.engine.progress import ProgressBar
from aegis.errors import ConfigError, closest

from .agent_io import load_agent
from .vec_env import EnvFactory

__all__ = ["RandomPolicy", "BASELINES", "Player", "make_baseline", "supported_baselines", "run_episodes",
           "summarize", "compare_policies", "flat_metrics", "compare_with_random", "load_reference", "write_video",
           "evaluate_checkpoint", "evaluate_players", "format_report"]

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


def _scripted_rescuer(envs: VecEnv):
    from .heuristic import ScriptedRescuePolicy

    return ScriptedRescuePolicy(envs)


# Named baseline policies, each built on the evaluation's VecEnv: ``make(envs) -> policy in SB3's predict form``.
BASELINES = {
    "random": lambda envs: RandomPolicy(envs.action_space),  # uniform actions: the lower reference
    "heuristic": _scripted_rescuer,  # ScriptedRescuePolicy, knows the map (get_state): the upper reference
}


def make_baseline(name: str, envs: VecEnv):
    """The baseline policy ``name`` (a key of :data:`BASELINES`) acting in ``envs``."""
    if name not in BASELINES:
        near = closest(name, BASELINES)
        raise ConfigError(f"baseline {name!r} is unknown; expected one of {sorted(BASELINES)}"
                          + (f". Did you mean {near[0]!r}?" if near else "."))
    return BASELINES[name](envs)


def supported_baselines(env_cfg: Mapping, names: tuple[str, ...] = tuple(BASELINES)) -> tuple[str, ...]:
    """Those of ``names`` that can play on ``env_cfg``'s env (the scripted rescuer needs DisasterRescueEnv's
    ``get_state()`` and ``config``); found by building each on one reset env."""
    envs = DummyVecEnv([EnvFactory(dict(env_cfg), monitor=False)])
    try:
        envs.reset()
        ok = []
        for name in names:
            try:
                make_baseline(name, envs)
            except ConfigError:
                continue
            ok.append(name)
    finally:
        envs.close()
    return tuple(ok)


class Player(NamedTuple):
    """A policy in SB3's ``predict`` form with the env it plays on: ``env_cfg`` (None: the evaluation's env) and
    ``frame_stack`` (None: the evaluation's). A reference trained on another observation of the same world (say
    ``state_obs=True``, or a larger ``obs_size``) keeps its own; ``note`` is shown next to its name."""
    policy: Any
    env_cfg: dict | None = None
    frame_stack: int | None = None
    note: str = ""


class _TimedPolicy:
    """Wraps a policy's ``predict`` and adds up its wall time and the actions it returned."""

    def __init__(self, policy: Any) -> None:
        self.policy, self.seconds, self.actions = policy, 0.0, 0

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        start = time.perf_counter()
        actions, state = self.policy.predict(observation, state, episode_start, deterministic)
        self.seconds += time.perf_counter() - start
        self.actions += len(actions)
        return actions, state


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
    ``stable_baselines3.PPO``, an SB3 policy, :class:`RandomPolicy`), the name of a baseline (``"random"``,
    ``"heuristic"``: :data:`BASELINES`, built on the evaluation env), or None (uniformly random actions). It sees
    batches of one observation (1, ...), stacked ``frame_stack`` deep by VecFrameStack as in training. Returns one
    dict per episode (return and length as SB3's Monitor records them, plus the env's rescued, lost, success, spl
    when its final ``info`` has them) and, with ``record_first``, the RGB frames of the first episode. On a
    terminal a live bar named ``description`` counts the finished episodes (see :mod:`aegis.engine.progress`).
    """
    results, frames, _ = _play(env_cfg, policy, episodes, seed, frame_stack, deterministic, record_first,
                               description)
    return results, frames


def _play(env_cfg: dict, policy: Any | None, episodes: int, seed: int, frame_stack: int = 1,
          deterministic: bool = False, record_first: bool = False,
          description: str = "episodes") -> tuple[list[dict], list[np.ndarray], float]:
    """:func:`run_episodes`, plus the policy's mean wall time per action in seconds."""
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
        if policy is None:
            policy = "random"
        timed = _TimedPolicy(make_baseline(policy, envs) if isinstance(policy, str) else policy)
        returns, lengths = evaluate_policy(timed, envs, n_eval_episodes=episodes, deterministic=deterministic,
                                           callback=keep_info, return_episode_rewards=True)
    finally:
        bar.close()
        envs.close()
    results = [dict(episode_return=float(r), length=int(n), **extra)
               for r, n, extra in zip(returns, lengths, finished)]
    return results, env.frames, timed.seconds / max(1, timed.actions)


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


# env arguments that change what a policy observes, not the world it acts in: references may differ in them
_OBSERVATION_ARGS = ("obs_size", "state_obs", "render_mode", "view", "view_size")


def compare_policies(env_cfg: dict, players: Mapping[str, Any], episodes: int, seed: int, frame_stack: int = 1,
                     deterministic: bool = False, video_path: str | None = None) -> dict[str, dict[str, float]]:
    """Summaries (:func:`summarize` plus ``seconds_per_action``) of every named policy on the same ``episodes``
    seeded episodes, in the order given.

    A value of ``players`` is a :class:`Player`, a policy in SB3's ``predict`` form, or a baseline name
    (:data:`BASELINES`). Each plays on ``env_cfg`` stacked ``frame_stack`` deep unless its Player names its own; a
    Player's env may differ from ``env_cfg`` only in what is observed (:data:`_OBSERVATION_ARGS`), so that every
    policy faces the same maps. ``deterministic`` is passed to every ``predict`` (the baselines ignore it).
    ``video_path`` gets the first policy's first episode (its summary's ``video``).
    """
    summaries: dict[str, dict[str, float]] = {}
    for i, (name, value) in enumerate(players.items()):
        player = value if isinstance(value, Player) else Player(value)
        own_env = dict(env_cfg) if player.env_cfg is None else dict(player.env_cfg)
        _check_same_world(env_cfg, own_env, name)
        record = i == 0 and video_path is not None
        results, frames, seconds = _play(own_env, player.policy, episodes, seed,
                                         frame_stack if player.frame_stack is None else player.frame_stack,
                                         deterministic, record_first=record, description=f"eval: {name}")
        summary = summarize(results)
        summary["seconds_per_action"] = seconds
        if record and frames:
            summary["video"] = write_video(frames, video_path)
        summaries[name] = summary
    return summaries


def _check_same_world(env_cfg: Mapping, other: Mapping, name: str) -> None:
    def world(cfg):
        return {k: v for k, v in cfg.items() if k not in _OBSERVATION_ARGS}

    if world(env_cfg) != world(other):
        diff = sorted(k for k in set(world(env_cfg)) | set(world(other)) if env_cfg.get(k) != other.get(k))
        raise ConfigError(f"{name!r} was trained on another world than the evaluated env: they differ in {diff} "
                          f"({ {k: other.get(k) for k in diff} } vs { {k: env_cfg.get(k) for k in diff} }); "
                          f"references may differ only in {list(_OBSERVATION_ARGS)}, so that all play the same "
                          "episodes.")


def flat_metrics(summaries: Mapping[str, Mapping], main: str | None = None) -> dict:
    """One flat dict: the ``main`` policy's summary under plain keys (``success_rate``), every other policy's
    under ``<name>_`` keys (``random_success_rate``, ``heuristic_spl``), and ``policies``: the names in order
    (``main`` first). ``main`` None: the first policy."""
    names = list(summaries)
    main = names[0] if main is None else main
    metrics: dict = dict(summaries[main])
    for name in names:
        if name != main:
            metrics.update({f"{name}_{k}": v for k, v in summaries[name].items() if k != "episodes"})
    metrics["policies"] = [main] + [n for n in names if n != main]
    return metrics


def compare_with_random(env_cfg: dict, policy: Any, episodes: int, seed: int, frame_stack: int = 1,
                        deterministic: bool = False, video_path: str | None = None,
                        baselines: tuple[str, ...] = ("random",), references: Mapping[str, Any] | None = None
                        ) -> dict:
    """Summaries of ``policy`` (plain keys), of each baseline (``random_``, ``heuristic_`` keys) and of each
    reference (a Player or policy; ``<name>_`` keys) on the same seeds: :func:`flat_metrics` of
    :func:`compare_policies`."""
    players: dict[str, Any] = {"trained": policy}
    players.update({name: name for name in baselines})
    players.update(references or {})
    return flat_metrics(compare_policies(env_cfg, players, episodes, seed, frame_stack, deterministic,
                                         video_path=video_path), main="trained")


def load_reference(path: str, where: str = "checkpoint") -> Player:
    """A :class:`Player` from an RL checkpoint or a run's work dir (its ``last_checkpoint``): the agent rebuilt
    with its weights, on the env config and frame stack stored in the checkpoint."""
    from aegis.engine.checkpoint import resolve_checkpoint

    file = resolve_checkpoint(path, where)
    agent, checkpoint = load_agent(file)
    build = checkpoint["build"]
    return Player(agent.algo, dict(build["env"]), int(build["frame_stack"]),
                  note=f"{int(checkpoint['agent']['num_timesteps'])} steps, {file}")


def load_planner_player(path: str) -> Player:
    """A :class:`Player` from ``aegis_plugins.policies.planner.load_planner(path) -> (policy, env_cfg,
    frame_stack)``; a ConfigError when that module is not there."""
    try:
        from aegis_plugins.policies.planner import load_planner
    except ModuleNotFoundError as exc:
        raise ConfigError(f"--planner {path!r}: evaluating a planner needs aegis_plugins/policies/planner.py "
                          f"with load_planner(path) -> (policy, env_cfg, frame_stack), which is not installed "
                          f"({exc}).") from exc
    policy, env_cfg, frame_stack = load_planner(path)
    return Player(policy, dict(env_cfg), int(frame_stack), note=str(path))


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


def evaluate_players(main: str, player: Player, episodes: int = 100, seed: int = 100_000,
                     deterministic: bool = False, video_path: str | None = None,
                     baselines: tuple[str, ...] = ("random",),
                     references: Mapping[str, Player] | None = None) -> dict:
    """``player`` (named ``main``; its env config and frame stack are the evaluation's) against ``baselines`` and
    ``references`` on ``episodes`` seeded episodes: :func:`flat_metrics` plus ``seed``, ``deterministic`` and
    ``notes`` (name -> note of each Player). ``video_path`` gets ``main``'s first episode."""
    players: dict[str, Any] = {main: player}
    players.update({name: name for name in baselines})
    players.update(references or {})
    summaries = compare_policies(player.env_cfg, players, episodes, seed, player.frame_stack or 1, deterministic,
                                 video_path=video_path)
    metrics = flat_metrics(summaries, main=main)
    metrics.update(seed=seed, deterministic=deterministic,
                   notes={name: p.note for name, p in players.items() if isinstance(p, Player) and p.note})
    return metrics


def evaluate_checkpoint(path: str, episodes: int = 100, seed: int = 100_000, deterministic: bool = False,
                        video_path: str | None = None, baselines: tuple[str, ...] = ("random",),
                        references: Mapping[str, Player] | None = None) -> dict:
    """Rebuild the agent of an RL checkpoint (env and policy configs and ``frame_stack`` are stored in it) and
    compare it with ``baselines`` and ``references`` on ``episodes`` seeded episodes (:func:`evaluate_players`);
    optionally write the trained agent's first episode as a video."""
    agent, checkpoint = load_agent(path)
    build = checkpoint["build"]
    player = Player(agent.algo, dict(build["env"]), int(build["frame_stack"]))
    metrics = evaluate_players("trained", player, episodes, seed, deterministic, video_path, baselines, references)
    metrics.update(checkpoint=path, num_timesteps=int(checkpoint["agent"]["num_timesteps"]))
    return metrics


def format_report(metrics: dict) -> str:
    """A table with one column per policy (``metrics["policies"]``, the first under plain keys; default trained
    and random) and one row per metric."""
    names = list(metrics.get("policies") or ("trained", "random"))
    rows = [("success rate", "success_rate", 1), ("victims rescued", "rescued", 1), ("victims lost", "lost", 1),
            ("SPL", "spl", 1), ("mean return", "mean_return", 1), ("episode length", "mean_length", 1),
            ("ms per action", "seconds_per_action", 1000)]
    width = max(9, *(len(n) for n in names))
    lines = [f"{'':16s}" + "".join(f" {n:>{width}s}" for n in names)]
    for label, key, scale in rows:
        values = [metrics.get(key if i == 0 else f"{name}_{key}") for i, name in enumerate(names)]
        if all(v is None for v in values):
            continue
        lines.append(f"{label:16s}" + "".join(f" {'-':>{width}s}" if v is None else f" {v * scale:{width}.3f}"
                                              for v in values))
    return "\n".join(lines)
