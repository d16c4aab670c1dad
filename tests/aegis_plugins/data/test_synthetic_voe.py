"""The violation-of-expectation pairs: a shared bit-exact prefix, each kind's violation visible in the track and in
the pixels of the impossible video and absent from every possible one, byte-identical files from a seed, decoded
prefixes that still match, and the dataset's pair/possible fields."""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter

import numpy as np
import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError
from aegis.registry import DATASETS
from aegis_plugins.data.synthetic_voe import (VOE_KINDS, VOE_VARIANTS, generate_voe_dataset, render_voe_pair,
                                              render_voe_possible)
from aegis_plugins.data.video_io import open_video

CASES = [(kind, variant) for kind in VOE_KINDS for variant in VOE_VARIANTS[kind]]
SEEDS = range(4)
PIPE = dict(type="VideoClipPipeline", video_length=16, frame_sample_rate=1, img_size=32, backend="pyav")


# ------------------------------------------------------------------------------------------------ detectors
# Each returns True when the video breaks its kind's physics: one from the track (meta), one from the pixels alone
# (plus the colours in params). They must fire on every impossible video and on no possible one.


def _colour_mask(video: np.ndarray, colour) -> np.ndarray:
    """(T, H, W) pixels within 12 levels of an object's colour (its fully covered interior)."""
    target = np.round(np.asarray(colour) * 255)
    return (np.abs(video.astype(np.float64) - target) <= 12).all(-1)


def _centroids(mask: np.ndarray) -> np.ndarray:
    """(T, 2) mean (x, y) of each frame's mask pixels; NaN where empty."""
    ys, xs = np.meshgrid(np.arange(mask.shape[1]) + 0.5, np.arange(mask.shape[2]) + 0.5, indexing="ij")
    count = mask.sum((1, 2)).astype(np.float64)
    with np.errstate(invalid="ignore"):
        return np.stack([(mask * xs).sum((1, 2)) / count, (mask * ys).sum((1, 2)) / count], 1)


def _east(params: dict) -> float:
    return 1.0 if params.get("direction", "east") == "east" else -1.0


def _track_violation(kind: str, track: dict, params: dict) -> bool:
    if kind == "permanence":  # it appears or vanishes with nothing in front of it
        return len(set(track["visible"])) > 1
    if kind == "continuity":  # a jump of more than 6 px in one frame
        return bool(np.abs(np.diff(track["x"])).max() > 6)
    if kind == "gravity":  # in mid-air it must move down each frame
        y = np.array(track["y"])
        rest = params["object"]["ground_y"] - params["object"]["radius"]
        airborne = y[:-1] < rest - 0.5
        return bool((np.diff(y)[airborne] <= 0).any())
    if kind == "solidity":  # it overlaps the wall, or ends past it
        x, r = np.array(track["x"]), params["object"]["radius"]
        lo, hi = params["wall_x"]
        return bool(((x - r < hi - 1e-6) & (x + r > lo + 1e-6)).any())
    if kind == "inertia":  # the velocity changes with nothing in the scene to touch it
        return bool(np.abs(np.diff(track["x"], 2)).max() > 0.2)
    if kind == "water_uphill":
        if params["variant"] == "slope":  # the front moves to higher ground (smaller y)
            return bool((np.diff(track["front_y"]) < -1e-6).any())
        return any(s is not None and f < s - 1 for f, s in zip(track["front_y"], track["bottom_surface_y"]))
    # fire_backwards: the front moves back, or the burnt region shrinks
    return bool((np.diff(track["front_x"]) * _east(params) < -1e-6).any()
                or (np.diff(track["burnt_width"]) < -1e-6).any())


def _pixel_violation(kind: str, video: np.ndarray, params: dict, d: int) -> bool:
    t = video.shape[0]
    if kind == "permanence":  # the subject's colour goes from present to absent or back
        colour = params["appearing_object" if params["variant"] == "appear" else "object"]["colour"]
        present = _colour_mask(video, colour).sum((1, 2)) > 0
        return len(set(present.tolist())) > 1
    if kind in ("continuity", "gravity", "inertia", "solidity"):
        centre = _centroids(_colour_mask(video, params["object"]["colour"]))
        if kind == "continuity":  # the centroid jumps more than 6 px in one frame
            return bool(np.abs(np.diff(centre[:, 0])).max() > 6)
        if kind == "gravity":  # from d - 1 to the end it must have fallen (>= 2 px)
            return bool(centre[-1, 1] - centre[d - 1, 1] < 2)
        if kind == "inertia":  # mean velocity before and after d differ by > 0.4 px/frame
            before = (centre[d - 1, 0] - centre[0, 0]) / (d - 1)
            after = (centre[-1, 0] - centre[d, 0]) / (t - 1 - d)
            return bool(abs(after - before) > 0.4)
        lo, hi = params["wall_x"]  # solidity: object pixels beyond the wall's far side at the end
        mask = _colour_mask(video[-1:], params["object"]["colour"])[0]
        cols = np.nonzero(mask.any(0))[0] + 0.5
        return bool((cols > hi).any() if _east(params) > 0 else (cols < lo).any())
    if kind == "water_uphill":
        water = np.round(np.asarray(params["water_colour"]) * 255)
        wet = (np.abs(video.astype(np.float64) - water) <= 40).all(-1)  # (T, H, W)
        cols = np.arange(video.shape[2]) + 0.5
        if params["variant"] == "slope":  # the leading wet column retreats by >= 2 px
            lead = np.array([(cols[f.any(0)] * _east(params)).max() for f in wet])
            return bool(lead[-1] < lead.max() - 2)
        far = (cols - params["bottom_x"]) * _east(params) > 1.5  # columns past the valley's bottom
        bottom_col = int(params["bottom_x"])
        for f in wet[d:]:  # water on the far side higher than the water over the bottom
            rows = np.nonzero(f[:, far].any(1))[0]
            bottom_rows = np.nonzero(f[:, bottom_col])[0]
            if rows.size and bottom_rows.size and rows.min() < bottom_rows.min() - 2:
                return True
        return False
    # fire_backwards: the black burnt ground shrinks, or flames stand on ground that was black the frame before
    ground = slice(int(params["horizon_y"]) + 2, None)
    v = video[:, ground].astype(np.int64)
    flame = (v[..., 0] > 180) & (v[..., 2] < 120)
    black = (v < 40).all(-1)
    return bool((np.diff(black.sum((1, 2))) < -2).any() or (flame[1:] & black[:-1]).any())


# ------------------------------------------------------------------------------------------------ pairs


@pytest.mark.parametrize("kind,variant", CASES)
def test_pairs_share_an_exact_prefix_and_differ_in_every_later_frame(kind, variant):
    for seed in SEEDS:
        possible, impossible, meta = render_voe_pair(kind, np.random.default_rng([7, seed]), variant=variant)
        d = meta["diverge_frame"]
        assert d == 8 and possible.shape == impossible.shape == (16, 32, 32, 3) and possible.dtype == np.uint8
        assert np.array_equal(possible[:d], impossible[:d])
        assert all((possible[t] != impossible[t]).any() for t in range(d, 16)), (kind, variant, seed)
        assert meta["params"]["variant"] == variant and json.loads(json.dumps(meta)) == meta  # JSON-able
        for track in meta["track"].values():
            assert all(len(values) == 16 for values in track.values())


@pytest.mark.parametrize("kind,variant", CASES)
def test_the_violation_shows_in_track_and_pixels_of_the_impossible_video_only(kind, variant):
    for seed in SEEDS:
        possible, impossible, meta = render_voe_pair(kind, np.random.default_rng([11, seed]), variant=variant)
        params, d = meta["params"], meta["diverge_frame"]
        assert _track_violation(kind, meta["track"]["impossible"], params), (kind, variant, seed)
        assert not _track_violation(kind, meta["track"]["possible"], params), (kind, variant, seed)
        assert _pixel_violation(kind, impossible, params, d), (kind, variant, seed)
        assert not _pixel_violation(kind, possible, params, d), (kind, variant, seed)


@pytest.mark.parametrize("kind", VOE_KINDS)
def test_possible_only_videos_break_no_physics(kind):
    for seed in range(6):
        video, params = render_voe_possible(kind, np.random.default_rng([13, seed]))
        assert video.shape == (16, 32, 32, 3) and 6 <= params["event_frame"] <= 8
        assert not _track_violation(kind, params["track"], params), (kind, seed)
        assert not _pixel_violation(kind, video, params, params["event_frame"]), (kind, seed)


def test_scenes_are_randomised_and_readable():
    """Colours, positions and speeds vary between seeds; objects are >= 3 px in radius and move >= 1 px/frame."""
    metas = [render_voe_pair("continuity", np.random.default_rng([3, s]))[2]["params"] for s in range(8)]
    assert len({tuple(m["object"]["colour"]) for m in metas}) == 8 and len({m["start_x"] for m in metas}) == 8
    assert {m["direction"] for m in metas} == {"east", "west"} and len({m["object"]["shape"] for m in metas}) == 2
    assert all(m["object"]["radius"] >= 3 and m["speed"] >= 1 for m in metas)


def test_bad_arguments_are_config_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="not a VoE kind"):
        render_voe_pair("levitation", rng)
    with pytest.raises(ConfigError, match="not a variant of 'gravity'.*hover, rise"):
        render_voe_pair("gravity", rng, variant="vanish")
    with pytest.raises(ConfigError, match=r"diverge_frame=14.*\[3, 13\]"):
        render_voe_pair("gravity", rng, diverge_frame=14)
    with pytest.raises(ConfigError, match="even frame size"):
        render_voe_pair("gravity", rng, size=31)
    with pytest.raises(ConfigError, match="num_train=3"):
        generate_voe_dataset("/nonexistent/never", num_train=3)


# ------------------------------------------------------------------------------------------------ the data set


def _digest(root) -> dict[str, str]:
    return {os.path.relpath(os.path.join(d, f), root): hashlib.md5(open(os.path.join(d, f), "rb").read()).hexdigest()
            for d, _, files in os.walk(root) for f in files}


@pytest.fixture(scope="module")
def voe_root(tmp_path_factory):
    """A tiny VoE set: 1 pair per kind and 14 possible-only videos (2 per kind), 32x32x16, seed 0."""
    root = tmp_path_factory.mktemp("voe")
    generate_voe_dataset(str(root), num_pairs=1, num_train=14, seed=0)
    return root


def test_same_seed_gives_identical_files_and_another_seed_differs(voe_root, tmp_path):
    generate_voe_dataset(str(tmp_path / "again"), num_pairs=1, num_train=14, seed=0)
    generate_voe_dataset(str(tmp_path / "other"), num_pairs=1, num_train=14, seed=1)
    first = _digest(voe_root)
    assert _digest(tmp_path / "again") == first
    other = _digest(tmp_path / "other")
    videos = [k for k in first if k.endswith(".mp4")]
    assert len(videos) == 28 and all(first[k] != other[k] for k in videos)


def test_files_follow_the_caption_format_pairs_and_balanced_splits(voe_root):
    pairs = json.load(open(voe_root / "pairs.json"))
    assert len(pairs) == 14 and all(os.path.getsize(voe_root / e["video_path"]) > 0 for e in pairs)
    by_pair = Counter(e["pair"] for e in pairs)
    assert set(by_pair.values()) == {2}
    for pair_id in by_pair:
        both = [e for e in pairs if e["pair"] == pair_id]
        assert sorted(e["possible"] for e in both) == [False, True]
        assert both[0]["params"] == both[1]["params"] and both[0]["class_name"] == both[1]["class_name"]
    assert [e["class_name"] for e in pairs[::2]] == list(VOE_KINDS)
    for e in pairs:
        assert e["label"] == VOE_KINDS.index(e["class_name"]) and e["caption"] == e["captions"][0]
        assert e["diverge_frame"] == 8 and (e["num_frames"], e["size"], e["fps"]) == (16, 32, 8.0)
    permanence = [e["caption"] for e in pairs if e["class_name"] == "permanence"]
    assert any("vanishes" in c for c in permanence) and any("rolls" in c and "vanish" not in c for c in permanence)
    train, val = (json.load(open(voe_root / f"{s}.json")) for s in ("train", "val"))
    for split in (train, val):
        assert Counter(e["class_name"] for e in split) == Counter(VOE_KINDS)  # one per kind each
        assert all(e["possible"] and e["pair"] == -1 and e["diverge_frame"] == -1 for e in split)
    everything = json.load(open(voe_root / "captions.json"))
    assert len(everything) == 28 and {e["split"] for e in everything} == {"pairs", "train", "val"}
    test_bytes = {(voe_root / e["video_path"]).read_bytes() for e in pairs}
    assert not any((voe_root / e["video_path"]).read_bytes() in test_bytes for e in train + val)


def test_decoded_prefixes_match_exactly_and_differ_after(voe_root):
    """x264 ultrafast (no B-frames, no lookahead) encodes a frame from the frames before it only, so equal prefixes
    decode equal (measured exact on 140 pairs with PyAV and decord)."""
    pairs = json.load(open(voe_root / "pairs.json"))
    for possible, impossible in zip(pairs[::2], pairs[1::2]):
        a = open_video(str(voe_root / possible["video_path"]), "pyav").get_frames(list(range(16)))
        b = open_video(str(voe_root / impossible["video_path"]), "pyav").get_frames(list(range(16)))
        d = possible["diverge_frame"]
        assert np.array_equal(a[:d], b[:d]), possible["class_name"]
        assert all((a[t] != b[t]).any() for t in range(d, 16)), possible["class_name"]


def test_dataset_yields_clips_with_pair_and_possible_and_refuses_other_settings(voe_root):
    root = str(voe_root)
    pairs = build_component(dict(type="PhysicsVoEDataset", data_root=root, split="pairs", num_pairs=1, num_train=14,
                                 pipeline=PIPE), DATASETS)
    assert len(pairs) == 14 and pairs.test_mode and pairs.classes == VOE_KINDS
    first, second = pairs[0], pairs[1]
    assert first["inputs"].shape == (3, 16, 32, 32) and first["inputs"].dtype == torch.float32
    meta0, meta1 = first["data_samples"], second["data_samples"]
    assert meta0["pair"] == meta1["pair"] and {meta0["possible"], meta1["possible"]} == {True, False}
    assert meta0["diverge_frame"] == 8 and meta0["class_name"] == "permanence"
    assert torch.equal(first["inputs"][:, :8], second["inputs"][:, :8])  # the shared prefix survives the pipeline
    assert not torch.equal(first["inputs"][:, 8:], second["inputs"][:, 8:])
    train = build_component(dict(type="PhysicsVoEDataset", data_root=root, num_pairs=1, num_train=14,
                                 pipeline=PIPE), DATASETS)
    assert len(train) == 7 and not train.test_mode and train[0]["data_samples"]["possible"] is True
    with pytest.raises(ConfigError, match="num_pairs=1 there, 2 asked"):
        build_component(dict(type="PhysicsVoEDataset", data_root=root, num_pairs=2, num_train=14), DATASETS)
    with pytest.raises(ConfigError, match="split='test'"):
        build_component(dict(type="PhysicsVoEDataset", data_root=root, split="test"), DATASETS)
