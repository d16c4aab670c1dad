"""Using a trained video captioner (the BLIP-2 recipe of Li et al., 2023, "BLIP-2: Bootstrapping Language-Image
Pre-training with Frozen Image Encoders and Large Language Models", on V-JEPA tokens) outside training: build it from
its experiment with a checkpoint, caption one video file (``tools/infer.py``), or print alerts for held-out videos
beside their references (:func:`show_alerts`, ``tools/show_alerts.py``, ``make demo``). Each alert is judged by the
checkpoint's alert calibration when it has one (``alert_trust.py``): kept, or withheld as unrecognised or unsure.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from aegis.engine.checkpoint import resolve_checkpoint
from aegis.errors import CheckpointError, ConfigError, DataError


__all__ = ["show_alerts", "load_captioner", "load_captioner_weights", "latest_checkpoint", "clip_from_file",
           "caption_video_file", "judge_video_file", "evaluation_pipeline"]


def show_alerts(experiment: str, checkpoint: str | None = None, split: str = "test", num: int = 8,
                cfg_options: dict | None = None, num_beams: int | None = None, print_fn=print) -> list[dict]:
    """Print generated alerts for ``num`` held-out videos of ``experiment`` beside their references, each with its
    decision: kept (``ALERT``) or withheld (``NO ALERT``, unrecognised or unsure) by the checkpoint's alert
    calibration, or ``ALERT`` unchecked when the checkpoint has none.

    ``checkpoint`` defaults to the one the experiment's work dir's ``last_checkpoint`` names; ``split`` picks
    ``test_dataloader`` or ``val_dataloader`` of the experiment. Returns the printed (video, reference, generated,
    class_name, confidence, ood_score, raised, reason) dicts.
    """
    from .alert_trust import evaluation_batches, judge_clips, load_alert_trust, trust_file_for

    model, cfg = load_captioner(experiment, checkpoint, cfg_options)
    checkpoint = checkpoint or latest_checkpoint(cfg.work_dir)
    key = f"{split}_dataloader"
    if key not in cfg or cfg[key] is None:
        raise ConfigError(f"{experiment}: has no {key}; expected split 'val' or 'test'.")
    trust = load_alert_trust(checkpoint)
    rows: list[dict] = []
    how = (f"alerts judged by {trust_file_for(checkpoint)}" if trust is not None else
           f"alerts UNCHECKED: no {trust_file_for(checkpoint)} (tools/calibrate_alerts.py writes it)")
    print_fn(f"AEGIS alerts for held-out videos ({split} split, {checkpoint}; {how}):")
    for inputs, samples in evaluation_batches(cfg, split, max_clips=None, with_samples=True):
        room = num - len(rows)
        if room <= 0:
            break
        inputs, samples = inputs[:room], samples[:room]
        for sample, verdict in zip(samples, judge_clips(model, inputs, trust, num_beams)):
            row = dict(video=str(sample.get("video_path", "?")), reference=str(sample.get("caption", "")),
                       generated=verdict.caption, class_name=sample.get("class_name"),
                       confidence=verdict.confidence, ood_score=verdict.ood_score, raised=verdict.raised,
                       reason=verdict.reason)
            rows.append(row)
            print_fn(f"  [{Path(row['video']).name}]\n    reference: {row['reference']}\n    {verdict.line()}")
    if trust is not None:
        kept = sum(r["raised"] for r in rows)
        print_fn(f"kept {kept} of {len(rows)} alerts; withheld {len(rows) - kept} (OOD score > "
                 f"{trust.ood_threshold:.3f} or confidence < {trust.confidence_threshold:.3f}).")
    return rows


def latest_checkpoint(work_dir: str) -> str:
    """The checkpoint named by ``work_dir``'s ``last_checkpoint`` marker."""
    return resolve_checkpoint(work_dir, "--checkpoint")


def load_captioner_weights(model: torch.nn.Module, checkpoint: str) -> None:
    """Load a training checkpoint (its ``state_dict``) into ``model`` with weights_only=True; a clear error if the
    file is missing, corrupt or holds another model."""
    from aegis_plugins.llms.base import load_weights

    if not Path(checkpoint).is_file():
        raise CheckpointError(f"checkpoint {checkpoint!r} does not exist.")
    state = load_weights(checkpoint)
    state = state.get("state_dict", state) if isinstance(state, Mapping) else state
    missing, unexpected = model.load_state_dict(state, strict=False)
    trained = [k for k in missing if k.startswith("connector.")]
    if trained or unexpected:
        raise CheckpointError(f"checkpoint {checkpoint!r} does not fit this model: missing connector weights "
                              f"{trained[:5]}, unexpected keys {list(unexpected)[:5]}. Was it written by another "
                              "experiment? Pass the matching --experiment.")


def load_captioner(experiment: str, checkpoint: str | None = None, cfg_options: dict | None = None):
    """Build the experiment's ``VideoCaptioner`` in eval mode with ``checkpoint`` (default: the newest checkpoint of
    the experiment's work dir). Returns ``(model, cfg)``."""
    from aegis import plugins
    from aegis.build import build_component
    from aegis.config import load_experiment
    from aegis.registry import MODELS

    plugins.load()
    cfg = load_experiment(experiment, cfg_options=cfg_options)
    model = build_component(cfg.model, MODELS, "model")
    load_captioner_weights(model, checkpoint or latest_checkpoint(cfg.work_dir))
    return model.eval(), cfg


def evaluation_pipeline(cfg):
    """The experiment's evaluation pipeline config: the test loader's dataset pipeline, else the val's, else the
    train's (whose transforms then run in test mode: centre crops)."""
    loader = cfg.get("test_dataloader") or cfg.get("val_dataloader") or cfg.get("train_dataloader")
    pipeline = loader["dataset"].get("pipeline") if loader else None
    if pipeline is None:
        raise ConfigError("the experiment's dataloaders have no dataset.pipeline to read a video with.")
    return pipeline


def clip_from_file(cfg, video: str) -> torch.Tensor:
    """The (C, T, H, W) evaluation clip of ``video`` through the experiment's test (else val) pipeline."""
    from aegis.build import build_component
    from aegis.contracts import Transform

    path = Path(video)
    if not path.is_file():
        raise DataError(f"--video {video!r}: no such file.")
    pipeline = evaluation_pipeline(cfg)
    steps = [build_component(dict(t), Transform, f"dataset.pipeline[{i}]")
             for i, t in enumerate(pipeline if isinstance(pipeline, (list, tuple)) else [pipeline])]
    results = dict(video_path=str(path), test_mode=True, params={}, caption="", captions=[])
    try:
        for step in steps:
            results = step(results)
    except DataError as exc:
        raise DataError(f"--video {video!r} cannot be used: {exc}") from None
    except Exception as exc:  # a decoder's own error on a file that is not a video
        raise DataError(f"--video {video!r} is not a readable video ({type(exc).__name__}: {exc}).") from None
    clip = results.get("inputs")
    if not isinstance(clip, torch.Tensor):
        raise ConfigError("the experiment's pipeline must end with ToTensorVideo/NormalizeVideo (results['inputs']).")
    return clip[0] if clip.dim() == 5 else clip  # (num_clips, C, T, H, W): the first view


def caption_video_file(model, cfg, video: str, num_beams: int | None = None) -> str:
    """The generated alert of ``model`` (a built ``VideoCaptioner``) for one video file, unjudged."""
    clip = clip_from_file(cfg, video)
    with torch.no_grad():
        return model.generate(clip.unsqueeze(0).float(), num_beams=num_beams)[0]  # (1, C, T, H, W) in


def judge_video_file(model, cfg, video: str, trust=None, num_beams: int | None = None):
    """The :class:`~aegis_plugins.models.alert_trust.Verdict` on ``model``'s alert for one video file: its caption,
    confidence and, with ``trust`` (an ``AlertTrust``), OOD score and whether it is raised."""
    from .alert_trust import judge_clips

    clip = clip_from_file(cfg, video)
    return judge_clips(model, clip.unsqueeze(0), trust, num_beams=num_beams)[0]  # (1, C, T, H, W) in
