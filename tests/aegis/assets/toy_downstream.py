# A toy run that needs another run's output: it starts from the weights of a toy_experiment_val run (its upstream),
# as the captioner starts from a phase-1 encoder. For the upstream tests (tests/aegis/test_upstream.py).
_base_ = ["toy_experiment.py"]
upstream = dict(base=dict(experiment="toy_experiment_val.py", overrides=dict(learning_rate=0.05)))
load_from = "${upstream.base.work_dir}/epoch_3.pth"
train_cfg = dict(max_epochs=1)
