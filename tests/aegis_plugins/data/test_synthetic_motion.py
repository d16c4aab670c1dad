"""The motion-only synthetic scenes: same textures in every class, fast moves more than slow, a generated set."""
import json

import numpy as np
import pytest

from aegis.build import build_component
from aegis.errors import ConfigError
from aegis.registry import DATASETS
from aegis_plugins.data.synthetic import _Canvas, generate_dataset, render_video
from aegis_plugins.data.synthetic_motion import MOTION_CLASSES, _two_textures


def _motion_energy(video: np.ndarray) -> float:
    """Mean fraction of pixels that change between consecutive frames."""
    return float((np.abs(np.diff(video.astype(int), axis=0)).sum(-1) > 30).mean())


@pytest.mark.parametrize("name", [c for c in MOTION_CLASSES if c != "shaking"])
def test_every_class_paints_the_same_two_texture_draw(name):
    """Appearance does not name the class: the first frame of any class is, pixel by pixel, one of the two textures
    that the video's seed draws, whatever the class (shaking is the same, displaced)."""
    back, region = (np.clip(t, 0, 1) * 255 + 0.5 for t in _two_textures(_Canvas(32), np.random.default_rng(3)))
    video, *_ = render_video(name, np.random.default_rng(3), size=32, frames=4, scenes="motion")
    first = video[0].astype(float)
    is_back = np.abs(first - back.astype(np.uint8)).max(-1) <= 1
    is_region = np.abs(first - region.astype(np.uint8)).max(-1) <= 1
    assert (is_back | is_region).all()
    assert is_back.mean() > 0.3


@pytest.mark.parametrize("name", MOTION_CLASSES)
def test_fast_videos_move_more_than_slow_ones(name):
    energies = [_motion_energy(render_video(name, np.random.default_rng(0), size=64, frames=32, fast=fast,
                                            scenes="motion")[0]) for fast in (True, False)]
    assert energies[0] > 1.5 * energies[1] > 0  # 3-8x for the moving regions, about 2x for the shaking scene


def test_a_motion_set_is_generated_balanced_with_motion_captions(tmp_path):
    captions = json.loads(open(generate_dataset(str(tmp_path), 12, seed=0, size=16, frames=8,
                                                scenes="motion")).read())
    assert sorted(e["class_name"] for e in captions) == sorted(MOTION_CLASSES * 2)
    assert all(e["class_name"] == MOTION_CLASSES[e["label"]] for e in captions)
    assert {e["speed"] for e in captions} == {"fast", "slow"}
    rising = [e for e in captions if e["class_name"] == "rising"]
    assert {e["caption"] for e in rising} == {"A boundary rising rapidly", "A boundary rising slowly"}
    assert json.loads((tmp_path / "synthetic_meta.json").read_text())["scenes"] == "motion"

    ds = build_component(dict(type="SyntheticDisasterDataset", data_root=str(tmp_path), split="all", num_videos=12,
                              size=16, frames=8, scenes="motion",
                              pipeline=dict(type="VideoClipPipeline", video_length=4, frame_sample_rate=2,
                                            img_size=16)), DATASETS)
    assert ds.classes == MOTION_CLASSES and len(ds) == 12


def test_asking_a_disaster_folder_for_motion_scenes_is_a_config_error(tmp_path):
    generate_dataset(str(tmp_path), 6, seed=0, size=16, frames=4)
    with pytest.raises(ConfigError, match="scenes='disaster' there, 'motion' asked"):
        build_component(dict(type="SyntheticDisasterDataset", data_root=str(tmp_path), num_videos=6, size=16,
                             frames=4, scenes="motion"), DATASETS)
    with pytest.raises(ConfigError, match="expected one of disaster, motion"):
        generate_dataset(str(tmp_path / "x"), 6, seed=0, size=16, frames=4, scenes="motions")
