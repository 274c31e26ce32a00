# A tiny MoCo-v3 that trains on the CPU in seconds, sized like the tiny SiameseIM and MAE toy configs: 64-pixel
# crops, 16x16 patches, a 2-block 64-wide encoder, 128-wide MLPs with 64 outputs. Point data_root at any folder
# of images.
_base_ = [
    '../_base_/models/mocov3_vit-base-p16.py',
    '../_base_/datasets/imagenet_siameseim.py',
    '../_base_/schedules/toy-cpu-20e.py',
]

data_root = 'data/toy/pretrain'
model = dict(encoder=dict(arch=None, embed_dim=64, depth=2, num_heads=4, img_size=64), dim=64, mlp_dim=128)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(root=data_root, transform=dict(input_size=64), mask_generator=None))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
    paramwise_cfg=dict(layer_decay_rate=1.0, no_decay_names=(), decay_norm_and_bias=True))
custom_hooks = [
    dict(type='MomentumUpdateHook', base_momentum=0.99, schedule='cosine'),
    dict(type='FiniteLossHook'),
]
