# The MoCo-v3 ViT-B/16 recipe (facebookresearch/moco-v3 CONFIG.md) on the suite's runner: 300 epochs at total
# batch 4096, AdamW lr 1.5e-4 per 256 images (2.4e-3 at 4096), betas (0.9, 0.999), weight decay 0.1 on every
# parameter, 40 warm-up epochs then cosine to 0, no gradient clipping, momentum 0.99 -> 1 (cosine), τ = 0.2,
# stop-grad patch projection, crops of 8-100 % with the asymmetric BYOL colour pair (the SiameseIM two-view
# pipeline draws exactly these; its relative position is ignored), no mask. bf16 autocast as every recipe here.
_base_ = [
    '../_base_/models/mocov3_vit-base-p16.py',
    '../_base_/datasets/imagenet_siameseim.py',
    '../_base_/schedules/adamw-coslr-pretrain.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(dataset=dict(mask_generator=None))
max_epochs = 300
warmup_epochs = 40
optim_wrapper = dict(
    optimizer=dict(lr=1.5e-4, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(layer_decay_rate=1.0, no_decay_names=(), decay_norm_and_bias=True),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=0.0, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
custom_hooks = [
    dict(type='MomentumUpdateHook', base_momentum=0.99, schedule='cosine'),
    dict(type='FiniteLossHook'),
]
