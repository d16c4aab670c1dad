# Ablation matrix across phases, at tiny scale on CPU: connector in {Q-Former, Perceiver resampler, MLP projector}
# x phase-1 causality loss {on (weight 0.1), off (weight 0)} x 3 seeds, scored on the phase-2 captioner.
#   python tools/sweep.py experiments/sweeps/ablation_connector_causality.py --parallel 2
# The causality choice is a key of the captioner's upstream phase-1 run, so each setting gets its own phase-1 run,
# built once and shared by the 9 captioner trials that need it (the tiny LM is built once for all 18).
# Results, means +- 95% intervals and deltas against the base (Q-Former, causality on): docs/ablations.md.
experiment = "experiments/vlm_tiny_cpu.py"
metric = "val/caption/cider"
direction = "maximize"
sampler = "grid"
space = {
    "experiment": dict(grid=["experiments/vlm_tiny_cpu.py", "experiments/ablations/vlm_tiny_perceiver.py",
                             "experiments/ablations/vlm_tiny_mlp.py"]),
    "upstream.encoder.overrides.causality_weight": dict(grid=[0.1, 0.0]),
}
seeds = [0, 1, 2]
