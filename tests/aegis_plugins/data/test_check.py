"""`aegis data check FILE.json` reports every bad entry with its index and reason and exits non-zero if any."""
from __future__ import annotations

import json

from aegis.cli import main
from aegis_plugins.data.check import check_annotation_file


def _write(tmp_path, entries):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(entries))
    return str(path)


def test_every_bad_entry_is_reported_with_index_and_reason(tmp_path, ramp_video, make_ramp, capsys):
    from aegis_plugins.data.video_io import write_video
    write_video(str(tmp_path / "short.mp4"), make_ramp(num_frames=3))
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(b"x" * 500)
    ann = _write(tmp_path, [
        {"video_path": "ramp.mp4", "caption": "fine"},
        {"video_path": "missing.mp4", "caption": "x"},
        {"caption": "no path"},
        {"video_path": "empty.mp4", "caption": "x"},
        {"video_path": "junk.mp4", "caption": "x"},
        {"video_path": "ramp.mp4", "caption": "x", "captions": "not a list"},
        {"video_path": "short.mp4", "caption": "x"},
        "just a string",
    ])
    total, problems = check_annotation_file(ann, min_frames=4)
    assert total == 8
    assert [p.index for p in problems] == [1, 2, 3, 4, 5, 6, 7]
    reasons = {p.index: p.reason for p in problems}
    assert "does not exist" in reasons[1] and "'video_path'" in reasons[2] and "empty" in reasons[3]
    assert "cannot open" in reasons[4] and "'captions'" in reasons[5] and "3 frames" in reasons[6]

    code = main(["data", "check", ann, "--min-frames", "4"])
    out = capsys.readouterr().out
    assert code == 1
    assert "entry 4: cannot open the video" in out and "8 entries, 7 bad" in out


def test_a_good_file_passes_and_a_broken_file_fails(tmp_path, ramp_video, capsys):
    good = _write(tmp_path, [{"video_path": "ramp.mp4", "caption": "fine"}])
    assert main(["data", "check", good]) == 0
    assert "1 entries, OK" in capsys.readouterr().out
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    assert main(["data", "check", str(broken)]) == 1
    assert "not valid JSON" in capsys.readouterr().out


def test_synthetic_set_checks_clean(synthetic_root, capsys):
    assert main(["data", "check", str(synthetic_root / "captions.json"), "--min-frames", "16"]) == 0
