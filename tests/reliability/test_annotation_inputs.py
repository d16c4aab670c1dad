"""Door 2, annotation files (VideoCaptionDataset's JSON list of {"video_path", "caption"}): every bad file or entry
is a DataError naming the file, and for an entry its index and key; paths may not leave the data root."""
from __future__ import annotations

import json
import random

import pytest

from aegis.errors import DataError
from aegis_plugins.data.datasets import VideoCaptionDataset

SEED = 0


@pytest.fixture
def root(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.mp4").write_bytes(b"x" * 16)  # file checks only: nothing is decoded here
    return tmp_path


def _dataset(ann, data_root=None):
    return VideoCaptionDataset(str(ann), pipeline=[], data_root=data_root)


FILES = {  # name -> (bytes of the annotation file, pattern the error must match)
    "not json": (b"video_path: a.mp4", r"not valid JSON \(line 1, column 1"),
    "truncated json": (b'[{"video_path": "videos/a.mp4", "capt', r"not valid JSON \(line 1"),
    "binary": (bytes(random.Random(SEED).randbytes(200)), r"not (UTF-8|valid JSON)"),
    "empty": (b"", r"not valid JSON"),
    "deep nesting": (b"[" * 100000 + b"]" * 100000, r"nested too deeply|not valid JSON"),
    "dict not list": (b'{"video_path": "videos/a.mp4", "caption": "x"}', r"expected a JSON list .* got dict"),
    "number": (b"3", r"expected a JSON list .* got int"),
    "list of strings": (b'["videos/a.mp4"]', r"entry 0: expected an object .* got str"),
    "empty list": (b"[]", r"no usable video entries"),
    "caption int": (b'[{"video_path": "videos/a.mp4", "caption": 7}]', r"entry 0: 'caption' must be a string"),
    "video_path list": (b'[{"video_path": ["videos/a.mp4"], "caption": "x"}]', r"entry 0: 'video_path' must be"),
    "video_path missing": (b'[{"caption": "x"}]', r"entry 0: 'video_path' must be .*keys present: caption"),
    "video_path empty": (b'[{"video_path": "", "caption": "x"}]', r"entry 0: 'video_path' must be a non-empty"),
    "captions not list": (b'[{"video_path": "videos/a.mp4", "captions": "x"}]', r"entry 0: 'captions' must be"),
    "label string": (b'[{"video_path": "videos/a.mp4", "caption": "x", "label": "3"}]', r"entry 0: 'label' must"),
    "params list": (b'[{"video_path": "videos/a.mp4", "caption": "x", "params": []}]', r"entry 0: 'params' must"),
    "second entry bad": (b'[{"video_path": "videos/a.mp4", "caption": "x"}, {"video_path": 3}]', r"entry 1: "),
    "missing video": (b'[{"video_path": "videos/b.mp4", "caption": "x"}]', r"entry 0: video .*b.mp4 does not exist"),
    "folder as video": (b'[{"video_path": "videos", "caption": "x"}]', r"entry 0: video .* is not a file"),
    "escapes root": (b'[{"video_path": "../../etc/passwd", "caption": "x"}]',
                     r"entry 0: 'video_path' '\.\./\.\./etc/passwd' leads outside the data root"),
    "escapes root inside": (b'[{"video_path": "videos/../../x.mp4", "caption": "x"}]', r"entry 0: .*outside"),
    "nul in path": (b'[{"video_path": "videos/a\\u0000.mp4", "caption": "x"}]', r"entry 0: .*NUL"),
}


@pytest.mark.parametrize("name", list(FILES))
def test_a_bad_annotation_file_is_a_named_error(probe, root, name):
    data, pattern = FILES[name]
    ann = root / "ann.json"
    ann.write_bytes(data)
    out = probe("annotation", name, _dataset, ann)
    assert out.kind == "named", out.error
    assert isinstance(out.error, DataError) and str(ann) in str(out.error)
    import re
    assert re.search(pattern, str(out.error)), str(out.error)


def test_the_file_itself_missing_or_a_folder(probe, root):
    for path in (root / "nope.json", root / "videos"):
        out = probe("annotation", f"annotation path {path.name}", _dataset, path)
        assert out.kind == "named" and str(path) in str(out.error), out.error


def test_absolute_paths_are_taken_as_they_are_without_data_root_and_refused_outside_it(probe, root, tmp_path_factory):
    video = root / "videos" / "a.mp4"
    ann = root / "ann.json"
    ann.write_text(json.dumps([{"video_path": str(video), "caption": "x"}]))
    out = probe("annotation", "absolute path, no data_root", _dataset, ann)
    assert out.kind == "accepted" and out.value.entries[0]["video_path"] == str(video)
    out = probe("annotation", "absolute path inside data_root", _dataset, ann, str(root))
    assert out.kind == "accepted" and out.value.entries[0]["video_path"] == str(video)
    other = tmp_path_factory.mktemp("elsewhere")
    out = probe("annotation", "absolute path outside data_root", _dataset, ann, str(other))
    assert out.kind == "named" and "entry 0: 'video_path'" in str(out.error) and "outside data_root" in str(out.error)
    ann.write_text(json.dumps([{"video_path": "/etc/passwd", "caption": "x"}]))
    out = probe("annotation", "/etc/passwd with data_root", _dataset, ann, str(root))
    assert out.kind == "named" and "'/etc/passwd' is outside data_root" in str(out.error)


def test_random_json_values_never_crash(probe, root):
    rng = random.Random(SEED)
    atoms = [None, True, 0, -1, 1.5, "", "x", "videos/a.mp4", "../a.mp4", [], {}, ["x"], {"a": 1}]
    keys = ["video_path", "caption", "captions", "label", "class_name", "params"]
    ann = root / "ann.json"
    for i in range(40):
        entries = [{k: rng.choice(atoms) for k in rng.sample(keys, rng.randint(0, len(keys)))}
                   for _ in range(rng.randint(1, 3))]
        ann.write_text(json.dumps(entries))
        out = probe("annotation", f"random entries #{i}", _dataset, ann)
        assert out.kind in ("named", "accepted"), out.error
        if out.kind == "named":
            assert str(ann) in str(out.error)
