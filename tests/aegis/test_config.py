"""aegis/config.py: an override of a top-level key that nothing reads is an error naming the keys that would work;
keys read through ${...}, by the runner or by AEGIS's run contract stay overridable."""
import pytest

from helpers import ASSETS

from aegis.config import load_experiment, read_top_level_keys
from aegis.errors import ConfigError

# A file variable feeding two places by value, as the experiments' schedules did before they read ${max_epochs}.
VARIABLE = f"""_base_ = ["{ASSETS / 'toy_experiment.py'}"]
max_epochs = 12
train_cfg = dict(by_epoch=True, max_epochs=max_epochs)
param_scheduler = [dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=4),
                   dict(type="CosineAnnealingLR", T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs)]
data = dict(num_samples=24)
train_dataloader = dict(dataset=dict(num_samples=data["num_samples"]))
"""
# The same, read through references: one key drives both places.
REFERENCED = VARIABLE.replace("max_epochs=max_epochs)", 'max_epochs="${max_epochs}")').replace(
    "end=max_epochs)", 'end="${max_epochs}")')


def _write(tmp_path, text: str):
    path = tmp_path / "experiment.py"
    path.write_text(text)
    return path


def test_an_override_nothing_reads_names_the_keys_that_would_work(tmp_path):
    path = _write(tmp_path, VARIABLE)
    with pytest.raises(ConfigError, match=r"override max_epochs=20: nothing reads the top-level key 'max_epochs'") as err:
        load_experiment(path, {"max_epochs": 20})
    assert ("Override where it went instead (keys with its name or value): train_cfg.max_epochs=20 "
            "param_scheduler.1.T_max=20 param_scheduler.1.end=20\n") in str(err.value)
    with pytest.raises(ConfigError, match=r"value\): train_dataloader\.dataset\.num_samples=8\n"):
        load_experiment(path, {"data.num_samples": 8})  # a nested key of a variable: found by its name


def test_the_suggested_overrides_work(tmp_path):
    cfg = load_experiment(_write(tmp_path, VARIABLE), {"train_cfg.max_epochs": 20, "param_scheduler.1.end": 20})
    assert cfg.train_cfg.max_epochs == 20 and cfg.param_scheduler[1].end == 20


def test_a_key_read_through_a_reference_moves_every_place_that_reads_it(tmp_path):
    cfg = load_experiment(_write(tmp_path, REFERENCED), {"max_epochs": 20})
    assert cfg.train_cfg.max_epochs == 20 and cfg.param_scheduler[1].end == 20


def test_runner_and_run_contract_keys_stay_overridable(tmp_path):
    path = _write(tmp_path, VARIABLE)
    cfg = load_experiment(path, {"randomness.seed": 7, "log_level": "WARNING", "default_hooks.logger.interval": 2,
                                 "load_from": None, "upstream": {}})
    assert cfg.randomness.seed == 7 and cfg.log_level == "WARNING" and cfg.default_hooks.logger.interval == 2
    read = read_top_level_keys(cfg)
    assert {"model", "train_cfg", "visualizer", "randomness", "upstream", "runner_type"} <= read
    assert not {"max_epochs", "data", "vis_backends"} & read  # file variables: read while the file ran only


def test_an_unknown_top_level_key_is_still_refused_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError, match=r"has no top-level key 'max_epoch'. Did you mean 'max_epochs'"):
        load_experiment(_write(tmp_path, VARIABLE), {"max_epoch": 20})


def test_a_missing_relative_experiment_names_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=rf"Relative paths resolve against the working directory, here {tmp_path}"):
        load_experiment("experiments/vlm_tiny_cpu.py")
