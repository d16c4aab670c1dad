"""Load V-JEPA checkpoints into :class:`VJEPAEncoder` with an explicit key mapping.

Bardes et al., V-JEPA, 2024; release format of facebookresearch/jepa (``app/vjepa/train.py`` saves a dict with
``encoder``, ``predictor``, ``target_encoder``, ``opt``, ``scaler``, ``epoch``, ...). The encoders are wrapped in
DistributedDataParallel and ``MultiMaskWrapper``, so their keys read ``module.backbone.blocks.0.attn.qkv.weight``.
Also accepted: AEGIS/mmengine training checkpoints (``state_dict`` with ``<checkpoint_key>.`` prefixed keys) and a
plain encoder state dict (``checkpoint_key=None``).
"""
from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from aegis.engine.checkpoint import load_error, resolve_checkpoint
from aegis.errors import CheckpointError, closest

from .pos_embed import sincos_3d

__all__ = ["load_vjepa_checkpoint", "map_official_key", "strip_wrappers", "read_checkpoint",
           "LoadReport", "OFFICIAL_KEY_PATTERNS"]

# Official parameter name -> VJEPAEncoder parameter name. The names coincide by design; the table is the contract:
# anything matching none of these patterns is an unexpected key.
OFFICIAL_KEY_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"patch_embed\.proj\.(weight|bias)", r"patch_embed.proj.\1"),  # Conv3d (D, C, tubelet, patch, patch)
    (r"pos_embed", r"pos_embed"),  # fixed sincos table (1, N, D)
    (r"blocks\.(\d+)\.norm([12])\.(weight|bias)", r"blocks.\1.norm\2.\3"),  # LayerNorm eps 1e-6
    (r"blocks\.(\d+)\.attn\.qkv\.(weight|bias)", r"blocks.\1.attn.qkv.\2"),  # fused (3D, D), q | k | v rows
    (r"blocks\.(\d+)\.attn\.proj\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
    (r"blocks\.(\d+)\.mlp\.fc([12])\.(weight|bias)", r"blocks.\1.mlp.fc\2.\3"),
    (r"norm\.(weight|bias)", r"norm.\1"),  # final LayerNorm
)
_WRAPPER_PREFIXES = ("module.", "backbone.")


@dataclass
class LoadReport:
    """What a load did: source key -> encoder key for every consumed tensor, and the keys left at their init."""

    mapping: dict[str, str] = field(default_factory=dict)
    kept_own: list[str] = field(default_factory=list)


def map_official_key(name: str) -> str | None:
    """The VJEPAEncoder name of an official ViT parameter name (wrappers already stripped), or None."""
    for pattern, target in OFFICIAL_KEY_PATTERNS:
        match = re.fullmatch(pattern, name)
        if match:
            return match.expand(target)
    return None


def strip_wrappers(name: str) -> str:
    """Drop leading ``module.`` (DDP) and ``backbone.`` (MultiMaskWrapper) prefixes, in any order."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if name.startswith(prefix):
                name, stripped = name[len(prefix):], True
    return name


def read_checkpoint(path: str | os.PathLike) -> object:
    """``torch.load(path, weights_only=True)`` on CPU; numpy scalars (official checkpoints log losses as such) are
    allowed, nothing else beyond tensors and plain containers. Bad files raise CheckpointError naming the path."""
    import numpy as np

    path = resolve_checkpoint(path)
    numpy_scalars = [np.dtype, type(np.dtype("float64")), type(np.dtype("float32")), type(np.dtype("int64"))]
    try:
        numpy_scalars.append(np._core.multiarray.scalar)
    except AttributeError:  # numpy < 2
        numpy_scalars.append(np.core.multiarray.scalar)
    try:
        with torch.serialization.safe_globals(numpy_scalars):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # garbage bytes surface as many types (EOFError, IndexError, UnpicklingError, ...)
        raise load_error(path, exc) from exc


def _select_state_dict(obj: object, key: str | None, path: str) -> dict[str, torch.Tensor]:
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"Checkpoint {path!r} holds a {type(obj).__name__}, expected a dict of state dicts.")
    if key is None:
        state = obj.get("state_dict", obj)
    elif key in obj and isinstance(obj[key], Mapping):
        state = obj[key]
    elif isinstance(obj.get("state_dict"), Mapping) and any(k.startswith(f"{key}.") for k in obj["state_dict"]):
        prefix = f"{key}."  # an AEGIS/mmengine training checkpoint of a model holding the encoder as `key`
        state = {k[len(prefix):]: v for k, v in obj["state_dict"].items() if k.startswith(prefix)}
    else:
        choices = [k for k, v in obj.items() if isinstance(v, Mapping)]
        if isinstance(obj.get("state_dict"), Mapping):
            choices += sorted({k.split(".")[0] for k in obj["state_dict"] if "." in k})
        near = closest(key, choices)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise CheckpointError(f"Checkpoint {path!r} has no state dict {key!r} (checkpoint_key).{hint} "
                              f"It holds: {', '.join(map(repr, choices)) or 'no state dicts'}; use "
                              "checkpoint_key='target_encoder' (EMA weights) or 'encoder' (context weights), or "
                              "None for a plain state dict.")
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"Checkpoint {path!r}: state dict {key!r} holds no tensors.")
    return tensors


def load_vjepa_checkpoint(encoder: torch.nn.Module, path: str | os.PathLike,
                          checkpoint_key: str | None = "target_encoder") -> LoadReport:
    """Copy the weights of ``checkpoint_key`` in ``path`` into ``encoder`` (a VJEPAEncoder); returns a LoadReport.

    Every source tensor must map to an encoder tensor of the same shape and every encoder tensor must be covered,
    except ``pos_embed``: it is a fixed sine-cosine table, so when it is absent or sized for another clip shape the
    encoder keeps its own (as the official evaluation code does).
    """
    path = resolve_checkpoint(path)
    state = _select_state_dict(read_checkpoint(path), checkpoint_key, path)
    own = encoder.state_dict()
    report = LoadReport()
    mapped: dict[str, torch.Tensor] = {}
    unexpected, mismatched = [], []
    for source_key, tensor in state.items():
        target = map_official_key(strip_wrappers(source_key))
        if target is None or target not in own:
            unexpected.append(source_key)
            continue
        if target == "pos_embed" and tensor.shape != own[target].shape:
            warnings.warn(f"{path}: {source_key} has shape {tuple(tensor.shape)}, the encoder's grid needs "
                          f"{tuple(own[target].shape)}; keeping the encoder's own sine-cosine table.", stacklevel=3)
            report.mapping[source_key] = target
            continue
        if tensor.shape != own[target].shape:
            mismatched.append(f"{source_key} -> {target}: checkpoint {tuple(tensor.shape)} vs encoder "
                              f"{tuple(own[target].shape)}")
            continue
        mapped[target] = tensor
        report.mapping[source_key] = target
    missing = [k for k in own if k not in mapped and k != "pos_embed"]
    if unexpected or missing or mismatched:
        raise CheckpointError(_mismatch_message(path, checkpoint_key, encoder, state, unexpected, missing, mismatched))
    if "pos_embed" not in mapped:
        report.kept_own.append("pos_embed")
    else:
        _warn_if_other_table(encoder, mapped["pos_embed"], path)
    encoder.load_state_dict({**own, **mapped}, strict=True)
    return report


def _warn_if_other_table(encoder, table: torch.Tensor, path: str) -> None:
    ours = sincos_3d(encoder.embed_dim, encoder.grid_size, encoder.uniform_power)
    if not torch.allclose(table[0].float(), ours, atol=1e-4):
        other = sincos_3d(encoder.embed_dim, encoder.grid_size, not encoder.uniform_power)
        hint = (f" It matches uniform_power={not encoder.uniform_power}; set that in the config."
                if torch.allclose(table[0].float(), other, atol=1e-4) else "")
        warnings.warn(f"{path}: the checkpoint's pos_embed differs from the encoder's sine-cosine table "
                      f"(uniform_power={encoder.uniform_power}); using the checkpoint's.{hint}", stacklevel=4)


def _mismatch_message(path, key, encoder, state, unexpected, missing, mismatched) -> str:
    lines = [f"Checkpoint {path!r} (checkpoint_key={key!r}) does not fit this VJEPAEncoder "
             f"(embed_dim={encoder.embed_dim}, depth={encoder.depth}, num_heads={encoder.num_heads}, "
             f"patch_size={encoder.patch_size}, tubelet_size={encoder.tubelet_size}, in_chans={encoder.in_chans})."]
    if mismatched:
        lines.append(f"  Shape mismatches ({len(mismatched)}): " + "; ".join(mismatched[:8])
                     + ("; ..." if len(mismatched) > 8 else ""))
    if missing:
        lines.append(f"  Missing from the checkpoint ({len(missing)}): " + ", ".join(missing[:12])
                     + (", ..." if len(missing) > 12 else ""))
    if unexpected:
        lines.append(f"  Unexpected in the checkpoint ({len(unexpected)}): " + ", ".join(unexpected[:12])
                     + (", ..." if len(unexpected) > 12 else ""))
    depths = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", strip_wrappers(k)))}
    width = next((v.shape[0] for k, v in state.items() if strip_wrappers(k) == "norm.weight"), None)
    if depths or width:
        lines.append(f"  The checkpoint looks like depth={max(depths) + 1 if depths else '?'}, embed_dim={width}; "
                     "set arch (vit_tiny/small/base/large/huge) or embed_dim/depth/num_heads to match.")
    return "\n".join(lines)
