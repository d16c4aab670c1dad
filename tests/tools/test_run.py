"""tools/run.py as sweep tools drive it: the override forms W&B's agent emits (built with W&B's own command builder,
offline), values as literals, exit codes, result.json, and the training guide's sweep file against the guide's keys."""
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "tests" / "aegis" / "assets"
TOY = str(ASSETS / "toy_experiment_val.py")
GUIDE_SWEEP = REPO / "experiments" / "sweeps" / "vlm_guide_wandb.yaml"


def _run(command: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ASSETS), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _wandb_command(command_template: list[str], program: str, params: dict, json_dir: Path) -> list[str]:
    """What W&B's agent runs for one point of a sweep: its own builders, and its macro substitution
    (wandb_agent.Agent._command_run), with ${args_json_file} written where the agent writes it."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

    command = dict(program=program, args={key: dict(value=value) for key, value in params.items()})
    sweep_command = create_sweep_command(list(command_template))
    sweep_vars = create_sweep_command_args(command)
    json_file = json_dir / "config-run.json"
    json_file.write_text(sweep_vars["args_json"][0])
    sweep_vars.update(interpreter=[sys.executable], program=[program], args_json_file=[str(json_file)],
                      env=["/usr/bin/env"])
    argv = []
    for chunk in map(str, sweep_command):
        argv += sweep_vars.get(chunk[2:-1], []) if chunk.startswith("${") and chunk.endswith("}") else [chunk]
    return argv


def _guide_points():
    sweep = yaml.safe_load(GUIDE_SWEEP.read_text())
    names = list(sweep["parameters"])
    return sweep, [dict(zip(names, values))
                   for values in itertools.product(*(sweep["parameters"][n]["values"] for n in names))]


def test_the_guide_sweep_expands_to_16_commands_that_set_the_guide_keys(tmp_path):
    from aegis.config import load_experiment
    from aegis.overrides import parse_override_tokens

    sweep, points = _guide_points()
    assert sweep["method"] == "grid" and len(points) == 16
    seen = set()
    for point in points:
        argv = _wandb_command(sweep["command"], sweep["program"], point, tmp_path)
        assert argv[:4] == ["/usr/bin/env", sys.executable, "tools/run.py", "experiments/vlm_t4.py"]
        assert argv[4].startswith("--learning_rate=") and argv[5].startswith("--num_query_tokens=")
        cfg = load_experiment(REPO / argv[3], parse_override_tokens(argv[4:]))
        lr, queries = cfg.optim_wrapper.optimizer.lr, cfg.model.connector.num_query_tokens
        assert isinstance(lr, float) and lr == float(point["learning_rate"])  # YAML's "1e-5" string -> float
        assert isinstance(queries, int) and queries == point["num_query_tokens"]
        seen.add((lr, queries))
    assert len(seen) == 16


def test_a_guide_sweep_command_runs_against_tools_run(tmp_path):
    sweep, points = _guide_points()
    argv = _wandb_command(sweep["command"], sweep["program"], points[-1], tmp_path)
    result = _run(argv[1:] + ["--print-config"])  # the guide's recipe needs a T4 and Llama; its config is checked
    assert result.returncode == 0, result.stderr[-2000:]
    assert "num_query_tokens=64" in result.stdout and "lr=0.0005" in result.stdout


@pytest.mark.parametrize("template", [
    ["${env}", "${interpreter}", "${program}", TOY, "${args}"],
    ["${env}", "${interpreter}", "${program}", TOY, "--cfg-options", "${args_no_hyphens}"],
    ["${env}", "${interpreter}", "${program}", TOY, "${args_no_equals}"],
    ["${env}", "${interpreter}", "${program}", TOY, "${args_json_file}"],
], ids=["args", "args_no_hyphens", "args_no_equals", "args_json_file"])
def test_every_wandb_argument_form_trains_with_the_values_as_literals(template, tmp_path):
    params = {"learning_rate": 0.02, "train_cfg.max_epochs": 1, "model.in_features": 4}
    argv = _wandb_command(template, "tools/run.py", params, tmp_path)
    result = _run(argv[1:] + ["--work-dir", str(tmp_path / "run")])
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads((tmp_path / "run" / "result.json").read_text())
    assert run["status"] == "finished" and run["exit_code"] == 0
    assert run["overrides"] == params
    assert run["metrics"]["iter"]["final"] == 8  # one epoch, as overridden (an int, not the string "1")
    assert "val/mse" in run["metrics"] and run["metrics"]["val/mse"]["mode"] == "min"
    assert "lr = 0.02" in (tmp_path / "run" / "config.py").read_text().replace("lr=0.02", "lr = 0.02")


def test_result_json_records_best_and_final_with_steps_hash_versions_and_commit(tmp_path):
    result = _run([sys.executable, "tools/run.py", TOY, "--work-dir", str(tmp_path / "a"), "learning_rate=0.05"])
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads((tmp_path / "a" / "result.json").read_text())
    mse = run["metrics"]["val/mse"]
    assert mse["final_step"] == 24 and mse["best"] <= mse["final"] and mse["best_step"] in (8, 16, 24)
    progress = [json.loads(line) for line in (tmp_path / "a" / "progress.jsonl").read_text().splitlines()]
    assert [p["step"] for p in progress if not p.get("final")] == [8, 16, 24]  # one line per validation
    assert min(p["metrics"]["val/mse"] for p in progress) == mse["best"]
    assert run["versions"]["torch"] and run["versions"]["mmengine"] == "0.10.7"
    from PIL import Image
    with Image.open(tmp_path / "a" / "curves.png") as curves:  # loss, lr and val/mse panels, drawn at the end
        assert curves.width >= 1000 and curves.height >= 200
    assert run["git_commit"] is None or len(run["git_commit"].split("+")[0]) == 40
    again = _run([sys.executable, "tools/run.py", TOY, "--work-dir", str(tmp_path / "b"), "--learning_rate=0.05"])
    other = _run([sys.executable, "tools/run.py", TOY, "--work-dir", str(tmp_path / "c"), "learning_rate=0.04"])
    assert again.returncode == other.returncode == 0
    hashes = [json.loads((tmp_path / d / "result.json").read_text())["config_hash"] for d in "abc"]
    assert hashes[0] == hashes[1] != hashes[2]  # the work dir is not part of the config's identity


def test_exit_code_2_for_a_configuration_error_before_anything_runs(tmp_path):
    result = _run([sys.executable, "tools/run.py", TOY, "--work-dir", str(tmp_path), "--learning_rat=0.1"])
    assert result.returncode == 2
    assert "has no top-level key 'learning_rat'. Did you mean 'learning_rate'?" in result.stderr
    assert not (tmp_path / "result.json").exists() and not list(tmp_path.glob("*.pth"))
    result = _run([sys.executable, "tools/run.py", TOY, "--work-dir", str(tmp_path), "stray"])
    assert result.returncode == 2 and "unexpected argument 'stray'" in result.stderr


HEAVY = ("torch", "mmengine", "transformers", "peft", "stable_baselines3")


@pytest.mark.parametrize("call", ["runpy.run_path('tools/run.py', run_name='__main__')",
                                  "runpy.run_module('aegis.cli', run_name='__main__', alter_sys=True)"],
                         ids=["tools/run.py", "aegis run"])
def test_help_imports_nothing_heavy(call):
    argv = ["tools/run.py", "--help"] if "run_path" in call else ["aegis", "run", "--help"]
    probe = (f"import runpy, sys\nsys.argv = {argv!r}\ntry:\n    {call}\nexcept SystemExit:\n    pass\n"
             f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    result = _run([sys.executable, "-c", probe], timeout=60)
    assert "exit status: 0 finished, 1 crashed, 2 configuration error" in result.stdout, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_loading_the_plugins_imports_neither_transformers_nor_peft_and_adafactor_still_builds():
    probe = ("import sys\nfrom aegis import plugins\nplugins.load()\n"
             "print('LOADED', sorted(m for m in ('transformers', 'peft') if m in sys.modules))\n"
             "import torch\nfrom mmengine.registry import OPTIMIZERS\n"
             "opt = OPTIMIZERS.build(dict(type='Adafactor', params=[torch.nn.Parameter(torch.zeros(2))], lr=1e-3,\n"
             "                            relative_step=False, scale_parameter=False))\n"
             "print('BUILT', type(opt).__module__, type(opt).__name__)\n")
    result = _run([sys.executable, "-c", probe], timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert "LOADED []" in lines and "BUILT transformers.optimization Adafactor" in lines


def test_a_constructor_error_is_one_line_naming_the_path_with_exit_2(tmp_path):
    (tmp_path / "fussy_model.py").write_text(
        "from mmengine.model import BaseModel\n"
        "from aegis.hookspecs import hookimpl\n\n\n"
        "class FussyModel(BaseModel):\n"
        "    def __init__(self, num_query_tokens: int = 4) -> None:\n"
        "        super().__init__()\n"
        "        if num_query_tokens < 1:\n"
        "            raise ValueError(f'num_query_tokens must be >= 1, got {num_query_tokens}')\n\n"
        "    def forward(self, inputs, data_samples=None, mode='tensor'):\n"
        "        return inputs\n\n\n"
        "@hookimpl\n"
        "def aegis_register(registries):\n"
        "    registries.MODELS.register_module(module=FussyModel)\n")
    (tmp_path / "fussy.py").write_text(
        f'_base_ = ["{ASSETS / "toy_experiment.py"}"]\n'
        'custom_imports = dict(imports=["toy_components", "fussy_model"], allow_failed_imports=False)\n'
        'model = dict(_delete_=True, type="FussyModel", num_query_tokens=4)\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ASSETS)]), PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, "tools/run.py", str(tmp_path / "fussy.py"), "--work-dir",
                             str(tmp_path / "w"), "model.num_query_tokens=0"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "ConfigError: model: FussyModel rejected its arguments: ValueError: num_query_tokens must be >= 1, got 0"]
    assert result.stdout == ""  # no runner banner, no config dump before it
    assert not (tmp_path / "w" / "result.json").exists()


def test_exit_code_1_for_a_crash_with_the_failure_in_result_json(tmp_path):
    # a model narrower than its data validates (both are ints) and fails in the first forward pass
    result = _run([sys.executable, "tools/run.py", TOY, "--work-dir", str(tmp_path), "model.in_features=3"])
    assert result.returncode == 1, result.stderr[-2000:]
    run = json.loads((tmp_path / "result.json").read_text())
    assert run["status"] == "failed" and run["exit_code"] == 1 and "RuntimeError" in run["error"]


def test_sigterm_saves_a_checkpoint_and_exits_3_with_the_resume_command(tmp_path):
    result = _run([sys.executable, "tools/run.py", str(ASSETS / "toy_experiment_sigterm.py"), "--work-dir",
                   str(tmp_path), "learning_rate=0.03"])
    assert result.returncode == 3, result.stderr[-3000:]
    assert (tmp_path / "iter_12.pth").exists()
    assert (tmp_path / "last_checkpoint").read_text() == str(tmp_path / "iter_12.pth")
    run = json.loads((tmp_path / "result.json").read_text())
    assert run["status"] == "stopped" and run["exit_code"] == 3
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("Stopped by SIGTERM after iteration 12") and "--resume learning_rate=0.03" in last_line


def test_the_first_sigint_stops_at_the_next_iteration_like_sigterm(tmp_path):
    experiment = tmp_path / "sigint.py"
    experiment.write_text(f'_base_ = ["{ASSETS / "toy_experiment_val.py"}"]\n'
                          'custom_hooks = [dict(type="SignalAtIterHook", at_iter=5, signal="SIGINT")]\n')
    result = _run([sys.executable, "tools/run.py", str(experiment), "--work-dir", str(tmp_path / "w")])
    assert result.returncode == 3, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1].startswith("Stopped by SIGINT after iteration 5")
    assert (tmp_path / "w" / "iter_5.pth").exists() and "KeyboardInterrupt" not in result.stderr


def test_a_second_sigint_stops_at_once_without_saving(tmp_path):
    experiment = tmp_path / "sigint2.py"
    experiment.write_text(f'_base_ = ["{ASSETS / "toy_experiment_val.py"}"]\n'
                          'custom_hooks = [dict(type="SignalAtIterHook", at_iter=5, signal="SIGINT", times=2)]\n')
    result = _run([sys.executable, "tools/run.py", str(experiment), "--work-dir", str(tmp_path / "w")])
    assert result.returncode not in (0, 3) and "KeyboardInterrupt" in result.stderr
    assert not list((tmp_path / "w").glob("iter_*.pth"))  # no safe point was waited for
    assert json.loads((tmp_path / "w" / "result.json").read_text())["status"] == "failed"
