"""Latent surprise: sliding future-prediction windows of a JEPAPretrainer, the pixel control, clip scores."""
import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError, DataError
from aegis.registry import MODELS
from aegis_plugins.models.surprise import (clip_scores, future_mask_index, latent_surprise, pixel_surprise,
                                           predicted_frames, window_starts)

ENCODER = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
               num_frames=6, img_size=16)


def _model():
    torch.manual_seed(0)
    cfg = dict(type="JEPAPretrainer", encoder=ENCODER,
               predictor=dict(type="JEPAPredictor", embed_dim=16, depth=1, num_heads=2),
               mask_generators=[dict(type="MultiBlock3DMaskGenerator", num_blocks=1, mask_ratio=0.5),
                                dict(type="FutureMaskGenerator", future_steps=1)],
               losses=[dict(type="LatentReconstructionLoss")])
    return build_component(cfg, MODELS).eval()


def test_windows_and_the_frame_each_value_is_reported_at():
    assert window_starts(10, 6, 2) == [0, 2, 4]
    # window of 6 frames (3 token steps of 2 frames), last step predicted: its first frame is start + 4
    assert predicted_frames(_model(), 10, future_steps=1, stride=2) == [4, 6, 8]
    with pytest.raises(DataError, match="fewer than the model's window of 6"):
        window_starts(5, 6)


def test_the_future_mask_group_is_used_for_prediction():
    assert future_mask_index(_model()) == 1


def test_surprise_of_a_window_depends_on_its_own_frames_and_its_future_only():
    model = _model()
    video = torch.randn(1, 3, 10, 16, 16)
    base = latent_surprise(model, video)  # (1, 5): windows start at 0..4, predicted frames 4..8
    assert base.shape == (1, 5)
    changed = video.clone()
    changed[:, :, 9] += 3.0  # frame 9 lies only in the last window (4..9), in its predicted step
    after = latent_surprise(model, changed)
    assert torch.equal(after[0, :4], base[0, :4])
    assert after[0, 4] != base[0, 4]


def test_repeated_windows_give_equal_surprise_and_batching_changes_nothing():
    model = _model()
    clip = torch.randn(1, 3, 6, 16, 16)
    video = torch.cat([clip, clip, clip], dim=2)  # (1, 3, 18, 16, 16): windows at 0, 6 and 12 are the same clip
    curve = latent_surprise(model, video)[0]
    assert torch.allclose(curve[0], curve[6], atol=1e-6) and torch.allclose(curve[0], curve[12], atol=1e-6)
    pair = torch.cat([video, torch.randn_like(video)])
    together = latent_surprise(model, pair, max_windows_per_batch=7)
    assert torch.allclose(together[0], curve, atol=1e-5)


def test_predict_mode_scores_long_videos_and_pools_clips():
    model = _model()
    long_out = model(torch.randn(2, 3, 10, 16, 16), [dict(pair=3, possible=False), dict(pair=3, possible=True)],
                     mode="predict")
    assert long_out[0]["pair"] == 3 and long_out[0]["surprise"].shape == (5,)
    assert long_out[0]["surprise_max"] == pytest.approx(float(long_out[0]["surprise"].max()))
    clip_out = model(torch.randn(2, 3, 6, 16, 16), mode="predict")
    assert clip_out[0]["features"].shape == (32,) and "surprise" not in clip_out[0]


def test_pixel_control_is_exact_on_linear_change_and_surprised_by_a_jump():
    ramp = torch.linspace(0, 1, 12).view(1, 1, 12, 1, 1).expand(2, 3, 12, 4, 4).clone()  # brightness rises linearly
    assert pixel_surprise(ramp, 6, 2).abs().max() < 1e-6
    jump = ramp.clone()
    jump[1, :, 8:] = 0.0  # the second video goes dark at frame 8
    curve = pixel_surprise(jump, 6, 2)[1]  # windows 0..6, predicted frames 4..10
    assert curve[:3].abs().max() < 1e-6 and curve[3:].max() > 0.3
    with pytest.raises(ConfigError, match="leave >= 2 context frames"):
        pixel_surprise(ramp, 6, 5)


def test_clip_scores_are_max_and_mean_of_the_curve():
    scores = clip_scores(torch.tensor([[1.0, 3.0, 2.0]]))
    assert scores["max"].item() == 3.0 and scores["mean"].item() == 2.0

