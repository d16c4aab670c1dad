"""Experiment files: load a Python config with ``_base_`` inheritance, apply overrides, import custom modules."""
from __future__ import annotations

import difflib
import importlib
import os
import re
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["load_experiment", "experiment_name", "import_custom_modules", "resolve_references", "DEFAULT_WORK_ROOT"]

_REFERENCE = re.compile(r"^\$\{([A-Za-z_][\w.]*)\}$")

DEFAULT_WORK_ROOT = "work_dirs"


def experiment_name(path: str | os.PathLike) -> str:
    """``experiments/vlm_t4.py`` -> ``vlm_t4``."""
    return Path(path).stem


def _missing_experiment(path: Path) -> ConfigError:
    folder = path.parent if path.parent.is_dir() else Path("experiments")
    names = [str(p) for p in sorted(folder.rglob("*.py")) if "_base_" not in p.parts] if folder.is_dir() else []
    near = difflib.get_close_matches(str(path), names, n=3, cutoff=0.4)
    hint = f" Did you mean {', '.join(near)}?" if near else ""
    return ConfigError(f"Experiment file {str(path)!r} does not exist.{hint}")


def import_custom_modules(cfg) -> list[str]:
    """Import ``custom_imports.imports`` (mmengine style); a module with an ``aegis_register`` hook joins the plugins."""
    from . import plugins

    custom = cfg.get("custom_imports")
    if not custom:
        return []
    names = custom.get("imports", [])
    names = [names] if isinstance(names, str) else list(names)
    allow_failed = bool(custom.get("allow_failed_imports", False))
    imported = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            if allow_failed:
                continue
            raise ConfigError(f"custom_imports.imports: cannot import {name!r}: {exc}. The module must be importable "
                              "from the working directory or PYTHONPATH.") from exc
        if hasattr(module, "aegis_register"):
            plugins.register_plugin(module)
        imported.append(name)
    return imported


def load_experiment(path: str | os.PathLike, cfg_options: dict[str, Any] | None = None,
                    work_dir: str | None = None):
    """Load an experiment file into an mmengine ``Config`` with overrides applied and ``work_dir`` set.

    The work dir is, in order: ``work_dir``, the file's own ``work_dir``, ``work_dirs/<experiment name>``.
    """
    from mmengine.config import Config

    path = Path(path)
    if not path.is_file():
        raise _missing_experiment(path)
    try:
        cfg = Config.fromfile(str(path), import_custom_modules=False)
    except (SyntaxError, NameError, KeyError, FileNotFoundError) as exc:
        raise ConfigError(f"{path}: cannot be loaded as an experiment file: {type(exc).__name__}: {exc}") from exc
    if cfg_options:
        _check_override_paths(cfg, cfg_options, path)
        cfg.merge_from_dict(cfg_options)
    resolve_references(cfg, path)
    cfg.work_dir = work_dir or cfg.get("work_dir") or os.path.join(DEFAULT_WORK_ROOT, experiment_name(path))
    cfg.setdefault("default_scope", "aegis")
    import_custom_modules(cfg)
    return cfg


def _lookup(cfg, dotted: str, where: str, path: Path):
    node = cfg
    for part in dotted.split("."):
        if not hasattr(node, "keys") or part not in node.keys():
            raise ConfigError(f"{path}: {where} refers to ${{{dotted}}}, but the config has no key {dotted!r}.")
        node = node[part]
    return node


def resolve_references(cfg, path: Path | str = "<config>") -> None:
    """Replace every string value ``"${a.b}"`` with the value of key ``a.b``, after overrides are applied.

    So one key can drive many places and ``--cfg-options a.b=...`` moves all of them, e.g. the training guide's
    ``data.video_caption_pairs`` feeding the dataloaders' ``ann_file``.
    """
    def resolve(node, where: str, depth: int = 0):
        if isinstance(node, str):
            match = _REFERENCE.match(node)
            if not match:
                return node
            if depth > 10:
                raise ConfigError(f"{path}: {where}: the reference ${{{match.group(1)}}} is circular.")
            return resolve(_lookup(cfg, match.group(1), where, Path(path)), where, depth + 1)
        if isinstance(node, dict):
            for key in list(node):
                node[key] = resolve(node[key], f"{where}.{key}" if where else str(key), depth)
            return node
        if isinstance(node, list):
            return [resolve(v, f"{where}[{i}]", depth) for i, v in enumerate(node)]
        if isinstance(node, tuple):
            return tuple(resolve(v, f"{where}[{i}]", depth) for i, v in enumerate(node))
        return node

    for key in list(cfg.keys()):
        cfg[key] = resolve(cfg[key], key)


def _check_override_paths(cfg, cfg_options: dict[str, Any], path: Path) -> None:
    """An override may add a key to an existing dict but not invent a top-level key the file does not have."""
    known = set(cfg.keys()) | {"work_dir", "load_from", "resume", "launcher", "randomness", "runner_type",
                                "custom_hooks", "custom_imports", "default_scope", "env_cfg", "model_wrapper_cfg"}
    for key in cfg_options:
        top = key.split(".")[0]
        if top not in known:
            near = difflib.get_close_matches(top, sorted(known), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise ConfigError(f"override {key}: {path} has no top-level key {top!r}.{hint}")
