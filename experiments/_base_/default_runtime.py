# Runtime defaults every experiment inherits: scope, hooks, logging (TensorBoard by default), environment.
default_scope = "aegis"

default_hooks = dict(
    runtime_info=dict(type="RuntimeInfoHook"),
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=10),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", interval=1, by_epoch=True, max_keep_ckpts=3, save_last=True),
    sampler_seed=dict(type="DistSamplerSeedHook"),
)

env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
               dist_cfg=dict(backend="nccl"))

# TensorBoard event files land in <work_dir>/<timestamp>/vis_data; add dict(type="WandbVisBackend") for W&B.
vis_backends = [dict(type="LocalVisBackend"), dict(type="TensorboardVisBackend")]
visualizer = dict(type="Visualizer", vis_backends=vis_backends, name="visualizer")

log_processor = dict(type="AegisLogProcessor", window_size=10, by_epoch=True)
log_level = "INFO"
load_from = None
resume = False
randomness = dict(seed=0)
