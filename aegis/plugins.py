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

__all__ = ["hookimpl", "load", "loaded", "manager", "register_plugin", "Registrar", "PluginSet", "ComponentInfo",
           "ENTRY_POINT_GROUP"]

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

    def __getattr__(self, item):  # read access (get, module_dict, build) goes to the registry itself
        return getattr(self._registry, item)


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


def _register_one(plugin_set: PluginSet, module: types.ModuleType, name: str, distribution: str) -> None:
    plugin_set.manager.register(module, name=name)
    impl = getattr(module, "aegis_register", None)
    if impl is not None:
        impl(registries=Registrar(name, distribution, plugin_set))


def load(strict: bool = False) -> PluginSet:
    """Load the core and every ``aegis.plugins`` entry point once per process and return what loaded.

    A plugin that fails to import or register gives a warning naming it, its distribution and the error, and the
    rest still load; with ``strict=True`` that is a :class:`PluginError`. Name clashes are always errors.
    """
    global _PLUGINS
    if _PLUGINS is not None:
        if strict and _PLUGINS.failed:
            raise PluginError("Plugins failed to load: " + "; ".join(f"{k} ({v})" for k, v in _PLUGINS.failed.items()))
        return _PLUGINS
    plugin_set = PluginSet(manager=_new_manager())
    from . import engine
    _register_one(plugin_set, engine, "aegis.core", "aegis")
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        distribution = ep.dist.name if ep.dist is not None else "unknown distribution"
        plugin_name = f"{ep.name}"
        if plugin_set.manager.has_plugin(plugin_name):
            plugin_name = f"{distribution}:{ep.name}"
        try:
            module = ep.load()
            _register_one(plugin_set, module, plugin_name, distribution)
        except PluginError:
            raise
        except Exception as exc:  # a broken third-party plugin must not take the others down
            message = f"{distribution}: {type(exc).__name__}: {exc}"
            if strict:
                raise PluginError(f"Plugin '{plugin_name}' from {message} (entry point {ep.value})") from exc
            plugin_set.failed[plugin_name] = message
            warnings.warn(f"AEGIS plugin '{plugin_name}' (entry point {ep.value}) failed to load and was skipped: "
                          f"{message}. Run `aegis doctor` for details; --strict-plugins makes this fatal.",
                          RuntimeWarning, stacklevel=2)
    _PLUGINS = plugin_set
    return plugin_set


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
