"""Built-in AEGIS plugin: llms (language-model backends for the video captioner, and the tiny LM's text pretraining)."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register the LLM backends and the pieces of the tiny LM's caption-text pretraining."""
    from .hf_causal_lm import HFCausalLM
    from .lm_pretraining import CaptionLMPretrainer, CaptionTextDataset, TinyLMExportHook, caption_collate
    from .tiny_causal_lm import TinyCausalLM

    registries.LLMS.register_module(module=HFCausalLM)
    registries.LLMS.register_module(module=TinyCausalLM)
    registries.MODELS.register_module(module=CaptionLMPretrainer)
    registries.DATASETS.register_module(module=CaptionTextDataset)
    registries.HOOKS.register_module(module=TinyLMExportHook)
    registries.FUNCTIONS.register_module(module=caption_collate)
