"""The flow scenes: one grey texture whose whole-frame motion, and nothing else, names the class."""
import json

import numpy as np
import pytest

from aegis.build import build_component
from aegis.registry import DATASETS
from aegis_plugins.data.synthetic import generate_dataset, render_video
from aegis_plugins.data.synthetic_flow import FLOW_CLASSES


def _displacement(first: np.ndarray, later: np.ndarray, reach: int = 20) -> tuple[int, int]:
    """The integer (dx, dy) in pixels (east, down) that best carries ``first`` onto ``later`` (grey, (S, S))."""
    s, best = first.shape[0], (np.inf, (0, 0))
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            a = first[max(0, -dy):s - max(0, dy), max(0, -dx):s - max(0, dx)]
            b = later[max(0, dy):s - max(0, -dy), max(0, dx):s - max(0, -dx)]
            err = float(((a - b) ** 2).mean())
            best = min(best, (err, (dx, dy)))
    return best[1]


def _video(name: str, fast: bool = True, seed: int = 0, frames: int = 32) -> np.ndarray:
    return render_video(name, np.random.default_rng(seed), size=64, frames=frames, fast=fast, scenes="flow")[0]


def test_appearance_does_not_name_the_class():
    """Same seed, same first frame in every class (shaking starts displaced); grey, one texture distribution."""
    firsts = {name: _video(name, frames=2)[0] for name in FLOW_CLASSES}
    for name in FLOW_CLASSES:
        if name != "shaking":
            assert np.array_equal(firsts[name], firsts["rising"]), name
    frame = firsts["rising"].astype(float)
    assert np.array_equal(frame[..., 0], frame[..., 1]) and np.array_equal(frame[..., 0], frame[..., 2])
    assert 110 < frame.mean() < 145 and 20 < frame.std() < 60


@pytest.mark.parametrize("name, direction", [("rising", (0, -1)), ("spreading", (1, 0)), ("sliding", (1, 1))])
def test_the_texture_moves_the_way_its_class_and_caption_say(name, direction):
    """Take a seed whose heading is east, measure the shift over 2 s: fast is 13-18 px per axis at 64 px."""
    for seed in range(20):
        video, params, heading, _ = render_video(name, np.random.default_rng(seed), size=64, frames=17, fast=True,
                                                 scenes="flow")
        if heading in (None, "east"):
            break
    dx, dy = _displacement(video[0, ..., 0].astype(float), video[16, ..., 0].astype(float))
    expected = params["speed"] * 2.0 * 64 / np.hypot(*direction)  # px per axis over 2 s
    assert (np.sign(dx), np.sign(dy)) == direction
    assert abs(max(abs(dx), abs(dy)) - expected) <= 1.5


def test_fast_flows_move_further_than_slow_ones():
    for name in ("rising", "spreading", "sliding"):
        fast = _displacement(*(v[..., 0].astype(float) for v in _video(name, True, frames=17)[[0, 16]]))
        slow = _displacement(*(v[..., 0].astype(float) for v in _video(name, False, frames=17)[[0, 16]]))
        assert max(map(abs, fast)) >= 2 * max(map(abs, slow)) > 0, (name, fast, slow)


def test_shaking_returns_and_still_frames_change_in_turning_and_expanding():
    shaking = _video("shaking")
    shifts = [_displacement(shaking[0, ..., 0].astype(float), shaking[k, ..., 0].astype(float))[0] for k in range(32)]
    assert max(shifts) - min(shifts) >= 5  # back and forth by several pixels
    for name in ("turning", "expanding"):
        video = _video(name).astype(float)
        assert np.abs(video[-1] - video[0]).mean() > 10, name


def test_a_flow_set_is_generated_balanced_with_flow_captions(tmp_path):
    captions = json.loads(open(generate_dataset(str(tmp_path), 12, seed=0, size=16, frames=8, scenes="flow")).read())
    assert sorted(e["class_name"] for e in captions) == sorted(FLOW_CLASSES * 2)
    assert all(e["class_name"] == FLOW_CLASSES[e["label"]] for e in captions)
    rising = [e for e in captions if e["class_name"] == "rising"]
    assert {e["caption"] for e in rising} == {"The scene rising rapidly", "The scene rising slowly"}
    assert json.loads((tmp_path / "synthetic_meta.json").read_text())["scenes"] == "flow"
    ds = build_component(dict(type="SyntheticDisasterDataset", data_root=str(tmp_path), split="all", num_videos=12,
                              size=16, frames=8, scenes="flow",
                              pipeline=dict(type="VideoClipPipeline", video_length=4, frame_sample_rate=2,
                                            img_size=16)), DATASETS)
    assert ds.classes == FLOW_CLASSES and len(ds) == 12
