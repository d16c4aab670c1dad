# The variants of the causality loss a physicist would try (docs/physics.md), each at the default weight 0.1 and three
# seeds, on the same data and budget as experiments/sweeps/physics_causality.py:
#   python tools/sweep.py experiments/sweeps/physics_causality_variants.py --parallel 2
#   python tools/physics_study.py sweeps/physics_causality_variants
experiment = "experiments/ablations/vjepa_tiny_physics_causality_target.py"
metric = "val/voe/all/pairwise_acc"
direction = "maximize"
sampler = "grid"
space = {"experiment": dict(grid=["experiments/ablations/vjepa_tiny_physics_causality_target.py",
                                  "experiments/ablations/vjepa_tiny_physics_causality_jerk.py",
                                  "experiments/ablations/vjepa_tiny_physics_causality_schedule.py"])}
seeds = [0, 1, 2]
