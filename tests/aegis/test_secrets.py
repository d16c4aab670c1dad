"""aegis/secrets.py through a real run: an API key planted in the environment, in the experiment file and on the
command line appears in no file the run writes (logs, resolved configs, checkpoints, TensorBoard events, result.json)
and not in what it prints."""
import os
import subprocess
import sys

from helpers import ASSETS, REPO

from aegis.secrets import REDACTED, is_secret_key, redact

ENV_KEY = "sk-planted-env-0123456789abcdef"
FILE_KEY = "sk-planted-file-0123456789abcdef"
CLI_KEY = "sk-planted-cli-0123456789abcdef"


def test_a_planted_key_is_in_no_output_file(tmp_path):
    experiment = tmp_path / "with_keys.py"
    experiment.write_text(
        f'_base_ = ["{ASSETS / "toy_experiment_val.py"}"]\n'
        "# an unused top-level component that holds a key, as a captioner config would\n"
        f'captioner = dict(type="OpenAIChatCaptioner", base_url="http://127.0.0.1:9", api_key="{FILE_KEY}")\n'
        f'note = "a description that quotes the key {FILE_KEY} by mistake"\n'
        'hub = dict(hf_token="placeholder-000000")\n'
        'hub_note = "uses the hub token ${hub.hf_token}"\n')  # read, so overriding hub.hf_token is allowed
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ASSETS), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", OPENAI_API_KEY=ENV_KEY, WANDB_API_KEY=ENV_KEY[::-1])
    work = tmp_path / "work"
    run = subprocess.run([sys.executable, str(REPO / "tools" / "run.py"), str(experiment), "--work-dir", str(work),
                          f"hub.hf_token={CLI_KEY}", "train_cfg.max_epochs=1"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    files = [p for p in work.rglob("*") if p.is_file()]
    assert any(p.suffix == ".pth" for p in files) and any(p.name == "result.json" for p in files)
    assert any(".tfevents." in p.name for p in files) and any(p.suffix == ".log" for p in files)
    for secret in (ENV_KEY, ENV_KEY[::-1], FILE_KEY, CLI_KEY):
        leaks = [str(p) for p in files if secret.encode() in p.read_bytes()]
        assert leaks == [], f"{secret} found in {leaks}"
        assert secret not in run.stdout + run.stderr
    assert REDACTED in (work / "config.py").read_text()  # the key's place is kept, its value is not


def test_secret_names_and_redaction_keep_everything_else():
    assert is_secret_key("OPENAI_API_KEY") and is_secret_key("model.llm.hf_token") and is_secret_key("password")
    assert not is_secret_key("eos_token") and not is_secret_key("max_new_tokens") and not is_secret_key("tokenizer")
    data = {"llm": {"api_key": "sk-abcdefgh", "name": "x"}, "notes": ["uses sk-abcdefgh"], "lr": 1e-4}
    assert redact(data) == {"llm": {"api_key": REDACTED, "name": "x"}, "notes": [f"uses {REDACTED}"], "lr": 1e-4}
