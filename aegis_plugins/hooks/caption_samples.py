"""The caption-samples hook of the video captioner (BLIP-2 recipe, Li et al., 2023, "BLIP-2: Bootstrapping
Language-Image Pre-training with Frozen Image Encoders and Large Language Models", on V-JEPA tokens): a few
validation videos captioned before training and after every ``interval`` epochs, so the progression random ->
generic -> disaster-specific is visible in the log, ``samples.jsonl`` and ``examples.txt``. With ``test_at_end`` it
also scores the test split after training (``caption_test.py``).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from mmengine.hooks import Hook

from aegis.engine.checkpoint import atomic_write_bytes
from aegis.errors import ConfigError

from .caption_test import score_test_split

__all__ = ["CaptionSamplesHook"]


class CaptionSamplesHook(Hook):
    """Captions the first ``num_samples`` validation videos before training and after every ``interval`` training
    epochs, logs the (video, reference, generated) triples, appends them to ``<work_dir>/samples.jsonl`` and keeps the
    latest in ``<work_dir>/examples.txt``, so the progression random -> generic -> disaster-specific is visible.
    With ``test_at_end`` the test split is captioned and scored after training (``test/*`` in ``metrics.json``) and
    ``num_samples`` test examples are printed and written to ``<work_dir>/test_examples.txt``."""

    priority = "LOW"

    def __init__(self, num_samples: int = 6, interval: int = 1, before_training: bool = True,
                 test_at_end: bool = False) -> None:
        if num_samples < 1 or interval < 1:
            raise ConfigError(f"CaptionSamplesHook: num_samples={num_samples} and interval={interval} must be >= 1.")
        self.num_samples, self.interval, self.before_training = num_samples, interval, before_training
        self.test_at_end = test_at_end
        self._batches: list | None = None

    def after_train(self, runner) -> None:
        if self.test_at_end and getattr(runner, "_test_dataloader", None) is not None:
            score_test_split(runner, self.num_samples)

    def before_train(self, runner) -> None:
        if self.before_training:
            self.sample(runner, epoch=0)

    def after_train_epoch(self, runner) -> None:
        if (runner.epoch + 1) % self.interval == 0:
            self.sample(runner, epoch=runner.epoch + 1)

    def _val_batches(self, runner) -> list:
        """The first validation batches holding ``num_samples`` videos (read once, kept for every epoch)."""
        if self._batches is None:
            loader = getattr(runner, "_val_dataloader", None)
            self._batches = []
            if loader is None:
                return self._batches
            if isinstance(loader, Mapping):
                loader = runner.build_dataloader(loader)
                runner._val_dataloader = loader
            count = 0
            for batch in loader:
                self._batches.append(batch)
                count += len(batch["data_samples"])
                if count >= self.num_samples:
                    break
        return self._batches

    def sample(self, runner, epoch: int) -> list[dict]:
        """Caption the kept validation videos with the current model; log and write the triples."""
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        was_training = model.training
        model.eval()
        rows: list[dict] = []
        with torch.no_grad():
            for batch in self._val_batches(runner):
                for out in model.val_step(batch):
                    if len(rows) < self.num_samples:
                        rows.append(dict(video=str(out.get("video_path", "?")), reference=str(out.get("caption", "")),
                                         generated=str(out["pred_caption"])))
        model.train(was_training)
        if rows:
            self._emit(runner, epoch, rows)
        return rows

    @staticmethod
    def _emit(runner, epoch: int, rows: list[dict]) -> None:
        lines = [f"caption samples after epoch {epoch}:"] + [
            f"  {Path(s['video']).name}\n    reference: {s['reference']}\n    generated: {s['generated']}"
            for s in rows]
        runner.logger.info("\n".join(lines))
        work_dir = Path(runner.work_dir)
        with open(work_dir / "samples.jsonl", "a", encoding="utf-8") as f:
            for s in rows:
                f.write(json.dumps(dict(epoch=epoch, **s)) + "\n")
        atomic_write_bytes(("\n".join(lines) + "\n").encode("utf-8"), work_dir / "examples.txt")
