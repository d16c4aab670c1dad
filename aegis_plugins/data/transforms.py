"""Video transforms for mmengine-style pipelines (a list of ``dict(type=...)`` applied to a results dict in order).

Results keys: ``video_path`` in; ``reader``/``total_frames`` (VideoInit), ``frame_inds`` (SampleFrames), ``imgs``
as a (N, H, W, 3) uint8 numpy array, N = num_clips * video_length (VideoDecode and the spatial transforms), then
``inputs`` as a (C, T, H, W) uint8 tensor, or (num_clips, C, T, H, W) when num_clips > 1 (ToTensorVideo), made
float32 by NormalizeVideo. Random choices use torch's RNG, which the DataLoader seeds per worker.
The decode/sample/crop split follows mmaction2's pipelines; the defaults follow V-JEPA (Bardes et al., 2024).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log

from aegis.errors import ConfigError, DataError

from .sampling import SAMPLING_MODES, SHORT_VIDEO_POLICIES, clip_span, sample_clip_indices
from .video_io import BACKENDS, open_video, resolve_backend

__all__ = ["resize_frames", "VideoInit", "SampleFrames", "VideoDecode", "ResizeShorterSide", "RandomResizedCrop", "CenterCrop",
           "RandomHorizontalFlip", "ToTensorVideo", "NormalizeVideo", "VideoClipPipeline", "Compose",
           "IMAGENET_MEAN", "IMAGENET_STD", "build_pipeline"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _need(results: dict, key: str, transform: str, producer: str) -> object:
    if key not in results:
        raise ConfigError(f"{transform} needs results[{key!r}], which {producer} produces; put {producer} earlier "
                          "in the pipeline")
    return results[key]


def _imgs(results: dict, transform: str) -> np.ndarray:
    imgs = _need(results, "imgs", transform, "VideoDecode")
    if not isinstance(imgs, np.ndarray):
        raise ConfigError(f"{transform} works on decoded uint8 frames; put it before ToTensorVideo")
    return imgs


class VideoInit:
    """Open ``results['video_path']`` with a backend ('auto', 'pyav' or 'decord'); sets ``reader`` and
    ``total_frames`` (the decodable frame count, checked against the stored packets when ``verify_frame_count``)."""

    def __init__(self, backend: str = "auto", verify_frame_count: bool = True, num_threads: int = 1) -> None:
        if backend not in BACKENDS:
            resolve_backend(backend)  # raises the ConfigError with the valid choices
        self.backend, self.verify_frame_count, self.num_threads = backend, verify_frame_count, num_threads

    def __call__(self, results: dict) -> dict:
        path = _need(results, "video_path", "VideoInit", "the dataset")
        reader = open_video(path, self.backend, self.verify_frame_count, self.num_threads)
        results["reader"], results["total_frames"] = reader, reader.num_frames
        results["fps"] = reader.fps
        return results


class SampleFrames:
    """Choose ``frame_inds``: ``num_clips`` clips of ``video_length`` frames every ``frame_sample_rate`` frames.

    ``mode='auto'`` samples a random start in training and the centred clip (``num_clips`` evenly spaced clips
    when > 1) when ``results['test_mode']`` is true. Videos shorter than a clip follow ``short_video``
    (loop / pad / error); the first time a policy applies it is logged, later ones count in ``num_short``.
    """

    def __init__(self, video_length: int = 16, frame_sample_rate: int = 2, num_clips: int = 1, mode: str = "auto",
                 short_video: str = "loop") -> None:
        if mode != "auto" and mode not in SAMPLING_MODES:
            raise ConfigError(f"SampleFrames.mode={mode!r}; expected 'auto' or one of {', '.join(SAMPLING_MODES)}")
        if short_video not in SHORT_VIDEO_POLICIES:
            raise ConfigError(f"SampleFrames.short_video={short_video!r}; expected one of "
                              f"{', '.join(SHORT_VIDEO_POLICIES)}")
        if min(video_length, frame_sample_rate, num_clips) < 1:
            raise ConfigError(f"SampleFrames: video_length={video_length}, frame_sample_rate={frame_sample_rate}, "
                              f"num_clips={num_clips}; each must be >= 1")
        self.video_length, self.frame_sample_rate, self.num_clips = video_length, frame_sample_rate, num_clips
        self.mode, self.short_video = mode, short_video
        self.num_short = 0

    def __call__(self, results: dict) -> dict:
        total = int(_need(results, "total_frames", "SampleFrames", "VideoInit"))
        mode = self.mode
        if mode == "auto":
            mode = ("center" if self.num_clips == 1 else "uniform") if results.get("test_mode") else "random"
        span = clip_span(self.video_length, self.frame_sample_rate)
        try:
            inds = sample_clip_indices(total, self.video_length, self.frame_sample_rate, self.num_clips, mode,
                                       self.short_video)
        except DataError as exc:
            raise DataError(f"{results.get('video_path', '<video>')}: {exc}") from None
        if total < span:
            if self.num_short == 0:
                action = "wraps around" if self.short_video == "loop" else "repeats the last frame"
                print_log(f"{results.get('video_path')}: {total} frames < clip span {span}; short_video="
                          f"{self.short_video!r} {action}"
                          " (logged once; later short videos are handled the same way)", logger="current",
                          level=logging.WARNING)
            self.num_short += 1
        results["frame_inds"] = inds.reshape(-1)  # (num_clips * video_length,)
        results["num_clips"], results["clip_len"] = self.num_clips, self.video_length
        return results


class VideoDecode:
    """Decode ``frame_inds`` with the opened reader into ``imgs`` (N, H, W, 3) uint8, then close the reader."""

    def __init__(self) -> None:
        pass

    def __call__(self, results: dict) -> dict:
        reader = _need(results, "reader", "VideoDecode", "VideoInit")
        inds = _need(results, "frame_inds", "VideoDecode", "SampleFrames")
        try:
            results["imgs"] = reader.get_frames(inds)  # (N, H, W, 3)
        finally:
            reader.close()
            results.pop("reader", None)
        results["original_shape"] = results["imgs"].shape[1:3]
        return results


def resize_frames(imgs: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear (antialiased) resize of (N, H, W, 3) uint8 to (N, height, width, 3) uint8.

    Runs torch's uint8 channels-last kernel (no round trip through float32; within 1 grey level of the float
    result).
    """
    if imgs.shape[1] == height and imgs.shape[2] == width:
        return imgs
    x = torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2)  # (N, 3, H, W), channels-last memory
    x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return x.permute(0, 2, 3, 1).contiguous().numpy()  # (N, h, w, 3)


class ResizeShorterSide:
    """Resize every frame so its shorter side is ``size`` pixels, keeping the aspect ratio: (N, H, W, 3) uint8."""

    def __init__(self, size: int = 64) -> None:
        if size < 1:
            raise ConfigError(f"ResizeShorterSide.size={size}; must be >= 1")
        self.size = size

    def __call__(self, results: dict) -> dict:
        imgs = _imgs(results, "ResizeShorterSide")
        h, w = imgs.shape[1:3]
        scale = self.size / min(h, w)
        results["imgs"] = resize_frames(imgs, max(1, round(h * scale)), max(1, round(w * scale)))
        return results


class RandomResizedCrop:
    """Crop one random box (area fraction in ``scale``, aspect ratio in ``ratio``) shared by all frames of the clip,
    and resize it to ``size`` x ``size``: (N, H, W, 3) -> (N, size, size, 3) uint8."""

    def __init__(self, size: int = 64, scale: Sequence[float] = (0.3, 1.0),
                 ratio: Sequence[float] = (0.75, 1.3333333333333333)) -> None:
        if not (0 < scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]):
            raise ConfigError(f"RandomResizedCrop: scale={tuple(scale)} must be within (0, 1] and ratio="
                              f"{tuple(ratio)} positive, each as (low, high)")
        self.size, self.scale, self.ratio = size, tuple(scale), tuple(ratio)

    def _box(self, h: int, w: int) -> tuple[int, int, int, int]:
        area = h * w
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * float(torch.empty(1).uniform_(*self.scale))
            aspect = math.exp(float(torch.empty(1).uniform_(*log_ratio)))
            cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(torch.randint(0, h - ch + 1, (1,)))
                left = int(torch.randint(0, w - cw + 1, (1,)))
                return top, left, ch, cw
        side = min(h, w)  # fall back to the centred square
        return (h - side) // 2, (w - side) // 2, side, side

    def __call__(self, results: dict) -> dict:
        imgs = _imgs(results, "RandomResizedCrop")
        top, left, ch, cw = self._box(*imgs.shape[1:3])
        results["imgs"] = resize_frames(imgs[:, top:top + ch, left:left + cw], self.size, self.size)
        results["crop_box"] = (top, left, ch, cw)
        return results


class CenterCrop:
    """Cut the centred ``size`` x ``size`` window: (N, H, W, 3) -> (N, size, size, 3); frames smaller than ``size``
    are resized up first (shorter side to ``size``)."""

    def __init__(self, size: int = 64) -> None:
        if size < 1:
            raise ConfigError(f"CenterCrop.size={size}; must be >= 1")
        self.size = size

    def __call__(self, results: dict) -> dict:
        imgs = _imgs(results, "CenterCrop")
        h, w = imgs.shape[1:3]
        if min(h, w) < self.size:
            scale = self.size / min(h, w)
            h, w = max(self.size, round(h * scale)), max(self.size, round(w * scale))
            imgs = resize_frames(imgs, h, w)
        top, left = (h - self.size) // 2, (w - self.size) // 2
        results["imgs"] = np.ascontiguousarray(imgs[:, top:top + self.size, left:left + self.size])
        return results


class RandomHorizontalFlip:
    """Mirror all frames of the clip left-right with probability ``p``; sets ``flipped``.

    Flipping swaps east and west, so by default (``swap_directions=True``) captions and the ``direction`` field
    are rewritten to match ("to the east" <-> "to the west").
    """

    def __init__(self, p: float = 0.5, swap_directions: bool = True) -> None:
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"RandomHorizontalFlip.p={p}; must be within [0, 1]")
        self.p, self.swap_directions = p, swap_directions

    @staticmethod
    def _swap(text: str) -> str:
        return text.replace("east", "\0").replace("west", "east").replace("\0", "west")

    def __call__(self, results: dict) -> dict:
        imgs = _imgs(results, "RandomHorizontalFlip")
        flip = self.p > 0 and float(torch.rand(1)) < self.p
        results["flipped"] = flip
        if flip:
            results["imgs"] = np.ascontiguousarray(imgs[:, :, ::-1])
            if self.swap_directions:
                for key in ("caption", "direction"):
                    if isinstance(results.get(key), str):
                        results[key] = self._swap(results[key])
                if isinstance(results.get("captions"), list):
                    results["captions"] = [self._swap(c) for c in results["captions"]]
        return results


class ToTensorVideo:
    """(N, H, W, 3) uint8 numpy -> ``inputs`` uint8 tensor (C, T, H, W), or (num_clips, C, T, H, W) if clips > 1."""

    def __init__(self) -> None:
        pass

    def __call__(self, results: dict) -> dict:
        imgs = _imgs(results, "ToTensorVideo")
        clips = int(results.get("num_clips", 1))
        x = torch.from_numpy(np.ascontiguousarray(imgs))  # (N, H, W, C)
        n, h, w, c = x.shape
        x = x.reshape(clips, n // clips, h, w, c).permute(0, 4, 1, 2, 3).contiguous()  # (clips, C, T, H, W)
        results["inputs"] = x[0] if clips == 1 else x
        del results["imgs"]
        return results


class NormalizeVideo:
    """``inputs`` uint8 (..., C, T, H, W) -> float32 ``(x / 255 - mean) / std`` per channel (ImageNet's by default)."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ConfigError(f"NormalizeVideo: mean={tuple(mean)} and std={tuple(std)} need 3 values each "
                              "(RGB, in [0, 1] units), std > 0")
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1, 1)  # (C, 1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1, 1)
        self._shift = self.mean * 255.0  # (x / 255 - mean) / std == (x - 255 mean) * (1 / (255 std))
        self._scale = 1.0 / (self.std * 255.0)

    def __call__(self, results: dict) -> dict:
        x = results.get("inputs")
        if not isinstance(x, torch.Tensor):
            raise ConfigError("NormalizeVideo needs results['inputs'] as a tensor; put ToTensorVideo before it")
        if x.dtype != torch.uint8:
            raise DataError(f"NormalizeVideo expects uint8 clips, got {x.dtype}; normalise only once")
        results["inputs"] = x.float().sub_(self._shift).mul_(self._scale)  # one float copy, then in place
        return results


class Compose:
    """Apply transforms in order; each is a callable or a ``dict(type=...)`` from TRANSFORMS."""

    def __init__(self, transforms: Sequence, path: str = "pipeline") -> None:
        self.transforms = build_pipeline(transforms, path)

    def __call__(self, results: dict) -> dict:
        for t in self.transforms:
            results = t(results)
        return results


def build_pipeline(pipeline, path: str = "pipeline") -> list:
    """Build a pipeline (list of transform dicts/callables, or one dict) through TRANSFORMS, naming bad entries."""
    from aegis.build import build_component
    from aegis.registry import TRANSFORMS
    if pipeline is None:
        return []
    if not isinstance(pipeline, (list, tuple)):
        pipeline = [pipeline]
    built = []
    for i, cfg in enumerate(pipeline):
        t = build_component(cfg, TRANSFORMS, path=f"{path}[{i}]")
        if not callable(t):
            raise ConfigError(f"{path}[{i}]: {type(t).__name__} is not callable; a transform takes and returns a "
                              "results dict")
        built.append(t)
    return built


class VideoClipPipeline:
    """The standard clip pipeline in one overridable transform: open -> sample -> decode -> resize shorter side ->
    random resized crop + flip (training) or centre crop (evaluation) -> tensor -> normalise.

    Gives ``inputs`` as float32 (C, T, H, W), T = ``video_length``, H = W = ``img_size``. ``test_mode=None`` follows
    the dataset's ``test_mode``. Being one dict, a child config can change a single value
    (``pipeline=dict(video_length=8)``), which a list of transforms cannot offer.
    """

    def __init__(self, video_length: int = 16, frame_sample_rate: int = 2, img_size: int = 64,
                 test_mode: bool | None = None, num_clips: int = 1, backend: str = "auto",
                 short_video: str = "loop", resize_ratio: float = 1.0, crop_scale: Sequence[float] = (0.3, 1.0),
                 flip: bool = True, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        self.test_mode = test_mode
        shorter = max(img_size, round(img_size * resize_ratio))
        head: list = [VideoInit(backend=backend),
                      SampleFrames(video_length, frame_sample_rate, num_clips, "auto", short_video),
                      VideoDecode(), ResizeShorterSide(shorter)]
        tail: list = [ToTensorVideo(), NormalizeVideo(mean, std)]
        train: list = [RandomResizedCrop(img_size, scale=crop_scale)] + ([RandomHorizontalFlip(0.5)] if flip else [])
        self.train_transforms = head + train + tail
        self.test_transforms = head + [CenterCrop(img_size)] + tail

    def __call__(self, results: dict) -> dict:
        if self.test_mode is not None:
            results["test_mode"] = self.test_mode
        steps = self.test_transforms if results.get("test_mode") else self.train_transforms
        for t in steps:
            results = t(results)
        return results
