# A tiny fine-tuning run that trains on the CPU in seconds: 32-pixel crops of a toy ImageFolder with real wnid
# folders, a 2-block 32-wide ViT, the full recipe otherwise (mixup/cutmix, RandAugment, layer decay).
_base_ = ['./vit-b_ft-100e_in1k.py']

data_root = 'data/toy/imagenet'
max_epochs = 4
model = dict(backbone=dict(arch=None, embed_dim=32, depth=2, num_heads=2, img_size=32, patch_size=8))
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False, pin_memory=False,
    dataset=dict(root=data_root + '/train', transform=dict(input_size=32)))
val_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False, pin_memory=False,
    dataset=dict(root=data_root + '/val', transform=dict(crop_size=32, resize=36)))
test_dataloader = val_dataloader
optim_wrapper = dict(type='OptimWrapper', _delete_=True, constructor='LayerDecayOptimWrapperConstructor',
                     optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
                     paramwise_cfg=dict(layer_decay_rate=0.65))
auto_scale_lr = dict(enable=False)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min_ratio=1e-3, by_epoch=True, begin=1,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(vis_backends=vis_backends)
