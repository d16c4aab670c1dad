"""Built-in AEGIS plugin: policies."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register this family's components (none yet)."""
