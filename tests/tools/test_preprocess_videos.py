"""tools/preprocess_videos.py: raw videos -> fixed size/fps/length clips + captions JSON (empty or from a captioner)."""
from __future__ import annotations

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest

from aegis_plugins.data.video_io import open_video, write_video

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("preprocess_tool", ROOT / "tools" / "preprocess_videos.py")
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def _ramp(num_frames, height, width):
    """Frame i has green value 4 * i, so the output's frame times can be read back from the pixels."""
    frames = np.zeros((num_frames, height, width, 3), np.uint8)
    frames[..., 1] = (np.arange(num_frames) * 4 % 256).astype(np.uint8)[:, None, None]
    return frames


@pytest.fixture
def raw(tmp_path):
    raw = tmp_path / "raw"
    write_video(str(raw / "flood" / "a.mp4"), _ramp(50, 240, 320), fps=25)  # 2 s at 25 fps
    write_video(str(raw / "b.mp4"), _ramp(30, 64, 96), fps=10)  # 3 s at 10 fps
    (raw / "broken.mp4").write_bytes(b"\x00" * 400)
    return raw


def test_clips_have_fixed_size_fps_and_length(raw, tmp_path, capsys):
    out = tmp_path / "out"
    assert tool.main(["--input-dir", str(raw), "--output-dir", str(out), "--size", "32", "--fps", "8",
                      "--clip-frames", "8"]) == 0
    entries = json.loads((out / "captions.json").read_text())
    # b.mp4: 3 s at 8 fps = 24 frames -> 3 clips; flood/a.mp4: 2 s = 16 frames -> 2 clips; broken.mp4 skipped
    assert [(e["source"], e["start_s"]) for e in entries] == [
        ("b.mp4", 0.0), ("b.mp4", 1.0), ("b.mp4", 2.0), ("flood/a.mp4", 0.0), ("flood/a.mp4", 1.0)]
    assert all(e["caption"] == "" and e["captions"] == [] for e in entries)
    assert entries[3]["class_name"] == "flood" and "class_name" not in entries[0]
    reader = open_video(str(out / entries[4]["video_path"]), "pyav")
    assert (reader.num_frames, reader.height, reader.width, reader.fps) == (8, 32, 32, 8.0)
    green = reader.get_frames(range(8))[:, 16, 16, 1].astype(int)
    # output frame k of the clip starting at 1 s shows the source frame at (1 + k / 8) s = index 25 + 25k/8
    expected = [4 * int(np.ceil(25 + 25 * k / 8 - 1e-6)) for k in range(8)]
    assert np.abs(green - expected).max() <= 4
    assert str(out / "captions.json") in capsys.readouterr().out


def test_on_error_raise_stops_at_a_broken_video(raw, tmp_path, capsys):
    code = tool.main(["--input-dir", str(raw), "--output-dir", str(tmp_path / "o"), "--size", "16",
                      "--clip-frames", "4", "--on-error", "raise"])
    assert code == 2 and "broken.mp4" in capsys.readouterr().err


def test_captions_come_from_a_captioner(raw, tmp_path):
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["model"])
            data = json.dumps({"choices": [{"message": {"content": f"clip {len(seen)}"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        captioner = json.dumps({"type": "OpenAIChatCaptioner", "model": "local-vlm", "num_frames": 2,
                                "base_url": f"http://127.0.0.1:{server.server_address[1]}/v1"})
        out = tmp_path / "captioned"
        assert tool.main(["--input-dir", str(raw), "--output-dir", str(out), "--size", "16", "--fps", "4",
                          "--clip-frames", "8", "--captioner", captioner]) == 0
    finally:
        server.shutdown()
        server.server_close()
    entries = json.loads((out / "captions.json").read_text())
    assert [e["caption"] for e in entries] == [f"clip {i + 1}" for i in range(len(entries))]
    assert len(entries) == 2 and seen == ["local-vlm"] * 2  # 3 s and 2 s at 4 fps: one 8-frame clip each
