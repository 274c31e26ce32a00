# The schedule and runtime of the tiny CPU toy pretrainings (SiameseIM, MAE, MoCo-v3): 20 epochs, 2 warm-up
# epochs then cosine, gloo, a log line every 5 iterations and a checkpoint every 5 epochs. Each toy config
# keeps its own optimizer and loader.
_base_ = ['./adamw-coslr-pretrain.py', '../default_runtime.py']

max_epochs = 20
auto_scale_lr = dict(enable=False)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=18, eta_min=0.0, by_epoch=True, begin=2, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=5, max_keep_ckpts=2))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(vis_backends=vis_backends)
