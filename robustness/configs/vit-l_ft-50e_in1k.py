# ViT-L/16 ImageNet-1k fine-tuning. SiameseIM published no ViT-L recipe; this is MAE's ViT-L recipe
# (FINETUNE.md: 50 epochs, 5 warmup, blr 1e-3, layer decay 0.75, drop path 0.2, batch 1024).
_base_ = ['./vit-b_ft-100e_in1k.py']

max_epochs = 50
warmup_epochs = 5
model = dict(backbone=dict(arch='large', drop_path_rate=0.2))
optim_wrapper = dict(optimizer=dict(lr=1e-3), paramwise_cfg=dict(layer_decay_rate=0.75))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min_ratio=1e-3, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
