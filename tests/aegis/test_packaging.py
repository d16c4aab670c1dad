"""pyproject.toml lists every package: a folder with an __init__.py missing there would vanish on install."""
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for folder, import_name in (("aegis", "aegis"), ("aegis_plugins", "aegis_plugins")):
        for init in (REPO / folder).rglob("__init__.py"):
            found.add(".".join((import_name,) + init.parent.relative_to(REPO / folder).parts))
    assert found - listed == set(), f"add these to [tool.setuptools] packages: {sorted(found - listed)}"


def test_every_builtin_plugin_family_has_an_entry_point():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    entry_points = set(config["project"]["entry-points"]["aegis.plugins"].values())
    families = {f"aegis_plugins.{p.parent.name}" for p in (REPO / "aegis_plugins").glob("*/__init__.py")}
    assert families == entry_points
