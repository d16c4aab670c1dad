"""EncoderFeaturesExtractor: stacked frames become (B, C, T, H, W) clips; frozen encoders stay frozen."""
import gymnasium as gym
import numpy as np
import pytest
import torch

from aegis.errors import ConfigError
from aegis_plugins.envs.disaster import frames_to_clip
from aegis_plugins.policies.extractors import EncoderFeaturesExtractor


def _stacked_space(frames: int, size: int = 16) -> gym.spaces.Box:
    return gym.spaces.Box(0, 255, (3 * frames, size, size), np.uint8)  # what SB3's VecTransposeImage hands over


def test_stacked_frames_become_the_env_clip_layout(tiny_encoder):
    frames = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3 * 3), dtype=np.uint8)  # (B, H, W, T*C)
    extractor = EncoderFeaturesExtractor(_stacked_space(3), encoder=tiny_encoder, features_dim=8)
    transposed = torch.from_numpy(frames).permute(0, 3, 1, 2).float()  # (B, T*C, H, W), as SB3 feeds it
    clip = extractor._to_clip(transposed)
    np.testing.assert_array_equal(clip.numpy(), frames_to_clip(frames, 3).astype(np.float32))
    assert extractor(transposed / 255).shape == (2, 8)


def test_encoder_sizes_are_injected_from_the_observation_space(tiny_encoder):
    extractor = EncoderFeaturesExtractor(_stacked_space(2), encoder=tiny_encoder, features_dim=None)
    assert (extractor.encoder.num_frames, extractor.encoder.img_size, extractor.encoder.in_chans) == (2, 16, 3)
    assert extractor.features_dim == 32  # no head: the encoder's embed_dim


def test_resize_by_an_integer_factor_is_a_box_filter(tiny_encoder):
    extractor = EncoderFeaturesExtractor(_stacked_space(1, size=32), encoder=tiny_encoder, features_dim=8, resize=16)
    frames = torch.rand(2, 3, 32, 32)
    clip = extractor._to_clip(frames)
    assert clip.shape == (2, 3, 1, 16, 16)
    torch.testing.assert_close(clip[0, :, 0, 0, 0], frames[0, :, :2, :2].mean(dim=(1, 2)))


def test_dict_observations_concatenate_the_other_entries(tiny_encoder):
    space = gym.spaces.Dict({"image": _stacked_space(1), "state": gym.spaces.Box(-1, 1, (10,), np.float32)})
    extractor = EncoderFeaturesExtractor(space, encoder=tiny_encoder, features_dim=8, image_key="image")
    out = extractor({"image": torch.rand(2, 3, 16, 16), "state": torch.ones(2, 10)})
    assert out.shape == (2, 18)
    assert torch.equal(out[:, 8:], torch.ones(2, 10))


def test_dict_observations_need_the_image_key(tiny_encoder):
    space = gym.spaces.Dict({"image": _stacked_space(1), "state": gym.spaces.Box(-1, 1, (10,), np.float32)})
    with pytest.raises(ConfigError, match=r"image_key=None.*keys \['image', 'state'\]"):
        EncoderFeaturesExtractor(space, encoder=tiny_encoder)


def test_a_frozen_encoder_stays_in_eval_mode_without_gradients(tiny_encoder):
    encoder = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=1, num_heads=2, patch_size=8, tubelet_size=1,
                   frozen=True)
    extractor = EncoderFeaturesExtractor(_stacked_space(1), encoder=encoder, features_dim=8)
    extractor.train()
    assert extractor.frozen and not extractor.encoder.training and extractor.head.training
    extractor(torch.rand(2, 3, 16, 16)).sum().backward()
    assert all(p.grad is None for p in extractor.encoder.parameters())
    assert all(p.grad is not None for p in extractor.head.parameters())


def test_flattened_tokens_keep_the_layout(tiny_encoder):
    encoder = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=1, num_heads=2, patch_size=8, tubelet_size=1)
    extractor = EncoderFeaturesExtractor(_stacked_space(1), encoder=encoder, features_dim=8, tokens="flatten")
    assert extractor.encoder.output == "tokens"
    assert extractor.head[0].in_features == 4 * 32  # (16 / 8) ** 2 tokens of width 32
    clip = extractor._to_clip(torch.rand(2, 3, 16, 16))
    tokens = extractor.encoder(clip)  # (B, N, D)
    assert tokens.shape == (2, 4, 32)
    assert torch.equal(extractor._encode(clip), tokens)
    features = extractor(torch.rand(2, 3, 16, 16))
    assert features.shape == (2, 8)


def test_token_projection_is_one_map_shared_by_every_token(tiny_encoder):
    encoder = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=1, num_heads=2, patch_size=8, tubelet_size=1,
                   frozen=True)
    extractor = EncoderFeaturesExtractor(_stacked_space(1), encoder=encoder, features_dim=8, tokens="flatten",
                                         token_dim=3)
    assert extractor.head[0].in_features == 4 * 3  # 4 tokens, each projected to 3
    frames = torch.rand(2, 3, 16, 16)
    tokens = extractor.encoder(extractor._to_clip(frames))  # (B, 4, 32)
    linear = extractor.token_head[0]
    by_hand = torch.relu(tokens @ linear.weight.T + linear.bias).flatten(1)  # token i's projection in slot i
    assert torch.allclose(extractor.head[0](by_hand), extractor.head[0](
        extractor.token_head(extractor._encode(extractor._to_clip(frames))).flatten(1)))
    extractor(frames).sum().backward()
    assert linear.weight.grad is not None and all(p.grad is None for p in extractor.encoder.parameters())
    with pytest.raises(ConfigError, match="token_dim=4.*tokens='flatten'"):
        EncoderFeaturesExtractor(_stacked_space(1), encoder=encoder, tokens="mean", token_dim=4)


def test_batched_frozen_encoder_step_equals_one_env_at_a_time(tiny_encoder):
    """What a vector-env step does: one encoder call for all envs gives each env the features it gets alone."""
    encoder = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
                   frozen=True)
    extractor = EncoderFeaturesExtractor(_stacked_space(2), encoder=encoder, features_dim=8, tokens="flatten",
                                         token_dim=4)
    frames = torch.rand(6, 6, 16, 16)  # 6 envs, 2 stacked RGB frames each
    with torch.no_grad():
        batched = extractor(frames)
        alone = torch.cat([extractor(frames[i:i + 1]) for i in range(6)])
    assert batched.shape == (6, 8)
    assert torch.allclose(batched, alone, atol=1e-6)
    assert not torch.allclose(batched[0], batched[1])  # and the envs' features differ
    with pytest.raises(ConfigError, match="tokens='max'"):
        EncoderFeaturesExtractor(_stacked_space(1), encoder=encoder, tokens="max")


def test_frozen_features_are_encoded_once_per_rollout(tiny_encoder):
    """A PPO update reuses the features its rollout computed: same values, and the encoder is not called again."""
    encoder = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=1, num_heads=2, patch_size=8, tubelet_size=1,
                   frozen=True)
    cached = EncoderFeaturesExtractor(_stacked_space(1), encoder=encoder, features_dim=8, tokens="flatten",
                                      token_dim=4)
    plain = EncoderFeaturesExtractor(_stacked_space(1), encoder=encoder, features_dim=8, tokens="flatten",
                                     token_dim=4, feature_cache=False)
    plain.load_state_dict(cached.state_dict())
    calls = []
    cached.encoder.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    frames = torch.rand(6, 3, 16, 16)
    cached.train(False)  # a rollout starts (SB3's set_training_mode(False))
    with torch.no_grad():
        cached(frames[:3]), cached(frames[3:])  # two vector steps of 3 envs
    cached.train(True)  # the PPO update: a minibatch in another order, one observation twice
    minibatch = frames[[5, 0, 2, 2]]
    assert torch.allclose(cached(minibatch), plain(minibatch), atol=1e-6)
    assert calls == [3, 3]  # the update encoded nothing
    cached(minibatch).sum().backward()  # the trainable head still learns from cached features
    assert cached.token_head[0].weight.grad is not None
    cached.train(False)  # the next rollout starts from an empty cache
    with torch.no_grad():
        cached(frames[:2])
    assert calls == [3, 3, 2]
    trainable = EncoderFeaturesExtractor(_stacked_space(1), encoder=dict(encoder, frozen=False), features_dim=8)
    assert trainable._cache is None  # an encoder that learns is never cached


def test_the_feature_cache_is_bounded_in_bytes(tiny_encoder, monkeypatch):
    """A caller that never switches to eval mode (a world model in training, a planner) cannot grow the cache
    without bound: past the byte limit it serves the batch and starts over, with the same features."""
    from aegis_plugins.policies import extractors

    encoder = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=1, num_heads=2, patch_size=8, tubelet_size=1,
                   frozen=True)
    cached = EncoderFeaturesExtractor(_stacked_space(1), encoder=encoder, features_dim=None, tokens="flatten")
    plain = EncoderFeaturesExtractor(_stacked_space(1), encoder=encoder, features_dim=None, tokens="flatten",
                                     feature_cache=False)
    plain.load_state_dict(cached.state_dict())
    monkeypatch.setattr(extractors, "_MAX_CACHED_BYTES", 5 * 4 * 32 * 4)  # five observations of 4 tokens x 32 floats
    frames = torch.rand(8, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(cached(frames[:4]), plain(frames[:4]), atol=1e-6)
        assert len(cached._cache) == 4
        assert torch.allclose(cached(frames[2:8]), plain(frames[2:8]), atol=1e-6)  # 2 cached + 4 new > 5: over
        assert len(cached._cache) == 0


def test_token_conv_is_one_3x3_convolution_over_the_token_grid(tiny_encoder):
    encoder = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=1, num_heads=2, patch_size=4, tubelet_size=1,
                   frozen=True)
    extractor = EncoderFeaturesExtractor(_stacked_space(1), encoder=encoder, features_dim=8, tokens="flatten",
                                         token_dim=3, token_conv=5)
    assert extractor.head[0].in_features == 5 * 4 * 4  # 5 channels on the 4x4 token grid (16 px / 4)
    frames = torch.rand(2, 3, 16, 16)
    tokens = extractor.token_head(extractor._encode(extractor._to_clip(frames)))  # (B, 16, 3), row-major grid
    grid = tokens.reshape(2, 4, 4, 3).permute(0, 3, 1, 2)  # (B, 3, 4, 4)
    by_hand = torch.relu(torch.nn.functional.conv2d(grid, extractor.grid_head.conv.weight,
                                                    extractor.grid_head.conv.bias, padding=1))
    assert torch.allclose(extractor.grid_head(tokens), by_hand, atol=1e-6)  # token i sits at (i // 4, i % 4)
    extractor(frames).sum().backward()
    assert extractor.grid_head.conv.weight.grad is not None
    with pytest.raises(ConfigError, match="token_conv=4.*tokens='flatten'"):
        EncoderFeaturesExtractor(_stacked_space(1), encoder=encoder, tokens="mean", token_conv=4)
