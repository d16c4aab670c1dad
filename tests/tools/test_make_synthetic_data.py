"""tools/make_synthetic_data.py writes the set from the command line, deterministically from the seed, with a live
bar on a terminal and nothing extra in a pipe."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
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


def _run_on_a_terminal(*args) -> tuple[int, str]:
    """The tool with stdout and stderr on a pseudo-terminal: (exit status, what it showed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = dict(os.environ, TERM="xterm-256color")
    env.pop("AEGIS_PROGRESS", None)
    process = subprocess.Popen([sys.executable, str(ROOT / "tools" / "make_synthetic_data.py"), *args], env=env,
                               stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the tool has exited and closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return process.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_progress_is_a_bar_on_a_terminal_and_nothing_in_a_pipe(tmp_path):
    args = ("--num-videos", "6", "--seed", "5", "--size", "16", "--frames", "8")
    piped = _run("--out", str(tmp_path / "piped"), *args)
    assert piped.returncode == 0, piped.stderr
    output = piped.stdout + piped.stderr
    assert output.startswith("wrote 6 videos") and output.count("\n") == 1  # the one summary line, nothing else
    assert "\r" not in output and "\x1b[" not in output and "━" not in output

    status, shown = _run_on_a_terminal("--out", str(tmp_path / "terminal"), *args)
    assert status == 0, shown
    bars = [line for line in shown.replace("\r", "\n").split("\n") if "━" in line]
    assert bars and "disaster videos" in bars[-1] and "6/6" in bars[-1], shown
    assert "wrote 6 videos" in shown


def test_voe_scenes_write_pairs_and_possible_only_splits(tmp_path):
    out = tmp_path / "voe"
    result = _run("--scenes", "voe", "--out", str(out), "--num-pairs", "1", "--num-train", "14", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote 28 videos")
    pairs = json.loads((out / "pairs.json").read_text())
    assert len(pairs) == 14 and sorted(e["possible"] for e in pairs) == [False] * 7 + [True] * 7
    assert len(json.loads((out / "train.json").read_text())) + len(json.loads((out / "val.json").read_text())) == 14
    meta = json.loads((out / "synthetic_meta.json").read_text())
    assert (meta["scenes"], meta["num_pairs"], meta["num_train"], meta["seed"], meta["size"], meta["frames"]) == (
        "voe", 1, 14, 3, 32, 16)
    assert all((out / e["video_path"]).stat().st_size > 0 for e in json.loads((out / "captions.json").read_text()))
    bad = _run("--scenes", "voe", "--out", str(tmp_path / "bad"), "--num-train", "3")
    assert bad.returncode == 2 and "num_train=3" in bad.stderr
