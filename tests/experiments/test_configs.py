"""Every experiment file loads, and every `type` in it resolves and validates, without building anything.

Inputs that come from outside the file (data files, an earlier run's checkpoint) are not a reason to stop: each
experiment is validated in an empty working directory, every missing input is named and stood in for by an empty
file, and validation goes on to the end, so a typo behind the first missing file still fails. The inputs each
experiment needs are listed below; a path that changes (or a typo in one) shows up as a difference to that list.
"""
import re
from pathlib import Path

import pytest

from aegis.build import validate
from aegis.config import load_experiment
from aegis.errors import ConfigError, MissingInputsError
from aegis.sweep.space import load_sweep_file
from aegis.upstream import missing_upstream, missing_upstream_error

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted(p for p in (REPO / "experiments").rglob("*.py")
                     if "_base_" not in p.parts and "sweeps" not in p.parts)
SWEEPS = sorted((REPO / "experiments" / "sweeps").glob("*.py"))
# examples/ experiments need their plugin installed: tests/aegis/test_plugins.py installs and runs them.

# What each experiment reads that no file in the repository provides: {config path: file}, from validate's path
# checks. Experiments not listed read none. (Upstream runs, built by `--with-upstream`, are reported below.)
MISSING_FILES = {
    "rl_disaster_vjepa_ppo.py": {"policy.features_extractor.checkpoint": "work_dirs/vjepa_pretrain_tiny"},
    "rl_disaster_medium_vjepa_ppo.py": {"policy.features_extractor.checkpoint": "work_dirs/vjepa_pretrain_tiny"},
    "rl_disaster_world_model.py": {"model.encoder.checkpoint": "work_dirs/vjepa_pretrain_tiny"},
    "vlm_t4.py": {"train_dataloader.dataset.ann_file": "data/video_caption_pairs.json",
                  "val_dataloader.dataset.ann_file": "data/video_caption_pairs_val.json",
                  "model.llm": "machine: LLM weights for model.llm.name_or_path="},  # and, here, bitsandbytes and a GPU
    "vlm_tiny_cpu_from_stage1.py": {"model.connector.checkpoint": "work_dirs/vlm_stage1_tiny_cpu"},
}
_MISSING = re.compile(r"^(\S+): file '([^']+)' does not exist", re.MULTILINE)


def _validate_collecting_missing(cfg, sandbox: Path) -> dict[str, str]:
    """``validate(cfg)`` in the empty working directory ``sandbox``: every missing input file is recorded and replaced
    by an empty file, then validation starts again; what else the machine lacks (LLM weights, a GPU: problems a
    component's preflight reports) is recorded under its config path. Any other problem raises."""
    missing: dict[str, str] = {}
    while True:
        try:
            validate(cfg)
            return missing
        except MissingInputsError as exc:
            files = [_MISSING.match(p) for p in exc.problems]
            new = [m for m in files if m is not None and m.group(1) not in missing]
            if any(m is not None and Path(m.group(2)).is_absolute() for m in new):
                raise
            if not new:  # only what no stand-in file can provide
                for problem in exc.problems:
                    missing.setdefault(problem.split(": ", 1)[0], "machine: " + problem.split(": ", 1)[1][:39])
                return missing
            for found in new:
                missing[found.group(1)] = found.group(2)
                stand_in = sandbox / found.group(2)
                stand_in.parent.mkdir(parents=True, exist_ok=True)
                stand_in.touch()


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=_name)
def test_experiment_loads_and_validates(path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # nothing exists here: every input the experiment reads from outside is missing
    cfg = load_experiment(path)
    assert cfg.work_dir == f"work_dirs/{path.stem}"
    missing = _validate_collecting_missing(cfg, tmp_path)
    upstream = {name: Path(entry["experiment"]).name for name, entry in (cfg.get("upstream") or {}).items()}
    with capsys.disabled():  # the report: what this experiment needs before it can run
        for where, file in missing.items():
            print(f"\n  {_name(path)} needs {where}={file!r}", end="")
        for name, experiment in upstream.items():
            print(f"\n  {_name(path)} needs upstream.{name} (a run of {experiment})", end="")
    assert missing == MISSING_FILES.get(path.name, {})
    assert all(Path(entry["experiment"]) in EXPERIMENTS for entry in (cfg.get("upstream") or {}).values())
    assert sorted(missing_upstream(cfg)) == sorted(upstream)  # none is built in an empty working directory
    if upstream:  # a missing upstream run says which command builds it
        message = str(missing_upstream_error(cfg, "work_dirs"))
        for name, experiment in upstream.items():
            assert f"upstream.{name}: no finished run of " in message
            assert f"python tools/run.py {cfg.upstream[name]['experiment']}" in message


def test_a_typo_behind_a_missing_input_is_still_found(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_experiment(REPO / "experiments" / "vlm_t4.py", {"val_dataloader.dataset.test_mod": True})
    with pytest.raises(ConfigError, match="got unknown argument 'test_mod'. Did you mean 'test_mode'"):
        validate(cfg)  # missing inputs are collected while validation goes on: they do not hide the typo


def test_every_missing_input_is_reported_in_one_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_experiment(REPO / "experiments" / "vlm_t4.py")
    with pytest.raises(ConfigError) as error:
        validate(cfg)
    message = str(error.value)
    assert "inputs this run needs are missing" in message
    assert "train_dataloader.dataset.ann_file: file 'data/video_caption_pairs.json' does not exist" in message
    assert "val_dataloader.dataset.ann_file: file 'data/video_caption_pairs_val.json' does not exist" in message
    assert "model.llm: " in message and "meta-llama/Llama-3.1-8B-Instruct" in message  # weights, before any load
    assert "bitsandbytes" in message or "CUDA" in message  # load_in_4bit needs both; this machine lacks at least one


def _epochs(path: Path, **overrides):
    cfg = load_experiment(path, overrides)
    ends = [s.get("end", s.get("T_max")) for s in cfg.param_scheduler if s.get("by_epoch")]
    return cfg, ends


SUPERVISED = [p for p in EXPERIMENTS if "max_epochs" in (load_experiment(p).get("train_cfg") or {})]


def test_every_experiment_without_an_epoch_loop_is_an_rl_one():
    assert len(SUPERVISED) >= 10
    assert {p.name for p in EXPERIMENTS if p not in SUPERVISED} == \
        {"rl_disaster_ppo.py", "rl_disaster_vjepa_ppo.py", "rl_habitat_pointnav_ppo.py", "rl_disaster_medium_ppo.py",
         "rl_disaster_hard_ppo.py", "rl_disaster_medium_vjepa_ppo.py", "rl_disaster_vjepa_random_encoder.py"}


@pytest.mark.parametrize("path", SUPERVISED, ids=_name)
def test_max_epochs_moves_the_loop_and_the_schedule_together(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg, ends = _epochs(path)
    assert cfg.train_cfg.max_epochs == cfg.max_epochs  # the top-level knob is what the loop reads
    assert ends[-1] == cfg.max_epochs  # and where the last epoch-based scheduler ends
    cfg, ends = _epochs(path, max_epochs=20)
    assert cfg.train_cfg.max_epochs == 20 and ends[-1] == 20


def test_max_epochs_of_a_child_file_reaches_its_parents_schedule():
    cfg, ends = _epochs(REPO / "experiments" / "vjepa_pretrain_tiny_flow.py")  # 12 epochs over the parent's 30
    assert cfg.train_cfg.max_epochs == 12 and ends == [1, 12]
    assert cfg.default_hooks.checkpoint.interval == 12  # one checkpoint, at the end, as in the parent


@pytest.mark.parametrize("path", SWEEPS, ids=_name)
def test_sweep_files_name_existing_experiments(path, monkeypatch):
    monkeypatch.chdir(REPO)
    sweep = load_sweep_file(path)
    grid = sweep["space"].get("experiment")
    names = [sweep["experiment"], *(grid.values if grid is not None else [])]
    assert all((REPO / name).is_file() for name in names), names
    for name in names:  # each loads with every other key of the sweep's space applied
        keys = {key: dim.values[0] for key, dim in sweep["space"].items() if key != "experiment"}
        assert load_experiment(REPO / name, keys).work_dir == f"work_dirs/{Path(name).stem}"


def test_there_are_experiments():
    assert len(EXPERIMENTS) >= 1
