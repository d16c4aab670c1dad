"""Painting DisasterRescueEnv frames: each cell gets a code (floor, wall, ash, fire, water depth, victim, agent), the
palette gives each code a colour, and a precomputed map from pixels to cells scales the cell grid up to (obs_size,
obs_size, 3).

Rendering is vectorised and separable: the palette colours the small cell grid, one ``take`` widens each cell to its
pixel columns and one ``take`` copies whole pixel rows. The egocentric view gathers its (V, V) window of codes
already turned (one ``take`` through a precomputed index map per heading), so no frame is ever rotated.
"""
from __future__ import annotations

import numpy as np

from .disaster_config import MAX_WATER_DEPTH

__all__ = ["FrameRenderer", "base_codes", "cell_codes", "PALETTE"]

# Cell codes; the palette maps each to an RGB colour.
FLOOR, WALL, ASH, FIRE = 0, 1, 2, 3
WATER = 4  # codes 4 .. 4 + MAX_WATER_DEPTH - 1 are water depths 1 .. MAX_WATER_DEPTH
VICTIM, VICTIM_WEAK, AGENT, NOSE = 4 + MAX_WATER_DEPTH, 5 + MAX_WATER_DEPTH, 6 + MAX_WATER_DEPTH, 7 + MAX_WATER_DEPTH
PALETTE = np.array(
    [(40, 40, 40), (150, 150, 150), (70, 50, 35), (255, 90, 0)]
    + [(60, 150 - 15 * d, 230 - 15 * d) for d in range(MAX_WATER_DEPTH)]  # deeper water is darker blue
    + [(255, 230, 0), (200, 120, 200), (255, 255, 255), (0, 200, 80)],
    dtype=np.uint8,
)  # (codes, 3)
_NOSE_RGB = PALETTE[NOSE]


def base_codes(walls: np.ndarray) -> np.ndarray:
    """The codes (G, G) int64 of the static map: wall or floor."""
    return np.where(walls, WALL, FLOOR).astype(np.int64)


def cell_codes(base: np.ndarray, fire_t: np.ndarray | None, ash: np.ndarray | None, depth: np.ndarray | None,
               victims, waiting, health, full_health: int, agent) -> np.ndarray:
    """The code of every cell (G, G) int64: the static map `base` (from :func:`base_codes`), burn steps left
    `fire_t` and `ash` (None: no fire this episode), water `depth` (None: no flood), victims (K, 2) drawn where
    `waiting` (K,) (pink at or below half of `full_health`), and the agent (row, col) on top. The victims' rows,
    flags and health may be arrays or plain lists (the env passes lists: cheaper to loop over)."""
    codes = base.copy()
    if fire_t is not None:
        codes[ash] = ASH
        codes[fire_t > 0] = FIRE
    if depth is not None:
        wet = depth > 0
        codes[wet] = WATER - 1 + depth[wet]
    for (vy, vx), wait, left in zip(victims, waiting, health):
        if wait:
            codes[vy, vx] = VICTIM_WEAK if left * 2 <= full_health else VICTIM
    codes[agent[0], agent[1]] = AGENT
    return codes


class _Axis:
    """How one axis of an n x n cell grid maps onto obs_size pixels (cells may get unequal sizes, or none): the cell
    of each pixel `pix` (obs_size,), and per cell the slices of all its pixels, of its first and of its last third,
    and whether it is at least 3 pixels wide (only then it gets a nose)."""

    def __init__(self, obs_size: int, n: int) -> None:
        self.pix = (np.arange(obs_size) * n) // obs_size  # (obs_size,) cell of each pixel row (and column)
        start = np.searchsorted(self.pix, np.arange(n), side="left").tolist()
        end = np.searchsorted(self.pix, np.arange(n), side="right").tolist()
        third = [max(1, (e - s) // 3) for s, e in zip(start, end)]
        self.full = [slice(s, e) for s, e in zip(start, end)]
        self.low = [slice(s, s + t) for s, t in zip(start, third)]
        self.high = [slice(e - t, e) for e, t in zip(end, third)]
        self.big = [e - s >= 3 for s, e in zip(start, end)]


class FrameRenderer:
    """Frames (obs_size, obs_size, 3) uint8 of a grid_size x grid_size map: the observation (`view="global"`: the
    whole map; `"egocentric"`: a view_size x view_size window centred on the agent, turned so that it faces up, with
    cells outside the map drawn as wall) and the top-down frame of the whole map for ``render()``."""

    def __init__(self, obs_size: int, grid_size: int, view: str, view_size: int) -> None:
        self.obs_size, self.grid_size, self.view = obs_size, grid_size, view
        self._global_axis = _Axis(obs_size, grid_size)
        self._view_axis = self._global_axis if view == "global" else _Axis(obs_size, view_size)
        self._radius = view_size // 2
        r = self._radius
        side = grid_size + 2 * r
        self._padded = np.full((side, side), WALL, dtype=np.int64)  # (G + 2r, G + 2r): the map inside a wall frame
        # Egocentric: for each heading k, the flat index into the padded map of every cell of the window turned by
        # np.rot90(window, k), relative to the window's corner: one take yields the turned window.
        corner = np.arange(view_size)[:, None] * side + np.arange(view_size)[None, :]  # (V, V)
        self._turned = [np.ascontiguousarray(np.rot90(corner, k=k)) for k in range(4)]

    def observation(self, codes: np.ndarray, agent, heading: int) -> np.ndarray:
        """What the agent sees, from the cell codes (G, G), the agent's (row, col) and heading (0 north, clockwise)."""
        if self.view == "global":
            return self._paint(codes, self._view_axis, agent[0], agent[1], heading)
        r, g = self._radius, self.grid_size
        self._padded[r:r + g, r:r + g] = codes
        # the (V, V) window padded[y:y + V, x:x + V] (agent at the centre), turned so that the heading is up
        window = self._padded.take(agent[0] * self._padded.shape[1] + agent[1] + self._turned[heading])
        return self._paint(window, self._view_axis, r, r, 0)

    def top_down(self, codes: np.ndarray, agent, heading: int) -> np.ndarray:
        """The whole map from above, whatever the observation's view."""
        return self._paint(codes, self._global_axis, agent[0], agent[1], heading)

    def _paint(self, codes: np.ndarray, axis: _Axis, y: int, x: int, heading: int) -> np.ndarray:
        # Colour the (n, n) cells, widen every cell to its pixel columns, then copy whole pixel rows: three small
        # gathers instead of one per pixel.
        image = PALETTE[codes].take(axis.pix, axis=1).take(axis.pix, axis=0)  # (n, n, 3) -> (n, W, 3) -> (H, W, 3)
        if axis.big[y] and axis.big[x]:  # a "nose" strip on the side the agent faces
            if heading == 0:
                image[axis.low[y], axis.full[x]] = _NOSE_RGB
            elif heading == 1:
                image[axis.full[y], axis.high[x]] = _NOSE_RGB
            elif heading == 2:
                image[axis.high[y], axis.full[x]] = _NOSE_RGB
            else:
                image[axis.full[y], axis.low[x]] = _NOSE_RGB
        return image
