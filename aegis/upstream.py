"""Runs that need another run's output: an experiment's ``upstream`` entries, found or built once and shared.

An experiment names what it consumes::

    upstream = dict(encoder=dict(experiment="experiments/vjepa_pretrain_tiny.py", overrides=dict(mask_ratio=0.9)))
    model = dict(encoder_checkpoint="${upstream.encoder.work_dir}")

Loading the experiment resolves each entry to a work dir, keyed by the upstream's resolved config (its hash, as in
``result.json``): ``<root>/<name>`` when that run has the same config (the folder a plain ``tools/run.py`` of it
writes), for any other config ``<root>/<name>-<hash10>``. So identical upstream runs are built once and shared by
every run that needs them, and a changed upstream config gets a folder of its own. ``tools/run.py --with-upstream``
builds what is missing first (one process at a time per upstream, under a file lock); without it a missing upstream
is a :class:`ConfigError` that names the command that builds it.
"""
from __future__ import annotations

import fcntl
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from .errors import AegisError, ConfigError

__all__ = ["resolve_upstream", "missing_upstream", "build_upstream", "upstream_command", "UpstreamError"]


class UpstreamError(AegisError, RuntimeError):
    """An upstream run was started and did not finish."""


def _experiment_path(entry_experiment: str, where: str, experiment: Path) -> Path:
    """Relative to the working directory, else to the experiment's folder or any folder above it, else to the AEGIS
    checkout (an experiment in a temporary folder may inherit one of the built-in experiments)."""
    folders = [*experiment.resolve().parents, Path(__file__).resolve().parents[1]]
    for candidate in (Path(entry_experiment), *(folder / entry_experiment for folder in folders)):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"{experiment}: {where}.experiment={entry_experiment!r} does not exist (looked in the working "
                      f"directory {os.getcwd()} and in the folders above {experiment}).")


def _finished_hash(work_dir: Path) -> tuple[str | None, str | None]:
    path = work_dir / "result.json"
    if not path.is_file():
        return None, None
    try:
        result = json.loads(path.read_text())
    except ValueError:
        return None, None
    return result.get("config_hash"), result.get("status")


def resolve_upstream(cfg, experiment: Path, root: str | os.PathLike) -> None:
    """Give every entry of ``cfg.upstream`` its ``work_dir``, ``config_hash`` and ``built`` flag (in place).

    Called by ``load_experiment`` after overrides and before ``${...}`` references are resolved, so
    ``${upstream.NAME.work_dir}`` follows overrides of the upstream's own ``overrides``.
    """
    from .config import config_hash, experiment_name, load_experiment
    from .overrides import flatten

    entries = cfg.get("upstream")
    if not entries:
        return
    root = Path(root)
    for name, entry in entries.items():
        where = f"upstream.{name}"
        if not isinstance(entry, dict) or "experiment" not in entry:
            raise ConfigError(f"{experiment}: {where} must be dict(experiment='experiments/X.py', "
                              f"overrides=dict(...)); got {entry!r}.")
        unknown = set(entry) - {"experiment", "overrides", "work_dir", "config_hash", "built"}
        if unknown:
            raise ConfigError(f"{experiment}: {where} has unknown key(s) {sorted(unknown)}; it takes experiment and "
                              "overrides.")
        path = _experiment_path(entry["experiment"], where, experiment)
        overrides = flatten(dict(entry.get("overrides") or {}))
        digest = config_hash(load_experiment(path, overrides, upstream_root=root))
        # the plain folder is for the experiment as written (what `tools/run.py` of it writes); other configs get
        # a folder named by their hash, so a folder's name always says which config is in it
        as_written = not overrides or digest == config_hash(load_experiment(path, {}, upstream_root=root))
        plain, hashed = root / experiment_name(path), root / f"{experiment_name(path)}-{digest[:10]}"
        plain_hash, plain_status = _finished_hash(plain)
        # legacy: a run from before result.json existed (a checkpoint, no result.json and no config.py: today's runs
        # write config.py when they start, so a run still in progress is not mistaken for a finished one)
        legacy = (as_written and plain_hash is None and (plain / "last_checkpoint").is_file()
                  and not (plain / "config.py").is_file())
        if as_written and (plain_hash in (digest, None) or legacy):
            work_dir, built = plain, legacy or plain_status == "finished"
        else:
            hashed_hash, hashed_status = _finished_hash(hashed)
            work_dir, built = hashed, hashed_hash == digest and hashed_status == "finished"
        entry.update(experiment=str(path), overrides=overrides, work_dir=str(work_dir), config_hash=digest,
                     built=built)


def missing_upstream(cfg) -> list[str]:
    """Names of the upstream entries that have no finished run yet."""
    return [name for name, entry in (cfg.get("upstream") or {}).items() if not entry.get("built")]


def upstream_command(entry: dict, root: str | os.PathLike, python: str | None = None) -> list[str]:
    """The command that builds one upstream entry into its work dir. Without ``python``: the shortest
    ``python tools/run.py ...`` a person types; with it: ``<python> -m aegis.cli run ...`` resuming a stopped one."""
    from .config import DEFAULT_WORK_ROOT, experiment_name
    from .overrides import format_value

    overrides = [f"{key}={format_value(value)}" for key, value in entry["overrides"].items()]
    if python is None:
        default_dir = Path(DEFAULT_WORK_ROOT) / experiment_name(entry["experiment"])
        where = [] if Path(entry["work_dir"]) == default_dir else ["--work-dir", entry["work_dir"]]
        chain = [] if Path(root) == Path(DEFAULT_WORK_ROOT) else ["--with-upstream", "--upstream-root", str(root)]
        return ["python", "tools/run.py", entry["experiment"], *where, *chain, *overrides]
    return [python, "-m", "aegis.cli", "run", entry["experiment"], "--work-dir", entry["work_dir"], "--resume",
            "--with-upstream", "--upstream-root", str(root), *overrides]


def missing_upstream_error(cfg, root: str | os.PathLike) -> ConfigError:
    """The error for a run whose upstream is not built: which, where, and the one command that builds it."""
    lines = []
    for name in missing_upstream(cfg):
        entry = cfg.upstream[name]
        lines.append(f"  upstream.{name}: no finished run of {entry['experiment']} in {entry['work_dir']}. "
                     f"Build it with:\n    {shlex.join(upstream_command(entry, root))}")
    return ConfigError("this experiment needs runs that have not been built:\n" + "\n".join(lines)
                       + "\n  Or add --with-upstream to build them first.")


def build_upstream(cfg, root: str | os.PathLike) -> list[str]:
    """Build every missing upstream run (each in its own process, under a lock shared by concurrent runs);
    returns the names built here. A failed upstream raises :class:`UpstreamError` naming its log."""
    built = []
    for name in missing_upstream(cfg):
        entry = cfg.upstream[name]
        work_dir = Path(entry["work_dir"])
        work_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(work_dir.parent / f".{work_dir.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another trial may be building the same upstream: wait for it
            digest, status = _finished_hash(work_dir)
            if digest == entry["config_hash"] and status == "finished":
                entry["built"] = True
                continue
            command = upstream_command(entry, root, python=sys.executable)
            print(f"Building upstream.{name}: {shlex.join(command)}", flush=True)
            code = subprocess.run(command).returncode
            digest, status = _finished_hash(work_dir)
            if code != 0 or status != "finished":
                raise UpstreamError(f"upstream.{name} ({entry['experiment']}) did not finish (exit {code}); its "
                                    f"outputs and log are in {work_dir}.")
            entry["built"] = True
            built.append(name)
    return built
