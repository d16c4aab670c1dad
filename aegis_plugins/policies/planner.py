"""Model-predictive control with a latent world model: the cross-entropy method over action sequences.

V-JEPA 2-AC (Assran et al., "V-JEPA 2: Self-Supervised Video Models Enable Understanding, Prediction and Planning",
2025; facebookresearch/vjepa2) plans by encoding the current observation and a goal image with the frozen encoder,
rolling the action-conditioned predictor out for sampled action sequences, and keeping the sequences whose predicted
latent lies closest (L1) to the goal's: the cross-entropy method (Rubinstein, 1999) refits the sampling
distribution on those elites a few times, the first action of the best sequence is taken, and the agent replans at
every step. Here actions are discrete, so the distribution is one categorical per step of the horizon.

The goal of the DisasterRescue env is the frame in which the agent stands on the nearest waiting victim, stacked
behind the frames just before it (as the agent's own observations are stacked), so that reaching the victim gives
the goal's latent exactly. The planner sees only observations (SB3's ``predict`` form, as ``rl_eval.run_episodes``
calls it), so it makes those frames from the newest observed one: the top-down frame is read back into cells (the
renderer's palette), the agent is walked onto the nearest victim along a shortest path, and the cells are painted
again by the env's own renderer.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from aegis.errors import CheckpointError, ConfigError

__all__ = ["LatentCEMPlanner", "load_planner", "goal_frames"]

_ENERGIES = {"final": lambda d: d[:, -1], "sum": lambda d: d.mean(dim=1), "min": lambda d: d.min(dim=1).values}
_DIRS = ((-1, 0), (0, 1), (1, 0), (0, -1))  # north, east, south, west: the env's headings and absolute moves


def _cells(frame: np.ndarray, renderer) -> np.ndarray:
    """The cell codes (G, G) of a top-down frame (H, W, 3): each cell's centre pixel, nearest palette colour."""
    from aegis_plugins.envs.disaster_render import PALETTE

    start, end = _pixel_bounds(renderer)
    centre = (start + end) // 2  # (G,) pixel row (and column) at the middle of each cell
    colours = frame[centre][:, centre].astype(np.int64)  # (G, G, 3)
    return np.abs(colours[:, :, None, :] - PALETTE[None, None].astype(np.int64)).sum(-1).argmin(-1)  # (G, G)


def _pixel_bounds(renderer) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's first and last+1 pixel (G,) for the renderer's top-down grid."""
    pix = (np.arange(renderer.obs_size) * renderer.grid_size) // renderer.obs_size  # (H,)
    cells = np.arange(renderer.grid_size)
    return np.searchsorted(pix, cells, side="left"), np.searchsorted(pix, cells, side="right")


def goal_frames(frame: np.ndarray, renderer, count: int = 1) -> np.ndarray | None:
    """The last ``count`` frames (count, H, W, 3) uint8, oldest first, of walking from where the agent is in
    ``frame`` along a shortest path (grid distance around walls) onto the nearest waiting victim: the newest shows the
    agent standing on the victim, facing the way it arrived. Frames older than the agent's position repeat it. None
    when no agent or no reachable victim is visible. ``renderer`` is the env's ``FrameRenderer`` for a global
    (top-down) view; ``frame`` is read back into cells through its palette."""
    from aegis_plugins.envs.disaster_maps import UNREACHABLE, bfs
    from aegis_plugins.envs.disaster_render import AGENT, FLOOR, VICTIM, VICTIM_WEAK, WALL

    codes = _cells(frame, renderer)  # (G, G)
    agents = np.argwhere(codes == AGENT)
    victims = np.argwhere((codes == VICTIM) | (codes == VICTIM_WEAK))
    if len(agents) != 1 or len(victims) == 0:
        return None
    free = codes != WALL
    free[0, :] = free[-1, :] = free[:, 0] = free[:, -1] = False
    agent = tuple(int(v) for v in agents[0])
    dist = bfs(free, agent)  # (G, G) steps from the agent
    far = dist[victims[:, 0], victims[:, 1]]
    if far.min() >= UNREACHABLE:
        return None
    path = [tuple(int(v) for v in victims[int(np.argmin(far))])]  # newest first: back from the victim
    headings = []
    while len(path) < count + 1 and dist[path[-1]] > 0:
        y, x = path[-1]
        _, k = min((dist[y + dy, x + dx], k) for k, (dy, dx) in enumerate(_DIRS))  # one step nearer the agent
        path.append((y + _DIRS[k][0], x + _DIRS[k][1]))
        headings.append((k + 2) % 4)  # the move from there to here faces away from it
    headings.append(headings[-1] if headings else 0)  # the oldest cell: as the move out of it
    codes[agent] = FLOOR
    frames = []
    for cell, heading in zip(path[:count], headings):
        painted = codes.copy()
        painted[cell] = AGENT
        frames.append(renderer.observation(painted, np.array(cell), heading))
    frames += [frames[-1]] * (count - len(frames))
    return np.stack(frames[::-1])  # (count, H, W, 3), oldest first


class LatentCEMPlanner:
    """Plan every action with the cross-entropy method in the latent space of an ActionConditionedPredictor.

    ``predict(observation (B, H, W, T*C) uint8, ...)`` (SB3's form; frames stacked channel-last by VecFrameStack,
    oldest first) returns actions (B,): for each observation it encodes the current stacked frames and the goal
    (:func:`goal_frames`: the last T frames of reaching the nearest victim) to latents (N, D), then for
    ``iterations`` rounds samples ``population`` action sequences of length ``horizon`` from one categorical per
    step (uniform at first), rolls the predictor out on each, scores them by the energy (the mean L1 distance
    between predicted and goal latents: at the last step, ``energy="final"`` as in V-JEPA 2-AC; averaged over the
    steps, ``"sum"``; or at the closest step, ``"min"``, for tasks that end once the goal is reached),
    and refits the categoricals on the ``elites`` lowest-energy sequences (``momentum`` of the old distribution kept).
    The first action of the lowest-energy sequence seen is returned; the next call plans again (MPC). Without a
    visible agent or victim it returns action 0. Sampling draws from torch's global generator (the evaluation seeds
    it per episode). ``plan_seconds`` holds the wall time of every planned action.

    ``env`` is the ENVS config of the env being played (a DisasterRescueEnv with the global view): its frames size
    and map size tell how to read and paint goal frames.
    """

    def __init__(self, model, env: Mapping, horizon: int = 6, population: int = 64, elites: int = 8,
                 iterations: int = 3, energy: Literal["final", "sum", "min"] = "min", momentum: float = 0.0) -> None:
        from aegis_plugins.envs.disaster_render import FrameRenderer
        from aegis_plugins.policies.vec_env import EnvFactory

        if energy not in _ENERGIES:
            raise ConfigError(f"planner.energy={energy!r}: expected 'final' (distance at the horizon), 'sum' "
                              "(averaged over the horizon's steps) or 'min' (the closest step: reaching the goal "
                              "anywhere on the way counts).")
        if not 1 <= elites <= population or horizon < 1 or iterations < 1:
            raise ConfigError(f"planner: horizon={horizon}, iterations={iterations} must be >= 1 and "
                              f"1 <= elites={elites} <= population={population}.")
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"planner.momentum={momentum}: expected 0 <= momentum < 1.")
        probe = EnvFactory(dict(env), path="planner.env", monitor=False)()
        config = getattr(probe, "config", None)
        if config is None or getattr(config, "view", None) != "global":
            raise ConfigError(f"planner.env={dict(env)}: goal frames are made for a DisasterRescueEnv with the global "
                              "(top-down) view; set view='global' (the easy and medium presets have it).")
        if probe.action_space.n != model.num_actions:
            raise ConfigError(f"planner: the env has {probe.action_space.n} actions, the world model "
                              f"{model.num_actions}; train the model on this env.")
        self.renderer = FrameRenderer(probe.obs_size, config.grid_size, "global", config.view_size)
        probe.close()
        self.model = model.eval()
        self.horizon, self.population, self.elites, self.iterations = horizon, population, elites, iterations
        self.energy, self.momentum = energy, float(momentum)
        self.plan_seconds: list[float] = []

    def goal_latent(self, frame: np.ndarray) -> torch.Tensor | None:
        """The latent (N, D) of the goal made from ``frame`` (H, W, C) uint8 (:func:`goal_frames`: the last T
        frames of reaching the nearest victim), or None without a goal in it."""
        goal = goal_frames(frame, self.renderer, self.model.frame_stack)
        if goal is None:
            return None
        return self.model.encode(torch.from_numpy(goal[None]))[0]  # (1, T, H, W, C) in

    @torch.no_grad()
    def plan(self, latent: torch.Tensor, goal: torch.Tensor) -> tuple[int, float]:
        """CEM from latent (N, D) to goal (N, D): (first action of the best sequence, its energy)."""
        probs = torch.full((self.horizon, self.model.num_actions), 1.0 / self.model.num_actions)  # (H, A)
        start = latent[None].expand(self.population, -1, -1)  # (P, N, D)
        best_energy, best = float("inf"), 0
        for _ in range(self.iterations):
            seqs = torch.multinomial(probs, self.population, replacement=True).T  # (P, H)
            pred = self.model.rollout(start, seqs)  # (P, H, N, D)
            dist = (pred - goal).abs().mean(dim=(2, 3))  # (P, H)
            energy = _ENERGIES[self.energy](dist)  # (P,)
            top = energy.topk(self.elites, largest=False).indices  # (E,)
            if float(energy[top[0]]) < best_energy:
                best_energy, best = float(energy[top[0]]), int(seqs[top[0], 0])
            freq = F.one_hot(seqs[top], self.model.num_actions).float().mean(dim=0)  # (H, A)
            probs = self.momentum * probs + (1.0 - self.momentum) * freq
        return best, best_energy

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        """Actions (B,) for stacked observations (B, H, W, T*C) uint8; ``state`` is passed through."""
        frames = np.asarray(observation)
        b, h, w, tc = frames.shape
        t = self.model.frame_stack
        channels = tc // t
        clips = frames.reshape(b, h, w, t, channels).transpose(0, 3, 1, 2, 4)  # (B, T, H, W, C)
        actions = np.zeros(b, dtype=np.int64)
        for i in range(b):
            began = time.perf_counter()
            goal = self.goal_latent(clips[i, -1])
            if goal is not None:
                latent = self.model.encode(torch.from_numpy(np.ascontiguousarray(clips[i:i + 1])))[0]  # (N, D)
                actions[i] = self.plan(latent, goal)[0]
            self.plan_seconds.append(time.perf_counter() - began)
        return actions, state


def load_planner(path: str) -> tuple[LatentCEMPlanner, dict, int]:
    """A planner from a world-model run: ``path`` is its work dir (the checkpoint its ``last_checkpoint`` names) or a
    checkpoint file. The model is rebuilt from the config stored in the checkpoint (its frozen encoder's weights come
    from the checkpoint itself), the planner from that config's ``planner`` settings. Returns ``(planner, env_cfg,
    frame_stack)``: what ``rl_eval.run_episodes`` needs to play it."""
    from mmengine.config import Config

    from aegis import plugins
    from aegis.build import build_component
    from aegis.engine.checkpoint import check_state_dict_shapes, resolve_checkpoint, safe_load
    from aegis.registry import MODELS

    plugins.load()
    checkpoint = resolve_checkpoint(path, "--planner")
    state = safe_load(checkpoint)
    text = state.get("meta", {}).get("cfg") if isinstance(state, Mapping) else None
    if not isinstance(text, str):
        raise CheckpointError(f"--planner {path!r}: checkpoint {checkpoint} stores no config (meta.cfg); expected a "
                              "checkpoint of a world-model run (experiments/rl_disaster_world_model.py).")
    cfg = Config.fromstring(text, ".py")
    for key in ("model", "env", "planner"):
        if key not in cfg:
            raise CheckpointError(f"--planner {path!r}: the run's config has no {key!r}; expected a world-model "
                                  "experiment with model=ActionConditionedPredictor, env and planner=dict(...).")
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, "to_dict") else dict(cfg.model)
    model_cfg["encoder"] = dict(model_cfg["encoder"], checkpoint=None)  # the weights are in this checkpoint
    model = build_component(model_cfg, MODELS, "model")
    if type(model).__name__ != "ActionConditionedPredictor":
        raise CheckpointError(f"--planner {path!r}: the run trained a {type(model).__name__}; expected an "
                              "ActionConditionedPredictor.")
    check_state_dict_shapes(model, state, checkpoint)
    model.load_state_dict(state["state_dict"])
    env_cfg = cfg.env.to_dict() if hasattr(cfg.env, "to_dict") else dict(cfg.env)
    planner_cfg = cfg.planner.to_dict() if hasattr(cfg.planner, "to_dict") else dict(cfg.planner)
    return LatentCEMPlanner(model, env_cfg, **planner_cfg), env_cfg, model.frame_stack
