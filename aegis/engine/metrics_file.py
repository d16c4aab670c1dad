"""``metrics.json``: the final metrics of a run, in its work dir, for sweeps to read."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from .checkpoint import atomic_write_bytes

__all__ = ["write_metrics_json", "read_metrics_json", "jsonable", "METRICS_FILE"]

METRICS_FILE = "metrics.json"


def jsonable(value: Any) -> Any:
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def read_metrics_json(work_dir: str | os.PathLike) -> dict:
    """The metrics written so far in ``work_dir`` (empty when there are none)."""
    path = Path(work_dir) / METRICS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def write_metrics_json(work_dir: str | os.PathLike, metrics: dict) -> Path:
    """Merge ``metrics`` into ``<work_dir>/metrics.json`` (atomic write) and return its path."""
    merged = read_metrics_json(work_dir)
    merged.update(jsonable(metrics))
    path = Path(work_dir) / METRICS_FILE
    atomic_write_bytes((json.dumps(merged, indent=2, sort_keys=True) + "\n").encode(), path)
    return path
