"""The pluggy hook specifications a plugin may implement (project name ``aegis``)."""
from __future__ import annotations

import pluggy

__all__ = ["hookspec", "hookimpl", "PROJECT"]

PROJECT = "aegis"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def aegis_register(registries):
    """Register the plugin's components.

    Called once per process by ``aegis.plugins.load()``, after every ``aegis.plugins`` entry point is imported.
    ``registries`` is a :class:`aegis.plugins.Registrar`: call ``registries.ENCODERS.register_module(module=Cls)``
    (any constant of ``aegis.registry.COMPONENT_REGISTRIES``). Import heavy modules inside the hook, not at
    module level. A name already registered by another plugin is an error naming both plugins.
    """


@hookspec
def aegis_add_commands(subparsers):
    """Add subcommands to the ``aegis`` console script.

    Called when the CLI builds its parser. ``subparsers`` is an ``argparse`` subparsers action: call
    ``subparsers.add_parser(name, help=...)`` and ``set_defaults(func=callable)``; the callable gets the parsed
    ``argparse.Namespace`` and returns an exit code.
    """


@hookspec
def aegis_doctor_checks():
    """Return a list of :class:`aegis.doctor.Check` describing what this plugin needs on this machine.

    Called by ``aegis doctor``. Each check must be cheap (an import probe, a file lookup): no model loading.
    """


@hookspec
def aegis_add_families(families):
    """Add component families (new registries with their contracts) before any plugin registers components.

    Called once per process by ``aegis.plugins.load()``, for every plugin, before any ``aegis_register``; so a
    plugin may register into a family another plugin adds. Call ``families.add(constant, name, contract,
    description)``: ``constant`` is the UPPER_SNAKE plural (``"DETECTORS"``) that ``registries.DETECTORS`` then
    offers, ``contract`` a Protocol class (``aegis.contracts`` shows the built-in ones) that constructor arguments
    annotate as ``Component[Contract]`` and that ``aegis.testing`` checks against.
    """
