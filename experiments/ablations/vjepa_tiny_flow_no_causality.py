# Ablation: vjepa_pretrain_tiny_flow without the temporal causality loss (L1 latent reconstruction only), everything
# else equal. tools/probe.py experiments/vjepa_pretrain_tiny_flow.py --ablation <this file> reports it alongside.
_base_ = ["../vjepa_pretrain_tiny_flow.py"]

model = dict(losses=[dict(type="LatentReconstructionLoss", norm="l1", loss_weight=1.0)])
