"""Violation-of-expectation scores: is the impossible video of a matched pair the more surprising one?

The protocol of Garrido et al. (2025, "Intuitive physics understanding emerges from self-supervised pretraining on
natural videos"): each pair shows the same scene, once physically possible and once impossible. Pairwise accuracy is
the fraction of pairs whose impossible video has the higher surprise (ties count one half); AUROC scores single
videos (impossible = positive) by thresholding surprise, over all videos of a kind. Intervals are percentile
bootstrap 95% intervals over pairs (a pair is resampled whole, so its two videos stay together).

:class:`VoEPairwiseMetric` reads the per-video dicts of ``JEPAPretrainer(mode="predict")`` on videos longer than the
model's window (``surprise_max``/``surprise_mean`` plus the dataset's ``class_name``, ``pair`` and ``possible``), so
it can be the validation metric of a pretraining run; :func:`voe_report` scores any list of such records.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from aegis.errors import ConfigError, DataError

__all__ = ["VoEPairwiseMetric", "pairwise_accuracy", "auroc", "voe_report", "pair_scores"]

SCORES = ("max", "mean")


def pairwise_accuracy(impossible: np.ndarray, possible: np.ndarray) -> float:
    """Fraction of pairs with ``impossible[i] > possible[i]``; a tie counts one half. Arrays of shape (P,)."""
    impossible, possible = np.asarray(impossible, float), np.asarray(possible, float)
    if impossible.shape != possible.shape or impossible.ndim != 1 or not len(impossible):
        raise DataError(f"pairwise accuracy: expected two equal, non-empty (P,) arrays, got {impossible.shape} "
                        f"and {possible.shape}.")
    return float(np.mean((impossible > possible) + 0.5 * (impossible == possible)))


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve of scores separating ``positive`` (impossible) from ``negative`` videos: the
    probability that a random positive scores above a random negative (Mann-Whitney U; ties count one half)."""
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    if not len(positive) or not len(negative):
        raise DataError("AUROC: needs at least one impossible and one possible video.")
    above = (positive[:, None] > negative[None, :]).mean()
    ties = (positive[:, None] == negative[None, :]).mean()
    return float(above + 0.5 * ties)


def _bootstrap(statistic, impossible: np.ndarray, possible: np.ndarray, num_samples: int,
               rng: np.random.Generator) -> tuple[float, float]:
    """Percentile 95% interval of ``statistic(impossible[idx], possible[idx])`` over pairs resampled whole."""
    count = len(impossible)
    draws = rng.integers(0, count, size=(num_samples, count))  # (S, P)
    values = np.array([statistic(impossible[idx], possible[idx]) for idx in draws])
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def pair_scores(records: Sequence[Mapping], score: str = "max") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{kind: (impossible (P,), possible (P,))}`` clip scores of complete pairs, from records with ``class_name``
    (the kind), ``pair``, ``possible`` and ``surprise_<score>``. An incomplete pair is an error naming it."""
    if score not in SCORES:
        raise ConfigError(f"VoE score={score!r}; expected one of {', '.join(SCORES)} (the curve's max or mean).")
    key = f"surprise_{score}"
    by_pair: dict[tuple[str, int], dict[bool, float]] = defaultdict(dict)
    for index, record in enumerate(records):
        missing = [k for k in ("class_name", "pair", "possible", key) if k not in record]
        if missing:
            raise DataError(f"VoE record {index}: missing {', '.join(missing)}; each video needs its kind "
                            "(class_name), pair id, possible flag and surprise score.")
        by_pair[(str(record["class_name"]), int(record["pair"]))][bool(record["possible"])] = float(record[key])
    incomplete = [f"{kind} pair {pair}" for (kind, pair), sides in by_pair.items() if len(sides) != 2]
    if incomplete:
        raise DataError(f"VoE: {len(incomplete)} pair(s) lack their possible or impossible video "
                        f"({', '.join(incomplete[:5])}); score whole pairs.")
    out: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for (kind, _), sides in sorted(by_pair.items()):
        out[kind][0].append(sides[False])
        out[kind][1].append(sides[True])
    return {kind: (np.array(imp), np.array(pos)) for kind, (imp, pos) in out.items()}


def voe_report(records: Sequence[Mapping], score: str = "max", num_bootstrap: int = 1000,
               seed: int = 0) -> dict[str, float]:
    """Pairwise accuracy and AUROC with bootstrap 95% intervals, per kind and over all pairs (``all``).

    Keys: ``<kind>/pairwise_acc``, ``<kind>/pairwise_acc_low``, ``<kind>/pairwise_acc_high``, ``<kind>/auroc``
    (and ``_low``/``_high``), ``<kind>/num_pairs``; the same under ``all/``.
    """
    kinds = pair_scores(records, score)
    if not kinds:
        raise DataError("VoE: no pairs to score.")
    rng = np.random.default_rng(seed)
    groups = dict(kinds)
    groups["all"] = (np.concatenate([imp for imp, _ in kinds.values()]),
                     np.concatenate([pos for _, pos in kinds.values()]))
    out: dict[str, float] = {}
    for kind, (impossible, possible) in groups.items():
        out[f"{kind}/pairwise_acc"] = pairwise_accuracy(impossible, possible)
        out[f"{kind}/auroc"] = auroc(impossible, possible)
        if num_bootstrap:
            for name, statistic in (("pairwise_acc", pairwise_accuracy), ("auroc", auroc)):
                low, high = _bootstrap(statistic, impossible, possible, num_bootstrap, rng)
                out[f"{kind}/{name}_low"], out[f"{kind}/{name}_high"] = low, high
        out[f"{kind}/num_pairs"] = float(len(impossible))
    return out


class VoEPairwiseMetric(BaseMetric):
    """Pairwise accuracy and AUROC of surprise on violation-of-expectation pairs, per kind, with 95% intervals.

    ``process`` takes the model's per-video outputs (``surprise_max``/``surprise_mean``, scalars or 0-d tensors)
    and each video's ``class_name``, ``pair`` and ``possible`` from the output or from the batch's
    ``data_samples``; ``compute_metrics`` returns :func:`voe_report` under the prefix (default ``voe``), e.g.
    ``voe/all/pairwise_acc`` and ``voe/gravity/auroc_low``.
    """

    default_prefix = "voe"

    def __init__(self, score: str = "max", num_bootstrap: int = 1000, seed: int = 0, collect_device: str = "cpu",
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if score not in SCORES:
            raise ConfigError(f"VoEPairwiseMetric.score={score!r}; expected one of {', '.join(SCORES)}.")
        if num_bootstrap < 0:
            raise ConfigError(f"VoEPairwiseMetric.num_bootstrap={num_bootstrap}: expected an int >= 0.")
        self.score, self.num_bootstrap, self.seed = score, int(num_bootstrap), int(seed)

    def process(self, data_batch, data_samples: Sequence[Mapping]) -> None:
        batch_samples = (data_batch or {}).get("data_samples") or [{}] * len(data_samples)
        for output, sample in zip(data_samples, batch_samples):
            record = {k: sample[k] for k in ("class_name", "pair", "possible") if k in sample}
            record.update({k: output[k] for k in ("class_name", "pair", "possible") if k in output})
            for name in SCORES:
                key = f"surprise_{name}"
                if key not in output:
                    raise DataError(f"VoEPairwiseMetric: the model's output has no {key!r} (keys: "
                                    f"{', '.join(sorted(output))}); score videos longer than the model's window "
                                    "with JEPAPretrainer(mode='predict').")
                record[key] = float(output[key])
            self.results.append(record)

    def compute_metrics(self, results: list) -> dict:
        return voe_report(results, self.score, self.num_bootstrap, self.seed)
