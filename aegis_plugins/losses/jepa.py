"""Loss terms of JEPA pretraining: latent reconstruction and the temporal causality penalty.

Reconstruction follows V-JEPA (Bardes et al., "Revisiting Feature Prediction for Learning Visual Representations
from Video", 2024): an L1 (or L2) regression of the predictor's outputs onto layer-normalised target-encoder
features at the masked positions. The causality term is the training guide's "physics-aware temporal causality
loss": the norm of the second temporal difference (the acceleration) of the predicted latent trajectory. Unlike the
original scaffold, which differenced consecutive entries of the token sequence (mixing space and time), the
predictions are scattered back onto their (T', H', W') grid and differenced along T' only, where the three time
steps of a tube position were all predicted.

Every term takes ``(pred (B, K, D), target (B, K, D), target_idx (B, K), grid_size (T', H', W'))`` and returns a
weighted scalar; ``loss_name`` (which must contain "loss") is the key it is logged under as ``train/<loss_name>``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from aegis.contracts import check_loss_name
from aegis.errors import ConfigError

__all__ = ["LatentReconstructionLoss", "TemporalCausalityLoss"]


class LatentReconstructionLoss(nn.Module):
    """``loss_weight * mean(|pred - target|^p) / p`` over (B, K, D), with p = 1 for ``"l1"``, 2 for ``"l2"``.

    ``pred`` and ``target`` are (B, K, D) latents at the K masked tokens (V-JEPA's ``loss_exp``; L1 is its choice).
    """

    def __init__(self, norm: str = "l1", loss_weight: float = 1.0,
                 loss_name: str = "reconstruction_loss") -> None:
        super().__init__()
        if norm not in ("l1", "l2"):
            raise ConfigError(f"LatentReconstructionLoss.norm={norm!r}: expected 'l1' (V-JEPA's choice) or 'l2'.")
        self.norm, self.loss_weight = norm, float(loss_weight)
        self.loss_name = check_loss_name("LatentReconstructionLoss", loss_name)

    def forward(self, pred: Tensor, target: Tensor, target_idx: Tensor | None = None,
                grid_size: tuple[int, int, int] | None = None) -> Tensor:
        if pred.shape != target.shape:
            raise ConfigError(f"LatentReconstructionLoss: prediction {tuple(pred.shape)} and target "
                              f"{tuple(target.shape)} differ; both must be (B, K, D).")
        diff = (pred - target).abs()
        loss = diff.mean() if self.norm == "l1" else diff.pow(2).mean() / 2
        return self.loss_weight * loss


class TemporalCausalityLoss(nn.Module):
    """``loss_weight`` times the mean norm of the acceleration of predicted latents along time.

    The predictions (B, K, D) are placed on the token grid (B, T', H'*W', D) by ``target_idx``; the acceleration
    ``z[t+1] - 2 z[t] + z[t-1]`` is taken along T' only, at the (t, h, w) whose three time steps were all predicted
    (tube masks shared across time make every masked position count). Its L2 norm over D is averaged over those
    positions; with ``normalize=True`` the norm is divided by sqrt(D) (an RMS), so the weight means the same at
    every width. Zero (with a gradient path) when T' < 3 or no position qualifies.
    """

    def __init__(self, loss_weight: float = 0.1, normalize: bool = True,
                 loss_name: str = "causality_loss") -> None:
        super().__init__()
        self.loss_weight, self.normalize = float(loss_weight), bool(normalize)
        self.loss_name = check_loss_name("TemporalCausalityLoss", loss_name)

    def forward(self, pred: Tensor, target: Tensor | None = None, target_idx: Tensor | None = None,
                grid_size: tuple[int, int, int] | None = None) -> Tensor:
        if target_idx is None or grid_size is None:
            raise ConfigError("TemporalCausalityLoss needs target_idx (B, K) and grid_size (T', H', W') to place "
                              "predictions on their grid; JEPAPretrainer passes both.")
        batch, tokens, dim = pred.shape
        t_grid, h_grid, w_grid = (int(v) for v in grid_size)
        if target_idx.shape != (batch, tokens):
            raise ConfigError(f"TemporalCausalityLoss: target_idx {tuple(target_idx.shape)} does not match the "
                              f"predictions {tuple(pred.shape)}; expected ({batch}, {tokens}).")
        if t_grid < 3:
            return pred.sum() * 0.0
        spatial = h_grid * w_grid
        index = target_idx[..., None].expand(batch, tokens, dim)  # (B, K, D)
        grid = pred.new_zeros(batch, t_grid * spatial, dim).scatter(1, index, pred)  # (B, N, D)
        grid = grid.view(batch, t_grid, spatial, dim)  # (B, T', H'W', D)
        seen = torch.zeros(batch, t_grid * spatial, dtype=torch.bool, device=pred.device)
        seen = seen.scatter(1, target_idx, True).view(batch, t_grid, spatial)  # (B, T', H'W')
        valid = seen[:, 2:] & seen[:, 1:-1] & seen[:, :-2]  # (B, T'-2, H'W')
        if not bool(valid.any()):
            return pred.sum() * 0.0
        accel = grid[:, 2:] - 2.0 * grid[:, 1:-1] + grid[:, :-2]  # (B, T'-2, H'W', D)
        norms = torch.linalg.vector_norm(accel[valid], dim=-1)  # (M,)
        if self.normalize:
            norms = norms / dim ** 0.5
        return self.loss_weight * norms.mean()
