"""video_collate: stacks to (B, C, T, H, W) and works as an mmengine dataloader's collate_fn."""
from __future__ import annotations

import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from aegis.errors import DataError
from aegis.registry import FUNCTIONS
from aegis_plugins.data.collate import video_collate


def test_stacks_inputs_and_lists_data_samples():
    batch = [dict(inputs=torch.full((3, 2, 4, 4), float(i)), data_samples=dict(caption=f"c{i}")) for i in range(2)]
    out = video_collate(batch)
    assert out["inputs"].shape == (2, 3, 2, 4, 4) and out["inputs"][1].eq(1).all()
    assert out["data_samples"] == [dict(caption="c0"), dict(caption="c1")]
    with pytest.raises(DataError, match="share one shape"):
        video_collate([batch[0], dict(inputs=torch.zeros(3, 3, 4, 4), data_samples={})])


def test_mmengine_dataloader_config_uses_it(synthetic_root):
    assert FUNCTIONS.get("video_collate") is video_collate
    # mmengine's Runner.build_dataloader looks collate_fn up in its root FUNCTIONS, which finds aegis's child
    # registry by the scope prefix; AegisRunner may resolve the bare name itself.
    with DefaultScope.overwrite_default_scope("aegis"):  # what default_scope="aegis" in an experiment does
        loader = _loader(synthetic_root)
    batch = next(iter(loader))
    assert batch["inputs"].shape == (4, 3, 4, 16, 16) and batch["inputs"].dtype == torch.float32
    assert len(batch["data_samples"]) == 4 and all("caption" in d for d in batch["data_samples"])


def _loader(synthetic_root):
    return Runner.build_dataloader(dict(
        batch_size=4, num_workers=0, sampler=dict(type="DefaultSampler", shuffle=False),
        collate_fn=dict(type="aegis.video_collate"),
        dataset=dict(type="SyntheticDisasterDataset", data_root=str(synthetic_root), split="all", num_videos=12,
                     size=32, frames=16, pipeline=dict(type="VideoClipPipeline", video_length=4, img_size=16))))
