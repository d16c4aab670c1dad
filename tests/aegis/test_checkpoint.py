"""aegis/engine/checkpoint.py and metrics_file.py: plain-data checkpoints, atomic writes, clear corruption errors."""
import json
import os

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from aegis.engine import atomic_save, read_metrics_json, safe_load, write_metrics_json
from aegis.engine.checkpoint import to_plain
from aegis.errors import CheckpointError


def test_message_hub_state_round_trips_through_weights_only_load(tmp_path):
    hub = MessageHub.get_instance("checkpoint_round_trip")
    for value in (3.0, 2.0, 1.5):
        hub.update_scalar("train/loss", value)
    hub.update_info("iter_array", np.arange(3), resumed=True)
    state = dict(message_hub=hub.state_dict(), meta=dict(seed=np.int64(7), ratio=np.float32(0.5)))
    atomic_save(state, tmp_path / "ckpt.pth")
    loaded = safe_load(tmp_path / "ckpt.pth")
    buffer = loaded["message_hub"]["log_scalars"]["train/loss"]
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.current() == 1.5 and buffer.mean() == pytest.approx(6.5 / 3)
    assert loaded["meta"] == dict(seed=7, ratio=0.5)
    assert loaded["message_hub"]["runtime_info"]["iter_array"].tolist() == [0, 1, 2]


def test_plain_checkpoints_hold_no_pickled_globals_beyond_torch_defaults(tmp_path):
    buffer = HistoryBuffer([1.0, 2.0], [1, 1], max_length=10)
    path = tmp_path / "plain.pth"
    torch.save(to_plain(dict(buffer=buffer, arr=np.ones(2))), path)
    torch.load(path, weights_only=True)  # raises on any global outside torch's allowlist


def test_a_truncated_file_is_reported_by_path(tmp_path):
    atomic_save(dict(w=torch.ones(1000)), tmp_path / "good.pth")
    data = (tmp_path / "good.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[:100])
    with pytest.raises(CheckpointError, match=r"Checkpoint '.*cut\.pth' is truncated or corrupt"):
        safe_load(tmp_path / "cut.pth")
    with pytest.raises(CheckpointError, match=r"Checkpoint '.*missing\.pth' does not exist"):
        safe_load(tmp_path / "missing.pth")


def test_a_pickle_with_arbitrary_globals_is_refused_not_executed(tmp_path):
    torch.save(dict(buffer=HistoryBuffer([1.0], [1])), tmp_path / "unsafe.pth")  # what mmengine 0.10.7 writes
    with pytest.raises(CheckpointError, match="weights_only=True refuses"):
        safe_load(tmp_path / "unsafe.pth")


def test_atomic_save_leaves_no_partial_file_when_writing_fails(tmp_path):
    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError):
        atomic_save(dict(x=Unpicklable()), tmp_path / "never.pth")
    assert os.listdir(tmp_path) == []


def test_metrics_json_merges_and_is_plain_json(tmp_path):
    write_metrics_json(tmp_path, {"train/loss": torch.tensor(0.25), "epoch": 1})
    write_metrics_json(tmp_path, {"val/accuracy": np.float64(0.9), "epoch": 2})
    assert read_metrics_json(tmp_path) == {"train/loss": 0.25, "val/accuracy": 0.9, "epoch": 2}
    assert json.loads((tmp_path / "metrics.json").read_text())["epoch"] == 2


def test_the_one_resolver_takes_a_file_a_work_dir_a_model_folder_or_a_hub_id(tmp_path, monkeypatch):
    from aegis.engine.checkpoint import resolve_checkpoint
    from aegis.errors import CheckpointError

    run = tmp_path / "run"
    run.mkdir()
    (run / "epoch_3.pth").write_bytes(b"x")
    assert resolve_checkpoint(run / "epoch_3.pth") == str(run / "epoch_3.pth")
    (run / "last_checkpoint").write_text("/elsewhere/when/trained/epoch_3.pth")  # the run moved since: same folder
    assert resolve_checkpoint(run) == str(run / "epoch_3.pth")
    hf = tmp_path / "hf_model"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    assert resolve_checkpoint(hf, folder_marker="config.json") == str(hf)
    assert resolve_checkpoint("meta-llama/Llama-3.1-8B", allow_hub_id=True) == "meta-llama/Llama-3.1-8B"
    with pytest.raises(CheckpointError, match="model.llm.name_or_path='meta-llama/Llama-3.1-8B' does not exist"):
        resolve_checkpoint("meta-llama/Llama-3.1-8B", "model.llm.name_or_path")
    with pytest.raises(CheckpointError, match="is a folder without a last_checkpoint marker"):
        resolve_checkpoint(hf, "model.encoder.checkpoint")
    (run / "last_checkpoint").write_text(str(run / "epoch_9.pth"))
    with pytest.raises(CheckpointError, match="its last_checkpoint marker names .*epoch_9.pth.*which does not exist"):
        resolve_checkpoint(run)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match=r"(?s)x='work_dirs/missing' does not exist\..*Relative paths resolve "
                                              r"against the working directory, here " + str(tmp_path)):
        resolve_checkpoint("work_dirs/missing", "x")
