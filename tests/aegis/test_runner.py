"""aegis/run_setup.py, aegis/engine/runner.py and aegis/engine/optim.py, through tools/run.py: training, metrics.json,
TensorBoard, resume, corrupt checkpoints, dry runs, bf16 autocast without a GPU and two-process CPU training."""
import glob
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from helpers import ASSETS, REPO, run_tool

TOY = str(ASSETS / "toy_experiment.py")


def _params(path):
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """One uninterrupted deterministic 3-epoch toy run, shared by the tests below."""
    work = tmp_path_factory.mktemp("full")
    result = run_tool(TOY, "--work-dir", str(work), "--deterministic", "--seed", "0")
    assert result.returncode == 0, result.stderr[-3000:]
    return work


def test_run_writes_checkpoints_metrics_and_tensorboard_events(full_run):
    assert sorted(os.path.basename(p) for p in glob.glob(str(full_run / "epoch_*.pth"))) == \
        ["epoch_1.pth", "epoch_2.pth", "epoch_3.pth"]
    metrics = json.loads((full_run / "metrics.json").read_text())
    assert metrics["epoch"] == 3 and metrics["iter"] == 24
    assert metrics["train/loss"] < 5.0  # y = x.[1,2,3,4] has variance 30: the regressor learned
    assert glob.glob(str(full_run / "*" / "vis_data" / "events.out.tfevents.*")), "no TensorBoard event file"


def test_every_checkpoint_loads_with_weights_only(full_run):
    checkpoint = torch.load(full_run / "epoch_3.pth", weights_only=True)
    assert {"meta", "state_dict", "message_hub", "optimizer", "param_schedulers"} <= set(checkpoint)


def test_resume_after_interruption_matches_an_uninterrupted_run(full_run, tmp_path):
    interrupted = run_tool(str(ASSETS / "toy_experiment_interrupted.py"), "--work-dir", str(tmp_path),
                           "--deterministic", "--seed", "0")
    assert interrupted.returncode == 0, interrupted.stderr[-3000:]
    assert not (tmp_path / "epoch_3.pth").exists()
    resumed = run_tool(TOY, "--work-dir", str(tmp_path), "--resume", "--deterministic", "--seed", "0")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed epoch: 2, iter: 16" in resumed.stdout + resumed.stderr
    expected, got = _params(full_run / "epoch_3.pth"), _params(tmp_path / "epoch_3.pth")
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=1e-6)


def test_resume_auto_skips_a_truncated_checkpoint(full_run, tmp_path):
    for name in ("epoch_1.pth", "epoch_2.pth", "epoch_3.pth"):
        shutil.copy(full_run / name, tmp_path / name)
    data = (tmp_path / "epoch_3.pth").read_bytes()
    (tmp_path / "epoch_3.pth").write_bytes(data[: len(data) // 2])
    (tmp_path / "last_checkpoint").write_text(str(tmp_path / "epoch_3.pth"))
    result = run_tool(TOY, "--work-dir", str(tmp_path), "--resume", "--cfg-options", "train_cfg.max_epochs=3")
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert f"{tmp_path / 'epoch_3.pth'}' is truncated or corrupt" in log
    assert "resumed epoch: 2, iter: 16" in log


def test_resume_from_an_explicit_corrupt_path_names_the_file(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    result = run_tool(TOY, "--work-dir", str(tmp_path / "w"), "--resume", str(bad))
    assert result.returncode != 0
    assert f"Checkpoint '{bad}' is truncated or corrupt" in result.stdout + result.stderr


def test_dry_run_builds_and_runs_one_iteration(tmp_path):
    result = run_tool(TOY, "--dry-run", "--work-dir", str(tmp_path))
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "Dry run finished" in log and "[1][2/8]" not in log
    assert json.loads((tmp_path / "metrics.json").read_text())["iter"] == 1


def test_cfg_options_override_nested_keys_and_print_config(tmp_path):
    result = run_tool(TOY, "--print-config", "--cfg-options", "model.in_features=7",
                      "train_dataloader.dataset.in_features=7", "optim_wrapper.optimizer.lr=0.5", "flag_list=[1,2]")
    assert result.returncode != 0 and "has no top-level key 'flag_list'" in result.stderr
    result = run_tool(TOY, "--print-config", "--cfg-options", "model.in_features=7", "optim_wrapper.optimizer.lr=0.5",
                      "train_cfg.max_epochs=2", "randomness.deterministic=True")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "in_features=7" in result.stdout and "lr=0.5" in result.stdout and "max_epochs=2" in result.stdout
    assert "work_dir = 'work_dirs/toy_experiment'" in result.stdout


def test_a_config_typo_fails_before_training_with_the_key(tmp_path):
    result = run_tool(TOY, "--work-dir", str(tmp_path), "--cfg-options", "model.in_featurs=4")
    assert result.returncode == 2
    assert "model: ToyRegressor got unknown argument 'in_featurs'. Did you mean 'in_features'?" in result.stderr
    assert not list(tmp_path.glob("*.pth"))


def test_amp_without_a_gpu_trains_under_bf16_autocast(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --amp picks AmpOptimWrapper")
    result = run_tool(TOY, "--work-dir", str(tmp_path), "--amp", "--cfg-options", "train_cfg.max_epochs=1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "BF16AutocastOptimWrapper" in result.stdout + result.stderr  # the dumped config names the wrapper
    state = torch.load(tmp_path / "epoch_1.pth", weights_only=True)
    assert all(v.dtype == torch.float32 for v in state["state_dict"].values())  # weights stay fp32


def test_bf16_optim_context_computes_in_bf16_and_keeps_fp32_gradients():
    from mmengine.optim import build_optim_wrapper

    from aegis import plugins
    from aegis.registry import OPTIM_WRAPPERS  # noqa: F401  (the scope the wrapper is registered in)

    plugins.load()
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    wrapper = build_optim_wrapper(model, dict(type="aegis.BF16AutocastOptimWrapper",
                                              optimizer=dict(type="SGD", lr=0.1)))
    x = torch.randn(3, 4)
    model(x).pow(2).mean().backward()  # the fp32 reference gradient, without autocast
    expected = model.weight.grad.clone()
    model.zero_grad(set_to_none=True)
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(x)
    assert out.dtype == torch.bfloat16
    wrapper.backward(out.float().pow(2).mean())  # backward only: update_params would zero the gradients again
    grad = model.weight.grad
    assert grad is not None and grad.dtype == torch.float32  # the bf16 matmul's gradient lands in the fp32 weight
    assert grad.abs().sum() > 0
    torch.testing.assert_close(grad, expected, rtol=0.05, atol=0.02)  # the same gradient, up to bf16 rounding
    assert not torch.equal(grad, expected)  # ... which shows it was computed in bf16
    wrapper.step()
    assert model.weight.dtype == torch.float32
    torch.testing.assert_close(model.weight, before - 0.1 * grad)  # SGD used that gradient


def test_two_processes_train_on_cpu_with_torchrun(tmp_path):
    result = run_tool("--nproc_per_node=2", "--master_port=29631", str(REPO / "tools" / "run.py"), TOY,
                      "--launcher", "pytorch", "--work-dir", str(tmp_path), "--cfg-options", "train_cfg.max_epochs=1",
                      module="torch.distributed.run", timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert (tmp_path / "epoch_1.pth").exists()  # rank 0 wrote it
    # with 2 ranks each sees half of the 32 samples: 4 iterations of batch 4 per epoch
    assert json.loads((tmp_path / "metrics.json").read_text())["iter"] == 4


def test_a_bare_collate_function_name_resolves_in_aegis_functions():
    from mmengine.registry import DefaultScope

    from aegis.engine import AegisRunner

    DefaultScope.get_instance("collate_test", scope_name="aegis")
    loader = AegisRunner.build_dataloader(dict(
        batch_size=2, num_workers=0, dataset=dict(type="ToyRegressionDataset", num_samples=4),
        sampler=dict(type="DefaultSampler", shuffle=False), collate_fn=dict(type="video_collate")))
    batch = next(iter(loader))
    assert batch["inputs"].shape == (2, 4)  # stacked by aegis's video_collate, not mmengine's pseudo_collate
    assert isinstance(batch["data_samples"], list) and len(batch["data_samples"]) == 2


def test_a_reference_follows_its_key_through_overrides(tmp_path):
    experiment = tmp_path / "ref.py"
    experiment.write_text(f'_base_ = ["{TOY}"]\n'
                          'data = dict(samples=32)\n'
                          'train_dataloader = dict(dataset=dict(num_samples="${data.samples}"))\n')
    result = run_tool(str(experiment), "--print-config", "--cfg-options", "data.samples=12")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "num_samples=12" in result.stdout
    experiment.write_text(f'_base_ = ["{TOY}"]\ntrain_dataloader = dict(dataset=dict(num_samples="${{data.n}}"))\n')
    result = run_tool(str(experiment), "--print-config")
    assert result.returncode == 2 and "refers to ${data.n}, but the config has no key 'data.n'" in result.stderr


def test_a_non_finite_loss_stops_the_run_as_diverged_without_saving(tmp_path):
    result = run_tool(str(ASSETS / "toy_experiment_val.py"), "--work-dir", str(tmp_path), "learning_rate=1e20")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("RunDiverged: Diverged at iteration 2 (epoch 1): loss=inf; learning rate 1e+20.")
    assert not list(tmp_path.glob("*.pth"))
    recorded = json.loads((tmp_path / "result.json").read_text())
    assert recorded["status"] == "diverged" and recorded["exit_code"] == 1 and "loss=inf" in recorded["error"]


def test_divergence_after_a_good_epoch_keeps_that_checkpoint_and_names_it(tmp_path):
    # epoch 1 trains normally; then the scheduler multiplies the learning rate by 1e21
    result = run_tool(str(ASSETS / "toy_experiment_val.py"), "--work-dir", str(tmp_path),
                      "param_scheduler=[{'type': 'MultiStepLR', 'milestones': [1], 'gamma': 1e21, 'by_epoch': True}]")
    assert result.returncode == 1, result.stderr[-3000:]
    assert f"the last good checkpoint is {tmp_path / 'epoch_1.pth'}" in result.stderr
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["epoch_1.pth"]
    state = _params(tmp_path / "epoch_1.pth")
    assert all(torch.isfinite(v).all() for v in state.values())


def test_weights_that_are_not_finite_are_never_saved():
    from aegis.engine import RunDiverged
    from aegis.engine.divergence import check_finite_state

    check_finite_state({"w": torch.ones(2)}, "the checkpoint")
    with pytest.raises(RunDiverged, match="weight 'w' is not finite; the last good checkpoint stays"):
        check_finite_state({"b": torch.zeros(1), "w": torch.tensor([1.0, float("nan")])}, "the checkpoint")


def test_skip_mode_skips_non_finite_steps_counts_them_and_trains_on(tmp_path):
    experiment = tmp_path / "poisoned.py"
    experiment.write_text(f'_base_ = ["{ASSETS / "toy_experiment_val.py"}"]\n'
                          "train_dataloader = dict(dataset=dict(nan_index=5))  # one sample of 32 is NaN\n"
                          'custom_hooks = [dict(type="DivergenceHook", action="skip", max_skips=5)]\n')
    result = run_tool(str(experiment), "--work-dir", str(tmp_path / "skip"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (result.stdout + result.stderr).count("Skipped the optimizer step of iteration") == 3  # once an epoch
    recorded = json.loads((tmp_path / "skip" / "result.json").read_text())
    assert recorded["status"] == "finished" and recorded["metrics"]["train/skipped_steps"]["final"] == 3
    assert all(torch.isfinite(v).all() for v in _params(tmp_path / "skip" / "epoch_3.pth").values())
    stopped = run_tool(str(experiment), "--work-dir", str(tmp_path / "stop"), "custom_hooks=[]")  # the default: stop
    assert stopped.returncode == 1 and "RunDiverged: Diverged at iteration" in stopped.stderr
    strict = run_tool(str(experiment), "--work-dir", str(tmp_path / "strict"),
                      "custom_hooks=[{'type': 'DivergenceHook', 'action': 'skip', 'max_skips': 2}]")
    assert strict.returncode == 1 and "3 optimizer steps skipped for non-finite gradients" in strict.stderr


def _cfg_dict(cfg) -> dict:
    return {k: v for k, v in cfg.to_dict().items() if k != "launcher"}  # apply_run_options always sets launcher


def test_on_cuda_the_train_loader_pins_memory_and_the_preprocessor_copies_without_blocking(tmp_path):
    from aegis.build import build_component, validate
    from aegis.config import load_experiment
    from aegis.registry import MODELS
    from aegis.run_setup import cuda_data_path

    experiment = REPO / "experiments" / "vjepa_pretrain_tiny.py"
    cfg = cuda_data_path(load_experiment(experiment, work_dir=str(tmp_path)))
    assert cfg.train_dataloader.pin_memory is True
    assert cfg.model.data_preprocessor == dict(type="BaseDataPreprocessor", non_blocking=True)
    validate(cfg)
    assert build_component(cfg.model.to_dict(), MODELS).data_preprocessor._non_blocking is True

    chosen = load_experiment(experiment, work_dir=str(tmp_path))  # what the experiment sets stays
    chosen.train_dataloader.pin_memory = False
    chosen.model.data_preprocessor = dict(type="BaseDataPreprocessor", non_blocking=False)
    cuda_data_path(chosen)
    assert chosen.train_dataloader.pin_memory is False and chosen.model.data_preprocessor.non_blocking is False

    top_level = load_experiment(experiment, work_dir=str(tmp_path))  # mmengine's Runner merges it into the model
    top_level.data_preprocessor = dict(type="BaseDataPreprocessor")
    cuda_data_path(top_level)
    assert top_level.data_preprocessor.non_blocking is True and "data_preprocessor" not in top_level.model

    toy = cuda_data_path(load_experiment(TOY, work_dir=str(tmp_path)))
    assert toy.train_dataloader.pin_memory is True
    assert "data_preprocessor" not in toy.model  # ToyRegressor takes no data_preprocessor: left alone
    validate(toy)


def test_a_cuda_runner_gets_the_data_path_and_amp_fp16_while_the_config_and_its_hash_stay(tmp_path):
    from aegis.config import config_hash, load_experiment
    from aegis.run_setup import apply_run_options, build_runner

    experiment = REPO / "experiments" / "vjepa_pretrain_tiny.py"
    cfg = apply_run_options(load_experiment(experiment, work_dir=str(tmp_path)), amp=True, cuda=True)
    assert (cfg.optim_wrapper.type, cfg.optim_wrapper.loss_scale) == ("AmpOptimWrapper", "dynamic")  # fp16 + scaler
    cfg.optim_wrapper = load_experiment(experiment).optim_wrapper  # mmengine's AmpOptimWrapper needs a real GPU
    before, digest = _cfg_dict(cfg), config_hash(cfg)
    runner = build_runner(cfg, cuda=True)
    assert runner.model.data_preprocessor._non_blocking is True
    assert runner.cfg.train_dataloader.pin_memory is True
    assert _cfg_dict(cfg) == before and config_hash(cfg) == digest  # upstream lookups match on every device


def test_on_cpu_the_data_path_is_left_as_the_experiment_has_it(tmp_path):
    from aegis.config import load_experiment
    from aegis.run_setup import apply_run_options, build_runner

    experiment = REPO / "experiments" / "vjepa_pretrain_tiny.py"
    before = _cfg_dict(load_experiment(experiment, work_dir=str(tmp_path)))
    assert "pin_memory" not in before["train_dataloader"] and "data_preprocessor" not in before["model"]
    cfg = apply_run_options(load_experiment(experiment, work_dir=str(tmp_path)), cuda=False)
    runner = build_runner(cfg, cuda=False)
    assert "pin_memory" not in runner.cfg.train_dataloader and runner.model.data_preprocessor._non_blocking is False
    assert _cfg_dict(cfg) == before
    if not torch.cuda.is_available():  # the default decision is torch's: no CUDA device here, so the CPU path
        runner = build_runner(load_experiment(experiment, work_dir=str(tmp_path)))
        assert "pin_memory" not in runner.cfg.train_dataloader


def test_compute_threads_auto_leaves_a_cpu_per_loader_worker_and_bad_values_are_named(tmp_path):
    from aegis.config import load_experiment
    from aegis.errors import ConfigError
    from aegis.run_setup import compute_threads

    cfg = load_experiment(REPO / "experiments" / "vjepa_pretrain_tiny.py", work_dir=str(tmp_path))
    assert cfg.compute_threads == "auto" and cfg.train_dataloader.num_workers == 1
    default = torch.get_num_threads()
    assert compute_threads(cfg) == max(1, min(default, os.cpu_count() - 1))
    cfg.train_dataloader.num_workers = 64
    assert compute_threads(cfg) == 1
    cfg.compute_threads = 3
    assert compute_threads(cfg) == 3
    cfg.compute_threads = None
    assert compute_threads(cfg) is None
    for bad in (0, "all", True):
        cfg.compute_threads = bad
        with pytest.raises(ConfigError, match=r"compute_threads=.*expected None .*'auto'"):
            compute_threads(cfg)


def test_a_run_trains_with_its_compute_threads_and_gives_the_count_back(tmp_path):
    from aegis.api import run_experiment
    from aegis.config import load_experiment
    from aegis.run_setup import run

    before = torch.get_num_threads()
    threads = 1 if before > 1 else 2
    cfg = load_experiment(TOY, work_dir=str(tmp_path / "dry"))
    cfg.compute_threads, cfg.experiment_name = threads, "threads_dry"  # runners of one second share a logger else
    cfg._work_dir_given = True  # keep the dry run's work dir (and its log)
    run(cfg, dry_run=True)
    cfg = load_experiment(TOY, work_dir=str(tmp_path / "full"))
    cfg.compute_threads, cfg.train_cfg.max_epochs, cfg.experiment_name = threads, 1, "threads_full"
    result, error = run_experiment(cfg, experiment=TOY, overrides={})
    assert error is None and result["status"] == "finished"
    assert torch.get_num_threads() == before
    for folder in ("dry", "full"):  # the dry run and the training run both train with them
        log = "".join(open(p).read() for p in glob.glob(str(tmp_path / folder / "*" / "*.log")))
        assert f"compute_threads={threads}: {threads} torch threads" in log, folder
