"""Tiny configs of every registered name of the llms plugin, for tests/aegis_plugins/test_contract.py (no tests here)."""
import tempfile
from pathlib import Path
from types import SimpleNamespace

import torch

FIXTURES = Path(__file__).parent / "fixtures"
HF_FOLDER = str(FIXTURES / "tiny_llama_hf")  # a 2-layer, width-32, vocab-64 Llama saved with save_pretrained
CAPTIONS = str(FIXTURES / "captions.json")
TINY_LM = dict(type="TinyCausalLM", vocab_size=64, hidden_size=32, num_layers=2, num_heads=2,
               max_position_embeddings=64)


def _logits(llm):
    embeds = llm.embed_tokens(torch.tensor([[1, 5, 6, 7], [1, 8, 9, 10]]))  # (B, L, D)
    return llm(inputs_embeds=embeds, attention_mask=torch.ones(2, 4, dtype=torch.long)).logits  # (B, L, V)


def _export_roundtrip(hook):
    """Run the hook's after_train_epoch on a minimal runner and load the exported LM back."""
    from aegis.build import build_component
    from aegis.registry import LLMS
    from mmengine.logging import MMLogger

    llm = build_component(dict(TINY_LM, frozen=False), LLMS)
    with tempfile.TemporaryDirectory() as work_dir:
        runner = SimpleNamespace(model=SimpleNamespace(llm=llm), work_dir=work_dir, epoch=0, iter=0,
                                 logger=MMLogger.get_instance("tiny_export"))
        hook.after_train_epoch(runner)
        loaded = build_component(dict(TINY_LM, checkpoint=f"{work_dir}/lm/model.pth"), LLMS)
        return _logits(loaded)


TINY = {
    "TinyCausalLM": dict(registry="LLMS", cfg=TINY_LM, run=_logits, expect_shape=(2, 4, 64)),
    "HFCausalLM": dict(registry="LLMS", cfg=dict(type="HFCausalLM", name_or_path=HF_FOLDER),
                       run=_logits, expect_shape=(2, 4, 64)),
    "CaptionLMPretrainer": dict(
        registry="MODELS",
        cfg=dict(type="CaptionLMPretrainer", llm=dict(TINY_LM, frozen=False), prompt="Describe:"),
        run=lambda model: model(None, [dict(caption="Water level rising"), dict(caption="Fire")], mode="loss")["loss"],
        expect_shape=(),
    ),
    "CaptionTextDataset": dict(
        registry="DATASETS", cfg=dict(type="CaptionTextDataset", ann_file=CAPTIONS),
        run=lambda ds: [ds[i] for i in range(len(ds))],  # 2 + 2 + 1 captions
        expect=lambda samples: len(samples) == 5 and all(s["data_samples"]["caption"] for s in samples),
    ),
    "caption_collate": dict(
        registry="FUNCTIONS", cfg=dict(type="caption_collate"),
        run=lambda fn: fn([dict(data_samples=dict(caption="a")), dict(data_samples=dict(caption="b"))]),
        expect=lambda batch: [s["caption"] for s in batch["data_samples"]] == ["a", "b"],
    ),
    "TinyLMExportHook": dict(registry="HOOKS", cfg=dict(type="TinyLMExportHook"), run=_export_roundtrip,
                             expect_shape=(2, 4, 64)),
}
