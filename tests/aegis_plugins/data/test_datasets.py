"""Datasets: the sample contract, caption choice, class folders, synthetic generation under concurrency, bad input."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil

import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError, DataError
from aegis.registry import DATASETS
from aegis_plugins.data.datasets import ensure_synthetic
from aegis_plugins.data.synthetic import CLASSES

PIPE = dict(type="VideoClipPipeline", video_length=4, frame_sample_rate=2, img_size=16, backend="pyav")


def _caption_json(root, entries) -> str:
    path = os.path.join(root, "ann.json")
    with open(path, "w") as f:
        json.dump(entries, f)
    return path


def test_sample_follows_the_contract(synthetic_root):
    ds = build_component(dict(type="VideoCaptionDataset", ann_file=str(synthetic_root / "captions.json"),
                              pipeline=PIPE, test_mode=True), DATASETS)
    assert len(ds) == 12 and ds.classes == CLASSES
    sample = ds[0]
    assert sample["inputs"].shape == (3, 4, 16, 16) and sample["inputs"].dtype == torch.float32
    meta = sample["data_samples"]
    for key in ("video_path", "label", "class_name", "caption", "captions", "params"):
        assert key in meta
    assert os.path.isabs(meta["video_path"]) and os.path.exists(meta["video_path"])
    assert meta["class_name"] == CLASSES[meta["label"]] and meta["caption"] == meta["captions"][0]


def test_training_picks_random_captions_and_eval_the_first(synthetic_root):
    entries = json.load(open(synthetic_root / "captions.json"))
    ann = str(synthetic_root / "captions.json")
    train = build_component(dict(type="VideoCaptionDataset", ann_file=ann, pipeline=PIPE), DATASETS)
    torch.manual_seed(0)
    seen = {train[1]["data_samples"]["caption"] for _ in range(30)}
    expected = set(entries[1]["captions"])
    if entries[1]["direction"]:  # a flip swaps east and west in the captions
        expected |= {c.replace("east", "#").replace("west", "east").replace("#", "west") for c in expected}
    assert len(seen) > 1 and seen <= expected
    evaluation = build_component(dict(type="VideoCaptionDataset", ann_file=ann, pipeline=PIPE, test_mode=True),
                                 DATASETS)
    assert {evaluation[1]["data_samples"]["caption"] for _ in range(5)} == {entries[1]["caption"]}


def _picks(dataset, seed: int, epoch: int):
    """The captions and clips of one training epoch read as AEGIS's epoch loop reads them: every index carries a seed
    of (seed, epoch, position) and the dataset reads it with torch seeded by it (aegis.engine.seeded_data)."""
    from aegis.engine.seeded_data import SeededDataset, SeededSampler

    sampler = SeededSampler(dataset, shuffle=False, seed=seed)
    sampler.set_epoch(epoch)
    items = [SeededDataset(dataset)[key] for key in sampler]
    return [it["data_samples"]["caption"] for it in items], torch.stack([it["inputs"] for it in items])


def test_the_dataset_picks_the_caption_once_per_sample_and_epoch(tmp_path, ramp_video):
    paraphrases = [f"water rising {adverb}" for adverb in ("fast", "quickly", "rapidly", "swiftly")]
    ann = _caption_json(tmp_path, [dict(video_path="ramp.mp4", caption=paraphrases[0], captions=paraphrases)] * 6)
    pipeline = dict(PIPE, crop_scale=(0.5, 1.0))  # a random crop follows the caption pick
    ds = build_component(dict(type="VideoCaptionDataset", ann_file=ann, pipeline=pipeline), DATASETS)
    first, clips = _picks(ds, seed=0, epoch=0)
    again, clips_again = _picks(ds, seed=0, epoch=0)
    assert first == again and torch.equal(clips, clips_again)  # deterministic per (seed, epoch, sample)
    later = [_picks(ds, seed=0, epoch=e)[0] for e in (1, 2, 3)]
    assert all(set(picks) <= set(paraphrases) for picks in [first, *later])
    assert any(picks != first for picks in later)  # another epoch, other paraphrases
    assert len({tuple(picks[i] for picks in [first, *later]) for i in range(6)}) > 1  # samples differ too
    assert _picks(ds, seed=1, epoch=0)[0] != first  # another seed, another draw
    canonical = build_component(dict(type="VideoCaptionDataset", ann_file=ann, pipeline=pipeline,
                                     sample_all_captions=False), DATASETS)
    kept, canonical_clips = _picks(canonical, seed=0, epoch=0)
    assert kept == [paraphrases[0]] * 6
    assert torch.equal(canonical_clips, clips)  # the same crops whichever way captions are chosen


@pytest.mark.parametrize("name", ["VideoCaptionDataset", "VideoFolderDataset", "SyntheticDisasterDataset"])
def test_every_dataset_class_declares_the_keys_of_its_samples(name, tmp_path, ramp_video):
    cls = DATASETS.get(name)
    assert isinstance(cls.sample_keys, tuple) and all(isinstance(k, str) for k in cls.sample_keys)
    if name == "VideoCaptionDataset":
        ds = cls(ann_file=_caption_json(tmp_path, [dict(video_path="ramp.mp4", caption="a ramp")]), pipeline=PIPE)
    elif name == "VideoFolderDataset":
        os.makedirs(tmp_path / "root" / "flood")
        shutil.copy(ramp_video, tmp_path / "root" / "flood" / "a.mp4")
        ds = cls(data_root=str(tmp_path / "root"), pipeline=PIPE)
    else:
        ds = cls(data_root=str(tmp_path / "syn"), num_videos=12, size=16, frames=8, pipeline=PIPE)
    sample = ds[0]
    assert set(cls.sample_keys) <= set(sample)
    assert set(cls.data_sample_keys) <= set(sample["data_samples"])


def test_guide_format_with_only_caption_and_extra_fields(tmp_path, ramp_video):
    ann = _caption_json(tmp_path, [{"video_path": "ramp.mp4", "caption": "a ramp", "camera": "drone-3"}])
    ds = build_component(dict(type="VideoCaptionDataset", ann_file=ann, pipeline=PIPE, test_mode=True), DATASETS)
    meta = ds[0]["data_samples"]
    assert meta["caption"] == "a ramp" and meta["captions"] == ["a ramp"] and meta["camera"] == "drone-3"
    assert meta["label"] == -1 and meta["params"] == {}


def test_folder_per_class_dataset_with_captions(tmp_path, ramp_video):
    for cls in ("fire", "flood"):
        os.makedirs(tmp_path / "root" / cls)
        shutil.copy(ramp_video, tmp_path / "root" / cls / "a.mp4")
    (tmp_path / "root" / "flood" / "notes.txt").write_text("not a video")
    captions = tmp_path / "caps.json"
    captions.write_text(json.dumps({"fire/a.mp4": ["smoke and fire", "burning"]}))
    ds = build_component(dict(type="VideoFolderDataset", data_root=str(tmp_path / "root"), pipeline=PIPE,
                              captions_file=str(captions), test_mode=True), DATASETS)
    assert ds.classes == ("fire", "flood") and len(ds) == 2
    metas = [ds[i]["data_samples"] for i in range(2)]
    assert [(m["label"], m["class_name"]) for m in metas] == [(0, "fire"), (1, "flood")]
    assert metas[0]["caption"] == "smoke and fire" and metas[1]["caption"] == ""
    with pytest.raises(ConfigError, match="not found"):
        build_component(dict(type="VideoFolderDataset", data_root=str(tmp_path / "root"), classes=["quake"]),
                        DATASETS)


def test_synthetic_dataset_generates_splits_and_refuses_other_settings(tmp_path):
    root = str(tmp_path / "syn")
    train = build_component(dict(type="SyntheticDisasterDataset", data_root=root, num_videos=12, size=16, frames=8,
                                 pipeline=PIPE), DATASETS)
    val = build_component(dict(type="SyntheticDisasterDataset", data_root=root, split="val", num_videos=12, size=16,
                               frames=8, pipeline=PIPE), DATASETS)
    assert not train.test_mode and val.test_mode
    assert len(train) + len(val) < 12 and train.classes == CLASSES
    assert {e["split"] for e in val.entries} == {"val"}
    with pytest.raises(ConfigError, match="num_videos=12 there, 13 asked"):
        build_component(dict(type="SyntheticDisasterDataset", data_root=root, num_videos=13, size=16, frames=8),
                        DATASETS)


def _generate(root: str, queue) -> None:
    ensure_synthetic(root, num_videos=6, seed=1, size=16, frames=8)
    queue.put(os.path.getmtime(os.path.join(root, "captions.json")))


def test_concurrent_generation_happens_once(tmp_path):
    root = str(tmp_path / "shared")
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_generate, args=(root, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    stamps = [queue.get(timeout=5) for _ in procs]
    assert stamps[0] == stamps[1]  # the second process found the set complete and did not rewrite it
    assert len(json.load(open(os.path.join(root, "captions.json")))) == 6


def _bad_set(tmp_path, ramp_video):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(b"garbage" * 100)
    return [{"video_path": "ramp.mp4", "caption": "good"},
            {"video_path": "missing.mp4", "caption": "gone"},
            {"caption": "no path"},
            {"video_path": "empty.mp4", "caption": "empty"},
            {"video_path": "junk.mp4", "caption": "unreadable"},
            {"video_path": "ramp.mp4", "caption": 7}]


def test_on_error_raise_names_file_index_and_reason(tmp_path, ramp_video):
    ann = _caption_json(tmp_path, _bad_set(tmp_path, ramp_video))
    with pytest.raises(DataError, match=r"ann.json entry 1: video .*missing.mp4 does not exist"):
        build_component(dict(type="VideoCaptionDataset", ann_file=ann, pipeline=PIPE), DATASETS)
    ann = _caption_json(tmp_path, [{"video_path": "ramp.mp4", "caption": "ok"},
                                   {"video_path": "junk.mp4", "caption": "unreadable"}])
    ds = build_component(dict(type="VideoCaptionDataset", ann_file=ann, pipeline=PIPE), DATASETS)
    with pytest.raises(DataError, match=r"ann.json entry 1 \(.*junk.mp4\): .*cannot open"):
        ds[1]


def test_on_error_skip_never_yields_a_broken_sample(tmp_path, ramp_video):
    ann = _caption_json(tmp_path, _bad_set(tmp_path, ramp_video))
    ds = build_component(dict(type="VideoCaptionDataset", ann_file=ann, pipeline=PIPE, on_error="skip"), DATASETS)
    assert [e["index"] for e in ds.entries] == [0, 4]  # missing, no path, empty, bad caption dropped up front
    for i in range(len(ds)):
        sample = ds[i]
        assert sample["data_samples"]["caption"] == "good" and torch.isfinite(sample["inputs"]).all()
    assert ds._skipped == {1}


def test_bad_annotation_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        build_component(dict(type="VideoCaptionDataset", ann_file=str(bad)), DATASETS)
    bad.write_text(json.dumps({"video_path": "x.mp4"}))
    with pytest.raises(DataError, match="expected a JSON list"):
        build_component(dict(type="VideoCaptionDataset", ann_file=str(bad)), DATASETS)
    with pytest.raises(ConfigError, match="on_error='ignore'"):
        build_component(dict(type="VideoCaptionDataset", ann_file=str(bad), on_error="ignore"), DATASETS)


def test_the_docs_dataset_example_runs(tmp_path, ramp_video):
    """docs/data.md's from-scratch dataset, executed as written: imports, sample_keys, metainfo and items."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "data.md").read_text()
    section = text[text.index("## A new disaster dataset, from scratch"):]
    start = section.index("```python\n") + len("```python\n")
    code = section[start:section.index("\n```", start)]
    namespace: dict = {"__name__": "docs_example"}
    exec(compile(code, "docs/data.md", "exec"), namespace)
    cls = namespace["DisasterCSVDataset"]
    shutil.copy(ramp_video, tmp_path / "a.mp4")
    (tmp_path / "train.csv").write_text("a.mp4 1\n\na.mp4 0\n")
    ds = cls(csv_file=str(tmp_path / "train.csv"), classes=["flood", "wildfire"], pipeline=PIPE, test_mode=True)
    assert len(ds) == 2 and ds.metainfo == dict(classes=("flood", "wildfire"))
    item = ds[0]
    assert set(cls.sample_keys) == set(item) and item["inputs"].shape == (3, 4, 16, 16)
    assert item["data_samples"]["class_name"] == "wildfire" and item["data_samples"]["caption"] == "A wildfire scene"
    (tmp_path / "bad.csv").write_text("a.mp4 7\n")
    with pytest.raises(DataError, match="bad.csv line 1"):
        cls(csv_file=str(tmp_path / "bad.csv"), classes=["flood", "wildfire"])
