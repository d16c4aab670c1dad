"""``aegis doctor``: what this machine can run, and what to install for each missing piece."""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

__all__ = ["Check", "core_checks", "run_checks", "format_report", "cpu_bf16_support", "CPU_BF16_SLOWDOWN"]

# Measured for issue 17 on a 2-core AVX2 CPU without AVX512-BF16/AMX: the tiny V-JEPA step under CPU bf16 autocast
# ran at 0.47 clips/s against 12-14 clips/s in fp32 (benchmarks/vjepa_step.py --precision fp32 bf16).
CPU_BF16_SLOWDOWN = "about 20-36x slower than fp32 (tiny V-JEPA step: 0.47 vs 12-14 clips/s)"
CPUINFO = "/proc/cpuinfo"  # where the CPU's feature flags are read from (Linux)


@dataclass
class Check:
    """One capability: its name, whether it is available, what was found, and how to get it when it is not."""
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _module_check(name: str, module: str, fix: str, attr: str = "__version__") -> Check:
    if importlib.util.find_spec(module) is None:
        return Check(name, False, "not installed", fix)
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # installed but broken (wrong wheel, missing shared library)
        return Check(name, False, f"installed but fails to import: {type(exc).__name__}: {exc}", fix)
    return Check(name, True, f"{module} {getattr(mod, attr, '(version unknown)')}")


def cpu_bf16_support(cpuinfo: str | None = None) -> tuple[bool, str]:
    """(whether this CPU computes bf16 natively, the flags found) from ``/proc/cpuinfo`` (or the text given):
    AVX512-BF16 or AMX-BF16. Without either, CPU bf16 autocast (``--amp`` without a GPU) is emulated and slow."""
    if cpuinfo is None:
        try:
            with open(CPUINFO, encoding="utf-8") as handle:
                cpuinfo = handle.read()
        except OSError:
            return False, f"unknown (no {CPUINFO})"
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags |= set(line.split(":", 1)[-1].split())
    native = sorted(flags & {"avx512_bf16", "amx_bf16"})
    if native:
        return True, "native bf16: " + ", ".join(native)
    widest = next((f for f in ("avx512f", "avx2", "avx") if f in flags), "no AVX")
    return False, f"no native bf16 (widest vector unit: {widest})"


def core_checks() -> list[Check]:
    """The checks the core knows about: torch and CUDA, quantisation, LoRA, video backends, RL libraries."""
    checks = [_module_check("torch", "torch", "pip install torch==2.13.0  (CPU) or a CUDA build from pytorch.org")]
    try:
        import torch
        cuda = torch.cuda.is_available()
        detail = (f"{torch.cuda.device_count()} device(s): {torch.cuda.get_device_name(0)}" if cuda
                  else "no CUDA device; every phase still runs on CPU at tiny sizes")
        checks.append(Check("CUDA", cuda, detail, "a CUDA GPU and a CUDA build of torch (needed by vlm_t4, 4-bit "
                            "LLMs and fp16 --amp; without one --amp uses bf16 autocast on CPU)"))
    except Exception as exc:
        checks.append(Check("CUDA", False, f"torch unavailable: {exc}", "install torch first"))
    native, found = cpu_bf16_support()
    checks.append(Check("CPU bf16 (--amp without a GPU)", native, found,
                        f"train in fp32 on this CPU (drop --amp): bf16 autocast here is {CPU_BF16_SLOWDOWN}"))
    checks += [
        _module_check("bitsandbytes (4/8-bit LLMs)", "bitsandbytes", "pip install 'aegis[quant]' (needs a CUDA GPU)"),
        _module_check("peft (LoRA)", "peft", "pip install 'aegis[lora]'"),
        _module_check("transformers", "transformers", "pip install transformers"),
        _module_check("video backend: decord", "decord",
                      "pip install decord (x86_64 Linux wheels only; the PyAV backend works everywhere)"),
        _module_check("video backend: PyAV", "av", "pip install av"),
        _module_check("gymnasium", "gymnasium", "pip install gymnasium"),
        _module_check("stable-baselines3", "stable_baselines3", "pip install stable-baselines3"),
        _module_check("TensorBoard", "tensorboard", "pip install tensorboard"),
    ]
    return checks  # habitat-sim and headless rendering: the envs plugin's own aegis_doctor_checks


def run_checks() -> list[Check]:
    """Core checks, plugin checks (``aegis_doctor_checks`` hooks) and one failing check per plugin that did not load."""
    from . import plugins

    plugin_set = plugins.load()
    checks = core_checks()
    for group in plugin_set.manager.hook.aegis_doctor_checks():
        checks.extend(group or [])
    for name, error in plugin_set.failed.items():
        checks.append(Check(f"plugin {name}", False, f"failed to load: {error}",
                            "fix or uninstall the distribution named above"))
    if not plugin_set.failed:
        checks.append(Check("plugins", True, f"{len(plugin_set.manager.get_plugins())} loaded, none failed"))
    return checks


def format_report(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        mark = "ok " if c.ok else "-- "
        lines.append(f"{mark} {c.name.ljust(width)}  {c.detail}")
        if not c.ok and c.fix:
            lines.append(f"    {' ' * width}  -> {c.fix}")
    return "\n".join(lines)
