# MAE ViT-B/16 baseline on the same runner: blr 1.5e-4, wd 0.05, betas (0.9, 0.95), warmup 40, batch 4096.
_base_ = [
    '_base_/models/mae_vit-base-p16.py',
    '_base_/datasets/imagenet_mae.py',
    '_base_/schedules/adamw-coslr-pretrain.py',
    '_base_/default_runtime.py',
]

optim_wrapper = dict(
    optimizer=dict(lr=1.5e-4),
    paramwise_cfg=dict(layer_decay_rate=1.0, no_decay_names=()),
    clip_grad=None)
custom_hooks = [dict(type='FiniteLossHook')]
sync_bn = None
