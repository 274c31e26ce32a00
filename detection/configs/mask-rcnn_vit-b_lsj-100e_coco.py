# COCO Mask R-CNN, ViTDet recipe, ViT-B (docs/protocols.md §1): 184,375 iterations at batch 64 (8 GPUs x 8).
# Set model.backbone.pretrained to any checkpoint siameseim.checkpoint knows (SiameseIM, MAE, MoCo-v3, ...).
_base_ = [
    '_base_/models/mask-rcnn_vit-b_simple-fpn.py',
    '_base_/datasets/coco-instance_lsj-1024.py',
    '_base_/schedules/vitdet_adamw-lsj-100e.py',
    '_base_/default_runtime.py',
]
