"""aegis/engine/progress.py and the ProgressHook: a live bar on a terminal, nothing of it without one.

A run of the toy experiment through tools/run.py under a pipe must print the ordinary log lines and no bar artefact;
the same run under a pseudo-terminal must draw the bar (iterations done/total, loss, the last validation metric).
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest

from aegis.engine.progress import PROGRESS_ENV, ProgressBar, close_all, progress_stream, track
from helpers import ASSETS, REPO, run_tool

VAL_TOY = str(ASSETS / "toy_experiment_val.py")
BAR_GLYPHS = ("━", "╸", "╺", "%|", "█")


def _open_terminal(columns: int = 160) -> tuple[int, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    return master, slave


def _drain(master: int, chunks: list[bytes], until) -> None:
    """Read the terminal's output into ``chunks`` until ``until()`` and nothing more comes (or the slave closes)."""
    while True:
        ready, _, _ = select.select([master], [], [], 0.05)
        if not ready:
            if until():
                return
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every slave end is closed
            return
        if not data:
            return
        chunks.append(data)


def run_in_terminal(*args: str, env_extra: dict | None = None, timeout: float = 240) -> tuple[int, str]:
    """``python tools/run.py ARGS`` with stdout and stderr on a pseudo-terminal; (exit status, what it showed)."""
    master, slave = _open_terminal()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ASSETS), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", TERM="xterm-256color")
    env.pop(PROGRESS_ENV, None)
    env.update(env_extra or {})
    process = subprocess.Popen([sys.executable, str(REPO / "tools" / "run.py"), *args], cwd=REPO, env=env,
                               stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        _drain(master, chunks, lambda: process.poll() is not None or time.monotonic() > deadline)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    return process.wait(), b"".join(chunks).decode("utf-8", "replace")


class _Terminal:
    """sys.stdout and sys.stderr on one pseudo-terminal (in this process), read by a thread."""

    def __init__(self) -> None:
        self.master, slave = _open_terminal()
        self.stream = os.fdopen(slave, "w", buffering=1, encoding="utf-8")
        self._chunks: list[bytes] = []
        self._closed = False
        self._thread = threading.Thread(target=_drain, args=(self.master, self._chunks, lambda: self._closed),
                                        daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def attached(self):
        """sys.stdout and sys.stderr are this terminal inside the block (pytest sets its own per test phase)."""
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = self.stream
        try:
            yield self
        finally:
            sys.stdout, sys.stderr = saved

    def output(self) -> str:
        """Everything shown so far (waits until the reader has caught up)."""
        self.stream.flush()
        time.sleep(0.2)
        return b"".join(self._chunks).decode("utf-8", "replace")

    def close(self) -> None:
        self._closed = True
        self._thread.join(timeout=5)
        self.stream.close()
        os.close(self.master)


@pytest.fixture
def terminal(monkeypatch):
    """A pseudo-terminal for this process's stdout and stderr (``with terminal.attached():``); no display is left
    open afterwards."""
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    term = _Terminal()
    yield term
    close_all()
    term.close()


# --- a real run: pipe versus terminal ------------------------------------------------------------------------------
def test_a_piped_run_prints_the_log_lines_and_nothing_of_the_bar(tmp_path):
    result = run_tool(VAL_TOY, "--work-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "Epoch(train) [3][8/8]" in output and "mse:" in output  # the ordinary periodic log lines
    assert "\r" not in output and "\x1b[" not in output
    assert not [glyph for glyph in BAR_GLYPHS if glyph in output]
    assert "24/24" not in output


def test_a_run_on_a_terminal_draws_the_bar_with_iterations_loss_and_validation(tmp_path):
    status, shown = run_in_terminal(VAL_TOY, "--work-dir", str(tmp_path / "run"))
    assert status == 0, shown[-3000:]
    assert "Epoch(train) [3][8/8]" in shown  # log lines still appear (above the bar)
    redrawn = [line for line in shown.replace("\r\n", "\n").replace("\r", "\n").split("\n") if "━" in line]
    assert redrawn, shown[-3000:]
    final = redrawn[-1]
    assert "24/24" in final and "epoch 3/3" in final and "iters" in final, final
    assert "loss" in final and "val mse" in final, final
    assert "\x1b[2K" in shown  # drawn in place (erase line), not appended


# --- the bar itself ------------------------------------------------------------------------------------------------
def test_without_a_terminal_a_bar_draws_nothing(capsys, monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert progress_stream() is None  # pytest captures stdout and stderr: no terminal
    with ProgressBar(3, "work", status=lambda: "loss 1.0") as bar:
        assert not bar.active
        bar.advance(3)
    assert list(track(range(4), "items")) == [0, 1, 2, 3]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_on_a_terminal_the_bar_draws_in_place_with_its_count_and_status(terminal):
    with terminal.attached():
        with ProgressBar(3, "work", unit="steps", status=lambda: "loss 0.5") as bar:
            assert bar.active
            for _ in range(3):
                bar.advance()
        assert sys.stdout is terminal.stream and sys.stderr is terminal.stream  # streams given back
    shown = terminal.output()
    assert "\x1b[2K" in shown and "work" in shown and "3/3" in shown and "steps" in shown and "loss 0.5" in shown


@pytest.mark.parametrize("env", [{PROGRESS_ENV: "0"}, {PROGRESS_ENV: "off"}, {"RANK": "1"}, {"TERM": "dumb"}])
def test_the_bar_is_off_when_asked_on_other_ranks_and_on_dumb_terminals(terminal, monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with terminal.attached(), ProgressBar(2, "work") as bar:
        bar.advance(2)
        assert not bar.active
    assert "work" not in terminal.output()


def test_log_lines_print_above_the_bar_once_and_the_handler_gets_its_stream_back(terminal):
    logger = logging.getLogger("aegis.test_progress")
    logger.setLevel(logging.INFO)
    with terminal.attached():
        handler = logging.StreamHandler(sys.stdout)
        logger.addHandler(handler)
        try:
            with ProgressBar(2, "work") as bar:
                assert handler.stream is not terminal.stream  # routed through the display while it is up
                logger.info("a log line while the bar is up")
                print("a print while the bar is up")
                bar.advance(2)
            assert handler.stream is terminal.stream
        finally:
            logger.removeHandler(handler)
    shown = terminal.output()
    assert shown.count("a log line while the bar is up") == 1 and shown.count("a print while the bar is up") == 1
    assert shown.index("a log line") < shown.rindex("2/2")  # the bar is redrawn below the line


def test_nested_bars_share_one_display_and_a_transient_one_goes_away(terminal):
    with terminal.attached(), ProgressBar(2, "outer") as outer:
        for _ in track(range(3), "inner", transient=True):
            pass
        outer.advance(2)
    shown = terminal.output()
    final = shown.rsplit("\x1b[2K", 1)[-1]  # what stays on the screen: the outer bar only
    assert "outer" in final and "2/2" in final and "inner" not in final
    assert "inner" in shown


def test_advancing_is_cheap_and_the_status_is_read_only_when_the_bar_redraws(terminal):
    calls = []

    def status() -> str:
        calls.append(1)
        return "loss 1.0"

    steps = 200_000
    with terminal.attached(), ProgressBar(steps, "fast", status=status, refresh_per_second=4) as bar:
        start = time.perf_counter()
        for _ in range(steps):
            bar.advance()
        elapsed = time.perf_counter() - start
    assert elapsed / steps < 5e-6  # a few hundred nanoseconds per step on a loaded 2-core machine
    assert len(calls) <= 4 * elapsed + 3  # first draw, one per quarter second, the final one
    assert "200000/200000" in terminal.output()


def test_an_iteration_based_run_draws_its_iterations_and_validation(terminal, tmp_path):
    from mmengine.logging import MMLogger

    from aegis import api

    overrides = {"train_cfg": {"_delete_": True, "type": "IterBasedTrainLoop", "max_iters": 12, "val_interval": 6},
                 "log_processor.by_epoch": False, "default_hooks.checkpoint.by_epoch": False,
                 "default_hooks.checkpoint.interval": 6, "param_scheduler": None}
    try:
        with terminal.attached():
            result = api.train(VAL_TOY, overrides=overrides, work_dir=str(tmp_path / "run"))
    finally:  # the run's logger printed to this terminal: give it pytest's stdout before the terminal closes
        for logger in MMLogger._instance_dict.values():
            for handler in logger.handlers:
                if getattr(handler, "stream", None) is terminal.stream:
                    handler.setStream(sys.stdout)
    assert result["status"] == "finished"
    bars = [line for line in terminal.output().replace("\r", "\n").split("\n") if "━" in line]
    assert bars and "train" in bars[-1] and "12/12" in bars[-1] and "loss" in bars[-1], bars[-1:]
    assert "val mse" in bars[-1]
    assert any("val " in line and "batches" in line for line in bars)  # the validation pass had its own line


def test_a_failing_status_is_shown_as_unavailable_and_never_stops_the_work(terminal):
    def status() -> str:
        raise KeyError("train/loss")

    with terminal.attached(), ProgressBar(2, "work", status=status) as bar:
        bar.advance(2)
    assert "status unavailable: KeyError" in terminal.output()
