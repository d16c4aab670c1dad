"""Tiny configs of the JEPA hooks for the contract test: the momentum schedule, the collapse statistics and the
loss-weight schedule and the predictor cool-down."""
import torch


def _collapse_stats(hook):
    from aegis_plugins.hooks.jepa import collapse_statistics

    feats = torch.randn(8, 32)
    stats = collapse_statistics(feats, feats[:4], feats[:4], hook.max_samples)
    return torch.tensor([stats["target_std"], stats["effective_rank"], stats["pred_cosine"]])


def _cooldown(hook):
    """The hook on a tiny two-group JEPAPretrainer, driven by a minimal stand-in for mmengine's Runner: epoch 0 is
    before the cool-down, epoch 1 in it. Returns [frozen before, frozen after, group weights after]."""
    import logging
    from types import SimpleNamespace

    from aegis.build import build_component
    from aegis.registry import MODELS

    model = build_component(dict(
        type="JEPAPretrainer",
        encoder=dict(type="VJEPAEncoder", arch=None, embed_dim=16, depth=1, num_heads=2, patch_size=8,
                     tubelet_size=2, num_frames=6, img_size=16),
        predictor=dict(type="JEPAPredictor", embed_dim=16, depth=1, num_heads=2),
        mask_generators=[dict(type="RandomTubeMaskGenerator", mask_ratio=0.5),
                         dict(type="FutureMaskGenerator", future_steps=1)]), MODELS)
    runner = SimpleNamespace(model=model, epoch=0, max_epochs=3, logger=logging.getLogger("tiny_cooldown"))
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    before = model.encoders_frozen
    runner.epoch = 1
    hook.before_train_epoch(runner)
    return torch.tensor([float(before), float(model.encoders_frozen), *model.mask_group_weights])


TINY = {
    "JEPATargetEMAHook": dict(
        registry="HOOKS",
        cfg=dict(type="JEPATargetEMAHook", momentum=0.996, end_momentum=1.0),
        run=lambda hook: torch.tensor([hook.momentum_at(i, 8) for i in range(8)]),
        expect_shape=(8,),
    ),
    "CollapseWatchHook": dict(
        registry="HOOKS",
        cfg=dict(type="CollapseWatchHook", interval=2),
        run=_collapse_stats,
        expect_shape=(3,),
    ),
    "LossWeightScheduleHook": dict(
        registry="HOOKS",
        cfg=dict(type="LossWeightScheduleHook", loss_name="causality_loss", start_iter=2, ramp_iters=4),
        run=lambda hook: torch.tensor([hook.factor_at(i) for i in range(8)]),
        expect_shape=(8,),
        expect=lambda factors: factors.tolist() == [0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0],
    ),
    "PredictorCooldownHook": dict(
        registry="HOOKS",
        cfg=dict(type="PredictorCooldownHook", start_epoch=1, mask_group_weights=[0, 1]),
        run=_cooldown,
        expect_shape=(4,),
        expect=lambda out: out.tolist() == [0.0, 1.0, 0.0, 1.0],
    ),
}
