"""DisasterRescueEnv: a pure-numpy grid world with spreading fire, rising flood water and victims to rescue.

The task follows the embodied-navigation conventions of Habitat (Savva et al., "Habitat: A Platform for Embodied AI
Research", ICCV 2019): a small per-step cost, a terminal success signal and SPL ("Success weighted by Path Length",
Anderson et al., "On Evaluation of Embodied Navigation Agents", arXiv:1807.06757, 2018). Fire spreads from cell to
cell with a wind-biased ignition probability in the manner of the classic cellular-automaton forest-fire models
(Drossel & Schwabl, Phys. Rev. Lett. 69, 1992). It runs anywhere (no GPU, no simulator) at well over 10,000 steps/s.

This file is the Gymnasium env: reset, step, the dynamics and exact resume. Its knobs and presets are in
:mod:`.disaster_config`, maps and the SPL tour in :mod:`.disaster_maps`, frames in :mod:`.disaster_render`.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from aegis.errors import ConfigError

from .disaster_config import DIR_NAMES, PRESETS, DisasterConfig, knob_arguments
from .disaster_maps import Layout, bfs, generate_layout, parse_layout, shortest_tour
from .disaster_render import FrameRenderer, base_codes, cell_codes
from .frame_stacking import FRAME_STACK_MOVED, frames_to_clip
from .moved_arguments import rejects_moved_arguments

# frames_to_clip is re-exported for `from aegis_plugins.envs.disaster import frames_to_clip`; it lives in
# .frame_stacking now.
__all__ = ["DisasterRescueEnv", "DisasterConfig", "PRESETS", "frames_to_clip"]

# Directions, clockwise from north: (dy, dx). Headings and absolute actions index into this, as into DIR_NAMES.
_DIRS = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)], dtype=np.int64)
_MOVES = tuple(tuple(int(v) for v in d) for d in _DIRS)  # the same as Python ints, for the per-step moves
_HABITAT_ACTIONS = ("stop", "move_forward", "turn_left", "turn_right")
_STATE_DIM = 10


class DisasterRescueEnv(gym.Env):
    """A grid world where an agent rescues victims from spreading fire and rising flood water.

    Observation: an (obs_size, obs_size, 3) uint8 RGB frame, either a top-down view of the whole map
    (`view="global"`) or a `view_size` x `view_size` window centred on the agent and rotated so that it faces up
    (`view="egocentric"`). With `state_obs=True` it is a Dict of that `image` and a (10,) float32 `state` vector.
    The env returns one frame per step; SB3's VecFrameStack (the RL runner's `frame_stack`) stacks them. Actions:
    Discrete(4) absolute moves north/east/south/west, or Habitat's stop/move_forward/turn_left/turn_right
    (`action_mode="habitat"`). Reward per step: -step_cost, +rescue_reward per victim reached, -loss_penalty per
    victim lost (drowned in deep water or caught by fire), -fire_penalty and the end of the episode when the agent
    enters fire, plus `shaping` times the decrease in grid distance to the nearest victim. `info` carries rescued,
    lost, success (every victim rescued), is_success and SPL.

    `preset` ("easy", "medium", "hard") fills every knob left at None; the knobs are the fields of
    :class:`DisasterConfig` (see PRESETS and docs/envs.md), and `env.config` holds the resolved values.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}
    moved_arguments = {"frame_stack": FRAME_STACK_MOVED}

    @rejects_moved_arguments
    @knob_arguments
    def __init__(self, preset: str = "easy", *, obs_size: int = 64, state_obs: bool = False,
                 render_mode: str | None = None, **knobs) -> None:
        super().__init__()
        cfg = DisasterConfig.from_preset(preset, **knobs)
        if obs_size < 8:
            raise ConfigError(f"DisasterRescueEnv: obs_size={obs_size!r} is invalid; expected at least 8 pixels.")
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"DisasterRescueEnv: render_mode={render_mode!r} is invalid; expected None or "
                              "'rgb_array'.")
        self.preset = preset
        self.config = cfg
        self.obs_size = int(obs_size)
        self.state_obs = bool(state_obs)
        self.render_mode = render_mode

        image_space = spaces.Box(0, 255, (self.obs_size, self.obs_size, 3), dtype=np.uint8)
        if self.state_obs:
            state_space = spaces.Box(-1.0, 1.0, (_STATE_DIM,), dtype=np.float32)
            self.observation_space = spaces.Dict({"image": image_space, "state": state_space})
        else:
            self.observation_space = image_space
        self.action_space = spaces.Discrete(4)
        self.action_names = _HABITAT_ACTIONS if cfg.action_mode == "habitat" else DIR_NAMES
        self._habitat = cfg.action_mode == "habitat"

        # Fire ignition probability per spreading direction (toward north/east/south/west), biased by the wind.
        probs = np.full(4, cfg.p_spread)
        if cfg.wind != "none":
            w = DIR_NAMES.index(cfg.wind)
            probs[w] *= 1.0 + cfg.wind_strength
            probs[(w + 2) % 4] *= 1.0 - cfg.wind_strength
        self._spread_p = np.clip(probs, 0.0, 1.0)  # (4,) toward north, east, south, west
        self._flat_dirs = _DIRS @ np.array([cfg.grid_size, 1])  # (4,) the same directions as flat index steps

        self._renderer = FrameRenderer(self.obs_size, cfg.grid_size, cfg.view, cfg.view_size)
        self._needs_reset = True
        self._walls: np.ndarray | None = None  # the episode's map; None until the first reset

    # ------------------------------------------------------------------ episode start
    def _setup(self, layout: Layout) -> None:
        """Start the episode `layout` describes: the static map, the caches, and the moving parts at their start.

        The per-step state of the agent and the few victims is plain Python (ints, tuples, lists), which a step reads
        and writes far faster than numpy scalars; the grids (fire, ash, water) stay numpy. get_state and set_state
        convert at the boundary, so the stored state is the same int64 arrays either way.
        """
        cfg, g = self.config, self.config.grid_size
        self._walls = layout.walls
        self._agent = (int(layout.agent[0]), int(layout.agent[1]))  # (row, col)
        self._heading = int(layout.heading)
        self._victims = layout.victims  # (K, 2)
        self._victim_cells = [tuple(v) for v in layout.victims.tolist()]  # K (row, col) tuples
        self._status = [0] * cfg.num_victims  # per victim: 0 waiting, 1 rescued, 2 lost
        self._health = [cfg.victim_health] * cfg.num_victims
        self._rescued = self._lost = 0  # counts of status 1 and 2
        self._fire_t = np.zeros((g, g), dtype=np.int64)  # burn steps left; > 0 is burning
        self._fire_t[layout.fires[:, 0], layout.fires[:, 1]] = cfg.burn_time
        self._ash = np.zeros((g, g), dtype=bool)
        self._depth = np.zeros((g, g), dtype=np.int64)
        self._flood_sources = tuple(layout.flood.T)  # (rows, cols) for fancy indexing
        self._has_fire = len(layout.fires) > 0
        self._has_flood = len(layout.flood) > 0
        self._base_codes = base_codes(layout.walls)
        self._start = (int(layout.agent[0]), int(layout.agent[1]))
        self._dist_fields: np.ndarray | None = None  # computed on first use (shaping, state vector, SPL)
        self._dist_rows: list[list[int]] | None = None  # the same fields as K flat lists, for per-step lookups
        self._optimal: float | None = None
        self._steps = 0
        self._path_length = 0
        self._wading = False
        self._nearest = self._nearest_distance() if cfg.shaping else 0

    @property
    def _dist(self) -> np.ndarray:
        """Grid distance fields (K, G, G) from every victim (walls are static), for shaping, state and SPL."""
        if self._dist_fields is None:
            self._dist_fields = np.stack([bfs(~self._walls, tuple(v)) for v in self._victims])  # (K, G, G)
        return self._dist_fields

    def _optimal_length(self) -> float:
        if self._optimal is None:
            pair = self._dist[:, self._victims[:, 0], self._victims[:, 1]]  # (K, K)
            first = self._dist[:, self._start[0], self._start[1]]  # (K,)
            self._optimal = shortest_tour(first, pair)
        return self._optimal

    def _distances_here(self) -> list[tuple[int, int]]:
        """(distance from the agent's cell, k) for every waiting victim k, in victim order."""
        if self._dist_rows is None:
            self._dist_rows = [field.ravel().tolist() for field in self._dist]
        here = self._agent[0] * self.config.grid_size + self._agent[1]
        return [(row[here], k) for k, (row, status) in enumerate(zip(self._dist_rows, self._status)) if status == 0]

    def _nearest_distance(self) -> int:
        distances = self._distances_here()
        return min(distances)[0] if distances else 0

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "layout" in options:
            self._setup(parse_layout(options["layout"], self.config, options.get("heading"), self.np_random))
        else:
            self._setup(generate_layout(self.config, self.np_random))
        self._needs_reset = False
        return self._observation(), self._info(collided=False, burned=False, done=False)

    def step(self, action):
        if self._needs_reset:
            raise RuntimeError("DisasterRescueEnv.step() called before reset() or after the episode ended; "
                               "call reset() first.")
        action = int(action)
        if not 0 <= action < 4:
            raise ValueError(f"DisasterRescueEnv: action {action} is outside Discrete(4) ({self.action_names}).")
        cfg = self.config
        reward = -cfg.step_cost
        terminated = collided = burned = False
        self._steps += 1

        move = True
        if self._habitat:
            move = action == 1
            if action == 0:
                terminated = True
            elif action == 2:
                self._heading = (self._heading - 1) % 4
            elif action == 3:
                self._heading = (self._heading + 1) % 4
        else:
            self._heading = action
        if move:
            y, x = self._agent
            if self._depth[y, x] >= cfg.deep_depth and not self._wading:
                self._wading = True  # deep water: a move takes two steps
            else:
                self._wading = False
                dy, dx = _MOVES[self._heading]
                ny, nx = y + dy, x + dx
                if self._walls[ny, nx]:
                    collided = True
                else:
                    self._agent = (ny, nx)
                    self._path_length += 1
                    if self._fire_t[ny, nx] > 0:
                        burned = True

        if not burned:
            reward += self._rescue()
            self._spread_fire()
            self._rise_flood()
            reward -= cfg.loss_penalty * self._update_victims()
            burned = bool(self._fire_t[self._agent] > 0)
        if burned:
            reward -= cfg.fire_penalty
            terminated = True
        if self._rescued + self._lost == len(self._status):  # no victim waiting
            terminated = True
        if cfg.shaping:
            nearest = self._nearest_distance()
            reward += cfg.shaping * (self._nearest - nearest)
            self._nearest = nearest
        truncated = not terminated and self._steps >= cfg.max_steps
        self._needs_reset = terminated or truncated
        observation = self._observation()
        return observation, float(reward), terminated, truncated, self._info(collided, burned, self._needs_reset)

    def render(self):
        """The top-down RGB frame (obs_size, obs_size, 3) uint8 of the whole map, whatever the observation view."""
        if self.render_mode is None:
            gym.logger.warn("DisasterRescueEnv.render() called without render_mode; pass render_mode='rgb_array'.")
            return None
        return self._renderer.top_down(self._codes(), self._agent, self._heading)

    # ------------------------------------------------------------------ exact resume
    def get_state(self) -> dict[str, Any]:
        """The episode in progress and the env's generator as plain data (numpy arrays, ints, bools, the bit
        generator's state dict): :meth:`set_state` on an env built with the same arguments continues it exactly.

        RL checkpoints store it so that a resumed run replays the episodes an uninterrupted one would have played.
        The observation is not stored: it is drawn from the episode.
        """
        state: dict[str, Any] = dict(np_random=self.np_random.bit_generator.state, needs_reset=bool(self._needs_reset),
                                     episode=None)
        if self._walls is not None:
            state["episode"] = dict(
                walls=self._walls.copy(), agent=np.array(self._agent, dtype=np.int64), heading=int(self._heading),
                victims=self._victims.copy(), status=np.array(self._status, dtype=np.int64),
                health=np.array(self._health, dtype=np.int64),
                fire_t=self._fire_t.copy(), ash=self._ash.copy(), depth=self._depth.copy(),
                flood_sources=np.stack(self._flood_sources).copy(),  # (2, S) rows and columns
                has_fire=bool(self._has_fire), has_flood=bool(self._has_flood), start=list(self._start),
                steps=int(self._steps), path_length=int(self._path_length), wading=bool(self._wading),
                nearest=int(self._nearest))
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`get_state` output (numpy arrays, or anything ``np.asarray`` takes)."""
        self.np_random.bit_generator.state = state["np_random"]  # the same generator object, moved to that state
        self._needs_reset = bool(state["needs_reset"])
        episode = state["episode"]
        if episode is None:
            self._walls = None
            return
        cfg = self.config
        walls = np.asarray(episode["walls"], dtype=bool)
        victims = np.asarray(episode["victims"], dtype=np.int64).reshape(-1, 2)
        if walls.shape != (cfg.grid_size, cfg.grid_size) or len(victims) != cfg.num_victims:
            raise ValueError(f"DisasterRescueEnv.set_state: a {walls.shape} map with {len(victims)} victims, but "
                             f"grid_size={cfg.grid_size} and num_victims={cfg.num_victims}: the state comes from an "
                             "env with other arguments.")
        sources = np.asarray(episode["flood_sources"], dtype=np.int64).reshape(2, -1)
        # _setup rebuilds the static parts and the caches; the moving parts are then overwritten
        start = tuple(int(v) for v in episode["start"])
        self._setup(Layout(walls, start, int(episode["heading"]), victims, np.zeros((0, 2), dtype=np.int64),
                           np.ascontiguousarray(sources.T)))
        self._agent = tuple(np.asarray(episode["agent"], dtype=np.int64).reshape(2).tolist())
        self._status = np.asarray(episode["status"], dtype=np.int64).reshape(-1).tolist()
        self._health = np.asarray(episode["health"], dtype=np.int64).reshape(-1).tolist()
        self._rescued, self._lost = self._status.count(1), self._status.count(2)
        self._fire_t = np.asarray(episode["fire_t"], dtype=np.int64).copy()
        self._ash = np.asarray(episode["ash"], dtype=bool).copy()
        self._depth = np.asarray(episode["depth"], dtype=np.int64).copy()
        self._has_fire, self._has_flood = bool(episode["has_fire"]), bool(episode["has_flood"])
        self._steps, self._path_length = int(episode["steps"]), int(episode["path_length"])
        self._wading, self._nearest = bool(episode["wading"]), int(episode["nearest"])

    # ------------------------------------------------------------------ dynamics
    def _rescue(self) -> float:
        hits = 0
        for k, cell in enumerate(self._victim_cells):
            if cell == self._agent and self._status[k] == 0:
                self._status[k] = 1
                hits += 1
        if hits:
            self._rescued += hits
            return self.config.rescue_reward * hits
        return 0.0

    def _spread_fire(self) -> None:
        if not self._has_fire:
            return
        fire_t = self._fire_t.reshape(-1)  # (G * G,) views of the grids, for flat indices
        cells = np.flatnonzero(fire_t > 0)  # (n,) burning cells, row-major as np.argwhere lists them
        if not len(cells):
            return
        ignite = None
        if self.config.p_spread > 0:
            # The neighbour in each direction (n, 4); burning cells are never on the border (it is all wall).
            targets = cells[:, None] + self._flat_dirs
            catch = self.np_random.random((len(cells), 4)) < self._spread_p  # (n, 4)
            t = targets[catch]
            ok = ~self._walls.reshape(-1)[t] & (fire_t[t] <= 0) & ~self._ash.reshape(-1)[t] & \
                (self._depth.reshape(-1)[t] == 0)
            ignite = t[ok]
        fire_t[cells] -= 1
        self._ash.reshape(-1)[cells[fire_t[cells] == 0]] = True
        if ignite is not None:
            fire_t[ignite] = self.config.burn_time

    def _rise_flood(self) -> None:
        if not self._has_flood or self._steps % self.config.flood_period:
            return
        depth = self._depth
        src = self._flood_sources
        depth[src] = np.minimum(depth[src] + 1, self.config.max_depth)
        nb = np.zeros_like(depth)
        np.maximum(nb[:-1, :], depth[1:, :], out=nb[:-1, :])
        np.maximum(nb[1:, :], depth[:-1, :], out=nb[1:, :])
        np.maximum(nb[:, :-1], depth[:, 1:], out=nb[:, :-1])
        np.maximum(nb[:, 1:], depth[:, :-1], out=nb[:, 1:])
        np.maximum(depth, nb - 1, out=depth)
        depth[self._walls] = 0
        self._fire_t[depth > 0] = 0  # water puts fire out

    def _update_victims(self) -> int:
        """Deep water costs each waiting victim 1 health; one at 0 health or on fire is lost. Returns how many."""
        lost = 0
        deep = self.config.deep_depth
        for k, cell in enumerate(self._victim_cells):
            if self._status[k] != 0:
                continue
            if self._has_flood and self._depth[cell] >= deep:
                self._health[k] -= 1
            if self._health[k] <= 0 or self._fire_t[cell] > 0:
                self._status[k] = 2
                lost += 1
        self._lost += lost
        return lost

    # ------------------------------------------------------------------ observations
    def _codes(self) -> np.ndarray:
        """The code of every cell (G, G), for the renderer."""
        return cell_codes(self._base_codes, self._fire_t if self._has_fire else None,
                          self._ash if self._has_fire else None, self._depth if self._has_flood else None,
                          self._victim_cells, [status == 0 for status in self._status], self._health,
                          self.config.victim_health, self._agent)

    def _state(self) -> np.ndarray:
        cfg = self.config
        g = cfg.grid_size - 1
        state = np.zeros(_STATE_DIM, dtype=np.float32)
        y, x = self._agent
        state[0], state[1] = y / g, x / g
        state[2 + self._heading] = 1.0
        distances = self._distances_here()  # (distance, k) per waiting victim
        if distances:
            k = min(distances)[1]  # the nearest; the first of equals, as argmin
            state[6] = (self._victim_cells[k][0] - y) / g
            state[7] = (self._victim_cells[k][1] - x) / g
        state[8] = len(distances) / cfg.num_victims
        state[9] = min(1.0, self._steps / cfg.max_steps)
        return state

    def _observation(self):
        image = self._renderer.observation(self._codes(), self._agent, self._heading)  # (obs_size, obs_size, 3)
        if self.state_obs:
            return {"image": image, "state": self._state()}
        return image

    def _info(self, collided: bool, burned: bool, done: bool) -> dict:
        rescued = self._rescued
        success = rescued == self.config.num_victims
        spl = 0.0
        if success:  # SPL = S * l / max(l, p): shortest tour length l, path actually walked p
            optimal = self._optimal_length()
            spl = optimal / max(optimal, self._path_length) if optimal > 0 else 1.0
        info = {"rescued": rescued, "lost": self._lost, "success": bool(success),
                "is_success": bool(success), "spl": float(spl), "collided": bool(collided), "burned": bool(burned),
                "steps": self._steps, "path_length": self._path_length}
        if done and success:
            info["optimal_length"] = self._optimal_length()
        return info
