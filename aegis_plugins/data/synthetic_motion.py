"""Motion-only synthetic scenes: six classes that look alike and differ only in how something moves.

On the disaster scenes (``synthetic.py``) a linear probe on raw pixels already names the type (water is blue, fire is
orange), so a frozen-feature probe cannot tell a learned video representation from pixels (docs/pretraining.md).
Here every video paints two textures (random gratings between two random colours), and both are drawn from the same
distribution in every class. Only the motion of the second texture's region differs: a boundary rising, a front
spreading east or west, a disk growing, the whole scene shaking, a block sliding with constant acceleration, a small
block drifting at constant speed. Each class comes at a fast or a slow rate, with the same parameter ranges as its
disaster counterpart: flood, wildfire, smoke, earthquake, landslide, calm. Select these scenes with
``generate_dataset(..., scenes="motion")`` or ``SyntheticDisasterDataset(scenes="motion")``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["MOTION_CLASSES", "MOTION_SCENES", "motion_captions", "MOTION_ADVERB"]

MOTION_CLASSES = ("rising", "spreading", "growing", "shaking", "sliding", "drifting")

MOTION_ADVERB = {"rising": ("rapidly", "slowly"), "spreading": ("rapidly", "slowly"), "growing": ("rapidly", "slowly"),
                 "shaking": ("violently", "gently"), "sliding": ("rapidly", "slowly"), "drifting": ("quickly", "slowly")}

_TEMPLATES = {
    "rising": ("A boundary rising {adv}", "The lower region climbs {adv} up the frame"),
    "spreading": ("A front spreading {adv} to the {dir}", "The region advances {adv} toward the {dir}"),
    "growing": ("A patch growing {adv}", "A round region expands {adv}"),
    "shaking": ("The scene shaking {adv}", "Everything trembles {adv}"),
    "sliding": ("A block sliding {adv} down to the {dir}", "A block accelerates {adv} downhill to the {dir}"),
    "drifting": ("A small block drifting {adv} to the {dir}", "A small block moves {adv} toward the {dir}"),
}


def motion_captions(class_name: str, fast: bool, direction: str | None = None) -> list[str]:
    """The template captions of one motion-only video, canonical one first ("A boundary rising rapidly")."""
    adv = MOTION_ADVERB[class_name][0 if fast else 1]
    return [t.format(adv=adv, dir=direction or "") for t in _TEMPLATES[class_name]]


def _texture(cv, rng: np.random.Generator) -> np.ndarray:
    """Random oriented gratings mapped between two random colours: (S, S, 3) in [0, 1], one distribution for all."""
    field = np.zeros((cv.size, cv.size), np.float32)
    for _ in range(4):
        fx, fy, phase = rng.uniform(-8, 8), rng.uniform(-8, 8), rng.uniform(0, 2 * np.pi)
        field += np.sin(2 * np.pi * (fx * cv.x + fy * cv.y) + phase).astype(np.float32)
    field = (field - field.min()) / max(float(field.max() - field.min()), 1e-6)
    low, high = rng.uniform(0, 1, 3).astype(np.float32), rng.uniform(0, 1, 3).astype(np.float32)
    return low * (1 - field[..., None]) + high * field[..., None]


def _two_textures(cv, rng):
    return _texture(cv, rng), _texture(cv, rng)


def _rising(cv, rng, t, fast):
    """The second texture below a horizontal boundary y_b(t) = y0 - rate * t (frame heights per second)."""
    back, region = _two_textures(cv, rng)
    rate = rng.uniform(0.10, 0.14) if fast else rng.uniform(0.012, 0.03)
    y0 = rng.uniform(0.82, 0.92)

    def frame(sec):
        return np.where((cv.y > max(y0 - rate * sec, 0.05))[..., None], region, back)

    return frame, dict(rate=rate, start=y0), None


def _spreading(cv, rng, t, fast):
    """The second texture behind a vertical front x_f(t) = x0 + dir * speed * t."""
    back, region = _two_textures(cv, rng)
    east = bool(rng.integers(2))
    speed = rng.uniform(0.16, 0.22) if fast else rng.uniform(0.025, 0.05)
    x0 = rng.uniform(0.1, 0.25)

    def frame(sec):
        front = x0 + speed * sec
        behind = (cv.x < front) if east else (cv.x > 1 - front)
        return np.where(behind[..., None], region, back)

    return frame, dict(speed=speed, start=x0), ("east" if east else "west")


def _growing(cv, rng, t, fast):
    """A disk of the second texture whose radius grows as r(t) = r0 + rate * t."""
    back, region = _two_textures(cv, rng)
    rate = rng.uniform(0.08, 0.11) if fast else rng.uniform(0.01, 0.025)
    cx, cy, r0 = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.05, 0.08)

    def frame(sec):
        inside = (cv.x - cx) ** 2 + (cv.y - cy) ** 2 < (r0 + rate * sec) ** 2
        return np.where(inside[..., None], region, back)

    return frame, dict(rate=rate, start_radius=r0), None


def _shaking(cv, rng, t, fast):
    """A still block of the second texture; the whole image is displaced by an oscillation of ``amplitude``."""
    back, region = _two_textures(cv, rng)
    amplitude = rng.uniform(0.05, 0.075) if fast else rng.uniform(0.008, 0.016)  # fraction of the frame
    freq, phase = rng.uniform(2.5, 3.5), rng.uniform(0, 2 * np.pi, 2)
    cx, cy, half = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.12, 0.2)
    still = np.where(((np.abs(cv.x - cx) < half) & (np.abs(cv.y - cy) < half))[..., None], region, back)
    s = cv.size

    def frame(sec):
        dx = amplitude * np.sin(2 * np.pi * freq * sec + phase[0])
        dy = 0.5 * amplitude * np.sin(2 * np.pi * freq * 1.3 * sec + phase[1])
        rows = np.clip(np.arange(s) + int(round(dy * s)), 0, s - 1)
        cols = np.clip(np.arange(s) + int(round(dx * s)), 0, s - 1)
        return still[rows][:, cols]

    return frame, dict(amplitude=amplitude, frequency_hz=freq), None


def _sliding(cv, rng, t, fast):
    """A block of the second texture sliding down a diagonal from rest: s(t) = a t^2 / 2."""
    back, region = _two_textures(cv, rng)
    east = bool(rng.integers(2))
    travel = rng.uniform(0.45, 0.65) if fast else rng.uniform(0.07, 0.14)  # fraction of the diagonal in t seconds
    accel = 2 * travel / (t * t)
    half = rng.uniform(0.08, 0.12)

    def frame(sec):
        u = 0.15 + 0.5 * accel * sec ** 2
        x, y = (u if east else 1 - u), u
        return np.where(((np.abs(cv.x - x) < half) & (np.abs(cv.y - y) < half))[..., None], region, back)

    return frame, dict(acceleration=accel), ("east" if east else "west")


def _drifting(cv, rng, t, fast):
    """A small block of the second texture moving at constant speed across the frame."""
    back, region = _two_textures(cv, rng)
    east = bool(rng.integers(2))
    speed = rng.uniform(0.18, 0.25) if fast else rng.uniform(0.03, 0.06)
    x0, y0, half = rng.uniform(0.05, 0.25), rng.uniform(0.2, 0.8), rng.uniform(0.06, 0.09)

    def frame(sec):
        x = x0 + speed * sec if east else 1 - x0 - speed * sec
        return np.where(((np.abs(cv.x - x) < half) & (np.abs(cv.y - y0) < half))[..., None], region, back)

    return frame, dict(speed=speed, start_x=x0), ("east" if east else "west")


# class name -> scene(canvas, rng, duration_s, fast) -> (frame(sec) -> (S, S, 3), params, direction or None)
MOTION_SCENES = {"rising": _rising, "spreading": _spreading, "growing": _growing, "shaking": _shaking,
                 "sliding": _sliding, "drifting": _drifting}
