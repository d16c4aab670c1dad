"""Flow scenes: one grey texture fills the frame, and the six classes differ only in how the whole of it moves.

A probe benchmark between the two other scene sets. On the disaster scenes (``synthetic.py``) a linear probe on raw
pixels already names the type; on the motion-only scenes (``synthetic_motion.py``) the moving region is small and
even a supervised tiny model barely learns the classes. Here every video is a single grey texture (a sum of random
gratings, one distribution for every class, so neither colour, layout nor the first frame says anything), and every
token sees the motion: the texture rises, spreads east or west, expands from a point, shakes, slides diagonally
downhill, or turns about a point, each fast or slow. Their disaster counterparts: flood, wildfire, smoke,
earthquake, landslide, and calm (a slow swirl). Select them with ``generate_dataset(..., scenes="flow")`` or
``SyntheticDisasterDataset(scenes="flow")``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["FLOW_CLASSES", "FLOW_SCENES", "FLOW_ADVERB", "flow_captions"]

FLOW_CLASSES = ("rising", "spreading", "expanding", "shaking", "sliding", "turning")

FLOW_ADVERB = {"rising": ("rapidly", "slowly"), "spreading": ("rapidly", "slowly"), "expanding": ("rapidly", "slowly"),
               "shaking": ("violently", "gently"), "sliding": ("rapidly", "slowly"), "turning": ("quickly", "slowly")}

_TEMPLATES = {
    "rising": ("The scene rising {adv}", "Everything moves {adv} up the frame"),
    "spreading": ("The scene spreading {adv} to the {dir}", "Everything moves {adv} toward the {dir}"),
    "expanding": ("The scene expanding {adv}", "Everything swells {adv} outward from one point"),
    "shaking": ("The scene shaking {adv}", "Everything trembles {adv}"),
    "sliding": ("The scene sliding {adv} down to the {dir}", "Everything moves {adv} downhill to the {dir}"),
    "turning": ("The scene turning {adv}", "Everything swirls {adv} about one point"),
}


def flow_captions(class_name: str, fast: bool, direction: str | None = None) -> list[str]:
    """The template captions of one flow video, canonical one first ("The scene rising rapidly")."""
    adv = FLOW_ADVERB[class_name][0 if fast else 1]
    return [t.format(adv=adv, dir=direction or "") for t in _TEMPLATES[class_name]]


def grey_texture(rng: np.random.Generator, gratings: int = 4, max_frequency: float = 4.0):
    """A random grey texture as a function of position: ``texture(x, y) -> (S, S)`` grey values around 0.5.

    A sum of ``gratings`` sine gratings with frequencies up to ``max_frequency`` cycles per frame width along each
    axis and random phases, scaled so its standard deviation is 0.15. Defined everywhere, so a moved texture has no
    edges.
    """
    fx, fy = rng.uniform(-max_frequency, max_frequency, (2, gratings))
    phase = rng.uniform(0, 2 * np.pi, gratings)
    scale = 0.15 / np.sqrt(gratings / 2)  # each sine has variance 1/2

    def texture(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        field = sum(np.sin(2 * np.pi * (fx[j] * x + fy[j] * y) + phase[j]) for j in range(gratings))
        return (0.5 + scale * field).astype(np.float32)

    return texture


def _speed(rng, fast: bool) -> float:
    """Translation speed in frame widths per second: fast 0.10-0.14, slow 0.025-0.04."""
    return rng.uniform(0.10, 0.14) if fast else rng.uniform(0.025, 0.04)


def _grey(texture, x, y) -> np.ndarray:
    return np.repeat(texture(x, y)[..., None], 3, axis=-1)  # (S, S, 3)


def _rising(cv, rng, t, fast):
    """The texture moves up at constant speed: frame(t)(x, y) = texture(x, y + v t)."""
    texture, v = grey_texture(rng), _speed(rng, fast)
    return (lambda sec: _grey(texture, cv.x, cv.y + v * sec)), dict(speed=v), None


def _spreading(cv, rng, t, fast):
    """The texture moves east or west at constant speed."""
    texture, v, east = grey_texture(rng), _speed(rng, fast), bool(rng.integers(2))
    sign = 1.0 if east else -1.0
    return (lambda sec: _grey(texture, cv.x - sign * v * sec, cv.y)), dict(speed=v), ("east" if east else "west")


def _expanding(cv, rng, t, fast):
    """The texture is magnified about a point (cx, cy) by 1 + 1.5 v t: everything moves outward from it."""
    texture, v = grey_texture(rng), _speed(rng, fast)
    cx, cy = rng.uniform(0.35, 0.65, 2)

    def frame(sec):
        zoom = 1.0 + 1.5 * v * sec
        return _grey(texture, cx + (cv.x - cx) / zoom, cy + (cv.y - cy) / zoom)

    return frame, dict(speed=v), None


def _shaking(cv, rng, t, fast):
    """The texture oscillates east-west, a sin(2 pi f t + phase), amplitude fast 0.05-0.07, slow 0.012-0.018."""
    texture = grey_texture(rng)
    amplitude = rng.uniform(0.05, 0.07) if fast else rng.uniform(0.012, 0.018)
    freq, phase = rng.uniform(1.2, 1.8), rng.uniform(0, 2 * np.pi)
    return ((lambda sec: _grey(texture, cv.x + amplitude * np.sin(2 * np.pi * freq * sec + phase), cv.y)),
            dict(amplitude=amplitude, frequency_hz=freq), None)


def _sliding(cv, rng, t, fast):
    """The texture moves diagonally down to the east or west at constant speed."""
    texture, v, east = grey_texture(rng), _speed(rng, fast), bool(rng.integers(2))
    sign, step = (1.0 if east else -1.0), v / np.sqrt(2)
    return ((lambda sec: _grey(texture, cv.x - sign * step * sec, cv.y - step * sec)), dict(speed=v),
            ("east" if east else "west"))


def _turning(cv, rng, t, fast):
    """The texture turns about a point at ``rate`` rad/s (fast 0.35-0.5, slow 0.08-0.12), either way."""
    texture = grey_texture(rng)
    rate = (rng.uniform(0.35, 0.5) if fast else rng.uniform(0.08, 0.12)) * (1 if rng.integers(2) else -1)
    cx, cy = rng.uniform(0.35, 0.65, 2)

    def frame(sec):
        c, s = np.cos(rate * sec), np.sin(rate * sec)
        dx, dy = cv.x - cx, cv.y - cy
        return _grey(texture, cx + c * dx + s * dy, cy - s * dx + c * dy)

    return frame, dict(rate=abs(rate)), None


# class name -> scene(canvas, rng, duration_s, fast) -> (frame(sec) -> (S, S, 3), params, direction or None)
FLOW_SCENES = {"rising": _rising, "spreading": _spreading, "expanding": _expanding, "shaking": _shaking,
               "sliding": _sliding, "turning": _turning}
