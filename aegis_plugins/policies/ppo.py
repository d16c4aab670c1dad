"""PPO (Schulman et al., "Proximal Policy Optimization Algorithms", 2017) from Stable-Baselines3, configured from an
AEGIS experiment, with features from any registered encoder (see :mod:`aegis_plugins.policies.extractors`).

Two things differ from SB3's defaults, both to keep a frozen encoder exactly as loaded:

- SB3 re-initialises the features extractor orthogonally when ``ortho_init`` is on; here only the extractor's
  trainable head, the MLP and the action/value heads get that init. The encoder keeps its own (loaded) weights.
- Checkpoints (:meth:`PPOAgent.state_dict`) leave a frozen encoder's weights out and reference its checkpoint file by
  path and SHA-256 instead; loading checks the hash.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import VecEnv

from aegis.annotations import Component
from aegis.contracts import VideoEncoder
from aegis.errors import CheckpointError, ConfigError, closest

from .extractors import EncoderFeaturesExtractor

__all__ = ["PPOAgent", "EncoderActorCriticPolicy"]

_ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "gelu": torch.nn.GELU, "elu": torch.nn.ELU}
_OPTIMIZERS = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "RMSprop": torch.optim.RMSprop}
CHECKPOINT_FORMAT = "aegis.ppo/1"


class EncoderActorCriticPolicy(ActorCriticPolicy):
    """SB3's actor-critic whose orthogonal init and optimizer leave the encoder of an encoder extractor alone.

    Maps observations to (actions (B,) or (B, A), values (B, 1), log-probs (B,)) exactly like ActorCriticPolicy;
    only ``_build`` differs: orthogonal init covers the MLP, the heads and the extractor's trainable ``head`` (or a
    plain SB3 extractor as a whole), and the optimizer holds only parameters that require gradients.
    """

    def _extractors(self) -> list:
        seen: dict[int, Any] = {}
        for extractor in (self.features_extractor, self.pi_features_extractor, self.vf_features_extractor):
            seen.setdefault(id(extractor), extractor)
        return list(seen.values())

    def _build(self, lr_schedule) -> None:
        ortho_init, self.ortho_init = self.ortho_init, False
        try:
            super()._build(lr_schedule)
        finally:
            self.ortho_init = ortho_init
        if ortho_init:
            gains = {self.mlp_extractor: np.sqrt(2), self.action_net: 0.01, self.value_net: 1.0}
            for extractor in self._extractors():
                if isinstance(extractor, EncoderFeaturesExtractor):  # its trainable parts, never the encoder
                    for part in (extractor.head, extractor.token_head, extractor.grid_head):
                        gains[part] = np.sqrt(2)
                else:
                    gains[extractor] = np.sqrt(2)
            for module, gain in gains.items():
                module.apply(partial(self.init_weights, gain=gain))
        trainable = [p for p in self.parameters() if p.requires_grad]
        self.optimizer = self.optimizer_class(trainable, lr=lr_schedule(1), **self.optimizer_kwargs)

    def frozen_prefixes(self) -> list[str]:
        """State-dict prefixes of frozen encoders, under every name the shared extractor is reachable by."""
        frozen = {id(e.encoder) for e in self._extractors() if isinstance(e, EncoderFeaturesExtractor) and e.frozen}
        return [name + "." for name, module in self.named_modules(remove_duplicate=False)
                if id(module) in frozen and name]


def _schedule(value: float, kind: str):
    if kind == "constant":
        return value
    return lambda progress_remaining: progress_remaining * value  # linear decay to 0 over the run


def _in_memory_order(array: np.ndarray) -> dict:
    """``array`` as {"data": its elements in memory order (contiguous), "axes": the axes order that views it back}.

    SB3's VecTransposeImage gives the policy a transposed *view* of channel-last frames, and torch's CPU kernels can
    round differently (1e-8) on another memory layout, so a restored observation must keep the strides it had.
    """
    array = np.asarray(array)
    axes = [int(a) for a in np.argsort([-s for s in array.strides], kind="stable")]
    return dict(data=np.ascontiguousarray(array.transpose(axes)), axes=axes)


def _from_memory_order(saved: Mapping) -> np.ndarray:
    """The array :func:`_in_memory_order` described: a fresh contiguous copy, viewed with the original strides."""
    return np.array(saved["data"]).transpose([int(a) for a in np.argsort(saved["axes"])])


class PPOAgent:
    """The PPO algorithm (SB3's, as ``self.algo``, a plain ``stable_baselines3.PPO``) on a vectorised env, built from
    config; ``env`` and ``seed`` are injected by the RL loop. The policy it trains is ``self.module``.

    Observations come from the env with the last ``train_cfg.frame_stack`` frames stacked by SB3's VecFrameStack:
    image frames (B, T*C, H, W) go through ``features_extractor`` (an ENCODERS config, run on the clip
    (B, C, T, H, W); its tokens averaged or, with ``encoder_tokens="flatten"``, concatenated; see
    EncoderFeaturesExtractor; ``token_dim``: a trainable per-token projection before the concatenation,
    ``token_conv``: then a trainable 3x3 convolution over the token grid; a frozen encoder runs once per rollout
    observation, ``feature_cache``) to (B, features_dim), then an MLP ``net_arch``
    (shared sizes, or ``dict(pi=[...], vf=[...])``) to action logits (B, A) (or Gaussian means with
    ``log_std_init`` for continuous actions) and a value (B, 1). With ``features_extractor=None`` SB3's own default
    extractor for the observation space is used (NatureCNN for images, flatten for vectors, CombinedExtractor for
    Dict spaces). Every PPO hyperparameter is an argument.
    """

    def __init__(self, env: VecEnv, features_extractor: Component[VideoEncoder] | None = None, features_dim: int | None = 256,
                 frame_channels: int = 3, frame_resize: int | None = None,
                 frame_mean: Sequence[float] | None = None, frame_std: Sequence[float] | None = None,
                 image_key: str | None = None, encoder_tokens: Literal["mean", "flatten"] = "mean",
                 token_dim: int | None = None, token_conv: int | None = None, feature_cache: bool = True,
                 net_arch: Sequence[int] | dict[str, list[int]] = (64, 64),
                 activation: Literal["tanh", "relu", "gelu", "elu"] = "tanh",
                 learning_rate: float = 3e-4, lr_schedule: Literal["constant", "linear"] = "constant",
                 n_steps: int = 128, batch_size: int = 256, n_epochs: int = 4, gamma: float = 0.99,
                 gae_lambda: float = 0.95, clip_range: float = 0.2,
                 clip_range_schedule: Literal["constant", "linear"] = "constant",
                 clip_range_vf: float | None = None, normalize_advantage: bool = True, ent_coef: float = 0.01,
                 vf_coef: float = 0.5, max_grad_norm: float = 0.5, use_sde: bool = False,
                 sde_sample_freq: int = -1, target_kl: float | None = None, ortho_init: bool = True,
                 normalize_images: bool = True, share_features_extractor: bool = True,
                 log_std_init: float = 0.0, optimizer: Literal["Adam", "AdamW", "RMSprop"] = "Adam",
                 optimizer_kwargs: dict | None = None,
                 stats_window_size: int = 100, seed: int | None = None, device: str = "cpu") -> None:
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"policy.activation={activation!r} is not one of {sorted(_ACTIVATIONS)}; "
                              f"nearest: {closest(activation, _ACTIVATIONS)}.")
        if optimizer not in _OPTIMIZERS:
            raise ConfigError(f"policy.optimizer={optimizer!r} is not one of {sorted(_OPTIMIZERS)}; "
                              f"nearest: {closest(optimizer, _OPTIMIZERS)}.")
        for name, kind in (("lr_schedule", lr_schedule), ("clip_range_schedule", clip_range_schedule)):
            if kind not in ("constant", "linear"):
                raise ConfigError(f"policy.{name}={kind!r}: expected 'constant' or 'linear'.")
        rollout = n_steps * env.num_envs
        if rollout % batch_size:  # SB3 trains on a truncated last minibatch: legal, but rarely meant
            divisor = max(d for d in range(1, min(batch_size, rollout) + 1) if rollout % d == 0)
            warnings.warn(f"policy.batch_size={batch_size} does not divide the rollout size n_steps * n_envs = "
                          f"{n_steps} * {env.num_envs} = {rollout}: every epoch ends with a minibatch of "
                          f"{rollout % batch_size}. The nearest smaller divisor is {divisor}.", stacklevel=2)
        policy_kwargs: dict[str, Any] = dict(
            net_arch=({k: list(v) for k, v in net_arch.items()} if isinstance(net_arch, Mapping) else list(net_arch)),
            activation_fn=_ACTIVATIONS[activation], ortho_init=ortho_init,
            normalize_images=normalize_images, share_features_extractor=share_features_extractor,
            optimizer_class=_OPTIMIZERS[optimizer], optimizer_kwargs=dict(optimizer_kwargs or {}))
        if not isinstance(env.action_space, gym.spaces.Discrete):
            policy_kwargs["log_std_init"] = log_std_init  # Gaussian / gSDE action noise of continuous actions
        if features_extractor is not None:
            policy_class: Any = EncoderActorCriticPolicy
            policy_kwargs.update(features_extractor_class=EncoderFeaturesExtractor, features_extractor_kwargs=dict(
                encoder=dict(features_extractor), features_dim=features_dim, channels=frame_channels,
                resize=frame_resize, mean=frame_mean, std=frame_std, image_key=image_key, tokens=encoder_tokens,
                token_dim=token_dim, token_conv=token_conv, feature_cache=feature_cache))
        else:
            from stable_baselines3.common.preprocessing import is_image_space
            space = env.observation_space
            policy_class = ("MultiInputPolicy" if isinstance(space, gym.spaces.Dict)
                            else "CnnPolicy" if is_image_space(space) else "MlpPolicy")
        self.features_extractor_cfg = features_extractor
        self.algo = PPO(policy_class, env, learning_rate=_schedule(learning_rate, lr_schedule), n_steps=n_steps,
                        batch_size=batch_size, n_epochs=n_epochs, gamma=gamma, gae_lambda=gae_lambda,
                        clip_range=_schedule(clip_range, clip_range_schedule), clip_range_vf=clip_range_vf,
                        normalize_advantage=normalize_advantage, ent_coef=ent_coef, vf_coef=vf_coef,
                        max_grad_norm=max_grad_norm, use_sde=use_sde, sde_sample_freq=sde_sample_freq,
                        target_kl=target_kl, stats_window_size=stats_window_size, policy_kwargs=policy_kwargs,
                        verbose=0, seed=seed, device=device)
        self.algo.set_logger(Logger(folder=None, output_formats=[]))  # read by train_values(), logged by callbacks

    # --- what the RL loop and callers read -------------------------------------------------------------------------
    @property
    def module(self) -> torch.nn.Module:
        """The torch policy (features extractor, MLP, action and value heads)."""
        return self.algo.policy

    @property
    def num_timesteps(self) -> int:
        """Env steps taken so far, summed over the vectorised envs."""
        return int(self.algo.num_timesteps)

    @property
    def rollout_steps(self) -> int:
        """Env steps per rollout (n_steps * n_envs)."""
        return int(self.algo.n_steps * self.algo.env.num_envs)

    def learn(self, total_timesteps: int, callback: BaseCallback | None = None) -> None:
        """Train until ``total_timesteps`` env steps in all (counting those already taken, e.g. after a resume).

        One call of SB3's public ``PPO.learn(..., reset_num_timesteps=False)``: the step count carries on, and envs
        are reset only when no rollout state is set (a fresh agent; see :meth:`load_rollout_state`). SB3 callbacks
        see every env step, rollout and the end of training; one whose ``_on_step`` returns False stops it.
        """
        self.algo.learn(max(0, total_timesteps - self.num_timesteps), callback=callback, reset_num_timesteps=False)

    def train_values(self) -> dict[str, float]:
        """SB3's train/* values of the newest PPO update (losses, KL, clip fraction, n_updates); {} before one.

        PPO.train() records them in the SB3 logger, whose public ``name_to_value`` holds them until its next dump
        (in learn(), right before the next update); the agent's logger has no output formats, so nothing is written.
        """
        return {k: float(v) for k, v in self.algo.logger.name_to_value.items() if k.startswith("train/")}

    def predict(self, observation: np.ndarray | dict, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        """SB3's ``predict``: (actions (B,) or (B, A), state) for a batch of B (stacked) observations."""
        return self.algo.predict(observation, state=state, episode_start=episode_start, deterministic=deterministic)

    def rollout_state(self) -> dict:
        """What the next rollout continues from: the last observations (B, ...) (or a dict of them) and which envs
        start a new episode (B,). SB3 keeps both in private attributes (``_last_obs``, ``_last_episode_starts``)
        and no public API reads or sets them; without them a resumed run would have to reset every env."""
        obs = self.algo._last_obs
        saved = (dict(dict={k: _in_memory_order(v) for k, v in obs.items()}) if isinstance(obs, dict)
                 else dict(array=_in_memory_order(obs)))
        return dict(last_obs=saved, last_episode_starts=np.array(self.algo._last_episode_starts, dtype=bool))

    def load_rollout_state(self, state: Mapping) -> None:
        """Continue the next rollout from :meth:`rollout_state` output; :meth:`learn` then resets no env."""
        obs = state["last_obs"]
        self.algo._last_obs = (_from_memory_order(obs["array"]) if "array" in obs
                               else {k: _from_memory_order(v) for k, v in obs["dict"].items()})
        self.algo._last_episode_starts = np.array(state["last_episode_starts"], dtype=bool)

    # --- checkpoint payload: plain tensors and numbers, loadable with torch.load(weights_only=True) -------------
    def frozen_encoder_ref(self) -> dict | None:
        """{"checkpoint", "sha256", "prefixes"} of a frozen encoder loaded from a file, or None."""
        policy = self.algo.policy
        if not isinstance(policy, EncoderActorCriticPolicy):
            return None
        extractor = policy.features_extractor
        if not (extractor.frozen and extractor.encoder_checkpoint and extractor.encoder_sha256):
            return None  # a frozen encoder without a file (random features) is saved with the policy
        return dict(checkpoint=str(extractor.encoder_checkpoint), sha256=extractor.encoder_sha256,
                    prefixes=policy.frozen_prefixes())

    def state_dict(self) -> dict:
        """Weights (without a frozen encoder's), optimizer state and step counters."""
        ref = self.frozen_encoder_ref()
        weights = self.algo.policy.state_dict()
        if ref is not None:
            weights = {k: v for k, v in weights.items() if not k.startswith(tuple(ref["prefixes"]))}
        return dict(format=CHECKPOINT_FORMAT, policy=weights, optimizer=self.algo.policy.optimizer.state_dict(),
                    # SB3 has no public getter or setter for these two counters (its own save() pickles the object)
                    num_timesteps=int(self.algo.num_timesteps), n_updates=int(self.algo._n_updates),
                    episode_num=int(self.algo._episode_num), frozen_encoder=ref)

    def load_state_dict(self, state: Mapping, path: str = "checkpoint", weights_only: bool = False) -> None:
        """Restore :meth:`state_dict` output; a frozen encoder must match the referenced file's hash."""
        if state.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path}: not an AEGIS PPO checkpoint (format {state.get('format')!r}, expected "
                                  f"{CHECKPOINT_FORMAT!r}).")
        ref, mine = state.get("frozen_encoder"), self.frozen_encoder_ref()
        if ref is not None:
            if mine is None:
                raise CheckpointError(f"{path} was trained with a frozen encoder from {ref['checkpoint']} (not stored "
                                      "in the checkpoint), but the policy config builds no frozen encoder from a file.")
            if mine["sha256"] != ref["sha256"]:
                raise CheckpointError(
                    f"{path} references frozen encoder {ref['checkpoint']} with sha256 {ref['sha256'][:12]}..., but "
                    f"{mine['checkpoint']} now has sha256 {mine['sha256'][:12]}...: the encoder file changed since "
                    "training. Restore that file, or point policy.features_extractor.checkpoint to it.")
        result = self.algo.policy.load_state_dict(state["policy"], strict=False)
        allowed = tuple(ref["prefixes"]) if ref is not None else ()
        missing = [k for k in result.missing_keys if not k.startswith(allowed)]
        if missing or result.unexpected_keys:
            raise CheckpointError(f"{path}: policy weights do not fit the configured policy; missing "
                                  f"{missing[:5]}, unexpected {result.unexpected_keys[:5]}.")
        if weights_only:
            return
        self.algo.policy.optimizer.load_state_dict(state["optimizer"])
        self.algo.num_timesteps = int(state["num_timesteps"])
        self.algo._n_updates = int(state["n_updates"])  # private in SB3, no setter (see state_dict)
        self.algo._episode_num = int(state["episode_num"])

