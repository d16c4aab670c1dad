# A V-JEPA 2-AC-style world model of the `easy` DisasterRescue preset, and the planner that uses it (docs/planning.md).
# 1. Record: 600 episodes of random actions (seeds 0..599) into data/env_transitions/disaster_easy (once; reused).
# 2. Train: an action-conditioned predictor over the frozen phase-1 encoder (an `upstream` run, as in
#    rl_disaster_vjepa_ppo.py): the next observation's latent (16 tokens x 128, layer-normalised) from the current one
#    and the action; teacher-forced L1 + 2-step rollout L1. The last 100 episodes are held out for the rollout check.
# 3. Plan: `planner` holds the LatentCEMPlanner settings that aegis_plugins.policies.planner.load_planner reads:
#    python tools/eval_rl.py --planner work_dirs/rl_disaster_world_model --episodes 200
_base_ = ["_base_/default_runtime.py", "_base_/rl/disaster_easy.py", "_base_/models/vjepa_tiny_encoder.py"]

upstream = dict(encoder=dict(experiment="experiments/vjepa_pretrain_tiny.py", overrides=dict()))  # phase 1

frame_stack = 2  # one tubelet of the tiny ViT, as in rl_disaster_vjepa_ppo.py
rollout_steps = 2  # k: windows of k actions; the rollout loss covers steps 2..k (V-JEPA 2-AC: 2)
recording = dict(data_root="data/env_transitions/disaster_easy", episodes=600, seed=0, val_episodes=100)

model = dict(
    type="ActionConditionedPredictor",
    # the frozen phase-1 target encoder (its newest checkpoint); 64 px frames are box-filtered to its 32 px
    encoder=dict(_base_.vjepa_tiny_encoder, checkpoint="${upstream.encoder.work_dir}",
                 checkpoint_key="target_encoder", frozen=True),
    frame_stack="${frame_stack}",
    obs_size=64,
    resize=32,
    frame_mean=(0.485, 0.456, 0.406),  # NormalizeVideo's ImageNet statistics, as in pretraining
    frame_std=(0.229, 0.224, 0.225),
    num_actions=4,
    width=128,
    depth=2,
    num_heads=4,
)


def _loader(split: str, shuffle: bool) -> dict:
    return dict(
        batch_size=32, num_workers=0, persistent_workers=False,
        sampler=dict(type="DefaultSampler", shuffle=shuffle),
        collate_fn=dict(type="default_collate"),  # items are dicts of tensors: stack them
        dataset=dict(type="EnvTransitionDataset", env="${env}", split=split, frame_stack="${frame_stack}",
                     rollout_steps="${rollout_steps}", data_root="${recording.data_root}",
                     episodes="${recording.episodes}", seed="${recording.seed}",
                     val_episodes="${recording.val_episodes}"),
    )


train_dataloader = _loader("train", shuffle=True)
val_dataloader = None  # the held-out rollout errors are measured by docs/planning.md's script (rollout_errors)
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None

max_epochs = 12
optim_wrapper = dict(optimizer=dict(type="AdamW", lr=1e-3, weight_decay=0.01), clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type="CosineAnnealingLR", by_epoch=True, begin=0, end="${max_epochs}", eta_min=1e-5,
                        convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs="${max_epochs}")
default_hooks = dict(
    logger=dict(type="LoggerHook", interval=50),
    checkpoint=dict(type="CheckpointHook", interval="${max_epochs}", max_keep_ckpts=1, save_last=True),
)

# LatentCEMPlanner: CEM over 6-step action sequences, 64 samples, 8 elites, 3 rounds, energy = mean L1 to the goal
# latent over the horizon's steps; replans every step.
planner = dict(horizon=6, population=64, elites=8, iterations=3, energy="sum", momentum=0.0)
