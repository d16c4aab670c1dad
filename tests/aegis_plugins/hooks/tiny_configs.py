"""Tiny configs of the JEPA hooks for the contract test: the momentum schedule, the collapse statistics and the
loss-weight schedule."""
import torch


def _collapse_stats(hook):
    from aegis_plugins.hooks.jepa import collapse_statistics

    feats = torch.randn(8, 32)
    stats = collapse_statistics(feats, feats[:4], feats[:4], hook.max_samples)
    return torch.tensor([stats["target_std"], stats["effective_rank"], stats["pred_cosine"]])


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
}
