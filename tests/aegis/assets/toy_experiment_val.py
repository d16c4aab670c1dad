# The toy experiment with a validation loop (mean squared error after every epoch), for reports, pruning and sweeps.
# learning_rate is a top-level knob read through a ${...} reference, as the guide's experiments expose theirs.
_base_ = ["toy_experiment.py"]
learning_rate = 0.05
optim_wrapper = dict(optimizer=dict(lr="${learning_rate}"))
val_dataloader = dict(
    batch_size=8, num_workers=0,
    dataset=dict(type="ToyRegressionDataset", num_samples=16, in_features=4, seed=1),
    sampler=dict(type="DefaultSampler", shuffle=False),
    collate_fn=dict(type="default_collate"),
)
val_cfg = dict()
val_evaluator = dict(type="ToyMSEMetric")
train_cfg = dict(val_interval=1)
