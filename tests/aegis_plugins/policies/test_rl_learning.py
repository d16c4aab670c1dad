"""The learning check of the RL phase: PPO on the `easy` DisasterRescue preset beats a random policy (slow)."""
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_ppo_learns_the_easy_preset_within_ten_minutes(tmp_path):
    from aegis.config import load_experiment
    from aegis.engine import read_metrics_json
    from aegis.run_setup import run

    cfg = load_experiment(REPO / "experiments" / "rl_disaster_ppo.py", work_dir=str(tmp_path))
    start = time.perf_counter()
    run(cfg)
    elapsed = time.perf_counter() - start
    metrics = read_metrics_json(tmp_path)
    trained, random = metrics["eval/success_rate"], metrics["eval/random_success_rate"]
    assert metrics["eval/episodes"] == 200
    assert trained >= 0.6, metrics
    assert trained >= 2 * random, metrics
    assert elapsed <= 600, f"took {elapsed:.0f} s"
