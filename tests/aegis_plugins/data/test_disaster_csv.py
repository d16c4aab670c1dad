"""The from-scratch dataset plugin of docs/data.md: registered, named by an experiment fragment, follows the
contract."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from aegis.build import validate
from aegis.errors import DataError

FRAGMENT = Path(__file__).resolve().parents[3] / "experiments" / "_base_" / "datasets" / "disaster_csv.py"


def _csv_from_synthetic(root: Path, split: str) -> Path:
    """The synthetic set's split as 'path label' lines (the recipe docs/data.md gives)."""
    entries = json.loads((root / f"{split}.json").read_text())
    path = root / f"{split}.csv"
    path.write_text("".join(f"{e['video_path']} {e['label']}\n" for e in entries))
    return path


def test_experiment_naming_the_plugin_builds_batches(tmp_path, synthetic_root):
    train_csv, val_csv = _csv_from_synthetic(synthetic_root, "train"), _csv_from_synthetic(synthetic_root, "val")
    experiment = tmp_path / "csv_experiment.py"
    experiment.write_text(f'_base_ = ["{FRAGMENT}"]\n'
                          f'train_dataloader = dict(num_workers=0, batch_size=2, dataset=dict(csv_file="{train_csv}", '
                          f'pipeline=dict(video_length=4, img_size=16)))\n'
                          f'val_dataloader = dict(num_workers=0, dataset=dict(csv_file="{val_csv}"))\n')
    cfg = Config.fromfile(str(experiment))
    validate(cfg)  # the type resolves in DATASETS and every argument fits the constructor
    with DefaultScope.overwrite_default_scope("aegis"):
        loader = Runner.build_dataloader(cfg.train_dataloader)
    batch = next(iter(loader))
    assert batch["inputs"].shape == (2, 3, 4, 16, 16) and batch["inputs"].dtype == torch.float32
    sample = batch["data_samples"][0]
    assert sample["caption"] == f"A {sample['class_name']} scene"
    assert sample["class_name"] == cfg.classes[sample["label"]]


def test_bad_lines_name_the_line(tmp_path):
    from aegis_plugins.data.disaster_csv import DisasterCSVDataset
    bad = tmp_path / "bad.csv"
    bad.write_text("a.mp4 0\nb.mp4 flood\n")
    with pytest.raises(DataError, match="bad.csv line 2: expected 'path label'"):
        DisasterCSVDataset(str(bad), classes=("flood",))
