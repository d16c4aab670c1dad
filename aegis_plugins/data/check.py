"""``aegis data check FILE.json``: validate a caption annotation file up front and report every bad entry.

Each entry is checked for its format (``video_path`` string, ``caption`` string, ``captions`` list of strings,
integer ``label``), its file (exists, not empty), and, unless ``--no-decode``, that the video opens, has frames, is
long enough for one clip (``--min-frames``) and its first and last frames decode.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from aegis.errors import DataError

from .datasets import check_file, load_annotations, normalize_entry
from .video_io import open_video

__all__ = ["Problem", "check_annotation_file", "add_commands"]


@dataclass
class Problem:
    """One bad entry: its index in the file (-1 for the file itself), the video path if known, and why."""
    index: int
    video_path: str
    reason: str

    def __str__(self) -> str:
        where = "file" if self.index < 0 else f"entry {self.index}"
        return f"{where}: {self.reason}" + (f" [{self.video_path}]" if self.video_path else "")


def _strip(message: str, prefix: str) -> str:
    return message[len(prefix):].lstrip(": ") if message.startswith(prefix) else message


def check_annotation_file(ann_file: str, decode: bool = True, min_frames: int = 1, backend: str = "auto",
                          data_root: str | None = None) -> tuple[int, list[Problem]]:
    """(number of entries, problems) of ``ann_file``; never raises for bad content, only reports it."""
    try:
        raw = load_annotations(ann_file)
    except DataError as exc:
        return 0, [Problem(-1, "", _strip(str(exc), ann_file))]
    root = data_root if data_root is not None else os.path.dirname(os.path.abspath(ann_file))
    problems: list[Problem] = []
    for i, item in enumerate(raw):
        path = item.get("video_path", "") if isinstance(item, dict) else ""
        prefix = f"{ann_file} entry {i}"
        try:
            entry = normalize_entry(item, i, ann_file, root, absolute_ok=data_root is None)
            path = entry["video_path"]
            check_file(entry, i, ann_file)
            if decode:
                reader = open_video(path, backend)
                try:
                    if reader.num_frames < min_frames:
                        raise DataError(f"{reader.num_frames} frames, fewer than the {min_frames} a clip needs")
                    reader.get_frames([0, reader.num_frames - 1])
                finally:
                    reader.close()
        except DataError as exc:
            reason = _strip(_strip(str(exc), prefix), str(path))
            problems.append(Problem(i, str(path), reason))
    return len(raw), problems


def _check_command(args: argparse.Namespace) -> int:
    total, problems = check_annotation_file(args.file, decode=not args.no_decode, min_frames=args.min_frames,
                                            backend=args.backend, data_root=args.data_root)
    for p in problems:
        print(f"{args.file}: {p}")
    status = "OK" if not problems else f"{len(problems)} bad"
    print(f"{args.file}: {total} entries, {status}")
    return 1 if problems else 0


def add_commands(subparsers) -> None:
    """Add ``aegis data check`` to the ``aegis`` console script."""
    data = subparsers.add_parser("data", help="video data utilities")
    sub = data.add_subparsers(dest="data_command", required=True)
    check = sub.add_parser("check", help="validate a caption JSON file; lists every bad entry, exit 1 if any")
    check.add_argument("file", help='annotation JSON: a list of {"video_path": ..., "caption": ...}')
    check.add_argument("--no-decode", action="store_true", help="check format and files only, do not open videos")
    check.add_argument("--min-frames", type=int, default=1,
                       help="frames a video needs (video_length * frame_sample_rate for no looping)")
    check.add_argument("--backend", default="auto", choices=["auto", "pyav", "decord"], help="video reader")
    check.add_argument("--data-root", default=None, help="folder relative paths start from (default: the JSON's)")
    check.set_defaults(func=_check_command)
