"""tools/extract_features.py: real H.264 videos in, features equal to encoding the decoded clips directly, out."""
import importlib.util
import json
import os

import numpy as np
import pytest
import torch

from aegis_plugins.data.video_io import write_video
from aegis_plugins.encoders.features import build_clip_pipeline, load_features, list_videos
from aegis_plugins.encoders.vjepa import VJEPAEncoder

ENCODER = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
               num_frames=4, img_size=16)


def _tool():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "extract_features.py")
    spec = importlib.util.spec_from_file_location("extract_features_tool", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(0)
    names = []
    for i in range(3):
        frames = rng.integers(0, 255, size=(12, 24, 24, 3), dtype=np.uint8)
        frames[:, :, :, i] = 255  # each video has its own dominant colour
        write_video(str(tmp_path / f"clip{i}.mp4"), frames, fps=8)
        names.append(f"clip{i}.mp4")
    (tmp_path / "captions.json").write_text(json.dumps([{"video_path": n, "caption": "x"} for n in names]))
    torch.manual_seed(0)
    encoder = VJEPAEncoder(**{k: v for k, v in ENCODER.items() if k != "type"})
    torch.save(encoder.state_dict(), tmp_path / "enc.pt")
    cfg = dict(ENCODER, checkpoint=str(tmp_path / "enc.pt"), checkpoint_key=None)
    (tmp_path / "enc_cfg.py").write_text(f"encoder = {cfg!r}\n")
    return tmp_path, encoder.eval(), [str(tmp_path / n) for n in names]


@pytest.mark.parametrize("ext", [".npz", ".safetensors"])
def test_features_match_direct_encoding(setup, ext):
    tmp_path, encoder, paths = setup
    out = str(tmp_path / f"feats{ext}")
    assert _tool().main([str(tmp_path / "enc_cfg.py"), "--videos", str(tmp_path / "captions.json"), "--out", out,
                         "--batch-size", "2", "--threads", "1"]) == 0
    feats, video_paths, meta = load_features(out)
    assert feats.shape == (3, 8, 32) and feats.dtype == np.float32
    assert video_paths == paths and meta["encoder"]["type"] == "VJEPAEncoder"
    pipeline = build_clip_pipeline(encoder)
    with torch.no_grad():
        clip = pipeline(dict(video_path=paths[1], test_mode=True))["inputs"]  # (C, T, H, W)
        assert clip.shape == (3, 4, 16, 16)
        np.testing.assert_allclose(feats[1], encoder(clip[None])[0].numpy(), atol=1e-5)
    assert not np.allclose(feats[0], feats[1], atol=1e-3)


def test_pooled_override_folder_input_and_errors(setup, capsys):
    tmp_path, _, paths = setup
    out = str(tmp_path / "pooled.npz")
    assert _tool().main([str(tmp_path / "enc_cfg.py"), "--videos", str(tmp_path), "--out", out,
                         "--cfg-options", "encoder.output=pooled", "--threads", "1"]) == 0
    feats, video_paths, _ = load_features(out)
    assert feats.shape == (3, 32) and video_paths == sorted(paths)
    assert _tool().main([str(tmp_path / "enc_cfg.py"), "--videos", str(tmp_path), "--out",
                         str(tmp_path / "f.h5")]) == 2
    assert "unknown format .h5" in capsys.readouterr().err
    (tmp_path / "list.txt").write_text("clip0.mp4\nmissing.mp4\n")
    assert list_videos(str(tmp_path / "list.txt"))[1] == str(tmp_path / "missing.mp4")
    assert _tool().main([str(tmp_path / "enc_cfg.py"), "--videos", str(tmp_path / "list.txt"), "--out", out]) == 2
    assert "missing.mp4" in capsys.readouterr().err
