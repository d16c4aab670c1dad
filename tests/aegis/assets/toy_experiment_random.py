# The toy experiment with randomness drawn during training, from the global generators: input dropout (torch) and a
# noise augmentation in the dataset (torch and numpy, in the main process or the dataloader workers), plus a
# validation after each epoch. For the exact-resume tests: a resumed run must end bit-identical to an uninterrupted one.
_base_ = ["toy_experiment_val.py"]
model = dict(dropout=0.2)
train_dataloader = dict(dataset=dict(augment_noise=0.1))
