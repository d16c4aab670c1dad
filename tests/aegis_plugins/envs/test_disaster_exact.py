"""DisasterRescueEnv plays bit-identical episodes across speed work (aegis_plugins/envs/disaster.py,
disaster_render.py): for a fixed seed and fixed actions, every observation (image and state vector), reward, flag,
info, ``render()`` frame and ``get_state()`` snapshot hashes to the digest recorded before the env was made faster.

The cases reach the paths a faster env takes shortcuts on: ``gymnasium.make`` with its wrappers and
``action_space.sample()``, cells of unequal pixel sizes (obs_size not a multiple of the grid), cells with no pixel at
all, egocentric views with either action mode, heavy fire and flood (many cells change per step), and exact resume
through ``get_state``/``set_state`` into a fresh env.
"""
from __future__ import annotations

import hashlib

import gymnasium
import numpy as np
import pytest

from aegis_plugins.envs.disaster import DisasterRescueEnv

STEPS = 400


def _update(digest, obs, info) -> None:
    for part in (obs["image"], obs["state"]) if isinstance(obs, dict) else (obs,):
        digest.update(repr((part.shape, part.dtype.str)).encode() + np.ascontiguousarray(part).tobytes())
    digest.update(repr(sorted((k, type(v).__name__, v) for k, v in info.items())).encode())


def _update_state(digest, state) -> None:
    """get_state() as bytes: every array's dtype, shape and content, every scalar's type and value."""
    def walk(value):
        if isinstance(value, dict):
            for key in sorted(value):
                digest.update(repr(key).encode())
                walk(value[key])
        elif isinstance(value, (list, tuple)):
            digest.update(f"{type(value).__name__}{len(value)}".encode())
            for item in value:
                walk(item)
        elif isinstance(value, np.ndarray):
            digest.update(repr((value.dtype.str, value.shape)).encode() + np.ascontiguousarray(value).tobytes())
        else:
            digest.update(repr((type(value).__name__, value)).encode())
    walk(state)


def _play(env, digest, steps: int, actions, state_every: int = 0) -> None:
    for t in range(steps):
        obs, reward, terminated, truncated, info = env.step(actions())
        _update(digest, obs, info)
        digest.update(repr((type(reward).__name__, float(reward).hex(), terminated, truncated)).encode())
        if env.render_mode is not None:
            digest.update(env.render().tobytes())
        if state_every and t % state_every == 0:
            _update_state(digest, env.unwrapped.get_state())
        if terminated or truncated:
            obs, info = env.reset()
            _update(digest, obs, info)


def rollout_digest(preset: str, made: bool = False, seed: int = 7, steps: int = STEPS, **kwargs) -> str:
    """SHA-256 prefix of a seeded rollout; `made` builds the env with gymnasium.make and samples its action space,
    otherwise actions come from a numpy generator seeded with `seed`."""
    digest = hashlib.sha256()
    if made:
        env = gymnasium.make("aegis/DisasterRescue-v0", preset=preset, **kwargs)
        env.action_space.seed(seed)
        actions = env.action_space.sample
    else:
        env = DisasterRescueEnv(preset=preset, **kwargs)
        rng = np.random.default_rng(seed)
        actions = lambda: int(rng.integers(4))  # noqa: E731
    obs, info = env.reset(seed=seed)
    _update(digest, obs, info)
    _play(env, digest, steps, actions, state_every=37)
    return digest.hexdigest()[:16]


def resume_digest(preset: str, seed: int = 5, **kwargs) -> str:
    """Play half, hand get_state() to a fresh env, play the other half there (the generator moves across too)."""
    digest = hashlib.sha256()
    rng = np.random.default_rng(seed)
    env = DisasterRescueEnv(preset=preset, **kwargs)
    obs, info = env.reset(seed=seed)
    _update(digest, obs, info)
    _play(env, digest, STEPS // 2 + 3, lambda: int(rng.integers(4)))
    state = env.get_state()
    _update_state(digest, state)
    fresh = DisasterRescueEnv(preset=preset, **kwargs)
    fresh.set_state(state)
    if not state["needs_reset"]:
        _update_state(digest, fresh.get_state())
    _play(fresh, digest, STEPS // 2, lambda: int(rng.integers(4)), state_every=29)
    return digest.hexdigest()[:16]


HAZARDS = dict(grid_size=12, num_fires=4, p_spread=0.3, num_flood_sources=3, flood_period=2, max_steps=120)

# (case id, digest function, arguments): recorded with the env of commit f9c20d4, before the speed work.
CASES = {
    "made-easy": (rollout_digest, dict(preset="easy", made=True)),
    "made-medium": (rollout_digest, dict(preset="medium", made=True)),
    "made-hard": (rollout_digest, dict(preset="hard", made=True)),
    "medium-state-33px-render": (rollout_digest, dict(preset="medium", state_obs=True, obs_size=33,
                                                      render_mode="rgb_array")),
    "hard-state-33px-render": (rollout_digest, dict(preset="hard", state_obs=True, obs_size=33,
                                                    render_mode="rgb_array")),
    "hard-cells-without-pixels": (rollout_digest, dict(preset="hard", obs_size=8, grid_size=20, view_size=9,
                                                       render_mode="rgb_array")),
    "medium-heavy-hazards": (rollout_digest, dict(preset="medium", obs_size=48, **HAZARDS)),
    "hard-egocentric-absolute": (rollout_digest, dict(preset="hard", action_mode="absolute", obs_size=40)),
    "easy-egocentric-wall-heavy": (rollout_digest, dict(preset="easy", view="egocentric", view_size=5,
                                                        wall_density=0.3, grid_size=9)),
    "medium-big-grid-1px": (rollout_digest, dict(preset="medium", grid_size=64, obs_size=64, max_steps=60)),
    "resume-medium-hazards": (resume_digest, dict(preset="medium", state_obs=True, **HAZARDS)),
    "resume-hard": (resume_digest, dict(preset="hard", state_obs=True, render_mode="rgb_array")),
    "resume-easy": (resume_digest, dict(preset="easy")),
}
GOLDEN = {
    'easy-egocentric-wall-heavy': 'cc89852ab4454fbc',
    'hard-cells-without-pixels': 'ae1100d4593ab3fa',
    'hard-egocentric-absolute': 'ad657c8f0ac26924',
    'hard-state-33px-render': '9321ac4d6d0a51be',
    'made-easy': '4b4481d57cdc6998',
    'made-hard': '2fc43c1c4604a62e',
    'made-medium': '1c394d0e86077191',
    'medium-big-grid-1px': 'dd53dd7f4daeac48',
    'medium-heavy-hazards': '7cb8e643093ff1f4',
    'medium-state-33px-render': '59f37c2493131e3c',
    'resume-easy': '3a6f5e5663a5848d',
    'resume-hard': '30cd70ef41814cb4',
    'resume-medium-hazards': '08b41221145109af',
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_seed_same_actions_same_bits_as_before_the_speed_work(case):
    fn, kwargs = CASES[case]
    assert fn(**kwargs) == GOLDEN[case]


if __name__ == "__main__":  # prints the table above, for a deliberate change of the dynamics or the frames
    for name in sorted(CASES):
        fn, kwargs = CASES[name]
        print(f"    {name!r}: {fn(**kwargs)!r},")
