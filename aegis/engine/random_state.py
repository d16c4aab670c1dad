"""Every random generator training draws from, captured as plain data for checkpoints and restored on resume.

torch (CPU and every CUDA device), numpy's global ``RandomState`` and Python's ``random``. Dataloader workers need no
state of their own: each epoch's iterator draws its base seed from torch's generator (restored here), and mmengine
seeds every worker from seed, rank and worker id. States are tensors, ints and lists, so a checkpoint holding them
still loads with ``weights_only=True``; under DDP each process keeps its own (``per_rank``).
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["capture_random_states", "restore_random_states", "gather_random_states"]


def capture_random_states() -> dict[str, Any]:
    """The current state of torch, CUDA, numpy and Python's generators, as plain data."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    states = dict(
        torch=torch.get_rng_state(),
        numpy=dict(kind=kind, keys=torch.from_numpy(keys.astype(np.int64)), position=int(position),
                   has_gauss=int(has_gauss), cached_gaussian=float(cached)),
        python=dict(version=version, internal=list(internal), gauss=gauss),
    )
    if torch.cuda.is_available():
        states["cuda"] = list(torch.cuda.get_rng_state_all())
    return states


def gather_random_states(states: dict[str, Any] | None) -> list:
    """Every process's ``states``, by rank (a collective under DDP: call it on every rank; one entry otherwise)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [states]
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, states)
    return gathered


def restore_random_states(states: dict[str, Any]) -> None:
    """Put back what :func:`capture_random_states` returned (a missing part is left as it is)."""
    if "torch" in states:
        torch.set_rng_state(states["torch"].to(torch.uint8))
    if "numpy" in states:
        saved = states["numpy"]
        np.random.set_state((saved["kind"], saved["keys"].numpy().astype(np.uint32), saved["position"],
                             saved["has_gauss"], saved["cached_gaussian"]))
    if "python" in states:
        saved = states["python"]
        random.setstate((saved["version"], tuple(saved["internal"]), saved["gauss"]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
