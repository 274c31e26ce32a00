# ViTDet optimisation (docs/protocols.md §1.5): AdamW lr 1e-4 wd 0.1 at batch 64, layer decay 0.7 with only
# pos_embed and the blocks' LayerNorms exempt from weight decay, AMP, 250-iteration warmup, steps ×0.1.
max_iters = 184375
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    constructor='siameseim.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
    paramwise_cfg=dict(layer_decay_rate=0.7, no_decay_names=('pos_embed', 'blocks.*.norm*'),
                       decay_norm_and_bias=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[163889, 177546], gamma=0.1),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# 8 GPUs x 8 images; enable (--cfg-options auto_scale_lr.enable=True) to scale lr linearly to another batch.
auto_scale_lr = dict(enable=False, base_batch_size=64)
