# Runtime shared by the ImageNet classification configs: siameseim scope, logging, checkpoints.
default_scope = 'siameseim'
custom_imports = dict(imports=['siameseim.robustness'], allow_failed_imports=False)

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=True, interval=10, max_keep_ckpts=3, save_last=True,
                    save_best='imagenet/top1', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'))

vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=True, window_size=50)
log_level = 'INFO'

load_from = None
# The suite's Runner: safe, strict checkpoint loading and fallback on resume (docs/reliability.md).
runner_type = 'siameseim.SafeRunner'
resume = True
randomness = dict(seed=0, diff_rank_seed=True)
