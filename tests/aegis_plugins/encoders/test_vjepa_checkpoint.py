"""Official V-JEPA checkpoints (facebookresearch/jepa layout) load into VJEPAEncoder key by key."""
import numpy as np
import pytest
import torch

from aegis.build import build_component
from aegis.errors import CheckpointError
from aegis.registry import ENCODERS
from aegis_plugins.encoders.pos_embed import sincos_3d
from aegis_plugins.encoders.vjepa import VJEPAEncoder
from aegis_plugins.encoders.vjepa_checkpoint import load_vjepa_checkpoint, map_official_key, strip_wrappers

D, DEPTH, HEADS, HIDDEN = 32, 2, 2, 128
CFG = dict(arch=None, embed_dim=D, depth=DEPTH, num_heads=HEADS, patch_size=8, tubelet_size=2, num_frames=4,
           img_size=16)


def _official_encoder_state(seed: int) -> dict[str, torch.Tensor]:
    """An encoder state dict as the official ViT names and shapes it, every tensor distinct random values."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {"patch_embed.proj.weight": (D, 3, 2, 8, 8), "patch_embed.proj.bias": (D,), "norm.weight": (D,),
              "norm.bias": (D,)}
    for i in range(DEPTH):
        shapes.update({f"blocks.{i}.norm1.weight": (D,), f"blocks.{i}.norm1.bias": (D,),
                       f"blocks.{i}.attn.qkv.weight": (3 * D, D), f"blocks.{i}.attn.qkv.bias": (3 * D,),
                       f"blocks.{i}.attn.proj.weight": (D, D), f"blocks.{i}.attn.proj.bias": (D,),
                       f"blocks.{i}.norm2.weight": (D,), f"blocks.{i}.norm2.bias": (D,),
                       f"blocks.{i}.mlp.fc1.weight": (HIDDEN, D), f"blocks.{i}.mlp.fc1.bias": (HIDDEN,),
                       f"blocks.{i}.mlp.fc2.weight": (D, HIDDEN), f"blocks.{i}.mlp.fc2.bias": (D,)})
    state = {k: torch.randn(s, generator=gen) for k, s in shapes.items()}
    state["pos_embed"] = sincos_3d(D, (2, 2, 2), uniform_power=True).unsqueeze(0)
    return state


def _release_file(tmp_path, prefix="module.backbone.", **extra) -> tuple[str, dict, dict]:
    context, target = _official_encoder_state(1), _official_encoder_state(2)
    ckpt = {"encoder": {prefix + k: v for k, v in context.items()},
            "target_encoder": {prefix + k: v for k, v in target.items()},
            "predictor": {"module.backbone.predictor_embed.weight": torch.randn(16, D)},
            "opt": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]}, "scaler": None,
            "epoch": 300, "loss": np.float64(0.25), "batch_size": 24, "world_size": 1, "lr": 1e-4, **extra}
    path = tmp_path / "vitl16.pth.tar"
    torch.save(ckpt, path)
    return str(path), context, target


def _expected_location(enc: VJEPAEncoder, official: str) -> torch.Tensor:
    """Where each official name must land, spelled out attribute by attribute."""
    parts = official.split(".")
    if parts[0] == "blocks":
        block = enc.blocks[int(parts[1])]
        module = {"norm1": block.norm1, "norm2": block.norm2, "attn": getattr(block.attn, parts[3], None),
                  "mlp": getattr(block.mlp, parts[3], None)}[parts[2]]
        return getattr(module, parts[-1])
    if parts[0] == "patch_embed":
        return getattr(enc.patch_embed.proj, parts[-1])
    if parts[0] == "norm":
        return getattr(enc.norm, parts[-1])
    return enc.pos_embed


@pytest.mark.parametrize("key,seed_state", [("target_encoder", 2), ("encoder", 1)])
def test_every_official_key_is_consumed_and_lands_where_it_belongs(tmp_path, key, seed_state):
    path, context, target = _release_file(tmp_path)
    source = target if key == "target_encoder" else context
    enc = build_component(dict(type="VJEPAEncoder", checkpoint=path, checkpoint_key=key, **CFG), ENCODERS,
                          path="model.encoder")
    for name, tensor in source.items():
        torch.testing.assert_close(_expected_location(enc, name), tensor, rtol=0, atol=0, msg=name)
    # ...and round trip: the encoder's own state dict is exactly the official one, key for key
    assert set(enc.state_dict()) == set(source)
    report = load_vjepa_checkpoint(VJEPAEncoder(**CFG), path, key)
    assert set(report.mapping) == {f"module.backbone.{k}" for k in source} and report.kept_own == []


def test_loaded_encoder_computes_with_the_loaded_weights(tmp_path):
    path, _, target = _release_file(tmp_path)
    enc = VJEPAEncoder(checkpoint=path, **CFG).eval()
    video = torch.randn(1, 3, 4, 16, 16)
    conv = torch.nn.functional.conv3d(video, target["patch_embed.proj.weight"], target["patch_embed.proj.bias"],
                                      stride=(2, 8, 8))
    torch.testing.assert_close(enc.embed(video), conv.flatten(2).transpose(1, 2) + target["pos_embed"])
    torch.manual_seed(0)
    assert not torch.allclose(enc(video), VJEPAEncoder(**CFG).eval()(video))


def test_plain_and_training_checkpoints_load_too(tmp_path):
    source = _official_encoder_state(3)
    torch.save(source, tmp_path / "plain.pt")
    enc = VJEPAEncoder(checkpoint=str(tmp_path / "plain.pt"), checkpoint_key=None, **CFG)
    torch.testing.assert_close(enc.norm.weight, source["norm.weight"])
    torch.save({"meta": {"epoch": 1}, "state_dict": {f"target_encoder.{k}": v for k, v in source.items()}},
               tmp_path / "epoch_1.pth")
    enc = VJEPAEncoder(checkpoint=str(tmp_path / "epoch_1.pth"), **CFG)
    torch.testing.assert_close(enc.blocks[1].mlp.fc2.bias, source["blocks.1.mlp.fc2.bias"])
    (tmp_path / "last_checkpoint").write_text(str(tmp_path / "epoch_1.pth"))  # a run's work dir, as mmengine leaves it
    enc = VJEPAEncoder(checkpoint=str(tmp_path), **CFG)
    torch.testing.assert_close(enc.blocks[0].attn.qkv.weight, source["blocks.0.attn.qkv.weight"])
    (tmp_path / "last_checkpoint").unlink()
    with pytest.raises(CheckpointError, match="folder without a last_checkpoint"):
        VJEPAEncoder(checkpoint=str(tmp_path), **CFG)


def test_pos_embed_for_another_grid_keeps_our_table(tmp_path):
    path, _, _ = _release_file(tmp_path)
    with pytest.warns(UserWarning, match="keeping the encoder's own"):
        enc = VJEPAEncoder(checkpoint=path, **{**CFG, "num_frames": 8})
    torch.testing.assert_close(enc.pos_embed[0], sincos_3d(D, (4, 2, 2)))


def test_uniform_power_mismatch_is_named(tmp_path):
    path, _, _ = _release_file(tmp_path)
    with pytest.warns(UserWarning, match="uniform_power=True; set that"):
        VJEPAEncoder(checkpoint=path, uniform_power=False, **CFG)


def test_mismatches_list_missing_unexpected_and_both_shapes(tmp_path):
    path, _, _ = _release_file(tmp_path)
    with pytest.raises(CheckpointError, match=r"Missing from the checkpoint \(12\): blocks\.2\.norm1\.weight"):
        VJEPAEncoder(checkpoint=path, **{**CFG, "depth": 3})
    with pytest.raises(CheckpointError, match=r"Unexpected in the checkpoint \(12\): module\.backbone\.blocks\.1"):
        VJEPAEncoder(checkpoint=path, **{**CFG, "depth": 1})
    with pytest.raises(CheckpointError, match=r"module\.backbone\.blocks\.0\.mlp\.fc1\.weight -> blocks\.0\.mlp\."
                                              r"fc1\.weight: checkpoint \(128, 32\) vs encoder \(64, 32\)"):
        VJEPAEncoder(checkpoint=path, **{**CFG, "mlp_ratio": 2.0})
    with pytest.raises(CheckpointError, match="no state dict 'target_encodr'.*Did you mean 'target_encoder'"):
        VJEPAEncoder(checkpoint=path, checkpoint_key="target_encodr", **CFG)


def test_bad_files_raise_checkpoint_errors(tmp_path):
    bad = tmp_path / "truncated.pth.tar"
    path, _, _ = _release_file(tmp_path)
    bad.write_bytes(open(path, "rb").read()[:200])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        VJEPAEncoder(checkpoint=str(bad), **CFG)


def test_key_mapping_table():
    assert strip_wrappers("module.backbone.blocks.3.attn.qkv.bias") == "blocks.3.attn.qkv.bias"
    assert strip_wrappers("backbone.module.norm.weight") == "norm.weight"
    assert map_official_key("blocks.11.mlp.fc2.weight") == "blocks.11.mlp.fc2.weight"
    assert map_official_key("predictor_embed.weight") is None and map_official_key("cls_token") is None
