# Fine-tuning schedule (docs/method.md §5.1/§3.2): AdamW (0.9, 0.999), wd 0.05 on matrices only, layer decay 0.65,
# per-iteration linear warmup then cosine. base_lr is per 256 images (blr 2.5e-4 -> 1e-3 at batch 1024);
# min lr 1e-6 at batch 1024 is a ratio of each group's (layer-scaled) lr, as in MAE's lr_sched.
max_epochs = 100
warmup_epochs = 5
base_lr = 2.5e-4
min_lr_ratio = 1e-3

optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='float16',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=0.65))
auto_scale_lr = dict(enable=True, base_batch_size=256)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min_ratio=min_lr_ratio, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
