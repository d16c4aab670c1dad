"""Checked construction: ``dict(type=..., **kwargs)`` -> registry -> typed constructor.

Before anything heavy runs, :func:`validate` walks a whole experiment config and checks every component dict it
finds: the ``type`` is registered (else the closest names), every key is a constructor argument (else the closest
arguments), every plain value fits the constructor's type hints (checked with jsonargparse), and every
``ExistingPath`` argument names a file that exists. :func:`build_component` is the one construction path plugins use
for their sub-components.
"""
from __future__ import annotations

import contextvars
import functools
import inspect
import os
import typing
from collections.abc import Mapping
from typing import Any

from .errors import AegisError, ConfigError, MissingInputsError, UnknownComponentError, closest
from .annotations import MustExist

__all__ = ["build_component", "construct", "validate", "validate_component", "find_registry", "constructor_parameters",
           "argument_family", "injected_arguments", "RUNNER_KEYS"]

# mmengine's own config schema: the registry a Runner-level key's component dicts come from. Sub-components of
# AEGIS components are not listed here: their family comes from the constructor's ``Component[Contract]`` annotation.
RUNNER_KEYS = {
    "model": "MODELS", "dataset": "DATASETS", "sampler": "DATA_SAMPLERS", "collate_fn": "FUNCTIONS",
    "custom_hooks": "HOOKS", "default_hooks": "HOOKS", "val_evaluator": "METRICS", "test_evaluator": "METRICS",
    "param_scheduler": "PARAM_SCHEDULERS", "optimizer": "OPTIMIZERS", "optim_wrapper": "OPTIM_WRAPPERS",
    "train_cfg": "LOOPS", "val_cfg": "LOOPS", "test_cfg": "LOOPS", "vis_backends": "VISBACKENDS",
    "model_wrapper_cfg": "MODEL_WRAPPERS",
}
# Top-level keys the Runner consumes itself; their `type`s resolve in mmengine's registries too.
_SKIP_KEYS = {"visualizer", "log_processor", "env_cfg", "randomness", "launcher"}


def _registries() -> dict:
    from .registry import COMPONENT_REGISTRIES
    return COMPONENT_REGISTRIES


def find_registry(type_name: str, registry=None):
    """The registry that holds ``type_name``: ``registry`` itself when given, else the first one that has it."""
    if registry is not None:
        return registry
    return next((r for r in _registries().values() if r.get(type_name) is not None), None)


def _family_of(registry):
    from .registry import COMPONENT_REGISTRIES, FAMILIES
    constant = next((c for c, r in COMPONENT_REGISTRIES.items() if r is registry), None)
    return FAMILIES.get(constant) if constant else None


def _resolve_family(family):
    """(registry, contract) of a registry, a contract class or a :class:`aegis.contracts.Family`."""
    from .contracts import Family
    from .registry import COMPONENT_REGISTRIES, family_of_contract

    if isinstance(family, Family):
        return COMPONENT_REGISTRIES[family.constant], family.contract
    if isinstance(family, type) and not hasattr(family, "module_dict"):
        found = family_of_contract(family)
        if found is None:
            raise TypeError(f"{family.__name__} is not the contract of any family (aegis.registry.FAMILIES)")
        return COMPONENT_REGISTRIES[found.constant], found.contract
    found = _family_of(family)
    return family, found.contract if found else None


def argument_family(hint):
    """The :class:`aegis.contracts.Family` a constructor argument's annotation names (``Component[Connector]``,
    ``list[Component[Loss]]``, ``Component[VideoEncoder] | None``), or None."""
    from .annotations import FamilyOf
    from .registry import family_of_contract

    if typing.get_origin(hint) is typing.Annotated:
        for marker in typing.get_args(hint)[1:]:
            if isinstance(marker, FamilyOf):
                return family_of_contract(marker.contract)
    for arg in typing.get_args(hint):
        found = argument_family(arg)
        if found is not None:
            return found
    return None


def injected_arguments(obj, family=None) -> tuple[str, ...]:
    """Arguments of ``obj``'s constructor that the framework supplies when it builds ``obj`` as a member of
    ``family`` (a parent's sizes, per the family's contract) — they are not required in the config."""
    if family is None:
        family = _family_of(find_registry(getattr(obj, "__name__", ""), None)) if inspect.isclass(obj) else None
    injected = tuple(family.injected) if family is not None else ()
    params, var_kwargs, _ = constructor_parameters(obj)
    return tuple(n for n in injected if n in params or var_kwargs)


def _names_with_parent(registry) -> set[str]:
    """Names a registry resolves: its own and, for children of mmengine's roots, mmengine's."""
    names = set(registry.module_dict)
    if registry.parent is not None:
        names |= set(registry.parent.module_dict)
    return names


def _unknown_type(type_name: str, registry, path: str) -> UnknownComponentError:
    from .plugins import loaded

    plugin_set = loaded()
    if registry is not None:
        names = sorted(_names_with_parent(registry))
        what = f"a registered {registry.name}"
        constant = next((c for c, r in _registries().items() if r is registry), None)
    else:
        names = sorted({n for r in _registries().values() for n in _names_with_parent(r)})
        what = "registered in any AEGIS registry"
        constant = None
    renamed = next((new for (c, old), new in plugin_set.renamed.items()
                    if old == type_name and constant in (None, c)), None)
    if renamed is not None:
        return UnknownComponentError(f"{path}.type={type_name!r} was renamed: use type={renamed!r}.")
    lines = [f"{path}.type={type_name!r} is not {what}."]
    near = closest(type_name, names)
    if near:
        lines.append(f"  Did you mean {', '.join(repr(n) for n in near)}?")
    if plugin_set.failed:
        failed = "; ".join(f"'{name}' ({message})" for name, message in plugin_set.failed.items())
        lines.append(f"  It may come from a plugin that failed to load: {failed}.")
    listing = ", ".join(names) if len(names) <= 30 else ", ".join(names[:30]) + ", ..."
    lines.append(f"  Registered ({len(names)}): {listing}.")
    lines.append("  Components come from the 'aegis.plugins' entry points; `aegis plugins` shows what loaded.")
    return UnknownComponentError("\n".join(lines))


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


def _plain_value(value: Any) -> Any:
    """Tuples as lists and mappings (an mmengine ConfigDict too, which jsonargparse cannot read) as plain dicts."""
    if isinstance(value, Mapping):
        return {k: _plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_value(v) for v in value]
    return value


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
    try:
        parser.parse_object({"value": _plain_value(value)})
    except Exception:
        literal = _literal_in(bare)
        if literal is not None:
            expected = "one of " + ", ".join(repr(c) for c in typing.get_args(literal))
            near = closest(str(value), [str(c) for c in typing.get_args(literal)])
            if near:
                expected += f" (did you mean {near[0]!r}?)"
        else:
            expected = str(bare).replace("typing.", "") if typing.get_args(bare) else getattr(bare, "__name__", str(bare))
        raise ConfigError(f"{where}={value!r} does not fit {component}'s argument type: expected {expected}.") from None


# While validate() runs: what the run needs and this machine lacks (files, weights, packages, a GPU), so that all of it
# is reported together before anything heavy starts. None outside validate(): the first problem raises.
_MISSING_INPUTS: contextvars.ContextVar[list | None] = contextvars.ContextVar("aegis_missing_inputs", default=None)


def _is_run_path(path: str) -> bool:
    """True for a component the run builds (under the model, the dataloaders, the runner's env and policy), not a
    fragment's spare top-level variable such as ``llama31_8b_4bit``."""
    root = path.split(".")[0].split("[")[0]
    return root in RUNNER_KEYS or root in ("train_dataloader", "val_dataloader", "test_dataloader", "env", "policy")


def _missing_input(message: str) -> None:
    collected = _MISSING_INPUTS.get()
    if collected is None:
        raise ConfigError(message)
    collected.append(message)


def _literal_in(hint):
    """The Literal of ``hint`` itself or of its ``Literal[...] | None``, else None."""
    if typing.get_origin(hint) is typing.Literal:
        return hint
    members = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(members) == 1 and typing.get_origin(members[0]) is typing.Literal:
        return members[0]
    return None


def validate_component(cfg: Mapping, path: str, registry=None, injected: tuple[str, ...] = (),
                       runner_key: str | None = None) -> None:
    """Check one ``dict(type=...)`` (and every component nested in it) against its constructor.

    ``registry`` is where its ``type`` must be registered (None: any registry); ``injected`` the arguments its
    parent supplies (not required here); ``runner_key`` the mmengine config key it sits under, if any.
    """
    type_value = cfg["type"]
    if not isinstance(type_value, str):  # a class given directly
        obj = type_value
    else:
        obj = registry.get(type_value) if registry is not None else None
        if obj is None and registry is None:  # no annotation named the family: the registry that has the type
            found = find_registry(type_value)
            obj = found.get(type_value) if found is not None else None
            family = _family_of(found) if found is not None else None
            injected = tuple(injected) + (family.injected if family is not None else ())
        if obj is None:
            raise _unknown_type(type_value, registry, path)
    name = getattr(obj, "__name__", str(obj))
    params, var_kwargs, hints = constructor_parameters(obj)
    for arg, value in cfg.items():
        if arg in ("type", "_scope_", "_delete_"):
            continue
        where = f"{path}.{arg}"
        if arg not in params:
            if var_kwargs:
                _validate_tree(value, where)
                continue
            moved = _moved_arguments(obj).get(arg)
            if moved is not None:  # a renamed or moved argument: say where it went
                raise ConfigError(f"{where}: {name}: {moved}")
            near = closest(arg, params)
            hint = f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise ConfigError(f"{path}: {name} got unknown argument {arg!r}.{hint}\n"
                              f"  {name} takes: {', '.join(params) or '(no arguments)'}.")
        hint = hints.get(arg, params[arg].annotation)
        _check_value(value, hint, where, name)
        if _must_exist(hint) and isinstance(value, (str, os.PathLike)) and not os.path.exists(value):
            _missing_input(f"{where}: file {str(value)!r} does not exist (relative paths resolve against the "
                           f"working directory, {os.getcwd()}).\n  Set {where} to an existing path, or create it first.")
        family = argument_family(hint)
        if family is not None:
            _validate_tree(value, where, _registries()[family.constant], family.injected)
        else:
            _validate_tree(value, where)
    if not inspect.isclass(obj):  # a registered function (collate_fn, ...) gets its data when called
        return
    preflight = vars(obj).get("preflight")
    if _MISSING_INPUTS.get() is not None and isinstance(preflight, classmethod) and _is_run_path(path):
        for problem in obj.preflight({k: v for k, v in cfg.items() if k != "type"}):
            _missing_input(f"{path}: {problem}")
    supplied = set(injected) | set(_INJECTED_BY_RUNNER.get(runner_key or "", ()))
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in cfg
               and n not in supplied]
    if missing:
        raise ConfigError(f"{path}: {name} needs argument(s) {', '.join(repr(m) for m in missing)}, "
                          "which the config does not set.")


def _moved_arguments(obj) -> Mapping[str, str]:
    """A class's ``moved_arguments`` ({old argument: where it went}), the documented way to retire an argument name
    so that a config still using it gets an error naming its replacement."""
    moved = vars(obj).get("moved_arguments") if inspect.isclass(obj) else None
    return moved if isinstance(moved, Mapping) else {}


# Arguments mmengine's Runner supplies itself when it builds a component under these keys.
_INJECTED_BY_RUNNER = {
    "sampler": ("dataset",), "param_scheduler": ("optimizer",), "optimizer": ("params",),
    "model_wrapper_cfg": ("module",), "vis_backends": ("save_dir",),
    "optim_wrapper": ("optimizer",),
}


def _validate_tree(value: Any, path: str, registry=None, injected: tuple[str, ...] = (),
                   runner_key: str | None = None) -> None:
    if _is_component(value):
        validate_component(value, path, registry, injected, runner_key)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _validate_tree(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _validate_tree(v, f"{path}[{i}]", registry, injected, runner_key)


def _runner_tree(value: Any, path: str, key: str) -> None:
    """Validate what sits under an mmengine config key, in the registry mmengine builds it from."""
    registry = _registries()[RUNNER_KEYS[key]]
    family = _family_of(registry)
    _validate_tree(value, path, registry, family.injected if family is not None else (), key)


def validate(cfg: Mapping) -> None:
    """Validate every component dict in an experiment config; raises :class:`ConfigError` on the first mistake.

    Inputs the run needs and this machine lacks — ``ExistingPath`` files, and what a component class's
    ``preflight(cfg) -> list[str]`` classmethod reports (LLM weights, packages, a GPU) — are collected over the
    whole config and reported together in one :class:`MissingInputsError` (a ConfigError), so a user fixes them in
    one go.
    """
    token = _MISSING_INPUTS.set([])
    try:
        _validate_all(cfg)
        missing = _MISSING_INPUTS.get()
    finally:
        _MISSING_INPUTS.reset(token)
    if missing:
        raise MissingInputsError(missing)


def _validate_all(cfg: Mapping) -> None:
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
                    _runner_tree(sub, f"{key}.{sub_key}", sub_key)
            continue
        if key == "optim_wrapper" and isinstance(value, Mapping):
            if _is_component(value.get("optimizer")):  # torch's optimizers, through mmengine's registry
                _validate_optimizer(value["optimizer"])
            if "type" in value:  # the wrapper itself; the Runner hands it the built optimizer
                _runner_tree({k: v for k, v in value.items() if k != "optimizer"}, key, key)
            continue
        if key in ("train_cfg", "val_cfg", "test_cfg") and isinstance(value, Mapping) and "type" not in value:
            continue
        if key == "default_hooks" and isinstance(value, Mapping):
            for name, hook in value.items():
                if hook is not None:
                    _runner_tree(hook, f"default_hooks.{name}", "custom_hooks")
            continue
        if key in RUNNER_KEYS:
            _runner_tree(value, key, key)
        elif _is_component(value):
            _validate_tree(value, key)


def _validate_optimizer(cfg: Mapping) -> None:
    """``optim_wrapper.optimizer`` against its class in mmengine's OPTIMIZERS (torch.optim and what plugins add)."""
    from mmengine.registry import OPTIMIZERS

    type_value = cfg["type"]
    name = type_value.split(".")[-1] if isinstance(type_value, str) else None
    if name is not None and OPTIMIZERS.get(type_value) is None and OPTIMIZERS.get(name) is None:
        near = closest(name, OPTIMIZERS.module_dict)
        raise UnknownComponentError(f"optim_wrapper.optimizer.type={type_value!r} is not a registered optimizer."
                                    + (f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""))
    validate_component(cfg, "optim_wrapper.optimizer", registry=OPTIMIZERS, runner_key="optimizer")


def build_component(cfg, family, path: str = "", **injected):
    """Build ``cfg`` (a ``dict(type=...)``) as a member of ``family`` after validating it; a built object passes
    through.

    ``family`` is a contract class (``aegis.contracts.Connector``) or a registry. ``path`` is the config path used in
    error messages (``"model.connector"``). ``injected`` are the sizes the parent knows (``input_dim=...``): each
    reaches the constructor only if it takes that argument. One the family's contract declares (a connector's
    ``input_dim``) is authoritative: a config that sets it to another value is an error; any other is a default
    the config may override (an RL extractor's ``img_size`` from the observation space). A component
    that lacks a member of its family's contract, or whose constructor raises, is a :class:`ConfigError` naming
    ``path``.
    """
    if cfg is None or not isinstance(cfg, Mapping):
        return cfg
    registry, contract = _resolve_family(family)
    path = path or registry.name
    if "type" not in cfg:
        raise ConfigError(f"{path}: a component dict needs a 'type' key; got keys {sorted(cfg)}.")
    cfg = dict(cfg)
    type_value = cfg["type"]
    obj = registry.get(type_value) if isinstance(type_value, str) else type_value
    if obj is not None:
        params, var_kwargs, _ = constructor_parameters(obj)
        declared = _family_of(registry).injected if _family_of(registry) is not None else ()
        for k, v in injected.items():
            if k in declared and k in cfg and cfg[k] != v:
                raise ConfigError(f"{path}.{k}={cfg[k]!r} does not match the {v!r} its parent supplies (the "
                                  f"{registry.name} family injects {k}); remove {path}.{k} or set it to {v!r}.")
            if k in params or var_kwargs:
                cfg.setdefault(k, v)
    validate_component(cfg, path, registry=registry)
    cfg.pop("type")
    if not inspect.isclass(obj):  # a registered function: bind its configured arguments, as mmengine does
        return functools.partial(obj, **cfg)
    built = construct(obj, cfg, path)
    if contract is not None:
        from .contracts import missing_members
        missing = missing_members(built, contract)
        if missing:
            raise ConfigError(f"{path}: {obj.__name__} does not satisfy the {contract.__name__} contract "
                              f"(aegis.contracts.{contract.__name__}): it has no {', '.join(missing)}.")
    return built


def construct(obj, kwargs: Mapping, path: str):
    """``obj(**kwargs)``; an exception from the constructor becomes a ConfigError with ``path`` and its message."""
    try:
        return obj(**kwargs)
    except AegisError:
        raise
    except Exception as exc:
        raise ConfigError(f"{path}: {obj.__name__} rejected its arguments: {type(exc).__name__}: {exc}") from exc
