"""Door 5, outputs: a tool that fails midway leaves no partial final file (and no temporary file) behind."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from aegis.errors import DataError
from aegis_plugins.data import video_io

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"aegis_tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tool_main(name: str):
    """The tool's main, with its exit status 2 (a named error printed on stderr) raised as a DataError."""
    main = _tool(name).main

    def run(argv):
        rc = main(argv)
        if rc == 2:
            raise DataError(f"tools/{name}.py exited 2")
        return rc
    return run


def test_write_video_failing_midway_leaves_nothing(probe, tmp_path, monkeypatch):
    real = video_io._rgb_to_yuv420p
    calls = []

    def fail_on_fifth(rgb):
        calls.append(1)
        if len(calls) == 5:
            raise DataError("simulated failure on frame 5")
        return real(rgb)
    monkeypatch.setattr(video_io, "_rgb_to_yuv420p", fail_on_fifth)
    target = tmp_path / "out.mp4"
    out = probe("output", "write_video fails at frame 5", video_io.write_video, str(target),
                np.zeros((10, 16, 16, 3), np.uint8))
    assert out.kind == "named"
    assert list(tmp_path.iterdir()) == []


def test_make_synthetic_data_failing_midway_writes_no_captions_file(probe, tmp_path, monkeypatch, capsys):
    from aegis_plugins.data import synthetic
    real, calls = synthetic.write_video, []

    def fail_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise DataError("simulated failure on video 3")
        return real(*args, **kwargs)
    monkeypatch.setattr(synthetic, "write_video", fail_on_third)
    out_dir = tmp_path / "set"
    rc = probe("output", "make_synthetic_data fails at video 3", _tool_main("make_synthetic_data"),
               ["--out", str(out_dir), "--num-videos", "6", "--size", "16", "--frames", "4"])
    assert rc.kind == "named" and "simulated failure" in capsys.readouterr().err
    names = [p.name for p in out_dir.rglob("*") if p.is_file()]
    assert "captions.json" not in names and not [n for n in names if "tmp" in n]


def test_extract_features_with_a_broken_video_writes_no_features_file(probe, tmp_path, capsys):
    from aegis_plugins.data.video_io import write_video
    write_video(str(tmp_path / "good.mp4"), np.zeros((8, 16, 16, 3), np.uint8), fps=8)
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 500)
    (tmp_path / "captions.json").write_text(json.dumps([{"video_path": "good.mp4", "caption": "x"},
                                                        {"video_path": "bad.mp4", "caption": "y"}]))
    encoder = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=1, num_heads=2, patch_size=8, tubelet_size=2,
                   num_frames=4, img_size=16)
    (tmp_path / "enc.py").write_text(f"encoder = {encoder!r}\n")
    target = tmp_path / "feats.npz"
    rc = probe("output", "extract_features with a broken video", _tool_main("extract_features"),
               [str(tmp_path / "enc.py"), "--videos", str(tmp_path / "captions.json"), "--out", str(target),
                "--batch-size", "1", "--threads", "1"])
    assert rc.kind == "named"
    assert capsys.readouterr().err.startswith("DataError: ")
    assert not target.exists() and not list(tmp_path.glob(".features.*"))


@pytest.mark.parametrize("on_error", ["raise"])
def test_preprocess_videos_with_a_broken_video_writes_no_captions_file(probe, tmp_path, capsys, on_error):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "bad.mp4").write_bytes(b"\x00" * 500)
    out_dir = tmp_path / "out"
    rc = probe("output", "preprocess_videos with a broken video", _tool_main("preprocess_videos"),
               ["--input-dir", str(raw), "--output-dir", str(out_dir), "--size", "16", "--clip-frames", "4",
                "--on-error", on_error])
    assert rc.kind == "named" and "bad.mp4" in capsys.readouterr().err
    assert not (out_dir / "captions.json").exists()
