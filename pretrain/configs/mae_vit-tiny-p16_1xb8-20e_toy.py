# A tiny MAE (the SiameseIM paper's baseline) that trains on the CPU in seconds, sized like the tiny SiameseIM
# toy config beside it: 64-pixel inputs, 16x16 patches (4x4 grid), 75 % of patches masked, a 2-block 64-wide
# encoder and a 1-block decoder. Point data_root at any folder of images.
_base_ = [
    '_base_/models/mae_vit-base-p16.py',
    '_base_/datasets/imagenet_mae.py',
    '_base_/schedules/toy-cpu-20e.py',
]

data_root = 'data/toy/pretrain'
model = dict(
    encoder=dict(arch=None, embed_dim=64, depth=2, num_heads=4, img_size=64),
    decoder_dim=64,
    decoder_depth=1,
    decoder_num_heads=4)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(root=data_root, transform=dict(input_size=64)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=1.0, no_decay_names=()))
custom_hooks = [dict(type='FiniteLossHook')]
sync_bn = None
