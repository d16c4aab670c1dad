"""A video with its generated alert drawn under every frame (the output of ``tools/infer.py --out``), for the video
captioner of the BLIP-2 recipe (Li et al., 2023, "BLIP-2: Bootstrapping Language-Image Pre-training with Frozen Image
Encoders and Large Language Models").
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["write_annotated_video"]


def write_annotated_video(video: str, out: str, text: str, width: int = 480) -> str:
    """Re-encode ``video`` to ``out`` (H.264 mp4) with ``text`` drawn on a bar under every frame."""
    import cv2
    import numpy as np

    from aegis_plugins.data.video_io import open_video, write_video

    reader = open_video(video)
    try:
        frames = reader.get_frames(list(range(reader.num_frames)))  # (T, H, W, 3) uint8
        fps = reader.fps or 8.0
    finally:
        reader.close()
    _, h, w, _ = frames.shape
    scale = width / w
    new_h = int(round(h * scale / 2) * 2)
    lines = _wrap(f"ALERT: {text}", max_chars=max(20, width // 11))
    bar = 14 + 22 * len(lines)
    out_frames = np.zeros((len(frames), new_h + bar + (bar % 2), width, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        out_frames[i, :new_h] = cv2.resize(frame, (width, new_h), interpolation=cv2.INTER_NEAREST)
        for j, line in enumerate(lines):
            cv2.putText(out_frames[i], line, (8, new_h + 22 + 22 * j), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                        (255, 220, 80), 1, cv2.LINE_AA)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return write_video(out, out_frames, fps=fps)


def _wrap(text: str, max_chars: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > max_chars:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])
