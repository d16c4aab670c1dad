"""VJEPA2HFEncoder: a tiny transformers VJEPA2Model saved to disk loads and matches the HF forward."""
import pytest
import torch
from transformers import VJEPA2Config, VJEPA2Model

from aegis.build import build_component
from aegis.errors import CheckpointError, ConfigError, DataError
from aegis.registry import ENCODERS
from aegis_plugins.encoders.vjepa2_hf import VJEPA2HFEncoder

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, patch_size=8, tubelet_size=2,
            frames_per_clip=4, crop_size=16, pred_hidden_size=32, pred_num_hidden_layers=1,
            pred_num_attention_heads=2, num_pooler_layers=1)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    torch.manual_seed(0)
    model = VJEPA2Model(VJEPA2Config(**TINY)).eval()
    folder = tmp_path_factory.mktemp("vjepa2_tiny")
    model.save_pretrained(folder)
    return str(folder), model


def test_loads_local_folder_and_matches_transformers_forward(saved_model):
    folder, model = saved_model
    enc = build_component(dict(type="VJEPA2HFEncoder", pretrained=folder), ENCODERS, path="model.encoder")
    video = torch.randn(2, 3, 4, 16, 16)  # (B, C, T, H, W)
    with torch.no_grad():
        expected = model(video.transpose(1, 2), skip_predictor=True).last_hidden_state
    out = enc(video)
    assert out.shape == (2, 8, 32) and enc.grid_size == (2, 2, 2) and enc.embed_dim == 32
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    assert not out.requires_grad and not any(p.requires_grad for p in enc.parameters())
    assert not hasattr(enc, "predictor") and not any("predictor" in k for k in enc.state_dict())


def test_keep_indices_carry_rope_positions(saved_model):
    folder, _ = saved_model
    enc = VJEPA2HFEncoder(pretrained=folder)
    video = torch.randn(2, 3, 4, 16, 16)
    full = enc(video)
    perm = torch.stack([torch.randperm(8), torch.randperm(8)])
    # all tokens in shuffled order: RoPE positions follow the indices, so the output is the full output shuffled
    torch.testing.assert_close(enc(video, perm), torch.gather(full, 1, perm.unsqueeze(-1).expand(-1, -1, 32)),
                               atol=1e-5, rtol=1e-5)
    assert enc(video, perm[:, :3]).shape == (2, 3, 32)


def test_pooled_random_init_and_trainable():
    enc = VJEPA2HFEncoder(config=TINY, output="pooled", frozen=False)
    out = enc(torch.randn(2, 3, 4, 16, 16))
    assert out.shape == (2, 32)
    out.sum().backward()
    assert enc.encoder.layer[0].attention.query.weight.grad is not None


def test_errors(tmp_path, saved_model):
    with pytest.raises(CheckpointError, match="no config.json"):
        VJEPA2HFEncoder(pretrained=str(tmp_path))
    with pytest.raises(ConfigError, match="exactly one"):
        VJEPA2HFEncoder()
    with pytest.raises(DataError, match=r"\(B, C=3, T, H, W\)"):
        VJEPA2HFEncoder(pretrained=saved_model[0])(torch.randn(2, 4, 3, 16, 16))
