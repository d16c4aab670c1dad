"""aegis/sweep/report.py and report_plots.py on fixture sweeps: a real Optuna study and work dirs written here."""
import csv
import json
import math
from pathlib import Path

import matplotlib.image
import optuna
import pytest

from aegis.errors import ConfigError
from aegis.sweep.report import format_table, load_results, load_scalars, t_interval, write_report

LR, NQ = "learning_rate", "model.connector.num_query_tokens"
SPACE = {LR: [0.01, 0.1], NQ: [4, 8]}
DISTS = {LR: optuna.distributions.CategoricalDistribution([0.01, 0.1]),
         NQ: optuna.distributions.CategoricalDistribution([4, 8])}
ALL_PLOTS = {"heatmap", "metric_vs_params", "parallel_coordinates", "learning_curves", "best_so_far"}


def _work_dir(root: Path, name: str, curve: list[float], status: str = "finished", sessions: int = 1) -> str:
    """A run's work dir: result.json and scalars.json (split over `sessions` timestamp dirs, as after a resume)."""
    work_dir = root / name
    lines = [{"train/loss": 10.0 / step, "step": step} for step in range(1, len(curve) + 1)]
    lines += [{"val/mse": value, "step": step} for step, value in enumerate(curve, 1)]
    lines.sort(key=lambda line: line["step"])
    cut = len(lines) // sessions
    for session in range(sessions):
        vis = work_dir / f"2026113{session}_120000" / "vis_data"
        vis.mkdir(parents=True)
        chunk = lines[session * cut:] if session == sessions - 1 else lines[session * cut:(session + 1) * cut]
        (vis / "scalars.json").write_text("".join(json.dumps(line) + "\n" for line in chunk))
    metrics = {"val/mse": {"final": curve[-1], "final_step": len(curve), "best": min(curve),
                           "best_step": curve.index(min(curve)) + 1, "mode": "min"},
               "train/loss": {"final": 10.0 / len(curve), "final_step": len(curve), "best": 10.0 / len(curve),
                              "best_step": len(curve), "mode": "min"}}
    (work_dir / "result.json").write_text(json.dumps({"status": status, "metrics": metrics, "work_dir": str(work_dir)}))
    return str(work_dir)


def _run(seed: int, value, work_dir: str, status: str = "finished", exit_code=0) -> dict:
    return {"seed": seed, "work_dir": work_dir, "exit_code": exit_code, "status": status, "value": value,
            "wall_time_s": 5.0 + seed, "log": f"{work_dir}/run.log"}


def _make_sweep(root: Path, storage: str | None = None, direction: str = "minimize") -> Path:
    """A 2×2 grid over learning_rate × num_query_tokens, seeds 0 and 1; trial numbers and their content:

    0 (0.01, 4) interrupted by a dead worker, re-run as 1 (0.01, 4) complete, seeds 1.0 and 1.2 (the base point)
    2 (0.01, 8) complete, seeds 0.8 and 0.9 (seed 1 resumed: two timestamp dirs)
    3 (0.1, 4)  failed, both seeds exit code 1
    4 (0.1, 8)  pruned after two reports
    5 (0.01, 8) a duplicate with a value that would be the best: must be ignored
    """
    sweep_dir = root / "sweeps" / "grid"
    sweep_dir.mkdir(parents=True)
    storage = storage or f"sqlite:///{sweep_dir / 'study.db'}"
    spec = {"name": "grid", "storage": storage, "experiment": "tests/aegis/assets/toy_experiment_val.py",
            "metric": "val/mse", "direction": direction, "space": SPACE, "seeds": [0, 1],
            "cfg_options": {"train_cfg.max_epochs": 3}, "sampler": "grid", "pruner": "median"}
    (sweep_dir / "sweep.json").write_text(json.dumps(spec))
    trials_dir = sweep_dir / "trials"
    url = storage if "://" in storage else optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(storage))
    study = optuna.create_study(study_name="grid", storage=url, direction=direction)

    def add(state, params, value=None, runs=(), intermediate=None, **attrs):
        study.add_trial(optuna.trial.create_trial(
            state=state, params=params, distributions={k: DISTS[k] for k in params}, value=value,
            intermediate_values=intermediate or {}, user_attrs={"runs": list(runs), **attrs}))

    S = optuna.trial.TrialState
    add(S.FAIL, {LR: 0.01, NQ: 4}, interrupted=True,
        runs=[_run(0, None, str(trials_dir / "t0_s0"), status="killed", exit_code=None)])
    add(S.COMPLETE, {LR: 0.01, NQ: 4}, 1.1, [_run(0, 1.0, _work_dir(trials_dir, "t1_s0", [3.0, 2.0, 1.0])),
                                              _run(1, 1.2, _work_dir(trials_dir, "t1_s1", [3.2, 2.2, 1.2]))])
    resumed = _work_dir(trials_dir, "t2_s1", [2.1, 1.1, 0.9], sessions=2)
    add(S.COMPLETE, {LR: 0.01, NQ: 8}, 0.85, [_run(0, 0.8, _work_dir(trials_dir, "t2_s0", [2.0, 1.0, 0.8])),
                                               _run(1, 0.9, resumed)])
    add(S.FAIL, {LR: 0.1, NQ: 4}, runs=[_run(0, None, str(trials_dir / "t3_s0"), "failed", 1),
                                        _run(1, None, str(trials_dir / "t3_s1"), "failed", 1)])
    add(S.PRUNED, {LR: 0.1, NQ: 8}, intermediate={1: 5.0, 2: 4.5},
        runs=[_run(0, None, _work_dir(trials_dir, "t4_s0", [5.0, 4.5], status="pruned"), "pruned", 0)])
    add(S.COMPLETE, {LR: 0.01, NQ: 8}, 0.01, [_run(0, 0.01, str(trials_dir / "t5_s0"))], duplicate=True)
    return sweep_dir


@pytest.fixture
def sweep_dir(tmp_path):
    return _make_sweep(tmp_path)


def _summary_rows(text: str) -> list[list[str]]:
    """The rows of the 'All points' table in summary.md, cells stripped, header and rule left out."""
    table = text.split("## All points")[1].split("##")[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.splitlines()
            if line.startswith("|")]
    return rows[2:]


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    height, width = matplotlib.image.imread(path).shape[:2]
    assert height > 100 and width > 100, (path, height, width)


def test_t_interval_uses_student_t_not_normal():
    mean, half = t_interval([1.0, 1.2])
    assert mean == pytest.approx(1.1)
    assert half == pytest.approx(12.706 * 0.1 * math.sqrt(2) / math.sqrt(2))  # t(1) * stdev / sqrt(n)
    assert t_interval([1.0, 2.0, 3.0, 4.0])[1] == pytest.approx(3.182 * 1.2909944 / 2, rel=1e-6)
    assert t_interval([5.0]) == (5.0, None)
    assert t_interval([0.0, 1.0] * 100)[1] == pytest.approx(1.96 * 0.50125 / math.sqrt(200), rel=1e-3)


def test_results_csv_has_one_row_per_seed_run_and_skips_interrupted_and_duplicate(sweep_dir):
    write_report(sweep_dir)
    with open(sweep_dir / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["trial"], r["seed"]) for r in rows] == [("1", "0"), ("1", "1"), ("2", "0"), ("2", "1"), ("3", "0"),
                                                       ("3", "1"), ("4", "0")]
    assert list(rows[0])[:4] == ["trial", "seed", LR, NQ]
    assert {"val/mse", "trial_value", "final:val/mse", "final:train/loss", "status", "exit_code", "wall_time_s",
            "work_dir", "log"} <= set(rows[0])
    second = rows[1]
    assert (float(second[LR]), int(second[NQ]), float(second["val/mse"]), float(second["trial_value"])) == (
        0.01, 4, 1.2, 1.1)
    assert float(second["final:val/mse"]) == 1.2 and float(second["final:train/loss"]) == pytest.approx(10 / 3)
    assert second["wall_time_s"] == "6.0" and second["work_dir"].endswith("t1_s1") and second["status"] == "finished"
    failed = rows[4]
    assert (failed["trial_state"], failed["status"], failed["exit_code"], failed["val/mse"]) == (
        "fail", "failed", "1", "")


def test_summary_ranks_points_with_t_intervals_deltas_and_counts(sweep_dir):
    text = write_report(sweep_dir)["summary.md"].read_text()
    assert "2 complete, 1 pruned, 1 failed" in text
    assert "1 interrupted or duplicate" not in text and "2 interrupted or duplicate trials left out" in text
    rows = _summary_rows(text)
    # rank, trial, lr, nq, mean ± CI, seeds, delta, status
    assert [r[1] for r in rows] == ["2", "1", "3", "4"]  # best first (minimize), then unscored by number
    best, base = rows[0], rows[1]
    assert best[:4] == ["1", "2", "0.01", "8"]
    assert best[4] == f"0.85 ± {12.706 * 0.05:.2g}" and base[4] == f"1.1 ± {12.706 * 0.1:.2g}"
    assert best[5] == "2/2" and best[6] == "-0.25 (-22.7%)" and base[6] == "base"
    assert rows[2][4] == "—" and rows[2][7] == "fail" and rows[3][7] == "pruned"
    assert "tensorboard --logdir" in text and str(sweep_dir) in text


def test_summary_best_point_is_a_pasteable_run_command(sweep_dir):
    text = write_report(sweep_dir)["summary.md"].read_text()
    command = text.split("```bash\n")[1].split("\n```")[0]
    assert command == ("python tools/run.py tests/aegis/assets/toy_experiment_val.py train_cfg.max_epochs=3 "
                       "learning_rate=0.01 model.connector.num_query_tokens=8 randomness.seed=0")


def test_base_selection_moves_the_deltas(sweep_dir):
    results = load_results(sweep_dir)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in format_table(results, {NQ: "8"}).splitlines()]
    by_trial = {r[1]: r for r in rows[2:]}
    assert by_trial["2"][6] == "base" and by_trial["1"][6] == "+0.25 (+29.4%)"
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in format_table(results, {LR: "1e-2"}).splitlines()]
    assert {r[1]: r[6] for r in rows[2:]}["1"] == "base"  # the other key at its first value, 4; "1e-2" == 0.01
    with pytest.raises(ConfigError, match="'lr' is not a swept key"):
        format_table(results, {"lr": "0.1"})
    with pytest.raises(ConfigError, match="no finished trial"):
        format_table(results, {LR: "0.1"})


def test_maximize_ranks_the_largest_first(tmp_path):
    rows = _summary_rows(write_report(_make_sweep(tmp_path, direction="maximize"))["summary.md"].read_text())
    assert [r[1] for r in rows[:2]] == ["1", "2"]


def test_plots_for_two_swept_keys_include_the_heatmap(sweep_dir):
    written = write_report(sweep_dir)
    plots = {name for name in written if name not in ("results.csv", "summary.md")}
    assert plots == ALL_PLOTS
    assert sorted(p.name for p in (sweep_dir / "plots").iterdir()) == sorted(f"{n}.png" for n in ALL_PLOTS)
    for name in ALL_PLOTS:
        _assert_png(written[name])
    assert "plots/heatmap.png" in written["summary.md"].read_text()


def test_one_swept_key_has_no_heatmap_and_stale_one_is_removed(tmp_path):
    sweep_dir = tmp_path / "sweeps" / "lr"
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "plots").mkdir()
    (sweep_dir / "plots" / "heatmap.png").write_bytes(b"stale")
    storage = f"sqlite:///{sweep_dir / 'study.db'}"
    (sweep_dir / "sweep.json").write_text(json.dumps({"name": "lr", "storage": storage, "experiment": "x.py",
                                                      "metric": "val/mse", "direction": "minimize",
                                                      "space": {LR: [0.01, 0.1]}, "seeds": [0]}))
    study = optuna.create_study(study_name="lr", storage=storage)
    for lr, value in ((0.01, 2.0), (0.1, 1.0)):
        study.add_trial(optuna.trial.create_trial(params={LR: lr}, distributions={LR: DISTS[LR]}, value=value,
                                                  intermediate_values={1: value + 1, 2: value}))
    written = write_report(sweep_dir)
    assert "heatmap" not in written and not (sweep_dir / "plots" / "heatmap.png").exists()
    assert {"metric_vs_params", "learning_curves", "best_so_far", "parallel_coordinates"} <= set(written)
    _assert_png(written["learning_curves"])  # drawn from the intermediate values: the trials have no runs
    rows = _summary_rows(written["summary.md"].read_text())
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows] == [("1", "0.1", "1", "1/1", "-1 (-50.0%)"),
                                                          ("0", "0.01", "2", "1/1", "base")]


def test_no_finished_trial_is_said_and_draws_nothing(tmp_path):
    sweep_dir = tmp_path / "sweeps" / "empty"
    sweep_dir.mkdir(parents=True)
    storage = str(sweep_dir / "study.log")  # a journal file path, not a URL
    (sweep_dir / "sweep.json").write_text(json.dumps({"name": "empty", "storage": storage, "experiment": "x.py",
                                                      "metric": "val/mse", "direction": "minimize",
                                                      "space": SPACE, "seeds": [0]}))
    study = optuna.create_study(study_name="empty", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(storage)))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params={LR: 0.1, NQ: 4},
                                              distributions=DISTS))
    written = write_report(sweep_dir)
    text = written["summary.md"].read_text()
    assert "No trial has finished yet" in text and "0 complete, 0 pruned, 1 failed" in text
    assert set(written) == {"results.csv", "summary.md"} and not list((sweep_dir / "plots").iterdir())


def test_journal_storage_and_resumed_scalars_merge(tmp_path):
    sweep_dir = _make_sweep(tmp_path, storage=str(tmp_path / "grid.journal"))
    results = load_results(sweep_dir)
    assert [t.number for t in results.trials] == [1, 2, 3, 4] and results.excluded == 2
    resumed = load_scalars(sweep_dir / "trials" / "t2_s1")
    assert [line["val/mse"] for line in resumed if "val/mse" in line] == [2.1, 1.1, 0.9]
    assert len(list((sweep_dir / "trials" / "t2_s1").glob("*/vis_data/scalars.json"))) == 2


def test_missing_sweep_json_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no readable sweep.json"):
        write_report(tmp_path)


def test_report_of_two_real_runs_reads_their_result_json_and_scalars(tmp_path):
    from helpers import run_tool  # tests/aegis/helpers.py: tools/run.py with the toy components importable

    sweep_dir = tmp_path / "sweeps" / "real"
    sweep_dir.mkdir(parents=True)
    storage = f"sqlite:///{sweep_dir / 'study.db'}"
    (sweep_dir / "sweep.json").write_text(json.dumps({
        "name": "real", "storage": storage, "experiment": "tests/aegis/assets/toy_experiment_val.py",
        "metric": "val/mse", "direction": "minimize", "space": {LR: [0.05, 0.2]}, "seeds": [0]}))
    study = optuna.create_study(study_name="real", storage=storage)
    finals = {}
    for number, lr in enumerate((0.05, 0.2)):
        work_dir = sweep_dir / "trials" / f"t{number}"
        done = run_tool("tests/aegis/assets/toy_experiment_val.py", "--work-dir", str(work_dir), f"{LR}={lr}")
        assert done.returncode == 0, done.stderr[-2000:]
        finals[number] = json.loads((work_dir / "result.json").read_text())["metrics"]["val/mse"]["final"]
        run = _run(0, finals[number], str(work_dir))
        dists = {LR: optuna.distributions.CategoricalDistribution([0.05, 0.2])}
        study.add_trial(optuna.trial.create_trial(params={LR: lr}, distributions=dists, value=finals[number],
                                                  user_attrs={"runs": [run]}))  # no intermediate values
    written = write_report(sweep_dir)
    with open(written["results.csv"]) as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["final:val/mse"]) for r in rows] == [finals[0], finals[1]]
    assert float(rows[0]["final:train/loss"]) > 0
    _assert_png(written["learning_curves"])  # only the runs' scalars.json can have drawn it
    curve = [line["val/mse"] for line in load_scalars(sweep_dir / "trials" / "t0") if "val/mse" in line]
    assert len(curve) == 3 and curve[-1] == pytest.approx(finals[0])
    best = min(finals, key=finals.get)
    assert _summary_rows(written["summary.md"].read_text())[0][1] == str(best)
