"""Door 4, checkpoints: truncated, random, bit-flipped, a pickle that carries code, and a checkpoint of another
model, through ``aegis.engine.safe_load`` (training checkpoints, ``--resume``) and the V-JEPA encoder loader."""
from __future__ import annotations

import os
import pickle
import random

import pytest
import torch

from aegis.engine.checkpoint import atomic_save, check_state_dict_shapes, safe_load
from aegis.errors import CheckpointError
from aegis_plugins.encoders.vjepa import VJEPAEncoder
from aegis_plugins.encoders.vjepa_checkpoint import load_vjepa_checkpoint, read_checkpoint

SEED = 0
LOADERS = {"safe_load": safe_load, "vjepa read_checkpoint": read_checkpoint}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "good.pth"
    torch.manual_seed(0)
    atomic_save({"state_dict": {"layer.weight": torch.randn(8, 4), "layer.bias": torch.zeros(8)},
                 "meta": {"epoch": 1, "iter": 10}}, path)
    return path


@pytest.mark.parametrize("loader", list(LOADERS))
def test_damaged_checkpoints_are_refused_by_path(probe, good, tmp_path, loader):
    load = LOADERS[loader]
    data = good.read_bytes()
    rng = random.Random(SEED)
    damaged = [(f"truncated at {off}", data[:off]) for off in sorted(rng.sample(range(len(data)), 20))]
    damaged += [(f"random bytes #{i}", rng.randbytes(rng.randint(1, 4096))) for i in range(10)]
    for i in range(10):
        flipped = bytearray(data)
        for _ in range(8):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        damaged.append((f"8 bit flips #{i}", bytes(flipped)))
    damaged.append(("empty", b""))
    for name, blob in damaged:
        path = tmp_path / "damaged.pth"
        path.write_bytes(blob)
        out = probe("checkpoint", f"{name} ({loader})", load, path)
        assert out.kind in ("named", "accepted"), out.error
        if out.kind == "named":
            assert isinstance(out.error, CheckpointError) and str(path) in str(out.error)
        else:  # a flip that landed in tensor data or padding: the file still holds what it held, by shape
            assert isinstance(out.value, dict)


class _RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_a_pickle_carrying_code_is_refused_and_never_runs(probe, tmp_path, loader, writer):
    marker = tmp_path / "PAYLOAD_RAN"
    path = tmp_path / "evil.pth"
    payload = {"state_dict": {"w": torch.zeros(2)}, "x": _RunsCode(str(marker))}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    out = probe("checkpoint", f"code-carrying pickle via {writer} ({loader})", LOADERS[loader], path)
    assert out.kind == "named" and isinstance(out.error, CheckpointError), out.error
    assert "weights_only=True refuses" in str(out.error) and "nothing in it was run" in str(out.error)
    assert not marker.exists()


def test_a_checkpoint_of_another_model_names_every_mismatching_key(probe, tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))
    other = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Linear(16, 2))
    path = tmp_path / "other.pth"
    atomic_save({"state_dict": {f"module.{k}": v for k, v in other.state_dict().items()}}, path)

    def load_into_model():
        checkpoint = safe_load(path)
        check_state_dict_shapes(model, checkpoint, str(path))
    out = probe("checkpoint", "another experiment's checkpoint (shape check)", load_into_model)
    assert out.kind == "named" and isinstance(out.error, CheckpointError), out.error
    message = str(out.error)
    assert "3 tensor(s) differ in shape" in message
    for line in ("0.weight: checkpoint (16, 4) vs model (8, 4)", "0.bias: checkpoint (16,) vs model (8,)",
                 "1.weight: checkpoint (2, 16) vs model (2, 8)"):
        assert line in message
    assert "1.bias" not in message  # same shape: not listed


def test_an_encoder_checkpoint_of_another_size_names_every_mismatching_key(probe, tmp_path):
    small = dict(arch=None, embed_dim=32, depth=1, num_heads=2, patch_size=8, tubelet_size=2, num_frames=4,
                 img_size=16)
    path = tmp_path / "wide.pth"
    torch.save({"target_encoder": VJEPAEncoder(**dict(small, embed_dim=48)).state_dict()}, path)
    encoder = VJEPAEncoder(**small)
    out = probe("checkpoint", "encoder checkpoint of another width", load_vjepa_checkpoint, encoder, path)
    assert out.kind == "named" and isinstance(out.error, CheckpointError), out.error
    assert "blocks.0.attn.qkv.weight -> blocks.0.attn.qkv.weight: checkpoint (144, 48) vs encoder (96, 32)" \
        in str(out.error)


def _resume_through_tools_run(path) -> None:
    """``tools/run.py TOY --resume PATH`` in a subprocess; a named error on its last line is raised as one."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    assets = repo / "tests" / "aegis" / "assets"
    run = subprocess.run([sys.executable, str(repo / "tools" / "run.py"), str(assets / "toy_experiment.py"),
                          "--work-dir", str(Path(path).parent / "work"), "--resume", str(path)], cwd=repo,
                         env=dict(os.environ, PYTHONPATH=str(assets), OMP_NUM_THREADS="1"),
                         capture_output=True, text=True, timeout=240)
    if "Traceback" in run.stderr:
        raise RuntimeError(run.stderr[-500:])
    named = [line for line in run.stderr.splitlines() if line.startswith("CheckpointError: ")]
    if run.returncode != 0 and named:
        raise CheckpointError("\n".join(run.stderr.splitlines()[run.stderr.splitlines().index(named[0]):]))
    assert run.returncode == 0, run.stderr[-1000:]


def test_resuming_another_models_checkpoint_names_every_mismatching_key(probe, tmp_path):
    path = tmp_path / "other.pth"  # the toy experiment's model is Linear(4, 1); this one is Linear(3, 2)
    atomic_save({"state_dict": {"linear.weight": torch.zeros(2, 3), "linear.bias": torch.zeros(2)},
                 "meta": {"epoch": 1, "iter": 8}}, path)
    out = probe("checkpoint", "another experiment's checkpoint (tools/run.py --resume)", _resume_through_tools_run,
                path)
    message = str(out.error)
    assert out.kind == "named", message
    assert "linear.weight: checkpoint (2, 3) vs model (1, 4)" in message and \
        "linear.bias: checkpoint (2,) vs model (1,)" in message, message
