"""aegis compare: two real runs side by side: the metrics table with differences, the config keys that differ,
and one PNG of their curves."""
import pytest
from PIL import Image

from helpers import ASSETS, run_tool

from aegis.compare import compare_runs
from aegis.errors import ConfigError


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    for name, lr in (("slow_lr", 0.01), ("fast_lr", 0.05)):
        result = run_tool(str(ASSETS / "toy_experiment_val.py"), "--work-dir", str(root / name),
                          f"learning_rate={lr}", "train_cfg.max_epochs=2")
        assert result.returncode == 0, result.stderr[-2000:]
    return root


def test_compare_prints_metrics_with_differences_and_the_differing_config_keys(two_runs, tmp_path):
    text = compare_runs([str(two_runs / "slow_lr"), str(two_runs / "fast_lr")], tmp_path / "curves.png")
    assert "| metric | slow_lr | fast_lr |" in text
    row = next(line for line in text.splitlines() if line.startswith("| val/mse (min)"))
    assert row.count("best") == 2 and ", Δ " in row
    assert "  learning_rate: 0.01 | 0.05" in text and "  optim_wrapper.optimizer.lr: 0.01 | 0.05" in text
    assert "work_dir" not in text.split("Config keys that differ:")[1]  # where a run wrote is not a difference
    with Image.open(tmp_path / "curves.png") as image:
        assert image.width > 400 and image.height > 200


def test_compare_needs_two_runs_with_result_json(two_runs, tmp_path):
    with pytest.raises(ConfigError, match="at least two run dirs"):
        compare_runs([str(two_runs / "slow_lr")])
    with pytest.raises(ConfigError, match="no result.json"):
        compare_runs([str(two_runs / "slow_lr"), str(tmp_path)])


def test_draw_curve_plots_only_the_lines_that_logged_the_key():
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from aegis.compare import draw_curve

    ax = Figure().add_subplot()
    scalars = [{"train/loss": 0.9, "step": 10}, {"train/lr": 0.1, "step": 20}, {"train/loss": 0.5, "step": 30}]
    assert draw_curve(ax, scalars, "train/loss", "run a") == 2
    assert list(ax.lines[0].get_xdata()) == [10, 30] and list(ax.lines[0].get_ydata()) == [0.9, 0.5]
    assert ax.lines[0].get_label() == "run a"
    assert draw_curve(ax, scalars, "val/acc", "run a") == 0 and len(ax.lines) == 1


def test_an_rl_runs_curves_show_return_success_and_length_before_one_off_end_scores(tmp_path):
    """curves.png's panels: an RL run's training curves (return, success rate, episode length against env steps)
    come before the end-of-run evaluation scores, which are single points."""
    import json

    from aegis.compare import _curve_keys

    vis = tmp_path / "20260101_000000" / "vis_data"
    vis.mkdir(parents=True)
    lines = [dict(step=512 * i, **{"train/ep_return": 0.1 * i, "train/success_rate": 0.2 * i,
                                   "train/ep_length": 18.0 - i, "train/approx_kl": 0.01})
             for i in range(1, 5)]
    lines.append({"step": 2048, "eval/success_rate": 1.0, "eval/random_success_rate": 0.25, "eval/spl": 0.9})
    (vis / "scalars.json").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    keys = _curve_keys([dict(name="rl", path=tmp_path)], 4, ("train/ep_length",))
    assert keys == ["train/ep_return", "train/success_rate", "train/ep_length", "train/approx_kl"]
