"""Built-in AEGIS plugin: connectors."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register this family's components (none yet)."""
