"""Surprise: how badly a V-JEPA model predicted what happened next, followed along a video.

Garrido et al., "Intuitive physics understanding emerges from self-supervised pretraining on natural videos" (2025;
facebookresearch/jepa-intuitive-physics): a window of past frames is the context, the predictor predicts the latents
of the frames that follow (the future mask: every token of the last time steps), and the surprise is the distance
between that prediction and the target encoder's features of what actually came. Sliding the window along the
video gives a surprise curve; a physically impossible event makes it jump where a possible one does not.

Windows: the model's clip length ``F = T' * tubelet`` frames (its encoder's ``num_frames``), starting every
``stride`` frames; in each, the first ``T' - future_steps`` time steps are the context and the last
``future_steps`` the prediction. The surprise of a window is the mean absolute difference (V-JEPA's L1) between
predicted and layer-normalised target latents over the predicted tokens and channels; it is reported at the
window's first predicted frame, ``start + F - future_steps * tubelet``.

The pixel control (:func:`pixel_surprise`) scores the same windows by extrapolating pixels linearly from the last
two context frames: the error a model without any learned representation makes.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from aegis.errors import CheckpointError, ConfigError, DataError

__all__ = ["window_starts", "predicted_frames", "latent_surprise", "pixel_surprise", "clip_scores",
           "load_pretrainer", "future_mask_index"]


def _window_geometry(model) -> tuple[int, int]:
    """(frames per window F, tubelet) of a JEPAPretrainer-like model (encoder with grid_size and tubelet_size)."""
    grid = getattr(model.encoder, "grid_size", None)
    tubelet = int(getattr(model.encoder, "tubelet_size", 1))
    if grid is None:
        raise ConfigError(f"surprise: the encoder {type(model.encoder).__name__} has no fixed token grid "
                          "(grid_size=None); surprise needs the (T', H', W') grid the predictor was trained on.")
    return int(grid[0]) * tubelet, tubelet


def window_starts(num_frames: int, window: int, stride: int = 1) -> list[int]:
    """The first frame of every ``window``-frame window of a ``num_frames`` video, every ``stride`` frames."""
    if stride < 1:
        raise ConfigError(f"surprise stride={stride}: expected an int >= 1 (frames between windows).")
    if num_frames < window:
        raise DataError(f"surprise: the video has {num_frames} frames, fewer than the model's window of {window} "
                        "frames; use a longer video (or a model trained on shorter clips).")
    return list(range(0, num_frames - window + 1, stride))


def predicted_frames(model, num_frames: int, future_steps: int = 1, stride: int = 1) -> list[int]:
    """The frame each surprise value is reported at: every window's first predicted frame."""
    window, tubelet = _window_geometry(model)
    return [start + window - future_steps * tubelet for start in window_starts(num_frames, window, stride)]


def future_mask_index(model) -> int:
    """The mask-token index the predictor learned future prediction with: the model's ``FutureMaskGenerator``
    group when it has one, else 0 (the predictor then extrapolates with its first group's mask token)."""
    from aegis_plugins.masks.future import FutureMaskGenerator

    for index, generator in enumerate(getattr(model, "mask_generators", ())):
        if isinstance(generator, FutureMaskGenerator):
            return index
    return 0


def _future_indices(grid: Sequence[int], future_steps: int, batch: int, device) -> tuple[Tensor, Tensor]:
    """Context (B, Kc) = tokens of the first T' - future_steps time steps; target (B, Kt) = the rest."""
    t, h, w = (int(v) for v in grid)
    if not 1 <= future_steps < t:
        raise ConfigError(f"surprise future_steps={future_steps}: the model's grid has T'={t} time steps; "
                          f"expected 1 <= future_steps <= {t - 1}.")
    split = (t - future_steps) * h * w
    tokens = torch.arange(t * h * w, device=device)
    return tokens[:split].expand(batch, -1), tokens[split:].expand(batch, -1)


@torch.no_grad()
def latent_surprise(model, video: Tensor, future_steps: int = 1, stride: int = 1, mask_index: int | None = None,
                    max_windows_per_batch: int = 64) -> Tensor:
    """Surprise curves (B, W) of videos (B, C, T, H, W) under a JEPAPretrainer-like ``model``.

    ``model`` has ``encoder`` (the context encoder), ``target_encoder`` and ``predictor`` as in training; W is the
    number of windows (:func:`window_starts`). Windows are scored in batches of ``max_windows_per_batch`` clips.
    """
    if video.ndim != 5:
        raise DataError(f"surprise: expected videos (B, C, T, H, W), got shape {tuple(video.shape)}.")
    window, _ = _window_geometry(model)
    starts = window_starts(video.shape[2], window, stride)
    grid = tuple(model.encoder.grid_size)
    mask_index = future_mask_index(model) if mask_index is None else mask_index
    clips = torch.stack([video[:, :, s:s + window] for s in starts], dim=1)  # (B, W, C, F, H, W)
    flat = clips.flatten(0, 1).float()  # (B*W, C, F, H, W)
    scores = []
    for chunk in flat.split(max_windows_per_batch):
        context_idx, target_idx = _future_indices(grid, future_steps, chunk.shape[0], chunk.device)
        target = model.target_encoder(chunk).float()  # (n, N, D)
        target = F.layer_norm(target, (target.shape[-1],))
        target = torch.gather(target, 1, target_idx[..., None].expand(-1, -1, target.shape[-1]))  # (n, Kt, D)
        context = model.encoder(chunk, context_idx)  # (n, Kc, D)
        pred = model.predictor(context, context_idx, target_idx, mask_index=mask_index).float()  # (n, Kt, D)
        scores.append((pred - target).abs().mean(dim=(1, 2)))  # (n,)
    return torch.cat(scores).view(video.shape[0], len(starts))  # (B, W)


def pixel_surprise(video: Tensor, window: int, future_frames: int, stride: int = 1) -> Tensor:
    """The pixel-space control (B, W): per window, the last ``future_frames`` frames predicted by extending the
    last two context frames linearly (f[c-1] + k (f[c-1] - f[c-2]), clamped to the pixel range seen), scored by
    the mean absolute error. Same windows and reporting frames as :func:`latent_surprise` when ``window`` and
    ``future_frames = future_steps * tubelet`` match the model's."""
    if video.ndim != 5:
        raise DataError(f"pixel surprise: expected videos (B, C, T, H, W), got shape {tuple(video.shape)}.")
    if not 1 <= future_frames <= window - 2:
        raise ConfigError(f"pixel surprise: future_frames={future_frames} must leave >= 2 context frames in a "
                          f"window of {window}.")
    low, high = video.min(), video.max()
    scores = []
    for start in window_starts(video.shape[2], window, stride):
        clip = video[:, :, start:start + window].float()  # (B, C, F, H, W)
        context_end = window - future_frames
        last, before = clip[:, :, context_end - 1], clip[:, :, context_end - 2]  # (B, C, H, W)
        steps = torch.arange(1, future_frames + 1, dtype=clip.dtype, device=clip.device).view(1, 1, -1, 1, 1)
        pred = (last.unsqueeze(2) + steps * (last - before).unsqueeze(2)).clamp(low, high)  # (B, C, k, H, W)
        scores.append((pred - clip[:, :, context_end:]).abs().mean(dim=(1, 2, 3, 4)))  # (B,)
    return torch.stack(scores, dim=1)  # (B, W)


def clip_scores(curves: Tensor) -> dict[str, Tensor]:
    """One score per video from its curve (B, W): ``max`` (the most surprising moment) and ``mean``."""
    return dict(max=curves.max(dim=1).values, mean=curves.mean(dim=1))


def load_pretrainer(experiment: str, checkpoint: str | None = None, cfg_options: Mapping | None = None):
    """Build the experiment's ``JEPAPretrainer`` in eval mode and load ``checkpoint`` (a .pth file or a work dir;
    default: the experiment's work dir). ``checkpoint="random"`` keeps the random init (the control).
    Returns ``(model, cfg)``."""
    from aegis import plugins
    from aegis.build import build_component
    from aegis.config import load_experiment
    from aegis.engine.checkpoint import check_state_dict_shapes, resolve_checkpoint, safe_load
    from aegis.registry import MODELS

    plugins.load()
    cfg = load_experiment(experiment, cfg_options=dict(cfg_options) if cfg_options else None)
    model = build_component(cfg.model, MODELS, "model")
    for member in ("encoder", "target_encoder", "predictor"):
        if not hasattr(model, member):
            raise ConfigError(f"{experiment}: model {type(model).__name__} has no {member}; surprise needs a V-JEPA "
                              "pretrainer (JEPAPretrainer: encoder, EMA target encoder, predictor).")
    if checkpoint != "random":
        path = resolve_checkpoint(checkpoint or cfg.work_dir, "--checkpoint")
        state = safe_load(path)
        check_state_dict_shapes(model, state, path)
        weights = state.get("state_dict", state)
        missing, _ = model.load_state_dict(weights, strict=False)
        needed = [k for k in missing if k.split(".")[0] in ("encoder", "target_encoder", "predictor")]
        if needed:
            raise CheckpointError(f"checkpoint {path!r} lacks {len(needed)} weight(s) of the encoder, target "
                                  f"encoder or predictor (first: {needed[0]}); surprise needs a full V-JEPA "
                                  "pretraining checkpoint, not an encoder-only export.")
    return model.eval(), cfg
