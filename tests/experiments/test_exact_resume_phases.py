"""Exact resume of the real phase-1 and phase-2 experiments (slow): vjepa_pretrain_tiny and vlm_tiny_cpu (with its
upstream encoder and tiny LM), each killed with SIGKILL inside an epoch and resumed, end bit-identical to an
uninterrupted run, with 1 and 2 dataloader workers. Shrunk to 4 epochs by overrides; data made in a temporary dir."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "tests" / "aegis" / "assets"
SHORT = ["train_cfg.max_epochs=4", "default_hooks.checkpoint.interval=1", "default_hooks.checkpoint.max_keep_ckpts=5"]


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ASSETS), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(REPO / "tools" / "run.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("phases")
    made = subprocess.run([sys.executable, str(REPO / "tools" / "make_synthetic_data.py"), "--out",
                           "data/synthetic_disaster", "--num-videos", "200", "--seed", "0"], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    return cwd


def _killed_at(cwd: Path, experiment: str, hooks: str, at_iter: int) -> str:
    path = cwd / f"kill_{Path(experiment).stem}.py"
    path.write_text(f'_base_ = ["{REPO / experiment}"]\n'
                    'custom_imports = dict(imports=["toy_components"], allow_failed_imports=False)\n'
                    f'custom_hooks = [{hooks}, dict(type="SignalAtIterHook", at_iter={at_iter}, signal="SIGKILL")]\n')
    return str(path)


def _max_difference(a: Path, b: Path) -> float:
    first, second = (torch.load(p, weights_only=True)["state_dict"] for p in (a, b))
    return max((first[k].float() - second[k].float()).abs().max().item() for k in first)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("experiment, hooks, extra", [
    ("experiments/vjepa_pretrain_tiny.py",
     'dict(type="JEPATargetEMAHook", momentum=0.99, end_momentum=1.0), dict(type="CollapseWatchHook", interval=45)',
     []),
    ("experiments/vlm_tiny_cpu.py", 'dict(type="CaptionSamplesHook", num_samples=6, test_at_end=True)',
     ["--with-upstream", "--upstream-root", "up", "upstream.encoder.overrides.train_cfg.max_epochs=3",
      "upstream.lm.overrides.train_cfg.max_epochs=5"]),
], ids=["phase1", "phase2"])
def test_sigkill_inside_an_epoch_then_resume_is_bit_identical(workspace, experiment, hooks, extra, workers):
    name = f"{Path(experiment).stem}_w{workers}"
    options = [*SHORT, f"train_dataloader.num_workers={workers}", *extra]
    full = _run(workspace, str(REPO / experiment), "--work-dir", f"{name}_full", *options)
    assert full.returncode == 0, full.stderr[-3000:]
    killed = _run(workspace, _killed_at(workspace, experiment, hooks, 22), "--work-dir", f"{name}_cut", *options)
    assert killed.returncode == -9 and (workspace / f"{name}_cut" / "epoch_2.pth").exists()
    resumed = _run(workspace, str(REPO / experiment), "--work-dir", f"{name}_cut", "--resume", *options)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _max_difference(workspace / f"{name}_full" / "epoch_4.pth", workspace / f"{name}_cut" / "epoch_4.pth") == 0
