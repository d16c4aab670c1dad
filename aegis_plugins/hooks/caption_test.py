"""Captioning and scoring a whole split after training: the captioner's test pass (BLIP-2 recipe, Li et al., 2023,
"BLIP-2: Bootstrapping Language-Image Pre-training with Frozen Image Encoders and Large Language Models").

:func:`evaluate_captions` captions every video of a dataloader and scores it with an evaluator;
:func:`score_test_split` does so for the runner's test split and writes ``test/*`` into ``metrics.json`` and a few
(video, reference, generated) examples into ``<work_dir>/test_examples.txt``. ``CaptionSamplesHook(test_at_end=True)``
calls it after training.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from aegis.engine.checkpoint import atomic_write_bytes

__all__ = ["evaluate_captions", "score_test_split"]


def score_test_split(runner, num_samples: int) -> dict:
    """Caption and score ``runner``'s test split with its test evaluator; log ``num_samples`` examples spread over the
    split, write them to ``<work_dir>/test_examples.txt`` and the metrics as ``test/*`` to ``metrics.json``.
    Returns the metrics."""
    from aegis.engine import write_metrics_json

    metrics, rows = evaluate_captions(runner, runner._test_dataloader, runner._test_evaluator)
    write_metrics_json(runner.work_dir, {f"test/{k}": v for k, v in metrics.items()})
    shown = rows[:: max(1, len(rows) // num_samples)][:num_samples]  # spread over the split
    lines = ["test split: " + ", ".join(f"{k}={v:.3f}" for k, v in metrics.items()),
             "(video, reference, generated) examples:"] + [
        f"  {Path(r['video']).name}\n    reference: {r['reference']}\n    generated: {r['generated']}"
        for r in shown]
    runner.logger.info("\n".join(lines))
    atomic_write_bytes(("\n".join(lines) + "\n").encode("utf-8"), Path(runner.work_dir) / "test_examples.txt")
    return metrics


def evaluate_captions(runner, dataloader, evaluator) -> tuple[dict, list[dict]]:
    """Caption every video of ``dataloader`` (a config or a loader) with ``runner.model`` and score it with
    ``evaluator`` (a config or an Evaluator). Returns the metrics and one (video, reference, generated) row per
    video."""
    model = runner.model.module if hasattr(runner.model, "module") else runner.model
    loader = runner.build_dataloader(dataloader) if isinstance(dataloader, Mapping) else dataloader
    evaluator = runner.build_evaluator(evaluator) if not hasattr(evaluator, "process") else evaluator
    evaluator.dataset_meta = getattr(loader.dataset, "metainfo", None)
    was_training = model.training
    model.eval()
    rows: list[dict] = []
    with torch.no_grad():
        for batch in loader:
            outputs = model.test_step(batch)
            evaluator.process(data_samples=outputs, data_batch=batch)
            rows += [dict(video=str(o.get("video_path", "?")), reference=str(o.get("caption", "")),
                          generated=str(o["pred_caption"]), class_name=o.get("class_name")) for o in outputs]
    model.train(was_training)
    return evaluator.evaluate(len(loader.dataset)), rows
