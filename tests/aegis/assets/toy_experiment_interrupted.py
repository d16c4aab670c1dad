# The toy experiment stopped after 2 of its 3 epochs, as an interrupted run would be (for the resume test).
_base_ = ["toy_experiment.py"]
custom_hooks = [dict(type="StopAfterEpochHook", stop_after=2)]
