"""How readable is a good action from a frozen encoder's features? A behaviour-cloning probe, before any PPO run.

Frames are recorded where a uniformly random policy takes the envs (stacked as in training), each labelled with the
action of the map-knowing :class:`~.heuristic.ScriptedRescuePolicy` in that state. For each features-extractor
setting (how the encoder's tokens are pooled, whether a per-token head comes first), a small classifier (the
extractor's trainable head, then a linear layer to the actions) is fitted to the labels for a fixed number of steps
and scored on held-out frames. A setting the probe cannot read in a few hundred steps is one PPO will struggle with:
the numbers behind the choices of ``experiments/rl_disaster_vjepa_ppo.py`` (docs/rl.md, "Frozen V-JEPA features").
What ``tools/rl_feature_probe.py`` calls.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .extractors import EncoderFeaturesExtractor
from .heuristic import plan_action
from .vec_env import build_vec_env

__all__ = ["ExpertFrames", "record_expert_frames", "behaviour_cloning_accuracy", "HEAD_SETTINGS"]

# The pooling settings the probe compares (EncoderFeaturesExtractor arguments).
HEAD_SETTINGS: dict[str, dict] = {
    "mean-pooled tokens": dict(tokens="mean", features_dim=256),
    "concatenated tokens": dict(tokens="flatten", features_dim=256),
    "per-token head (16), concatenated": dict(tokens="flatten", token_dim=16, features_dim=256),
}


class ExpertFrames(NamedTuple):
    """Stacked frames (S, H, W, T*C) uint8 as SB3's VecFrameStack gives them, the expert's action in each (S,)
    int64, the observation space of one frame stack and the number of actions."""
    frames: np.ndarray
    actions: np.ndarray
    observation_space: object
    n_actions: int


def record_expert_frames(env_cfg: Mapping, samples: int, seed: int = 0, frame_stack: int = 1,
                         n_envs: int = 8) -> ExpertFrames:
    """``samples`` stacked frames visited by a random policy in ``n_envs`` copies of the env (env i seeded
    ``seed + i``), each with the action :func:`~.heuristic.plan_action` takes in that state."""
    envs = build_vec_env(dict(env_cfg), n_envs=n_envs, seed=seed, frame_stack=frame_stack)
    rng = np.random.default_rng(seed)
    config = envs.get_attr("config")[0]
    frames, actions = [], []
    observations = envs.reset()
    try:
        while len(frames) < samples:
            for obs, state in zip(observations, envs.env_method("get_state")):
                frames.append(obs)
                actions.append(plan_action(state["episode"], config))
            observations, _, _, _ = envs.step(rng.integers(envs.action_space.n, size=n_envs))
    finally:
        envs.close()
    return ExpertFrames(np.stack(frames[:samples]), np.array(actions[:samples], dtype=np.int64),
                        envs.observation_space, int(envs.action_space.n))


def behaviour_cloning_accuracy(data: ExpertFrames, encoder: Mapping, train: int,
                               resize: int | None = None, mean=None, std=None, steps: int = 300,
                               batch_size: int = 128, lr: float = 1e-3, seed: int = 0, **head) -> float:
    """Held-out accuracy of (EncoderFeaturesExtractor with ``head`` arguments -> Linear -> actions) fitted with Adam
    for ``steps`` minibatches to the first ``train`` frames and scored on the rest. The encoder runs once per frame
    (the extractor's feature cache keeps a frozen encoder's outputs while it stays in train mode)."""
    torch.manual_seed(seed)
    extractor = EncoderFeaturesExtractor(data.observation_space, encoder=dict(encoder), resize=resize, mean=mean,
                                         std=std, **head)
    classifier = nn.Linear(extractor.features_dim, data.n_actions)
    trainable = [p for p in (*extractor.parameters(), *classifier.parameters()) if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=lr)
    frames = torch.as_tensor(data.frames).float() / 255.0  # what SB3 hands a policy: (S, H, W, T*C) in [0, 1]
    actions = torch.as_tensor(data.actions)
    generator = torch.Generator().manual_seed(seed)
    extractor.train()
    for _ in range(steps):
        index = torch.randint(0, train, (batch_size,), generator=generator)
        loss = F.cross_entropy(classifier(extractor(frames[index])), actions[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        predicted = torch.cat([classifier(extractor(frames[i:i + 256])).argmax(-1)
                               for i in range(train, len(frames), 256)])
    return float((predicted == actions[train:]).float().mean())
