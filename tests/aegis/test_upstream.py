"""aegis/upstream.py through tools/run.py: a run that needs another run's output names the command that builds it,
builds it with --with-upstream, shares identical upstream runs (same resolved config) and gives changed ones a
folder of their own; two runs needing the same missing upstream build it once."""
import json
import os
import subprocess
import sys

from helpers import ASSETS, REPO, run_tool

DOWNSTREAM = str(ASSETS / "toy_downstream.py")


def _built(output: str) -> int:
    return output.count("Building upstream.base")


def test_a_missing_upstream_is_a_config_error_naming_the_command(tmp_path):
    result = run_tool(DOWNSTREAM, "--work-dir", str(tmp_path / "down"), "--upstream-root", str(tmp_path / "up"))
    assert result.returncode == 2
    assert "upstream.base: no finished run of" in result.stderr
    assert (f"python tools/run.py {ASSETS / 'toy_experiment_val.py'} --work-dir {tmp_path / 'up' / 'toy_experiment_val'}"
            f" --with-upstream --upstream-root {tmp_path / 'up'} learning_rate=0.05") in result.stderr
    assert not (tmp_path / "up").exists()


def test_upstream_is_built_once_shared_and_rebuilt_only_for_a_changed_config(tmp_path):
    root = tmp_path / "up"
    first = run_tool(DOWNSTREAM, "--work-dir", str(tmp_path / "a"), "--upstream-root", str(root), "--with-upstream")
    assert first.returncode == 0, first.stderr[-3000:]
    assert _built(first.stdout) == 1
    upstream = json.loads((root / "toy_experiment_val" / "result.json").read_text())
    assert upstream["status"] == "finished" and upstream["overrides"] == {"learning_rate": 0.05}
    assert f"Load checkpoint from {root / 'toy_experiment_val' / 'epoch_3.pth'}" in first.stdout + first.stderr

    second = run_tool(DOWNSTREAM, "--work-dir", str(tmp_path / "b"), "--upstream-root", str(root), "--with-upstream",
                      "randomness.seed=1")  # a different downstream, the same upstream
    assert second.returncode == 0, second.stderr[-3000:]
    assert _built(second.stdout) == 0

    changed = run_tool(DOWNSTREAM, "--work-dir", str(tmp_path / "c"), "--upstream-root", str(root),
                       "--with-upstream", "upstream.base.overrides.learning_rate=0.02")
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert _built(changed.stdout) == 1
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert len(folders) == 2 and folders[0] == "toy_experiment_val" and folders[1].startswith("toy_experiment_val-")
    rebuilt = json.loads((root / folders[1] / "result.json").read_text())
    assert rebuilt["overrides"] == {"learning_rate": 0.02} and rebuilt["config_hash"].startswith(folders[1][-10:])


def test_two_runs_needing_the_same_missing_upstream_build_it_once(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ASSETS), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    runs = [subprocess.Popen([sys.executable, str(REPO / "tools" / "run.py"), DOWNSTREAM, "--work-dir",
                              str(tmp_path / name), "--upstream-root", str(tmp_path / "up"), "--with-upstream"],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in ("a", "b")]
    outputs = [run.communicate(timeout=240) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    assert sum(_built(out) for out, _ in outputs) == 1
    progress = (tmp_path / "up" / "toy_experiment_val" / "progress.jsonl").read_text().splitlines()
    assert len(progress) == 4  # three validations and the final line: trained once


def test_a_run_still_in_progress_is_not_taken_for_a_finished_legacy_run(tmp_path):
    """A work dir with a checkpoint but no result.json is a finished run from before result.json existed only if it
    has no config.py either: today's runs write config.py when they start, result.json when they end."""
    from mmengine.config import Config

    from aegis import plugins
    from aegis.upstream import resolve_upstream

    plugins.load()
    root = tmp_path / "up"
    plain = root / "toy_experiment_val"
    plain.mkdir(parents=True)
    (plain / "last_checkpoint").write_text(str(plain / "epoch_1.pth"))

    def built() -> bool:
        cfg = Config(dict(upstream=dict(base=dict(experiment="toy_experiment_val.py"))))
        resolve_upstream(cfg, ASSETS / "toy_downstream.py", root)
        return cfg.upstream.base.built

    assert built()  # legacy: checkpoint, no result.json, no config.py
    (plain / "config.py").write_text("model = dict()\n")
    assert not built()  # started by today's code and not finished: no result.json yet
