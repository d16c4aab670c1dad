"""A config value naming a checkpoint (a file or a run's work dir) -> the checkpoint file, with the config key in the
error. The resolving itself is AEGIS's one resolver, ``aegis_plugins.encoders.vjepa_checkpoint.resolve_checkpoint_path``
(a work dir means the checkpoint its ``last_checkpoint`` marker names); this only says which key was wrong and where a
relative path was looked for.

Used for the phase-1 encoder of the BLIP-2-style models (Li et al., 2023, "BLIP-2: Bootstrapping Language-Image
Pre-training with Frozen Image Encoders and Large Language Models") and for the captioner checkpoints of
``tools/infer.py``.
"""
from __future__ import annotations

import os

from aegis.errors import CheckpointError

__all__ = ["checkpoint_file"]


def checkpoint_file(path: str, key: str) -> str:
    """The checkpoint file ``path`` names (itself, or the one its work dir's ``last_checkpoint`` names).

    A :class:`CheckpointError` names ``key``, the path, and for a missing relative path the working directory it
    was resolved against.
    """
    from aegis_plugins.encoders.vjepa_checkpoint import resolve_checkpoint_path

    try:
        return resolve_checkpoint_path(path)
    except CheckpointError as exc:
        where = ""
        if not os.path.exists(path):
            where = " If it is a run's work dir, train that experiment first (make demo runs the phases in order)."
            if not os.path.isabs(path):
                where += (f" Relative paths resolve against the working directory, here {os.getcwd()}: run from "
                          "the folder that holds it or give an absolute path.")
        raise CheckpointError(f"{key}={path!r}: {exc}{where}") from None
