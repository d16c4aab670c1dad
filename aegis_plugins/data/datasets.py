"""Video datasets: caption JSON files (the training guide's format), class folders, the synthetic disaster set and
the violation-of-expectation (VoE) pairs.

A sample is ``dict(inputs=Tensor(C, T, H, W), data_samples=dict(video_path, label, class_name, caption, captions,
params, ...))`` (docs/concepts.md); ``sample_keys`` and ``data_sample_keys`` on each class name the keys every sample
has. The caption a model trains on is picked here, once: in training ``caption`` is a random one of ``captions``
(``sample_all_captions=True``) or the first, canonical one; in ``test_mode`` always the first. The random pick draws
from torch's generator, which AEGIS's epoch loop seeds per sample from (seed, epoch, position)
(``aegis.engine.seeded_data``), so it is the same in every run, differs between epochs, and does not depend on the
number of dataloader workers. Models read ``data_samples["caption"]`` and never pick again.
Bad input follows ``on_error``: 'raise' names the annotation file, the entry index and the reason; 'skip' drops
malformed or missing entries at construction, replaces a video that fails to decode by the next good one, logs each
skipped file once and the number skipped per pass over the data, and never yields a broken sample.

Paths outside the data root are refused (docs/reliability.md): a relative ``video_path`` must stay inside its root
(``data_root``, or the annotation file's folder when no ``data_root`` is given), so ``../../etc/passwd`` is a
:class:`DataError` naming the entry and the key; an absolute ``video_path`` is taken as it is when no ``data_root`` is
given and must lie inside ``data_root`` when one is. Symbolic links inside the root are followed as they are.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
import torch
from mmengine.logging import print_log
from torch.utils.data import Dataset

from aegis.errors import ConfigError, DataError
from aegis.annotations import ExistingPath

from .transforms import build_pipeline

__all__ = ["VideoCaptionDataset", "VideoFolderDataset", "SyntheticDisasterDataset", "PhysicsVoEDataset",
           "ensure_synthetic", "ensure_generated", "load_annotations", "normalize_entry", "VIDEO_EXTENSIONS",
           "ON_ERROR"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
ON_ERROR = ("raise", "skip")
_PIPELINE_ONLY = {"reader", "imgs", "inputs", "test_mode", "frame_inds", "num_clips", "clip_len", "original_shape",
                  "crop_box"}


def _inside(path: str, root: str) -> bool:
    root = os.path.abspath(root)
    return os.path.commonpath([root, os.path.abspath(path)]) == root


def normalize_entry(raw: object, index: int, ann_file: str, root: str, absolute_ok: bool = True) -> dict:
    """Check one annotation entry and return it with ``video_path`` made absolute and every standard key present.

    A relative ``video_path`` must stay inside ``root``; an absolute one must too unless ``absolute_ok`` (no
    ``data_root`` was given). Raises :class:`DataError` naming ``ann_file``, the entry ``index`` and what is wrong.
    """
    where = f"{ann_file} entry {index}"
    if not isinstance(raw, Mapping):
        raise DataError(f"{where}: expected an object with 'video_path' and 'caption', got {type(raw).__name__}")
    if not isinstance(raw.get("video_path"), str) or not raw["video_path"]:
        keys = ", ".join(sorted(map(str, raw))) or "none"
        raise DataError(f"{where}: 'video_path' must be a non-empty string (keys present: {keys})")
    entry = dict(raw)
    captions = entry.get("captions")
    if captions is not None and (not isinstance(captions, list) or not all(isinstance(c, str) for c in captions)):
        raise DataError(f"{where}: 'captions' must be a list of strings, got {captions!r:.80}")
    caption = entry.get("caption")
    if caption is not None and not isinstance(caption, str):
        raise DataError(f"{where}: 'caption' must be a string, got {type(caption).__name__} {caption!r:.60}")
    captions = list(captions or [])
    if caption and caption not in captions:
        captions.insert(0, caption)
    entry["captions"] = captions
    entry["caption"] = caption if caption is not None else (captions[0] if captions else "")
    label = entry.get("label", -1)
    if isinstance(label, bool) or not isinstance(label, int):
        raise DataError(f"{where}: 'label' must be an integer, got {label!r:.60}")
    entry["label"] = label
    entry.setdefault("class_name", "")
    if not isinstance(entry.get("params", {}), Mapping):
        raise DataError(f"{where}: 'params' must be an object, got {type(entry['params']).__name__}")
    entry["params"] = dict(entry.get("params") or {})
    path = entry["video_path"]
    if "\x00" in path:
        raise DataError(f"{where}: 'video_path' {path!r:.80} contains a NUL character")
    if os.path.isabs(path):
        resolved = os.path.normpath(path)
        if not absolute_ok and not _inside(resolved, root):
            raise DataError(f"{where}: 'video_path' {path!r:.120} is outside data_root={root!r}; with a data_root every "
                            "video must lie inside it (give a path relative to it, or no data_root)")
    else:
        resolved = os.path.normpath(os.path.join(root, path))
        if not _inside(resolved, root):
            raise DataError(f"{where}: 'video_path' {path!r:.120} leads outside the data root {root!r}; relative paths "
                            "must stay inside it (set data_root to a folder that holds the videos, or give an "
                            "absolute path without data_root)")
    entry["video_path"] = resolved
    return entry


def check_file(entry: dict, index: int, ann_file: str) -> None:
    """Cheap checks of the entry's video file (exists, is a file, not empty); raises :class:`DataError`."""
    path = entry["video_path"]
    where = f"{ann_file} entry {index}"
    if not os.path.exists(path):
        raise DataError(f"{where}: video {path} does not exist")
    if not os.path.isfile(path):
        raise DataError(f"{where}: video {path} is not a file")
    if os.path.getsize(path) == 0:
        raise DataError(f"{where}: video {path} is empty (0 bytes)")


def load_annotations(ann_file: str) -> list:
    """The raw list of entries of a caption JSON file; raises :class:`DataError` for unreadable or non-list JSON."""
    try:
        with open(ann_file, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise DataError(f"{ann_file}: annotation file not found") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{ann_file}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{ann_file}: not UTF-8 text (byte {exc.start}: {exc.reason}); expected a JSON list") from None
    except RecursionError:
        raise DataError(f"{ann_file}: JSON nested too deeply to read; expected a flat list of objects") from None
    except OSError as exc:
        raise DataError(f"{ann_file}: cannot read the annotation file ({exc.strerror or exc})") from None
    if not isinstance(data, list):
        raise DataError(f"{ann_file}: expected a JSON list of {{\"video_path\", \"caption\"}} objects, got "
                        f"{type(data).__name__}")
    return data


class _VideoDataset(Dataset):
    """Shared sample assembly, caption choice and bad-input policy; subclasses fill ``self.entries`` (normalised
    entry dicts)."""

    sample_keys: tuple[str, ...] = ("inputs", "data_samples")
    data_sample_keys: tuple[str, ...] = ("video_path", "label", "class_name", "caption", "captions", "params", "index")

    def __init__(self, pipeline: Sequence[Mapping] | Mapping | None, test_mode: bool, on_error: str,
                 source: str, sample_all_captions: bool = True) -> None:
        if on_error not in ON_ERROR:
            raise ConfigError(f"on_error={on_error!r}; expected one of {', '.join(ON_ERROR)}")
        self.test_mode, self.on_error, self.source = test_mode, on_error, source
        self.sample_all_captions = sample_all_captions
        self.pipeline = build_pipeline(pipeline, "dataset.pipeline")
        self.entries: list[dict] = []
        self.classes: tuple[str, ...] = ()
        self._skipped: set[int] = set()
        self._pass_calls = 0
        self._pass_skips = 0

    @property
    def metainfo(self) -> dict:
        return dict(classes=self.classes, source=self.source)

    def _admit(self, raw_entries: Sequence, root: str, check_files: bool, absolute_ok: bool = True) -> None:
        """Normalise and check the raw entries; skip or raise on bad ones per ``on_error``."""
        bad = 0
        for i, raw in enumerate(raw_entries):
            try:
                entry = normalize_entry(raw, i, self.source, root, absolute_ok)
                if check_files:
                    check_file(entry, i, self.source)
            except DataError as exc:
                if self.on_error == "raise":
                    raise
                print_log(f"skipped: {exc}", logger="current", level=logging.WARNING)
                bad += 1
                continue
            entry["index"] = i
            self.entries.append(entry)
        if bad:
            print_log(f"{self.source}: skipped {bad} of {len(raw_entries)} entries (on_error='skip')",
                      logger="current", level=logging.WARNING)
        if not self.entries:
            raise DataError(f"{self.source}: no usable video entries ({len(raw_entries)} listed, {bad} bad)")

    def __len__(self) -> int:
        return len(self.entries)

    def pick_caption(self, entry: Mapping) -> str:
        """The one caption of ``entry`` a model trains on (or is scored against as ``caption``): in training a
        random one of its ``captions`` (``sample_all_captions``) or the first; in ``test_mode`` the first.

        Training always draws the random index, even when the first caption is kept, so the pipeline's random crop
        that follows is the same whichever way captions are chosen.
        """
        captions = entry["captions"]
        if not captions:
            return entry["caption"]
        if self.test_mode:
            return captions[0]
        pick = int(torch.randint(len(captions), (1,)))  # seeded per (seed, epoch, position) by the epoch loop
        return captions[pick] if self.sample_all_captions else captions[0]

    def _prepare(self, idx: int) -> dict:
        entry = self.entries[idx]
        captions = entry["captions"]
        caption = self.pick_caption(entry)
        results = dict(entry, caption=caption, captions=list(captions), params=dict(entry["params"]),
                       test_mode=self.test_mode)
        for t in self.pipeline:
            results = t(results)
        inputs = results.get("inputs")
        if not isinstance(inputs, torch.Tensor):
            raise ConfigError("dataset.pipeline must end with ToTensorVideo (and NormalizeVideo) so that the sample "
                              "has results['inputs'] as a tensor")
        samples = {k: v for k, v in results.items() if k not in _PIPELINE_ONLY}
        if "frame_inds" in results:
            samples["frame_inds"] = np.asarray(results["frame_inds"]).tolist()
        return dict(inputs=inputs, data_samples=samples)

    def _end_of_pass(self) -> None:
        info = torch.utils.data.get_worker_info()
        share = max(1, len(self) // (info.num_workers if info else 1))
        self._pass_calls += 1
        if self._pass_calls >= share:
            if self._pass_skips:
                worker = f"worker {info.id}: " if info else ""
                print_log(f"{self.source}: {worker}{self._pass_skips} unreadable video(s) replaced in the last pass "
                          f"of {self._pass_calls} samples (on_error='skip')", logger="current", level=logging.WARNING)
            self._pass_calls, self._pass_skips = 0, 0

    def __getitem__(self, idx: int) -> dict:
        n = len(self)
        try:
            for attempt in range(n):
                i = (idx + attempt) % n
                try:
                    return self._prepare(i)
                except DataError as exc:
                    where = f"{self.source} entry {self.entries[i]['index']} ({self.entries[i]['video_path']})"
                    if self.on_error == "raise":
                        raise DataError(f"{where}: {exc}") from None
                    if i not in self._skipped:
                        self._skipped.add(i)
                        print_log(f"skipped {where}: {exc}", logger="current", level=logging.WARNING)
                    self._pass_skips += 1
            raise DataError(f"{self.source}: every one of the {n} videos failed to load (on_error='skip')")
        finally:
            self._end_of_pass()


class VideoCaptionDataset(_VideoDataset):
    """Clips and captions from the training guide's JSON: a list of ``{"video_path", "caption"}`` objects (paths
    relative to the JSON's folder, or to ``data_root`` when given), optionally with ``"captions"`` (a list),
    ``"label"``, ``"class_name"``, ``"params"`` and any other fields, which pass through to ``data_samples``.

    Each item is ``dict(inputs=(C, T, H, W) float32, data_samples=dict(...))`` after the pipeline. In training
    ``data_samples["caption"]`` is a random one of the entry's captions (``sample_all_captions``) or its first one.
    """

    def __init__(self, ann_file: ExistingPath, pipeline: list[dict] | dict | None = None,
                 data_root: str | None = None, test_mode: bool = False, on_error: str = "raise",
                 classes: Sequence[str] | None = None, check_files: bool = True,
                 sample_all_captions: bool = True) -> None:
        super().__init__(pipeline, test_mode, on_error, str(ann_file), sample_all_captions)
        root = data_root if data_root is not None else os.path.dirname(os.path.abspath(ann_file))
        self._admit(load_annotations(ann_file), root, check_files, absolute_ok=data_root is None)
        if classes is not None:
            self.classes = tuple(classes)
        else:
            named = {e["label"]: e["class_name"] for e in self.entries if e["label"] >= 0 and e["class_name"]}
            if named and set(named) == set(range(max(named) + 1)):
                self.classes = tuple(named[i] for i in range(max(named) + 1))


class VideoFolderDataset(_VideoDataset):
    """Kinetics-style class folders ``data_root/<class>/<video>``; labels follow ``classes`` (default: sorted folder
    names). ``captions_file`` (optional) is a JSON list in the caption format with paths relative to ``data_root``,
    or a mapping ``{relative path: caption or [captions]}``. Items as in :class:`VideoCaptionDataset`.
    """

    def __init__(self, data_root: ExistingPath, pipeline: list[dict] | dict | None = None,
                 classes: Sequence[str] | None = None, captions_file: str | None = None,
                 extensions: Sequence[str] = VIDEO_EXTENSIONS, test_mode: bool = False,
                 on_error: str = "raise", sample_all_captions: bool = True) -> None:
        super().__init__(pipeline, test_mode, on_error, str(data_root), sample_all_captions)
        found = sorted(d for d in os.listdir(data_root) if os.path.isdir(os.path.join(data_root, d)))
        if classes is None:
            classes = found
        missing = [c for c in classes if c not in found]
        if missing:
            raise ConfigError(f"classes: folder(s) {missing} not found in {data_root}; class folders there: {found}")
        self.classes = tuple(classes)
        caption_map = self._load_captions(captions_file, data_root) if captions_file else {}
        exts = tuple(e.lower() for e in extensions)
        raw = []
        for label, name in enumerate(self.classes):
            for dirpath, _, files in sorted(os.walk(os.path.join(data_root, name))):
                for f in sorted(files):
                    if f.lower().endswith(exts):
                        rel = os.path.relpath(os.path.join(dirpath, f), data_root)
                        caps = caption_map.get(rel, [])
                        raw.append(dict(video_path=rel, caption=caps[0] if caps else "", captions=caps, label=label,
                                        class_name=name))
        if not raw:
            raise DataError(f"{data_root}: no videos with extensions {exts} under the class folders {list(classes)}")
        self._admit(raw, str(data_root), check_files=True, absolute_ok=False)

    @staticmethod
    def _load_captions(captions_file: str, data_root: str) -> dict[str, list[str]]:
        try:
            with open(captions_file, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"captions_file={captions_file}: cannot read it as JSON ({exc})") from None
        out: dict[str, list[str]] = {}
        if isinstance(data, Mapping):
            for k, v in data.items():
                out[os.path.normpath(k)] = [v] if isinstance(v, str) else list(v)
        elif isinstance(data, list):
            for i, raw in enumerate(data):
                e = normalize_entry(raw, i, captions_file, data_root, absolute_ok=False)
                out[os.path.relpath(e["video_path"], data_root)] = e["captions"]
        else:
            raise DataError(f"captions_file={captions_file}: expected a list or an object, got {type(data).__name__}")
        return out


class SyntheticDisasterDataset(VideoCaptionDataset):
    """The synthetic disaster clips (aegis_plugins.data.synthetic) of one split; generated in ``data_root`` on first
    use, deterministically from ``seed``, under a file lock so concurrent workers and ranks generate it once.

    ``split`` is 'train', 'val', 'test' or 'all'. Items as in :class:`VideoCaptionDataset`, with ``label`` indexing
    ``CLASSES`` and ``params``/``speed``/``dynamics``/``direction`` describing the scene's physics (the four
    captions of a video are paraphrases; the first is the canonical one). ``scenes="motion"``
    gives the motion-only scenes instead (``synthetic_motion.py``: classes that differ only in how a region moves,
    labels indexing ``MOTION_CLASSES``) and ``scenes="flow"`` the flow scenes (``synthetic_flow.py``: one grey texture
    moving as a whole, labels indexing ``FLOW_CLASSES``), for probes that raw pixels must not solve.
    """

    def __init__(self, data_root: str = "data/synthetic_disaster", split: str = "train",
                 pipeline: list[dict] | dict | None = None, num_videos: int = 200, seed: int = 0, size: int = 64,
                 frames: int = 32, fps: float = 8.0, test_mode: bool | None = None,
                 on_error: str = "raise", scenes: Literal["disaster", "motion", "flow"] = "disaster",
                 sample_all_captions: bool = True) -> None:
        from .synthetic import SPLITS, scene_classes
        if split not in SPLITS + ("all",):
            raise ConfigError(f"split={split!r}; expected one of {', '.join(SPLITS + ('all',))}")
        ensure_synthetic(data_root, num_videos=num_videos, seed=seed, size=size, frames=frames, fps=fps,
                         scenes=scenes)
        ann = os.path.join(data_root, "captions.json" if split == "all" else f"{split}.json")
        super().__init__(ann, pipeline, test_mode=(split != "train") if test_mode is None else test_mode,
                         on_error=on_error, classes=scene_classes(scenes), sample_all_captions=sample_all_captions)


class PhysicsVoEDataset(VideoCaptionDataset):
    """The violation-of-expectation set (aegis_plugins.data.synthetic_voe) of one split, for intuitive-physics
    probes as in Garrido et al. 2025: 'pairs' holds the test pairs (two videos per pair, same start, one physically
    possible, one impossible from ``diverge_frame`` on); 'train' and 'val' hold possible-only videos of the same
    scene families for pretraining and probes (never the pairs). Generated in ``data_root`` on first use,
    deterministically from ``seed``, under the same file lock as :class:`SyntheticDisasterDataset`.

    Items as in :class:`VideoCaptionDataset`, with ``label`` indexing ``VOE_KINDS`` and data_samples carrying
    ``pair`` (shared by a pair's two videos; -1 outside 'pairs'), ``possible`` (bool), ``diverge_frame`` (-1 outside
    'pairs'), ``variant``, ``params`` and the per-frame ``track``. Score pairs with every frame in order and no random
    crop or flip, so both videos of a pair see the same view.
    """

    data_sample_keys = VideoCaptionDataset.data_sample_keys + ("pair", "possible", "diverge_frame")

    def __init__(self, data_root: str = "data/synthetic_voe", split: Literal["train", "val", "pairs"] = "train",
                 pipeline: list[dict] | dict | None = None, num_pairs: int = 20, num_train: int = 700,
                 seed: int = 0, size: int = 32, frames: int = 16, fps: float = 8.0, test_mode: bool | None = None,
                 on_error: str = "raise") -> None:
        from .synthetic_voe import VOE_KINDS, VOE_SPLITS, generate_voe_dataset
        if split not in VOE_SPLITS:
            raise ConfigError(f"split={split!r}; expected one of {', '.join(VOE_SPLITS)}")
        wanted = dict(scenes="voe", num_pairs=num_pairs, num_train=num_train, seed=seed, size=size, frames=frames,
                      fps=float(fps))
        ensure_generated(data_root, wanted, lambda: generate_voe_dataset(
            data_root, num_pairs=num_pairs, num_train=num_train, seed=seed, size=size, frames=frames, fps=fps),
            f"violation-of-expectation set ({num_pairs} pairs per kind, {num_train} possible-only videos, seed {seed})")
        super().__init__(os.path.join(data_root, f"{split}.json"), pipeline,
                         test_mode=(split != "train") if test_mode is None else test_mode, on_error=on_error,
                         classes=VOE_KINDS)


def ensure_synthetic(data_root: str, num_videos: int = 200, seed: int = 0, size: int = 64, frames: int = 32,
                     fps: float = 8.0, scenes: str = "disaster") -> str:
    """Generate the synthetic set in ``data_root`` unless it is there with the same settings; returns captions.json
    (:func:`ensure_generated`)."""
    from .synthetic import generate_dataset
    wanted = dict(num_videos=num_videos, seed=seed, size=size, frames=frames, fps=float(fps), scenes=scenes)
    return ensure_generated(data_root, wanted, lambda: generate_dataset(
        data_root, num_videos, seed, size=size, frames=frames, fps=fps, scenes=scenes),
        f"synthetic {scenes} set ({num_videos} videos, seed {seed})")


def ensure_generated(data_root: str, wanted: Mapping, generate: Callable[[], str], what: str) -> str:
    """Run ``generate()`` (which writes a generated set into ``data_root``, ``captions.json`` last) unless the set is
    there with the settings ``wanted``; returns the path of ``captions.json``. Shared by every generated set.

    Safe under concurrency: an exclusive ``flock`` on ``data_root/.generate.lock`` serialises generators, and
    ``captions.json`` (written last, atomically) marks a complete set. A set whose ``synthetic_meta.json`` differs
    from ``wanted`` in any key is a :class:`ConfigError` naming each difference; a folder without that file is a
    hand-made set in the same format and is used as it is. ``what`` names the set in the log line.
    """
    captions = os.path.join(data_root, "captions.json")
    meta_path = os.path.join(data_root, "synthetic_meta.json")

    def check_meta() -> None:
        if not os.path.exists(meta_path):
            return  # a hand-made set in the same format: use it as it is
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        meta.setdefault("scenes", "disaster")  # disaster sets written before scene sets existed
        diff = {k: (meta.get(k), v) for k, v in wanted.items() if meta.get(k) != v}
        if diff:
            detail = ", ".join(f"{k}={old!r} there, {new!r} asked" for k, (old, new) in diff.items())
            raise ConfigError(f"data_root={data_root} holds a synthetic set made with other settings ({detail}). "
                              "Use another data_root or delete that folder.")

    if os.path.exists(captions):
        check_meta()
        return captions
    os.makedirs(data_root, exist_ok=True)
    with open(os.path.join(data_root, ".generate.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not os.path.exists(captions):
                print_log(f"generating the {what} in {data_root}", logger="current", level=logging.INFO)
                generate()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    check_meta()
    return captions
