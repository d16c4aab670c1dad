"""The synthetic disaster set: real decodable H.264 files, deterministic from the seed, captions that say dynamics."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from aegis.errors import ConfigError
from aegis_plugins.data.synthetic import CLASSES, generate_dataset, render_video
from aegis_plugins.data.video_io import open_video


def _digest(root) -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = hashlib.md5(open(p, "rb").read()).hexdigest()
    return out


def test_files_decode_with_requested_size_and_length(synthetic_root):
    entries = json.load(open(synthetic_root / "captions.json"))
    assert len(entries) == 12
    for e in entries:
        assert not os.path.isabs(e["video_path"])
        for backend in ("pyav", "decord"):
            reader = open_video(str(synthetic_root / e["video_path"]), backend)
            assert (reader.num_frames, reader.height, reader.width) == (16, 32, 32)
            assert reader.get_frames([0, 15]).shape == (2, 32, 32, 3)


def test_entries_follow_the_caption_format_and_class_order(synthetic_root):
    entries = json.load(open(synthetic_root / "captions.json"))
    assert CLASSES == ("flood", "wildfire", "smoke", "earthquake", "landslide", "calm")
    assert sorted(e["label"] for e in entries) == sorted(list(range(6)) * 2)
    for e in entries:
        assert e["class_name"] == CLASSES[e["label"]]
        assert e["caption"] == e["captions"][0] and len(e["captions"]) >= 3
        assert e["dynamics"] in e["caption"]  # every caption says how fast
        assert all(e["dynamics"] in c for c in e["captions"])
        if e["direction"]:
            assert e["direction"] in e["caption"]
        assert e["params"] and all(isinstance(v, float) for v in e["params"].values())
    flood = [e for e in entries if e["class_name"] == "flood"]
    assert {e["caption"] for e in flood} == {"Water level rising rapidly", "Water level rising slowly"}
    assert any(e["caption"].startswith("Fire spreading") and e["caption"].endswith(("east", "west"))
               for e in entries)


def test_split_files_partition_the_set(synthetic_root):
    entries = json.load(open(synthetic_root / "captions.json"))
    parts = {s: json.load(open(synthetic_root / f"{s}.json")) for s in ("train", "val", "test")}
    assert sum(len(p) for p in parts.values()) == len(entries)
    for split, part in parts.items():
        assert all(e["split"] == split for e in part)
    assert {e["label"] for e in parts["train"]} == set(range(6))


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for root, seed in ((a, 3), (b, 3), (c, 4)):
        generate_dataset(str(root), num_videos=6, seed=seed, size=16, frames=8)
    assert _digest(a) == _digest(b)
    da, dc = _digest(a), _digest(c)
    assert da["captions.json"] != dc["captions.json"]


@pytest.mark.parametrize("name", CLASSES)
def test_fast_scenes_move_more_than_slow_ones(name):
    """Speed is visible in the pixels: mean absolute change between frames 4 apart is larger when fast."""
    def motion(fast: bool) -> float:
        values = []
        for seed in range(3):
            video, *_ = render_video(name, np.random.default_rng([99, seed]), size=32, frames=16, fast=fast)
            v = video.astype(np.float32)
            values.append(np.abs(v[4:] - v[:-4]).mean())
        return float(np.mean(values))

    assert motion(True) > 1.5 * motion(False)


def test_bad_generation_settings_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="even frame size"):
        generate_dataset(str(tmp_path), num_videos=2, seed=0, size=33)
    with pytest.raises(ConfigError, match="num_videos"):
        generate_dataset(str(tmp_path), num_videos=0, seed=0)
