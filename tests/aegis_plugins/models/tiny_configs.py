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

# --- alert calibration (issue #14; owned by the alert-trust helper) ------------------------------------------------


def _alert_calibration_run(hook):
    """The hook after a minimal training run of a tiny captioner over 4 real 2-frame videos: the thresholds of the
    alert_trust.json it wrote beside the final checkpoint."""
    import json as _json
    import tempfile as _tempfile
    from pathlib import Path as _Path
    from types import SimpleNamespace

    import numpy as np
    from mmengine.logging import MMLogger

    from aegis.build import build_component
    from aegis.registry import MODELS
    from aegis_plugins.data.video_io import write_video
    from aegis_plugins.models.alert_trust import load_alert_trust

    model = build_component(TINY["VideoCaptioner"]["cfg"], MODELS).eval()
    with _tempfile.TemporaryDirectory() as work_dir:
        work = _Path(work_dir)
        entries = []
        for i in range(4):
            write_video(str(work / f"{i}.mp4"), np.full((2, 16, 16, 3), 50 * i + 20, np.uint8), fps=4)
            entries.append(dict(video_path=f"{i}.mp4", caption="Water."))
        (work / "clips.json").write_text(_json.dumps(entries))
        dataset = dict(type="VideoCaptionDataset", ann_file=str(work / "clips.json"),
                       pipeline=dict(type="VideoClipPipeline", video_length=2, frame_sample_rate=1, img_size=16))
        loader = dict(batch_size=2, num_workers=0, dataset=dataset)
        torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=3)), work / "iter_3.pth")
        (work / "last_checkpoint").write_text(str(work / "iter_3.pth"))
        runner = SimpleNamespace(work_dir=work_dir, iter=3, model=model, logger=MMLogger.get_instance("tiny_alerts"),
                                 cfg=dict(train_dataloader=loader, val_dataloader=loader))
        hook.after_train(runner)
        trust = load_alert_trust(work / "iter_3.pth")
        return torch.tensor([trust.ood_threshold, trust.confidence_threshold])


TINY.update({
    "AlertCalibrationHook": dict(registry="HOOKS", cfg=dict(type="AlertCalibrationHook", k=2),
                                 run=_alert_calibration_run, expect_shape=(2,),
                                 expect=lambda thresholds: bool(thresholds[0] > 0 and 0 < thresholds[1] <= 1)),
})

# --- action-conditioned world model (issue #16; owned by the world-model helper) ----------------------------------
TINY.update({
    "ActionConditionedPredictor": dict(
        registry="MODELS",
        cfg=dict(type="ActionConditionedPredictor", encoder=dict(_TINY_ENCODER, frozen=True), frame_stack=2,
                 obs_size=16, width=32, depth=2, num_heads=2),
        # windows of 2 steps: 2 + 2 frames of 16x16 and 2 actions per sample; the loss terms (teacher-forced, rollout)
        run=lambda model: torch.stack(list(model(torch.randint(0, 256, (2, 4, 16, 16, 3), dtype=torch.uint8),
                                                 torch.tensor([[0, 1], [2, 3]]), mode="loss").values())),
        expect_shape=(2,),
    ),
})
