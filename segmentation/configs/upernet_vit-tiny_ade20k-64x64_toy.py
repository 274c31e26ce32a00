# The ViT-B recipe scaled down to run on a CPU in seconds: a 4-block 32-wide ViT on 64x64 crops (4x4 tokens),
# the same neck/heads/losses/schedule shapes, 20 iterations at batch 2, plain fp32 OptimWrapper.
# Data: python -c "from siameseim.segmentation.toy import make_ade20k_toy; make_ade20k_toy('data/toy/ade')"
_base_ = ['upernet_vit-b_160k_ade20k-512x512.py']
crop_size = (64, 64)
data_root = 'data/toy/ade'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch=None, embed_dim=32, depth=4, num_heads=2, img_size=crop_size, out_indices=(0, 1, 2, 3)),
    neck=dict(embed_dim=32),
    decode_head=dict(in_channels=[32, 32, 32, 32], channels=32),
    auxiliary_head=dict(in_channels=32, channels=16),
    test_cfg=dict(crop_size=crop_size, stride=(43, 43)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(256, 64), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 64), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(_delete_=True,
                     type='OptimWrapper',
                     constructor='siameseim.LayerDecayOptimWrapperConstructor',
                     optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
                     paramwise_cfg=dict(layer_decay_rate=0.65, no_decay_names=()))
max_iters = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=5),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=5, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=10)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=10, max_keep_ckpts=2))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
