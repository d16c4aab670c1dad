# Data fragment for a dataset plugin written from scratch (docs/data.md, "A new disaster dataset"):
# DisasterCSVDataset reads V-JEPA-style CSVs of "path label" lines (paths relative to the CSV).
# An experiment names it with  _base_ = ["_base_/default_runtime.py", "_base_/datasets/disaster_csv.py"]
# and can override single values:  train_dataloader = dict(dataset=dict(csv_file="data/my_disaster/train.csv"))
classes = ("flood", "wildfire", "smoke", "earthquake", "landslide", "calm")
clip = dict(type="VideoClipPipeline", video_length=16, frame_sample_rate=2, img_size=64)

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    sampler=dict(type="DefaultSampler", shuffle=True),
    collate_fn=dict(type="aegis.video_collate"),
    dataset=dict(type="DisasterCSVDataset", csv_file="data/disaster_csv/train.csv", classes=classes, pipeline=clip),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    sampler=dict(type="DefaultSampler", shuffle=False),
    collate_fn=dict(type="aegis.video_collate"),
    dataset=dict(type="DisasterCSVDataset", csv_file="data/disaster_csv/val.csv", classes=classes, pipeline=clip,
                 test_mode=True),
)
