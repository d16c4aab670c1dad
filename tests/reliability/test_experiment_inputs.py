"""Door 3, experiment files through ``tools/run.py EXP --print-config`` / ``--dry-run``: every bad file must end
with exit status 2 and a named error on stderr (``ConfigError: <file>...``), never a traceback."""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aegis.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "tests" / "aegis" / "assets"
BASE = f'_base_ = ["{ASSETS}/toy_experiment.py"]\n'
_NAMED = re.compile(r"^(ConfigError|UnknownComponentError|PluginError|CheckpointError|DataError): ")

CASES = {  # name -> (file text, flag, pattern the error must match, unused)
    "syntax error": (BASE + "model = dict(type='ToyRegressor',\n    in_features=4\nx = 1\n", "--print-config",
                     r"syntax\.py.*line 2", None),
    "indentation error": (BASE + "x = 1\n  y = 2\n", "--print-config", r"indentation\.py.*line 3", None),
    "undefined name": (BASE + "x = undefined_name\n", "--print-config", r"undefined_name", None),
    "missing _base_": ('_base_ = ["does_not_exist.py"]\n', "--print-config", r"does_not_exist\.py", None),
    "circular reference": (BASE + "a = '${b}'\nb = '${a}'\nmodel = dict(in_features='${a}')\n", "--print-config",
                           r"circular", None),
    "missing reference": (BASE + "model = dict(in_features='${nope}')\n", "--print-config", r"no key 'nope'", None),
    "unknown argument": (BASE + "model = dict(in_featurez=4)\n", "--dry-run", r"Did you mean 'in_features'", None),
    "wrong type": (BASE + "model = dict(in_features='four')\n", "--dry-run", r"model\.in_features='four'.*int",
                   None),
    "unknown type": (BASE + "model = dict(type='ToyRegresor')\n", "--dry-run", r"ToyRegresor", None),
    "exception while running": (BASE + "x = 1 / 0\n", "--print-config", r"ZeroDivisionError", None),
    "import of a missing module": (BASE + "import not_a_module_xyz\n", "--print-config", r"not_a_module_xyz", None),
    "_base_ not a list": ("_base_ = 5\n", "--print-config", r"_base_", None),
    "binary file": (None, "--print-config", r"binary", None),
    "circular inside strings": (BASE + "a = 'x${b}'\nb = 'y${a}'\n", "--print-config", r"circular", None),
    "self reference inside a string": (BASE + "a = 'x${a}'\n", "--print-config", r"circular", None),
    "model is a list": (BASE + "model = [1, 2]\n", "--dry-run", r"model", None),
    "dataloader is a number": (BASE + "train_dataloader = 5\n", "--dry-run", r"train_dataloader", None),
    "max_epochs a string": (BASE + "train_cfg = dict(max_epochs='three')\n", "--dry-run", r"max_epochs", None),
}


def _run_tool():
    spec = importlib.util.spec_from_file_location("aegis_run_tool", REPO / "tools" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _as_user_sees_it(main, argv):
    """Run ``tools/run.py`` in-process; a named one-line-headed error with exit 2 is raised as ConfigError(stderr),
    exit 0 returns, anything else (an exception, a traceback, another exit) escapes as a crash."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    text = err.getvalue()
    if "Traceback" in text:
        raise RuntimeError(f"a traceback was printed: {text[-300:]}")
    named = [line for line in text.splitlines() if _NAMED.match(line)]
    if rc == 2 and named:
        raise ConfigError(text.strip())
    if rc != 0:
        raise RuntimeError(f"exit {rc} without a named error: {text[-300:]}")
    return rc


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_experiment_file_exits_2_with_a_named_error(probe, tmp_path, monkeypatch, name):
    text, flag, pattern, _ = CASES[name]
    monkeypatch.syspath_prepend(str(ASSETS))
    path = tmp_path / f"{name.split()[0]}.py"
    if text is None:
        path.write_bytes(bytes(range(128, 256)) * 2)
    else:
        path.write_text(text)
    out = probe("experiment", name, _as_user_sees_it, _run_tool().main,
                [str(path), flag, "--work-dir", str(tmp_path / "work")])
    assert out.kind == "named", out.error
    assert re.search(pattern, str(out.error)), str(out.error)


def test_a_top_level_name_the_components_do_not_read_is_allowed(probe, tmp_path, monkeypatch):
    """Top-level names are the file's own variables (knobs read through ${...}), so only component keys are checked."""
    monkeypatch.syspath_prepend(str(ASSETS))
    path = tmp_path / "knob.py"
    path.write_text(BASE + "my_knob = 3\n")
    out = probe("experiment", "unread top-level name", _as_user_sees_it, _run_tool().main,
                [str(path), "--print-config", "--work-dir", str(tmp_path / "work")])
    assert out.kind == "accepted", out.error


@pytest.mark.parametrize("flag,text,first", [
    ("--print-config", BASE + "model = dict(type='ToyRegressor',\n", "ConfigError: "),
    ("--dry-run", BASE + "model = dict(in_featurez=4)\n", "ConfigError: model: ToyRegressor got unknown argument"),
])
def test_the_real_command_prints_a_named_error_and_exits_2(probe, tmp_path, flag, text, first):
    path = tmp_path / "bad.py"
    path.write_text(text)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ASSETS), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")

    def run():
        done = subprocess.run([sys.executable, "tools/run.py", str(path), flag, "--work-dir", str(tmp_path / "w")],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode == 2 and done.stderr.startswith(first) and "Traceback" not in done.stderr:
            raise ConfigError(done.stderr)
        raise RuntimeError(f"exit {done.returncode}: {done.stderr[-500:]}")
    out = probe("experiment", f"subprocess {flag}", run)
    assert out.kind == "named", out.error
    assert len(str(out.error).strip().splitlines()) <= 2  # the error, and for unknown arguments what the class takes
