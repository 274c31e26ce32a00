# Linear-probe schedule (docs/method.md §5.2): LARS (momentum 0.9, trust 0.001, wd 0; 1-D params skip decay and
# trust scaling), blr 0.1 per 256 -> lr 6.4 at batch 16384, 90 epochs, 10 warmup, cosine to 0, fp32.
max_epochs = 90
warmup_epochs = 10
base_lr = 0.1

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='LARS', lr=base_lr, weight_decay=0.0, momentum=0.9))
auto_scale_lr = dict(enable=True, base_batch_size=256)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=0.0, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
