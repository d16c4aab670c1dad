"""Tiny configs of the composite models for the contract test (2 frames at 16x16, width 32, 2 layers, batch 2)."""
import torch

_TINY_ENCODER = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
                     num_frames=2, img_size=16)


def _loss(model, samples):
    """The loss as ``train_step`` computes it: the data preprocessor tokenizes the captions, then ``forward``."""
    data = model.data_preprocessor(dict(inputs=torch.randn(2, 3, 2, 16, 16), data_samples=samples), True)
    return model(**data, mode="loss")


TINY = {
    "JEPAPretrainer": dict(
        registry="MODELS",
        cfg=dict(type="JEPAPretrainer", encoder=_TINY_ENCODER,
                 predictor=dict(type="JEPAPredictor", embed_dim=32, depth=2, num_heads=2),
                 mask_generators=[dict(type="RandomTubeMaskGenerator", mask_ratio=0.5)],
                 losses=[dict(type="LatentReconstructionLoss"), dict(type="TemporalCausalityLoss")]),
        run=lambda model: torch.stack(list(model(torch.randn(2, 3, 2, 16, 16), mode="loss").values())),
        expect_shape=(2,),
    ),
    "JEPAPredictor": dict(
        registry="PREDICTORS",
        cfg=dict(type="JEPAPredictor", encoder_embed_dim=32, grid_size=(1, 2, 2), embed_dim=32, depth=2, num_heads=2),
        run=lambda pred: pred(torch.randn(2, 2, 32), torch.tensor([[0, 1], [2, 3]]), torch.tensor([[2, 3], [0, 1]])),
        expect_shape=(2, 2, 32),
    ),
}

# --- BLIP-2 stage 1 (issue #6; owned by the connector engineer) ---------------------------------------------------
TINY.update({
    "QFormerPretrainer": dict(
        registry="MODELS",
        cfg=dict(type="QFormerPretrainer", encoder=_TINY_ENCODER,
                 connector=dict(type="QFormer", num_query_tokens=4, depth=2, hidden_size=32, num_heads=2,
                                intermediate_size=64, temporal_pos_embed=True, max_temporal_positions=4),
                 embed_dim=16, max_text_length=16),
        run=lambda model: torch.stack(list(_loss(model, [dict(caption="Water rising."),
                                                          dict(caption="Fire.")]).values())),
        expect_shape=(3,),
    ),
})

# --- video captioning (issue #6; owned by the VLM engineer) -------------------------------------------------------


def _samples_hook_run(hook):
    """The hook after one training epoch of a minimal runner with a tiny captioner: the samples it wrote."""
    import tempfile as _tempfile
    from types import SimpleNamespace

    from mmengine.logging import MMLogger

    from aegis.build import build_component
    from aegis.registry import MODELS

    model = build_component(TINY["VideoCaptioner"]["cfg"], MODELS)
    batch = dict(inputs=torch.randn(2, 3, 2, 16, 16), data_samples=[dict(caption="Water."), dict(caption="Fire.")])
    with _tempfile.TemporaryDirectory() as work_dir:
        runner = SimpleNamespace(work_dir=work_dir, epoch=0, model=model, _val_dataloader=[batch],
                                 logger=MMLogger.get_instance("tiny_samples_hook"))
        return hook.sample(runner, epoch=1)


TINY.update({
    "VideoCaptioner": dict(
        registry="MODELS",
        cfg=dict(type="VideoCaptioner", encoder=dict(_TINY_ENCODER, frozen=True),
                 connector=dict(type="QFormer", num_query_tokens=4, depth=2, hidden_size=32, num_heads=2,
                                intermediate_size=64),
                 llm=dict(type="TinyCausalLM", vocab_size=64, hidden_size=32, num_layers=2, num_heads=2,
                          max_position_embeddings=64),
                 max_new_tokens=4),
        run=lambda model: _loss(model, [dict(caption="Water rising."), dict(caption="Fire.")])["loss"],
        expect_shape=(),
    ),
    "CaptionSamplesHook": dict(registry="HOOKS", cfg=dict(type="CaptionSamplesHook", num_samples=2),
                               run=_samples_hook_run, expect=lambda samples: len(samples) == 2),
})
