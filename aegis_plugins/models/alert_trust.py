"""Alerts that know when they do not know: every generated alert carries a confidence and an out-of-distribution
(OOD) score, and below thresholds calibrated on held-out data the captioner abstains instead of raising an alert.

* **Confidence** is the geometric-mean probability the LLM gave the caption's tokens (``exp`` of their mean
  log-probability, :meth:`VideoCaptioner.generate_with_confidence`).
* **OOD score** is how far the clip's frozen-encoder features lie from the training split's: the mean Euclidean
  distance to the ``k`` nearest training clips (deep k-NN OOD detection, Sun et al., 2022, "Out-of-Distribution
  Detection with Deep Nearest Neighbors") in (mean, std)-pooled encoder tokens standardised per feature with the
  training split's statistics, divided by sqrt(F): a root-mean-square distance per feature, in training standard
  deviations. On the demo's captioner it separated in- from out-of-distribution footage with a wider margin than a
  shrunk-covariance Mahalanobis distance (Lee et al., 2018) and than mean-only pooling (docs/vlm.md).
* **Thresholds** are quantiles of the validation split's scores: an alert is raised only when its OOD score is at
  most the ``ood_quantile`` (0.95) of validation OOD scores and its confidence at least the ``confidence_quantile``
  (0.05) of validation confidences.

The fitted reference features and thresholds live in ``alert_trust.json`` beside the checkpoint, pinned to that
checkpoint's SHA-256; ``AlertCalibrationHook`` writes it after training, ``tools/calibrate_alerts.py`` for a
checkpoint trained before, ``tools/infer.py`` and ``tools/show_alerts.py`` read it.
"""
from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aegis.engine.checkpoint import atomic_write_text, file_sha256
from aegis.errors import CheckpointError, ConfigError, DataError

__all__ = ["TRUST_FILE", "AlertTrust", "Verdict", "clip_features", "judge_clips", "fit_alert_trust",
           "evaluation_batches", "calibrate_checkpoint", "trust_file_for", "load_alert_trust"]

TRUST_FILE = "alert_trust.json"
_FORMAT = 1


def clip_features(model, inputs: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) clips -> (B, 2 Dv) float32 features of ``model`` (a ``VideoCaptioner``): the mean and the
    standard deviation over the N tokens of its frozen encoder, the tokens its connector reads."""
    with torch.no_grad():
        tokens = model.encoder(inputs.to(_device(model)).float())  # (B, N, Dv)
    return torch.cat([tokens.mean(1), tokens.std(1, correction=0)], dim=1).float().cpu()  # (B, 2 Dv)


@dataclass
class Verdict:
    """One clip's alert decision: the caption, its confidence and OOD score, whether an alert is ``raised`` and why
    (``reason``: "trusted", "unrecognised" (OOD score above its threshold), "unsure" (confidence below its
    threshold) or "unchecked" (no calibration: raised without a check)). :meth:`line` is what the tools print."""

    caption: str
    confidence: float
    ood_score: float | None = None
    raised: bool = True
    reason: str = "unchecked"
    confidence_threshold: float | None = None
    ood_threshold: float | None = None
    calibration_split: str = "val"

    def line(self) -> str:
        """``ALERT: <caption> (confidence c >= t; OOD score s <= t)`` or ``NO ALERT: <why>; nothing raised``."""
        c, o = self.confidence, self.ood_score
        if self.reason == "unchecked":
            return f"ALERT: {self.caption} (confidence {c:.3f}; unchecked: no alert calibration for this checkpoint)"
        scores = (f"confidence {c:.3f} {'>=' if c >= self.confidence_threshold else '<'} "
                  f"{self.confidence_threshold:.3f}; OOD score {o:.3f} {'<=' if o <= self.ood_threshold else '>'} "
                  f"{self.ood_threshold:.3f}")
        if self.raised:
            return f"ALERT: {self.caption} ({scores})"
        guess = f'the caption it withheld: "{self.caption}"'
        if self.reason == "unrecognised":
            return (f"NO ALERT: this footage is not recognised (OOD score {o:.3f} > threshold {self.ood_threshold:.3f}"
                    f", calibrated on the {self.calibration_split} split; confidence {c:.3f}); nothing raised "
                    f"({guess}).")
        return (f"NO ALERT: the captioner is not sure what this footage shows (confidence {c:.3f} < threshold "
                f"{self.confidence_threshold:.3f}, calibrated on the {self.calibration_split} split; OOD score "
                f"{o:.3f}); nothing raised ({guess}).")


class AlertTrust:
    """The OOD reference and the two thresholds of one captioner checkpoint.

    ``reference`` (R, F) are the training clips' features, ``feature_mean``/``feature_std`` (F,) their statistics;
    :meth:`ood_scores` maps (B, F) features to (B,) scores. ``info`` records how it was calibrated (checkpoint and its
    SHA-256, splits, quantiles, counts, ``num_beams``, the validation scores).
    """

    def __init__(self, reference: torch.Tensor, feature_mean: torch.Tensor, feature_std: torch.Tensor, k: int,
                 ood_threshold: float, confidence_threshold: float, info: Mapping | None = None) -> None:
        if k < 1:
            raise ConfigError(f"alert calibration: k={k}; expected a number of neighbours >= 1 (e.g. 5).")
        self.reference, self.k = reference.float(), k
        self.feature_mean, self.feature_std = feature_mean.float(), feature_std.float()
        self.ood_threshold, self.confidence_threshold = float(ood_threshold), float(confidence_threshold)
        self.info = dict(info or {})

    def ood_scores(self, features: torch.Tensor) -> torch.Tensor:
        """(B, F) clip features -> (B,) mean distance to the k nearest reference clips over sqrt(F)."""
        if features.shape[-1] != self.reference.shape[1]:
            raise CheckpointError(f"alert calibration: features have {features.shape[-1]} dims, the reference "
                                  f"{self.reference.shape[1]}: it was fitted with another encoder; recalibrate.")
        z = (features.float().cpu() - self.feature_mean) / self.feature_std  # (B, F)
        distances = torch.cdist(z, self.reference)  # (B, R)
        nearest = distances.topk(min(self.k, self.reference.shape[0]), dim=1, largest=False).values  # (B, k)
        return nearest.mean(1) / self.reference.shape[1] ** 0.5  # (B,)

    def judge(self, caption: str, confidence: float, ood_score: float) -> Verdict:
        """The verdict on one alert: raised when OOD score <= ood_threshold and confidence >= the confidence one."""
        unrecognised = ood_score > self.ood_threshold
        unsure = confidence < self.confidence_threshold
        reason = "unrecognised" if unrecognised else "unsure" if unsure else "trusted"
        return Verdict(caption, float(confidence), float(ood_score), reason == "trusted", reason,
                       self.confidence_threshold, self.ood_threshold, self.info.get("calibration_split", "val"))

    # --- the file -----------------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the calibration as JSON (features as base64 little-endian float32), atomically."""
        arrays = {name: dict(shape=list(t.shape), float32_base64=base64.b64encode(
            t.detach().cpu().numpy().astype("<f4").tobytes()).decode("ascii"))
            for name, t in (("reference", self.reference), ("feature_mean", self.feature_mean),
                            ("feature_std", self.feature_std))}
        doc = dict(format=_FORMAT, k=self.k, ood_threshold=self.ood_threshold,
                   confidence_threshold=self.confidence_threshold, info=self.info, **arrays)
        atomic_write_text(json.dumps(doc, indent=1) + "\n", path)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "AlertTrust":
        """Read a file written by :meth:`save`; a clear CheckpointError if it is not one."""
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            if doc.get("format") != _FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, expected {_FORMAT}")
            arrays = {name: torch.from_numpy(np.frombuffer(base64.b64decode(doc[name]["float32_base64"]),
                                                           dtype="<f4").copy()).reshape(doc[name]["shape"])
                      for name in ("reference", "feature_mean", "feature_std")}
            return cls(k=int(doc["k"]), ood_threshold=doc["ood_threshold"],
                       confidence_threshold=doc["confidence_threshold"], info=doc.get("info"), **arrays)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"alert calibration {str(path)!r} is not a readable {TRUST_FILE} ({exc}); "
                                  "rewrite it with tools/calibrate_alerts.py.") from None


def judge_clips(model, inputs: torch.Tensor, trust: AlertTrust | None,
                num_beams: int | None = None) -> list[Verdict]:
    """Caption (B, C, T, H, W) clips and judge each alert with ``trust`` (None: raised, unchecked). The features
    come from a second pass of the frozen encoder (generation does not return its tokens), small beside decoding."""
    texts, confidences = model.generate_with_confidence(inputs.to(_device(model)).float(), num_beams=num_beams)
    if trust is None:
        return [Verdict(t, float(c)) for t, c in zip(texts, confidences)]
    scores = trust.ood_scores(clip_features(model, inputs))
    return [trust.judge(t, float(c), float(s)) for t, c, s in zip(texts, confidences, scores)]


def fit_alert_trust(model, reference_batches: Iterable[torch.Tensor], calibration_batches: Iterable[torch.Tensor],
                    k: int = 5, ood_quantile: float = 0.95, confidence_quantile: float = 0.05,
                    num_beams: int | None = None, info: Mapping | None = None) -> AlertTrust:
    """Fit the OOD reference on ``reference_batches`` (training clips, (B, C, T, H, W) each) and set the thresholds
    from ``calibration_batches`` (held-out clips): the ``ood_quantile`` of their OOD scores and the
    ``confidence_quantile`` of their caption confidences (``num_beams`` as inference will use)."""
    if not (0.0 < ood_quantile <= 1.0 and 0.0 <= confidence_quantile < 1.0):
        raise ConfigError(f"alert calibration: ood_quantile={ood_quantile} must be in (0, 1] and "
                          f"confidence_quantile={confidence_quantile} in [0, 1) (e.g. 0.95 and 0.05).")
    features = [clip_features(model, x) for x in reference_batches]  # (B, F) each
    reference = torch.cat(features) if features else torch.zeros(0, 0)  # (R, F)
    if reference.shape[0] < 2:
        raise DataError(f"alert calibration: the reference (training) split gave {reference.shape[0]} clips; need "
                        "at least 2.")
    mean, std = reference.mean(0), reference.std(0).clamp_min(1e-6)  # (F,) each
    trust = AlertTrust((reference - mean) / std, mean, std, k, float("inf"), 0.0)
    ood, confidence = [], []
    for x in calibration_batches:
        _, conf = model.generate_with_confidence(x.to(_device(model)).float(), num_beams=num_beams)
        confidence.append(conf.float().cpu())
        ood.append(trust.ood_scores(clip_features(model, x)))
    if not ood:
        raise DataError("alert calibration: the calibration (validation) split gave no clips.")
    ood_scores, confidences = torch.cat(ood), torch.cat(confidence)  # (V,) each
    # rounded outward to 5 decimals: a clip scored at the threshold in a batch stays kept when scored alone
    trust.ood_threshold = math.ceil(float(torch.quantile(ood_scores, ood_quantile)) * 1e5) / 1e5
    trust.confidence_threshold = math.floor(float(torch.quantile(confidences, confidence_quantile)) * 1e5) / 1e5
    trust.info = dict(info or {}, k=k, ood_quantile=ood_quantile, confidence_quantile=confidence_quantile,
                      num_beams=num_beams or model.num_beams, num_reference=int(reference.shape[0]),
                      num_calibration=int(ood_scores.numel()),
                      feature="mean and std over the encoder's tokens, standardised per feature",
                      calibration_ood_scores=[round(float(v), 5) for v in ood_scores],
                      calibration_confidences=[round(float(v), 5) for v in confidences])
    return trust


def evaluation_batches(cfg, split: str, max_clips: int | None = None, with_samples: bool = False, seed: int = 0,
                       dataset: Mapping | None = None) -> Iterator:
    """The experiment's ``split`` ('train', 'val' or 'test') dataset read through its evaluation pipeline (the
    test loader's, else the val loader's: centre clips, no augmentation), in (B, C, T, H, W) batches of the split's
    loader size; ``max_clips`` keeps a seeded random subset; ``dataset`` (a dataset config) is read instead of the
    split's, with the same pipeline and loader settings. With ``with_samples``, yields (inputs, data_samples)."""
    from torch.utils.data import DataLoader, Subset

    from aegis.build import build_component
    from aegis.registry import DATASETS
    from aegis_plugins.data.collate import video_collate

    from .captioner_inference import evaluation_pipeline

    key = f"{split}_dataloader"
    loader_cfg = cfg.get(key)
    if not loader_cfg:
        raise ConfigError(f"alert calibration: the experiment has no {key} (needed for the {split} split).")
    dataset_cfg = dict(dataset or loader_cfg["dataset"], pipeline=evaluation_pipeline(cfg), test_mode=True)
    data = build_component(dataset_cfg, DATASETS, f"{key}.dataset" if dataset is None else "dataset")
    if max_clips is not None and len(data) > max_clips:
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
        data = Subset(data, sorted(order[:max_clips].tolist()))
    loader = DataLoader(data, batch_size=int(loader_cfg.get("batch_size", 8)), shuffle=False,
                        num_workers=int(loader_cfg.get("num_workers", 0)), collate_fn=video_collate)
    for batch in loader:
        inputs = batch["inputs"]
        inputs = inputs[:, 0] if inputs.dim() == 6 else inputs  # several views: the first, as infer.py does
        yield (inputs, batch["data_samples"]) if with_samples else inputs


def trust_file_for(checkpoint: str | Path) -> Path:
    """Where the alert calibration of ``checkpoint`` lives: ``alert_trust.json`` in the checkpoint's folder."""
    return Path(checkpoint).parent / TRUST_FILE


def calibrate_checkpoint(model, cfg, checkpoint: str, experiment: str | None = None, k: int = 5,
                         ood_quantile: float = 0.95, confidence_quantile: float = 0.05, max_reference: int = 1024,
                         num_beams: int | None = None, reference_split: str = "train",
                         calibration_split: str = "val") -> tuple[AlertTrust, Path]:
    """Calibrate ``model`` (built with ``checkpoint``'s weights) on ``cfg``'s splits and write
    :func:`trust_file_for` (``checkpoint``). Returns the fitted trust and the file."""
    info = dict(checkpoint=Path(checkpoint).name, checkpoint_sha256=file_sha256(checkpoint), experiment=experiment,
                reference_split=reference_split, calibration_split=calibration_split, max_reference=max_reference)
    trust = fit_alert_trust(model, list(evaluation_batches(cfg, reference_split, max_reference)),
                            evaluation_batches(cfg, calibration_split), k=k, ood_quantile=ood_quantile,
                            confidence_quantile=confidence_quantile, num_beams=num_beams, info=info)
    return trust, trust.save(trust_file_for(checkpoint))


def load_alert_trust(checkpoint: str | Path) -> AlertTrust | None:
    """The calibration beside ``checkpoint``, or None when there is none; a CheckpointError when it was made for
    another checkpoint (its thresholds do not apply to this one)."""
    path = trust_file_for(checkpoint)
    if not path.is_file():
        return None
    trust = AlertTrust.load(path)
    wanted = trust.info.get("checkpoint_sha256")
    if wanted != file_sha256(checkpoint):
        experiment = trust.info.get("experiment") or "EXPERIMENT"
        raise CheckpointError(
            f"{path} was calibrated for {trust.info.get('checkpoint')!r} (sha256 {str(wanted)[:12]}...), not for "
            f"{str(checkpoint)!r}: its thresholds do not apply. Recalibrate for this checkpoint: python "
            f"tools/calibrate_alerts.py --experiment {experiment} --checkpoint {checkpoint}")
    return trust


def _device(model) -> torch.device:
    return next(model.parameters()).device
