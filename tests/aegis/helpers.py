"""Run the real command-line tools in a subprocess, as a user would."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ASSETS = Path(__file__).parent / "assets"


def run_tool(*args: str, cwd: Path = REPO, env_extra: dict | None = None, timeout: int = 240,
             module: str | None = None) -> subprocess.CompletedProcess:
    """``python tools/run.py ARGS`` (or ``python -m MODULE ARGS``) with the toy components importable."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ASSETS), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    env.update(env_extra or {})
    command = [sys.executable, "-m", module, *args] if module else [sys.executable, str(REPO / "tools" / "run.py"), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
