# ADE20k UperNet on ViT-B/16, MAE recipe (docs/protocols.md §3): 160k iterations at batch 16 (8 GPUs x 2) on
# 512x512 crops, SyncBN across GPUs, AMP; single-scale sliding-window test (crop 512, stride 341).
# Backbone weights: --cfg-options model.backbone.pretrained=PATH (SiameseIM, MAE, MoCo-v3, BEiT, DeiT, timm or
# suite checkpoints; see siameseim.checkpoint). Multi-scale + flip test: the -ms variant of this config.
_base_ = [
    '_base_/models/upernet_vit-b.py',
    '_base_/datasets/ade20k.py',
    '_base_/schedules/adamw_layer-decay_160k.py',
    '_base_/default_runtime.py',
]
