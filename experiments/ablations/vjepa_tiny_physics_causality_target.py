# Causality variant (docs/physics.md): penalise the predicted latents' acceleration MINUS the target latents'
# acceleration at the same positions (TemporalCausalityLoss reference="target"), so a real acceleration (a falling
# ball) costs nothing and only a wrong one does. Everything else as vjepa_pretrain_tiny_physics.
_base_ = ["../vjepa_pretrain_tiny_physics.py"]

model = dict(losses=[dict(type="LatentReconstructionLoss", norm="l1", loss_weight=1.0),
                     dict(type="TemporalCausalityLoss", loss_weight="${causality_weight}", reference="target")])
