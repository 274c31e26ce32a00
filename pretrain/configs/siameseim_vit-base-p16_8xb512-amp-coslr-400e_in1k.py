# SiameseIM ViT-B/16, 400 epochs at total batch 4096 (the paper's ablation length).
_base_ = './siameseim_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py'

max_epochs = 400
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=40, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=360, eta_min=0.0, by_epoch=True, begin=40, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
