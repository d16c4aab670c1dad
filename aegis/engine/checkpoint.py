"""Safe checkpoint I/O: atomic writes, ``weights_only=True`` reads, and plain-data message-hub state.

mmengine 0.10.7 pickles ``HistoryBuffer`` objects and numpy values into every checkpoint, which
``torch.load(weights_only=True)`` refuses (and allowlisting them would need ``builtins.getattr``). AEGIS stores that
state as tensors, lists and numbers instead and rebuilds the buffers on load, so every checkpoint loads with
``weights_only=True`` and no risky global.
"""
from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aegis.errors import CheckpointError

__all__ = ["atomic_save", "atomic_write_bytes", "atomic_write_text", "safe_load", "to_plain", "from_plain", "file_sha256",
           "resolve_checkpoint", "load_error", "check_state_dict_shapes"]

_BUFFER_TAG = "__aegis_history_buffer__"


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder: flush, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions a plain open() would
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(text: str, path: str | os.PathLike) -> None:
    """``atomic_write_bytes`` of ``text`` encoded as UTF-8: readers see the old file or the whole new one."""
    atomic_write_bytes(text.encode("utf-8"), path)


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` ``obj`` (made plain with :func:`to_plain`) to ``path`` atomically."""
    import torch

    buffer = io.BytesIO()
    torch.save(to_plain(obj), buffer)
    atomic_write_bytes(buffer.getvalue(), path)


def safe_load(path: str | os.PathLike, map_location: Any = "cpu", rebuild: bool = True) -> Any:
    """Load a checkpoint with ``weights_only=True``; a missing, truncated or corrupt file is a CheckpointError."""
    import torch

    path = str(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"Checkpoint {path!r} does not exist.")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # garbage bytes surface as many types (EOFError, IndexError, UnpicklingError, ...)
        raise load_error(path, exc) from exc
    return from_plain(obj) if rebuild else obj


def load_error(path: str, exc: BaseException) -> CheckpointError:
    """The :class:`CheckpointError` for a ``torch.load(weights_only=True)`` failure: a refused object (a pickle that
    carries code or foreign classes; nothing of it ran) or a truncated/corrupt file, named by path."""
    text = str(exc).strip()
    # a pickle that names a global (code, a foreign class) is refused; garbage bytes fail as "Unsupported operand"
    refused = "GLOBAL" in text or "unsupported global" in text.lower()
    if refused:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported" in ln or "unsupported" in ln),
                      lines[-1] if lines else type(exc).__name__)
        detail = detail.split(" Please use")[0].replace("WeightsUnpickler error: ", "")
        return CheckpointError(
            f"Checkpoint {path!r} holds objects that weights_only=True refuses ({detail}); nothing in it "
            "was run. It was not written by AEGIS or holds more than tensors and plain containers; re-save its state "
            "dicts as plain tensors (AEGIS never loads with weights_only=False).")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    detail = next((ln for ln in lines if ln.startswith("Unsupported") or "WeightsUnpickler error:" in ln and
                   ln.split("WeightsUnpickler error:")[1].strip()), None)
    message = detail or (lines[0] if lines else type(exc).__name__)
    if "Weights only load failed" in message:  # torch's preamble says nothing about this file
        message = "not a checkpoint torch can read"
    return CheckpointError(f"Checkpoint {path!r} is truncated or corrupt: {type(exc).__name__}: {message}"[:600])


def check_state_dict_shapes(model: Any, checkpoint: Any, path: str,
                            revise_keys: Any = ((r"^module\.", ""),)) -> None:
    """Raise :class:`CheckpointError` if a tensor in ``checkpoint`` (its ``state_dict``, keys revised as mmengine's
    ``_load_checkpoint_to_model`` revises them) has another shape than the model's tensor of the same name.

    The message lists every mismatching key on its own line as ``key: checkpoint (a, b) vs model (c, d)``, so a
    checkpoint from another experiment is named, not half-loaded with a warning.
    """
    import re

    import torch

    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"Checkpoint {path!r} holds a {type(checkpoint).__name__}, expected a dict with a "
                              "state_dict.")
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise CheckpointError(f"Checkpoint {path!r}: 'state_dict' is a {type(state).__name__}, expected a dict of "
                              "tensors.")
    own = model.state_dict()
    mismatched = []
    for key, value in state.items():
        name = str(key)
        for pattern, replacement in revise_keys:
            name = re.sub(pattern, replacement, name)
        if name in own and isinstance(value, torch.Tensor) and tuple(value.shape) != tuple(own[name].shape):
            mismatched.append(f"  {name}: checkpoint {tuple(value.shape)} vs model {tuple(own[name].shape)}")
    if mismatched:
        shown = mismatched[:50] + ([f"  ... and {len(mismatched) - 50} more"] if len(mismatched) > 50 else [])
        raise CheckpointError(f"Checkpoint {path!r} does not fit the model: {len(mismatched)} tensor(s) differ in "
                              "shape (was it saved by another experiment?)\n" + "\n".join(shown))


def to_plain(obj: Any) -> Any:
    """Turn HistoryBuffers, numpy arrays and numpy scalars into tensors, lists and numbers, recursively."""
    import numpy as np
    import torch
    from mmengine.logging import HistoryBuffer

    if isinstance(obj, HistoryBuffer):
        log, count = obj.data
        return {_BUFFER_TAG: True, "log": torch.as_tensor(np.asarray(log, dtype=np.float64)),
                "count": torch.as_tensor(np.asarray(count, dtype=np.float64)), "max_length": int(obj.max_length)}
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj)) if obj.dtype != object else [to_plain(x) for x in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Mapping):
        plain = {k: to_plain(v) for k, v in obj.items()}
        return plain if type(obj) is dict else type(obj)(plain) if _keeps_type(obj) else plain
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(to_plain(v) for v in obj)
    return obj


def _keeps_type(obj: Mapping) -> bool:
    from collections import OrderedDict
    return type(obj) is OrderedDict


def from_plain(obj: Any) -> Any:
    """Rebuild the HistoryBuffers that :func:`to_plain` flattened."""
    if isinstance(obj, Mapping):
        if obj.get(_BUFFER_TAG) is True:
            from mmengine.logging import HistoryBuffer
            return HistoryBuffer(obj["log"].tolist(), obj["count"].tolist(), obj["max_length"])
        rebuilt = {k: from_plain(v) for k, v in obj.items()}
        return type(obj)(rebuilt) if _keeps_type(obj) else rebuilt
    if isinstance(obj, list):
        return [from_plain(v) for v in obj]
    return obj


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file (used to reference frozen weights instead of copying them)."""
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_checkpoint(source: str | os.PathLike, where: str = "checkpoint", *, folder_marker: str | None = None,
                       allow_hub_id: bool = False) -> str:
    """AEGIS's one resolver from what a config names to what to load.

    ``source`` may be a checkpoint file (returned as is); a run's work dir (the file its mmengine
    ``last_checkpoint`` marker names, absolute or relative to the dir); a model folder holding ``folder_marker``
    (e.g. ``config.json`` of a transformers model, returned as is); or, with ``allow_hub_id``, a hub id such as
    ``meta-llama/Llama-3.1-8B`` (returned as is; nothing is downloaded here). Anything else is a CheckpointError
    naming ``where``, the value, what was tried and — for a relative path — the working directory it resolved
    against.
    """
    from aegis.errors import relative_path_note

    text = os.path.expanduser(str(source))
    if os.path.isfile(text):
        return text
    if os.path.isdir(text):
        if folder_marker is not None and os.path.isfile(os.path.join(text, folder_marker)):
            return text
        marker = os.path.join(text, "last_checkpoint")
        if not os.path.isfile(marker):
            wanted = "a checkpoint file (e.g. <work_dir>/epoch_N.pth) or the work dir of a finished run"
            if folder_marker is not None:
                wanted += f", or a model folder with {folder_marker}"
            raise CheckpointError(f"{where}={str(source)!r} is a folder without a last_checkpoint marker"
                                  f"{f' or {folder_marker}' if folder_marker else ''}; expected {wanted}.")
        with open(marker, encoding="utf-8") as handle:
            named = handle.read().strip()
        found = next((c for c in (named, os.path.join(text, os.path.basename(named))) if c and os.path.isfile(c)),
                     None)
        if found is None:
            raise CheckpointError(f"{where}={str(source)!r}: its last_checkpoint marker names {named!r}, which does "
                                  "not exist; rerun the experiment or name a checkpoint file.")
        return found
    if allow_hub_id and text.count("/") == 1 and not text.startswith((".", "/", "~")):
        return text
    raise CheckpointError(f"{where}={str(source)!r} does not exist. If it is a run's work dir, train that experiment "
                          f"first (make demo runs the phases in order).{relative_path_note(text)}")
