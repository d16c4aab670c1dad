# Causality variant (docs/physics.md): the guide's loss with a weight schedule: 0 for the first 5 epochs (175
# iterations: the latents first become worth constraining), then a linear ramp to the full weight over 175 more.
# Everything else as vjepa_pretrain_tiny_physics.
_base_ = ["../vjepa_pretrain_tiny_physics.py"]

custom_hooks = [
    dict(type="JEPATargetEMAHook", momentum=0.996, end_momentum=1.0),
    dict(type="CollapseWatchHook", interval=50),
    dict(type="PredictorCooldownHook", start_epoch="${cooldown_epoch}", mask_group_weights=[0, 0, 1]),
    dict(type="LossWeightScheduleHook", loss_name="causality_loss", start_iter=175, ramp_iters=175),
]
