# A tiny supervised experiment over test-only components (custom_imports), for the core's runner tests.
_base_ = ["../../../experiments/_base_/default_runtime.py"]
custom_imports = dict(imports=["toy_components"], allow_failed_imports=False)

model = dict(type="ToyRegressor", in_features=4)
train_dataloader = dict(
    batch_size=4, num_workers=0,
    dataset=dict(type="ToyRegressionDataset", num_samples=32, in_features=4, seed=0),
    sampler=dict(type="DefaultSampler", shuffle=True, seed=0),
    collate_fn=dict(type="default_collate"),
)
optim_wrapper = dict(optimizer=dict(type="SGD", lr=0.05, momentum=0.9), clip_grad=dict(max_norm=10.0))
param_scheduler = [dict(type="CosineAnnealingLR", T_max=3, by_epoch=True, eta_min=1e-3)]
train_cfg = dict(by_epoch=True, max_epochs=3)
default_hooks = dict(logger=dict(type="LoggerHook", interval=1))
randomness = dict(seed=0, deterministic=True)
