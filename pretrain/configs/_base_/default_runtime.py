# Runtime shared by every pretraining config: siameseim scope, logging, checkpoints, TensorBoard.
default_scope = 'siameseim'
custom_imports = dict(imports=['siameseim.pretrain'], allow_failed_imports=False)

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # every 5 epochs, as the official runs save their latest checkpoint; the last 3 are kept
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=True, interval=5, max_keep_ckpts=3, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'))

vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=True, window_size=50)
log_level = 'INFO'

# Every optimizer step: update the momentum target before the forward (docs/method.md §3.3).
custom_hooks = [
    dict(type='MomentumUpdateHook', base_momentum=0.995, schedule='cosine'),
    dict(type='FiniteLossHook'),
]
# Projector/predictor batch norms see global statistics across GPUs, as in the official runs.
sync_bn = 'torch'

load_from = None
# The suite's Runner: safe, strict checkpoint loading and fallback on resume (docs/reliability.md).
runner_type = 'siameseim.SafeRunner'
resume = True
randomness = dict(seed=0, diff_rank_seed=True)
