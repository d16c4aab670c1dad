# Causality variant (docs/physics.md): penalise only the change of acceleration (the jerk, third time difference,
# TemporalCausalityLoss order=3) of the predicted latents, so constant acceleration (gravity) is free. Everything
# else as vjepa_pretrain_tiny_physics.
_base_ = ["../vjepa_pretrain_tiny_physics.py"]

model = dict(losses=[dict(type="LatentReconstructionLoss", norm="l1", loss_weight=1.0),
                     dict(type="TemporalCausalityLoss", loss_weight="${causality_weight}", order=3)])
