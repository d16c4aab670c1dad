"""Live progress bars on a terminal, and nothing at all elsewhere: what a run or a long tool shows while it works.

A :class:`ProgressBar` is one line of a live display drawn with rich (``rich.progress``): a description, the bar,
``done/total unit``, elapsed time, the time left and a status text (the current loss terms, the last validation
metric, the episode return...). Bars opened while another is open join the same display, one line each.

The display exists only where someone watches it: a bar draws when stderr (else stdout) is a terminal, on rank 0,
unless ``AEGIS_PROGRESS=0`` (or ``false``/``off``/``no``) or ``TERM=dumb``. Anywhere else (a pipe, a file, CI, Slurm,
a sweep trial) a bar does nothing and writes nothing: the output keeps only the ordinary log lines, with no carriage
returns and no escape sequences. While the display is up, what Python code writes to the terminal (``print``, log
handlers on stdout/stderr, warnings) is printed above the bars, so log lines and bars do not tear each other.

Cost: :meth:`ProgressBar.advance` adds to a counter and reads the clock; the display is updated at most
``refresh_per_second`` times a second (and the status callable called only then), and rich redraws it from its own
thread at the same rate.
"""
from __future__ import annotations

import atexit
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO, TypeVar

__all__ = ["ProgressBar", "track", "progress_stream", "progress_disabled_by_env", "close_all", "PROGRESS_ENV"]

PROGRESS_ENV = "AEGIS_PROGRESS"  # "0", "false", "off" or "no": never draw a bar
_OFF_VALUES = ("0", "false", "off", "no")
T = TypeVar("T")


def progress_disabled_by_env() -> bool:
    """True when ``AEGIS_PROGRESS`` turns bars off."""
    return os.environ.get(PROGRESS_ENV, "").strip().lower() in _OFF_VALUES


def _is_terminal(stream) -> bool:
    try:
        return stream is not None and bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed or not a real file
        return False


def _non_zero_rank() -> bool:
    for name in ("RANK", "LOCAL_RANK"):  # torchrun, Slurm launchers through mmengine
        value = os.environ.get(name, "0").strip()
        if value.isdigit() and int(value) != 0:
            return True
    return False


def progress_stream() -> TextIO | None:
    """The terminal a bar draws on (stderr first, then stdout), or None when no bar may draw: neither is a terminal,
    ``AEGIS_PROGRESS=0``, ``TERM=dumb``, or this process is not rank 0."""
    if progress_disabled_by_env() or _non_zero_rank():
        return None
    if os.environ.get("TERM", "").strip().lower() in ("dumb", "unknown"):
        return None
    for stream in (sys.stderr, sys.stdout):
        if isinstance(stream, _TerminalWriter):  # a display is up: its terminal
            return stream.original
        if _is_terminal(stream):
            return stream
    return None


class _TerminalWriter:
    """Stands in for a terminal stream while the display is up: whole lines are printed above the bars."""

    def __init__(self, console, original: TextIO) -> None:
        self.console, self.original = console, original
        self._buffer: list[str] = []
        self._pid = os.getpid()

    def write(self, text: str) -> int:
        if os.getpid() != self._pid:  # a forked child (a DataLoader worker) has no display: write straight through
            return self.original.write(text)
        head, newline, tail = text.rpartition("\n")
        if not newline:
            self._buffer.append(text)
            return len(text)
        from rich.text import Text

        lines = "".join(self._buffer) + head
        self._buffer = [tail] if tail else []
        with self.console:
            for line in lines.split("\n"):
                self.console.print(Text.from_ansi(line), soft_wrap=True)
        return len(text)

    def flush(self) -> None:  # whole lines are written at once; a partial line waits for its end
        pass

    def release(self) -> None:
        """Write a pending partial line to the real stream."""
        if self._buffer:
            self.original.write("".join(self._buffer))
            self._buffer = []
        self.original.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ...
        return getattr(self.original, name)


def _stream_handlers() -> list[logging.StreamHandler]:
    """Every StreamHandler (not file handlers) of the root logger, named loggers and mmengine's MMLogger instances."""
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    mmlogging = sys.modules.get("mmengine.logging.logger")  # only when mmengine is in use: never imported here
    if mmlogging is not None:
        loggers += list(getattr(mmlogging.MMLogger, "_instance_dict", {}).values())
    handlers, seen = [], set()
    for lg in loggers:
        for handler in lg.handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler) \
                    and id(handler) not in seen:
                seen.add(id(handler))
                handlers.append(handler)
    return handlers


class _Display:
    """The one live display of the process (a rich Progress) and the terminal redirection while it is up."""

    def __init__(self, stream: TextIO, refresh_per_second: float) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        from rich.table import Column

        self.console = Console(file=stream, highlight=False)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[status]}", markup=False, table_column=Column(no_wrap=True, overflow="ellipsis")),
            console=self.console, refresh_per_second=refresh_per_second, redirect_stdout=False,
            redirect_stderr=False, transient=False)
        self.open_bars = 0
        self._saved_streams: dict[str, TextIO] = {}
        self._saved_handlers: list[tuple[logging.StreamHandler, TextIO]] = []

    def start(self) -> None:
        self.progress.start()
        writers: dict[int, _TerminalWriter] = {}
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if _is_terminal(stream) and not isinstance(stream, _TerminalWriter):
                self._saved_streams[name] = stream
                writers[id(stream)] = _TerminalWriter(self.console, stream)
                setattr(sys, name, writers[id(stream)])
        for handler in _stream_handlers():
            stream = handler.stream
            if isinstance(stream, _TerminalWriter) or not _is_terminal(stream):
                continue
            writer = writers.get(id(stream)) or _TerminalWriter(self.console, stream)
            self._saved_handlers.append((handler, stream))
            handler.setStream(writer)

    def stop(self) -> None:
        try:
            self.progress.stop()
        finally:
            for handler, stream in self._saved_handlers:
                if isinstance(handler.stream, _TerminalWriter):
                    handler.stream.release()
                    handler.setStream(stream)
            for name, stream in self._saved_streams.items():
                current = getattr(sys, name)
                if isinstance(current, _TerminalWriter) and current.original is stream:
                    current.release()
                    setattr(sys, name, stream)
            self._saved_handlers, self._saved_streams = [], {}


_display: _Display | None = None
_atexit_registered = False


def _open(refresh_per_second: float) -> _Display | None:
    global _display, _atexit_registered
    if _display is None:
        stream = progress_stream()
        if stream is None:
            return None
        _display = _Display(stream, refresh_per_second)
        _display.start()
        if not _atexit_registered:  # a run that raised leaves its bars open: close them before the interpreter ends
            atexit.register(close_all)
            _atexit_registered = True
    _display.open_bars += 1
    return _display


def _release(display: _Display) -> None:
    global _display
    display.open_bars -= 1
    if display.open_bars <= 0 and display is _display:
        _display = None
        display.stop()


def close_all() -> None:
    """Stop the live display (if one is up) and give the terminal streams back; open bars become no-ops."""
    global _display
    display, _display = _display, None
    if display is not None:
        display.stop()


class ProgressBar:
    """One line of the live display: ``description [bar] completed/total unit elapsed eta left status``.

    ``total`` None draws an indeterminate bar. ``status`` is a string or a callable returning one; a callable is
    called only when the display is updated (at most ``refresh_per_second`` times a second), so it may read
    anything. ``transient`` removes the line when the bar closes (a nested pass such as validation); otherwise it
    stays, with its final values, until the display ends. Without a terminal (see :func:`progress_stream`) every
    method does nothing. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, total: float | None, description: str, *, unit: str = "it", completed: float = 0,
                 status: str | Callable[[], str] = "", transient: bool = False,
                 refresh_per_second: float = 4.0) -> None:
        self.total, self.completed, self.description = total, completed, description
        self.transient = transient
        self._status = status
        self._interval = 1.0 / refresh_per_second if refresh_per_second > 0 else 0.25
        self._display = _open(refresh_per_second)
        self._task = None
        self._next_push = 0.0
        if self._display is not None:
            self._task = self._display.progress.add_task(description, total=total, completed=completed, unit=unit,
                                                         status=self._status_text())

    @property
    def active(self) -> bool:
        """True while this bar draws (a terminal, and not closed)."""
        return self._task is not None

    def advance(self, n: float = 1) -> None:
        """Count ``n`` more units done; the display follows at its refresh rate."""
        self.completed += n
        if self._task is not None:
            now = time.monotonic()
            if now >= self._next_push:
                self._push(now)

    def update(self, completed: float | None = None, *, total: float | None = None, description: str | None = None,
               status: str | Callable[[], str] | None = None, refresh: bool = False) -> None:
        """Set what changed (absolute ``completed``, ``total``, ``description``, ``status``); drawn at the refresh
        rate, or now with ``refresh=True``."""
        if completed is not None:
            self.completed = completed
        if total is not None:
            self.total = total
        if description is not None:
            self.description = description
        if status is not None:
            self._status = status
        if self._task is not None:
            now = time.monotonic()
            if refresh or now >= self._next_push:
                self._push(now)

    def _status_text(self) -> str:
        status = self._status
        if not callable(status):
            return status
        try:
            return status()
        except Exception as exc:  # noqa: BLE001 (a status is decoration: it must never stop the work it shows)
            return f"(status unavailable: {type(exc).__name__}: {exc})"

    def _push(self, now: float) -> None:
        self._next_push = now + self._interval
        self._display.progress.update(self._task, completed=self.completed, total=self.total,
                                      description=self.description, status=self._status_text())

    def close(self) -> None:
        """Draw the final values (or remove a transient line) and leave the display (the last bar stops it)."""
        if self._task is None:
            return
        display, task = self._display, self._task
        self._task = self._display = None
        if display is not _display:  # closed by close_all() meanwhile
            return
        if self.transient:
            display.progress.remove_task(task)
        else:
            display.progress.update(task, completed=self.completed, total=self.total, description=self.description,
                                    status=self._status_text())
            display.progress.stop_task(task)
        _release(display)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def track(iterable: Iterable[T], description: str, *, total: float | None = None, unit: str = "it",
          status: str | Callable[[], str] = "", transient: bool = False) -> Iterator[T]:
    """Yield from ``iterable`` while a :class:`ProgressBar` counts the items (``total`` defaults to ``len()``)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with ProgressBar(total, description, unit=unit, status=status, transient=transient) as bar:
        for item in iterable:
            yield item
            bar.advance()
