"""Checked construction: ``dict(type=..., **kwargs)`` -> registry -> typed constructor.

Before anything heavy runs, :func:`validate` walks a whole experiment config and checks every component dict it
finds: the ``type`` is registered (else the closest names), every key is a constructor argument (else the closest
arguments), every plain value fits the constructor's type hints (checked with jsonargparse), and every
``ExistingPath`` argument names a file that exists. :func:`build_component` is the one construction path plugins use
for their sub-components.
"""
from __future__ import annotations

import functools
import inspect
import os
import typing
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, UnknownComponentError, closest
from .annotations import MustExist

__all__ = ["build_component", "validate", "validate_component", "find_registry", "constructor_parameters"]

# Config keys whose component dicts come from a known registry (anything else: every registry is searched).
KEY_TO_REGISTRY = {
    "model": "MODELS", "encoder": "ENCODERS", "target_encoder": "ENCODERS", "connector": "CONNECTORS",
    "llm": "LLMS", "loss": "LOSSES", "losses": "LOSSES", "mask_generator": "MASK_GENERATORS",
    "mask_generators": "MASK_GENERATORS", "dataset": "DATASETS", "pipeline": "TRANSFORMS",
    "transforms": "TRANSFORMS", "env": "ENVS", "policy": "POLICIES", "features_extractor": "ENCODERS",
    "custom_hooks": "HOOKS", "default_hooks": "HOOKS", "metric": "METRICS", "metrics": "METRICS",
    "val_evaluator": "METRICS", "test_evaluator": "METRICS", "captioner": "CAPTIONERS",
    "collate_fn": "FUNCTIONS", "sampler": "DATA_SAMPLERS", "param_scheduler": "PARAM_SCHEDULERS",
    "optimizer": "OPTIMIZERS", "optim_wrapper": "OPTIM_WRAPPERS", "train_cfg": "LOOPS", "val_cfg": "LOOPS",
    "test_cfg": "LOOPS", "vis_backends": "VISBACKENDS", "model_wrapper_cfg": "MODEL_WRAPPERS",
}
# Top-level keys the Runner consumes itself; their `type`s resolve in mmengine's registries too.
_SKIP_KEYS = {"visualizer", "log_processor", "env_cfg", "randomness", "launcher"}


def _registries() -> dict:
    from .registry import COMPONENT_REGISTRIES
    return COMPONENT_REGISTRIES


def find_registry(type_name: str, key: str | None):
    """The (constant, registry) that holds ``type_name``: the key's own registry first, then any registry."""
    registries = _registries()
    preferred = KEY_TO_REGISTRY.get(key or "")
    order = ([preferred] if preferred else []) + [c for c in registries if c != preferred]
    for constant in order:
        registry = registries[constant]
        if registry.get(type_name) is not None:
            return constant, registry
    return preferred, registries[preferred] if preferred else None


def _names_with_parent(registry) -> set[str]:
    """Names a registry resolves: its own and, for children of mmengine's roots, mmengine's."""
    names = set(registry.module_dict)
    if registry.parent is not None:
        names |= set(registry.parent.module_dict)
    return names


def _unknown_type(type_name: str, key: str | None, path: str) -> UnknownComponentError:
    registries = _registries()
    constant = KEY_TO_REGISTRY.get(key or "")
    if constant:
        names = sorted(_names_with_parent(registries[constant]))
        what = f"a registered {registries[constant].name}"
    else:
        names = sorted({n for r in registries.values() for n in _names_with_parent(r)})
        what = "registered in any AEGIS registry"
    near = closest(type_name, names)
    hint = f"\n  Did you mean {', '.join(repr(n) for n in near)}?" if near else ""
    listing = ", ".join(names) if len(names) <= 30 else ", ".join(names[:30]) + ", ..."
    return UnknownComponentError(
        f"{path}.type={type_name!r} is not {what}.{hint}\n  Registered ({len(names)}): {listing}.\n"
        "  Components come from the 'aegis.plugins' entry points; `aegis plugins` shows what loaded.")


@functools.lru_cache(maxsize=None)
def constructor_parameters(obj) -> tuple[dict[str, inspect.Parameter], bool, dict[str, Any]]:
    """(parameters, takes_var_kwargs, resolved type hints) of a class constructor or a function."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return {}, True, {}
    params = {n: p for n, p in signature.parameters.items()
              if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    var_kwargs = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:  # unresolvable forward references: skip type checks, keep key checks
        hints = {}
    return params, var_kwargs, hints


def _is_component(value: Any) -> bool:
    return isinstance(value, Mapping) and "type" in value


def _strip_annotated(hint):
    if typing.get_origin(hint) is typing.Annotated:
        return typing.get_args(hint)[0], typing.get_args(hint)[1:]
    return hint, ()


def _must_exist(hint) -> bool:
    """True when the hint (possibly Optional/Union) carries the MustExist marker."""
    if typing.get_origin(hint) is typing.Annotated:
        return any(isinstance(m, MustExist) for m in typing.get_args(hint)[1:])
    return any(_must_exist(a) for a in typing.get_args(hint))


@functools.lru_cache(maxsize=None)
def _type_checker(hint):
    """A jsonargparse parser that checks one value against ``hint``, or None when it cannot express the hint."""
    from jsonargparse import ArgumentParser
    parser = ArgumentParser(exit_on_error=False)
    try:
        parser.add_argument("--value", type=hint)
    except Exception:
        return None
    return parser


def _check_value(value: Any, hint, where: str, component: str) -> None:
    if value is None or _is_component(value) or hint is inspect.Parameter.empty:
        return
    bare, _ = _strip_annotated(hint)
    if bare is Any or (inspect.isclass(bare) and not isinstance(value, (str, int, float, bool, list, tuple, dict))):
        return
    if isinstance(value, (list, tuple)) and any(_is_component(v) for v in value):
        return
    parser = _type_checker(bare)
    if parser is None:
        return
    plain = list(value) if isinstance(value, tuple) else value
    try:
        parser.parse_object({"value": plain})
    except Exception as exc:
        if typing.get_origin(bare) is typing.Literal:
            expected = "one of " + ", ".join(repr(c) for c in typing.get_args(bare))
            near = closest(str(value), [str(c) for c in typing.get_args(bare)])
            if near:
                expected += f" (did you mean {near[0]!r}?)"
        else:
            expected = str(bare).replace("typing.", "") if typing.get_args(bare) else getattr(bare, "__name__", str(bare))
        raise ConfigError(f"{where}={value!r} does not fit {component}'s argument type: expected {expected}.\n"
                          f"  ({str(exc).splitlines()[0][:200]})") from None


def validate_component(cfg: Mapping, path: str, key: str | None = None, registry=None) -> None:
    """Check one ``dict(type=...)`` (and every component nested in it) against its constructor."""
    type_value = cfg["type"]
    if not isinstance(type_value, str):  # a class given directly
        obj = type_value
    else:
        if registry is None:
            _, registry = find_registry(type_value, key)
        obj = registry.get(type_value) if registry is not None else None
        if obj is None:
            raise _unknown_type(type_value, key, path)
    name = getattr(obj, "__name__", str(obj))
    params, var_kwargs, hints = constructor_parameters(obj)
    for arg, value in cfg.items():
        if arg in ("type", "_scope_", "_delete_"):
            continue
        where = f"{path}.{arg}"
        if arg not in params:
            if var_kwargs:
                _validate_tree(value, where, arg)
                continue
            near = closest(arg, params)
            hint = f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise ConfigError(f"{path}: {name} got unknown argument {arg!r}.{hint}\n"
                              f"  {name} takes: {', '.join(params) or '(no arguments)'}.")
        hint = hints.get(arg, params[arg].annotation)
        _check_value(value, hint, where, name)
        if _must_exist(hint) and isinstance(value, (str, os.PathLike)) and not os.path.exists(value):
            raise ConfigError(f"{where}: file {str(value)!r} does not exist (working directory {os.getcwd()}).\n"
                              f"  Set {where} to an existing path, or create it first.")
        _validate_tree(value, where, arg)
    if not inspect.isclass(obj):  # a registered function (collate_fn, ...) gets its data when called
        return
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in cfg
               and n not in _injected_args(obj, key)]
    if missing:
        raise ConfigError(f"{path}: {name} needs argument(s) {', '.join(repr(m) for m in missing)}, "
                          "which the config does not set.")


# Arguments mmengine's Runner supplies itself when it builds a component under these keys.
_INJECTED_BY_KEY = {
    "sampler": ("dataset",), "param_scheduler": ("optimizer",), "optimizer": ("params",),
    "train_cfg": ("runner", "dataloader"), "val_cfg": ("runner", "dataloader", "evaluator"),
    "test_cfg": ("runner", "dataloader", "evaluator"), "model_wrapper_cfg": ("module",),
}


def _injected_args(obj, key: str | None) -> tuple[str, ...]:
    """Arguments supplied at build time: by the Runner (per config key) or by the parent component, which lists
    them in the child's ``injected_args`` class attribute (e.g. a connector's ``input_dim``)."""
    return tuple(getattr(obj, "injected_args", ())) + _INJECTED_BY_KEY.get(key or "", ())


def _validate_tree(value: Any, path: str, key: str | None) -> None:
    if _is_component(value):
        validate_component(value, path, key)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _validate_tree(v, f"{path}.{k}", k if not _is_component(v) or k not in ("type",) else k)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _validate_tree(v, f"{path}[{i}]", key)


def validate(cfg: Mapping) -> None:
    """Validate every component dict in an experiment config; raises :class:`ConfigError` on the first problem."""
    for key in ("model", "train_dataloader", "val_dataloader", "test_dataloader", "optim_wrapper", "train_cfg",
                "val_cfg", "test_cfg", "default_hooks", "env_cfg"):
        value = cfg.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a dict(...), got {type(value).__name__} {value!r:.60}")
    train_cfg = cfg.get("train_cfg")
    if isinstance(train_cfg, Mapping) and "type" not in train_cfg:
        for name in ("max_epochs", "max_iters", "val_interval", "val_begin"):
            value = train_cfg.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"train_cfg.{name}={value!r}: expected an integer")
    for key, value in cfg.items():
        if key in _SKIP_KEYS or key.startswith("_"):
            continue
        if key in ("train_dataloader", "val_dataloader", "test_dataloader") and isinstance(value, Mapping):
            for sub_key, sub in value.items():
                if sub_key in ("dataset", "sampler", "collate_fn"):
                    _validate_tree(sub, f"{key}.{sub_key}", sub_key)
            continue
        if key == "optim_wrapper" and isinstance(value, Mapping):
            if "type" in value and value["type"] not in ("OptimWrapper", "AmpOptimWrapper"):
                _validate_tree(value, key, key)
            elif _is_component(value.get("optimizer")):  # torch's optimizers, through mmengine's registry
                _validate_optimizer(value["optimizer"])
            continue
        if key in ("train_cfg", "val_cfg", "test_cfg") and isinstance(value, Mapping) and "type" not in value:
            continue
        if key == "default_hooks" and isinstance(value, Mapping):
            for name, hook in value.items():
                if hook is not None:
                    _validate_tree(hook, f"default_hooks.{name}", "custom_hooks")
            continue
        if key in ("param_scheduler", "val_evaluator", "test_evaluator", "model", "custom_hooks", "model_wrapper_cfg"):
            _validate_tree(value, key, key)
        elif _is_component(value):
            _validate_tree(value, key, key)


def _validate_optimizer(cfg: Mapping) -> None:
    """``optim_wrapper.optimizer`` against its class in mmengine's OPTIMIZERS (torch.optim and what plugins add)."""
    from mmengine.registry import OPTIMIZERS

    type_value = cfg["type"]
    name = type_value.split(".")[-1] if isinstance(type_value, str) else None
    if name is not None and OPTIMIZERS.get(type_value) is None and OPTIMIZERS.get(name) is None:
        near = closest(name, OPTIMIZERS.module_dict)
        raise UnknownComponentError(f"optim_wrapper.optimizer.type={type_value!r} is not a registered optimizer."
                                    + (f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""))
    validate_component(cfg, "optim_wrapper.optimizer", "optimizer", registry=OPTIMIZERS)


def build_component(cfg, registry, path: str = "", default_args: Mapping | None = None):
    """Build ``cfg`` (a ``dict(type=...)``) from ``registry`` after validating it; a built object passes through.

    ``path`` is the config path used in error messages (``"model.encoder"``). ``default_args`` are values the
    framework injects (sizes known only at build time); the config cannot override them unless it sets them.
    """
    if cfg is None or not isinstance(cfg, Mapping):
        return cfg
    if "type" not in cfg:
        raise ConfigError(f"{path or 'component'}: a component dict needs a 'type' key; got keys {sorted(cfg)}.")
    cfg = dict(cfg)
    if default_args:
        for k, v in default_args.items():
            cfg.setdefault(k, v)
    validate_component(cfg, path or registry.name, registry=registry)
    type_value = cfg.pop("type")
    obj = registry.get(type_value) if isinstance(type_value, str) else type_value
    if not inspect.isclass(obj):  # a registered function: bind its configured arguments, as mmengine does
        return functools.partial(obj, **cfg)
    return obj(**cfg)
