"""Encoder feature extraction for a list of videos: what ``tools/extract_features.py`` calls.

Clips are read with the data plugin's evaluation pipeline (``VideoClipPipeline``, centre crop, ImageNet
normalisation) and encoded in batches without gradients; features go to ``.npz`` or ``.safetensors`` atomically.
"""
from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence

import numpy as np
import torch

from aegis.engine.progress import ProgressBar
from aegis.errors import ConfigError, DataError

__all__ = ["list_videos", "load_encoder_config", "build_clip_pipeline", "extract_features", "check_output_path",
           "save_features", "load_features", "FEATURE_FORMATS"]

FEATURE_FORMATS = (".npz", ".safetensors")
_VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def list_videos(source: str) -> list[str]:
    """Absolute video paths from a caption JSON (``[{"video_path": ...}, ...]``), a text file (one path a line; both
    relative to their own folder), or a folder (searched recursively for video files, sorted)."""
    if os.path.isdir(source):
        found = sorted(os.path.join(root, f) for root, _, files in os.walk(source) for f in files
                       if f.lower().endswith(_VIDEO_EXTENSIONS))
        if not found:
            raise DataError(f"{source}: no video files ({', '.join(_VIDEO_EXTENSIONS)}) in this folder.")
        return found
    if not os.path.isfile(source):
        raise DataError(f"--videos {source!r} does not exist; give a caption JSON, a text file or a folder.")
    base = os.path.dirname(os.path.abspath(source))
    if source.endswith(".json"):
        with open(source) as handle:
            entries = json.load(handle)
        if not isinstance(entries, list):
            raise DataError(f"{source}: expected a JSON list of {{'video_path': ...}} objects.")
        paths = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("video_path"), str):
                raise DataError(f"{source} entry {i}: expected an object with a 'video_path' string.")
            paths.append(entry["video_path"])
    else:
        with open(source) as handle:
            paths = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    paths = [p if os.path.isabs(p) else os.path.join(base, p) for p in paths]
    if not paths:
        raise DataError(f"{source}: lists no videos.")
    return paths


def load_encoder_config(config_file: str, key: str | None = None, cfg_options: dict | None = None) -> dict:
    """The encoder ``dict(type=...)`` in a Python config file: at ``key`` (dotted, e.g. ``model.encoder``) or else
    the first of ``encoder``, ``model.encoder``, ``model.target_encoder``, ``model``."""
    from mmengine.config import Config

    cfg = Config.fromfile(config_file)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    for candidate in ([key] if key else ["encoder", "model.encoder", "model.target_encoder", "model"]):
        node = cfg
        for part in candidate.split("."):
            node = node.get(part) if hasattr(node, "get") else None
            if node is None:
                break
        if node is not None and hasattr(node, "get") and "type" in node:
            return node.to_dict() if hasattr(node, "to_dict") else dict(node)
    raise ConfigError(f"{config_file}: no encoder dict(type=...) at {key or 'encoder / model.encoder'}; "
                      "pass --encoder-key with the dotted path of the encoder config.")


def build_clip_pipeline(encoder: torch.nn.Module, video_length: int | None = None, img_size: int | None = None,
                        frame_sample_rate: int = 2):
    """The data plugin's evaluation clip pipeline, sized from the encoder (num_frames, img_size) unless given."""
    from aegis.build import build_component
    from aegis.registry import TRANSFORMS

    video_length = video_length or getattr(encoder, "num_frames", None)
    img_size = img_size or getattr(encoder, "img_size", None)
    if not video_length or not img_size:
        raise ConfigError(f"{type(encoder).__name__} does not say its clip size; pass --video-length and --img-size.")
    return build_component(dict(type="VideoClipPipeline", video_length=video_length, img_size=img_size,
                                frame_sample_rate=frame_sample_rate, test_mode=True, flip=False),
                           TRANSFORMS, path="extract_features.pipeline")


@torch.no_grad()
def extract_features(encoder: torch.nn.Module, video_paths: Sequence[str], pipeline,
                     batch_size: int = 8) -> np.ndarray:
    """Encode every video's clip: (V, N, D) tokens or (V, D) pooled float32, in the order of ``video_paths``.

    On a terminal a live bar counts the videos encoded (nothing elsewhere)."""
    encoder.eval()
    device = next(encoder.parameters()).device
    out = []
    with ProgressBar(len(video_paths), "features", unit="videos") as bar:
        for start in range(0, len(video_paths), batch_size):
            clips = []
            for path in video_paths[start:start + batch_size]:
                if not os.path.isfile(path):
                    raise DataError(f"video {path!r} does not exist.")
                clips.append(pipeline(dict(video_path=path, test_mode=True))["inputs"])  # (C, T, H, W)
            out.append(encoder(torch.stack(clips).to(device)).float().cpu())  # (b, N, D) or (b, D)
            bar.advance(len(clips))
    return torch.cat(out).numpy()


def check_output_path(path: str) -> str:
    """The extension of ``path`` if it is a feature format AEGIS writes; else a ConfigError."""
    ext = os.path.splitext(path)[1]
    if ext not in FEATURE_FORMATS:
        raise ConfigError(f"--out {path!r}: unknown format {ext or '(none)'}; use one of {', '.join(FEATURE_FORMATS)}.")
    return ext


def save_features(path: str, features: np.ndarray, video_paths: Sequence[str], meta: dict | None = None) -> None:
    """Write ``features`` and the video paths to ``.npz`` (arrays ``features``, ``video_paths``, ``meta`` JSON) or
    ``.safetensors`` (tensor ``features``; metadata ``video_paths`` and ``meta`` as JSON), atomically."""
    from aegis.engine import atomic_write_bytes  # the one atomic writer: a failure leaves no partial file

    check_output_path(path)
    meta_json = json.dumps(meta or {}, default=str)
    if path.endswith(".npz"):
        buffer = io.BytesIO()
        np.savez(buffer, features=features, video_paths=np.asarray(list(video_paths)), meta=np.asarray(meta_json))
        data = buffer.getvalue()
    else:
        from safetensors.numpy import save
        data = save({"features": np.ascontiguousarray(features)},
                    metadata={"video_paths": json.dumps(list(video_paths)), "meta": meta_json})
    atomic_write_bytes(data, path)


def load_features(path: str) -> tuple[np.ndarray, list[str], dict]:
    """Read what :func:`save_features` wrote: (features, video_paths, meta)."""
    if path.endswith(".npz"):
        with np.load(path) as data:
            return data["features"], [str(p) for p in data["video_paths"]], json.loads(str(data["meta"]))
    from safetensors import safe_open
    with safe_open(path, framework="numpy") as handle:
        metadata = handle.metadata()
        return handle.get_tensor("features"), json.loads(metadata["video_paths"]), json.loads(metadata["meta"])
