"""SB3 feature extractors over AEGIS encoders: stacked env frames become a video clip (B, C, T, H, W).

The encoder can be any registered video encoder (a small CNN, or a frozen V-JEPA ViT; Bardes et al., "Revisiting
Feature Prediction for Learning Visual Representations from Video", 2024). A frozen encoder stays exactly as loaded:
it is kept in eval mode, runs without gradients, and is excluded from the policy's orthogonal re-initialisation (see
:mod:`aegis_plugins.policies.ppo`).
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn
from torch.nn import functional as F

from aegis.annotations import Component
from aegis.contracts import VideoEncoder
from aegis.engine.checkpoint import file_sha256, resolve_checkpoint
from aegis.errors import ConfigError

__all__ = ["EncoderFeaturesExtractor", "TokenGridConv"]


def _image_layout(shape: Sequence[int], channels: int, path: str) -> tuple[str, int]:
    """('CTHW-stacked' | 'THWC' | ..., T) for an image observation shape; see EncoderFeaturesExtractor."""
    if len(shape) == 3:
        if shape[0] % channels == 0 and shape[0] <= shape[-1]:  # (T*C, H, W): SB3 transposed a channel-last stack
            return "first", shape[0] // channels
        if shape[-1] % channels == 0:  # (H, W, T*C): channel-last stack left as is
            return "last", shape[-1] // channels
    if len(shape) == 4 and shape[-1] == channels:  # (T, H, W, C) clip from the env itself
        return "clip", shape[0]
    raise ConfigError(f"{path}: cannot read observation shape {tuple(shape)} as stacked frames with {channels} "
                      "channels; expected (T*C, H, W), (H, W, T*C) or (T, H, W, C).")


class TokenGridConv(nn.Module):
    """A trainable 3x3 convolution (+ ReLU) over an encoder's token grid: tokens (B, N, C) on the grid (T', H', W')
    (N = T'·H'·W') -> (B, channels, H', W'), the T' time steps of each place stacked as input channels. The same
    weights at every place, as a CNN's second layer: what lets a policy learn "fire next to me" once for the whole map.
    """

    def __init__(self, in_dim: int, channels: int, grid: tuple[int, int, int]) -> None:
        super().__init__()
        self.grid = tuple(int(g) for g in grid)
        self.conv = nn.Conv2d(self.grid[0] * in_dim, channels, kernel_size=3, padding=1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t, h, w = self.grid
        b, _, c = tokens.shape
        grid = tokens.reshape(b, t, h, w, c).permute(0, 1, 4, 2, 3).reshape(b, t * c, h, w)  # (B, T'·C, H', W')
        return F.relu(self.conv(grid))  # (B, channels, H', W')


_MAX_CACHED_BYTES = 512 * 2**20  # frozen features one extractor keeps at most; beyond, the cache starts over


class EncoderFeaturesExtractor(BaseFeaturesExtractor):
    """Run an AEGIS video encoder on stacked frames and return one feature vector per env.

    Observations are uint8 frames stacked along channels, (B, T*C, H, W) after SB3's image transpose (or (B, H, W,
    T*C), or a (B, T, H, W, C) clip). SB3 has already scaled them to [0, 1]; they are reshaped to (B, C, T, H, W),
    optionally resized to ``resize`` pixels and normalised with ``mean``/``std``, and encoded. Tokens (B, N, D) are
    averaged to (B, D) (``tokens="mean"``) or concatenated to (B, N * D) (``"flatten"``, which keeps where things
    are; the encoder is then asked for tokens), then an optional trainable head maps them to (B, features_dim).
    With ``token_dim`` a trainable per-token map (Linear D -> token_dim + ReLU, shared by all tokens, like a 1x1
    convolution over the token grid) comes before the concatenation: (B, N, D) -> (B, N * token_dim). On a frozen
    encoder this is what lets a policy read *where* things are cheaply (docs/rl.md, "Frozen V-JEPA features").
    With ``token_conv`` a trainable 3x3 convolution over the token grid (:class:`TokenGridConv`) follows it.
    A frozen encoder runs once per observation of a rollout (``feature_cache``, on by default): SB3 encodes the
    envs' observations as it steps them (one batched, no-grad call for all envs) and recomputes the features of
    every minibatch in each PPO epoch; here those come from a cache keyed by the observation's bytes, emptied when
    the next rollout starts. A frozen encoder is a fixed function, so only float rounding can differ (features are
    computed in batches of n_envs instead of minibatches).
    For a Dict observation space, ``image_key`` names the frames; the other Box entries are
    flattened and concatenated after the head. An encoder ``checkpoint`` may name a run's work dir: the file its
    ``last_checkpoint`` marker names is loaded. ``observation_space`` is injected by SB3.
    """

    def __init__(self, observation_space: gym.Space, encoder: Component[VideoEncoder], features_dim: int | None = 256,
                 channels: int = 3, resize: int | None = None, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, image_key: str | None = None,
                 tokens: Literal["mean", "flatten"] = "mean", token_dim: int | None = None,
                 token_conv: int | None = None, feature_cache: bool = True,
                 path: str = "policy.features_extractor") -> None:
        from aegis.build import build_component

        image_space = observation_space
        self._extra_keys: list[str] = []
        extra_dim = 0
        if isinstance(observation_space, gym.spaces.Dict):
            if image_key is None or image_key not in observation_space.spaces:
                raise ConfigError(f"{path}.image_key={image_key!r}: the observation space is a Dict with keys "
                                  f"{sorted(observation_space.spaces)}; set image_key to the frames' key.")
            image_space = observation_space.spaces[image_key]
            for key, space in observation_space.spaces.items():
                if key != image_key:
                    self._extra_keys.append(key)
                    extra_dim += int(np.prod(space.shape))
        if not isinstance(image_space, gym.spaces.Box):
            raise ConfigError(f"{path}: frames must be a Box space, got {image_space}.")
        layout, frames = _image_layout(image_space.shape, channels, path)
        super().__init__(observation_space, features_dim=1)  # the real size is set below, once known
        self._layout, self._frames, self._channels = layout, frames, channels
        self._image_key = image_key
        self._resize = resize
        self._scale_uint8 = layout == "clip" and image_space.dtype == np.uint8  # SB3 only rescales 3-D images
        self.register_buffer("pixel_mean", torch.tensor(mean or [0.0] * channels).view(1, channels, 1, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(std or [1.0] * channels).view(1, channels, 1, 1, 1),
                             persistent=False)

        if tokens not in ("mean", "flatten"):
            raise ConfigError(f"{path}.tokens={tokens!r}: expected 'mean' (average the encoder's tokens) or "
                              "'flatten' (keep their layout: concatenate them).")
        if token_dim is not None and (tokens != "flatten" or token_dim < 1):
            raise ConfigError(f"{path}.token_dim={token_dim!r}: a per-token projection needs tokens='flatten' "
                              f"(got {tokens!r}) and token_dim >= 1; or set token_dim=None.")
        if token_conv is not None and (tokens != "flatten" or token_conv < 1):
            raise ConfigError(f"{path}.token_conv={token_conv!r}: a convolution over the token grid needs "
                              f"tokens='flatten' (got {tokens!r}) and token_conv >= 1 channels; or token_conv=None.")
        self._tokens = tokens
        encoder_cfg = dict(encoder)
        if isinstance(encoder_cfg.get("checkpoint"), str):  # a phase-1 work dir names its newest checkpoint file
            encoder_cfg["checkpoint"] = resolve_checkpoint(encoder_cfg["checkpoint"], f"{path}.encoder.checkpoint")
        size = resize or image_space.shape[-2 if layout != "last" else 1]
        # sizes the observation space fixes: they reach the encoder when it takes them and the config leaves them out
        self.encoder = build_component(encoder_cfg, VideoEncoder, path=f"{path}.encoder", num_frames=frames,
                                       img_size=size, output="tokens" if tokens == "flatten" else "pooled")
        self.encoder_checkpoint: str | None = encoder_cfg.get("checkpoint")
        params = list(self.encoder.parameters())
        self.frozen = self.encoder.frozen or (bool(params) and not any(
            p.requires_grad for p in params))
        if self.frozen:
            self.encoder.requires_grad_(False)
            self.encoder.eval()
        self._encoder_sha256: str | None = None
        # frozen encoder outputs of this rollout's observations, keyed by the observation's bytes (see forward)
        self._cache: dict[bytes, torch.Tensor] | None = {} if (feature_cache and self.frozen) else None

        with torch.no_grad():
            probe_clip = self._to_clip(torch.zeros(1, *image_space.shape))  # (1, C, T, H, W)
            probe = self._encode(probe_clip)  # (1, D) or (1, N, D)
        self.token_head: nn.Module = nn.Identity()
        if token_dim:  # the same small trainable map on every token, before the tokens are concatenated
            self.token_head = nn.Sequential(nn.Linear(probe.shape[-1], token_dim), nn.ReLU())
            probe = self.token_head(probe)
        self.grid_head: nn.Module = nn.Identity()
        if token_conv:  # a trainable 3x3 convolution over the token grid: relations between neighbouring tokens
            grid = self.encoder.grid_of(tuple(probe_clip.shape))
            if grid is None:
                raise ConfigError(f"{path}.token_conv={token_conv}: the encoder pools its tokens (no token grid); "
                                  "use an encoder that returns tokens, or token_conv=None.")
            self.grid_head = TokenGridConv(probe.shape[-1], token_conv, grid)
            probe = self.grid_head(probe)
        embed_dim = probe.flatten(1).shape[-1]
        if features_dim:
            self.head: nn.Module = nn.Sequential(nn.Linear(embed_dim, features_dim), nn.ReLU())
            out_dim = features_dim
        else:
            self.head = nn.Identity()
            out_dim = embed_dim
        self._features_dim = out_dim + extra_dim

    @property
    def encoder_sha256(self) -> str | None:
        """SHA-256 of the frozen encoder's checkpoint file (computed once), or None when there is none."""
        if self._encoder_sha256 is None and self.encoder_checkpoint and os.path.isfile(self.encoder_checkpoint):
            self._encoder_sha256 = file_sha256(self.encoder_checkpoint)
        return self._encoder_sha256

    def train(self, mode: bool = True) -> EncoderFeaturesExtractor:
        """Switch train/eval mode; a frozen encoder always stays in eval mode (no dropout, no norm-stat updates).

        Switching to eval mode empties the feature cache: SB3 does it when a rollout starts (and at every
        ``predict``), so each rollout starts from an empty cache, in an uninterrupted run as after a resume.
        """
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        if not mode and self._cache:
            self._cache.clear()
        return self

    def _to_clip(self, frames: torch.Tensor) -> torch.Tensor:
        if self._layout == "first":  # (B, T*C, H, W)
            b, _, h, w = frames.shape
            clip = frames.reshape(b, self._frames, self._channels, h, w).transpose(1, 2)  # (B, C, T, H, W)
        elif self._layout == "last":  # (B, H, W, T*C)
            b, h, w, _ = frames.shape
            clip = frames.reshape(b, h, w, self._frames, self._channels).permute(0, 4, 3, 1, 2)  # (B, C, T, H, W)
        else:  # (B, T, H, W, C)
            clip = frames.permute(0, 4, 1, 2, 3)  # (B, C, T, H, W)
            if self._scale_uint8:
                clip = clip / 255.0
        clip = clip.float()
        if self._resize and clip.shape[-1] != self._resize:
            b, c, t, h, w = clip.shape
            flat = clip.transpose(1, 2).reshape(b * t, c, h, w)  # (B*T, C, H, W)
            if h % self._resize == 0 and w % self._resize == 0:  # integer factor: a box filter is exact and cheap
                flat = F.avg_pool2d(flat, kernel_size=(h // self._resize, w // self._resize))
            else:
                flat = F.interpolate(flat, size=(self._resize, self._resize), mode="bilinear", align_corners=False)
            clip = flat.reshape(b, t, c, self._resize, self._resize).transpose(1, 2)  # (B, C, T, H', W')
        return (clip - self.pixel_mean) / self.pixel_std

    def _encode(self, clip: torch.Tensor) -> torch.Tensor:
        if self.frozen:
            with torch.no_grad():
                out = self.encoder(clip)
        else:
            out = self.encoder(clip)
        if isinstance(out, Mapping):
            out = out.get("pooled", next(iter(out.values())))
        if out.dim() == 3 and self._tokens == "mean":
            out = out.mean(dim=1)  # (B, D)
        return out  # (B, D), or the tokens (B, N, D) when they are to be concatenated

    def _encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Encoder outputs (B, D) or (B, N, D) of a batch of stacked frames; a frozen encoder's from the cache when
        the same observation was encoded earlier in this rollout."""
        if self._cache is None:
            return self._encode(self._to_clip(frames))
        rows = frames.detach().cpu().contiguous().numpy().reshape(len(frames), -1)
        keys = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in rows]
        new = {key: i for i, key in reversed(list(enumerate(keys))) if key not in self._cache}  # first occurrence
        if new:
            index = torch.tensor(sorted(new.values()))
            encoded = self._encode(self._to_clip(frames[index]))  # one batched call for every new observation
            entry_bytes = encoded[0].numel() * encoded.element_size()
            if (len(self._cache) + len(new)) * entry_bytes > _MAX_CACHED_BYTES:  # too many for one rollout, or a
                # caller that never switches to eval mode: serve this batch, then start over
                stacked = {keys[i]: out for i, out in zip(index.tolist(), encoded)}
                result = torch.stack([stacked[key] if key in stacked else self._cache[key] for key in keys])
                self._cache.clear()
                return result
            for i, out in zip(index.tolist(), encoded):
                self._cache[keys[i]] = out
        return torch.stack([self._cache[key] for key in keys])

    def forward(self, observations) -> torch.Tensor:
        """(B, ...) frames (or a dict holding them) -> (B, features_dim) features."""
        frames = observations[self._image_key] if self._image_key is not None else observations
        encoded = self.grid_head(self.token_head(self._encode_frames(frames)))  # (B, D), (B, N, D'), (B, C', H', W')
        features = self.head(encoded.flatten(1))  # (B, features_dim)
        if self._extra_keys:
            extras = [observations[k].float().flatten(1) for k in self._extra_keys]
            features = torch.cat([features, *extras], dim=1)  # (B, features_dim + extra)
        return features
