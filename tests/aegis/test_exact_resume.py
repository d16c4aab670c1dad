"""Exact resume (aegis/engine/loops.py, random_state.py, runner.py): a run stopped anywhere and resumed ends
bit-identical to an uninterrupted one, although training draws random numbers (dropout, a noise augmentation in the
main process or in dataloader workers) and validation draws more in between."""

import pytest
import torch

from helpers import ASSETS, run_tool

RANDOM = str(ASSETS / "toy_experiment_random.py")


def _params(path):
    return torch.load(path, weights_only=True)["state_dict"]


def _signalled(tmp_path, at_iter: int, signal: str, workers: int) -> str:
    experiment = tmp_path / f"signal_{signal}.py"
    experiment.write_text(f'_base_ = ["{RANDOM}"]\n'
                          f'custom_hooks = [dict(type="SignalAtIterHook", at_iter={at_iter}, signal="{signal}")]\n')
    return str(experiment)


@pytest.fixture(scope="module", params=[0, 1], ids=["main-process", "1-worker"])
def uninterrupted(request, tmp_path_factory):
    work = tmp_path_factory.mktemp(f"full{request.param}")
    result = run_tool(RANDOM, "--work-dir", str(work), f"train_dataloader.num_workers={request.param}")
    assert result.returncode == 0, result.stderr[-3000:]
    return request.param, _params(work / "epoch_3.pth")


def _assert_identical(got, expected):
    for key in expected:
        assert torch.equal(got[key], expected[key]), f"{key} differs by {(got[key] - expected[key]).abs().max()}"


def test_sigterm_inside_an_epoch_then_resume_is_bit_identical(uninterrupted, tmp_path):
    workers, expected = uninterrupted
    stopped = run_tool(_signalled(tmp_path, 12, "SIGTERM", workers), "--work-dir", str(tmp_path / "w"),
                       f"train_dataloader.num_workers={workers}")
    assert stopped.returncode == 3, stopped.stderr[-3000:]
    resumed = run_tool(RANDOM, "--work-dir", str(tmp_path / "w"), "--resume", f"train_dataloader.num_workers={workers}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "skipping the 4 batches already trained" in resumed.stdout + resumed.stderr
    _assert_identical(_params(tmp_path / "w" / "epoch_3.pth"), expected)


def test_sigkill_then_resume_from_the_epoch_checkpoint_is_bit_identical(uninterrupted, tmp_path):
    workers, expected = uninterrupted
    killed = run_tool(_signalled(tmp_path, 13, "SIGKILL", workers), "--work-dir", str(tmp_path / "w"),
                      f"train_dataloader.num_workers={workers}")
    assert killed.returncode == -9 and (tmp_path / "w" / "epoch_1.pth").exists()
    assert not (tmp_path / "w" / "result.json").exists()
    resumed = run_tool(RANDOM, "--work-dir", str(tmp_path / "w"), "--resume", f"train_dataloader.num_workers={workers}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed epoch: 1, iter: 8" in resumed.stdout + resumed.stderr
    _assert_identical(_params(tmp_path / "w" / "epoch_3.pth"), expected)


def test_without_the_random_states_the_same_resume_differs(uninterrupted, tmp_path):
    """The control: the test above would fail if checkpoints carried no random states."""
    workers, expected = uninterrupted
    if workers:
        pytest.skip("one control is enough")
    stopped = run_tool(_signalled(tmp_path, 12, "SIGTERM", workers), "--work-dir", str(tmp_path / "w"))
    assert stopped.returncode == 3
    checkpoint = torch.load(tmp_path / "w" / "iter_12.pth", weights_only=True)
    assert len(checkpoint["random_states"]) == 1 and set(checkpoint["random_states"][0]) >= {"torch", "numpy", "python"}
    checkpoint.pop("random_states"), checkpoint.pop("epoch_random_states")
    torch.save(checkpoint, tmp_path / "w" / "iter_12.pth")
    resumed = run_tool(RANDOM, "--work-dir", str(tmp_path / "w"), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    got = _params(tmp_path / "w" / "epoch_3.pth")
    assert any(not torch.equal(got[k], expected[k]) for k in expected)


def test_timed_checkpoints_inside_epochs_resume_exactly_after_sigkill(uninterrupted, tmp_path):
    workers, expected = uninterrupted
    if workers:
        pytest.skip("the main-process case covers the timed hook")
    experiment = tmp_path / "timed.py"
    experiment.write_text(f'_base_ = ["{RANDOM}"]\n'
                          'custom_hooks = [dict(type="TimedCheckpointHook", interval_minutes=1e-6),\n'
                          '                dict(type="SignalAtIterHook", at_iter=14, signal="SIGKILL")]\n')
    killed = run_tool(str(experiment), "--work-dir", str(tmp_path / "w"))
    assert killed.returncode == -9
    assert sorted(p.name for p in (tmp_path / "w").glob("*.pth")) == ["epoch_1.pth", "iter_13.pth"]  # newest kept
    assert (tmp_path / "w" / "last_checkpoint").read_text() == str(tmp_path / "w" / "iter_13.pth")
    resumed = run_tool(RANDOM, "--work-dir", str(tmp_path / "w"), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "skipping the 5 batches already trained" in resumed.stdout + resumed.stderr
    _assert_identical(_params(tmp_path / "w" / "epoch_3.pth"), expected)


@pytest.mark.slow  # slow (about 30 s, torchrun): the one-process exact-resume tests above run in make test
def test_two_processes_keep_one_random_state_each_and_resume_exactly(tmp_path):
    def torchrun(*args):
        return run_tool("--nproc_per_node=2", "--master_port=29643", str(ASSETS.parents[2] / "tools" / "run.py"),
                        *args, "--launcher", "pytorch", module="torch.distributed.run", timeout=300)

    full = torchrun(RANDOM, "--work-dir", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr[-3000:]
    stopped = torchrun(_signalled(tmp_path, 6, "SIGTERM", 0), "--work-dir", str(tmp_path / "cut"))
    assert stopped.returncode != 0  # each rank exits 3; torchrun reports the group as failed
    checkpoint = torch.load(tmp_path / "cut" / "iter_6.pth", weights_only=True)
    assert len(checkpoint["random_states"]) == 2 and len(checkpoint["epoch_random_states"]) == 2  # one per rank
    resumed = torchrun(RANDOM, "--work-dir", str(tmp_path / "cut"), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_identical(_params(tmp_path / "cut" / "epoch_3.pth"), _params(tmp_path / "full" / "epoch_3.pth"))
