# AdamW (0.9, 0.95), wd 0.05 on matrices and tokens only, grad clip 1.0, bf16 autocast, per-iteration
# linear warmup then cosine to 0. lr is the base lr per 256 images: mmengine's auto_scale_lr multiplies it
# by (total batch)/256 (docs/method.md §3.1: blr 6.25e-5 at 4096 -> 1e-3).
max_epochs = 1600
warmup_epochs = 40
base_lr = 6.25e-5

optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=1.0, no_decay_names=()),
    clip_grad=dict(max_norm=1.0))
auto_scale_lr = dict(enable=True, base_batch_size=256)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=0.0, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
