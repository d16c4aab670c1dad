"""Loss terms of JEPA pretraining: latent reconstruction and the temporal causality penalty.

Reconstruction follows V-JEPA (Bardes et al., "Revisiting Feature Prediction for Learning Visual Representations
from Video", 2024): an L1 (or L2) regression of the predictor's outputs onto layer-normalised target-encoder
features at the masked positions. The causality term is the training guide's "physics-aware temporal causality
loss": the norm of the second temporal difference (the acceleration) of the predicted latent trajectory. Unlike the
original scaffold, which differenced consecutive entries of the token sequence (mixing space and time), the
predictions are scattered back onto their (T', H', W') grid and differenced along T' only, where the three time
steps of a tube position were all predicted. Two variants (issue #14) are options of the same term: the third
difference (jerk) instead of the second, and the difference of the predicted from the target latents' trajectory
instead of the predicted trajectory alone (``reference="target"``).

Every term takes ``(pred (B, K, D), target (B, K, D), target_idx (B, K), grid_size (T', H', W'))`` and returns a
weighted scalar; ``loss_name`` (which must contain "loss") is the key it is logged under as ``train/<loss_name>``.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from aegis.contracts import check_loss_name
from aegis.errors import ConfigError

__all__ = ["LatentReconstructionLoss", "TemporalCausalityLoss"]

# signed binomial coefficients of the n-th backward difference, newest time step first: sum_k c_k z[t + n - k]
_DIFFERENCE_COEFFICIENTS = {2: (1.0, -2.0, 1.0), 3: (1.0, -3.0, 3.0, -1.0)}


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
    """``loss_weight`` times the mean norm of a temporal difference of predicted latents (default: the acceleration).

    The predictions (B, K, D) are placed on the token grid (B, T', H'*W', D) by ``target_idx``; their ``order``-th
    difference is taken along T' only: ``order=2`` the acceleration ``z[t+1] - 2 z[t] + z[t-1]``, ``order=3`` the
    jerk ``z[t+2] - 3 z[t+1] + 3 z[t] - z[t-1]`` (constant acceleration is free). Only (t, h, w) whose
    ``order + 1`` consecutive time steps were all predicted count (tube masks shared across time make every masked
    position count). With ``reference="target"`` the same difference is taken of ``pred - target`` instead, i.e.
    the predicted latents' acceleration (or jerk) minus the target latents' at the same positions: the target
    (B, K, D, aligned with ``target_idx``) is detached, so accelerations the target encoder sees are not penalised,
    only wrong ones. The L2 norm over D is averaged over the counted positions; with ``normalize=True`` it is
    divided by sqrt(D) (an RMS), so the weight means the same at every width. Zero (with a gradient path) when
    T' < order + 1 or no position qualifies. The defaults (``order=2, reference="zero"``) are the guide's form.
    """

    def __init__(self, loss_weight: float = 0.1, normalize: bool = True, order: int = 2,
                 reference: Literal["zero", "target"] = "zero", loss_name: str = "causality_loss") -> None:
        super().__init__()
        if order not in _DIFFERENCE_COEFFICIENTS:
            raise ConfigError(f"TemporalCausalityLoss.order={order!r}: expected 2 (acceleration, the guide's form) "
                              "or 3 (jerk: constant acceleration is free).")
        if reference not in ("zero", "target"):
            raise ConfigError(f"TemporalCausalityLoss.reference={reference!r}: expected 'zero' (penalise the "
                              "predictions' own acceleration, the guide's form) or 'target' (penalise its difference "
                              "from the target latents' acceleration).")
        self.loss_weight, self.normalize = float(loss_weight), bool(normalize)
        self.order, self.reference = int(order), reference
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
        if self.reference == "target":
            if target is None or target.shape != pred.shape:
                got = None if target is None else tuple(target.shape)
                raise ConfigError(f"TemporalCausalityLoss(reference='target') needs the target latents of the same "
                                  f"shape as the predictions {tuple(pred.shape)}; got {got}. JEPAPretrainer passes "
                                  "them; use reference='zero' where no target exists.")
            trajectory = pred - target.detach()  # (B, K, D): differences of this = pred's minus target's
        else:
            trajectory = pred  # (B, K, D)
        span = self.order + 1  # time steps one difference reads
        if t_grid < span:
            return pred.sum() * 0.0
        spatial = h_grid * w_grid
        index = target_idx[..., None].expand(batch, tokens, dim)  # (B, K, D)
        grid = trajectory.new_zeros(batch, t_grid * spatial, dim).scatter(1, index, trajectory)  # (B, N, D)
        grid = grid.view(batch, t_grid, spatial, dim)  # (B, T', H'W', D)
        seen = torch.zeros(batch, t_grid * spatial, dtype=torch.bool, device=pred.device)
        seen = seen.scatter(1, target_idx, True).view(batch, t_grid, spatial)  # (B, T', H'W')
        steps = t_grid - self.order  # (t, h, w) positions with a full window
        valid = seen[:, :steps].clone()  # (B, T'-order, H'W')
        for offset in range(1, span):
            valid &= seen[:, offset:offset + steps]
        if not bool(valid.any()):
            return pred.sum() * 0.0
        # sum_k c_k z[t + order - k] with the signed binomial coefficients, newest time step first
        coefficients = _DIFFERENCE_COEFFICIENTS[self.order]
        difference = grid[:, self.order:]  # (B, T'-order, H'W', D)
        for k, coefficient in enumerate(coefficients[1:], start=1):
            difference = difference + coefficient * grid[:, self.order - k:t_grid - k]  # (B, T'-order, H'W', D)
        norms = torch.linalg.vector_norm(difference[valid], dim=-1)  # (M,)
        if self.normalize:
            norms = norms / dim ** 0.5
        return self.loss_weight * norms.mean()
