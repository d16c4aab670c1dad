# RL runtime over the default one: the RLRunner drives SB3 rollouts and PPO updates. The env feeds the policy, so
# there is no dataloader, optim_wrapper or param_scheduler, and checkpoints are saved by the loop every
# train_cfg.checkpoint_interval env steps (mmengine's epoch-based CheckpointHook is switched off).
_base_ = ["../default_runtime.py"]

runner_type = "RLRunner"
default_hooks = dict(checkpoint=None, param_scheduler=None, sampler_seed=None)
log_processor = dict(by_epoch=False)
