"""make demo's closing summary: the printed results beside their controls and one figure of all three phases, drawn
from work dirs laid out as the demo's runs leave them (real files, written here; no demo is run)."""
import json
import os
import sys

import pytest

from aegis.demo import Curve, CurvePanel, Phase, Result, constant_answer_accuracy, draw_summary, summary_lines

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools"))

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

METRICS = {
    "work_dirs/vjepa_pretrain_tiny": {"probe/pretrained_acc": 0.9, "probe/random_init_acc": 0.8,
                                      "probe/pixels_acc": 0.85},
    "work_dirs/vjepa_pretrain_tiny_flow": {"probe/pretrained_acc": 0.7, "probe/random_init_acc": 0.4,
                                           "probe/pixels_acc": 0.3, "probe/margin_over_random": 0.3,
                                           "probe/margin_ci95": 0.05},
    "work_dirs/lm_pretrain_tiny": {},
    "work_dirs/vlm_tiny_cpu": {"test/disaster/type_acc": 1.0, "test/disaster/dynamics_acc": 0.8,
                               "test/caption/bleu4": 0.889, "test/caption/cider": 3.01},
    "work_dirs/rl_disaster_ppo": {"eval/success_rate": 0.95, "eval/random_success_rate": 0.1},
}


def _write_run(root, work_dir, metrics, scalars):
    """A run's metrics.json and mmengine's <timestamp>/vis_data/scalars.json, as tools/run.py leaves them."""
    vis = root / work_dir / "20261130_000000" / "vis_data"
    vis.mkdir(parents=True)
    (vis / "scalars.json").write_text("".join(json.dumps(line) + "\n" for line in scalars))
    (root / work_dir / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def demo_tree(tmp_path, monkeypatch):
    """The demo's work dirs and the synthetic set's captions.json, each with a few logged steps, as the cwd."""
    for work_dir, metrics in METRICS.items():
        if "rl_" in work_dir:
            scalars = [{"train/ep_return": 0.5 * i, "train/success_rate": 0.2 * i, "step": 512 * i} for i in (1, 2, 3)]
            scalars.append({"eval/success_rate": 0.95, "step": 1536})
        else:
            scalars = [{"train/loss": 1.0 / i, "train/lr": 0.001, "step": 10 * i} for i in (1, 2, 3, 4)]
        _write_run(tmp_path, work_dir, metrics, scalars)
    entries = [dict(split="test", class_name=name, speed=speed)
               for name, speed in (("flood", "fast"), ("flood", "slow"), ("fire", "fast"), ("smoke", "fast"))]
    entries.append(dict(split="train", class_name="smoke", speed="slow"))
    (tmp_path / "data" / "synthetic_disaster").mkdir(parents=True)
    (tmp_path / "data" / "synthetic_disaster" / "captions.json").write_text(json.dumps(entries))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_demo_ends_with_one_png_of_all_three_phases_named_on_the_last_line(demo_tree, capsys):
    import demo

    demo.summarize([("Phase 1: pretrain", 60.0), ("Phase 3: PPO", 120.0)], figure="work_dirs/demo_summary.png")
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].endswith(": work_dirs/demo_summary.png")
    data = (demo_tree / "work_dirs" / "demo_summary.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 20_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # the IHDR chunk
    assert (width, height) == (1500, 1170)  # 3 columns of 5 in, 3 phases of 3.9 in, at 100 dpi
    printed = "\n".join(lines)
    assert "Phase 1 (observe), flow scenes, pretrained encoder" in printed and "0.700" in printed
    assert "Phase 3 (act), random policy" in printed and "0.100" in printed
    assert "total 3.0 min" in printed
    # phase 2's control, one alert for every test video: the commonest class is 2 of 4, the commonest speed 3 of 4
    row = next(line for line in lines if "fast / slow, one alert for all" in line)
    assert row.split()[-1] == "0.750"


def test_every_panel_shows_the_runs_curves_and_results_beside_controls(demo_tree):
    import demo

    figure = draw_summary(demo.phases())
    rows = figure.subfigs
    assert [row._suptitle.get_text().split(":")[0] for row in rows] == [
        "Phase 1 (observe)", "Phase 2 (describe)", "Phase 3 (act)"]
    disaster_loss = rows[0].axes[0].lines[0]
    assert list(disaster_loss.get_xdata()) == [10, 20, 30, 40] and disaster_loss.get_ydata()[-1] == 0.25
    success = rows[2].axes[1]
    assert [line.get_label() for line in success.lines] == ["training rollouts", "evaluation"]
    probe = rows[0].axes[-1]
    heights = [round(patch.get_height(), 3) for patch in probe.patches]
    assert heights == [0.9, 0.8, 0.85, 0.7, 0.4, 0.3]
    assert [bool(patch.get_hatch()) for patch in probe.patches] == [False, True, True] * 2  # controls hatched
    assert "flow margin over random 0.3, 95% half-width 0.05" in probe.get_title()
    captioner = rows[1].axes[-1]
    assert [round(p.get_height(), 3) for p in captioner.patches] == [1.0, 0.5, 0.8, 0.75]
    assert "BLEU-4 0.889, CIDEr 3.01" in captioner.get_title()


def test_runs_that_have_not_written_yet_are_named_not_fatal(tmp_path):
    phase = Phase("Phase 9: nothing ran", [CurvePanel("loss", [Curve(str(tmp_path / "none"), "train/loss", "loss")])],
                  [Result("trained", str(tmp_path / "none"), "eval/acc"), Result("chance", value=0.5, control=True)],
                  "accuracy")
    figure = draw_summary([phase])
    curves, results = figure.subfigs[0].axes
    assert "not logged yet" in curves.texts[0].get_text() and not curves.lines
    assert [p.get_height() for p in results.patches] == [0.5]
    assert "trained" in results.texts[-1].get_text() and "no eval/acc" in results.texts[-1].get_text()
    assert summary_lines([phase]) == [f"  {'Phase 9, chance':<62} 0.500"]


def test_constant_answer_accuracy_is_the_commonest_value_share_of_the_split(demo_tree):
    captions = demo_tree / "data" / "synthetic_disaster" / "captions.json"
    assert constant_answer_accuracy(captions, "test", "class_name") == 0.5
    assert constant_answer_accuracy(captions, "train", "speed") == 1.0
    assert constant_answer_accuracy(captions, "val", "speed") is None
    assert constant_answer_accuracy(demo_tree / "missing.json", "test", "speed") is None
