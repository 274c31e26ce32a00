# MAE recipe optimisation (docs/protocols.md §3.5): AdamW lr 1e-4, wd 0.05, layer decay 0.65 over the blocks,
# linear warmup 1,500 iterations from 1e-6 then poly (power 1) to 0 at 160k; AMP (fp16, dynamic scale).
# no_decay_names=() reproduces mmseg 1.2.2: pos_embed, cls_token and the rel-pos tables are weight-decayed,
# 1-D tensors and biases are not.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    constructor='siameseim.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=0.65, no_decay_names=()))
max_iters = 160000
warmup_iters = 1500
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=16000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
