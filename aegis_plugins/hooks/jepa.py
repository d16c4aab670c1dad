"""Runner hooks of JEPA pretraining: the EMA target update, the collapse watch and a loss-weight schedule.

The target encoder of I-JEPA/V-JEPA (Assran et al., 2023; Bardes et al., 2024) is an exponential moving average of
the context encoder whose momentum rises linearly over training (V-JEPA: 0.998 -> 1.0; this issue's recipe 0.996 ->
1.0). mmengine's ``EMAHook`` cannot serve: its averaged model is only swapped in for validation and never feeds the
loss. The collapse statistics follow RankMe (Garrido et al., "RankMe: Assessing the Downstream Performance of
Pretrained Self-Supervised Representations by Their Rank", 2023) for the effective rank and SimSiam (Chen and He,
2021) for the per-dimension standard deviation of l2-normalised features.
"""
from __future__ import annotations

import math
import warnings
from typing import Literal

import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import Tensor

from aegis.errors import ConfigError

__all__ = ["JEPATargetEMAHook", "CollapseWatchHook", "CollapseWarning", "collapse_statistics",
           "LossWeightScheduleHook", "PredictorCooldownHook"]


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


class JEPATargetEMAHook(Hook):
    """After every optimiser step, move the model's target encoder towards its context encoder.

    The momentum at iteration i (0-based) of ``max_iters`` is ``momentum + (end_momentum - momentum) * i /
    max_iters``, V-JEPA's linear schedule; it is logged as ``train/ema_momentum``. Needs a model with
    ``update_target(momentum)`` (``JEPAPretrainer``). With gradient accumulation the update waits for the step.
    The schedule depends only on ``runner.iter``, so resuming continues it exactly.
    """

    priority = "ABOVE_NORMAL"  # before the collapse watch and the logger read the iteration's state

    def __init__(self, momentum: float = 0.996, end_momentum: float = 1.0) -> None:
        if not 0.0 <= momentum <= end_momentum <= 1.0:
            raise ConfigError(f"JEPATargetEMAHook: expected 0 <= momentum <= end_momentum <= 1; got momentum="
                              f"{momentum}, end_momentum={end_momentum} (V-JEPA: 0.998 -> 1.0).")
        self.momentum, self.end_momentum = float(momentum), float(end_momentum)

    def momentum_at(self, iteration: int, max_iters: int) -> float:
        """The EMA momentum used after iteration ``iteration`` (0-based) of ``max_iters``."""
        progress = min(iteration / max(max_iters, 1), 1.0)
        return self.momentum + (self.end_momentum - self.momentum) * progress

    def before_train(self, runner) -> None:
        model = _unwrap(runner.model)
        if not callable(getattr(model, "update_target", None)):
            raise ConfigError(f"custom_hooks: JEPATargetEMAHook needs a model with update_target(momentum) "
                              f"(e.g. JEPAPretrainer); model.type is {type(model).__name__}.")

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        wrapper = getattr(runner, "optim_wrapper", None)
        if wrapper is not None and hasattr(wrapper, "should_update") and not wrapper.should_update():
            return  # accumulating gradients: the optimiser did not step this iteration
        momentum = self.momentum_at(runner.iter, runner.max_iters)
        _unwrap(runner.model).update_target(momentum)
        runner.message_hub.update_scalar("train/ema_momentum", momentum)


class CollapseWarning(UserWarning):
    """JEPA features look collapsed (constant or low-rank targets, or predictions unrelated to targets)."""


@torch.no_grad()
def collapse_statistics(target_features: Tensor, predictions: Tensor, targets: Tensor,
                        max_samples: int = 4096) -> dict[str, float]:
    """Collapse indicators of (M, D) target-encoder features and (K, D) predictions with their (K, D) targets.

    ``target_std``: mean over dims of the std of l2-normalised features, times sqrt(D) (about 1 for features spread
    over the sphere, 0 for constant ones). ``effective_rank``: exp of the entropy of the normalised singular values
    of the centred features (1 to D). ``pred_cosine``: mean cosine similarity of predictions and targets.
    """
    features = target_features.float()[:max_samples]  # (M, D)
    dim = features.shape[-1]
    unit = F.normalize(features, dim=-1)
    std = unit.std(dim=0).mean().item() * math.sqrt(dim) if unit.shape[0] > 1 else 0.0
    singular = torch.linalg.svdvals(features - features.mean(dim=0, keepdim=True))  # (min(M, D),)
    total = singular.sum()
    if total > 0:
        p = singular / total
        rank = math.exp(-(p * torch.log(p.clamp_min(1e-12))).sum().item())
    else:
        rank = 1.0
    cosine = F.cosine_similarity(predictions.float()[:max_samples], targets.float()[:max_samples], dim=-1)
    return dict(target_std=std, effective_rank=rank, pred_cosine=cosine.mean().item())


class CollapseWatchHook(Hook):
    """Every ``interval`` iterations, log collapse indicators of the JEPA features and warn when they are low.

    Logs ``train/collapse_target_std``, ``train/collapse_effective_rank`` and ``train/collapse_pred_cosine`` (see
    :func:`collapse_statistics`) and warns (runner log and a :class:`CollapseWarning`) when the std falls below
    ``min_std``, the effective rank below ``min_rank_fraction`` of the width, or the prediction/target cosine
    below ``min_cosine``. The model (``JEPAPretrainer``) records detached features only on those iterations.
    """

    priority = "NORMAL"

    def __init__(self, interval: int = 50, min_std: float = 0.1, min_rank_fraction: float = 0.02,
                 min_cosine: float = 0.05, max_samples: int = 4096) -> None:
        if interval < 1:
            raise ConfigError(f"CollapseWatchHook.interval={interval}: expected an int >= 1.")
        self.interval, self.max_samples = int(interval), int(max_samples)
        self.min_std, self.min_rank_fraction, self.min_cosine = float(min_std), float(min_rank_fraction), float(min_cosine)
        self.history: list[dict[str, float]] = []  # one entry per inspected iteration, with its `iter`

    def before_train(self, runner) -> None:
        if not hasattr(_unwrap(runner.model), "capture_features"):
            raise ConfigError(f"custom_hooks: CollapseWatchHook needs a model that records its features "
                              f"(JEPAPretrainer); model.type is {type(_unwrap(runner.model)).__name__}.")

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        _unwrap(runner.model).capture_features = self.every_n_train_iters(runner, self.interval)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        model = _unwrap(runner.model)
        captured, model.captured, model.capture_features = model.captured, {}, False
        if not captured:
            return
        stats = collapse_statistics(captured["target_features"], captured["predictions"], captured["targets"],
                                    self.max_samples)
        for key, value in stats.items():
            runner.message_hub.update_scalar(f"train/collapse_{key}", value)
        self.history.append(dict(stats, iter=runner.iter + 1))
        dim = captured["target_features"].shape[-1]
        problems = []
        if stats["target_std"] < self.min_std:
            problems.append(f"target feature std {stats['target_std']:.4f} < min_std {self.min_std} "
                            "(about 1 = features spread out, 0 = every token the same)")
        if stats["effective_rank"] < self.min_rank_fraction * dim:
            problems.append(f"effective rank {stats['effective_rank']:.2f} < {self.min_rank_fraction} x width {dim}"
                            f" = {self.min_rank_fraction * dim:.2f} (features span only a few directions)")
        if stats["pred_cosine"] < self.min_cosine:
            problems.append(f"prediction/target cosine {stats['pred_cosine']:.4f} < min_cosine {self.min_cosine} "
                            "(the predictor is not tracking the targets)")
        if problems:
            message = (f"JEPA collapse watch at iteration {runner.iter + 1}: " + "; ".join(problems) + ". Possible "
                       "representation collapse: check the EMA momentum (JEPATargetEMAHook), the learning rate and "
                       "warm-up, and the mask ratio.")
            runner.logger.warning(message)
            warnings.warn(message, CollapseWarning, stacklevel=2)


class LossWeightScheduleHook(Hook):
    """Before every training iteration, set the ``loss_weight`` of the model's loss term ``loss_name`` by schedule.

    The weight at iteration i (0-based) is ``final * factor(i)``, where ``final`` is the term's configured
    ``loss_weight`` (read once in ``before_train``) and ``factor`` is 0 while ``i < start_iter``, then rises to 1
    over ``ramp_iters`` iterations (``ramp="linear"``: ``p = (i - start_iter) / ramp_iters``; ``"cosine"``:
    ``(1 - cos(pi p)) / 2``) and stays 1; ``ramp_iters=0`` is a step at ``start_iter``. The weight is logged as
    ``train/<loss_name>_weight``; the term's logged value (``train/<loss_name>``) is already weighted, so it reads
    0 before ``start_iter``. The schedule depends only on ``runner.iter``, so resuming continues it exactly; after
    training the term gets its configured weight back. The term is any submodule of the model whose ``loss_name``
    matches (``JEPAPretrainer.losses``).
    """

    priority = "NORMAL"

    def __init__(self, loss_name: str = "causality_loss", start_iter: int = 0, ramp_iters: int = 0,
                 ramp: Literal["linear", "cosine"] = "linear") -> None:
        if start_iter < 0 or ramp_iters < 0:
            raise ConfigError(f"LossWeightScheduleHook: start_iter={start_iter} and ramp_iters={ramp_iters} must be "
                              ">= 0 (e.g. start_iter=max_iters // 4, ramp_iters=max_iters // 4).")
        if ramp not in ("linear", "cosine"):
            raise ConfigError(f"LossWeightScheduleHook.ramp={ramp!r}: expected 'linear' or 'cosine'.")
        self.loss_name, self.start_iter, self.ramp_iters, self.ramp = loss_name, int(start_iter), int(ramp_iters), ramp
        self._term = None  # the scheduled loss module, found in before_train
        self.final_weight: float | None = None

    def factor_at(self, iteration: int) -> float:
        """The fraction of the configured weight used at iteration ``iteration`` (0-based): 0 to 1."""
        if iteration < self.start_iter:
            return 0.0
        if self.ramp_iters == 0:
            return 1.0
        progress = min((iteration - self.start_iter) / self.ramp_iters, 1.0)
        return progress if self.ramp == "linear" else (1.0 - math.cos(math.pi * progress)) / 2.0

    def before_train(self, runner) -> None:
        model = _unwrap(runner.model)
        terms = [m for m in model.modules() if isinstance(getattr(m, "loss_name", None), str)
                 and hasattr(m, "loss_weight")]
        matching = [m for m in terms if m.loss_name == self.loss_name]
        if len(matching) != 1:
            names = sorted({m.loss_name for m in terms})
            raise ConfigError(f"custom_hooks: LossWeightScheduleHook.loss_name={self.loss_name!r} matches "
                              f"{len(matching)} loss terms of {type(model).__name__}; expected exactly one. Its terms "
                              f"with a loss_weight: {names or 'none'}.")
        self._term = matching[0]
        self.final_weight = float(self._term.loss_weight)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        weight = self.final_weight * self.factor_at(runner.iter)
        self._term.loss_weight = weight
        runner.message_hub.update_scalar(f"train/{self.loss_name}_weight", weight)

    def after_train(self, runner) -> None:
        if self._term is not None:
            self._term.loss_weight = self.final_weight


class PredictorCooldownHook(Hook):
    """From epoch ``start_epoch`` on, train only the predictor, on the mask groups ``mask_group_weights`` selects.

    A JEPA predictor trained jointly with a moving encoder and EMA target can stay a poor forecaster of the next
    time step (on the VoE scenes a tiny one stayed worse than copying the last step's latents); surprise needs a
    good one. This hook freezes the context encoder and the EMA target (``JEPAPretrainer.freeze_encoders``) and
    sets the model's ``mask_group_weights`` (e.g. ``[0, 0, 1]``: the future-mask group only), so the last epochs fit
    the predictor to fixed features, as V-JEPA 2-AC fits its predictor to a frozen encoder. Which phase an epoch
    belongs to depends only on ``runner.epoch``, so a resumed run freezes again where the first one did.
    """

    priority = "ABOVE_NORMAL"

    def __init__(self, start_epoch: int, mask_group_weights: list[float] | None = None) -> None:
        if int(start_epoch) < 0:
            raise ConfigError(f"PredictorCooldownHook.start_epoch={start_epoch}: expected an epoch >= 0.")
        self.start_epoch, self.mask_group_weights = int(start_epoch), mask_group_weights

    def before_train(self, runner) -> None:
        model = _unwrap(runner.model)
        if not callable(getattr(model, "freeze_encoders", None)):
            raise ConfigError(f"custom_hooks: PredictorCooldownHook needs a model with freeze_encoders() (e.g. "
                              f"JEPAPretrainer); model.type is {type(model).__name__}.")
        if self.mask_group_weights is not None:
            model.check_group_weights(self.mask_group_weights)  # a wrong length fails now, not epochs later
        if self.start_epoch >= runner.max_epochs:  # a shortened run (or --dry-run): say so, do not stop it
            runner.logger.warning(f"PredictorCooldownHook.start_epoch={self.start_epoch} is not before max_epochs="
                                  f"{runner.max_epochs}: the predictor cool-down will not start in this run.")

    def before_train_epoch(self, runner) -> None:
        model = _unwrap(runner.model)
        if runner.epoch < self.start_epoch or model.encoders_frozen:
            return
        model.freeze_encoders()
        if self.mask_group_weights is not None:
            model.mask_group_weights = model.check_group_weights(self.mask_group_weights)
        runner.logger.info(f"predictor cool-down from epoch {runner.epoch + 1}: encoder and EMA target frozen, mask "
                           f"group weights {model.mask_group_weights}")
