"""The seven scene families of the violation-of-expectation pairs (``synthetic_voe.py``): drawing helpers and one
planner per kind.

A planner draws a scene's parameters from the rng until its constraints hold (objects stay in view, the event fits
in the clip) and returns a :class:`ScenePlan`: the parameters, the per-frame tracks of the possible and the impossible
video (equal before the divergence frame d) and ``draw(track, t)``, a pure function of the track, so equal tracks
give bit-exact equal frames. Coordinates are pixels (x east, y down; a pixel's centre at +0.5); speeds are px per
frame. Each scene is planned for an eastward motion and mirrored when it goes west.
"""
from __future__ import annotations

import colorsys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aegis.errors import ConfigError

__all__ = ["PLANNERS", "DRAW_ONLY", "ScenePlan", "SceneGeometry"]

_MAX_TRIES = 400  # rejection sampling of a scene's parameters until its constraints (stay in view, ...) hold


# ------------------------------------------------------------------------------------------------ drawing


@dataclass
class SceneGeometry:
    """Frame size S (px), clip length T (frames), the length scale ``s`` = S / 32 and the speed unit ``k`` (px
    per frame): S / 32 at 16 frames or fewer, proportionally less for longer clips so motion stays in view."""
    size: int
    frames: int

    def __post_init__(self) -> None:
        self.s = self.size / 32.0
        self.k = self.s * min(1.0, 15.0 / (self.frames - 1))
        centres = np.arange(self.size, dtype=np.float64) + 0.5
        self.py, self.px = np.meshgrid(centres, centres, indexing="ij")  # (S, S) pixel centres, x east, y down
        self.t = np.arange(self.frames, dtype=np.float64)  # (T,)


def _mix(img: np.ndarray, colour, alpha: np.ndarray) -> np.ndarray:
    """Blend ``colour`` over ``img`` (S, S, 3) with per-pixel coverage ``alpha`` (S, S) in [0, 1]."""
    a = np.clip(alpha, 0.0, 1.0)[..., None]
    return img * (1 - a) + np.asarray(colour, np.float64) * a


def _span(lo, hi, coord: np.ndarray) -> np.ndarray:
    """Coverage in [0, 1] of each 1-px cell ``[coord - 0.5, coord + 0.5]`` by the interval [lo, hi] (anti-aliasing);
    ``lo``/``hi`` may be arrays broadcasting against ``coord``."""
    return np.clip(np.minimum(coord + 0.5, hi) - np.maximum(coord - 0.5, lo), 0.0, 1.0)


def _object_alpha(geo: SceneGeometry, x: float, y: float, radius: float, shape: str) -> np.ndarray:
    """(S, S) anti-aliased coverage of a disc or a square block of half-size ``radius`` centred at (x, y)."""
    if shape == "disc":
        return np.clip(radius + 0.5 - np.hypot(geo.px - x, geo.py - y), 0.0, 1.0)
    return _span(x - radius, x + radius, geo.px) * _span(y - radius, y + radius, geo.py)


def _bright_colour(rng: np.random.Generator, avoid_hue: float | None = None) -> tuple[list[float], float]:
    """A saturated colour light enough (luma >= 0.55) to stand out on the muted background; (rgb, hue)."""
    while True:
        hue = float(rng.uniform(0.0, 1.0))
        if avoid_hue is None or min(abs(hue - avoid_hue), 1 - abs(hue - avoid_hue)) > 0.2:
            break
    rgb = np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.75, 1.0), 1.0))
    luma = float(rgb @ [0.299, 0.587, 0.114])
    if luma < 0.55:  # blue/purple: lift toward white
        rgb = rgb + (1 - rgb) * (0.55 - luma) / (1 - luma)
    return [round(float(c), 4) for c in rgb], hue


def _colour_name(hue: float) -> str:
    degrees = hue * 360
    for limit, name in ((15, "red"), (45, "orange"), (70, "yellow"), (160, "green"), (200, "cyan"), (260, "blue"),
                        (290, "purple"), (335, "pink")):
        if degrees < limit:
            return name
    return "red"


def _sky_and_ground(geo: SceneGeometry, rng: np.random.Generator, ground_y: np.ndarray | float,
                    ground_colour=None) -> np.ndarray:
    """Static background (S, S, 3) in [0, 1]: a muted sky graded gently downward, ground below ``ground_y`` (a
    number or a per-column (S,) profile, anti-aliased) with a lighter 1-px ground line."""
    sky = rng.uniform(0.12, 0.28) + rng.uniform(-0.04, 0.04, 3)
    img = sky + (geo.py / geo.size)[..., None] * rng.uniform(0.04, 0.12)  # (S, S, 3)
    if ground_colour is None:
        ground_colour = np.array([0.36, 0.29, 0.21]) + rng.uniform(-0.05, 0.05, 3)
    ground_y = np.broadcast_to(np.asarray(ground_y, np.float64), (geo.size,))[None, :]  # (1, S)
    img = _mix(img, np.minimum(np.asarray(ground_colour) * 1.45, 1.0), _span(ground_y, geo.size + 1.0, geo.py))
    return _mix(img, ground_colour, _span(ground_y + 1.0, geo.size + 1.0, geo.py))


@dataclass
class ScenePlan:
    """One scene's parameters, the tracks of its possible and impossible videos (name -> (T,) array) and
    ``draw(track, t) -> (S, S, 3)`` floats in [0, 1], a pure function of the track at frame t."""
    params: dict
    possible: dict
    impossible: dict
    draw: Callable[[dict, int], np.ndarray]


def _feasible(draw: Callable[[], ScenePlan | None], kind: str, geo: SceneGeometry, d: int) -> ScenePlan:
    """Draw a scene until its constraints hold (``draw`` returns None when they do not)."""
    for _ in range(_MAX_TRIES):
        plan = draw()
        if plan is not None:
            return plan
    raise ConfigError(f"render_voe_pair: no {kind!r} scene fits size={geo.size}, frames={geo.frames} with "
                      f"diverge_frame={d} after {_MAX_TRIES} draws; take a diverge_frame nearer frames // 2 = "
                      f"{geo.frames // 2} (at size=32, frames=16 every kind fits diverge_frame 5 to 10)")


def _in_view(geo: SceneGeometry, x: np.ndarray, radius: float, margin: float = 1.0) -> bool:
    return bool(np.all(x - radius >= margin) and np.all(x + radius <= geo.size - margin))


def _mirror(geo: SceneGeometry, east: bool, x):
    """Image x of a position computed for an eastward scene (mirror left-right when the scene goes west)."""
    return x if east else geo.size - np.asarray(x)


def _object_common(geo: SceneGeometry, rng: np.random.Generator) -> dict:
    colour, hue = _bright_colour(rng)
    return dict(radius=float(rng.uniform(3.0, 4.2) * geo.s), shape="disc" if rng.integers(2) else "block",
                colour=colour, colour_name=_colour_name(hue), hue=hue,
                ground_y=float(int(geo.size * rng.uniform(0.74, 0.84))))


def _draw_objects(geo: SceneGeometry, background: np.ndarray, objects: list[tuple[str, dict]]) -> Callable:
    """``draw(track, t)``: the background with each object ``(prefix, spec)`` at ``track[prefix + 'x'][t]``,
    ``track[prefix + 'y'][t]`` when ``track[prefix + 'visible'][t]``."""
    def draw(track: dict, t: int) -> np.ndarray:
        img = background
        for prefix, spec in objects:
            if track[prefix + "visible"][t]:
                alpha = _object_alpha(geo, track[prefix + "x"][t], track[prefix + "y"][t], spec["radius"],
                                      spec["shape"])
                img = _mix(img, spec["colour"], alpha)
        return img
    return draw


def _object_track(x, y, visible) -> dict:
    return dict(x=np.asarray(x, np.float64), y=np.asarray(y, np.float64), visible=np.asarray(visible, bool))


def _public(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k != "hue"}


# ------------------------------------------------------------------------------------------------ the seven kinds


def _permanence(geo: SceneGeometry, rng: np.random.Generator, d: int, variant: str) -> ScenePlan:
    """A rolls east/west along the ground at constant speed. vanish: A is gone from frame d. appear: B appears at
    rest on the ground behind A at frame d (the possible video never has B). Track: the subject (A, or B), plus A
    as ``other_*`` for appear."""
    def draw_once():
        a = _object_common(geo, rng)
        east = bool(rng.integers(2))
        speed = float(rng.uniform(1.0, 1.6) * geo.k)
        x0 = float(rng.uniform(a["radius"] + 1, geo.size * 0.45))
        x = x0 + speed * geo.t
        y = np.full(geo.frames, a["ground_y"] - a["radius"])
        if not _in_view(geo, x, a["radius"]):
            return None
        params = dict(variant=variant, direction="east" if east else "west", speed=speed, start_x=float(_mirror(
            geo, east, x0)), object=_public(a))
        background = _sky_and_ground(geo, rng, a["ground_y"])
        seen = np.ones(geo.frames, bool)
        if variant == "vanish":
            possible = _object_track(_mirror(geo, east, x), y, seen)
            impossible = _object_track(possible["x"], y, geo.t < d)
            return ScenePlan(params, possible, impossible, _draw_objects(geo, background, [("", a)]))
        b = _object_common(geo, rng)
        b["colour"], hue = _bright_colour(rng, avoid_hue=a["hue"])
        b["colour_name"] = _colour_name(hue)
        hi = x[d] - a["radius"] - b["radius"] - 2  # behind A at frame d; A rolls away from it afterwards
        if hi < b["radius"] + 1:
            return None
        xb = float(rng.uniform(b["radius"] + 1, hi))
        xb_img = float(_mirror(geo, east, xb))
        yb = np.full(geo.frames, a["ground_y"] - b["radius"])
        other = dict(other_x=_mirror(geo, east, x), other_y=y, other_visible=seen)
        possible = dict(_object_track(np.full(geo.frames, xb_img), yb, np.zeros(geo.frames, bool)), **other)
        impossible = dict(_object_track(possible["x"], yb, geo.t >= d), **other)
        b["ground_y"] = a["ground_y"]
        params.update(appearing_object=_public(b), appear_x=xb_img)
        return ScenePlan(params, possible, impossible, _draw_objects(geo, background, [("other_", a), ("", b)]))
    return _feasible(draw_once, "permanence", geo, d)


def _rolling_plan(geo: SceneGeometry, rng: np.random.Generator, obj: dict, east: bool, x_possible: np.ndarray,
                  x_impossible: np.ndarray, params: dict) -> ScenePlan:
    """The plan of one object rolling on the ground, always visible: its possible and impossible x tracks (in the
    eastward frame, mirrored when it goes west) on the sky-and-ground background drawn from ``rng``."""
    y = np.full(geo.frames, obj["ground_y"] - obj["radius"])
    seen = np.ones(geo.frames, bool)
    background = _sky_and_ground(geo, rng, obj["ground_y"])
    return ScenePlan(params, _object_track(_mirror(geo, east, x_possible), y, seen),
                     _object_track(_mirror(geo, east, x_impossible), y, seen),
                     _draw_objects(geo, background, [("", obj)]))


def _continuity(geo: SceneGeometry, rng: np.random.Generator, d: int, variant: str) -> ScenePlan:
    """An object rolls at constant velocity; in the impossible video it is 11-15 px further back from frame d on
    (it teleports, then rolls on at the same speed)."""
    def draw_once():
        a = _object_common(geo, rng)
        east = bool(rng.integers(2))
        speed = float(rng.uniform(1.0, 1.6) * geo.k)
        jump = float(rng.uniform(11.0, 15.0) * geo.s)
        x0 = float(rng.uniform(a["radius"] + 1, geo.size / 2))
        x = x0 + speed * geo.t
        jumped = np.where(geo.t >= d, x - jump, x)
        if not (_in_view(geo, x, a["radius"]) and _in_view(geo, jumped, a["radius"])):
            return None
        params = dict(variant=variant, direction="east" if east else "west", speed=speed, jump_px=jump,
                      start_x=float(_mirror(geo, east, x0)), object=_public(a))
        return _rolling_plan(geo, rng, a, east, x, jumped, params)
    return _feasible(draw_once, "continuity", geo, d)


def _gravity(geo: SceneGeometry, rng: np.random.Generator, d: int, variant: str) -> ScenePlan:
    """An unsupported object falls, y(t) = y0 + vy0 t + g t^2 / 2, drifting sideways at vx, and lands (stops) on
    the ground at t_land > d + 2. Impossible from frame d: it stays at its height of frame d - 1 (hover) or rises
    at a constant speed (rise), drifting on sideways."""
    def draw_once():
        a = _object_common(geo, rng)
        rest_y = a["ground_y"] - a["radius"]
        y0 = a["radius"] + rng.uniform(1.0, 4.0) * geo.s
        vy0 = float(rng.uniform(0.2, 0.7) * geo.k)
        t_land = float(rng.uniform(d + 2.5, geo.frames + 3))
        g = 2 * (rest_y - y0 - vy0 * t_land) / t_land ** 2
        vx = float(rng.uniform(-0.8, 0.8) * geo.k)
        x0 = float(rng.uniform(a["radius"] + 1, geo.size - a["radius"] - 1))
        if g <= 0 or vy0 + g * d < 0.9 * geo.k:
            return None
        fall = np.minimum(y0 + vy0 * geo.t + 0.5 * g * geo.t ** 2, rest_y)
        x_fall = x0 + vx * np.minimum(geo.t, t_land)  # it stops where it lands
        x_free = x0 + vx * geo.t
        after = geo.t >= d
        rise_speed = float(rng.uniform(0.6, 1.0) * geo.k)
        if variant == "hover":
            y_imp = np.where(after, fall[d - 1], fall)
        else:
            y_imp = np.where(after, fall[d - 1] - rise_speed * (geo.t - d + 1), fall)
        if not (_in_view(geo, x_free, a["radius"]) and y_imp.min() - a["radius"] >= 1):
            return None
        seen = np.ones(geo.frames, bool)
        params = dict(variant=variant, gravity=float(g), start_x=x0, start_y=float(y0), vx=vx, vy0=vy0,
                      land_time=t_land, lands_in_clip=bool(t_land <= geo.frames - 1), object=_public(a))
        if variant == "rise":
            params["rise_speed"] = rise_speed
        background = _sky_and_ground(geo, rng, a["ground_y"])
        return ScenePlan(params, _object_track(x_fall, fall, seen),
                         _object_track(np.where(after, x_free, x_fall), y_imp, seen),
                         _draw_objects(geo, background, [("", a)]))
    return _feasible(draw_once, "gravity", geo, d)


def _solidity(geo: SceneGeometry, rng: np.random.Generator, d: int, variant: str) -> ScenePlan:
    """An object rolls into a wall (a grey block standing on the ground), touching it at t_contact in (d - 1, d).
    Possible: it bounces back with restitution e. Impossible: it rolls on through the wall (drawn over it) and its
    centre ends past the wall's far face."""
    def draw_once():
        a = _object_common(geo, rng)
        east = bool(rng.integers(2))
        speed = float(rng.uniform(1.1, 1.8) * geo.k)
        thickness = float(rng.uniform(3.0, 5.0) * geo.s)
        top = float(rng.uniform(0.25, 0.5) * geo.size)
        restitution = float(rng.uniform(0.6, 0.95))
        t_contact = d - float(rng.uniform(0.25, 0.75))
        x0 = float(rng.uniform(a["radius"] + 1, a["radius"] + 1 + 4 * geo.s))
        face = x0 + speed * t_contact + a["radius"]
        through = x0 + speed * geo.t
        bounce = np.where(geo.t <= t_contact, through,
                          face - a["radius"] - restitution * speed * (geo.t - t_contact))
        if not (_in_view(geo, through, a["radius"]) and _in_view(geo, bounce, a["radius"])
                and through[-1] >= face + thickness + 1):
            return None
        y = np.full(geo.frames, a["ground_y"] - a["radius"])
        seen = np.ones(geo.frames, bool)
        wall_lo, wall_hi = sorted(float(v) for v in _mirror(geo, east, np.array([face, face + thickness])))
        params = dict(variant=variant, direction="east" if east else "west", speed=speed, restitution=restitution,
                      contact_time=t_contact, wall_x=[wall_lo, wall_hi], wall_top=top,
                      start_x=float(_mirror(geo, east, x0)), object=_public(a))
        background = _sky_and_ground(geo, rng, a["ground_y"])
        wall_colour = np.full(3, rng.uniform(0.55, 0.68)) + rng.uniform(-0.04, 0.04, 3)
        wall = _span(wall_lo, wall_hi, geo.px) * _span(top, a["ground_y"], geo.py)
        background = _mix(background, wall_colour, wall)
        background = _mix(background, wall_colour * 0.7, wall * _span(top, top + 1, geo.py))  # a darker top edge
        return ScenePlan(params, _object_track(_mirror(geo, east, bounce), y, seen),
                         _object_track(_mirror(geo, east, through), y, seen),
                         _draw_objects(geo, background, [("", a)]))
    return _feasible(draw_once, "solidity", geo, d)


def _inertia(geo: SceneGeometry, rng: np.random.Generator, d: int, variant: str) -> ScenePlan:
    """An object slides along the ground at constant velocity, nothing else in the scene. Impossible from
    t_change in (d - 1, d), at least 4 px from the frame's edges: it stops, turns back (0.7-1.0 of its speed) or
    speeds up 1.8-2.2x (from a slower 0.8-1 px/frame, so it stays in view)."""
    def draw_once():
        a = _object_common(geo, rng)
        east = bool(rng.integers(2))
        speed = float((rng.uniform(0.8, 1.0) if variant == "speed_up" else rng.uniform(1.0, 1.6)) * geo.k)
        factor = {"stop": 0.0, "reverse": -float(rng.uniform(0.7, 1.0)),
                  "speed_up": float(rng.uniform(1.8, 2.2))}[variant]
        t_change = d - float(rng.uniform(0.25, 0.75))
        x0 = float(rng.uniform(a["radius"] + 1, geo.size / 2))
        x = x0 + speed * geo.t
        x_change = x0 + speed * t_change
        changed = np.where(geo.t <= t_change, x, x_change + factor * speed * (geo.t - t_change))
        if not (_in_view(geo, x, a["radius"]) and _in_view(geo, changed, a["radius"])
                and 4 <= x_change - a["radius"] and x_change + a["radius"] <= geo.size - 4):
            return None
        params = dict(variant=variant, direction="east" if east else "west", speed=speed,
                      speed_after=factor * speed, change_time=t_change, start_x=float(_mirror(geo, east, x0)),
                      object=_public(a))
        return _rolling_plan(geo, rng, a, east, x, changed, params)
    return _feasible(draw_once, "inertia", geo, d)


def _water_uphill(geo: SceneGeometry, rng: np.random.Generator, d: int, variant: str) -> ScenePlan:
    """Water (a bright blue layer of thickness h) enters at the high edge and runs downhill, its front at
    x_f(t) = x_s + v t. slope: one slope down to the far edge; impossible: from t_r in (d - 1, d) the front runs
    back up the slope. valley: the front reaches the valley's bottom at t_b in (d - 1, d); possible: a pool fills
    it with a level surface, depth D = sqrt(2 v h (t - t_b) / (1/m_near + 1/m_far)); impossible: the stream climbs
    the far slope. Track: ``front_x`` (the wet edge farthest from the source), ``front_y`` (the ground's height
    there, y down) and ``bottom_surface_y`` (valley: the water surface over the bottom, None while dry)."""
    def draw_once():
        east = bool(rng.integers(2))
        h = float(rng.uniform(2.5, 3.5) * geo.s)
        speed = float(rng.uniform(1.0, 1.5) * geo.k)
        x_start = float(rng.uniform(1.0, 4.0) * geo.s)
        high = float(rng.uniform(0.3, 0.45) * geo.size)
        xs = np.arange(geo.size, dtype=np.float64) + 0.5  # column centres, east coordinates
        front = x_start + speed * geo.t
        if variant == "slope":
            low = float(rng.uniform(0.8, 0.92) * geo.size)
            slope = (low - high) / geo.size

            def ground(x):
                return high + slope * np.asarray(x)

            t_turn = d - float(rng.uniform(0.25, 0.75))
            turn_x = x_start + speed * t_turn
            # back at 0.8-1.0 of its speed, slower when needed to stay off the source's edge (>= 0.5 px/frame)
            back_speed = min(float(rng.uniform(0.8, 1.0) * speed), (turn_x - 3 * geo.s) / (geo.frames - 1 - t_turn))
            turned = np.where(geo.t <= t_turn, front, turn_x - back_speed * (geo.t - t_turn))
            if front[-1] > geo.size - 1 or back_speed < 0.5 * geo.k:
                return None
            params = dict(slope=float(slope), high_y=high, low_y=low, back_speed=back_speed, turn_time=t_turn)
            none = [None] * geo.frames
            possible = dict(front_x=front, front_y=ground(front), bottom_surface_y=none, wet_to=front, pool_y=none)
            impossible = dict(front_x=turned, front_y=ground(turned), bottom_surface_y=none, wet_to=turned,
                              pool_y=none)
        else:
            bottom = float(rng.uniform(0.85, 0.92) * geo.size)
            far_high = float(rng.uniform(0.35, 0.55) * geo.size)
            t_bottom = d - float(rng.uniform(0.25, 0.75))
            x_bottom = x_start + speed * t_bottom
            if not 0.3 * geo.size <= x_bottom <= 0.6 * geo.size:
                return None
            near, far = (bottom - high) / x_bottom, (bottom - far_high) / (geo.size - x_bottom)

            def ground(x):
                x = np.asarray(x, np.float64)
                return np.where(x <= x_bottom, high + near * x, bottom - far * (x - x_bottom))

            depth = np.sqrt(2 * speed * h * np.maximum(geo.t - t_bottom, 0) / (1 / near + 1 / far))
            level = bottom - depth
            pool_edge = x_bottom + depth / far
            reached = geo.t >= t_bottom
            climb_y = ground(front)
            if front[-1] > geo.size - 1 or climb_y[-1] > bottom - h - 3 * geo.s:
                return None
            params = dict(bottom_x=float(_mirror(geo, east, x_bottom)), bottom_y=bottom, high_y=high,
                          far_high_y=far_high, near_slope=float(near), far_slope=float(far), bottom_time=t_bottom)
            pool = [float(v) if r else None for r, v in zip(reached, level)]
            wet_front = np.where(reached, pool_edge, front)
            possible = dict(front_x=wet_front, front_y=ground(wet_front), bottom_surface_y=pool,
                            wet_to=np.minimum(front, x_bottom), pool_y=pool)
            impossible = dict(front_x=front, front_y=climb_y, bottom_surface_y=[bottom - h if r else None
                                                                                for r in reached],
                              wet_to=front, pool_y=[None] * geo.frames)
        if not east:
            for tr in (possible, impossible):
                tr["front_x"] = _mirror(geo, east, tr["front_x"])
        params.update(variant=variant, direction="east" if east else "west", thickness=h, speed=speed,
                      start_x=float(_mirror(geo, east, x_start)))
        ground_cols = ground(xs)  # (S,) east coordinates
        water = np.array([rng.uniform(0.1, 0.2), rng.uniform(0.42, 0.55), rng.uniform(0.88, 1.0)])
        params["water_colour"] = [round(float(c), 4) for c in water]
        background = _sky_and_ground(geo, rng, ground_cols if east else ground_cols[::-1])
        px_east = geo.px if east else geo.size - geo.px

        g = ground(px_east)  # (S, S) ground y under each pixel

        def draw(tr: dict, t: int) -> np.ndarray:
            wet_to, pool = tr["wet_to"][t], tr["pool_y"][t]  # the stream runs from the source (x = 0) to wet_to
            top = np.where(px_east <= wet_to + 0.5, g - h, np.inf)  # (S, S) the water's top above each pixel
            cover = _span(0.0, wet_to, px_east)  # the stream's wet columns, anti-aliased at the front
            if pool is not None:
                in_pool = g > pool
                cover = np.maximum(cover, in_pool.astype(np.float64))
                top = np.where(in_pool, np.minimum(top, pool), top)
            return _mix(background, water, cover * _span(top, g, geo.py))

        return ScenePlan(params, possible, impossible, draw)
    return _feasible(draw_once, "water_uphill", geo, d)


def _fire_backwards(geo: SceneGeometry, rng: np.random.Generator, d: int, variant: str) -> ScenePlan:
    """A fire front (a band of flames w px wide) advances over vegetation at constant speed, x_f(t) = x0 + v t,
    leaving black burnt ground behind. Impossible from frame d: jump_back: the flames jump 10-14 px back onto the
    burnt ground and advance there (nothing left to burn); rewind: the front retreats and the vegetation regrows
    (the burnt region shrinks). Track: ``front_x`` (the flames' leading edge), ``burnt_x`` (the edge of the black
    burnt ground) and ``burnt_width`` (its extent in px)."""
    def draw_once():
        east = bool(rng.integers(2))
        speed = float(rng.uniform(1.0, 1.5) * geo.k)
        width = float(rng.uniform(3.0, 4.5) * geo.s)
        x0 = float(rng.uniform(width + 1, geo.size / 2))
        front = x0 + speed * geo.t
        after = geo.t >= d
        if variant == "jump_back":
            jump = float(rng.uniform(10.0, 14.0) * geo.s)
            flames = np.where(after, front - jump, front)
            burnt = np.where(after, front[d - 1], front - width)
            extra = dict(jump_px=jump)
            ok = flames[d] - width >= 1 and flames[-1] < front[d - 1]
        else:
            t_turn = d - float(rng.uniform(0.25, 0.75))
            back_speed = float(rng.uniform(0.8, 1.0) * speed)
            flames = np.where(geo.t <= t_turn, front, x0 + speed * t_turn - back_speed * (geo.t - t_turn))
            burnt = flames - width
            extra = dict(back_speed=back_speed, turn_time=t_turn)
            ok = burnt[-1] >= 1
        if not ok or front[-1] > geo.size - 1:
            return None
        horizon = float(rng.uniform(0.35, 0.5) * geo.size)
        vegetation = np.array([rng.uniform(0.15, 0.25), rng.uniform(0.45, 0.6), rng.uniform(0.12, 0.22)])
        burnt_colour = np.full(3, rng.uniform(0.06, 0.11))
        flame_height = float(rng.uniform(3.0, 6.0) * geo.s)
        phase = rng.uniform(0, 2 * np.pi, geo.size)  # flicker of the flames' tops, per column
        params = dict(variant=variant, direction="east" if east else "west", speed=speed, band_width=width,
                      horizon_y=horizon, start_x=float(_mirror(geo, east, x0)), flame_height=flame_height, **extra)
        background = _sky_and_ground(geo, rng, horizon, ground_colour=vegetation)
        px_east = geo.px if east else geo.size - geo.px

        def draw(tr: dict, t: int) -> np.ndarray:
            f, b = tr["east_front"][t], tr["east_burnt"][t]
            img = _mix(background, burnt_colour, _span(-1.0, b, px_east) * _span(horizon, geo.size + 1, geo.py))
            tops = horizon - flame_height * (0.75 + 0.25 * np.sin(phase + 2.1 * t))  # (S,) per image column
            band = _span(f - width, f, px_east) * _span(tops[None, :], geo.size + 1, geo.py)
            heat = np.clip((px_east - (f - width)) / width, 0, 1)[..., None]  # 0 trailing, 1 leading edge
            colour = np.array([0.95, 0.28, 0.04]) * (1 - heat) + np.array([1.0, 0.85, 0.25]) * heat
            a = band[..., None]
            return img * (1 - a) + colour * a

        def tr_of(fl, bu):
            return dict(front_x=_mirror(geo, east, fl), burnt_x=_mirror(geo, east, bu), burnt_width=bu,
                        east_front=fl, east_burnt=bu)
        return ScenePlan(params, tr_of(front, front - width), tr_of(flames, burnt), draw)
    return _feasible(draw_once, "fire_backwards", geo, d)


PLANNERS = {"permanence": _permanence, "continuity": _continuity, "gravity": _gravity, "solidity": _solidity,
             "inertia": _inertia, "water_uphill": _water_uphill, "fire_backwards": _fire_backwards}
# track entries only the drawing reads; they are left out of the public track
DRAW_ONLY = ("wet_to", "pool_y", "east_front", "east_burnt")
