"""Any transformers causal LM as a frozen (optionally LoRA-tuned, optionally 4/8-bit) language backend for the video
captioner, as the frozen LLM of BLIP-2 (Li et al., 2023). Quantisation follows QLoRA (Dettmers et al., 2023,
"QLoRA: Efficient Finetuning of Quantized LLMs") through bitsandbytes; adapters are LoRA (Hu et al., 2021) through peft.

Nothing is downloaded unless the config says so: ``name_or_path`` is a local folder, or a hub id already in the
Hugging Face cache, or (with ``allow_download=True``) a hub id to fetch.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from aegis.errors import CheckpointError, ConfigError, MissingDependencyError

from .base import CausalLMBackend

__all__ = ["HFCausalLM", "resolve_hf_weights"]

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class HFCausalLM(CausalLMBackend):
    """A transformers ``AutoModelForCausalLM`` + ``AutoTokenizer`` from ``name_or_path``.

    Maps (B, L, D) input embeddings to (B, L, V) logits. ``dtype`` is one of float32, float16, bfloat16 or auto;
    ``load_in_4bit`` (NF4, double quantisation, ``compute_dtype``) or ``load_in_8bit`` need bitsandbytes and a CUDA
    GPU. ``lora`` (e.g. ``dict(r=8, alpha=16, dropout=0.05, target_modules=["q_proj", "v_proj"])``) adds trainable
    adapters through peft; everything else stays frozen when ``frozen`` (default).
    """

    @classmethod
    def preflight(cls, cfg: Mapping) -> list[str]:
        """What this machine lacks for ``cfg`` (weights, bitsandbytes, a GPU), known without loading anything;
        ``aegis.build.validate`` reports it with every other missing input before the run starts."""
        problems = []
        name_or_path = cfg.get("name_or_path")
        if isinstance(name_or_path, str):
            try:
                resolve_hf_weights(name_or_path, bool(cfg.get("allow_download", False)))
            except CheckpointError as exc:
                problems.append(str(exc))
        for key in ("load_in_4bit", "load_in_8bit"):
            if cfg.get(key):
                problems += [f"{key}=True needs {need}" for need in _quantization_problems()]
        return problems

    def __init__(self, name_or_path: str, dtype: str = "float32", load_in_4bit: bool = False,
                 load_in_8bit: bool = False, compute_dtype: str = "float16", frozen: bool = True,
                 lora: dict | None = None, gradient_checkpointing: bool = False, allow_download: bool = False,
                 device_map: str | None = None, trust_remote_code: bool = False) -> None:
        super().__init__()
        if dtype not in (*_DTYPES, "auto"):
            raise ConfigError(f"model.llm.dtype={dtype!r} is not a dtype; expected one of "
                              f"{', '.join([*_DTYPES, 'auto'])}.")
        if compute_dtype not in _DTYPES:
            raise ConfigError(f"model.llm.compute_dtype={compute_dtype!r}; expected one of {', '.join(_DTYPES)}.")
        if load_in_4bit and load_in_8bit:
            raise ConfigError("model.llm: load_in_4bit and load_in_8bit are both True; choose one.")
        problems: list[Exception] = []  # report missing weights and a missing GPU together, before loading anything
        source = quantization_config = None
        try:
            source = resolve_hf_weights(name_or_path, allow_download)
        except CheckpointError as exc:
            problems.append(exc)
        try:
            quantization_config = _quantization_config(load_in_4bit, load_in_8bit, compute_dtype)
        except MissingDependencyError as exc:
            problems.append(exc)
        if problems:
            if len(problems) == 1:
                raise problems[0]
            raise type(problems[0])("\n".join(f"({i + 1}) {p}" for i, p in enumerate(problems)))
        if lora is not None:
            _require("peft", "LoRA (model.llm.lora)", "pip install 'aegis[lora]'  (or: pip install peft)")

        from transformers import AutoModelForCausalLM, AutoTokenizer

        local_only = not allow_download
        self.tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only,
                                                       trust_remote_code=trust_remote_code)
        kwargs = dict(local_files_only=local_only, trust_remote_code=trust_remote_code,
                      dtype="auto" if dtype == "auto" else _DTYPES[dtype])
        if quantization_config is not None:
            kwargs.update(quantization_config=quantization_config, device_map=device_map or {"": 0})
        elif device_map is not None:
            kwargs.update(device_map=device_map)
        self.model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        self.name_or_path, self.frozen, self.lora = name_or_path, frozen, lora
        self.eos_token_id = int(self.tokenizer.eos_token_id)
        self.bos_token_id = self.tokenizer.bos_token_id
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = int(pad if pad is not None else self.eos_token_id)  # Llama has no pad token
        if frozen:
            self._freeze()
        if gradient_checkpointing:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if lora is not None:
            self.model = _add_lora(self.model, lora, quantized=quantization_config is not None,
                                   gradient_checkpointing=gradient_checkpointing)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=True).strip()


def resolve_hf_weights(name_or_path: str, allow_download: bool = False) -> str:
    """The folder or cached hub id to load from; a CheckpointError naming what was tried when there is none."""
    path = Path(os.path.expanduser(name_or_path))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CheckpointError(f"model.llm.name_or_path={name_or_path!r} is a folder without config.json; "
                                  "expected a transformers model folder (config.json, tokenizer files, weights).")
        return str(path)
    if allow_download:
        return name_or_path
    looks_like_hub_id = name_or_path.count("/") == 1 and not name_or_path.startswith((".", "/", "~"))
    cached = False
    if looks_like_hub_id:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = isinstance(try_to_load_from_cache(name_or_path, "config.json"), str)
        except Exception:  # an unusable cache is the same as no cache
            cached = False
    if cached:
        return name_or_path
    cache = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hub")
    tried = f"the folder {str(path.resolve())!r}" + (f" and the Hugging Face cache ({cache})"
                                                      if looks_like_hub_id else "")
    how = (f"download it first (huggingface-cli download {name_or_path} --local-dir DIR) and set "
           "model.llm.name_or_path=DIR, or set model.llm.allow_download=True") if looks_like_hub_id else \
        "set model.llm.name_or_path to a transformers model folder or a hub id"
    raise CheckpointError(f"LLM weights for model.llm.name_or_path={name_or_path!r} not found: tried {tried}. "
                          f"To fix: {how}.")


def _require(module: str, what: str, install: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(f"{what} needs the '{module}' package, which is not installed. Install it: "
                                     f"{install}.")


def _quantization_problems() -> list[str]:
    """What 4-/8-bit loading needs and this machine lacks: the bitsandbytes package, a CUDA GPU."""
    import importlib.util

    problems = []
    if importlib.util.find_spec("bitsandbytes") is None:
        problems.append("the 'bitsandbytes' package, which is not installed (pip install 'aegis[quant]' or "
                        "pip install bitsandbytes)")
    if not torch.cuda.is_available():
        problems.append("a CUDA GPU, and none is visible (torch.cuda.is_available() is False; this torch is "
                        f"{torch.__version__}): run on a GPU machine")
    return problems


def _quantization_config(load_in_4bit: bool, load_in_8bit: bool, compute_dtype: str):
    if not (load_in_4bit or load_in_8bit):
        return None
    key = "model.llm.load_in_4bit" if load_in_4bit else "model.llm.load_in_8bit"
    problems = _quantization_problems()
    if problems:
        raise MissingDependencyError(f"{key}=True needs " + "; and ".join(problems)
                                     + f". Or set {key}=False to load unquantised weights (much more memory); to "
                                     "check a recipe on CPU, swap in TinyCausalLM (experiments/vlm_t4_cpu_dryrun.py).")
    from transformers import BitsAndBytesConfig

    if load_in_8bit:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=_DTYPES[compute_dtype])


def _add_lora(model, lora: dict, quantized: bool, gradient_checkpointing: bool):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    known = {"r", "alpha", "dropout", "target_modules", "bias"}
    unknown = sorted(set(lora) - known)
    if unknown:
        raise ConfigError(f"model.llm.lora: unknown key(s) {unknown}; expected {sorted(known)}.")
    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    config = LoraConfig(r=int(lora.get("r", 8)), lora_alpha=int(lora.get("alpha", 16)),
                        lora_dropout=float(lora.get("dropout", 0.05)),
                        target_modules=lora.get("target_modules", ["q_proj", "v_proj"]),
                        bias=lora.get("bias", "none"), task_type="CAUSAL_LM")
    return get_peft_model(model, config)
