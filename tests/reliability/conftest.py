"""The fuzz battery's bookkeeping: every bad input goes through :func:`probe`, which records per door whether it got
a named error (an AegisError), was accepted, crashed (any other exception) or hung (past the time limit); the table
is printed at the end of the run (docs/reliability.md). Random inputs come from fixed seeds, so counts reproduce."""
from __future__ import annotations

import signal
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from aegis.errors import AegisError

HANG_S = 20  # an input that takes longer than this counts as a hang (and fails its test)
DOORS = ("video", "annotation", "experiment", "checkpoint", "output")


@dataclass
class Outcome:
    """What one input did: kind is 'named', 'accepted', 'crash' or 'hang'; error is the exception, if any."""
    kind: str
    error: BaseException | None = None
    value: object = None
    seconds: float = 0.0


@dataclass
class Tally:
    counts: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    crashes: list = field(default_factory=list)

    def add(self, door: str, name: str, outcome: Outcome) -> None:
        row = self.counts[door]
        row["tried"] += 1
        row[outcome.kind] += 1
        if outcome.kind in ("crash", "hang"):
            self.crashes.append(f"{door}/{name}: {outcome.kind} {type(outcome.error).__name__}: {outcome.error}"[:300])

    def table(self) -> str:
        lines = ["| door | inputs tried | named errors | accepted (read correctly) | hangs | crashes |",
                 "| --- | ---: | ---: | ---: | ---: | ---: |"]
        total = defaultdict(int)
        for door in DOORS:
            row = self.counts.get(door)
            if not row:
                continue
            lines.append(f"| {door} | {row['tried']} | {row['named']} | {row['accepted']} | {row['hang']} | "
                         f"{row['crash']} |")
            for k in ("tried", "named", "accepted", "hang", "crash"):
                total[k] += row[k]
        lines.append(f"| all | {total['tried']} | {total['named']} | {total['accepted']} | {total['hang']} | "
                     f"{total['crash']} |")
        return "\n".join(lines + [f"  {c}" for c in self.crashes])


TALLY = Tally()


class _Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise _Hang(f"no answer after {HANG_S} s")


def run_input(door: str, name: str, fn, *args, **kwargs) -> Outcome:
    """Call ``fn(*args, **kwargs)`` under a SIGALRM time limit, classify what happened and record it."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_S)
    start = time.perf_counter()
    try:
        value = fn(*args, **kwargs)
        outcome = Outcome("accepted", value=value)
    except AegisError as exc:
        outcome = Outcome("named", exc)
    except _Hang as exc:
        outcome = Outcome("hang", exc)
    except Exception as exc:  # noqa: BLE001 - a crash is what the battery counts
        outcome = Outcome("crash", exc)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    outcome.seconds = time.perf_counter() - start
    TALLY.add(door, name, outcome)
    return outcome


@pytest.fixture
def probe():
    """``probe(door, name, fn, *args)`` -> :class:`Outcome`, recorded in the battery's table."""
    return run_input


def pytest_terminal_summary(terminalreporter):
    if TALLY.counts:
        terminalreporter.write_sep("-", "bad-input battery (docs/reliability.md)")
        terminalreporter.write_line(TALLY.table())
