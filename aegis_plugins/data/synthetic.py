"""A synthetic disaster video set: procedural, physically driven scenes written as real H.264 files.

Six classes (label order = ``CLASSES``): a flood whose water level rises at a rate, a wildfire whose front spreads in
a direction, a smoke plume rising and drifting with the wind, an earthquake shaking a town, a landslide (a soil mass
accelerating down a slope under gravity against friction) and calm scenes with a distractor (a car or a bird moving).
Every video has a speed class ("fast"/"slow", drawn from disjoint parameter ranges at least 3x apart) and, where it
makes sense, a direction, so captions describe the event *and its dynamics* ("Water level rising rapidly", "Fire
spreading slowly to the east"): a model has to read the motion, not only the colours, to caption it right.

Everything is deterministic from the seed (numpy PCG64 per video, single-threaded x264), so a seed gives byte-identical
files. Scenes are rendered in normalised coordinates (x to the east, y down), so any even ``size`` works.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable

import numpy as np

from aegis.engine.progress import track
from aegis.errors import ConfigError

from .video_io import write_video

__all__ = ["CLASSES", "SPLITS", "SCENE_SETS", "scene_classes", "generate_dataset", "render_video", "captions_for"]

CLASSES = ("flood", "wildfire", "smoke", "earthquake", "landslide", "calm")
SPLITS = ("train", "val", "test")
_SPLIT_FRACTIONS = (0.7, 0.15, 0.15)

# ------------------------------------------------------------------------------------------------ captions

_ADVERB = {"flood": ("rapidly", "slowly"), "wildfire": ("rapidly", "slowly"), "smoke": ("rapidly", "slowly"),
           "earthquake": ("violently", "gently"), "landslide": ("rapidly", "slowly"), "calm": ("quickly", "slowly")}

_TEMPLATES = {
    "flood": ("Water level rising {adv}", "The flood water is rising {adv}",
              "Flooding: the water climbs {adv} over the land", "A flood, with the water level going up {adv}"),
    "wildfire": ("Fire spreading {adv} to the {dir}", "A wildfire spreads {adv} toward the {dir}",
                 "The fire front advances {adv} to the {dir}, leaving burnt ground behind",
                 "Flames moving {adv} across the vegetation to the {dir}"),
    "smoke": ("Smoke rising {adv} and drifting to the {dir}", "A smoke plume rises {adv}, blown to the {dir}",
              "Thick smoke climbing {adv} with the wind to the {dir}", "Smoke billowing {adv} toward the {dir}"),
    "earthquake": ("The ground is shaking {adv}", "An earthquake shakes the buildings {adv}",
                   "Buildings trembling {adv} during an earthquake", "The town shakes {adv} in an earthquake"),
    "landslide": ("A landslide sliding {adv} down the slope to the {dir}",
                  "Soil and rocks slide {adv} downhill to the {dir}",
                  "A mass of earth moving {adv} down the hillside toward the {dir}",
                  "Landslide: the slope gives way and slides {adv} to the {dir}"),
    "calm": ("A calm scene with a {obj} moving {adv} to the {dir}", "No disaster: a {obj} passes {adv} to the {dir}",
             "Everything is calm; only a {obj} moves {adv} to the {dir}", "A quiet landscape, a {obj} going {adv}"),
}


def captions_for(class_name: str, fast: bool, direction: str | None = None, obj: str | None = None) -> list[str]:
    """The template captions of one video, canonical one first ("Water level rising rapidly")."""
    adv = _ADVERB[class_name][0 if fast else 1]
    return [t.format(adv=adv, dir=direction or "", obj=obj or "") for t in _TEMPLATES[class_name]]


# ------------------------------------------------------------------------------------------------ rendering


class _Canvas:
    """Normalised pixel-centre coordinates of an S x S frame: ``x`` east in [0, 1), ``y`` down in [0, 1)."""

    def __init__(self, size: int) -> None:
        c = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.size = size
        self.y, self.x = np.meshgrid(c, c, indexing="ij")  # (S, S) each


def _mix(img: np.ndarray, color, alpha: np.ndarray) -> np.ndarray:
    """Blend ``color`` over ``img`` (S, S, 3) with per-pixel ``alpha`` (S, S) in [0, 1]."""
    a = np.clip(alpha, 0.0, 1.0)[..., None]
    return img * (1 - a) + np.asarray(color, np.float32) * a


def _landscape(cv: _Canvas, rng: np.random.Generator, horizon: float, ground) -> np.ndarray:
    """Static background: a sky gradient above ``horizon`` and textured ground below, (S, S, 3) in [0, 1]."""
    sky_top = np.array([0.35, 0.55, 0.85], np.float32) + rng.uniform(-0.08, 0.08, 3).astype(np.float32)
    sky = sky_top + (cv.y[..., None] * 0.35).astype(np.float32)
    texture = rng.normal(0.0, 0.03, (cv.size, cv.size, 1)).astype(np.float32)
    img = np.where((cv.y < horizon)[..., None], sky, np.asarray(ground, np.float32) + texture)
    return img.astype(np.float32)


def _smoothstep(edge_lo, edge_hi, v):
    t = np.clip((v - edge_lo) / np.maximum(edge_hi - edge_lo, 1e-6), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _flood(cv, rng, t, fast):
    """Water level y_w(t) = y0 - rate * t (rate in frame heights per second), with travelling ripples."""
    rate = rng.uniform(0.10, 0.14) if fast else rng.uniform(0.012, 0.03)
    y0 = rng.uniform(0.82, 0.92)
    horizon = rng.uniform(0.35, 0.45)
    ground = np.array([0.30, 0.50, 0.22]) + rng.uniform(-0.05, 0.05, 3)
    houses = [(rng.uniform(0.05, 0.9), rng.uniform(0.06, 0.12), rng.uniform(0.12, 0.25)) for _ in range(3)]
    water = np.array([0.20, 0.35, 0.55]) + rng.uniform(-0.05, 0.05, 3)
    wave_k, wave_w = rng.uniform(3, 6), rng.uniform(4, 7)
    base = _landscape(cv, rng, horizon, ground)
    for x0, w, h in houses:
        mask = (cv.x > x0) & (cv.x < x0 + w) & (cv.y > horizon + 0.25 - h) & (cv.y < horizon + 0.25)
        base = _mix(base, (0.6, 0.3, 0.25), mask.astype(np.float32))

    def frame(sec):
        level = max(y0 - rate * sec, 0.05)
        surface = level + 0.012 * np.sin(2 * np.pi * (wave_k * cv.x - 0.5 * sec))
        ripple = 0.06 * np.sin(2 * np.pi * (wave_k * 2 * cv.x + 3 * cv.y - wave_w * 0.25 * sec))
        alpha = _smoothstep(surface - 0.01, surface + 0.01, cv.y)
        return _mix(base, water, alpha) + (alpha * ripple)[..., None]

    return frame, dict(rise_rate=rate, initial_level=1.0 - y0), None, None


def _wildfire(cv, rng, t, fast):
    """A fire front x_f(t) = x0 + dir * speed * t over vegetation; burnt ground behind, flickering flames at it."""
    speed = rng.uniform(0.16, 0.22) if fast else rng.uniform(0.025, 0.05)
    east = bool(rng.integers(2))
    direction = 1.0 if east else -1.0
    x0 = rng.uniform(0.08, 0.2) if east else rng.uniform(0.8, 0.92)
    horizon = rng.uniform(0.3, 0.42)
    base = _landscape(cv, rng, horizon, np.array([0.18, 0.45, 0.15]) + rng.uniform(-0.04, 0.04, 3))
    flicker_phase = rng.uniform(0, 2 * np.pi, cv.size).astype(np.float32)
    ground = cv.y >= horizon

    def frame(sec):
        front = x0 + direction * speed * sec
        ahead = direction * (cv.x - front)  # > 0 not yet burnt
        burnt = (ahead < 0) & ground
        img = _mix(base, (0.12, 0.10, 0.09), burnt.astype(np.float32))
        height = 0.10 + 0.04 * np.sin(flicker_phase[None, :] + 9.0 * sec + 20 * cv.x)
        band = np.exp(-(ahead / 0.035) ** 2) * (cv.y > horizon - height) * (cv.y < 1.0)
        img = _mix(img, (1.0, 0.45, 0.05), band)
        core = np.exp(-(ahead / 0.015) ** 2) * ground
        return _mix(img, (1.0, 0.9, 0.3), core * 0.8)

    return frame, dict(spread_speed=speed, start_x=x0), ("east" if east else "west"), None


def _smoke(cv, rng, t, fast):
    """Gaussian puffs emitted at a source every 0.07 frame heights of rise; each rises at ``rise_speed``, drifts with
    ``wind_speed`` and widens with the distance travelled, so fast and slow plumes differ in motion, not in shape."""
    rise = rng.uniform(0.28, 0.36) if fast else rng.uniform(0.05, 0.09)
    east = bool(rng.integers(2))
    wind = (1.0 if east else -1.0) * rng.uniform(0.4, 0.6) * rise
    horizon = rng.uniform(0.6, 0.72)
    xs = rng.uniform(0.35, 0.65)
    base = _landscape(cv, rng, horizon, np.array([0.35, 0.42, 0.25]) + rng.uniform(-0.04, 0.04, 3))
    base = _mix(base, (0.25, 0.2, 0.2), ((np.abs(cv.x - xs) < 0.05) & (np.abs(cv.y - horizon) < 0.04)) * 1.0)
    shade = rng.uniform(0.3, 0.55)
    interval = 0.07 / rise  # s between puffs
    # the fire started 0.1 frame heights of rise ago: the plume's top climbs at rise_speed, a cue that sparse
    # temporal sampling cannot alias (the puffs' own motion can, when a step moves them past their spacing)
    emit = np.arange(-0.1 / rise, t + interval, interval)  # t: duration, s
    gain = rng.uniform(0.5, 1.3, emit.size)

    def frame(sec):
        age = sec - emit[emit <= sec]  # (P,)
        dist = rise * age
        keep = dist < 1.0
        px = xs + wind * age[keep]
        py = horizon - 0.02 - dist[keep]
        radius = 0.025 + 0.12 * dist[keep]
        d2 = (cv.x[..., None] - px) ** 2 + (cv.y[..., None] - py) ** 2  # (S, S, P)
        dens = (gain[: age.size][keep] * np.exp(-d2 / (2 * radius ** 2))).sum(-1)
        return _mix(base, (shade, shade, shade + 0.03), 0.85 * np.tanh(0.8 * dens))

    return frame, dict(rise_speed=rise, wind_speed=wind, source_x=xs), ("east" if east else "west"), None


def _earthquake(cv, rng, t, fast):
    """A town whose image is displaced each frame by damped random ground motion of amplitude ``amplitude`` px."""
    amplitude = rng.uniform(0.05, 0.075) if fast else rng.uniform(0.008, 0.016)  # fraction of the frame
    freq = rng.uniform(2.5, 3.5)
    horizon = rng.uniform(0.45, 0.6)
    base = _landscape(cv, rng, horizon, np.array([0.45, 0.42, 0.35]) + rng.uniform(-0.04, 0.04, 3))
    for _ in range(int(rng.integers(3, 6))):
        x0, w, h = rng.uniform(0.0, 0.85), rng.uniform(0.08, 0.16), rng.uniform(0.15, 0.35)
        col = np.array([0.55, 0.5, 0.45]) + rng.uniform(-0.15, 0.15, 3)
        mask = (cv.x > x0) & (cv.x < x0 + w) & (cv.y > horizon + 0.1 - h) & (cv.y < horizon + 0.1)
        base = _mix(base, col, mask.astype(np.float32))
        windows = mask & (np.sin(cv.x * 90) > 0.3) & (np.sin(cv.y * 90) > 0.3)
        base = _mix(base, (0.2, 0.2, 0.25), windows.astype(np.float32))
    phase = rng.uniform(0, 2 * np.pi, 2)
    jitter = rng.normal(0, 0.5, (4096, 2))
    s = cv.size

    def frame(sec):
        k = int(round(sec * 64)) % 4096
        dx = amplitude * (np.sin(2 * np.pi * freq * sec + phase[0]) + 0.5 * jitter[k, 0])
        dy = 0.5 * amplitude * (np.sin(2 * np.pi * freq * 1.3 * sec + phase[1]) + 0.5 * jitter[k, 1])
        rows = np.clip(np.arange(s) + int(round(dy * s)), 0, s - 1)
        cols = np.clip(np.arange(s) + int(round(dx * s)), 0, s - 1)
        return base[rows][:, cols]

    return frame, dict(amplitude=amplitude, frequency_hz=freq), None, None


def _landslide(cv, rng, t, fast):
    """A soil mass on a slope of angle theta: s(t) = s0 + a t^2 / 2 with a = g (sin theta - mu cos theta)."""
    east = bool(rng.integers(2))
    theta = np.deg2rad(rng.uniform(28, 38))
    # friction chosen so the mass travels 45-65% (fast) or 7-14% (slow) of the slope in 4 s
    travel = rng.uniform(0.45, 0.65) if fast else rng.uniform(0.07, 0.14)
    accel = 2 * travel / 16.0  # slope lengths / s^2
    g = 1.0  # slope lengths / s^2 at this scene's scale
    mu = float(np.tan(theta) - accel / (g * np.cos(theta)))
    top, bottom = rng.uniform(0.15, 0.25), rng.uniform(0.8, 0.9)

    def slope_y(x):  # ground line, descending to the east when east
        u = x if east else 1 - x
        return top + (bottom - top) * u

    base = _landscape(cv, rng, 2.0, np.array([0.5, 0.6, 0.85]))  # all sky first
    hill = cv.y > slope_y(cv.x)
    base = _mix(base, np.array([0.32, 0.48, 0.2]) + rng.uniform(-0.04, 0.04, 3), hill.astype(np.float32))
    s0 = rng.uniform(0.1, 0.2)
    blob = rng.uniform(0.07, 0.1)
    rock = rng.normal(0, 0.05, (cv.size, cv.size)).astype(np.float32)

    def frame(sec):
        s = min(s0 + 0.5 * accel * sec ** 2, 0.95)
        u = s
        x = u if east else 1 - u
        y = slope_y(x) - 0.03
        trail_u = (cv.x if east else 1 - cv.x)
        trail = hill & (trail_u > s0) & (trail_u < u) & (cv.y < slope_y(cv.x) + 0.05)
        img = _mix(base, (0.42, 0.3, 0.18), trail * 0.8)
        d = ((cv.x - x) / (1.4 * blob)) ** 2 + ((cv.y - y) / blob) ** 2
        return _mix(img, (0.45, 0.32, 0.2), (d < 1.0) * 1.0) + ((d < 1.0) * rock)[..., None]

    params = dict(slope_deg=float(np.rad2deg(theta)), friction=mu, acceleration=accel, start=s0)
    return frame, params, ("east" if east else "west"), None


def _calm(cv, rng, t, fast):
    """A still landscape with a distractor: a car on the road or a bird in the sky at constant speed."""
    obj = "car" if rng.integers(2) else "bird"
    east = bool(rng.integers(2))
    speed = rng.uniform(0.18, 0.25) if fast else rng.uniform(0.03, 0.06)
    horizon = rng.uniform(0.45, 0.6)
    base = _landscape(cv, rng, horizon, np.array([0.3, 0.55, 0.25]) + rng.uniform(-0.05, 0.05, 3))
    road = np.abs(cv.y - (horizon + 0.2)) < 0.04
    base = _mix(base, (0.3, 0.3, 0.32), road.astype(np.float32))
    for _ in range(3):
        tx, ty = rng.uniform(0.05, 0.95), horizon + rng.uniform(0.0, 0.1)
        base = _mix(base, (0.1, 0.35, 0.1), (((cv.x - tx) / 0.04) ** 2 + ((cv.y - ty + 0.05) / 0.07) ** 2 < 1) * 1.0)
    x0 = rng.uniform(0.05, 0.25) if east else rng.uniform(0.75, 0.95)
    sgn = 1.0 if east else -1.0
    color = np.array([0.8, 0.1, 0.1]) if obj == "car" else np.array([0.1, 0.1, 0.1])
    y_obj = horizon + 0.2 if obj == "car" else rng.uniform(0.12, 0.3)

    def frame(sec):
        x = x0 + sgn * speed * sec
        y = y_obj + (0.0 if obj == "car" else 0.03 * np.sin(2 * np.pi * 1.5 * sec))
        if obj == "car":
            mask = (np.abs(cv.x - x) < 0.06) & (np.abs(cv.y - y + 0.01) < 0.03)
        else:
            mask = (((cv.x - x) / 0.035) ** 2 + ((cv.y - y) / 0.015) ** 2) < 1
        return _mix(base, color, mask * 1.0)

    return frame, dict(object_speed=speed, start_x=x0), ("east" if east else "west"), obj


_SCENES: dict[str, Callable] = {"flood": _flood, "wildfire": _wildfire, "smoke": _smoke,
                                "earthquake": _earthquake, "landslide": _landslide, "calm": _calm}


SCENE_SETS = ("disaster", "motion", "flow")


def _probe_scene_set(scenes: str):
    """(classes, scene functions, captions(name, fast, direction), adverbs) of the "motion" or "flow" set, else None.

    Their scene functions return (frame(sec), params, direction), with no distractor object.
    """
    if scenes == "motion":
        from . import synthetic_motion as m
        return m.MOTION_CLASSES, m.MOTION_SCENES, m.motion_captions, m.MOTION_ADVERB
    if scenes == "flow":
        from . import synthetic_flow as f
        return f.FLOW_CLASSES, f.FLOW_SCENES, f.flow_captions, f.FLOW_ADVERB
    return None


def scene_classes(scenes: str = "disaster") -> tuple[str, ...]:
    """The class names of a scene set: ``CLASSES`` for "disaster", ``MOTION_CLASSES`` for "motion",
    ``FLOW_CLASSES`` for "flow"."""
    if scenes == "disaster":
        return CLASSES
    probe_set = _probe_scene_set(scenes)
    if probe_set is None:
        raise ConfigError(f"scenes={scenes!r}; expected one of {', '.join(SCENE_SETS)} (docs/data.md).")
    return probe_set[0]


def render_video(class_name: str, rng: np.random.Generator, size: int = 64, frames: int = 32, fps: float = 8.0,
                 fast: bool = True, scenes: str = "disaster") -> tuple[np.ndarray, dict, str | None, str | None]:
    """Render one scene: returns ((T, H, W, 3) uint8 frames, physical params, direction or None, object or None)."""
    cv = _Canvas(size)
    if class_name not in scene_classes(scenes):
        raise ConfigError(f"render_video: class {class_name!r} is not in the {scenes!r} scenes "
                          f"({', '.join(scene_classes(scenes))}).")
    if scenes == "disaster":
        frame_fn, params, direction, obj = _SCENES[class_name](cv, rng, frames / fps, fast)  # duration, s
    else:
        frame_fn, params, direction = _probe_scene_set(scenes)[1][class_name](cv, rng, frames / fps, fast)
        obj = None
    out = np.empty((frames, size, size, 3), np.uint8)
    for i in range(frames):
        out[i] = (np.clip(frame_fn(i / fps), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    return out, {k: float(v) for k, v in params.items()}, direction, obj


def _scene_text(scenes: str, name: str, fast: bool, direction: str | None, obj: str | None) -> tuple[list[str], str]:
    """(template captions, dynamics adverb) of one video of a scene set."""
    if scenes == "disaster":
        return captions_for(name, fast, direction, obj), _ADVERB[name][0 if fast else 1]
    _, _, captions, adverbs = _probe_scene_set(scenes)
    return captions(name, fast, direction), adverbs[name][0 if fast else 1]


# ------------------------------------------------------------------------------------------------ the data set


def _assign_splits(labels: list[int], rng: np.random.Generator) -> list[str]:
    """A 70/15/15 split stratified by class, deterministic from ``rng``.

    Each class's videos are shuffled, then dealt round-robin across classes into one order whose first 70% is train,
    next 15% val, rest test: every split is class-balanced, and even 12 videos give val and test 2 each.
    """
    per_class = []
    for label in sorted(set(labels)):
        members = [i for i, lab in enumerate(labels) if lab == label]
        rng.shuffle(members)
        per_class.append(members)
    order = [m[k] for k in range(max(len(m) for m in per_class)) for m in per_class if k < len(m)]
    n = len(order)
    n_train = max(1, int(round(n * _SPLIT_FRACTIONS[0])))
    n_val = int(round(n * _SPLIT_FRACTIONS[1])) if n - n_train > 1 else 0
    splits = [""] * n
    for pos, i in enumerate(order):
        splits[i] = "train" if pos < n_train else ("val" if pos < n_train + n_val else "test")
    return splits


def _atomic_json(obj, path: str) -> None:
    from aegis.engine import atomic_write_bytes  # the one atomic writer: a failure leaves no partial file

    atomic_write_bytes(json.dumps(obj, indent=1).encode("utf-8"), path)


def generate_dataset(out_dir: str, num_videos: int, seed: int, size: int = 64, frames: int = 32,
                     fps: float = 8.0, scenes: str = "disaster") -> str:
    """Write ``num_videos`` scenes to ``out_dir/videos/*.mp4`` plus ``captions.json`` and ``{train,val,test}.json``.

    Classes are balanced (video i has label i mod 6 before a seeded shuffle), speeds alternate fast/slow within a
    class. ``captions.json`` is a list of {"video_path" (relative to out_dir), "caption", "captions", "label",
    "class_name", "params", "split", "speed", "dynamics", "direction", "fps", "num_frames", "size"}; the split files
    hold the same entries filtered by split. ``captions.json`` is written last and atomically, so its presence means
    the set is complete. ``scenes="motion"`` writes the motion-only scenes of ``synthetic_motion.py`` instead (labels
    index ``MOTION_CLASSES``), ``scenes="flow"`` the flow scenes of ``synthetic_flow.py`` (``FLOW_CLASSES``).
    A live bar counts the videos on a terminal (nothing elsewhere). Returns the path of ``captions.json``.
    """
    classes = scene_classes(scenes)
    if num_videos < 1:
        raise ConfigError(f"num_videos={num_videos}: need at least 1 video")
    if size < 8 or size % 2:
        raise ConfigError(f"size={size}: need an even frame size >= 8 (H.264 4:2:0), e.g. {max(8, size + size % 2)}")
    if frames < 2:
        raise ConfigError(f"frames={frames}: need at least 2 frames per video")
    os.makedirs(os.path.join(out_dir, "videos"), exist_ok=True)
    master = np.random.default_rng(seed)
    labels = [i % len(classes) for i in range(num_videos)]
    master.shuffle(labels)
    fast_flags, seen = [], [0] * len(classes)
    for lab in labels:
        fast_flags.append(seen[lab] % 2 == 0)
        seen[lab] += 1
    splits = _assign_splits(labels, master)
    entries = []
    scenes_done = track(enumerate(zip(labels, fast_flags, splits)), f"{scenes} videos", total=num_videos,
                        unit="videos")
    for i, (label, fast, split) in scenes_done:
        name = classes[label]
        rng = np.random.default_rng([seed, i])
        video, params, direction, obj = render_video(name, rng, size=size, frames=frames, fps=fps, fast=fast,
                                                     scenes=scenes)
        rel = f"videos/{i:05d}_{name}.mp4"
        write_video(os.path.join(out_dir, rel), video, fps=fps)
        captions, adverb = _scene_text(scenes, name, fast, direction, obj)
        entries.append(dict(video_path=rel, caption=captions[0], captions=captions, label=label, class_name=name,
                            params=params, split=split, speed="fast" if fast else "slow",
                            dynamics=adverb, direction=direction, object=obj, fps=fps,
                            num_frames=frames, size=size))
    for split in SPLITS:
        _atomic_json([e for e in entries if e["split"] == split], os.path.join(out_dir, f"{split}.json"))
    meta = dict(generator="aegis_plugins.data.synthetic", num_videos=num_videos, seed=seed, size=size, frames=frames,
                fps=fps, scenes=scenes, classes=list(classes))
    _atomic_json(meta, os.path.join(out_dir, "synthetic_meta.json"))
    path = os.path.join(out_dir, "captions.json")
    _atomic_json(entries, path)
    return path
