# The causality-loss study of docs/physics.md: vjepa_pretrain_tiny_physics with the causality weight at
# 0 / 0.01 / 0.1 / 1, three seeds each, the same data and budget; scored on the VoE pairs (final validation).
#   python tools/sweep.py experiments/sweeps/physics_causality.py --parallel 2
#   python tools/physics_study.py sweeps/physics_causality        (per-kind table + frozen probe, mean ± 95%)
experiment = "experiments/vjepa_pretrain_tiny_physics.py"
metric = "val/voe/all/pairwise_acc"
direction = "maximize"
sampler = "grid"
space = {"causality_weight": dict(grid=[0.0, 0.01, 0.1, 1.0])}
seeds = [0, 1, 2]
