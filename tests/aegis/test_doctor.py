"""aegis/doctor.py's CPU bf16 check, and the --amp warning it drives on a CPU that would emulate bf16."""
import warnings

import pytest
import torch
from mmengine.config import Config

import aegis.doctor
from aegis.doctor import cpu_bf16_support
from aegis.run_setup import apply_run_options

AVX2_ONLY = "processor : 0\nflags : fpu sse sse2 avx avx2 fma\n"
SAPPHIRE_RAPIDS = "processor : 0\nflags : fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16\n"


def test_native_bf16_is_avx512_bf16_or_amx():
    assert cpu_bf16_support(AVX2_ONLY) == (False, "no native bf16 (widest vector unit: avx2)")
    assert cpu_bf16_support(SAPPHIRE_RAPIDS) == (True, "native bf16: amx_bf16, avx512_bf16")


@pytest.mark.skipif(torch.cuda.is_available(), reason="--amp on a GPU is fp16, not CPU bf16")
def test_amp_on_a_cpu_without_native_bf16_warns_with_the_slowdown_and_the_fix(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(AVX2_ONLY)
    monkeypatch.setattr(aegis.doctor, "CPUINFO", str(cpuinfo))
    cfg = Config(dict(optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1))))
    with pytest.warns(RuntimeWarning, match=r"no native bf16.*20-36x slower than fp32.*Drop --amp"):
        apply_run_options(cfg, amp=True)
    assert cfg.optim_wrapper.type == "BF16AutocastOptimWrapper"
    cpuinfo.write_text(SAPPHIRE_RAPIDS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        apply_run_options(Config(dict(optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)))), amp=True)
