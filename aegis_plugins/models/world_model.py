"""An action-conditioned latent world model over a frozen video encoder, after V-JEPA 2-AC.

Assran et al., "V-JEPA 2: Self-Supervised Video Models Enable Understanding, Prediction and Planning" (2025;
facebookresearch/vjepa2, ``app/vjepa_droid``): the pretrained encoder stays frozen; a predictor learns, from the
agent's own recorded video and actions, to map the (layer-normalised) latent of the current observation and an
action to the latent of the next one. It trains on a teacher-forced L1 loss (every step predicted from the true
latent) plus a rollout L1 loss (the predictor fed its own predictions), so that the multi-step rollouts a planner
makes stay close to the real latents. :mod:`aegis_plugins.policies.planner` plans with it.
"""
from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from aegis.annotations import Component
from aegis.contracts import VideoEncoder
from aegis.errors import ConfigError, DataError

__all__ = ["ActionConditionedPredictor", "rollout_errors"]


class ActionConditionedPredictor(BaseModel):
    """Predict the next observation's latent from the current latent and a discrete action.

    Observations are stacked uint8 frames (B, T, H, W, C), T = ``frame_stack``, as the env and SB3's VecFrameStack
    give them. :meth:`encode` turns them into latents (B, N, D): the frozen ``encoder``'s tokens (through
    :class:`~aegis_plugins.policies.extractors.EncoderFeaturesExtractor`, the RL phase's one build path: resized to
    ``resize`` pixels, normalised with ``frame_mean``/``frame_std``), layer-normalised as V-JEPA's targets are.
    :meth:`step` maps latents (B, N, D) and actions (B,) to the next latents (B, N, D): the tokens are projected to
    ``width``, get a learned position embedding and the action's embedding added (one action token also joins them),
    and ``depth`` pre-norm transformer layers attend over them; the output is added to the input latents (the
    predictor learns the change).

    ``forward(inputs (B, T + k, H, W, C) uint8, actions (B, k), mode="loss")`` (windows of
    :class:`~aegis_plugins.data.env_transitions.EnvTransitionDataset`) returns ``loss_teacher_forcing`` (L1 of the k
    one-step predictions from the true latents) and ``loss_rollout`` (L1 of the predictor's own rollout from the
    first latent, over its steps 2..k; zero when k = 1). ``mode="predict"`` returns, per window, the rollout's L1
    error at each step and the copy-the-last-latent baseline's (:func:`rollout_errors`).
    """

    def __init__(self, encoder: Component[VideoEncoder], frame_stack: int = 2, obs_size: int = 64,
                 channels: int = 3, resize: int | None = None, frame_mean: Sequence[float] | None = None,
                 frame_std: Sequence[float] | None = None, num_actions: int = 4, width: int = 128, depth: int = 2,
                 num_heads: int = 4, teacher_forcing_weight: float = 1.0, rollout_weight: float = 1.0,
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None) -> None:
        from aegis_plugins.policies.extractors import EncoderFeaturesExtractor

        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if width % num_heads:
            raise ConfigError(f"model.width={width} is not divisible by model.num_heads={num_heads}.")
        if num_actions < 1 or frame_stack < 1:
            raise ConfigError(f"model: num_actions={num_actions} and frame_stack={frame_stack} must be >= 1.")
        space = gym.spaces.Box(0, 255, (frame_stack, obs_size, obs_size, channels), dtype=np.uint8)  # (T, H, W, C)
        self.latents = EncoderFeaturesExtractor(space, encoder, features_dim=None, channels=channels, resize=resize,
                                                mean=frame_mean, std=frame_std, tokens="flatten", path="model")
        if not self.latents.frozen:
            raise ConfigError("model.encoder.frozen=False: the world model predicts the latents of a frozen encoder "
                              "(V-JEPA 2-AC); set model.encoder.frozen=True.")
        self.frame_stack, self.num_actions = int(frame_stack), int(num_actions)
        self.obs_shape = (int(obs_size), int(obs_size), int(channels))
        self.embed_dim = int(self.latents.encoder.embed_dim)
        with torch.no_grad():
            probe = self.encode(torch.zeros(1, *space.shape, dtype=torch.uint8))
        self.num_tokens = probe.shape[1]
        self.teacher_forcing_weight, self.rollout_weight = float(teacher_forcing_weight), float(rollout_weight)
        self.proj_in = nn.Linear(self.embed_dim, width)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_tokens + 1, width))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.action_embed = nn.Embedding(num_actions, width)
        layer = nn.TransformerEncoderLayer(width, num_heads, dim_feedforward=4 * width, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.proj_out = nn.Linear(width, self.embed_dim)
        nn.init.zeros_(self.proj_out.weight)  # starts as the copy-the-last-latent baseline
        nn.init.zeros_(self.proj_out.bias)

    # -- latents ----------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, frames: Tensor) -> Tensor:
        """Stacked uint8 frames (B, T, H, W, C) -> layer-normalised frozen-encoder tokens (B, N, D)."""
        if frames.dim() != 5 or frames.shape[1] != self.frame_stack:
            raise DataError(f"ActionConditionedPredictor.encode: frames of shape {tuple(frames.shape)}; expected "
                            f"(B, {self.frame_stack}, H, W, C) uint8 stacked observations.")
        tokens = self.latents(frames).view(frames.shape[0], -1, self.embed_dim)  # (B, N, D)
        return F.layer_norm(tokens.float(), (self.embed_dim,))

    def encode_windows(self, inputs: Tensor, steps: int) -> Tensor:
        """Windows (B, T + k, H, W, C) -> the latents of their k + 1 stacked observations (B, k + 1, N, D)."""
        t = self.frame_stack
        if inputs.dim() != 5 or inputs.shape[1] != t + steps:
            raise DataError(f"ActionConditionedPredictor: inputs of shape {tuple(inputs.shape)} do not hold {steps} "
                            f"steps of {t}-frame observations; expected (B, {t + steps}, H, W, C).")
        clips = torch.stack([inputs[:, j:j + t] for j in range(steps + 1)], dim=1)  # (B, k + 1, T, H, W, C)
        return self.encode(clips.flatten(0, 1)).unflatten(0, (inputs.shape[0], steps + 1))  # (B, k + 1, N, D)

    # -- dynamics ---------------------------------------------------------------------------------------------------
    def step(self, latents: Tensor, actions: Tensor) -> Tensor:
        """Latents (B, N, D) and actions (B,) int -> predicted next latents (B, N, D)."""
        action = self.action_embed(actions.long())[:, None]  # (B, 1, W)
        x = self.proj_in(latents) + action  # (B, N, W): every token is told the action
        x = torch.cat([action, x], dim=1) + self.pos_embed  # (B, 1 + N, W)
        x = self.norm(self.blocks(x))[:, 1:]  # (B, N, W)
        return latents + self.proj_out(x)  # (B, N, D)

    def rollout(self, latents: Tensor, actions: Tensor) -> Tensor:
        """Feed the predictor its own predictions: latents (B, N, D) and action sequences (B, k) -> (B, k, N, D)."""
        out = []
        for j in range(actions.shape[1]):
            latents = self.step(latents, actions[:, j])
            out.append(latents)
        return torch.stack(out, dim=1)  # (B, k, N, D)

    # -- training ---------------------------------------------------------------------------------------------------
    def forward(self, inputs: Tensor, actions: Tensor | None = None, data_samples: list | None = None,
                mode: str = "tensor"):
        if mode == "tensor":
            return self.encode(inputs)  # (B, N, D) of stacked observations (B, T, H, W, C)
        if actions is None or actions.dim() != 2:
            raise DataError("ActionConditionedPredictor: mode='loss'/'predict' needs actions (B, k) beside the "
                            "windows (B, T + k, H, W, C) (EnvTransitionDataset items).")
        if mode == "loss":
            return self.loss(inputs, actions)
        if mode == "predict":
            errors = rollout_errors(self, inputs, actions)
            return [dict(rollout_l1=m, copy_l1=c) for m, c in zip(errors["model"], errors["copy"])]
        raise ConfigError(f"ActionConditionedPredictor.forward: mode={mode!r}; expected 'loss', 'tensor' or "
                          "'predict'.")

    def loss(self, inputs: Tensor, actions: Tensor) -> dict[str, Tensor]:
        """{loss_teacher_forcing, loss_rollout}: weighted L1 terms over the windows' k steps."""
        steps = actions.shape[1]
        latents = self.encode_windows(inputs, steps)  # (B, k + 1, N, D)
        b = latents.shape[0]
        one_step = self.step(latents[:, :-1].flatten(0, 1), actions.flatten()).unflatten(0, (b, steps))  # (B,k,N,D)
        terms = dict(loss_teacher_forcing=self.teacher_forcing_weight * F.l1_loss(one_step, latents[:, 1:]))
        if steps > 1 and self.rollout_weight > 0:
            rolled = self.rollout(latents[:, 0], actions)  # (B, k, N, D)
            terms["loss_rollout"] = self.rollout_weight * F.l1_loss(rolled[:, 1:], latents[:, 2:])
        else:
            terms["loss_rollout"] = latents.new_zeros(())
        return terms


@torch.no_grad()
def rollout_errors(model: ActionConditionedPredictor, inputs: Tensor, actions: Tensor) -> dict[str, Tensor]:
    """Per-window, per-step L1 errors (B, k) of ``model``'s rollout from the first latent of windows (B, T + k, H,
    W, C) under their actions (B, k) (``"model"``) and of the baseline that copies the first latent (``"copy"``):
    column j is the error j + 1 steps ahead."""
    steps = actions.shape[1]
    latents = model.encode_windows(inputs, steps)  # (B, k + 1, N, D)
    rolled = model.rollout(latents[:, 0], actions)  # (B, k, N, D)
    target = latents[:, 1:]  # (B, k, N, D)
    return dict(model=(rolled - target).abs().mean(dim=(2, 3)),
                copy=(latents[:, :1] - target).abs().mean(dim=(2, 3)))  # (B, k) each
