# The released SiameseIM ViT-B/16 recipe: 1600 epochs at total batch 4096 (8 GPUs x 512, or 32 x 128).
_base_ = [
    '_base_/models/siameseim_vit-base-p16.py',
    '_base_/datasets/imagenet_siameseim.py',
    '_base_/schedules/adamw-coslr-pretrain.py',
    '_base_/default_runtime.py',
]
