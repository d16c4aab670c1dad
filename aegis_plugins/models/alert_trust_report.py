"""How often the calibrated captioner abstains, and how accurate the alerts it keeps are (``alert_trust.py``;
``tools/alert_trust_report.py``, reported in docs/vlm.md).

In distribution: the experiment's val (the calibration split) and test splits, with the disaster-type and dynamics
accuracy of all alerts (what the tool raised before it could abstain) beside those of the alerts it keeps. Unlike the
training data: non-disaster footage from other generators, written once as real H.264 files under ``footage_root``:

* ``flow``, ``motion``: the flow and motion probe scenes (``synthetic_flow.py``, ``synthetic_motion.py``): a moving
  grey texture, or a small region moving over a plain scene;
* ``noise``: per-pixel uniform colour noise (TV static);
* ``texture``: a smooth random colour texture drifting across the frame;
* ``photo``: a slow pan across a real photograph (matplotlib's bundled ``grace_hopper.jpg``: a portrait);
* ``blank``: a uniform frame of one random colour (a covered lens).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from aegis.errors import CheckpointError, ConfigError

__all__ = ["UNFAMILIAR_KINDS", "unfamiliar_footage", "render_unfamiliar", "measure_abstention",
           "alert_trust_report", "format_report", "compare_ood_scores"]

UNFAMILIAR_KINDS = ("flow", "motion", "noise", "texture", "photo", "blank")


def render_unfamiliar(kind: str, rng: np.random.Generator, size: int = 64, frames: int = 32) -> np.ndarray:
    """One (T, H, W, 3) uint8 clip of ``kind`` ('noise', 'texture', 'photo' or 'blank'; see the module doc)."""
    if kind == "noise":
        return rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    if kind == "blank":
        return np.broadcast_to(rng.integers(0, 256, 3).astype(np.uint8), (frames, size, size, 3)).copy()
    from PIL import Image

    if kind == "texture":
        cells = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
        big = np.asarray(Image.fromarray(cells).resize((4 * size, 4 * size), Image.BICUBIC))  # (4S, 4S, 3)
        velocity = rng.uniform(-1.5, 1.5, 2)
        starts = [np.clip(np.round(1.5 * size + velocity * t).astype(int), 0, 2 * size) for t in range(frames)]
        return np.stack([big[y:y + size, x:x + size] for x, y in starts])
    if kind == "photo":
        import matplotlib.cbook

        photo = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
        width, height = photo.size
        window = int(rng.uniform(0.4, 0.8) * min(width, height))
        x0, y0 = rng.uniform(0, width - window), rng.uniform(0, height - window)
        velocity = rng.uniform(-1.5, 1.5, 2) * window / size  # about one output pixel per frame
        out = []
        for t in range(frames):
            x = float(np.clip(x0 + velocity[0] * t, 0, width - window))
            y = float(np.clip(y0 + velocity[1] * t, 0, height - window))
            out.append(np.asarray(photo.resize((size, size), Image.BILINEAR, box=(x, y, x + window, y + window))))
        return np.stack(out)
    raise ConfigError(f"render_unfamiliar: kind={kind!r}; expected one of noise, texture, photo, blank.")


def unfamiliar_footage(footage_root: str, kind: str, num_clips: int = 60, seed: int = 0, size: int = 64,
                       frames: int = 32, fps: float = 8.0) -> dict:
    """The dataset config of ``num_clips`` videos of ``kind`` (one of :data:`UNFAMILIAR_KINDS`), written under
    ``footage_root/kind`` on first use (the same files on every run: seeded per clip)."""
    from aegis_plugins.data.video_io import write_video

    if kind not in UNFAMILIAR_KINDS:
        raise ConfigError(f"unfamiliar footage kind={kind!r}; expected one of {', '.join(UNFAMILIAR_KINDS)}.")
    root = Path(footage_root) / kind
    if kind in ("flow", "motion"):
        return dict(type="SyntheticDisasterDataset", data_root=str(root), split="all", scenes=kind,
                    num_videos=num_clips, seed=seed, size=size, frames=frames, fps=fps)
    ann_file = root / f"clips_{num_clips}_seed{seed}.json"
    if not ann_file.is_file():
        entries = []
        for i in range(num_clips):
            name = f"videos/{kind}_{seed}_{i:04d}.mp4"
            write_video(str(root / name), render_unfamiliar(kind, np.random.default_rng([seed, i]), size, frames),
                        fps=fps)
            entries.append(dict(video_path=name, caption=f"no disaster: {kind} footage", class_name=kind))
        from aegis.engine.checkpoint import atomic_write_text

        atomic_write_text(json.dumps(entries, indent=1), ann_file)
    return dict(type="VideoCaptionDataset", ann_file=str(ann_file))


def measure_abstention(model, trust, batches: Iterable, num_beams: int | None = None,
                       score_accuracy: bool = False) -> dict:
    """Judge every clip of ``batches`` ((inputs, data_samples) pairs) and count: ``clips``, ``unrecognised`` and
    ``unsure`` (withheld for each reason; an unrecognised clip is not also counted unsure), ``abstention`` (share
    withheld), ``confidence_alone`` (share the confidence threshold alone would withhold), ``median_ood``, and with
    ``score_accuracy`` the disaster-type and dynamics accuracy of all alerts and of the kept ones (None if none)."""
    from .alert_trust import judge_clips

    verdicts, samples = [], []
    for inputs, batch_samples in batches:
        verdicts += judge_clips(model, inputs, trust, num_beams)
        samples += list(batch_samples)
    if not verdicts:
        raise ConfigError("measure_abstention: no clips to judge.")
    row = dict(clips=len(verdicts), unrecognised=sum(v.reason == "unrecognised" for v in verdicts),
               unsure=sum(v.reason == "unsure" for v in verdicts),
               abstention=sum(not v.raised for v in verdicts) / len(verdicts),
               confidence_alone=sum(v.confidence < trust.confidence_threshold for v in verdicts) / len(verdicts),
               median_ood=float(np.median([v.ood_score for v in verdicts])))
    if score_accuracy:
        kept = [i for i, v in enumerate(verdicts) if v.raised]
        for name, chosen in (("all", range(len(verdicts))), ("kept", kept)):
            row[name] = _accuracy([samples[i] for i in chosen], [verdicts[i].caption for i in chosen])
    return row


def _accuracy(samples: Sequence[dict], captions: Sequence[str]) -> dict | None:
    from aegis_plugins.metrics.caption import DisasterAccuracyMetric

    if not samples:
        return None
    metric = DisasterAccuracyMetric()
    metric.process(None, [dict(s, pred_caption=c) for s, c in zip(samples, captions)])
    return metric.compute_metrics(metric.results)


def alert_trust_report(experiment: str, checkpoint: str | None = None,
                       footage_root: str = "data/alert_trust_footage", num_clips: int = 60,
                       kinds: Sequence[str] = UNFAMILIAR_KINDS, num_beams: int | None = None,
                       cfg_options: dict | None = None, print_fn: Callable = print,
                       compare_scores: bool = False) -> dict[str, dict]:
    """Measure abstention on the in-distribution val and test splits and on ``num_clips`` clips of each unfamiliar
    ``kind``, with ``checkpoint``'s alert calibration; print the table (:func:`format_report`) and return the rows
    by name. With ``compare_scores`` also print :func:`compare_ood_scores` on the same footage."""
    from .alert_trust import evaluation_batches, load_alert_trust, trust_file_for
    from .captioner_inference import latest_checkpoint, load_captioner

    model, cfg = load_captioner(experiment, checkpoint, cfg_options)
    checkpoint = checkpoint or latest_checkpoint(cfg.work_dir)
    trust = load_alert_trust(checkpoint)
    if trust is None:
        raise CheckpointError(f"{trust_file_for(checkpoint)} not found: calibrate first, python "
                              f"tools/calibrate_alerts.py --experiment {experiment} --checkpoint {checkpoint}")
    rows = {}
    for split in ("val", "test"):
        rows[f"{split} split"] = measure_abstention(model, trust, evaluation_batches(cfg, split, with_samples=True),
                                                    num_beams, score_accuracy=True)
    for kind in kinds:
        dataset = unfamiliar_footage(footage_root, kind, num_clips)
        rows[kind] = measure_abstention(model, trust, evaluation_batches(cfg, "test", with_samples=True,
                                                                         dataset=dataset), num_beams)
    print_fn(format_report(rows, trust, checkpoint))
    if compare_scores:
        footage = {kind: unfamiliar_footage(footage_root, kind, num_clips) for kind in kinds}
        print_fn(compare_ood_scores(model, cfg, footage, k=trust.k,
                                    max_reference=int(trust.info.get("max_reference", 1024))))
    return rows


def format_report(rows: dict[str, dict], trust, checkpoint: str) -> str:
    """The rows of :func:`alert_trust_report` as a Markdown table, headed by the thresholds in use."""
    lines = [f"alert calibration of {checkpoint}: OOD score <= {trust.ood_threshold:.3f} and confidence >= "
             f"{trust.confidence_threshold:.3f} (quantiles {trust.info.get('ood_quantile')} / "
             f"{trust.info.get('confidence_quantile')} of {trust.info.get('num_calibration')} "
             f"{trust.info.get('calibration_split', 'val')} clips)", "",
             "| footage | clips | withheld: unrecognised | withheld: unsure | abstention | confidence alone would "
             "withhold | median OOD score | type acc. all -> kept | dynamics acc. all -> kept |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for name, row in rows.items():
        accuracy = ["-", "-"]
        if "all" in row:
            accuracy = [f"{_fmt(row['all'], key)} -> {_fmt(row['kept'], key)}" for key in ("type_acc", "dynamics_acc")]
        lines.append(f"| {name} | {row['clips']} | {row['unrecognised']} | {row['unsure']} | "
                     f"{row['abstention']:.0%} | {row['confidence_alone']:.0%} | {row['median_ood']:.3f} | "
                     f"{accuracy[0]} | {accuracy[1]} |")
    return "\n".join(lines)


def _fmt(metrics: dict | None, key: str) -> str:
    return "n/a" if metrics is None or key not in metrics else f"{metrics[key]:.2f}"


def compare_ood_scores(model, cfg, footage: dict[str, dict], k: int = 5, quantile: float = 0.95,
                       max_reference: int = 1024) -> str:
    """The OOD scores this module could use, side by side, as a Markdown table: k-NN distance (the one in use) and
    a Mahalanobis distance with Ledoit-Wolf shrinkage of the covariance, on mean-pooled or (mean, std)-pooled
    encoder tokens, each fitted on the train split with its threshold at the ``quantile`` of the val split's
    scores. Per score: the abstention on the test split and on each ``footage`` kind (dataset configs), and the
    margin, the smallest over kinds of (5th percentile of the kind's scores) / threshold: above 1 the kind is
    separated, and the larger the margin the more room for footage a little closer to the training data."""
    import torch

    from .alert_trust import clip_features, evaluation_batches

    def features(batches):
        return torch.cat([clip_features(model, x) for x in batches])  # (n, 2 Dv)

    sets = {"train": features(evaluation_batches(cfg, "train", max_reference)),
            "val": features(evaluation_batches(cfg, "val")), "test": features(evaluation_batches(cfg, "test"))}
    for kind, dataset in footage.items():
        sets[kind] = features(evaluation_batches(cfg, "test", dataset=dataset))
    width = sets["train"].shape[1] // 2
    lines = [f"\nOOD scores compared (fitted on the train split, threshold = the {quantile:g} quantile of the val "
             "split's; margin = min over kinds of the kind's 5th-percentile score / threshold):", "",
             f"| OOD score | pooling | test abstention | {' | '.join(footage)} | margin |",
             "| --- | --- | ---: | " + " | ".join("---:" for _ in footage) + " | ---: |"]
    for pooling, dims in (("mean", slice(0, width)), ("mean, std", slice(None))):
        for name, fit in ((f"k-NN (k={k})", lambda ref: _knn_score(ref, k)), ("Mahalanobis (LW)", _mahalanobis)):
            score = fit(sets["train"][:, dims])
            threshold = float(torch.quantile(score(sets["val"][:, dims]), quantile))
            scored = {name_: score(x[:, dims]) for name_, x in sets.items() if name_ not in ("train", "val")}
            margin = min(float(torch.quantile(scored[kind], 0.05)) / threshold for kind in footage)
            rates = " | ".join(f"{float((scored[kind] > threshold).float().mean()):.0%}" for kind in footage)
            lines.append(f"| {name} | {pooling} | {float((scored['test'] > threshold).float().mean()):.0%} | "
                         f"{rates} | {margin:.2f} |")
    return "\n".join(lines)


def _knn_score(reference, k: int):
    """The score in use: mean distance to the k nearest standardised reference features, over sqrt(F)."""
    import torch

    mean, std = reference.mean(0), reference.std(0).clamp_min(1e-6)
    z_ref = (reference - mean) / std
    return lambda x: torch.cdist((x - mean) / std, z_ref).topk(k, dim=1, largest=False).values.mean(1) / (
        reference.shape[1] ** 0.5)


def _mahalanobis(reference):
    """Mahalanobis distance to the reference mean under a Ledoit-Wolf shrunk covariance (shrunk toward a scaled
    identity; Ledoit & Wolf, 2004, "A well-conditioned estimator for large-dimensional covariance matrices")."""
    import torch

    n, width = reference.shape
    mean = reference.mean(0)
    centred = (reference - mean).double()
    sample = centred.T @ centred / n  # (F, F)
    target = torch.trace(sample) / width * torch.eye(width, dtype=torch.float64)
    spread = sum(float(((row[:, None] * row[None, :] - sample) ** 2).sum()) for row in centred) / n ** 2
    shrink = min(1.0, spread / float(((sample - target) ** 2).sum()))
    precision = torch.linalg.inv((1 - shrink) * sample + shrink * target).float()
    return lambda x: (((x - mean) @ precision) * (x - mean)).sum(1).clamp_min(0).sqrt()
