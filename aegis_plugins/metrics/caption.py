"""Caption metrics on a held-out split: BLEU-4 (Papineni et al., 2002) and CIDEr (Vedantam et al., 2015, "CIDEr:
Consensus-based Image Description Evaluation") from the COCO caption toolkit (pycocoevalcap), corpus BLEU from
sacrebleu (Post, 2018), and two disaster-response task metrics: does the generated caption name the right event
(type accuracy) and the right speed (dynamics accuracy)?

Both metrics read the per-sample dicts of ``VideoCaptioner(mode="predict")``: ``pred_caption`` plus the references
``caption``/``captions`` and the sample's ``class_name``, ``speed`` and ``direction`` when the dataset provides them.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from mmengine.evaluator import BaseMetric

from aegis.errors import ConfigError, DataError

__all__ = ["CaptionMetric", "DisasterAccuracyMetric", "normalize_caption", "classify_caption", "speed_of",
           "DEFAULT_TYPE_KEYWORDS", "DEFAULT_SPEED_KEYWORDS"]

_WORD = re.compile(r"[a-z0-9]+")

# Words that name each event of the synthetic disaster set (plus common synonyms); matched as whole words.
DEFAULT_TYPE_KEYWORDS = {
    "flood": ["flood", "flooding", "water", "flooded"],
    "wildfire": ["fire", "wildfire", "flames", "burning", "blaze"],
    "smoke": ["smoke", "plume"],
    "earthquake": ["earthquake", "shaking", "shakes", "trembling", "tremor", "quake"],
    "landslide": ["landslide", "soil", "hillside", "downhill", "mudslide", "slope"],
    "calm": ["calm", "quiet", "no disaster", "peaceful"],
}
# Words that name the speed of the event (the trend's rate); a caption naming words of both groups has no speed.
DEFAULT_SPEED_KEYWORDS = {
    "fast": ["rapidly", "quickly", "violently", "fast", "rapid", "swiftly"],
    "slow": ["slowly", "gently", "gradually", "slow"],
}
_DIRECTIONS = ("east", "west", "north", "south")


def normalize_caption(text: str) -> str:
    """Lower-case words joined by single spaces, punctuation dropped (the tokenisation both scores use)."""
    return " ".join(_WORD.findall(str(text).lower()))


def _hits(words: list[str], keywords: Sequence[str]) -> list[int]:
    joined = " " + " ".join(words) + " "
    positions = []
    for keyword in keywords:
        index = joined.find(" " + keyword + " ")
        if index >= 0:
            positions.append(joined[:index].count(" "))
    return positions


def classify_caption(text: str, keywords: Mapping[str, Sequence[str]]) -> str | None:
    """The class whose keywords occur most often in ``text`` (ties: the one named first); None if none occurs."""
    words = normalize_caption(text).split()
    best, best_key = None, None
    for name, words_of_class in keywords.items():
        positions = _hits(words, words_of_class)
        if positions:
            key = (-len(positions), min(positions))
            if best_key is None or key < best_key:
                best, best_key = name, key
    return best


def speed_of(text: str, keywords: Mapping[str, Sequence[str]]) -> str | None:
    """The one speed group named in ``text``; None when it names none or several."""
    words = normalize_caption(text).split()
    named = [name for name, group in keywords.items() if _hits(words, group)]
    return named[0] if len(named) == 1 else None


def _references(sample: Mapping, index: int) -> list[str]:
    refs = list(sample.get("captions") or ([sample["caption"]] if sample.get("caption") else []))
    if not refs:
        raise DataError(f"caption metric: prediction {index} has no reference 'caption'/'captions' "
                        f"(keys: {sorted(sample)}); the dataset must pass its captions through data_samples.")
    if "pred_caption" not in sample:
        raise DataError(f"caption metric: prediction {index} has no 'pred_caption'; expected the output of "
                        "VideoCaptioner(mode='predict').")
    return [str(r) for r in refs]


class CaptionMetric(BaseMetric):
    """BLEU-4 and CIDEr (pycocoevalcap) and corpus BLEU (sacrebleu, 0-100) of generated captions against every
    reference caption of each video. Captions are lower-cased with punctuation removed before scoring."""

    default_prefix = "caption"

    def __init__(self, collect_device: str = "cpu", prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch, data_samples: Sequence[Mapping]) -> None:
        for sample in data_samples:
            refs = _references(sample, len(self.results))
            self.results.append(dict(pred=normalize_caption(sample["pred_caption"]),
                                     refs=[normalize_caption(r) for r in refs]))

    def compute_metrics(self, results: list) -> dict:
        import sacrebleu
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider

        if not results:
            raise DataError("CaptionMetric: no predictions to score (is the evaluation split empty?).")
        gts = {i: r["refs"] for i, r in enumerate(results)}
        res = {i: [r["pred"] or "<empty>"] for i, r in enumerate(results)}
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        cider, _ = Cider().compute_score(gts, res)
        width = max(len(r["refs"]) for r in results)
        ref_streams = [[r["refs"][min(k, len(r["refs"]) - 1)] for r in results] for k in range(width)]
        corpus = sacrebleu.corpus_bleu([r["pred"] for r in results], ref_streams, tokenize="none")
        return dict(bleu4=float(bleu[3]), cider=float(cider), sacrebleu=float(corpus.score))


class DisasterAccuracyMetric(BaseMetric):
    """Task accuracy of generated alerts: ``type_acc`` is the share of videos whose caption names their event (the
    keyword class of the caption equals the sample's ``class_name``), ``dynamics_acc`` the share whose caption names
    the right speed (``fast``/``slow`` from the sample's ``speed`` or, without it, from its reference caption), and
    ``direction_acc`` the share, among videos with a direction, whose caption names it. Values in [0, 1]."""

    default_prefix = "disaster"

    def __init__(self, type_keywords: dict[str, list[str]] | None = None,
                 speed_keywords: dict[str, list[str]] | None = None, collect_device: str = "cpu",
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.type_keywords = {k: [normalize_caption(w) for w in v]
                              for k, v in (type_keywords or DEFAULT_TYPE_KEYWORDS).items()}
        self.speed_keywords = {k: [normalize_caption(w) for w in v]
                               for k, v in (speed_keywords or DEFAULT_SPEED_KEYWORDS).items()}
        if not self.type_keywords or any(not v for v in self.type_keywords.values()):
            raise ConfigError("DisasterAccuracyMetric.type_keywords: every class needs at least one keyword.")

    def process(self, data_batch, data_samples: Sequence[Mapping]) -> None:
        for sample in data_samples:
            index = len(self.results)
            refs = _references(sample, index)
            class_name = sample.get("class_name")
            if class_name is None:
                raise DataError(f"DisasterAccuracyMetric: prediction {index} has no 'class_name'; the dataset must "
                                "pass it through data_samples.")
            if class_name not in self.type_keywords:
                raise ConfigError(f"DisasterAccuracyMetric: class {class_name!r} has no keywords; type_keywords has "
                                  f"{sorted(self.type_keywords)}. Add it to val_evaluator.type_keywords.")
            pred = sample["pred_caption"]
            speed = sample.get("speed") or speed_of(refs[0], self.speed_keywords)
            direction = sample.get("direction")
            pred_words = normalize_caption(pred).split()
            self.results.append(dict(
                type_ok=classify_caption(pred, self.type_keywords) == class_name,
                speed_ok=None if speed is None else speed_of(pred, self.speed_keywords) == speed,
                direction_ok=None if not direction else (direction in pred_words and not any(
                    d in pred_words for d in _DIRECTIONS if d != direction))))

    def compute_metrics(self, results: list) -> dict:
        if not results:
            raise DataError("DisasterAccuracyMetric: no predictions to score (is the evaluation split empty?).")
        out = dict(type_acc=sum(r["type_ok"] for r in results) / len(results))
        for key, name in (("speed_ok", "dynamics_acc"), ("direction_ok", "direction_acc")):
            scored = [r[key] for r in results if r[key] is not None]
            if scored:
                out[name] = sum(scored) / len(scored)
        return out
