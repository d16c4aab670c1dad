"""SmallCNNEncoder: DQN-style shapes on 64x64 frames, token output, frame folding, errors."""
import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError, DataError
from aegis.registry import ENCODERS
from aegis_plugins.encoders.small_cnn import SmallCNNEncoder


def test_default_stack_on_64px_frames_pools_to_embed_dim():
    enc = build_component(dict(type="SmallCNNEncoder", num_frames=4, embed_dim=256), ENCODERS, path="policy.encoder")
    out = enc(torch.randn(2, 3, 4, 64, 64))
    assert out.shape == (2, 256) and enc.map_size == (4, 4) and enc.embed_dim == 256
    assert (out >= 0).all()  # ReLU head, as in the DQN


def test_tokens_output_and_every_frame_matters():
    torch.manual_seed(0)
    enc = SmallCNNEncoder(num_frames=2, img_size=36, embed_dim=16, output="tokens")
    video = torch.randn(1, 3, 2, 36, 36)
    out = enc(video)
    assert out.shape == (1, 1, 16)
    changed = video.clone()
    changed[:, :, 1] += 1.0  # only the last frame changes
    assert not torch.allclose(enc(changed), out)


def test_errors_name_the_problem():
    with pytest.raises(ConfigError, match="too small"):
        SmallCNNEncoder(img_size=16)
    with pytest.raises(ConfigError, match="same length"):
        SmallCNNEncoder(channels=(8,), kernel_sizes=(3, 3), strides=(1, 1))
    with pytest.raises(DataError, match=r"\(B, 3, 4, 64, 64\)"):
        SmallCNNEncoder()(torch.randn(2, 3, 2, 64, 64))
