# SiameseIM ViT-B/16 linear probe, 90 epochs at batch 16384 (8 GPUs x 2048), LARS lr 6.4: 78.0 top-1 released.
# Set the pretrained checkpoint: --cfg-options model.backbone.pretrained=PATH
_base_ = [
    '_base_/models/vit-base-p16_linear.py',
    '_base_/datasets/imagenet_linear.py',
    '_base_/schedules/lars-linear.py',
    '_base_/default_runtime.py',
]
