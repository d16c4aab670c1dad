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
