"""aegis.api: one run as a function for in-process drivers (Optuna, Ray Tune, Hydra): the result, the report
callback after every validation, pruning through it, validation without running, crashes recorded."""
import json
import shutil

import pytest

from helpers import ASSETS, REPO

from aegis import api
from aegis.errors import ConfigError

TOY = ASSETS / "toy_experiment_val.py"
DOWNSTREAM = ASSETS / "toy_downstream.py"  # needs a toy_experiment_val run (its upstream)


def test_train_returns_the_result_and_reports_after_every_validation(tmp_path):
    reports = []
    result = api.train(TOY, overrides={"learning_rate": 0.05}, work_dir=str(tmp_path),
                       report=lambda step, metrics: reports.append((step, metrics)))
    assert result["status"] == "finished" and result["overrides"] == {"learning_rate": 0.05}
    assert [step for step, _ in reports] == [8, 16, 24]
    assert [m["val/mse"] for _, m in reports][-1] == result["metrics"]["val/mse"]["final"]
    assert json.loads((tmp_path / "result.json").read_text())["config_hash"] == result["config_hash"]


def test_a_report_returning_true_prunes_the_run_there(tmp_path):
    result = api.train(TOY, work_dir=str(tmp_path), report=lambda step, metrics: step >= 16)
    assert result["status"] == "pruned" and result["exit_code"] == api.EXIT_STOPPED
    assert result["metrics"]["val/mse"]["final_step"] == 16
    assert (tmp_path / "epoch_2.pth").exists() and not (tmp_path / "epoch_3.pth").exists()
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "pruned"


def test_check_validates_without_running(tmp_path):
    cfg = api.check(TOY, {"learning_rate": 0.1}, work_dir=str(tmp_path))
    assert cfg.optim_wrapper.optimizer.lr == 0.1 and not any(tmp_path.iterdir())
    with pytest.raises(ConfigError, match="ToyRegressor got unknown argument 'in_featurs'. Did you mean 'in_features'"):
        api.check(TOY, {"model.in_featurs": 3})


def test_a_crash_is_raised_after_result_json_records_it(tmp_path):
    with pytest.raises(RuntimeError):
        api.train(TOY, overrides={"model.in_features": 3}, work_dir=str(tmp_path))
    recorded = json.loads((tmp_path / "result.json").read_text())
    assert recorded["status"] == "failed" and "RuntimeError" in recorded["error"]


def test_a_config_error_is_reported_before_a_missing_upstream(tmp_path):
    with pytest.raises(ConfigError, match="ToyRegressor got unknown argument 'in_featurs'"):
        api.train(DOWNSTREAM, overrides={"model.in_featurs": 3}, upstream_root=str(tmp_path / "up"))
    with pytest.raises(ConfigError, match="needs runs that have not been built"):
        api.train(DOWNSTREAM, upstream_root=str(tmp_path / "up"))


def test_a_relative_upstream_root_names_the_working_directory_and_where_the_run_is(tmp_path, monkeypatch):
    repo = tmp_path / "repo"  # a checkout: the toy experiments and the _base_ fragments they inherit
    shutil.copytree(ASSETS, repo / "tests" / "aegis" / "assets", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "experiments").symlink_to(REPO / "experiments")
    (repo / "work_dirs" / "toy_experiment_val").mkdir(parents=True)  # where a run from the repo writes it
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(ConfigError) as err:
        api.train(repo / "tests" / "aegis" / "assets" / "toy_downstream.py")
    message = str(err.value)
    assert "upstream.base: no finished run of" in message
    assert (f"Relative paths resolve against the working directory, here {elsewhere}; "
            f"{repo / 'work_dirs'}") in message and f"exists: run from {repo} or give an absolute path." in message


def test_a_missing_file_that_a_missing_upstream_run_writes_is_reported_as_that_run(tmp_path):
    experiment = tmp_path / "needs_weights.py"
    experiment.write_text(f'_base_ = ["{DOWNSTREAM}"]\n'
                          f'upstream = dict(base=dict(experiment="{ASSETS / "toy_experiment_val.py"}"))\n'
                          'encoder = dict(type="VJEPAEncoder", checkpoint="${upstream.base.work_dir}/epoch_3.pth")\n')
    with pytest.raises(ConfigError, match="needs runs that have not been built") as err:
        api.train(experiment, upstream_root=str(tmp_path / "up"))
    assert "does not exist" not in str(err.value)  # not the checkpoint's own error: the run that writes it
