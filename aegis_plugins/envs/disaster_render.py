"""Painting DisasterRescueEnv frames: each cell gets a code (floor, wall, ash, fire, water depth, victim, agent), the
palette gives each code a colour, and a precomputed pixel map scales the cell grid up to (obs_size, obs_size, 3).

Rendering is vectorised: one palette lookup plus one ``np.take`` through the pixel map per frame. The egocentric
view's rotation is folded into one pixel map per heading, so no frame is ever rotated.
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


def base_codes(walls: np.ndarray) -> np.ndarray:
    """The codes (G, G) int64 of the static map: wall or floor."""
    return np.where(walls, WALL, FLOOR).astype(np.int64)


def cell_codes(base: np.ndarray, fire_t: np.ndarray | None, ash: np.ndarray | None, depth: np.ndarray | None,
               victims: np.ndarray, waiting: np.ndarray, health: np.ndarray, full_health: int,
               agent: np.ndarray) -> np.ndarray:
    """The code of every cell (G, G) int64: the static map `base` (from :func:`base_codes`), burn steps left
    `fire_t` and `ash` (None: no fire this episode), water `depth` (None: no flood), victims (K, 2) drawn where
    `waiting` (K,) (pink at or below half of `full_health`), and the agent (2,) on top."""
    codes = base.copy()
    if fire_t is not None:
        codes[ash] = ASH
        codes[fire_t > 0] = FIRE
    if depth is not None:
        wet = depth > 0
        codes[wet] = WATER - 1 + depth[wet]
    for k in np.flatnonzero(waiting):
        codes[victims[k, 0], victims[k, 1]] = VICTIM_WEAK if health[k] * 2 <= full_health else VICTIM
    codes[agent[0], agent[1]] = AGENT
    return codes


def _pixel_map(obs_size: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For an n x n cell grid: each pixel's flat cell index (H * W,) and each cell's first / last+1 pixel (n,)."""
    pix = (np.arange(obs_size) * n) // obs_size  # (H,) cell row of each pixel row
    flat = (pix[:, None] * n + pix[None, :]).ravel()  # (H * W,)
    return flat, np.searchsorted(pix, np.arange(n), side="left"), np.searchsorted(pix, np.arange(n), side="right")


class FrameRenderer:
    """Frames (obs_size, obs_size, 3) uint8 of a grid_size x grid_size map: the observation (`view="global"`: the
    whole map; `"egocentric"`: a view_size x view_size window centred on the agent, turned so that it faces up, with
    cells outside the map drawn as wall) and the top-down frame of the whole map for ``render()``."""

    def __init__(self, obs_size: int, grid_size: int, view: str, view_size: int) -> None:
        self.obs_size, self.grid_size, self.view = obs_size, grid_size, view
        n = grid_size if view == "global" else view_size
        self._view_px = _pixel_map(obs_size, n)
        # Egocentric: one pixel map per heading that reads the unrotated window as if rotated so the heading is up.
        cell_ids = np.arange(n * n).reshape(n, n)
        self._heading_px = [(np.rot90(cell_ids, k=k).ravel()[self._view_px[0]],) + self._view_px[1:]
                            for k in range(4)]
        self._global_px = _pixel_map(obs_size, grid_size)
        self._radius = view_size // 2
        r = self._radius
        self._padded = np.full((grid_size + 2 * r, grid_size + 2 * r), WALL, dtype=np.int64)  # (G + 2r, G + 2r)

    def observation(self, codes: np.ndarray, agent: np.ndarray, heading: int) -> np.ndarray:
        """What the agent sees, from the cell codes (G, G), the agent's (row, col) and heading (0 north, clockwise)."""
        if self.view == "global":
            return self._paint(codes, self._view_px, tuple(agent), heading)
        r, g = self._radius, self.grid_size
        self._padded[r:r + g, r:r + g] = codes
        y, x = agent
        window = self._padded[y:y + 2 * r + 1, x:x + 2 * r + 1]  # (V, V), agent at the centre
        return self._paint(window, self._heading_px[heading], (r, r), 0)  # drawn rotated: heading up

    def top_down(self, codes: np.ndarray, agent: np.ndarray, heading: int) -> np.ndarray:
        """The whole map from above, whatever the observation's view."""
        return self._paint(codes, self._global_px, tuple(agent), heading)

    def _paint(self, codes: np.ndarray, pixel_map, agent: tuple[int, int], heading: int) -> np.ndarray:
        flat, cell_start, cell_end = pixel_map
        colours = PALETTE[codes.ravel()]  # (n * n, 3)
        image = np.take(colours, flat, axis=0).reshape(self.obs_size, self.obs_size, 3)  # (H, W, 3)
        y0, y1 = cell_start[agent[0]], cell_end[agent[0]]
        x0, x1 = cell_start[agent[1]], cell_end[agent[1]]
        th, tw = max(1, (y1 - y0) // 3), max(1, (x1 - x0) // 3)
        if y1 - y0 >= 3 and x1 - x0 >= 3:  # a "nose" strip on the side the agent faces
            if heading == 0:
                image[y0:y0 + th, x0:x1] = PALETTE[NOSE]
            elif heading == 1:
                image[y0:y1, x1 - tw:x1] = PALETTE[NOSE]
            elif heading == 2:
                image[y1 - th:y1, x0:x1] = PALETTE[NOSE]
            else:
                image[y0:y1, x0:x0 + tw] = PALETTE[NOSE]
        return image
