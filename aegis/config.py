"""Experiment files: load a Python config with ``_base_`` inheritance, apply overrides, import custom modules."""
from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import os
import re
from pathlib import Path
from typing import Any

from .errors import ConfigError, relative_path_note

__all__ = ["load_experiment", "experiment_name", "import_custom_modules", "resolve_references", "config_hash",
           "read_top_level_keys", "check_overrides_are_read", "RUN_CONTRACT_KEYS", "DEFAULT_WORK_ROOT"]

_REFERENCE = re.compile(r"^\$\{([A-Za-z_][\w.]*)\}$")
_EMBEDDED_REFERENCE = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")
# keys that do not change what a run computes (where it writes, how it was launched, whether it resumed)
_VOLATILE_KEYS = ("work_dir", "resume", "launcher", "model_wrapper_cfg", "_work_dir_given", "experiment_name",
                  "compute_threads")

DEFAULT_WORK_ROOT = "work_dirs"
# Top-level keys read besides the runner class's constructor arguments: by AEGIS's run contract (upstream runs, the
# runner choice, custom imports, run options) and by mmengine's Runner from ``runner.cfg`` (wrappers, compile, ...).
RUN_CONTRACT_KEYS = frozenset({
    "upstream", "runner_type", "custom_imports", "default_scope", "work_dir", "experiment_name", "launcher", "resume",
    "load_from", "randomness", "env_cfg", "log_level", "model_wrapper_cfg", "compile", "find_unused_parameters",
    "activation_checkpointing", "efficient_conv_bn_eval", "sync_bn", "strategy", "auto_scale_lr", "_init_from",
    "_work_dir_given", "compute_threads"})


def experiment_name(path: str | os.PathLike) -> str:
    """``experiments/vlm_t4.py`` -> ``vlm_t4``."""
    return Path(path).stem


def _missing_experiment(path: Path) -> ConfigError:
    folder = path.parent if path.parent.is_dir() else Path("experiments")
    names = [str(p) for p in sorted(folder.rglob("*.py")) if "_base_" not in p.parts] if folder.is_dir() else []
    near = difflib.get_close_matches(str(path), names, n=3, cutoff=0.4)
    hint = f" Did you mean {', '.join(near)}?" if near else ""
    return ConfigError(f"Experiment file {str(path)!r} does not exist.{hint}{relative_path_note(path)}")


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


def config_hash(cfg) -> str:
    """sha256 of a resolved config without the keys that only say where and how it ran (work_dir, resume, ...)."""
    data = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    for key in _VOLATILE_KEYS:
        data.pop(key, None)
    init = data.pop("_init_from", None)  # --resume auto keeps the experiment's load_from here
    if init is not None:
        data["load_from"] = init
    elif cfg.get("resume") or data.get("load_from") is None:  # resuming: load_from names where, not what
        data.pop("load_from", None)
    for entry in (data.get("upstream") or {}).values():  # whether an upstream is built yet is not its identity
        if isinstance(entry, dict):
            entry.pop("built", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=repr).encode()).hexdigest()


def load_experiment(path: str | os.PathLike, cfg_options: dict[str, Any] | None = None,
                    work_dir: str | None = None, upstream_root: str | os.PathLike = DEFAULT_WORK_ROOT):
    """Load an experiment file into an mmengine ``Config`` with overrides applied and ``work_dir`` set.

    The work dir is, in order: ``work_dir``, the file's own ``work_dir``, ``work_dirs/<experiment name>``.
    ``upstream`` entries get their work dirs under ``upstream_root`` (``aegis.upstream``) before ``${...}``
    references are resolved.
    """
    from mmengine.config import Config

    path = Path(path)
    if not path.is_file():
        raise _missing_experiment(path)
    try:
        cfg = Config.fromfile(str(path), import_custom_modules=False)
    except ConfigError:
        raise
    except Exception as exc:  # the file is Python: whatever it raises while it runs is the file's problem
        raise ConfigError(f"{path}: cannot be loaded as an experiment file: {type(exc).__name__}: {exc}") from None
    if cfg_options:
        _check_override_paths(cfg, cfg_options, path)
        before = cfg.to_dict()
        cfg.merge_from_dict(cfg_options)
        check_overrides_are_read(cfg, before, cfg_options, path)
    from .upstream import resolve_upstream
    resolve_upstream(cfg, path, upstream_root)
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
    ``data.video_caption_pairs`` feeding the dataloaders' ``ann_file``. A reference inside a longer string
    (``"${upstream.lm.work_dir}/lm/model.pth"``) is replaced by the value's text.
    """
    def resolve(node, where: str, depth: int = 0):
        if isinstance(node, str):
            match = _REFERENCE.match(node)
            embedded = _EMBEDDED_REFERENCE.search(node)
            if depth > 10 and embedded:
                raise ConfigError(f"{path}: {where}: the reference ${{{embedded.group(1)}}} is circular.")
            if not match:  # "${upstream.lm.work_dir}/lm/model.pth": references inside a string become text
                return _EMBEDDED_REFERENCE.sub(
                    lambda m: str(resolve(_lookup(cfg, m.group(1), where, Path(path)), where, depth + 1)), node)
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
    known = set(cfg.keys()) | {k for k in RUN_CONTRACT_KEYS if not k.startswith("_")} | {"custom_hooks"}
    for key in cfg_options:
        top = key.split(".")[0]
        if top not in known:
            near = difflib.get_close_matches(top, sorted(known), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise ConfigError(f"override {key}: {path} has no top-level key {top!r}.{hint}")


def _runner_arguments(runner_type) -> set[str]:
    """The constructor arguments of the runner class (and its bases): the top-level keys its ``from_cfg`` reads."""
    import inspect

    from . import plugins
    from .registry import RUNNERS

    plugins.load()
    runner = RUNNERS.get(runner_type) if isinstance(runner_type, str) else runner_type
    if not inspect.isclass(runner):  # an unknown runner_type is validation's error; judge by mmengine's Runner
        from mmengine.runner import Runner as runner
    names: set[str] = set()
    for klass in inspect.getmro(runner):
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        names |= {p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return names


def _references(node) -> set[str]:
    """Every dotted key a ``${...}`` reference in ``node`` names."""
    if isinstance(node, str):
        return set(_EMBEDDED_REFERENCE.findall(node))
    if isinstance(node, dict):
        return set().union(*(_references(v) for v in node.values())) if node else set()
    if isinstance(node, (list, tuple)):
        return set().union(*(_references(v) for v in node)) if node else set()
    return set()


def read_top_level_keys(cfg) -> set[str]:
    """The top-level keys of ``cfg`` something reads after the file has run: the runner's constructor arguments,
    :data:`RUN_CONTRACT_KEYS` and every key named by a ``${...}`` reference (before references are resolved).

    Any other top-level key is a variable the experiment file used while it ran (``max_epochs = 60`` feeding
    ``train_cfg``): overriding it afterwards would change nothing.
    """
    data = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    referenced = {ref.split(".")[0] for ref in _references(data)}
    return _runner_arguments(data.get("runner_type", "AegisRunner")) | RUN_CONTRACT_KEYS | referenced


def _nodes(node, prefix: str = ""):
    """(dotted key, value) of every value, containers included; list items are numbered (``param_scheduler.1.end``)."""
    if prefix:
        yield prefix, node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, (list, tuple)) else ()
    for key, value in items:
        yield from _nodes(value, f"{prefix}.{key}" if prefix else str(key))


def _lookup_plain(data: dict, dotted: str):
    node = data
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _keys_it_set(before: dict, key: str) -> list[str]:
    """Keys outside ``key``'s top-level variable that the variable probably fed, likeliest first: those with its
    name and its value, else those with its name; plus those with only its value when they are few."""
    top, name = key.split(".")[0], key.split(".")[-1]
    original = _lookup_plain(before, key)
    # values common enough to match by chance (True, 0, 3, "") only count together with the key's name
    comparable = not (original is None or isinstance(original, bool) or original in ({}, [], (), "")
                      or (isinstance(original, int) and -10 < original < 10))
    both, named, valued = [], [], []
    for dotted, value in _nodes({k: v for k, v in before.items() if k != top and not k.startswith("_")}):
        same_name = dotted.split(".")[-1] == name
        same_value = comparable and type(value) is type(original) and value == original
        (both if same_name and same_value else named if same_name else valued if same_value else []).append(dotted)
    return ((both or named) + (valued if len(valued) <= 3 else []))[:6]


def check_overrides_are_read(cfg, before: dict, cfg_options: dict[str, Any], path: Path | str) -> None:
    """An override of a top-level key nothing reads is a :class:`ConfigError` naming the keys that would work.

    ``before`` is the config as the file wrote it (``cfg.to_dict()`` before the overrides were merged), used to find
    the keys the variable fed: those with its name or its value (``max_epochs`` -> ``train_cfg.max_epochs``).
    """
    from .overrides import format_value

    read = None
    for key, value in cfg_options.items():
        top = key.split(".")[0]
        if read is None:
            read = read_top_level_keys(cfg)
        if top in read:
            continue
        targets = _keys_it_set(before, key)
        instead = (" Override where it went instead (keys with its name or value): "
                   + " ".join(f"{t}={format_value(value)}" for t in targets)
                   if targets else " No other key holds its name or its value.")
        raise ConfigError(
            f"override {key}={format_value(value)}: nothing reads the top-level key {top!r} of {path} after the file "
            f"has run (it is a variable the file used while it ran), so the override would change nothing.{instead}\n"
            f"  To make one value drive them, write \"${{{top}}}\" in those places of the experiment file.")
