# Train the example plugin's ClipClassifier with its MotionEnergyEncoder on the synthetic disaster videos.
# Needs `pip install ./examples/third_party_plugin`; run: python tools/run.py examples/third_party_plugin/experiment.py
_base_ = ["../../experiments/_base_/default_runtime.py", "../../experiments/_base_/datasets/synthetic_disaster.py"]

model = dict(type="ClipClassifier", num_classes=6,
             encoder=dict(type="MotionEnergyEncoder", embed_dim=32, grid=4))
train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=dict(video_length=8, img_size=32)))
val_dataloader = None
val_cfg = None
test_dataloader = None
optim_wrapper = dict(optimizer=dict(type="AdamW", lr=3e-3, weight_decay=0.01))
train_cfg = dict(by_epoch=True, max_epochs=2)
