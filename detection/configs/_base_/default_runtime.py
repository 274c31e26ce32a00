# Runtime of the ViTDet detection configs: iteration-based logging and checkpoints, fp16 DDP gradients.
default_scope = 'mmdet'
custom_imports = dict(imports=['siameseim.detection'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='siameseim.SafeCheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))
custom_hooks = [dict(type='Fp16CompressionHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
# No fixed visualizer name: every Runner of a process (tests, demos) keeps its own log directory.
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends)
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)
log_level = 'INFO'
load_from = None
# The suite's Runner: safe, strict checkpoint loading and fallback on resume (docs/reliability.md).
runner_type = 'siameseim.SafeRunner'
resume = False
