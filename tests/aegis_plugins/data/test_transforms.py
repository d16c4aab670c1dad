"""Transforms on real decoded frames: uint8 until NormalizeVideo, (C, T, H, W) layout, crops, flips, sampling modes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError, DataError
from aegis.registry import TRANSFORMS
from aegis_plugins.data.transforms import IMAGENET_MEAN, IMAGENET_STD, Compose


def _run(pipeline, path, **results):
    return Compose(pipeline)(dict(video_path=path, **results))


BASE = [dict(type="VideoInit", backend="pyav"), dict(type="SampleFrames", video_length=4, frame_sample_rate=3),
        dict(type="VideoDecode")]


def test_decode_gives_uint8_frames_at_the_sampled_indices(ramp_video):
    out = _run(BASE, ramp_video, test_mode=True)
    assert out["total_frames"] == 20
    assert out["frame_inds"].tolist() == [5, 8, 11, 14]  # centred: start (20 - 10) // 2
    assert out["imgs"].dtype == np.uint8 and out["imgs"].shape == (4, 24, 32, 3)
    assert np.abs(out["imgs"][:, -1, -1, 1].astype(int) - [55, 85, 115, 145]).max() <= 3


def test_training_mode_samples_random_starts(ramp_video):
    torch.manual_seed(0)
    starts = {int(_run(BASE[:2], ramp_video)["frame_inds"][0]) for _ in range(40)}
    assert len(starts) > 3 and max(starts) <= 10


def test_full_pipeline_layout_dtype_and_normalisation(ramp_video):
    pipe = BASE + [dict(type="ResizeShorterSide", size=12), dict(type="CenterCrop", size=12),
                   dict(type="ToTensorVideo")]
    out = _run(pipe, ramp_video, test_mode=True)
    x = out["inputs"]
    assert x.dtype == torch.uint8 and x.shape == (3, 4, 12, 12)  # (C, T, H, W), 24x32 -> 12x16 -> 12x12
    y = Compose([dict(type="NormalizeVideo")])(dict(inputs=x))["inputs"]
    assert y.dtype == torch.float32
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
    assert torch.allclose(y, (x.float() / 255 - mean) / std)
    with pytest.raises(DataError, match="uint8"):
        Compose([dict(type="NormalizeVideo")])(dict(inputs=y))


def test_several_eval_clips_stack_as_views(ramp_video):
    pipe = [dict(type="VideoInit", backend="decord"),
            dict(type="SampleFrames", video_length=2, frame_sample_rate=1, num_clips=3),
            dict(type="VideoDecode"), dict(type="ToTensorVideo")]
    out = _run(pipe, ramp_video, test_mode=True)
    assert out["inputs"].shape == (3, 3, 2, 24, 32)  # (num_clips, C, T, H, W)
    assert out["frame_inds"].tolist() == [0, 1, 9, 10, 18, 19]


def test_flip_mirrors_frames_and_swaps_directions_in_captions(ramp_video):
    frames = _run(BASE, ramp_video, test_mode=True)["imgs"]
    flip = build_component(dict(type="RandomHorizontalFlip", p=1.0), TRANSFORMS)
    out = flip(dict(imgs=frames.copy(), caption="Fire spreading slowly to the east", direction="east",
                    captions=["to the west", "east and west"]))
    assert np.array_equal(out["imgs"], frames[:, :, ::-1])
    assert out["caption"] == "Fire spreading slowly to the west" and out["direction"] == "west"
    assert out["captions"] == ["to the east", "west and east"]
    assert build_component(dict(type="RandomHorizontalFlip", p=0.0), TRANSFORMS)(dict(imgs=frames))["flipped"] is False


def test_random_resized_crop_gives_the_size_and_keeps_frames_aligned(ramp_video):
    torch.manual_seed(1)
    frames = _run(BASE, ramp_video, test_mode=True)["imgs"]
    out = build_component(dict(type="RandomResizedCrop", size=8, scale=(0.2, 0.5)), TRANSFORMS)(dict(imgs=frames))
    assert out["imgs"].shape == (4, 8, 8, 3) and out["imgs"].dtype == np.uint8
    top, left, h, w = out["crop_box"]
    assert 0.2 * 24 * 32 * 0.8 <= h * w <= 0.5 * 24 * 32 * 1.2


def test_short_video_policy_is_applied_and_counted(tmp_path, make_ramp):
    from aegis_plugins.data.video_io import write_video
    path = write_video(str(tmp_path / "short.mp4"), make_ramp(num_frames=3))
    pipe = [dict(type="VideoInit"), dict(type="SampleFrames", video_length=4, frame_sample_rate=2, short_video="pad")]
    compose = Compose(pipe)
    out = compose(dict(video_path=path))
    assert out["frame_inds"].tolist() == [0, 2, 2, 2] and compose.transforms[1].num_short == 1
    with pytest.raises(DataError, match="short.mp4: the video has 3 frames"):
        Compose([dict(type="VideoInit"), dict(type="SampleFrames", short_video="error")])(dict(video_path=path))


def test_clip_pipeline_follows_test_mode_and_bad_order_is_named(ramp_video):
    pipe = dict(type="VideoClipPipeline", video_length=4, frame_sample_rate=2, img_size=16, backend="pyav")
    a = Compose(pipe)(dict(video_path=ramp_video, test_mode=True))
    b = Compose(pipe)(dict(video_path=ramp_video, test_mode=True))
    assert a["inputs"].shape == (3, 4, 16, 16) and a["inputs"].dtype == torch.float32
    assert torch.equal(a["inputs"], b["inputs"])  # evaluation is deterministic
    with pytest.raises(ConfigError, match="put VideoDecode earlier"):
        Compose([dict(type="ToTensorVideo")])(dict(video_path=ramp_video))
    with pytest.raises(ConfigError, match="Did you mean 'decord'"):
        Compose([dict(type="VideoInit", backend="decrod")])
