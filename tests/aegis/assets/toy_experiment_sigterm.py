# The toy experiment with validation, sent SIGTERM by itself after iteration 12 of 24 (in the middle of epoch 2),
# as Slurm preemption or a sweep agent would stop it: the run saves iter_12.pth and exits with status 3.
_base_ = ["toy_experiment_val.py"]
custom_hooks = [dict(type="SignalAtIterHook", at_iter=12, signal="SIGTERM")]
