"""An example of a new disaster dataset written as a data plugin from scratch (shown in docs/data.md).

Clips are listed in V-JEPA's data CSV format (Bardes et al., 2024, ``src/datasets/video_dataset.py``): one
``path label`` line per video, paths relative to the CSV's folder, integer labels indexing ``classes``. Captions
come from a template, so the set can also train a captioner.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

from torch.utils.data import Dataset

from aegis.errors import DataError
from aegis.annotations import ExistingPath

from .transforms import Compose

__all__ = ["DisasterCSVDataset"]


class DisasterCSVDataset(Dataset):
    """Videos from a ``path label`` CSV: ``dict(inputs=(C, T, H, W) float32, data_samples=dict(video_path, label,
    class_name, caption, captions, params))`` after ``pipeline``."""

    sample_keys = ("inputs", "data_samples")

    def __init__(self, csv_file: ExistingPath, classes: Sequence[str], pipeline: list[dict] | dict | None = None,
                 caption_template: str = "A {class_name} scene", test_mode: bool = False) -> None:
        self.classes, self.test_mode = tuple(classes), test_mode
        self.csv_file = str(csv_file)
        self.pipeline = Compose(pipeline or [], path="dataset.pipeline")
        root = os.path.dirname(os.path.abspath(csv_file))
        self.entries = []
        with open(csv_file, encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                path, _, label = line.strip().rpartition(" ")
                if not path or not label.isdigit() or int(label) >= len(self.classes):
                    raise DataError(f"{csv_file} line {line_no}: expected 'path label' with a label in "
                                    f"0..{len(self.classes) - 1}, got {line.strip()!r}")
                name = self.classes[int(label)]
                caption = caption_template.format(class_name=name)
                self.entries.append(dict(video_path=os.path.join(root, path), label=int(label), class_name=name,
                                         caption=caption, captions=[caption], params={}))

    @property
    def metainfo(self) -> dict:
        """The class names (index = label) and the CSV the videos came from."""
        return dict(classes=self.classes, source=self.csv_file)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, idx: int) -> dict:
        results = self.pipeline(dict(self.entries[idx], test_mode=self.test_mode))
        meta = {k: results[k] for k in ("video_path", "label", "class_name", "caption", "captions", "params")}
        return dict(inputs=results["inputs"], data_samples=meta)
