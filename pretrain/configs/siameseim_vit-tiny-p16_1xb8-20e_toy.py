# A tiny SiameseIM that trains on the CPU in seconds: 64-pixel inputs, 16x16 patches (4x4 grid),
# 10 of 16 patches masked, a 2-block 64-wide encoder. Point data_root at any folder of images.
_base_ = [
    '_base_/models/siameseim_vit-base-p16.py',
    '_base_/datasets/imagenet_siameseim.py',
    '_base_/schedules/toy-cpu-20e.py',
]

data_root = 'data/toy/pretrain'
model = dict(
    encoder=dict(arch=None, embed_dim=64, depth=2, num_heads=4, img_size=64),
    decoder_dim=64,
    decoder_num_heads=4,
    projector_depth=1,
    predictor_depth=1)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(
        root=data_root,
        transform=dict(input_size=64),
        mask_generator=dict(input_size=4, num_masking_patches=10, min_num_patches=2)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=1.0, no_decay_names=()),
    clip_grad=dict(max_norm=1.0))
