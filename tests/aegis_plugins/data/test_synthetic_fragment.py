"""experiments/_base_/datasets/synthetic_disaster.py: validates, and a child overrides clip length, size and split."""
from __future__ import annotations

from pathlib import Path

from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from aegis.build import validate
from aegis.config import load_experiment

FRAGMENT = Path(__file__).resolve().parents[3] / "experiments" / "_base_" / "datasets" / "synthetic_disaster.py"


def test_child_overrides_single_values_and_batches_load(tmp_path, synthetic_root):
    child = tmp_path / "child.py"
    child.write_text(
        f'_base_ = ["{FRAGMENT}"]\n'
        f'_data = dict(data_root="{synthetic_root}", num_videos=12, size=32, frames=16)\n'
        'train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,\n'
        '                        dataset=dict(**_data, pipeline=dict(video_length=4, img_size=16)))\n'
        'val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,\n'
        '                      dataset=dict(**_data, split="test"))\n')
    cfg = load_experiment(child)  # as tools/run.py loads it: ${...} references resolved
    validate(cfg)
    assert cfg.train_dataloader.dataset.pipeline.frame_sample_rate == 2  # kept from the fragment
    assert cfg.val_dataloader.dataset.split == "test" and cfg.test_dataloader.dataset.split == "test"
    with DefaultScope.overwrite_default_scope("aegis"):
        train = Runner.build_dataloader(cfg.train_dataloader)
        val = Runner.build_dataloader(cfg.val_dataloader)
    assert next(iter(train))["inputs"].shape == (2, 3, 4, 16, 16)
    assert next(iter(val))["inputs"].shape == (2, 3, 16, 64, 64)  # the fragment's clip: 16 frames at 64x64
    assert val.dataset.test_mode and not train.dataset.test_mode
