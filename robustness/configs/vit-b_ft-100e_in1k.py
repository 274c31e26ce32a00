# SiameseIM ViT-B/16 ImageNet-1k fine-tuning, 100 epochs at batch 1024 (8 GPUs x 128): 84.1 top-1 released.
# Set the pretrained checkpoint: --cfg-options model.backbone.pretrained=PATH
_base_ = [
    '_base_/models/vit-base-p16_ft.py',
    '_base_/datasets/imagenet_ft.py',
    '_base_/schedules/adamw-layerdecay-ft.py',
    '_base_/default_runtime.py',
]
