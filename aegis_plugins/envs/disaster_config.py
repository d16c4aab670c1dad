"""The knobs of DisasterRescueEnv: one dataclass (each knob's name, type, default and meaning written once), the
`easy` / `medium` / `hard` presets as instances of it, and the argument checks.

:func:`knob_arguments` turns the dataclass into the env constructor's typed keyword arguments, so that config
validation (``inspect.signature`` + type hints) checks every knob key by key and ``aegis plugins DisasterRescueEnv``
lists them, without a second copy of the list.
"""
from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import dataclass, fields
from typing import Literal

from aegis.errors import ConfigError, closest

__all__ = ["DisasterConfig", "PRESETS", "DIR_NAMES", "MAX_WATER_DEPTH", "knob_arguments"]

DIR_NAMES = ("north", "east", "south", "west")  # clockwise from north; headings, moves and wind index into this
MAX_WATER_DEPTH = 6  # water depths the renderer has shades for


@dataclass(frozen=True)
class DisasterConfig:
    """Every knob of a DisasterRescueEnv world and task. The defaults are the `easy` preset; docs/envs.md explains
    the dynamics each knob drives. Built through :meth:`from_preset`, or directly; the checks run either way."""

    # the map
    grid_size: int = 8  # cells per side, border walls included
    wall_density: float = 0.0  # chance that an inner cell is a wall (only the largest open region is kept)
    num_victims: int = 1
    max_steps: int = 20  # the episode is truncated after this many steps
    # what the agent sees and does
    view: Literal["global", "egocentric"] = "global"  # the whole map top-down, or a window around the agent
    view_size: int = 7  # side of the egocentric window, in cells
    action_mode: Literal["absolute", "habitat"] = "absolute"  # moves N/E/S/W, or stop/forward/turn left/turn right
    # fire
    num_fires: int = 0  # cells burning at the start
    p_spread: float = 0.0  # chance per step that a burning cell ignites each 4-neighbour
    wind: Literal["none", "north", "east", "south", "west"] = "none"  # the direction the wind blows fire toward
    wind_strength: float = 0.0  # downwind spread p * (1 + s), upwind p * (1 - s)
    burn_time: int = 6  # steps a cell burns before it turns to ash
    fire_min_distance: int = 2  # grid distance from the agent's start to every starting fire
    # flood
    num_flood_sources: int = 0
    flood_period: int = 8  # the sources rise one level every this many steps
    max_depth: int = 3  # the deepest water level
    deep_depth: int = 2  # from this depth on water halves the agent's speed and hurts victims
    victim_health: int = 20  # steps a victim survives in deep water
    # reward
    step_cost: float = 0.01  # paid every step
    rescue_reward: float = 1.0  # per victim reached
    loss_penalty: float = 0.5  # per victim lost to water or fire
    fire_penalty: float = 1.0  # for entering fire (or being reached by it), which ends the episode
    shaping: float = 0.1  # times the decrease in grid distance to the nearest waiting victim

    def __post_init__(self) -> None:
        for f in fields(self):  # int and float knobs hold Python ints and floats, whatever number type came in
            kind = _HINTS[f.name]
            if kind in (int, float):
                value = getattr(self, f.name)
                try:
                    object.__setattr__(self, f.name, kind(value))
                except (TypeError, ValueError):
                    raise self._bad(f.name, f"a number ({kind.__name__})") from None
        self._check()

    def _bad(self, name: str, expected: str) -> ConfigError:
        return ConfigError(f"DisasterRescueEnv: {name}={getattr(self, name)!r} is invalid; expected {expected}.")

    def _check(self) -> None:
        bad = self._bad
        if self.view not in ("global", "egocentric"):
            raise bad("view", "'global' or 'egocentric'")
        if self.action_mode not in ("absolute", "habitat"):
            raise bad("action_mode", "'absolute' (Discrete(4) moves) or 'habitat' (stop/move_forward/turn_left/"
                                     "turn_right)")
        if self.wind not in ("none",) + DIR_NAMES:
            raise bad("wind", f"one of {('none',) + DIR_NAMES}")
        if self.grid_size < 4 or self.grid_size > 64:
            raise bad("grid_size", "an int in [4, 64] (cells, border walls included)")
        if not 0.0 <= self.wall_density < 0.6:
            raise bad("wall_density", "a fraction in [0, 0.6)")
        if self.num_victims < 1:
            raise bad("num_victims", "at least 1")
        free = (self.grid_size - 2) ** 2
        if self.num_victims + self.num_fires + 1 > free // 2:
            raise ConfigError(f"DisasterRescueEnv: {self.num_victims} victims + {self.num_fires} fires + the agent do "
                              f"not fit in a {self.grid_size}x{self.grid_size} grid ({free} inner cells); use a larger "
                              f"grid_size or fewer victims/fires.")
        if self.max_steps < 1:
            raise bad("max_steps", "at least 1")
        if self.view_size < 3 or self.view_size % 2 == 0:
            raise bad("view_size", "an odd int >= 3")
        if not 0.0 <= self.p_spread <= 1.0:
            raise bad("p_spread", "a probability in [0, 1]")
        if not 0.0 <= self.wind_strength <= 1.0:
            raise bad("wind_strength", "a value in [0, 1]")
        if self.burn_time < 1 or self.flood_period < 1 or self.victim_health < 1:
            raise ConfigError("DisasterRescueEnv: burn_time, flood_period and victim_health must be >= 1; got "
                              f"{self.burn_time}, {self.flood_period}, {self.victim_health}.")
        if not 1 <= self.max_depth <= MAX_WATER_DEPTH:
            raise bad("max_depth", f"an int in [1, {MAX_WATER_DEPTH}]")
        if not 1 <= self.deep_depth <= self.max_depth:
            raise bad("deep_depth", f"an int in [1, max_depth={self.max_depth}]")

    @classmethod
    def from_preset(cls, preset: str = "easy", **overrides) -> DisasterConfig:
        """The preset's knobs with ``overrides`` applied (an override of None keeps the preset's value)."""
        if preset not in PRESETS:
            near = closest(preset, PRESETS)
            raise ConfigError(f"DisasterRescueEnv: preset={preset!r} is unknown; expected one of {sorted(PRESETS)}"
                              + (f". Did you mean {near[0]!r}?" if near else "."))
        unknown = sorted(set(overrides) - set(_HINTS))
        if unknown:
            near = closest(unknown[0], _HINTS)
            raise ConfigError(f"DisasterRescueEnv got unknown argument {unknown[0]!r}."
                              + (f" Did you mean {near[0]!r}?" if near else "")
                              + f"\n  Its knobs: {', '.join(_HINTS)}.")
        return dataclasses.replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})


_HINTS: dict[str, type] = {name: hint for name, hint in typing.get_type_hints(DisasterConfig).items()}

# Presets: what differs from the defaults (= `easy`). docs/envs.md tabulates all three.
PRESETS: dict[str, DisasterConfig] = {
    # One victim in a small open room, no hazards, short episodes: PPO with a small CNN learns it in minutes.
    "easy": DisasterConfig(),
    # Walls, two victims, spreading fire with wind and a slowly rising flood.
    "medium": DisasterConfig(grid_size=10, wall_density=0.12, num_victims=2, max_steps=80, num_fires=2, p_spread=0.06,
                             wind="east", wind_strength=0.5, burn_time=8, fire_min_distance=3, num_flood_sources=1,
                             victim_health=25, shaping=0.05),
    # Egocentric view and Habitat-style actions in a bigger, more hazardous map.
    "hard": DisasterConfig(grid_size=14, wall_density=0.18, num_victims=3, max_steps=200, view="egocentric",
                           action_mode="habitat", num_fires=3, p_spread=0.08, wind="south", wind_strength=0.6,
                           burn_time=10, fire_min_distance=4, num_flood_sources=2, flood_period=5, max_depth=4,
                           victim_health=25, shaping=0.0),
}


def knob_arguments(init):
    """Decorate an ``__init__(self, preset, *, ..., **knobs)``: its signature (what config validation, ``aegis
    plugins`` and the component reference read) gets every :class:`DisasterConfig` field, in field order right after
    ``preset``, as a keyword argument of the field's type or None (None: the preset's value). At call time the
    ``**knobs`` go to :meth:`DisasterConfig.from_preset`, which rejects any other name."""
    signature = inspect.signature(init)
    params = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    after = [p.name for p in params].index("preset") + 1
    knobs = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=hint | None)
             for name, hint in _HINTS.items()]
    params[after:after] = knobs
    init.__signature__ = signature.replace(parameters=params)
    init.__annotations__ = {**init.__annotations__, **{p.name: p.annotation for p in knobs}}
    return init
