"""Build a POLICIES agent on envs, and read one back from an AEGIS RL checkpoint (``step_<N>.pth``).

Shared by the training loop (:mod:`aegis_plugins.policies.rl_loop`) and the evaluation (:mod:`.rl_eval`), so
neither imports the other for it. Checkpoints are read with ``torch.load(weights_only=True)``; they carry the env
and policy configs and ``frame_stack``, so a checkpoint file is all it takes to rebuild the agent.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from aegis.errors import CheckpointError

__all__ = ["CHECKPOINT_KIND", "build_agent", "read_checkpoint", "load_agent", "load_sb3_agent"]

CHECKPOINT_KIND = "aegis.rl_checkpoint/1"


def build_agent(policy_cfg: Mapping, envs: VecEnv, seed: int | None, for_inference: bool = False):
    """Build the POLICIES config (e.g. ``PPOAgent``) on ``envs``, injecting env and seed; ``for_inference`` sets
    ``batch_size`` to the rollout size (minibatch sizes only matter for updates)."""
    from aegis.build import build_component
    from aegis.contracts import RLAgent

    cfg = dict(policy_cfg)
    if for_inference and "n_steps" in cfg:
        cfg["batch_size"] = int(cfg["n_steps"]) * envs.num_envs
    return build_component(cfg, RLAgent, path="policy", env=envs, seed=seed)


def read_checkpoint(path: str) -> dict:
    """An RL checkpoint read with weights_only=True; anything else is a CheckpointError naming the file.

    A checkpoint written while envs stacked frames themselves (``env.frame_stack``) is read as the same stacking
    done by VecFrameStack (``build.frame_stack``), where it now belongs, and marked ``env_stacked_frames=True``
    (its saved episodes hold the env's own frame buffers, so a resume from it starts fresh episodes).
    """
    from aegis.engine import safe_load

    try:
        checkpoint = safe_load(path)
    except CheckpointError:
        raise
    except Exception as exc:  # garbage bytes can fail deep inside the unpickler (IndexError, KeyError, ...)
        raise CheckpointError(f"Checkpoint {path!r} is truncated or corrupt: {type(exc).__name__}: {exc}") from exc
    if not isinstance(checkpoint, Mapping) or checkpoint.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(f"{path}: not an AEGIS RL checkpoint (expected a dict with kind={CHECKPOINT_KIND!r}); "
                              "pass a step_*.pth written by an RL run (runner_type='RLRunner').")
    build = checkpoint["build"]
    if "frame_stack" in build["env"]:
        env = dict(build["env"])
        build.update(env=env, frame_stack=int(env.pop("frame_stack")) * int(build["frame_stack"]))
        checkpoint["env_stacked_frames"] = True
    return checkpoint


def load_agent(path: str, n_envs: int = 1, seed: int = 0) -> tuple[Any, dict]:
    """(agent, checkpoint) from an RL checkpoint: the agent rebuilt on ``n_envs`` fresh envs (frames stacked as in
    training) from the configs stored in it, with its weights (not its optimizer or counters) loaded."""
    from .vec_env import build_vec_env

    checkpoint = read_checkpoint(path)
    build = checkpoint["build"]
    envs = build_vec_env(build["env"], n_envs, seed, "dummy", build["frame_stack"])
    agent = build_agent(build["policy"], envs, seed, for_inference=True)
    agent.load_state_dict(checkpoint["agent"], path=path, weights_only=True)
    return agent, checkpoint


def load_sb3_agent(checkpoint: str, env: gym.Env | VecEnv | None = None, seed: int = 0):
    """A plain ``stable_baselines3.PPO`` carrying the policy of an AEGIS RL checkpoint (read with weights_only=True).

    With ``env=None`` the agent gets one copy of the training env, rebuilt from the configs stored in the
    checkpoint, frames stacked ``frame_stack`` deep by VecFrameStack as in training (``agent.get_env()``). Pass your
    own ``env`` (a gymnasium Env or an SB3 VecEnv) to act elsewhere: its observations must look like the training
    ones, frames already stacked (``VecFrameStack(env, n_stack=checkpoint["build"]["frame_stack"])``). Then use it
    as any SB3 agent: ``agent.predict(obs)``, ``evaluate_policy(agent, agent.get_env())``, ``agent.learn(...)``
    (its logger is silent; ``agent.set_logger(stable_baselines3.common.logger.configure(...))`` restores output).
    A frozen encoder is loaded from the file the checkpoint references, whose SHA-256 must still match.
    """
    if env is None:
        agent, _ = load_agent(checkpoint, n_envs=1, seed=seed)
        return agent.algo
    saved = read_checkpoint(checkpoint)
    envs = env if isinstance(env, VecEnv) else DummyVecEnv([lambda: env])
    agent = build_agent(saved["build"]["policy"], envs, seed, for_inference=True)
    try:
        agent.load_state_dict(saved["agent"], path=checkpoint, weights_only=True)
    except RuntimeError as exc:  # torch's size mismatch: the env's observations differ from the training ones
        frame_stack = saved["build"]["frame_stack"]
        raise CheckpointError(
            f"{checkpoint}: the policy does not fit env's observation space {envs.observation_space}: it was trained "
            f"on {saved['build']['env'].get('type')!r} observations stacked {frame_stack} deep"
            + (f" (wrap the env in VecFrameStack(env, n_stack={frame_stack}))" if frame_stack > 1 else "")
            + f". {exc}") from exc
    return agent.algo
