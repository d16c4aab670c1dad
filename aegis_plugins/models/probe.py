"""Frozen-feature probes: does a pretrained video encoder know what it is looking at?

The protocol of V-JEPA's frozen evaluation (Bardes et al., 2024, section 5): the encoder is frozen, its features
are extracted once, and only a small classifier is trained on top. Here the classifier is a linear (multinomial
logistic regression, L-BFGS, L2 penalty) probe on standardised pooled features, and the classes are the synthetic
disaster types. What ``tools/probe.py`` calls.
"""
from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import ConcatDataset

from aegis.build import build_component
from aegis.errors import CheckpointError, ConfigError

__all__ = ["POOLINGS", "TARGETS", "probe_label", "build_frozen_encoder", "extract_features", "linear_probe_accuracy",
           "margin_ci95", "probe_encoder", "probe_pixels", "probe_datasets", "DecodedClips",
           "decode_once"]

POOLINGS = ("mean", "time")
# What the probe classifies: the disaster type (6 classes), or type x speed (12 classes), which needs the clip's
# dynamics: on the synthetic set the type alone is readable from colour, even by a random encoder.
TARGETS = ("type", "type_speed")


def probe_label(sample: Mapping, target: str) -> int:
    """The class index of one sample's ``data_samples`` dict for a probe ``target``."""
    if target == "type":
        return int(sample["label"])
    if target == "type_speed":
        if "speed" not in sample:
            raise ConfigError("probe target 'type_speed' needs a 'speed' field ('fast'/'slow') in each sample, as the "
                              "synthetic disaster set has; use target 'type' for other datasets.")
        return 2 * int(sample["label"]) + (sample["speed"] == "fast")
    raise ConfigError(f"probe target={target!r}; expected one of {', '.join(TARGETS)}.")


def build_frozen_encoder(encoder_cfg: Mapping, checkpoint: str | None = None,
                         checkpoint_key: str = "target_encoder", seed: int = 0) -> nn.Module:
    """The encoder of ``encoder_cfg``, frozen, with weights from ``checkpoint`` or a seeded random init."""
    from aegis.registry import ENCODERS

    cfg = dict(encoder_cfg)
    cfg.update(frozen=True, checkpoint=None)
    if checkpoint is not None:
        if not os.path.isfile(checkpoint):
            raise CheckpointError(f"probe: checkpoint {checkpoint!r} does not exist; train the experiment first "
                                  "or pass --checkpoint.")
        cfg.update(checkpoint=checkpoint, checkpoint_key=checkpoint_key)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build_component(cfg, ENCODERS, path="model.encoder").eval()


@torch.no_grad()
def extract_features(encoder: nn.Module | None, dataset, batch_size: int = 16, pooling: str = "mean",
                     repeats: int = 1, target: str = "type") -> tuple[Tensor, Tensor]:
    """Pooled features (M, F) and labels (M,) of every clip of ``dataset`` (``repeats`` passes, M = repeats * len).

    ``pooling="mean"`` averages all N tokens (F = D); ``"time"`` averages over space per time step and
    concatenates the T' steps (F = T' * D), which keeps the clip's dynamics for a linear probe. ``encoder=None``
    gives the raw pixels instead (F = C * T * H * W): the no-encoder control, what a linear probe gets for free.
    """
    if pooling not in POOLINGS:
        raise ConfigError(f"probe pooling={pooling!r}; expected one of {', '.join(POOLINGS)}.")
    from aegis_plugins.data.collate import video_collate

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0,
                                         collate_fn=video_collate)
    feats, labels = [], []
    for _ in range(repeats):
        for batch in loader:
            if encoder is None:
                pooled = batch["inputs"].flatten(1)  # (B, C*T*H*W)
            elif pooling == "mean":
                pooled = encoder(batch["inputs"]).mean(dim=1)  # (B, N, D) -> (B, D)
            else:
                tokens = encoder(batch["inputs"])  # (B, N, D)
                t_grid = encoder.grid_size[0]
                pooled = tokens.view(tokens.shape[0], t_grid, -1, tokens.shape[-1]).mean(dim=2).flatten(1)  # (B, T'D)
            feats.append(pooled.float())
            labels.append(torch.tensor([probe_label(s, target) for s in batch["data_samples"]]))
    return torch.cat(feats), torch.cat(labels)


def linear_probe_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor,
                          weight_decay: float = 1e-3, max_iter: int = 200) -> float:
    """Test accuracy of an L2-regularised multinomial logistic regression fitted (L-BFGS) on standardised features."""
    mean, std = train_x.mean(0, keepdim=True), train_x.std(0, keepdim=True).clamp_min(1e-6)
    xs, xt = (train_x - mean) / std, (test_x - mean) / std
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    linear = nn.Linear(xs.shape[1], num_classes)
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(linear.parameters(), lr=1.0, max_iter=max_iter, history_size=20,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(linear(xs), train_y) + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        return (linear(xt).argmax(1) == test_y).float().mean().item()


def margin_ci95(accuracy_a: float, accuracy_b: float, num_clips: int) -> float:
    """Half-width of a 95% interval for ``accuracy_a - accuracy_b``, both measured on the same ``num_clips`` clips.

    Normal approximation for two independent proportions, 1.96 * sqrt(a(1-a)/n + b(1-b)/n): conservative for two
    encoders scored on the same clips (their errors are correlated), so a margin above it is a clear one.
    """
    if num_clips < 1:
        raise ConfigError(f"margin_ci95: num_clips={num_clips}; need at least one held-out clip.")
    variance = accuracy_a * (1 - accuracy_a) / num_clips + accuracy_b * (1 - accuracy_b) / num_clips
    return 1.96 * math.sqrt(variance)


def _fit_and_score(encoder: nn.Module | None, train_set, test_set, pooling: str, weight_decay: float,
                   batch_size: int, train_repeats: int, seed: int, target: str) -> float:
    """Extract features (``encoder=None``: raw pixels) with a seeded RNG, fit the linear probe, score it."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        train_x, train_y = extract_features(encoder, train_set, batch_size, pooling, train_repeats, target)
        test_x, test_y = extract_features(encoder, test_set, batch_size, pooling, target=target)
    return linear_probe_accuracy(train_x, train_y, test_x, test_y, weight_decay)


def probe_pixels(train_set, test_set, weight_decay: float = 1e-3, batch_size: int = 16, train_repeats: int = 1,
                 seed: int = 0, target: str = "type") -> float:
    """Linear-probe test accuracy on raw pixels (no encoder): the floor any useful encoder has to clear."""
    return _fit_and_score(None, train_set, test_set, "mean", weight_decay, batch_size, train_repeats, seed, target)


def probe_encoder(encoder_cfg: Mapping, train_set, test_set, checkpoint: str | None = None,
                  checkpoint_key: str = "target_encoder", pooling: str = "mean", weight_decay: float = 1e-3,
                  batch_size: int = 16, train_repeats: int = 1, seed: int = 0, target: str = "type") -> float:
    """Linear-probe test accuracy of the frozen encoder (pretrained from ``checkpoint``, or random init with
    ``seed``)."""
    encoder = build_frozen_encoder(encoder_cfg, checkpoint, checkpoint_key, seed)
    return _fit_and_score(encoder, train_set, test_set, pooling, weight_decay, batch_size, train_repeats, seed,
                          target)


class DecodedClips(torch.utils.data.Dataset):
    """Every sample of a deterministic (evaluation-pipeline) dataset, decoded once and kept in memory.

    The probe reads the same clips for every encoder and both targets (about 14 passes); decoding them once makes
    those passes compute only. ``classes`` is carried over from the wrapped dataset (or its first part). On a
    terminal a live bar counts the clips decoded (removed when done; nothing elsewhere).
    """

    def __init__(self, dataset) -> None:
        from aegis.engine.progress import track

        self.samples = [dataset[i] for i in track(range(len(dataset)), "decoding clips", unit="clips",
                                                  transient=True)]
        parts = getattr(dataset, "datasets", [dataset])
        self.classes = getattr(dataset, "classes", None) or getattr(parts[0], "classes", None)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        return self.samples[index]


def decode_once(dataset, max_bytes: int = 2 << 30):
    """``DecodedClips(dataset)`` when its clips fit in ``max_bytes`` (judged by the first clip), else ``dataset``."""
    if len(dataset) == 0:
        return dataset
    first = dataset[0]["inputs"]
    if first.element_size() * first.numel() * len(dataset) > max_bytes:
        return dataset
    return DecodedClips(dataset)


def probe_datasets(dataset_cfg: Mapping, train_split: str = "train", test_splits: Sequence[str] = ("val", "test"),
                   train_augment: bool = False):
    """(train, test) datasets built from the experiment's dataset config with other splits: the test set joins
    ``test_splits`` (held out from pretraining; val + test doubles the clips an accuracy rests on). Evaluation
    pipelines (centre crop) unless ``train_augment`` keeps the training pipeline's random crops for the train set."""
    from aegis.registry import DATASETS

    if isinstance(test_splits, str):
        test_splits = (test_splits,)
    if train_split in test_splits:
        raise ConfigError(f"probe: the train split {train_split!r} is also a test split {list(test_splits)}; the probe "
                          "must be scored on clips it was not fitted on.")

    def one(split: str, test_mode: bool):
        cfg = copy.deepcopy(dict(dataset_cfg))
        if "split" not in cfg and cfg.get("type") != "SyntheticDisasterDataset":
            raise ConfigError(f"probe: the dataset {cfg.get('type')!r} has no 'split'; the probe needs a dataset "
                              "with train/val/test splits such as SyntheticDisasterDataset.")
        cfg.update(split=split, test_mode=test_mode)
        return build_component(cfg, DATASETS, path=f"probe.dataset[{split}]")

    tests = [one(split, True) for split in test_splits]
    return one(train_split, not train_augment), (tests[0] if len(tests) == 1 else ConcatDataset(tests))
