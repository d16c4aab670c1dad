"""Recorded episodes of an environment, served as (frames, actions) windows for training a world model.

The action-conditioned predictor of V-JEPA 2-AC (Assran et al., "V-JEPA 2: Self-Supervised Video Models Enable
Understanding, Prediction and Planning", 2025, ``app/vjepa_droid``) learns from the robot's own recorded video and
actions. Here the "robot" is any ENVS config (the DisasterRescue grid world by default): episodes are played with
uniformly random actions, recorded once into ``data_root/transitions.npz`` and reused by every run with the same
settings (the same lock and settings check as the synthetic video sets, :func:`~.datasets.ensure_generated`).
"""
from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from aegis.engine.checkpoint import atomic_write_bytes, atomic_write_text
from aegis.errors import ConfigError, DataError

from .datasets import ensure_generated

__all__ = ["EnvTransitionDataset", "record_episodes", "stack_window"]

_FILE = "transitions.npz"


def record_episodes(env_cfg: Mapping, episodes: int, seed: int) -> dict[str, np.ndarray]:
    """Play ``episodes`` episodes of ``env_cfg`` with uniformly random actions: episode i is reset with ``seed + i``
    and its actions are drawn from ``np.random.default_rng(seed)``, so the same arguments give the same recording.

    Returns ``frames`` (F, H, W, C) uint8 (each episode's first observation, then one per step: L + 1 per episode),
    ``actions`` (sum L,) int64, ``lengths`` (E,) int64 (steps per episode) and ``success`` (E,) bool (the final
    ``info["success"]``, False when the env does not report it).
    """
    from aegis_plugins.policies.vec_env import EnvFactory

    env = EnvFactory(dict(env_cfg), path="dataset.env", monitor=False)()
    image_key = None
    if not hasattr(env.observation_space, "shape") or env.observation_space.shape is None:
        image_key = "image"  # a Dict observation: record its frames
    rng = np.random.default_rng(seed)
    frames, actions, lengths, success = [], [], [], []
    try:
        for i in range(episodes):
            obs, info = env.reset(seed=seed + i)
            frames.append(obs[image_key] if image_key else obs)
            done, steps = False, 0
            while not done:
                action = int(rng.integers(env.action_space.n))
                obs, _, terminated, truncated, info = env.step(action)
                frames.append(obs[image_key] if image_key else obs)
                actions.append(action)
                steps += 1
                done = terminated or truncated
            lengths.append(steps)
            success.append(bool(info.get("success", False)))
    finally:
        env.close()
    return dict(frames=np.stack(frames).astype(np.uint8), actions=np.array(actions, dtype=np.int64),
                lengths=np.array(lengths, dtype=np.int64), success=np.array(success, dtype=bool))


def stack_window(frames: np.ndarray, start: int, count: int, frame_stack: int) -> np.ndarray:
    """``count + frame_stack - 1`` frames ending at ``start + count - 1`` of one episode's frames (L + 1, H, W, C);
    frames before the episode's first are zeros, as SB3's VecFrameStack pads a fresh episode. Stacked observation j
    of the window is ``window[j:j + frame_stack]``."""
    first = start - frame_stack + 1
    pad = max(0, -first)
    window = frames[max(first, 0):start + count]  # (count + frame_stack - 1 - pad, H, W, C)
    if pad:
        window = np.concatenate([np.zeros((pad, *frames.shape[1:]), dtype=frames.dtype), window])
    return window


class EnvTransitionDataset(Dataset):
    """Windows of recorded episodes of ``env``: item i is ``dict(inputs=(T + k, H, W, C) uint8, actions=(k,) int64)``
    with T = ``frame_stack`` and k = ``rollout_steps``: stacked observation j (j = 0..k) is ``inputs[j:j + T]`` (the
    frames the agent saw before acting, oldest first, zero-padded at an episode's start like VecFrameStack) and
    ``actions[j]`` is the action taken after observation j.

    ``episodes`` episodes are recorded with random actions (:func:`record_episodes`) into ``data_root`` on first use,
    under a file lock; a folder recorded with other settings is refused. ``split`` picks episodes: the last
    ``val_episodes`` are 'val' (held out), the rest 'train'; 'all' takes every episode. Every step of an episode
    that has k steps after it starts a window.
    """

    sample_keys = ("inputs", "actions")

    def __init__(self, env: dict, data_root: str = "data/env_transitions", episodes: int = 200, seed: int = 0,
                 split: Literal["train", "val", "all"] = "train", val_episodes: int = 20, frame_stack: int = 2,
                 rollout_steps: int = 2) -> None:
        if split not in ("train", "val", "all"):
            raise ConfigError(f"dataset.split={split!r}: expected 'train', 'val' or 'all'.")
        if frame_stack < 1 or rollout_steps < 1:
            raise ConfigError(f"dataset: frame_stack={frame_stack} and rollout_steps={rollout_steps} must be >= 1.")
        if not 0 <= val_episodes < episodes:
            raise ConfigError(f"dataset.val_episodes={val_episodes}: expected 0 <= val_episodes < episodes="
                              f"{episodes}.")
        env = dict(env)
        wanted = dict(scenes="env_transitions", env=json.dumps(env, sort_keys=True, default=list), episodes=episodes,
                      seed=seed, policy="random")
        ensure_generated(data_root, wanted, lambda: self._generate(data_root, env, episodes, seed, wanted),
                         f"recording of {episodes} random-action episodes of {env.get('type')} (seed {seed})")
        path = os.path.join(data_root, _FILE)
        try:
            with np.load(path) as data:
                frames, actions, lengths = data["frames"], data["actions"], data["lengths"]
                success = data["success"]
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"{path}: cannot read the recorded episodes ({exc}); delete {data_root} to record "
                            "them again.") from None
        frame_start = np.concatenate([[0], np.cumsum(lengths + 1)])  # (E + 1,)
        action_start = np.concatenate([[0], np.cumsum(lengths)])  # (E + 1,)
        chosen = {"train": range(0, episodes - val_episodes), "val": range(episodes - val_episodes, episodes),
                  "all": range(episodes)}[split]
        self.env, self.split = env, split
        self.frame_stack, self.rollout_steps = int(frame_stack), int(rollout_steps)
        self.episodes = [(frames[frame_start[e]:frame_start[e + 1]], actions[action_start[e]:action_start[e + 1]])
                         for e in chosen]
        self.episode_success = success[list(chosen)]
        self.index = [(e, t) for e, (_, acts) in enumerate(self.episodes) for t in range(len(acts) - rollout_steps + 1)]
        if not self.index:
            raise DataError(f"{data_root}: the {split} split has no episode with {rollout_steps} steps; record more "
                            "episodes or lower rollout_steps.")

    @staticmethod
    def _generate(data_root: str, env: dict, episodes: int, seed: int, wanted: dict) -> None:
        recording = record_episodes(env, episodes, seed)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **recording)
        atomic_write_bytes(buffer.getvalue(), os.path.join(data_root, _FILE))
        atomic_write_text(json.dumps(wanted, indent=1), os.path.join(data_root, "synthetic_meta.json"))
        # ensure_generated's completion marker, written last: one entry per recorded episode
        index = [dict(episode=i, seed=seed + i, length=int(n), success=bool(s))
                 for i, (n, s) in enumerate(zip(recording["lengths"], recording["success"]))]
        atomic_write_text(json.dumps(index), os.path.join(data_root, "captions.json"))

    @property
    def metainfo(self) -> dict:
        """What the windows hold: the env config, split, frame_stack, rollout_steps and counts."""
        return dict(env=self.env, split=self.split, frame_stack=self.frame_stack, rollout_steps=self.rollout_steps,
                    episodes=len(self.episodes), steps=sum(len(a) for _, a in self.episodes))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        e, t = self.index[i]
        frames, actions = self.episodes[e]
        window = stack_window(frames, t, self.rollout_steps + 1, self.frame_stack)  # (T + k, H, W, C)
        return dict(inputs=torch.from_numpy(np.ascontiguousarray(window)),
                    actions=torch.from_numpy(actions[t:t + self.rollout_steps].copy()))
