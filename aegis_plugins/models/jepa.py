"""JEPA pretraining of a video encoder by latent prediction of masked space-time regions.

Assran et al., "Self-Supervised Learning from Images with a Joint-Embedding Predictive Architecture" (I-JEPA, 2023)
and Bardes et al., "Revisiting Feature Prediction for Learning Visual Representations from Video" (V-JEPA, 2024):
a context encoder sees only the visible tokens, a narrow predictor predicts the features the target encoder (an
exponential moving average of the context encoder, updated by ``JEPATargetEMAHook``) gives the masked tokens of
the full clip, and the loss compares them in latent space.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn
from torch.profiler import record_function

from aegis.annotations import Component
from aegis.build import build_component
from aegis.contracts import LatentPredictor, Loss, MaskGenerator, VideoEncoder
from aegis.errors import ConfigError, DataError

__all__ = ["JEPAPretrainer"]


def _gather(tokens: Tensor, indices: Tensor) -> Tensor:
    """(B, N, D) tokens at (B, K) indices -> (B, K, D)."""
    return torch.gather(tokens, 1, indices[..., None].expand(-1, -1, tokens.shape[-1]))  # (B, K, D)


class JEPAPretrainer(BaseModel):
    """V-JEPA pretraining: ``forward(inputs (B, C, T, H, W), mode="loss")`` returns the weighted loss terms.

    For each mask generator (one mask pair per group, e.g. short-range and long-range blocks) the context
    ``encoder`` runs on the visible tokens (B, Kc, D), the ``predictor`` predicts (B, Kt, D) latents at the masked
    tokens, and each term of ``losses`` compares them with the layer-normalised output of ``target_encoder`` (a
    frozen copy of the encoder, run once per batch on the full clip, under ``no_grad``). Terms are averaged over
    the mask groups (weighted by ``mask_group_weights``; equal by default) and returned under their ``loss_name``
    (mmengine sums them into ``loss`` and logs each as ``train/<loss_name>``). ``mode="tensor"`` returns the
    target encoder's tokens (B, N, D) and ``"predict"`` one dict per clip with its mean-pooled target features
    ``features`` (D,), or, for videos longer than the clip length, its surprise curve and scores
    (:meth:`predict`; the VoE validation metric reads them).
    ``update_target(momentum)`` performs the EMA step; ``JEPATargetEMAHook`` calls it after every optimiser step.
    """

    def __init__(self, encoder: Component[VideoEncoder],
                 predictor: Component[LatentPredictor] = dict(  # noqa: B006
                     type="JEPAPredictor", embed_dim=384, depth=6, num_heads=12),
                 mask_generators: Sequence[Component[MaskGenerator]] = (
                     dict(type="MultiBlock3DMaskGenerator", num_blocks=8, mask_ratio=None, spatial_scale=(0.15, 0.15)),
                     dict(type="MultiBlock3DMaskGenerator", num_blocks=2, mask_ratio=None, spatial_scale=(0.7, 0.7)),
                 ),
                 losses: Sequence[Component[Loss]] = (
                     dict(type="LatentReconstructionLoss", norm="l1", loss_weight=1.0),
                     dict(type="TemporalCausalityLoss", loss_weight=0.1),
                 ),
                 mask_group_weights: Sequence[float] | None = None,
                 surprise_future_steps: int = 1, surprise_stride: int = 1,
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.surprise_future_steps, self.surprise_stride = int(surprise_future_steps), int(surprise_stride)
        self.encoder = build_component(encoder, VideoEncoder, path="model.encoder")
        if self.encoder.grid_size is None:
            raise ConfigError(f"model.encoder: JEPAPretrainer predicts tokens on a fixed (T', H', W') grid; "
                              f"{type(self.encoder).__name__} has grid_size=None (its grid depends on the clip).")
        if self.encoder.frozen:
            raise ConfigError("model.encoder.frozen=True: a frozen encoder cannot be pretrained; set frozen=False.")
        if isinstance(mask_generators, dict) or not mask_generators:
            raise ConfigError("model.mask_generators must be a non-empty list of mask generator dicts, e.g. "
                              "[dict(type='MultiBlock3DMaskGenerator', num_blocks=8, mask_ratio=0.8)].")
        if isinstance(losses, dict) or not losses:
            raise ConfigError("model.losses must be a non-empty list of loss dicts, e.g. "
                              "[dict(type='LatentReconstructionLoss'), dict(type='TemporalCausalityLoss')].")
        self.mask_generators = [build_component(m, MaskGenerator, path=f"model.mask_generators[{i}]")
                                for i, m in enumerate(mask_generators)]
        self.mask_group_weights = self.check_group_weights(mask_group_weights)
        self.encoders_frozen = False  # set by freeze_encoders() (PredictorCooldownHook): only the predictor trains
        self.losses = nn.ModuleList(build_component(loss, Loss, path=f"model.losses[{i}]")
                                    for i, loss in enumerate(losses))
        names = [loss.loss_name for loss in self.losses]
        if len(set(names)) != len(names):
            raise ConfigError(f"model.losses: every term needs a distinct loss_name to be logged under; got {names}.")
        self.predictor = build_component(
            predictor, LatentPredictor, path="model.predictor", encoder_embed_dim=self.encoder.embed_dim,
            grid_size=tuple(self.encoder.grid_size), num_mask_tokens=len(self.mask_generators))
        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_encoder.requires_grad_(False)
        self.capture_features = False  # set by CollapseWatchHook for the iterations it inspects
        self.captured: dict[str, Tensor] = {}

    def check_group_weights(self, weights: Sequence[float] | None) -> list[float]:
        """The per-mask-group loss weights (default: equal), checked against the groups; they are normalised to sum
        to one in the loss, and a group of weight 0 is not computed."""
        count = len(self.mask_generators)
        if weights is None:
            return [1.0] * count
        weights = [float(w) for w in weights]
        if len(weights) != count or min(weights) < 0 or sum(weights) <= 0:
            raise ConfigError(f"model.mask_group_weights={weights}: expected {count} non-negative weights (one per "
                              "mask generator) with a positive sum, e.g. " + str([1.0] * count) + ".")
        return weights

    def freeze_encoders(self) -> None:
        """Stop training the context encoder and stop the EMA update: from now on only the predictor learns (the
        predictor cool-down of ``PredictorCooldownHook``; targets and context features then stand still)."""
        self.encoder.requires_grad_(False)
        self.encoders_frozen = True

    # -- EMA target -----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """target <- momentum * target + (1 - momentum) * encoder, for every parameter (one fused foreach op);
        nothing once :meth:`freeze_encoders` was called."""
        if not 0.0 <= momentum <= 1.0:
            raise ConfigError(f"EMA momentum must be in [0, 1]; got {momentum}.")
        if self.encoders_frozen:
            return
        target = list(self.target_encoder.parameters())
        online = list(self.encoder.parameters())
        torch._foreach_mul_(target, momentum)
        torch._foreach_add_(target, online, alpha=1.0 - momentum)

    # -- forward --------------------------------------------------------------------------------------------------
    def forward(self, inputs: Tensor, data_samples: list | None = None, mode: str = "tensor"):
        if mode == "loss":
            return self.loss(inputs)
        if mode == "tensor":
            return self.target_encoder(inputs)  # (B, N, D)
        if mode == "predict":
            return self.predict(inputs, data_samples)
        raise ConfigError(f"JEPAPretrainer.forward: mode={mode!r}; expected 'loss', 'tensor' or 'predict'.")

    @torch.no_grad()
    def predict(self, inputs: Tensor, data_samples: list | None = None) -> list[dict]:
        """One dict per video, with the sample's own keys: for clips of the model's length, the mean-pooled target
        features ``features`` (D,); for longer videos (B, C, T > window, H, W), the surprise curve ``surprise``
        (W,) of ``aegis_plugins.models.surprise.latent_surprise`` (``surprise_future_steps`` predicted time steps,
        windows every ``surprise_stride`` frames) with its ``surprise_max`` and ``surprise_mean``."""
        from .surprise import clip_scores, latent_surprise

        samples = list(data_samples) if data_samples else [{} for _ in range(inputs.shape[0])]
        window = self.encoder.grid_size[0] * getattr(self.encoder, "tubelet_size", 1)  # frames per clip
        if inputs.ndim == 5 and inputs.shape[2] > window:
            curves = latent_surprise(self, inputs, self.surprise_future_steps, self.surprise_stride)  # (B, W)
            scores = clip_scores(curves)
            return [dict(sample, surprise=curve, surprise_max=float(top), surprise_mean=float(mean))
                    for sample, curve, top, mean in zip(samples, curves, scores["max"], scores["mean"])]
        pooled = self.target_encoder(inputs).mean(dim=1)  # (B, D)
        return [dict(sample, features=p) for sample, p in zip(samples, pooled)]

    def _check_grid(self, inputs: Tensor) -> tuple[int, int, int]:
        grid = self.encoder.grid_of(inputs.shape) if inputs.ndim == 5 else None
        grid = tuple(grid) if grid is not None else None
        if grid != tuple(self.encoder.grid_size):
            raise DataError(f"JEPAPretrainer: clips of shape {tuple(inputs.shape)} do not match the encoder's token "
                            f"grid {tuple(self.encoder.grid_size)} (num_frames, img_size); resize the clips in the "
                            "pipeline or change model.encoder.num_frames / img_size.")
        return grid

    def sample_masks(self, batch_size: int, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> list[tuple[Tensor, Tensor] | None]:
        """One ``(context_idx (B, Kc), target_idx (B, Kt))`` pair per mask generator, None for a group of weight 0:
        what :meth:`loss` draws when it is given no masks (``generator`` makes the draw reproducible)."""
        grid = tuple(self.encoder.grid_size)
        masks = []
        for sampler, weight in zip(self.mask_generators, self.mask_group_weights):
            pair = tuple(m.to(device) for m in sampler(batch_size, grid, generator)) if weight else None
            masks.append(pair)
        return masks

    def loss(self, inputs: Tensor, masks: Sequence[tuple[Tensor, Tensor] | None] | None = None) -> dict[str, Tensor]:
        """The weighted loss terms, averaged over the mask groups: {loss_name: scalar}. ``masks`` (one pair per
        group, as :meth:`sample_masks` returns) replaces the draw, e.g. to time the same masks twice."""
        grid = self._check_grid(inputs)
        batch = inputs.shape[0]
        if masks is None:
            with record_function("jepa.mask_sampling"):
                masks = self.sample_masks(batch, device=inputs.device)
        elif len(masks) != len(self.mask_generators):
            raise DataError(f"JEPAPretrainer.loss: {len(masks)} mask pairs given for {len(self.mask_generators)} "
                            "mask generators; pass one (context_idx, target_idx) pair per generator.")
        # the record_function labels name the phases in a torch.profiler trace (benchmarks/vjepa_step.py --breakdown)
        with torch.no_grad(), record_function("jepa.target_encoder"):
            raw_target = self.target_encoder(inputs).float()  # (B, N, D); fp32 also under bf16 autocast
            target = F.layer_norm(raw_target, (raw_target.shape[-1],))  # (B, N, D)
        terms = {loss.loss_name: inputs.new_zeros(()) for loss in self.losses}
        total_weight = sum(self.mask_group_weights)
        captured_pred, captured_target = [], []
        for index, pair in enumerate(masks):
            weight = self.mask_group_weights[index] / total_weight
            if weight == 0:
                continue
            context_idx, target_idx = pair  # (B, Kc), (B, Kt)
            with record_function(f"jepa.context_encoder[{index}]"):
                context = self.encoder(inputs, context_idx)  # (B, Kc, D)
            with record_function(f"jepa.predictor[{index}]"):
                pred = self.predictor(context, context_idx, target_idx, mask_index=index).float()  # (B, Kt, D)
            with record_function(f"jepa.loss[{index}]"):
                masked_target = _gather(target, target_idx)  # (B, Kt, D)
                for loss in self.losses:
                    terms[loss.loss_name] = terms[loss.loss_name] + loss(pred, masked_target, target_idx, grid) * weight
            if self.capture_features:
                captured_pred.append(pred.detach().flatten(0, 1))
                captured_target.append(masked_target.flatten(0, 1))
        if self.capture_features:
            self.captured = dict(target_features=raw_target.flatten(0, 1), predictions=torch.cat(captured_pred),
                                 targets=torch.cat(captured_target))
        return terms
