import sys
from pathlib import Path

# The toy components for the core's tests load through custom_imports, which imports by module name.
# helpers.py sits beside this file; tests import it by name (pytest runs with --import-mode=importlib).
ASSETS = Path(__file__).parent / "assets"
for folder in (ASSETS, Path(__file__).parent):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def toy_components_registered(aegis_plugins_loaded):
    """Register the test-only toy components as an experiment's custom_imports would."""
    from aegis.plugins import register_plugin

    register_plugin("toy_components")
