"""aegis/plugins.py: entry-point discovery, failing plugins, name clashes, and a real third-party package."""
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import REPO, run_tool

LOAD = ("from aegis import plugins\n"
        "s = plugins.load(strict={strict})\n"
        "print('FAILED', sorted(s.failed))\n"
        "print('HOOKS', sorted(n for (r, n) in s.components if r == 'HOOKS'))\n")


def _fake_distribution(site: Path, dist: str, module: str, source: str) -> None:
    """An installed distribution as pip would leave it: a module plus a dist-info with an aegis.plugins entry point."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[aegis.plugins]\n{module} = {module}\n")


def _load_in_subprocess(site: Path, strict: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LOAD.format(strict=strict)], cwd=REPO, capture_output=True,
                          text=True, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_a_broken_plugin_warns_with_its_name_distribution_and_error_and_the_rest_load(tmp_path):
    _fake_distribution(tmp_path, "brokenplug", "brokenplug", "import no_such_module_here\n")
    result = _load_in_subprocess(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "AEGIS plugin 'brokenplug'" in result.stderr
    assert "brokenplug: ModuleNotFoundError: No module named 'no_such_module_here'" in result.stderr
    assert "FAILED ['brokenplug']" in result.stdout
    assert "MetricsJsonHook" in result.stdout  # the core and the other plugins still registered


def test_strict_plugins_reports_every_broken_plugin_at_once(tmp_path):
    _fake_distribution(tmp_path, "brokenplug", "brokenplug", "raise RuntimeError('boom')\n")
    _fake_distribution(tmp_path, "otherbroken", "otherbroken", """
        from aegis.plugins import hookimpl

        @hookimpl
        def aegis_register(registries):
            raise ValueError('bad registration')
        """)
    result = _load_in_subprocess(tmp_path, strict=True)
    assert result.returncode != 0
    assert "2 plugin(s) failed to load (--strict-plugins)" in result.stderr
    assert "'brokenplug' from brokenplug: RuntimeError: boom" in result.stderr
    assert "'otherbroken' from otherbroken: ValueError: bad registration" in result.stderr


def test_naming_a_component_of_a_plugin_that_failed_names_the_plugin_and_its_error(tmp_path):
    _fake_distribution(tmp_path, "detectplug", "detectplug", "import no_such_detector_backend\n")
    script = ("from aegis import plugins\nfrom aegis.build import validate\nplugins.load()\n"
              "validate(dict(model=dict(type='SmokeDetector')))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert result.returncode != 0
    assert "model.type='SmokeDetector' is not a registered model." in result.stderr
    assert ("It may come from a plugin that failed to load: 'detectplug' (detectplug: ModuleNotFoundError: No module "
            "named 'no_such_detector_backend'") in result.stderr


def test_a_plugin_adds_a_family_that_another_plugin_registers_into(tmp_path):
    """aegis_add_families runs for every plugin before any aegis_register: 'zz_familyplug' adds DETECTORS with its
    contract, 'aa_detectors' (loaded first, alphabetically) registers into it; a parent's Component[Detector]
    annotation sends validation and building to that registry, with the family's injected width."""
    _fake_distribution(tmp_path, "zz_familyplug", "zz_familyplug", """
        from typing import ClassVar, Protocol

        from aegis.annotations import Component
        from aegis.build import build_component
        from aegis.plugins import hookimpl

        class Detector(Protocol):
            \"\"\"Scores (B, N, D) tokens as (B,) alarm levels; `input_dim` is injected.\"\"\"
            injected: ClassVar[tuple[str, ...]] = ("input_dim",)
            threshold: float

        class AlarmModel:
            def __init__(self, detector: Component[Detector], width: int = 8) -> None:
                self.detector = build_component(detector, Detector, "model.detector", input_dim=width)

        @hookimpl
        def aegis_add_families(families):
            families.add("DETECTORS", "detector", Detector, "alarm detectors")

        @hookimpl
        def aegis_register(registries):
            registries.MODELS.register_module(module=AlarmModel)
        """)
    _fake_distribution(tmp_path, "aa_detectors", "aa_detectors", """
        from aegis.plugins import hookimpl

        class SmokeDetector:
            def __init__(self, input_dim: int, threshold: float = 0.5) -> None:
                self.input_dim, self.threshold = input_dim, threshold

        @hookimpl
        def aegis_register(registries):
            registries.DETECTORS.register_module(module=SmokeDetector)
        """)
    script = textwrap.dedent("""
        from aegis import plugins
        from aegis.build import build_component, validate
        from aegis.errors import AegisError
        from aegis.registry import MODELS
        s = plugins.load(strict=True)
        validate(dict(model=dict(type='AlarmModel', detector=dict(type='SmokeDetector'))))
        model = build_component(dict(type='AlarmModel', detector=dict(type='SmokeDetector', threshold=0.7)), MODELS)
        print('BUILT', type(model.detector).__name__, model.detector.input_dim, model.detector.threshold)
        try:
            validate(dict(model=dict(type='AlarmModel', detector=dict(type='SmokeDetektor'))))
        except AegisError as exc:
            print('ERROR', str(exc).splitlines()[0])
        """)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "BUILT SmokeDetector 8 0.7" in result.stdout
    assert "ERROR model.detector.type='SmokeDetektor' is not a registered detector." in result.stdout


def test_a_renamed_component_names_its_new_name(tmp_path):
    _fake_distribution(tmp_path, "renameplug", "renameplug", """
        from aegis.plugins import hookimpl

        class FloodGauge:
            def __init__(self, level: float = 0.0) -> None:
                self.level = level

        @hookimpl
        def aegis_register(registries):
            registries.HOOKS.register_module(module=FloodGauge)
            registries.HOOKS.register_renamed("WaterGauge", "FloodGauge")
        """)
    script = ("from aegis import plugins\nfrom aegis.build import validate\nplugins.load(strict=True)\n"
              "validate(dict(custom_hooks=[dict(type='WaterGauge')]))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert result.returncode != 0
    assert "custom_hooks[0].type='WaterGauge' was renamed: use type='FloodGauge'." in result.stderr


def test_two_plugins_registering_one_name_is_an_error_naming_both(tmp_path):
    _fake_distribution(tmp_path, "clashplug", "clashplug", """
        from aegis.plugins import hookimpl

        class MetricsJsonHook:
            pass

        @hookimpl
        def aegis_register(registries):
            registries.HOOKS.register_module(module=MetricsJsonHook)
        """)
    result = _load_in_subprocess(tmp_path)
    assert result.returncode != 0
    assert ("Two plugins register the hook 'MetricsJsonHook': plugin 'aegis.core' (aegis) and plugin 'clashplug' "
            "(clashplug)") in result.stderr


def test_builtin_plugins_load_through_the_entry_point_group():
    from importlib.metadata import entry_points

    from aegis import plugins

    declared = {ep.name for ep in entry_points(group="aegis.plugins") if ep.value.startswith("aegis_plugins.")}
    assert {"encoders", "connectors", "llms", "losses", "data", "envs", "policies"} <= declared
    loaded = {name for name, _ in plugins.loaded().manager.list_name_plugin()}
    assert declared <= loaded


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    """examples/third_party_plugin installed with pip into its own target folder."""
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                             "--target", str(target), str(REPO / "examples" / "third_party_plugin")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return target


def test_the_installed_example_plugin_shows_up_in_aegis_plugins(installed_example):
    result = run_tool("plugins", module="aegis.cli", env_extra={"PYTHONPATH": str(installed_example)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"MotionEnergyEncoder +\[motion\]", result.stdout), result.stdout
    described = run_tool("plugins", "MotionEnergyEncoder", module="aegis.cli",
                         env_extra={"PYTHONPATH": str(installed_example)})
    assert "(ENCODERS, plugin motion, aegis-motion-plugin)" in described.stdout
    assert "embed_dim: int = 32" in described.stdout


def test_an_experiment_file_uses_the_installed_example_plugin(installed_example, tmp_path):
    data_root = tmp_path / "videos"
    result = run_tool(str(REPO / "examples" / "third_party_plugin" / "experiment.py"), "--dry-run",
                      "--work-dir", str(tmp_path / "work"), "--cfg-options",
                      f"train_dataloader.dataset.data_root={data_root}", "train_dataloader.dataset.num_videos=12",
                      env_extra={"PYTHONPATH": str(installed_example)})
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "Dry run finished" in log
    assert (data_root / "captions.json").is_file()  # the synthetic set was generated for it


def test_the_example_plugins_own_tests_pass_from_outside_the_repository(installed_example, tmp_path):
    """What docs/plugins.md tells a plugin author: install the package, test it with aegis.testing."""
    import shutil

    shutil.copytree(REPO / "examples" / "third_party_plugin" / "tests", tmp_path / "tests")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env={"PYTHONPATH": str(installed_example), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout
