"""Plugin discovery: pluggy hooks over the ``aegis.plugins`` entry-point group.

Built-in plugins (``aegis_plugins.*``) and third-party packages load the same way: each entry point names a module
with an ``aegis_register`` hook implementation. ``load()`` runs once per process; importing a plugin module never
changes a registry by itself.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import types
import warnings
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError
from .hookspecs import hookimpl

__all__ = ["hookimpl", "load", "loaded", "manager", "register_plugin", "Registrar", "FamilyAdder", "PluginSet",
           "ComponentInfo", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "aegis.plugins"


@dataclass
class ComponentInfo:
    """Where a registered name came from."""
    registry: str
    name: str
    obj: Any
    plugin: str
    distribution: str

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.obj) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""


@dataclass
class PluginSet:
    """What ``load()`` found: the plugin manager, every component's provider, and plugins that failed."""
    manager: pluggy.PluginManager
    components: dict[tuple[str, str], ComponentInfo] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # plugin name -> "distribution: error"
    renamed: dict[tuple[str, str], str] = field(default_factory=dict)  # (constant, old name) -> new name
    family_providers: dict[str, str] = field(default_factory=dict)  # family constant -> plugin that added it


class _TrackedRegistry:
    """A registry seen through one plugin: registering records the provider and refuses clashes."""

    def __init__(self, constant: str, registry, plugin: str, distribution: str, plugin_set: PluginSet) -> None:
        self._constant, self._registry = constant, registry
        self._plugin, self._distribution, self._set = plugin, distribution, plugin_set

    def register_module(self, module=None, name: str | None = None):
        if module is None:
            raise PluginError(f"{self._plugin}: call registries.{self._constant}.register_module(module=Cls); "
                              "decorator use is not supported inside aegis_register")
        names = [name] if isinstance(name, str) else (list(name) if name else [module.__name__])
        for n in names:
            key = (self._constant, n)
            if key in self._set.components or n in self._registry._module_dict:
                other = self._set.components.get(key)
                other_desc = (f"plugin '{other.plugin}' ({other.distribution})" if other
                              else f"'{self._registry._module_dict[n].__module__}'")
                raise PluginError(
                    f"Two plugins register the {self._registry.name} '{n}': {other_desc} and plugin "
                    f"'{self._plugin}' ({self._distribution}). Rename one of them; AEGIS never overrides a name.")
            self._registry.register_module(name=n, module=module)
            self._set.components[key] = ComponentInfo(self._constant, n, module, self._plugin, self._distribution)
        return module

    def register_renamed(self, old_name: str, new_name: str) -> None:
        """Make the old name of a renamed component an error that names ``new_name`` (registered by this plugin)."""
        self._set.renamed[(self._constant, old_name)] = new_name

    def __getattr__(self, item):  # read access (get, module_dict, build) goes to the registry itself
        return getattr(self._registry, item)


class FamilyAdder:
    """The object handed to ``aegis_add_families``: ``add(constant, name, contract, description)``."""

    def __init__(self, plugin: str, plugin_set: PluginSet) -> None:
        self._plugin, self._set = plugin, plugin_set

    def add(self, constant: str, name: str, contract: type | None, description: str = ""):
        from .registry import add_family
        other = self._set.family_providers.get(constant)
        if other is not None and other != self._plugin:
            raise PluginError(f"Two plugins add the family {constant}: '{other}' and '{self._plugin}'. "
                              "Rename one; a family belongs to one plugin.")
        registry = add_family(constant, name, contract, description)
        self._set.family_providers[constant] = self._plugin
        return registry


class Registrar:
    """The object handed to ``aegis_register``: one attribute per registry constant (``ENCODERS``, ``MODELS``, ...)."""

    def __init__(self, plugin: str, distribution: str, plugin_set: PluginSet) -> None:
        from .registry import COMPONENT_REGISTRIES
        for constant, registry in COMPONENT_REGISTRIES.items():
            setattr(self, constant, _TrackedRegistry(constant, registry, plugin, distribution, plugin_set))


_PLUGINS: PluginSet | None = None


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _call_hook(plugin_set: PluginSet, module: types.ModuleType, name: str, distribution: str, hook: str) -> None:
    impl = getattr(module, hook, None)
    if impl is None:
        return
    if hook == "aegis_add_families":
        impl(families=FamilyAdder(name, plugin_set))
    else:
        impl(registries=Registrar(name, distribution, plugin_set))


def _register_one(plugin_set: PluginSet, module: types.ModuleType, name: str, distribution: str) -> None:
    plugin_set.manager.register(module, name=name)
    for hook in ("aegis_add_families", "aegis_register"):
        _call_hook(plugin_set, module, name, distribution, hook)


def load(strict: bool = False) -> PluginSet:
    """Load the core and every ``aegis.plugins`` entry point once per process and return what loaded.

    Every plugin module is imported first, then every plugin's ``aegis_add_families`` runs, then every plugin's
    ``aegis_register`` (so a plugin may register into a family another plugin adds). A plugin that fails in any
    step gives a warning naming it, its distribution and the error, and the rest still load; with ``strict=True``
    the failures of all broken plugins are one :class:`PluginError`. Name clashes are always errors.
    """
    global _PLUGINS
    if _PLUGINS is not None:
        if strict and _PLUGINS.failed:
            raise _failures_error(_PLUGINS)
        return _PLUGINS
    plugin_set = PluginSet(manager=_new_manager())
    from . import engine
    _register_one(plugin_set, engine, "aegis.core", "aegis")
    modules: list[tuple[types.ModuleType, str, str, str]] = []  # (module, plugin name, distribution, entry point)
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        distribution = ep.dist.name if ep.dist is not None else "unknown distribution"
        plugin_name = f"{ep.name}"
        if plugin_set.manager.has_plugin(plugin_name) or any(m[1] == plugin_name for m in modules):
            plugin_name = f"{distribution}:{ep.name}"
        try:
            modules.append((ep.load(), plugin_name, distribution, ep.value))
        except Exception as exc:  # a broken third-party plugin must not take the others down
            _record_failure(plugin_set, plugin_name, distribution, ep.value, exc)
    for hook in ("aegis_add_families", "aegis_register"):
        for module, plugin_name, distribution, value in modules:
            if plugin_name in plugin_set.failed:
                continue
            try:
                if hook == "aegis_add_families":
                    plugin_set.manager.register(module, name=plugin_name)
                _call_hook(plugin_set, module, plugin_name, distribution, hook)
            except PluginError:
                raise
            except Exception as exc:
                _record_failure(plugin_set, plugin_name, distribution, value, exc)
    _PLUGINS = plugin_set
    if strict and plugin_set.failed:
        raise _failures_error(plugin_set)
    return plugin_set


def _record_failure(plugin_set: PluginSet, plugin_name: str, distribution: str, entry_point: str,
                    exc: Exception) -> None:
    message = f"{distribution}: {type(exc).__name__}: {exc} (entry point {entry_point})"
    plugin_set.failed[plugin_name] = message
    warnings.warn(f"AEGIS plugin '{plugin_name}' failed to load and was skipped: {message}. Run `aegis doctor` for "
                  "details; --strict-plugins makes this fatal.", RuntimeWarning, stacklevel=3)


def _failures_error(plugin_set: PluginSet) -> PluginError:
    lines = [f"  - '{name}' from {message}" for name, message in plugin_set.failed.items()]
    return PluginError(f"{len(lines)} plugin(s) failed to load (--strict-plugins):\n" + "\n".join(lines))


def loaded() -> PluginSet:
    """The plugins loaded so far (loading them first if needed)."""
    return load()


def manager() -> pluggy.PluginManager:
    """The pluggy manager, for calling the other hooks (``aegis_add_commands``, ``aegis_doctor_checks``)."""
    return load().manager


def register_plugin(module: types.ModuleType | str, name: str | None = None) -> None:
    """Register a module that is not behind an entry point (an experiment's ``custom_imports``) like a plugin."""
    if isinstance(module, str):
        module = importlib.import_module(module)
    plugin_set = load()
    name = name or module.__name__
    if plugin_set.manager.is_registered(module) or plugin_set.manager.has_plugin(name):
        return
    _register_one(plugin_set, module, name, "custom_imports")
