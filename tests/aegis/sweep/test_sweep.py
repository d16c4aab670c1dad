"""aegis sweep end to end: real Optuna storages (SQLite, journal) and real ``tools/run.py`` trials on the toy experiment.

Each trial takes ~5 s (mostly imports), so the sweeps here are 1-3 points of 1-3 epochs; the whole file runs in about
two minutes on two cores.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ASSETS, REPO

from aegis.sweep import cli as sweep_cli

TOY = str(ASSETS / "toy_experiment_val.py")
BASE = ["--experiment", TOY, "--metric", "val/mse"]
LR = "optim_wrapper.optimizer.lr"


def _env(extra: dict | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ASSETS), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    env.update(extra or {})
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "tools" / "sweep.py"), *args]


def sweep(cwd: Path, *args: str, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python tools/sweep.py ARGS`` in ``cwd``."""
    return subprocess.run(_command(*args), cwd=cwd, env=_env(env), capture_output=True, text=True, timeout=timeout)


def load_study(sweep_dir: Path):
    import optuna

    from aegis.sweep.study import open_storage

    spec = json.loads((sweep_dir / "sweep.json").read_text())
    return optuna.load_study(study_name=spec["name"], storage=open_storage(spec["storage"]))


def kept(study) -> list:
    """Trials a report counts: not left behind by a dead worker, not a duplicate."""
    return [t for t in study.trials if not (t.user_attrs.get("interrupted") or t.user_attrs.get("duplicate"))]


def starts(work_dir: Path) -> int:
    """How many times the sweep started a run in ``work_dir`` (one header line in trial.log per start)."""
    log = work_dir / "trial.log"
    return log.read_text().count("=== aegis sweep: trial") if log.is_file() else 0


def result(work_dir: Path) -> dict:
    return json.loads((work_dir / "result.json").read_text())


# --- validation --------------------------------------------------------------------------------------------------
def test_dry_run_validates_every_point_of_the_guide_grid_and_runs_none(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = sweep_cli.main([TOY, "--metric", "val/mse", "--grid", "learning_rate=1e-5,5e-5,1e-4,5e-4",
                           "--grid", "train_cfg.max_epochs=1,2,3,4", "--dry-run"])  # the guide's 4x4, in one line
    out = capsys.readouterr().out
    assert code == 0
    assert "Validated 16 point(s)" in out and "would run 16 trial(s)" in out
    assert list(tmp_path.iterdir()) == []  # no sweep dir, no study, no trial


def test_misspelt_key_fails_with_the_closest_key_before_anything_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = sweep_cli.main([*BASE, "--grid", "optim_wrapper.optimizer.lrr=1e-5,1e-4"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ConfigError: ") and "'optim_wrapper.optimizer.lr'" in err
    assert not (tmp_path / "sweeps").exists()


def test_a_bad_value_in_one_point_names_the_point(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = sweep_cli.main([*BASE, "--grid", "model.in_features=4,'four'"])
    err = capsys.readouterr().err
    assert code == 2
    assert "sweep point (model.in_features='four')" in err and "in_features" in err
    assert not (tmp_path / "sweeps").exists()


def test_grid_values_split_on_top_level_commas_only():
    from aegis.sweep.space import parse_grid_argument, trial_dir_name

    key, dim = parse_grid_argument("model.sizes=[1,2],[3,4],'a,b',1e-4")
    assert key == "model.sizes" and dim.values == [[1, 2], [3, 4], "a,b", 1e-4]
    assert trial_dir_name({LR: 1e-5, "num_query_tokens": 16}, seed=0) == "lr=1e-05_num_query_tokens=16_seed=0"
    odd = trial_dir_name({"model.sizes": [1, 2]})
    assert odd.startswith("sizes=-1--2-") and odd == trial_dir_name({"model.sizes": [1, 2]})


def test_sweep_file_with_an_experiment_ablation_validates_each_experiment(tmp_path, monkeypatch, capsys):
    sweep_file = tmp_path / "ablation.py"
    sweep_file.write_text(
        f"experiment = {TOY!r}\nmetric = 'val/mse'\nseeds = [0, 1]\n"
        f"space = dict(experiment=dict(grid=[{TOY!r}, {str(ASSETS / 'toy_experiment.py')!r}]),\n"
        f"             **{{'{LR}': dict(grid=[0.01, 0.1])}})\n"
        "cfg_options = dict(train_cfg=dict(max_epochs=1))\n")
    monkeypatch.chdir(tmp_path)
    assert sweep_cli.main([str(sweep_file), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Validated 4 point(s) of 2 experiment(s)" in out and "4 trial(s) x 2 seeds" in out
    spec = sweep_cli.build_spec(sweep_cli.build_parser().parse_args([str(sweep_file)]))
    assert spec.name == "ablation" and spec.cfg_options == {"train_cfg.max_epochs": 1}
    assert spec.overrides({"experiment": TOY, LR: 0.1}, seed=1) == (
        TOY, {"train_cfg.max_epochs": 1, LR: 0.1, "randomness.seed": 1})


def test_sweep_file_errors_name_the_file_and_key(tmp_path):
    from aegis.errors import ConfigError
    from aegis.sweep.space import load_sweep_file

    path = tmp_path / "bad_sweep.py"
    path.write_text(f"experiment = {TOY!r}\nmetric = 'val/mse'\nspace = dict(lr=dict(logunifrom=[1e-5, 1e-3]))\n")
    with pytest.raises(ConfigError, match=r"bad_sweep.py: space.lr: unknown kind 'logunifrom'.*'loguniform'"):
        load_sweep_file(path)
    path.write_text("metrik = 'val/mse'\n")
    with pytest.raises(ConfigError, match=r"unknown sweep file key 'metrik'. Did you mean 'metric'"):
        load_sweep_file(path)


# --- a small grid to the end, with one crashing point ---------------------------------------------------------------
@pytest.fixture(scope="module")
def small_grid(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("grid")
    run = sweep(cwd, *BASE, "--name", "grid", "--grid", f"{LR}=0.05,0.02,-1.0", "--cfg-options",
                "train_cfg.max_epochs=1")
    return cwd / "sweeps" / "grid", run


def test_small_grid_runs_every_point_and_records_the_metric(small_grid):
    sweep_dir, run = small_grid
    assert run.returncode == 0, run.stderr[-3000:]
    study = load_study(sweep_dir)
    complete = {t.params[LR]: t for t in study.trials if t.state.name == "COMPLETE"}
    assert sorted(complete) == [0.02, 0.05]
    for lr, trial in complete.items():
        work_dir = sweep_dir / "trials" / f"lr={lr}"
        res = result(work_dir)
        assert res["status"] == "finished" and res["overrides"][LR] == lr
        assert res["overrides"]["train_cfg.max_epochs"] == 1
        assert trial.value == pytest.approx(res["metrics"]["val/mse"]["final"])
        assert trial.user_attrs["runs"][0]["status"] == "finished"
    assert "[trial" in run.stdout and "3/3 done" in run.stdout
    spec = json.loads((sweep_dir / "sweep.json").read_text())
    assert spec["metric"] == "val/mse" and spec["space"][LR]["values"] == [0.05, 0.02, -1.0]


def test_a_crashing_trial_is_recorded_and_the_others_finish(small_grid):
    sweep_dir, run = small_grid
    study = load_study(sweep_dir)
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert [t.params[LR] for t in failed] == [-1.0]
    attrs = failed[0].user_attrs
    assert attrs["exit_code"] == 1 and not attrs.get("interrupted")
    log = sweep_dir / attrs["log"]
    assert log.is_file() and "Invalid learning rate" in log.read_text()
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == 2


def test_the_same_command_again_reruns_nothing_and_another_space_is_refused(small_grid):
    sweep_dir, _ = small_grid
    cwd = sweep_dir.parents[1]
    again = sweep(cwd, *BASE, "--name", "grid", "--grid", f"{LR}=0.05,0.02,-1.0", "--cfg-options",
                  "train_cfg.max_epochs=1", "--no-report")
    assert again.returncode == 0, again.stderr[-2000:]
    assert all(starts(d) == 1 for d in (sweep_dir / "trials").iterdir())
    assert len(load_study(sweep_dir).trials) == 3
    other = sweep(cwd, *BASE, "--name", "grid", "--grid", f"{LR}=0.05,0.03")
    assert other.returncode == 2 and "already exists in its storage with another definition" in other.stderr


# --- resume after kill -9 ----------------------------------------------------------------------------------------
def test_kill_9_mid_sweep_then_the_same_command_resumes(tmp_path):
    args = [*BASE, "--name", "killed", "--grid", f"{LR}=0.05,0.02", "--cfg-options", "train_cfg.max_epochs=30",
            "--no-report"]
    trials = tmp_path / "sweeps" / "killed" / "trials"
    process = subprocess.Popen(_command(*args), cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline, finished_dir, running_dir = time.time() + 200, None, None
    while time.time() < deadline and running_dir is None:
        time.sleep(0.1)
        dirs = sorted(trials.glob("*")) if trials.is_dir() else []
        done = [d for d in dirs if (d / "result.json").is_file()]
        going = [d for d in dirs if d not in done and (d / "progress.jsonl").is_file()
                 and (d / "progress.jsonl").read_text().count("\n") >= 2]
        if done and going:
            finished_dir, running_dir = done[0], going[0]
    assert running_dir is not None, "never saw one trial complete while another ran"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(3)  # the orphaned trial got SIGTERM from the kernel (PR_SET_PDEATHSIG): it saves and exits
    again = sweep(tmp_path, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert starts(finished_dir) == 1  # the complete trial was not run again
    assert starts(running_dir) == 2  # the interrupted one was started once more ...
    second = running_dir.joinpath("trial.log").read_text().split("=== aegis sweep: trial")[-1]
    assert "resum" in second.lower()  # ... from its checkpoint
    assert result(running_dir)["status"] == "finished"
    study = load_study(tmp_path / "sweeps" / "killed")
    assert sorted(t.state.name for t in kept(study)) == ["COMPLETE", "COMPLETE"]
    assert sorted(t.params[LR] for t in kept(study)) == [0.02, 0.05]
    assert sum(bool(t.user_attrs.get("interrupted")) for t in study.trials) == 1


# --- two workers, one journal ----------------------------------------------------------------------------------------
def test_two_workers_on_one_journal_run_every_point_once(tmp_path):
    journal = tmp_path / "shared" / "study.journal"
    args = [*BASE, "--name", "shared", "--grid", f"{LR}=0.05,0.04,0.03,0.02", "--cfg-options",
            "train_cfg.max_epochs=1", "--storage", str(journal), "--no-report"]
    workers = [subprocess.Popen(_command(*args), cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [o[1][-2000:] for o in outputs]
    trials = tmp_path / "sweeps" / "shared" / "trials"
    assert sorted(d.name for d in trials.iterdir()) == ["lr=0.02", "lr=0.03", "lr=0.04", "lr=0.05"]
    assert [starts(d) for d in sorted(trials.iterdir())] == [1, 1, 1, 1]
    study = load_study(tmp_path / "sweeps" / "shared")
    assert sorted(t.params[LR] for t in kept(study)) == [0.02, 0.03, 0.04, 0.05]
    assert all(t.state.name == "COMPLETE" for t in kept(study))
    assert sum(o[0].count("[trial") for o in outputs) == 4  # duplicates handed out in a race are not run or shown


# --- pruning -----------------------------------------------------------------------------------------------------
def test_median_pruner_prunes_the_clearly_bad_learning_rate(tmp_path):
    # GridSampler(seed=0) runs lr=0.05 first, then 1e-6 (which barely moves from the initial error)
    run = sweep(tmp_path, *BASE, "--name", "pruned", "--grid", f"{LR}=1e-6,0.05", "--pruner", "median",
                "--pruner-startup-trials", "1", "--cfg-options", "train_cfg.max_epochs=3", "--no-report")
    assert run.returncode == 0, run.stderr[-3000:]
    study = load_study(tmp_path / "sweeps" / "pruned")
    states = {t.params[LR]: t for t in study.trials}
    assert states[0.05].state.name == "COMPLETE"
    assert states[1e-6].state.name == "PRUNED"
    assert states[1e-6].user_attrs["runs"][0]["status"] == "pruned"
    assert min(states[1e-6].intermediate_values.values()) > max(states[0.05].intermediate_values.values())
    assert "1 pruned" in run.stdout


# --- seeds -------------------------------------------------------------------------------------------------------
def test_seeds_run_each_point_per_seed_and_tell_the_mean(tmp_path):
    run = sweep(tmp_path, *BASE, "--name", "seeds", "--grid", f"{LR}=0.05", "--seeds", "0,1",
                "--cfg-options", "train_cfg.max_epochs=1", "--no-report")
    assert run.returncode == 0, run.stderr[-3000:]
    sweep_dir = tmp_path / "sweeps" / "seeds"
    trial, = load_study(sweep_dir).trials
    runs = trial.user_attrs["runs"]
    assert [r["seed"] for r in runs] == [0, 1] and all(r["status"] == "finished" for r in runs)
    assert [r["work_dir"] for r in runs] == ["trials/lr=0.05_seed=0", "trials/lr=0.05_seed=1"]
    finals = [result(sweep_dir / r["work_dir"])["metrics"]["val/mse"]["final"] for r in runs]
    seeds = [result(sweep_dir / r["work_dir"])["overrides"]["randomness.seed"] for r in runs]
    assert seeds == [0, 1] and finals[0] != finals[1]
    assert trial.value == pytest.approx(sum(finals) / 2)


# --- Slurm -------------------------------------------------------------------------------------------------------
def test_slurm_submits_one_job_array_of_workers(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "sbatch"  # records what it was given, answers like sbatch
    fake.write_text(f"#!/bin/sh\ncp \"$1\" {tmp_path}/submitted.sh\necho 'Submitted batch job 4242'\n")
    fake.chmod(0o755)
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")  # submitit looks for srun to believe it is on Slurm
    (bin_dir / "srun").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    grid = ["--name", "slurm", "--grid", f"{LR}=0.05,0.02", "--executor", "slurm", "--workers", "3"]
    if shutil.which("srun") is None:
        no_slurm = sweep(tmp_path, *BASE, *grid, "--storage", "x.journal")
        assert no_slurm.returncode == 2 and no_slurm.stderr.startswith("ConfigError: --executor slurm")
    refused = sweep(tmp_path, *BASE, *grid, env=env)
    assert refused.returncode == 2 and "SQLite" in refused.stderr and not (tmp_path / "submitted.sh").exists()
    journal = tmp_path / "sweeps" / "slurm" / "study.journal"
    run = sweep(tmp_path, *BASE, *grid, "--storage", str(journal), "--gpus-per-node", "1", "--timeout-min", "30",
                "--partition", "gpu", "--parallel", "2", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Submitted 3 worker(s): job 4242" in run.stdout
    script = (tmp_path / "submitted.sh").read_text()
    for line in ("#SBATCH --array=0-2%3", "#SBATCH --gpus-per-node=1", "#SBATCH --time=30",
                 "#SBATCH --partition=gpu"):
        assert line in script
    assert "submitit.core._submit" in script
    pickled = sorted((tmp_path / "sweeps" / "slurm" / "slurm").glob("*_submitted.pkl"))
    assert len(pickled) == 3
    delayed = pickle.loads(pickled[0].read_bytes())
    spec, storage, sweep_dir, parallel, cwd = delayed.args
    assert delayed.function.__name__ == "run_worker" and storage == str(journal) and parallel == 2
    assert spec["space"][LR]["values"] == [0.05, 0.02] and Path(cwd) == tmp_path
    assert json.loads((tmp_path / "sweeps" / "slurm" / "sweep.json").read_text())["storage"] == str(journal)


# --- ablations across phases -------------------------------------------------------------------------------------
@pytest.mark.slow  # slow (about 45 s): upstream sharing itself is covered fast in tests/aegis/test_upstream.py
def test_a_cross_phase_ablation_builds_each_shared_upstream_run_once(tmp_path):
    """Vary the upstream run's learning rate x 2 seeds of the downstream run: 4 runs, 2 upstream builds."""
    downstream = str(ASSETS / "toy_downstream.py")
    run = sweep(tmp_path, downstream, "--metric", "train/loss", "--name", "cross", "--seeds", "0,1",
                "--grid", "upstream.base.overrides.learning_rate=0.05,0.02",
                "--base", "upstream.base.overrides.learning_rate=0.02")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    sweep_dir = tmp_path / "sweeps" / "cross"
    upstream = sorted(p for p in (sweep_dir / "upstream").iterdir() if p.is_dir())
    assert [p.name.split("-")[0] for p in upstream] == ["toy_experiment_val"] * 2
    for folder in upstream:  # each trained once: three validations and the final line
        assert len((folder / "progress.jsonl").read_text().splitlines()) == 4
    logs = "".join(p.read_text() for p in (sweep_dir / "trials").glob("*/trial.log"))
    assert logs.count("Building upstream.base") == 2 and logs.count("=== aegis sweep: trial") == 4
    assert logs.count("starting from load_from=") == 4  # each run starts from its upstream's weights
    trials = kept(load_study(sweep_dir))
    assert sorted(t.state.name for t in trials) == ["COMPLETE", "COMPLETE"]
    assert len({round(t.value, 6) for t in trials}) == 2  # different upstream weights, different results
    table = run.stdout[run.stdout.index("| rank"):]  # the ablation table, printed at the end
    assert "Δ vs base" in table and "| base " in table and "0.02" in table and "0.05" in table
    assert (sweep_dir / "summary.md").is_file() and (sweep_dir / "results.csv").is_file()


def test_parallel_trials_share_the_thread_budget(monkeypatch):
    from aegis.sweep.worker import trial_env

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert trial_env(1)["OMP_NUM_THREADS"] == str(os.cpu_count())
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    assert [trial_env(p)["OMP_NUM_THREADS"] for p in (1, 2, 3, 16)] == ["8", "4", "2", "1"]
    assert trial_env(2)["MKL_NUM_THREADS"] == "4"
