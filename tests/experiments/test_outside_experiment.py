"""An experiment file outside the repository names AEGIS's `_base_` fragments (docs/experiment_files.md): by a path
relative to itself, an absolute path, or an environment variable; not by `aegis::`. Its `max_epochs` reaches the
inherited schedule, and its upstream runs name experiments that resolve from anywhere."""
import os
from pathlib import Path

import pytest

from aegis.config import load_experiment
from aegis.errors import ConfigError
from aegis.upstream import missing_upstream_error

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "experiments" / "_base_"
BODY = ("model = dict(type='VideoCaptioner')\n"
        "loader = dict(batch_size=2, num_workers=0, persistent_workers=False)\n"
        "clip = dict(video_length=8, img_size=32)\n")


def _write(path: Path, base: list[str], body: str = BODY) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"_base_ = {base!r}\n{body}")
    return path


def _check_fragments_arrived(cfg) -> None:
    assert cfg.default_scope == "aegis" and cfg.log_processor.type == "AegisLogProcessor"  # default_runtime.py
    for split in ("train", "val", "test"):  # synthetic_disaster.py, its ${...} keys set by the outside file
        loader = cfg[f"{split}_dataloader"]
        assert (loader.batch_size, loader.num_workers, loader.persistent_workers) == (2, 0, False)
        assert (loader.dataset.pipeline.video_length, loader.dataset.pipeline.img_size) == (8, 32)
        assert loader.dataset.split == split


def test_fragments_by_a_path_relative_to_the_experiment_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative to the file, not to the working directory
    folder = tmp_path / "my_project" / "configs"
    folder.mkdir(parents=True)
    relative = os.path.relpath(BASE, folder)
    path = _write(folder / "exp.py", [f"{relative}/default_runtime.py", f"{relative}/datasets/synthetic_disaster.py"])
    _check_fragments_arrived(load_experiment(path))


def test_fragments_by_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path / "exp.py", [str(BASE / "default_runtime.py"), str(BASE / "datasets/synthetic_disaster.py")])
    _check_fragments_arrived(load_experiment(path))


def test_fragments_by_an_environment_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AEGIS_EXPERIMENTS", str(REPO / "experiments"))
    path = _write(tmp_path / "exp.py", ["{{$AEGIS_EXPERIMENTS:experiments}}/_base_/default_runtime.py",
                                        "{{$AEGIS_EXPERIMENTS:experiments}}/_base_/datasets/synthetic_disaster.py"])
    _check_fragments_arrived(load_experiment(path))
    monkeypatch.delenv("AEGIS_EXPERIMENTS")  # unset: the default after the colon, relative to the file again
    with pytest.raises(ConfigError, match="cannot be loaded as an experiment file: FileNotFoundError"):
        load_experiment(path)


def test_a_package_path_with_aegis_scope_does_not_work(tmp_path):
    path = _write(tmp_path / "exp.py", ["aegis::_base_/default_runtime.py"])
    with pytest.raises(ConfigError, match="mmengine does not support to load aegis config"):
        load_experiment(path)


def test_a_fragment_value_is_used_as_it_is_or_with_arguments_added(tmp_path):
    path = _write(tmp_path / "exp.py", [str(BASE / "models/vjepa_tiny_encoder.py"), str(BASE / "models/tiny_lm.py")],
                  "model = dict(type='VideoCaptioner', encoder={{_base_.vjepa_tiny_encoder}},\n"
                  "             target=dict(_base_.vjepa_tiny_encoder, frozen=True), prompt='${caption_prompt}')\n")
    cfg = load_experiment(path, {"caption_prompt": "What happens here?"})
    assert cfg.model.encoder == cfg.vjepa_tiny_encoder and cfg.model.encoder.embed_dim == 128
    assert cfg.model.target == dict(cfg.vjepa_tiny_encoder, frozen=True)
    assert cfg.model.llm.type == "TinyCausalLM" and cfg.model.prompt == "What happens here?"


def test_max_epochs_of_an_outside_child_reaches_the_inherited_schedule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path / "short.py", [str(REPO / "experiments" / "vlm_tiny_cpu.py")], "max_epochs = 5\n")
    cfg = load_experiment(path)
    assert cfg.train_cfg.max_epochs == 5 and cfg.param_scheduler[-1].end == 5
    cfg = load_experiment(path, {"max_epochs": 3})  # and the command line beats the file
    assert cfg.train_cfg.max_epochs == 3 and cfg.param_scheduler[-1].end == 3


def test_an_outside_experiment_names_an_upstream_run_and_is_told_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path / "probe.py", [str(BASE / "default_runtime.py")],
                  "upstream = dict(encoder=dict(experiment='experiments/vjepa_pretrain_tiny.py',\n"
                  "                             overrides=dict(max_epochs=2)))\n"
                  "model = dict(type='Probe', checkpoint='${upstream.encoder.work_dir}')\n")
    cfg = load_experiment(path)  # the upstream experiment resolves in the AEGIS checkout
    entry = cfg.upstream.encoder
    assert entry.experiment == str(REPO / "experiments" / "vjepa_pretrain_tiny.py") and not entry.built
    assert cfg.model.checkpoint == entry.work_dir == f"work_dirs/vjepa_pretrain_tiny-{entry.config_hash[:10]}"
    message = str(missing_upstream_error(cfg, "work_dirs"))
    assert f"upstream.encoder: no finished run of {entry.experiment} in {entry.work_dir}" in message
    assert f"python tools/run.py {entry.experiment} --work-dir {entry.work_dir} max_epochs=2" in message
