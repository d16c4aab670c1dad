"""HabitatNavEnv: PointNav in a habitat-sim scene as a Gymnasium-native environment.

The task and metrics follow Habitat (Savva et al., "Habitat: A Platform for Embodied AI Research", ICCV 2019) and
SPL from Anderson et al., "On Evaluation of Embodied Navigation Agents", arXiv:1807.06757, 2018. It talks to
habitat-sim directly through :class:`HabitatSimBackend` (not habitat-lab's legacy-gym wrapper); habitat-sim is
imported only when the env is built.
"""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from aegis.errors import ConfigError

from .frame_stacking import FRAME_STACK_MOVED
from .habitat_backend import HabitatSimBackend
from .moved_arguments import rejects_moved_arguments

__all__ = ["HabitatNavEnv", "HABITAT_ACTIONS"]

HABITAT_ACTIONS = ("stop", "move_forward", "turn_left", "turn_right")
_OBS_KEYS = ("rgb", "depth", "pointgoal")


class HabitatNavEnv(gym.Env):
    """Navigate to a goal point in a 3D scene; Discrete(4) actions stop / move_forward / turn_left / turn_right.

    Observation: with `observations=("rgb",)` an (H, W, 3) uint8 image; otherwise a Dict with any of `rgb`, `depth`
    (H, W, 1) float32 metres clipped to `max_depth` and `pointgoal` (2,) float32 = (distance, angle) of the goal in
    the agent's frame (GPS + compass). One frame per step: SB3's VecFrameStack (the RL runner's `frame_stack`)
    stacks them. Reward per
    step: `slack_reward` + the decrease in geodesic distance to the goal + `success_reward` on success. The episode
    ends on `stop` (success when the geodesic distance is below `success_distance`) or after `max_steps` steps.
    `info` carries distance_to_goal, success, is_success, spl (success * d0 / max(d0, path length)) and collided.
    Start and goal are random navigable points with a path between them (geodesic distance within
    [min_goal_distance, max_goal_distance]) unless `goal` / reset(options={"start", "goal", "yaw"}) fix them.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    moved_arguments = {"frame_stack": FRAME_STACK_MOVED}

    @rejects_moved_arguments
    def __init__(
        self,
        scene: str = "data/scene_datasets/habitat-test-scenes/skokloster-castle.glb",
        resolution: tuple[int, int] = (64, 64),
        observations: tuple[str, ...] = ("rgb",),
        max_steps: int = 500,
        success_distance: float = 0.2,
        success_reward: float = 2.5,
        slack_reward: float = -0.01,
        forward_step: float = 0.25,
        turn_angle: float = 10.0,
        sensor_height: float = 1.25,
        hfov: float = 90.0,
        agent_height: float = 1.5,
        agent_radius: float = 0.1,
        max_depth: float = 10.0,
        min_goal_distance: float = 1.0,
        max_goal_distance: float = 30.0,
        goal: tuple[float, float, float] | None = None,
        gpu_device_id: int = 0,
        enable_physics: bool = False,
        scene_dataset_config_file: str = "default",
        sim_module: str = "habitat_sim",
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        observations = tuple(observations)
        bad = [o for o in observations if o not in _OBS_KEYS]
        if not observations or bad:
            raise ConfigError(f"HabitatNavEnv: observations={observations!r} has unknown keys {bad}; expected a "
                              f"non-empty subset of {_OBS_KEYS}.")
        if len(resolution) != 2 or min(resolution) < 1:
            raise ConfigError(f"HabitatNavEnv: resolution={resolution!r} must be (height, width) in pixels.")
        if max_steps < 1:
            raise ConfigError(f"HabitatNavEnv: max_steps={max_steps} is invalid; expected at least 1.")
        if not 0 <= min_goal_distance < max_goal_distance:
            raise ConfigError(f"HabitatNavEnv: need 0 <= min_goal_distance ({min_goal_distance}) < "
                              f"max_goal_distance ({max_goal_distance}).")
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"HabitatNavEnv: render_mode={render_mode!r}; expected None or 'rgb_array'.")
        self.resolution = (int(resolution[0]), int(resolution[1]))
        self.observation_keys = observations
        self.max_steps = int(max_steps)
        self.success_distance = float(success_distance)
        self.success_reward = float(success_reward)
        self.slack_reward = float(slack_reward)
        self.max_depth = float(max_depth)
        self.min_goal_distance = float(min_goal_distance)
        self.max_goal_distance = float(max_goal_distance)
        self.goal = None if goal is None else np.asarray(goal, dtype=np.float64).reshape(3)
        self.render_mode = render_mode
        self.action_names = HABITAT_ACTIONS

        h, w = self.resolution
        rgb_space = spaces.Box(0, 255, (h, w, 3), dtype=np.uint8)
        if observations == ("rgb",):
            self.observation_space = rgb_space
        else:
            parts = {"rgb": rgb_space,
                     "depth": spaces.Box(0.0, self.max_depth, (h, w, 1), dtype=np.float32),
                     "pointgoal": spaces.Box(np.array([0.0, -math.pi], dtype=np.float32),
                                             np.array([1000.0, math.pi], dtype=np.float32), dtype=np.float32)}
            self.observation_space = spaces.Dict({k: parts[k] for k in observations})
        self.action_space = spaces.Discrete(4)

        self.backend = HabitatSimBackend(
            scene=scene, resolution=self.resolution, depth="depth" in observations, sensor_height=sensor_height,
            hfov=hfov, agent_height=agent_height, agent_radius=agent_radius, forward_step=forward_step,
            turn_angle=turn_angle, gpu_device_id=gpu_device_id, enable_physics=enable_physics,
            scene_dataset_config_file=scene_dataset_config_file, sim_module=sim_module)
        self._last = None
        self._needs_reset = True

    # ---------------------------------------------------------------- episodes
    def _sample_episode(self, goal: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """A random start (and goal, unless given) with a path between them of an allowed geodesic length."""
        fixed = goal if goal is not None else self.goal
        for _ in range(200):
            start = self.backend.random_navigable_point()
            goal = fixed if fixed is not None else self.backend.random_navigable_point()
            d = self.backend.geodesic_distance(start, goal)
            if math.isfinite(d) and self.min_goal_distance <= d <= self.max_goal_distance:
                return start, goal
        raise ConfigError(f"HabitatNavEnv: found no start/goal pair with a path of geodesic length in "
                          f"[{self.min_goal_distance}, {self.max_goal_distance}] m in 200 tries; check the scene's "
                          "navmesh, `goal` and the goal-distance bounds.")

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.backend.seed(seed)
        options = options or {}
        unknown = set(options) - {"start", "goal", "yaw"}
        if unknown or ("start" in options and "goal" not in options):
            raise ConfigError(f"HabitatNavEnv.reset: options {sorted(options)} not understood; expected 'goal' "
                              "(a start is then sampled), 'start' with 'goal', and optionally 'yaw' (radians).")
        goal = np.asarray(options["goal"], dtype=np.float64).reshape(3) if "goal" in options else None
        if "start" in options:
            start = np.asarray(options["start"], dtype=np.float64).reshape(3)
        else:
            start, goal = self._sample_episode(goal)
        yaw = float(options["yaw"]) if "yaw" in options else float(self.np_random.uniform(-math.pi, math.pi))
        self._goal = goal
        self._last = self.backend.place_agent(start, yaw)
        self._start_distance = self.backend.geodesic_distance(self._last.position, goal)
        self._distance = self._start_distance
        self._path_length = 0.0
        self._steps = 0
        self._needs_reset = False
        return self._observation(), self._info(success=False, collided=False)

    def step(self, action):
        if self._needs_reset:
            raise RuntimeError("HabitatNavEnv.step() called before reset() or after the episode ended.")
        action = int(action)
        if not 0 <= action < 4:
            raise ValueError(f"HabitatNavEnv: action {action} is outside Discrete(4) {HABITAT_ACTIONS}.")
        self._steps += 1
        terminated = success = collided = False
        if action == 0:
            terminated = True
            success = self._distance < self.success_distance
        else:
            previous = self._last.position
            self._last = self.backend.act(HABITAT_ACTIONS[action])
            collided = self._last.collided
            self._path_length += float(np.linalg.norm(self._last.position - previous))
        distance = self.backend.geodesic_distance(self._last.position, self._goal)
        progress = self._distance - distance if math.isfinite(distance) and math.isfinite(self._distance) else 0.0
        self._distance = distance
        reward = self.slack_reward + progress + (self.success_reward if success else 0.0)
        truncated = not terminated and self._steps >= self.max_steps
        self._needs_reset = terminated or truncated
        return self._observation(), float(reward), terminated, truncated, self._info(success, collided)

    def render(self):
        """The current RGB frame (H, W, 3) uint8."""
        if self.render_mode is None:
            gym.logger.warn("HabitatNavEnv.render() called without render_mode; pass render_mode='rgb_array'.")
            return None
        return None if self._last is None else self._last.rgb.copy()

    def close(self) -> None:
        self.backend.close()

    # ---------------------------------------------------------------- observations
    def _pointgoal(self) -> np.ndarray:
        offset = self._goal - self._last.position
        distance = float(np.hypot(offset[0], offset[2]))
        # Agent frame: forward is -z rotated by yaw about +y; angle > 0 means the goal is to the left.
        bearing = math.atan2(-offset[0], -offset[2])
        angle = math.atan2(math.sin(bearing - self._last.yaw), math.cos(bearing - self._last.yaw))
        return np.array([min(distance, 1000.0), angle], dtype=np.float32)

    def _observation(self):
        rgb = self._last.rgb.copy()  # (H, W, 3)
        if self.observation_keys == ("rgb",):
            return rgb
        out = {}
        if "rgb" in self.observation_keys:
            out["rgb"] = rgb
        if "depth" in self.observation_keys:
            out["depth"] = np.clip(self._last.depth, 0.0, self.max_depth)[..., None].astype(np.float32)
        if "pointgoal" in self.observation_keys:
            out["pointgoal"] = self._pointgoal()
        return out

    def _info(self, success: bool, collided: bool) -> dict:
        d0 = self._start_distance
        spl = float(success) * (d0 / max(d0, self._path_length) if d0 > 0 else 1.0)
        return {"distance_to_goal": float(self._distance), "success": bool(success), "is_success": bool(success),
                "spl": float(spl), "collided": bool(collided), "steps": self._steps,
                "path_length": self._path_length, "position": self._last.position.copy(), "goal": self._goal.copy(),
                "yaw": float(self._last.yaw)}
