"""tools/eval_physics.py: a checkpoint scored on VoE pairs beside random init and the pixel control (tiny, fast)."""
import json
import os
import sys

import torch

from aegis.build import build_component
from aegis.config import load_experiment
from aegis.engine import atomic_save
from aegis.registry import MODELS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools"))


def _tiny_physics_experiment(tmp_path):
    """The physics experiment at width 32, on a VoE set of one pair per kind, and a checkpoint of its model."""
    path = tmp_path / "physics_tiny.py"
    path.write_text(
        f"_base_ = [{os.path.join(REPO, 'experiments', 'vjepa_pretrain_tiny_physics.py')!r}]\n"
        f"data_root = {str(tmp_path / 'voe')!r}\n"
        "voe = dict(num_pairs=1, num_train=14)\n"
        "model = dict(encoder=dict(embed_dim=32, depth=1, num_heads=2),\n"
        "             predictor=dict(embed_dim=16, depth=1, num_heads=2))\n")
    torch.manual_seed(0)
    model = build_component(load_experiment(str(path)).model, MODELS)
    checkpoint = tmp_path / "epoch_1.pth"
    atomic_save({"state_dict": model.state_dict()}, checkpoint)
    return str(path), str(checkpoint)


def test_prints_three_scorers_per_kind_and_writes_metrics(tmp_path, capsys):
    import eval_physics

    experiment, checkpoint = _tiny_physics_experiment(tmp_path)
    work_dir = tmp_path / "out"
    assert eval_physics.main([experiment, "--checkpoint", checkpoint, "--random-seeds", "2", "--bootstrap", "50",
                              "--work-dir", str(work_dir), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith("kind"))
    assert header.split() == ["kind", "pretrained", "random_init", "pixels"]
    for kind in ("permanence", "continuity", "gravity", "solidity", "inertia", "water_uphill", "fire_backwards"):
        assert any(line.startswith(kind) for line in printed.splitlines()), kind
    metrics = json.loads((work_dir / "metrics.json").read_text())
    # a teleport is a pixel jump: linear pixel extrapolation cannot miss it
    assert metrics["physics/pixels/continuity/pairwise_acc"] == 1.0
    assert metrics["physics/random_init/all/num_pairs"] == 14  # 7 pairs, scored under 2 random seeds
    assert 0.0 <= metrics["physics/pretrained/all/pairwise_acc"] <= 1.0


def test_a_run_that_is_not_a_pretrainer_is_refused(tmp_path, capsys):
    import eval_physics

    experiment, _ = _tiny_physics_experiment(tmp_path)
    bad = tmp_path / "not_a_checkpoint.pth"
    bad.write_bytes(b"not a checkpoint")
    assert eval_physics.main([experiment, "--checkpoint", str(bad), "--threads", "1"]) == 2
    assert "CheckpointError" in capsys.readouterr().err
