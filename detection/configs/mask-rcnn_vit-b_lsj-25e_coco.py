# COCO Mask R-CNN, ViTDet recipe, ViT-B, the short schedule of the paper's ablation column (docs/ablation.md):
# 25 epochs = 46,094 iterations at batch 64 (8 GPUs x 8), a quarter of the 100-epoch schedule, with the lr
# steps at the same fractions of training (8/9 and 26/27). Everything else is the 100-epoch recipe.
_base_ = './mask-rcnn_vit-b_lsj-100e_coco.py'

max_iters = 46094
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[40972, 44387], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters)
