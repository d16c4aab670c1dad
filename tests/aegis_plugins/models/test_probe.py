"""The frozen-feature probe helpers: the linear probe itself, pooling, frozen encoders from checkpoints."""
import pytest
import torch

from aegis.build import build_component
from aegis.engine import atomic_save
from aegis.engine.checkpoint import resolve_checkpoint
from aegis.errors import CheckpointError, ConfigError
from aegis.registry import MODELS

from aegis_plugins.models.probe import (build_frozen_encoder, extract_features,
                                        linear_probe_accuracy)

ENCODER = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
               num_frames=4, img_size=16)


def test_linear_probe_separates_separable_classes_and_not_random_labels():
    g = torch.Generator().manual_seed(0)
    centers = 4.0 * torch.randn(3, 16, generator=g)
    y = torch.arange(90) % 3
    x = centers[y] + torch.randn(90, 16, generator=g)
    assert linear_probe_accuracy(x[:60], y[:60], x[60:], y[60:]) == 1.0
    shuffled = y[torch.randperm(90, generator=g)]
    assert linear_probe_accuracy(x[:60], shuffled[:60], x[60:], shuffled[60:]) < 0.7


class _Clips(torch.utils.data.Dataset):
    def __len__(self):
        return 3

    def __getitem__(self, i):
        return dict(inputs=torch.full((3, 4, 16, 16), float(i)), data_samples=dict(label=i))


def test_without_an_encoder_the_features_are_the_raw_pixels(tmp_path):
    clips = torch.rand(3, 3, 4, 8, 8)  # (M, C, T, H, W)
    dataset = [dict(inputs=clip, data_samples=dict(label=i)) for i, clip in enumerate(clips)]
    feats, labels = extract_features(None, dataset, batch_size=2)
    assert torch.equal(feats, clips.flatten(1)) and labels.tolist() == [0, 1, 2]


def test_the_margin_interval_shrinks_with_more_clips_and_matches_the_binomial_formula():
    from aegis_plugins.models.probe import margin_ci95

    assert margin_ci95(0.8, 0.7, 60) == pytest.approx(1.96 * ((0.16 + 0.21) / 60) ** 0.5)
    assert margin_ci95(0.8, 0.7, 600) < margin_ci95(0.8, 0.7, 60) / 3
    assert margin_ci95(1.0, 1.0, 30) == 0.0
    with pytest.raises(ConfigError, match="num_clips=0"):
        margin_ci95(0.5, 0.5, 0)


def test_features_are_pooled_over_tokens_or_per_time_step():
    encoder = build_frozen_encoder(ENCODER)
    x, y = extract_features(encoder, _Clips(), batch_size=2, pooling="mean")
    assert x.shape == (3, 32) and y.tolist() == [0, 1, 2]
    x_time, _ = extract_features(encoder, _Clips(), batch_size=2, pooling="time", repeats=2)
    assert x_time.shape == (6, 2 * 32)  # T' = 2 time steps of width 32, two passes
    with pytest.raises(ConfigError, match="pooling"):
        extract_features(encoder, _Clips(), pooling="max")


def test_frozen_encoder_loads_the_target_encoder_of_a_pretrainer_checkpoint(tmp_path):
    model = build_component(dict(type="JEPAPretrainer", encoder=ENCODER,
                                 predictor=dict(type="JEPAPredictor", embed_dim=16, depth=1, num_heads=2),
                                 mask_generators=[dict(type="RandomTubeMaskGenerator", mask_ratio=0.5)]), MODELS)
    with torch.no_grad():
        for p in model.target_encoder.parameters():
            p.add_(0.5)
    path = tmp_path / "epoch_1.pth"
    atomic_save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), path)
    (tmp_path / "last_checkpoint").write_text(str(path))
    assert resolve_checkpoint(tmp_path) == str(path)  # the run's work dir names it
    video = torch.randn(2, 3, 4, 16, 16)
    target = build_frozen_encoder(ENCODER, str(path), "target_encoder")
    online = build_frozen_encoder(ENCODER, str(path), "encoder")
    assert all(not p.requires_grad for p in target.parameters())
    with torch.no_grad():
        assert torch.allclose(target(video), model.target_encoder(video), atol=1e-5)
        assert torch.allclose(online(video), model.encoder(video), atol=1e-5)
    random_a, random_b = build_frozen_encoder(ENCODER, seed=1), build_frozen_encoder(ENCODER, seed=1)
    assert torch.equal(random_a.blocks[0].mlp.fc1.weight, random_b.blocks[0].mlp.fc1.weight)
    with pytest.raises(CheckpointError, match="does not exist"):
        build_frozen_encoder(ENCODER, str(tmp_path / "missing.pth"))


def test_probe_datasets_score_on_val_and_test_together_and_never_on_train(tmp_path):
    from aegis_plugins.models.probe import probe_datasets

    dataset = dict(type="SyntheticDisasterDataset", data_root=str(tmp_path / "syn"), num_videos=24, size=16,
                   frames=4, pipeline=dict(type="VideoClipPipeline", video_length=4, frame_sample_rate=1,
                                           img_size=16))
    train, held_out = probe_datasets(dataset)
    val_only = probe_datasets(dataset, test_splits="val")[1]
    paths = lambda ds: {ds[i]["data_samples"]["video_path"] for i in range(len(ds))}  # noqa: E731
    assert len(train) + len(held_out) == 24 and len(val_only) < len(held_out)
    assert not paths(train) & paths(held_out) and paths(val_only) < paths(held_out)
    with pytest.raises(ConfigError, match="must be scored on clips it was not fitted on"):
        probe_datasets(dataset, test_splits=("val", "train"))


def test_decode_once_keeps_the_evaluation_clips_and_their_classes(tmp_path):
    from aegis_plugins.models.probe import DecodedClips, decode_once, probe_datasets

    dataset = dict(type="SyntheticDisasterDataset", data_root=str(tmp_path / "syn"), num_videos=12, size=16,
                   frames=4, pipeline=dict(type="VideoClipPipeline", video_length=4, frame_sample_rate=1,
                                           img_size=16))
    train, held_out = probe_datasets(dataset)
    cached, cached_held_out = decode_once(train), decode_once(held_out)
    assert isinstance(cached, DecodedClips) and isinstance(cached_held_out, DecodedClips)
    assert cached.classes == train.classes and cached_held_out.classes == train.classes
    assert len(cached) == len(train)
    for i in range(len(train)):  # centre crops: decoding again gives the same clip
        assert torch.equal(cached[i]["inputs"], train[i]["inputs"])
        assert cached[i]["data_samples"]["label"] == train[i]["data_samples"]["label"]
    assert decode_once(train, max_bytes=1000) is train  # too big to keep: read from the files every pass
