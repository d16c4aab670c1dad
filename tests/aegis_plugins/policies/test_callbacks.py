"""IterationCallback under SB3's own PPO.learn: an event after every PPO update, and one at the end of a run that
no callback stopped; ProgressCallback: a live bar in env steps on a terminal only."""
import contextlib
import fcntl
import os
import pty
import struct
import sys
import termios
import threading

from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from aegis_plugins.policies.callbacks import IterationCallback
from aegis_plugins.policies.rl_runner import RLRunner
from aegis_plugins.policies.vec_env import build_vec_env


class _Record(IterationCallback):
    def __init__(self):
        super().__init__()
        self.events = []

    def _on_update_end(self):
        self.events.append(("update", self.model.num_timesteps, self.model._n_updates))

    def _on_run_end(self):
        self.events.append(("end", self.model.num_timesteps))


class _StopAt(BaseCallback):
    def __init__(self, steps):
        super().__init__()
        self.steps = steps

    def _on_step(self):
        return self.num_timesteps < self.steps


def _ppo():
    envs = build_vec_env(dict(type="GymnasiumEnv", id="CartPole-v1", max_episode_steps=8), n_envs=2, seed=0)
    return PPO("MlpPolicy", envs, n_steps=4, batch_size=8, n_epochs=1, seed=0, verbose=0)


def test_an_event_after_every_update_and_at_the_end():
    record = _Record()
    _ppo().learn(24, callback=record)
    # 3 rollouts of 8 steps; n_updates counts epochs, 1 per update: each event comes after its update
    assert record.events == [("update", 8, 1), ("update", 16, 2), ("update", 24, 3), ("end", 24)]


def test_no_run_end_when_a_callback_stops_learn_inside_a_rollout():
    record = _Record()
    _ppo().learn(64, callback=CallbackList([record, _StopAt(20)]))
    assert record.events == [("update", 8, 1), ("update", 16, 2)]  # stopped at step 20, in the third rollout


# --- ProgressCallback: a live bar in env steps on a terminal, nothing elsewhere ------------------------------------
@contextlib.contextmanager
def _on_a_terminal(shown: list):
    """sys.stdout and sys.stderr on a pseudo-terminal inside the block; what it showed is appended to ``shown``."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    stream = os.fdopen(slave, "w", buffering=1, encoding="utf-8")
    chunks = []

    def read():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO once the terminal's other end is closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = stream
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        from aegis.engine.progress import close_all

        close_all()
        stream.close()
        reader.join(timeout=5)
        os.close(master)
        shown.append(b"".join(chunks).decode("utf-8", "replace"))


def test_an_rl_run_on_a_terminal_draws_env_steps_with_the_episode_return(tiny_rl_cfg, monkeypatch):
    monkeypatch.delenv("AEGIS_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    shown = []
    with _on_a_terminal(shown):
        RLRunner.from_cfg(tiny_rl_cfg(total_timesteps=32)).train()
    lines = [line for line in shown[0].replace("\r", "\n").split("\n") if "━" in line]
    assert lines, shown[0][-2000:]
    final = lines[-1]
    assert "RL " in final and "32/32" in final and "steps" in final and "iter 2/2" in final, final
    assert "return" in final, final


def test_an_rl_run_without_a_terminal_shows_no_bar(tiny_rl_cfg, capfd, monkeypatch):
    monkeypatch.delenv("AEGIS_PROGRESS", raising=False)
    RLRunner.from_cfg(tiny_rl_cfg(total_timesteps=32)).train()
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert "━" not in output and "\r" not in output and "\x1b[" not in output and "32/32 steps" not in output
