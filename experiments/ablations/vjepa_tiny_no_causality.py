# Ablation: vjepa_pretrain_tiny without the temporal causality loss (L1 latent reconstruction only), everything else
# equal. tools/probe.py experiments/vjepa_pretrain_tiny.py reports its probe accuracy next to the full recipe's.
_base_ = ["../vjepa_pretrain_tiny.py"]

model = dict(losses=[dict(type="LatentReconstructionLoss", norm="l1", loss_weight=1.0)])
