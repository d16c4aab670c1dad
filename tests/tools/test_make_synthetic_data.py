"""tools/make_synthetic_data.py writes the set from the command line, deterministically from the seed."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "make_synthetic_data.py"), *args],
                          capture_output=True, text=True, timeout=120)


def test_writes_videos_captions_and_splits(tmp_path):
    out = tmp_path / "set"
    result = _run("--out", str(out), "--num-videos", "6", "--seed", "5", "--size", "16", "--frames", "8")
    assert result.returncode == 0, result.stderr
    entries = json.loads((out / "captions.json").read_text())
    assert len(entries) == 6 and {e["class_name"] for e in entries} == {
        "flood", "wildfire", "smoke", "earthquake", "landslide", "calm"}
    assert all((out / e["video_path"]).stat().st_size > 0 for e in entries)
    assert sum(len(json.loads((out / f"{s}.json").read_text())) for s in ("train", "val", "test")) == 6
    again = tmp_path / "again"
    rerun = _run("--out", str(again), "--num-videos", "6", "--seed", "5", "--size", "16", "--frames", "8")
    assert rerun.returncode == 0
    assert all((out / e["video_path"]).read_bytes() == (again / e["video_path"]).read_bytes() for e in entries)


def test_bad_size_is_reported_with_exit_code_2(tmp_path):
    result = _run("--out", str(tmp_path / "x"), "--num-videos", "2", "--size", "15")
    assert result.returncode == 2 and "even frame size" in result.stderr
