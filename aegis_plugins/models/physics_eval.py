"""Score a V-JEPA checkpoint on violation-of-expectation pairs beside its two controls (``tools/eval_physics.py``).

The three scorers see the same decoded pair videos (the experiment's ``val_dataloader`` dataset, whole videos):
- ``pretrained``: the checkpoint's latent surprise (``aegis_plugins.models.surprise.latent_surprise``);
- ``random_init``: the same architecture at random initialisation (one or more seeds), the latent control;
- ``pixels``: linear extrapolation of pixels over the same windows (``pixel_surprise``), the pixel control.
Each gives per-video records (kind, pair, possible, surprise max/mean) and a :func:`voe_report`. A sweep of such
runs is tabulated by :func:`study_rows` and :func:`format_study_table` (``tools/physics_study.py``).
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

import torch

from aegis.errors import ConfigError
from aegis_plugins.metrics.physics import voe_report

from .surprise import clip_scores, latent_surprise, load_pretrainer, pixel_surprise

__all__ = ["pair_dataset", "score_videos", "evaluate_physics", "format_physics_table", "voe_by_kind", "study_rows",
           "format_study_table"]


def pair_dataset(cfg, split: str = "pairs"):
    """The experiment's VoE pair videos, decoded once: its ``val_dataloader`` dataset with ``split`` (whole videos)."""
    from aegis.build import build_component
    from aegis.registry import DATASETS

    from .probe import decode_once

    loader = cfg.get("val_dataloader")
    if not loader or "dataset" not in loader:
        raise ConfigError("eval_physics: the experiment has no val_dataloader.dataset with the VoE pairs; see "
                          "experiments/vjepa_pretrain_tiny_physics.py.")
    dataset_cfg = copy.deepcopy(dict(loader["dataset"]))
    if "split" in dataset_cfg:
        dataset_cfg["split"] = split
    return decode_once(build_component(dataset_cfg, DATASETS, "val_dataloader.dataset"))


def score_videos(dataset, curve_fn: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 16) -> list[dict]:
    """Per-video records ``{class_name, pair, possible, surprise_max, surprise_mean}``; ``curve_fn`` maps videos
    (B, C, T, H, W) to surprise curves (B, W)."""
    records = []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        videos = torch.stack([item["inputs"] for item in items]).float()  # (B, C, T, H, W)
        scores = clip_scores(curve_fn(videos))
        for item, top, mean in zip(items, scores["max"], scores["mean"]):
            sample = item["data_samples"]
            records.append(dict(class_name=sample["class_name"], pair=sample["pair"], possible=sample["possible"],
                                surprise_max=float(top), surprise_mean=float(mean)))
    return records


def evaluate_physics(experiment: str, checkpoint: str | None = None, random_seeds: Sequence[int] = (0,),
                     score: str = "max", num_bootstrap: int = 1000, cfg_options: Mapping | None = None,
                     dataset=None) -> dict[str, dict[str, float]]:
    """``{"pretrained": report, "random_init": report, "pixels": report}`` (:func:`voe_report` dicts); the random
    control pools the records of every seed in ``random_seeds`` (its pairs counted once per seed)."""
    from mmengine.runner import set_random_seed

    model, cfg = load_pretrainer(experiment, checkpoint, cfg_options)
    dataset = dataset if dataset is not None else pair_dataset(cfg)
    steps, stride = model.surprise_future_steps, model.surprise_stride
    reports = dict(pretrained=voe_report(score_videos(dataset, lambda v: latent_surprise(model, v, steps, stride)),
                                         score, num_bootstrap))
    random_records = []
    for seed in random_seeds:
        set_random_seed(int(seed))
        control, _ = load_pretrainer(experiment, "random", cfg_options)
        records = score_videos(dataset, lambda v: latent_surprise(control, v, steps, stride))
        random_records += [dict(r, pair=int(seed) * 1_000_000 + int(r["pair"])) for r in records]  # pairs per seed
    reports["random_init"] = voe_report(random_records, score, num_bootstrap)
    window = model.encoder.grid_size[0] * model.encoder.tubelet_size
    future_frames = steps * model.encoder.tubelet_size
    reports["pixels"] = voe_report(score_videos(dataset, lambda v: pixel_surprise(v, window, future_frames, stride)),
                                   score, num_bootstrap)
    return reports


def format_physics_table(reports: Mapping[str, Mapping[str, float]], metric: str = "pairwise_acc") -> str:
    """A text table: one row per violation kind (and ``all``), one column per scorer, ``value [low, high]``."""
    scorers = list(reports)
    kinds = sorted({key.split("/")[0] for report in reports.values() for key in report} - {"all"}) + ["all"]
    width = max(len(k) for k in kinds) + 2
    lines = [f"{'kind':<{width}}" + "".join(f"{name:>22}" for name in scorers)]
    for kind in kinds:
        cells = []
        for name in scorers:
            report = reports[name]
            value = report.get(f"{kind}/{metric}")
            low, high = report.get(f"{kind}/{metric}_low"), report.get(f"{kind}/{metric}_high")
            cells.append("-" if value is None else
                         f"{value:.2f} [{low:.2f}, {high:.2f}]" if low is not None else f"{value:.2f}")
        pairs = int(reports[scorers[0]].get(f"{kind}/num_pairs", 0))
        lines.append(f"{kind:<{width}}" + "".join(f"{c:>22}" for c in cells) + f"   ({pairs} pairs)")
    return "\n".join(lines)


def voe_by_kind(metrics: Mapping, metric: str = "pairwise_acc") -> dict[str, float]:
    """``{kind: final value}`` of ``val/voe/<kind>/<metric>`` in a run's ``result.json`` metrics."""
    out = {}
    for key, entry in metrics.items():
        parts = key.split("/")
        if len(parts) == 4 and parts[:2] == ["val", "voe"] and parts[3] == metric and entry.get("final") is not None:
            out[parts[2]] = float(entry["final"])
    return out


def study_rows(trials: Sequence, param_keys: Sequence[str], metric: str = "pairwise_acc",
               probe: Callable[[dict], float] | None = None) -> list[dict]:
    """One row per sweep trial (``aegis.sweep.report.TrialResult``), in the order of the swept values: its
    ``params``, the VoE ``metric`` per kind of every finished seed run (``voe``: a list of ``{kind: value}``), and
    ``probe(run)`` of each such run when a probe is given (``probe``: a list)."""
    rows = []
    for trial in sorted(trials, key=lambda t: [str(t.params.get(k)) for k in param_keys]):
        per_seed, probes = [], []
        for run in trial.runs:
            values = voe_by_kind((run.get("result") or {}).get("metrics", {}), metric)
            if not values:
                continue  # a failed or unfinished run has no final validation
            per_seed.append(values)
            if probe is not None:
                probes.append(probe(run))
        rows.append(dict(params=dict(trial.params), runs=len(per_seed), voe=per_seed, probe=probes))
    return rows


def format_study_table(rows: Sequence[Mapping], param_keys: Sequence[str]) -> str:
    """A markdown table of :func:`study_rows`: per kind (and ``all``) and for the probe, the mean ± 95%
    t-interval over seeds (``aegis.sweep.report.t_interval``); the last column counts the seeds."""
    from aegis.sweep.report import t_interval

    kinds = sorted({kind for row in rows for seed in row["voe"] for kind in seed} - {"all"}) + ["all"]

    def cell(values: list[float]) -> str:
        if not values:
            return "-"
        mean, half = t_interval(values)
        return f"{mean:.2f}" + (f" ± {half:.2f}" if half is not None else "")

    lines = ["| " + " | ".join([*param_keys, *kinds, "probe", "seeds"]) + " |",
             "|" + "---|" * (len(param_keys) + len(kinds) + 2)]
    for row in rows:
        cells = [str(row["params"].get(k)) for k in param_keys]
        cells += [cell([seed[k] for seed in row["voe"] if k in seed]) for k in kinds]
        cells += [cell(row["probe"]), str(row["runs"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
